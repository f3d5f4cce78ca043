"""`queue:work` in Python: Laravel's Worker loop.

The rules follow laravel/framework's Worker.php (spec §8, §9); each concept has its
module: `policy` (the per-job rules and stop checks), `control` (restart, pause,
maintenance), `process` (the job pipeline), `timeout` and `watchdog` (job timeouts),
`signals`, `memory`. One thing differs in how, not in what: a finished job's delete
rides on the next pop (`Job.delete_later()` / `Queue.pop(ack=...)`), and is flushed
on its own before the worker waits or stops, so it never waits across a sleep.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from laravel_queue.connections import Connections
from laravel_queue.drivers.base import ControlKeys, Queue
from laravel_queue.drivers.wake import push_wait_for
from laravel_queue.job import Job
from laravel_queue.worker.control import RESTART_KEY, WorkerControl, paused_key
from laravel_queue.worker.lifecycle import JobLifecycle, WorkerEvents
from laravel_queue.worker.memory import memory_usage_mb
from laravel_queue.worker.options import WorkerOptions
from laravel_queue.worker.output import WorkerOutput
from laravel_queue.worker.policy import (
    EXIT_ERROR,
    EXIT_MEMORY_LIMIT,
    EXIT_SUCCESS,
    backoff_for,
    stop_status,
    timeout_for,
)
from laravel_queue.worker.process import JobProcessor
from laravel_queue.worker.run import JobRun
from laravel_queue.worker.signals import install_signal_handlers
from laravel_queue.worker.timeout import TimeoutBookkeeping
from laravel_queue.worker.watchdog import Watchdog

if TYPE_CHECKING:
    from laravel_queue.bus.encryption import Encrypter
    from laravel_queue.cache.base import CacheStore

log = logging.getLogger("laravel_queue.worker")

__all__ = ["EXIT_ERROR", "EXIT_MEMORY_LIMIT", "EXIT_SUCCESS", "RESTART_KEY", "Worker", "backoff_for", "paused_key"]


class Worker:
    """Pops jobs from one queue connection and runs them through the registry's handlers."""

    def __init__(
        self,
        connections: Connections,
        *,
        registry: Any = None,
        options: WorkerOptions | None = None,
        output: WorkerOutput | None = None,
        lifecycle: JobLifecycle | None = None,
        events: WorkerEvents | None = None,
        encrypter: Encrypter | None = None,
    ) -> None:
        if registry is None:
            from laravel_queue.registry import default_registry

            registry = default_registry
        self.connections = connections
        self.settings = connections.settings
        self.registry = registry
        self.options = options or WorkerOptions()
        self.output = output or WorkerOutput(json_mode=self.options.json, timezone=self.settings.app.timezone)
        self.lifecycle = lifecycle or JobLifecycle()
        self.events = events or WorkerEvents()
        self.control = WorkerControl(connections)
        self.processor = JobProcessor(
            connections,
            registry=registry,
            options=self.options,
            output=self.output,
            lifecycle=self.lifecycle,
            events=self.events,
            cache=self.control.cache,
            encrypter=encrypter,
        )
        self.should_quit = False
        self.paused = False
        self.exit_code: int | None = None
        self._wake = threading.Event()
        self._queue: Queue | None = None
        self._pending_ack: Job | None = None  # a finished job whose delete rides on the next pop
        self._watchdog: Watchdog[JobRun] | None = None

    # -- the loop ---------------------------------------------------------------------------------
    def daemon(self, connection_name: str | None, queues: list[str]) -> int:
        """Work until a stop condition; returns Laravel's exit status."""
        queue = self._open(connection_name)
        install_signal_handlers(on_quit=self.quit, on_pause=self.pause, on_resume=self.resume)
        self._watchdog = Watchdog(self._on_timeout)
        control = self.control
        control.last_restart = control.read(queue.connection_name, [])[0]
        keys = control.keys_for(queue, queues)
        started = time.monotonic()
        jobs_processed = 0
        found_nothing = False
        try:
            while True:
                try:
                    restart, paused_queues = control.for_iteration(queue.connection_name, queues, keys)
                    status = self._stop_status(restart, found_nothing, started, jobs_processed)
                    if status is not None:
                        return status
                    if not self._daemon_should_run():
                        self._sleep(self.options.sleep if self.options.sleep > 0 else 1)
                        found_nothing = False
                        continue
                    job = self._next_job(queue, queues, paused_queues, keys)
                    if job is None and control.saw_restart:  # nothing popped: run the stop checks now
                        control.saw_restart = False
                        continue
                    found_nothing = job is None
                    if job is None:
                        self._idle(queue, queues, paused_queues)
                        continue
                    jobs_processed += 1
                    if self._run_job(job, armed=True).gave_back:  # only PHP can run it: don't spin on it
                        self._sleep(self.options.sleep)
                    elif self.options.rest > 0:
                        self._sleep(self.options.rest)
                except Exception:  # a bug or an outage outside any job: log it and go on
                    log.exception("unexpected error in the worker loop; continuing")
                    self._flush_ack()
                    self._wake.clear()
                    if not self.should_quit:
                        self._wake.wait(1)
        finally:
            self._stop()

    def run_next_job(self, connection_name: str | None, queues: list[str]) -> int:
        """`--once`: one job or one sleep; no signal handlers, timeout or restart check (as Laravel)."""
        queue = self._open(connection_name)
        try:
            if self.control.in_maintenance() and not self.options.force:
                self._sleep(self.options.sleep)
                return EXIT_SUCCESS
            _, paused_queues = self.control.read(queue.connection_name, queues)
            job = self._next_job(queue, queues, paused_queues)
            if job is None:
                self._sleep(self.options.sleep)
            else:
                self._run_job(job, armed=False)
            return EXIT_SUCCESS
        finally:
            self._stop()

    def process(self, job: Job) -> None:
        """Laravel's Worker::process for one job outside the loop (deleted at once when done)."""
        self.processor.process(JobRun(job))

    def cache(self) -> CacheStore:
        """The default cache store (restart, pause and maxExceptions keys)."""
        return self.control.cache()

    # -- signals ------------------------------------------------------------------------------------
    def quit(self) -> None:
        """SIGTERM/SIGINT/SIGQUIT: stop after the current job."""
        self.should_quit = True
        self._wake.set()

    def pause(self) -> None:
        """SIGUSR2."""
        self.paused = True

    def resume(self) -> None:
        """SIGCONT."""
        self.paused = False
        self._wake.set()

    # -- one iteration's parts --------------------------------------------------------------------
    def _open(self, connection_name: str | None) -> Queue:
        queue = self.connections.queue(connection_name)
        queue.busy_poll(self.options.busy_poll)
        self._queue = queue
        return queue

    def _stop_status(self, restart: Any, found_nothing: bool, started: float, jobs_processed: int) -> int | None:
        options = self.options
        return stop_status(
            should_quit=self.should_quit,
            memory_mb=memory_usage_mb(),
            memory_limit=options.memory,
            restart_changed=self.control.restart_changed(restart),
            stop_when_empty=options.stop_when_empty,
            found_nothing=found_nothing,
            elapsed=time.monotonic() - started,
            max_time=options.max_time,
            jobs_processed=jobs_processed,
            max_jobs=options.max_jobs,
        )

    def _daemon_should_run(self) -> bool:
        if self.paused:
            return False
        if self.control.in_maintenance() and not self.options.force:
            return False
        return self.events.should_loop()

    def _next_job(
        self, queue: Queue, queues: list[str], paused: set[str], keys: ControlKeys | None = None
    ) -> Job | None:
        """First job in queue-priority order; the previous job's delete rides on the first pop.

        With `keys` (see `WorkerControl.keys_for`) each pop also reads restart and pause.
        A pop that raises did not apply its ack; if no pop ran (every queue paused) the
        ack is flushed on its own.
        """
        ack, self._pending_ack = self._pending_ack, None
        if queue.pop_may_wait:
            self.output.flush()
        try:
            for index, name in enumerate(queues):
                if name in paused:
                    continue
                if keys is None:
                    job = queue.pop(name, index, ack=ack)
                else:
                    job = self.control.pop(queue, name, index, ack, keys)
                ack = None
                if job is not None or self.control.saw_restart:
                    return job
        except Exception as exc:
            self._pending_ack, ack = ack, None
            self._pop_failed(queue, exc)
            return None
        if ack is not None:
            self._pending_ack = ack
            self._flush_ack()
        return None

    def _pop_failed(self, queue: Queue, exc: Exception) -> None:
        unreservable = getattr(exc, "job", None)
        if isinstance(unreservable, Job):  # a row the driver cannot reserve: Laravel 12.54 fails it
            self.processor.fail_unreservable(unreservable, exc)
            return
        log.error("could not pop from [%s]: %s", queue.connection_name, exc)
        self._sleep(1)

    def _run_job(self, job: Job, *, armed: bool) -> JobRun:
        run = JobRun(job, defer_delete=True)
        timeout = timeout_for(job, self.options)
        watchdog = self._watchdog if armed and timeout > 0 else None
        if watchdog is not None:
            watchdog.arm(run, timeout)
        try:
            self.processor.process(run)
        finally:
            if watchdog is not None:
                watchdog.disarm()
        if run.deferred:
            if self._pending_ack is not None:
                self._flush_ack()
            self._pending_ack = job
        return run

    def _flush_ack(self) -> None:
        """Delete the finished job no pop carried; on failure it stays pending for the next pop."""
        job = self._pending_ack
        if job is None or self._queue is None:
            return
        try:
            self._queue.flush_acks([job])
        except Exception as exc:
            log.error("could not delete finished job %s yet: %s", job.job_id, exc)
            return
        self._pending_ack = None

    def _idle(self, queue: Queue, queues: list[str], paused: set[str]) -> None:
        """Nothing to do: wait for a push where the driver can (drivers/wake.py), else sleep."""
        wait = push_wait_for(queue) if self.options.sleep > 0 else None
        if wait is None:
            self._sleep(self.options.sleep)
            return
        self._flush_ack()
        self.output.flush()
        wait([name for name in queues if name not in paused], self.options.sleep, lambda: self.should_quit)

    def _sleep(self, seconds: float) -> None:
        """Wait (woken early by a stop signal); finished jobs are deleted first."""
        if seconds <= 0:
            return
        self.events.fire(self.events.sleeping, seconds)
        self._flush_ack()
        self.output.flush()
        self._wake.clear()
        if not self.should_quit:
            self._wake.wait(seconds)

    def _stop(self) -> None:
        """Every way out of the loop: console flushed, the last delete sent, the watchdog idle."""
        self.output.flush()
        self._flush_ack()
        if self._pending_ack is not None:
            log.error("finished job %s not deleted; it returns after retry_after", self._pending_ack.job_id)
        if self._watchdog is not None:
            self._watchdog.disarm()

    def _on_timeout(self, run: JobRun) -> None:
        """The watchdog's bookkeeping (§8.6) before the process is killed, on its own connections."""
        TimeoutBookkeeping(self.settings, self.options, self.lifecycle)(run, self._pending_ack)
