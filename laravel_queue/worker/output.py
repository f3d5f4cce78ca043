"""Console lines in Laravel's `queue:work` format, or one JSON object per event (`--json`)."""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from laravel_queue.job import InvalidPayloadError, Job
from laravel_queue.style import Style, runtime_for_humans

# status -> (word, colour): artisan prints a job released after an exception as a yellow FAIL
STATUS_WORDS = {"success": ("DONE", "green"), "released_after_exception": ("FAIL", "yellow"), "failed": ("FAIL", "red")}


def job_result(job: Job) -> str:
    """Laravel's `--json` "result": the job's state, checked in WorkCommand's order."""
    if job.is_deleted():
        return "deleted"
    if job.is_released():
        return "released"
    if job.has_failed():
        return "failed"
    return ""


def _safe_name(job: Job) -> str:
    try:
        return job.display_name
    except InvalidPayloadError:
        return "Unknown"


class WorkerOutput:
    """Writes what `php artisan queue:work` writes for the same events."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        json_mode: bool = False,
        timezone: str = "UTC",
        verbose: bool = False,
        width: int | None = None,
        style: Style | None = None,
    ) -> None:
        self.stream = stream or sys.stdout
        self.style = style or Style.for_stream(self.stream)
        self.json_mode = json_mode
        self.zone = ZoneInfo(timezone)
        self.verbose = verbose
        self.width = width or shutil.get_terminal_size((80, 24)).columns
        self._stamp_second = -1
        self._stamp_text = ""

    def _now(self) -> datetime:
        return datetime.now(self.zone)

    def _stamp(self) -> str:
        """`Y-m-d H:i:s` now; formatted once per second, not twice per job."""
        second = int(time.time())
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp_text = f"{datetime.fromtimestamp(second, self.zone):%Y-%m-%d %H:%M:%S}"
        return self._stamp_text

    def _write(self, line: str, *, flush: bool = True) -> None:
        self.stream.write(line + "\n")
        if flush:
            self.stream.flush()

    def flush(self) -> None:
        """Write out a held-back finished line (the worker calls this before it may wait)."""
        self.stream.flush()

    def banner(self, queues: list[str]) -> None:
        if self.json_mode:
            return
        plural = "queues" if len(queues) > 1 else "queue"
        info = self.style.badge("INFO", "blue")
        self._write(f"\n  {info} Processing jobs from the [{','.join(queues)}] {plural}.\n")

    def info(self, message: str) -> None:
        if not self.json_mode:
            self._write(f"  {self.style.badge('INFO', 'blue')} {message}")

    def starting(self, job: Job, *, flush: bool = True) -> None:
        """`flush=False` (the in-flight worker) leaves the line to the caller's next `flush()`."""
        if self.json_mode:
            self._json(job, "starting", flush=flush)
            return
        name = self._label(job)
        dots = "." * max(self.width - len(name) - 33, 0)
        style = self.style
        if not style.enabled:  # the per-job path stays one f-string when piped
            self._write(f"  {self._stamp()} {name} {dots} RUNNING", flush=flush)
            return
        running = style.status("RUNNING", "yellow")
        self._write(f"  {style.grey(self._stamp())} {name} {style.grey(dots)} {running}", flush=flush)

    def finished(self, job: Job, status: str, milliseconds: float, exc: BaseException | None = None) -> None:
        """Held in the stream's buffer (on a file or pipe; a terminal shows it at once) until the
        next job's RUNNING line or `flush()`: one write per job instead of two, and a line is
        never later than the worker's next wait."""
        if self.json_mode:
            self._json(job, status, milliseconds, exc, flush=False)
            return
        name = self._label(job)
        runtime = runtime_for_humans(milliseconds)
        dots = "." * max(self.width - len(name) - len(runtime) - 31, 0)
        word, colour = STATUS_WORDS[status]
        stamp = self._stamp()
        if self.style.enabled:
            grey = self.style.grey
            stamp, dots, runtime, word = grey(stamp), grey(dots), grey(runtime), self.style.status(word, colour)
        self._write(f"  {stamp} {name} {dots} {runtime} {word}", flush=False)

    def _label(self, job: Job) -> str:
        name = _safe_name(job)
        if self.verbose:
            name = f"{name} {job.job_id} {job.connection_name} {job.queue}"
        return name

    def _json(
        self,
        job: Job,
        status: str,
        milliseconds: float | None = None,
        exc: BaseException | None = None,
        *,
        flush: bool = True,
    ) -> None:
        result = job_result(job)
        try:
            uuid = job.uuid
        except InvalidPayloadError:
            uuid = None
        record = {
            "level": "info" if status in ("starting", "success") else "warning",
            "id": job.job_id,
            "uuid": uuid,
            "connection": job.connection_name,
            "queue": job.queue,
            "job": _safe_name(job),
            "status": status,
            "result": result,
            "attempts": job.attempts(),
            "exception": getattr(exc, "php_class", type(exc).__name__) if exc else None,
            "message": str(exc) if exc else None,
            "timestamp": self._now().strftime("%Y-%m-%dT%H:%M:%S.%f") + self._now().strftime("%z")[:3] + ":"
            + self._now().strftime("%z")[3:],
            "duration": round(milliseconds / 1000, 6) if milliseconds is not None else None,
        }
        self._write(json.dumps({k: v for k, v in record.items() if v not in (None, "", 0, False)}), flush=flush)
