"""Give a huge job's memory back before the worker's memory check, so one payload is not a restart.

Measured (RELIABILITY.md, "Memory after huge payloads"): a 20 MB job is held four times
while it runs (the listed bytes, the reserved copy, the decoded text, the parsed payload)
and the worker checks `--memory` right after the job, while its loop still references
it; what it frees then stays in glibc's heap, because after the first large free glibc
raises its mmap threshold (up to 32 MB) and serves the next big buffers from the heap,
which it does not return on its own. So a worker at the default `--memory 128` exited
with 12 after a single 20 MB payload.

`HeapReclaimer` is a `finished` listener that acts only on a job whose body is larger
than `threshold` bytes: it sheds the job's body (`Job.shed_body`), clears the locals
of the exception's traceback frames (a traceback keeps every frame's locals, payload
included, alive), and calls glibc's `malloc_trim(0)` so the freed pages leave the
process. It runs after every other `finished` listener (it joins the list at the first
`reserved`, when the application's listeners are all attached), so they still see the
whole job. After the next pop, when the job itself is gone, it trims once more.
"""

from __future__ import annotations

import ctypes
import gc
import traceback
from collections.abc import Callable

from laravel_queue.job import Job
from laravel_queue.worker.lifecycle import WorkerEvents

LARGE_BODY_BYTES = 1024 * 1024
ACKNOWLEDGED = frozenset({"failed", "released", "released_after_exception", "given_back"})
"""Outcomes after which the backend needs nothing more from the job (no deferred delete)."""


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None elsewhere (musl, macOS). By soname: `ctypes.util.find_library`
    would run ldconfig in a subprocess."""
    try:
        function = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


class HeapReclaimer:
    """Frees what a large job held and returns the heap to the OS; see the module docstring."""

    def __init__(self, threshold: int = LARGE_BODY_BYTES, trim: Callable[[int], int] | None = None) -> None:
        self.threshold = threshold
        self._trim = trim if trim is not None else _load_malloc_trim()
        self._events: WorkerEvents | None = None
        self._joined = False
        self._trim_after_next_pop = False

    def attach(self, events: WorkerEvents) -> WorkerEvents:
        self._events = events
        events.reserved.append(self.on_reserved)
        return events

    def on_reserved(self, job: Job) -> None:
        if not self._joined and self._events is not None:
            self._joined = True
            self._events.finished.append(self.on_finished)  # last: after every other listener
        if self._trim_after_next_pop:  # the previous large job is no longer referenced
            self._trim_after_next_pop = False
            self.give_back_heap()

    def on_finished(self, job: Job, outcome: str, runtime_ms: float, exc: BaseException | None) -> None:
        if len(job.raw_body) < self.threshold:
            return
        job.shed_body(acknowledged=outcome in ACKNOWLEDGED)
        if exc is not None and exc.__traceback__ is not None:
            traceback.clear_frames(exc.__traceback__)  # frames still running are skipped
        self.give_back_heap()
        self._trim_after_next_pop = True

    def give_back_heap(self) -> None:
        """Collect cycles (tracebacks make them), then hand free heap pages back to the OS."""
        gc.collect()
        if self._trim is not None:
            self._trim(0)
