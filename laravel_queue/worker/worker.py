"""`queue:work` in Python: Laravel's Worker loop and CallQueuedHandler pipeline.

The rules (attempts, tries, retryUntil, maxExceptions, backoff, timeouts, stop
checks, exit codes) follow laravel/framework's Worker.php and Job.php; the spec
(§8, §9) names each one. Two things differ in how, not in what: the restart and
pause keys are read in one round trip per iteration, and a finished job's delete
rides on the next pop (`Job.delete_later()` / `Queue.pop(ack=...)`). Where the driver
can read the cache itself (`Queue.control_keys`: a Redis cache on the queue's Redis
server >= 7.0, or a database cache store on the queue's SQLite/MySQL connection) the
restart and pause reads ride on the pop too (`pop_with_control`): on Redis one round
trip per job, on a database one transaction per job.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from laravel_queue.connections import Connections
from laravel_queue.drivers.base import Queue
from laravel_queue.job import InvalidPayloadError, Job
from laravel_queue.worker.exceptions import (
    ManuallyFailedError,
    MaxAttemptsExceededError,
    TimeoutExceededError,
)
from laravel_queue.worker.lifecycle import JobLifecycle, WorkerEvents
from laravel_queue.worker.options import WorkerOptions
from laravel_queue.worker.output import WorkerOutput
from laravel_queue.worker.policy import (
    EXIT_ERROR,
    EXIT_MEMORY_LIMIT,
    EXIT_SUCCESS,
    backoff_for,
    has_exceeded_attempts,
    max_exceptions_key,
    reached_max_exceptions,
    stop_status,
    timeout_for,
    will_exceed_attempts,
)
from laravel_queue.worker.watchdog import Watchdog

log = logging.getLogger("laravel_queue.worker")

RESTART_KEY = "illuminate:queue:restart"
__all__ = ["EXIT_ERROR", "EXIT_MEMORY_LIMIT", "EXIT_SUCCESS", "RESTART_KEY", "Worker", "backoff_for", "paused_key"]
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


_NOT_READ: Any = object()  # no pop script read the restart key in this iteration


def paused_key(connection: str, queue: str) -> str:
    return f"illuminate:queue:paused:{connection}:{queue}"


class _ResidentMemory:
    """Resident memory in MiB, read once per loop like Laravel's memory check.

    The /proc file stays open and is re-read with pread: a few microseconds instead of
    an open/read/close per job. It is reopened after a fork (the open file names the
    process that opened it).
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._pid = -1

    def __call__(self) -> float:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            if self._fd is not None:
                os.close(self._fd)
            try:
                self._fd = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                self._fd = None
        if self._fd is not None:
            try:
                return int(os.pread(self._fd, 64, 0).split()[1]) * _PAGE_SIZE / 1048576
            except OSError:
                self._fd = None
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


memory_usage_mb = _ResidentMemory()


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
        encrypter: Any = None,
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
        self.encrypter = encrypter
        self.should_quit = False
        self.paused = False
        self.exit_code: int | None = None
        self._wake = threading.Event()
        self._pending_ack: Job | None = None
        self._defer_delete = False
        self._deferred_job: Job | None = None
        self._gave_back = False
        self._watchdog: Watchdog | None = None
        self._last_restart: Any = None
        self._cache: Any = None
        self._cache_error_logged = False
        self._down_file = str(self.settings.app.base_path / "storage" / "framework" / "down")
        self._maintenance = False
        self._maintenance_checked_at = -1e9
        self._restart_raw: bytes | None = None  # the stored restart value the pop script expects
        self._restart_raw_value: Any = None  # ... and what it decodes to
        self._restart_from_pop: Any = _NOT_READ
        self._pop_saw_restart = False

    # -- the loop ---------------------------------------------------------------------
    def daemon(self, connection_name: str | None, queues: list[str]) -> int:
        """Work until a stop condition; returns Laravel's exit status."""
        queue = self.connections.queue(connection_name)
        queue.busy_poll(self.options.busy_poll)
        self._install_signal_handlers()
        self._watchdog = Watchdog(self._on_timeout)
        self._last_restart = self._read_control(queue.connection_name, [])[0]
        control = self._control_keys(queue, queues)
        started = time.monotonic()
        jobs_processed = 0
        found_nothing = False
        try:
            while True:
                restart, paused_queues = self._iteration_control(queue.connection_name, queues, control)
                status = self._stop_status(restart, found_nothing, started, jobs_processed)
                if status is not None:
                    return status
                if not self._daemon_should_run():
                    self._sleep(self.options.sleep if self.options.sleep > 0 else 1)
                    found_nothing = False
                    continue
                job = self._next_job(queue, queues, paused_queues, control)
                if job is None and self._pop_saw_restart:  # nothing popped: run the stop checks now
                    self._pop_saw_restart = False
                    continue
                if job is not None:
                    found_nothing = False
                    jobs_processed += 1
                    self._run_job(queue, job, armed=True)
                    if self._gave_back:  # only PHP can run it: don't spin on it
                        self._gave_back = False
                        self._sleep(self.options.sleep)
                    elif self.options.rest > 0:
                        self._sleep(self.options.rest)
                else:
                    found_nothing = True
                    self._sleep(self.options.sleep)
        finally:
            self.output.flush()
            self._flush_ack(queue)
            if self._watchdog is not None:
                self._watchdog.disarm()

    def run_next_job(self, connection_name: str | None, queues: list[str]) -> int:
        """`--once`: one job or one sleep; no signal handlers, timeout or restart check (as Laravel)."""
        queue = self.connections.queue(connection_name)
        if self._in_maintenance() and not self.options.force:
            self._sleep(self.options.sleep)
            return EXIT_SUCCESS
        _, paused_queues = self._read_control(queue.connection_name, queues)
        job = self._next_job(queue, queues, paused_queues)
        if job is None:
            self._sleep(self.options.sleep)
        else:
            self._run_job(queue, job, armed=False)
        self.output.flush()
        self._flush_ack(queue)
        return EXIT_SUCCESS

    def _stop_status(self, restart: Any, found_nothing: bool, started: float, jobs_processed: int) -> int | None:
        """Laravel's stopIfNecessary, first match wins."""
        options = self.options
        return stop_status(
            should_quit=self.should_quit,
            memory_mb=memory_usage_mb(),
            memory_limit=options.memory,
            restart_changed=not _loosely_equal(restart, self._last_restart),
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
        if self._in_maintenance() and not self.options.force:
            return False
        return self.events.should_loop()

    def _in_maintenance(self) -> bool:
        """Laravel's isDownForMaintenance, looked up at most once a second (a stat or a cache
        read per job would cost more than the job loop itself)."""
        now = time.monotonic()
        if now - self._maintenance_checked_at >= 1.0:
            self._maintenance_checked_at = now
            self._maintenance = self._read_maintenance()
        return self._maintenance

    def _read_maintenance(self) -> bool:
        app = self.settings.app
        if app.maintenance_driver == "cache":
            try:
                return self.connections.cache(app.maintenance_store).get("illuminate:foundation:down") is not None
            except Exception:  # an unreachable store does not stop the worker
                return False
        return os.path.exists(self._down_file)

    # -- shared control keys --------------------------------------------------------------
    def cache(self) -> Any:
        """The default cache store (restart, pause and maxExceptions keys), or None if unusable."""
        if self._cache is None:
            self._cache = self.connections.cache()
        return self._cache

    def _read_control(self, connection_name: str, queues: list[str]) -> tuple[Any, set[str]]:
        """The restart timestamp and the paused queues, in one cache round trip."""
        keys = [RESTART_KEY] + [paused_key(connection_name, q) for q in queues]
        try:
            values = self.cache().many(keys)
        except Exception as exc:  # no cache: Laravel then neither restarts nor pauses
            if not self._cache_error_logged:
                log.warning("cache store unavailable, restart/pause signals not read: %s", exc)
                self._cache_error_logged = True
            return self._last_restart, set()
        paused = {q for q, value in zip(queues, values[1:], strict=True) if value}
        return values[0], paused

    def _control_keys(self, queue: Queue, queues: list[str]) -> Any:
        """`ControlKeys` when the driver's pop can read restart and pause itself, else None.

        Redis: a Redis cache on the same server (>= 7.0), read inside the pop script.
        SQLite/MySQL: a database cache store on the queue's connection, read inside the pop
        transaction. Otherwise (None) the worker reads the store once per iteration.
        """
        try:
            control = queue.control_keys(
                self.cache(),
                restart_key=RESTART_KEY,
                paused_keys={q: paused_key(queue.connection_name, q) for q in queues},
            )
        except Exception as exc:  # no usable cache: the per-iteration read logs it
            log.debug("restart/pause keys not read by the pop: %s", exc)
            return None
        if control is not None:
            self._restart_raw = _stored_restart(control, self._last_restart)
            self._restart_raw_value = self._last_restart
            self._restart_from_pop = self._last_restart  # just read: the first iteration needs no MGET
        return control

    def _iteration_control(self, connection_name: str, queues: list[str], control: Any) -> tuple[Any, set[str]]:
        """Restart value and paused queues for this iteration's stop checks and pops.

        With `control`, the previous pop script already read the restart value (a newer
        one makes the next pop script stop without popping) and each pop reads its own
        pause key; the MGET is only needed when no pop ran (worker paused or in
        maintenance, pop error).
        """
        if control is not None and self._restart_from_pop is not _NOT_READ:
            restart, self._restart_from_pop = self._restart_from_pop, _NOT_READ
            return restart, set()
        return self._read_control(connection_name, queues)

    def _pop_with_control(self, queue: Any, name: str, index: int, ack: Job | None, control: Any) -> Job | None:
        """One script: ack, read restart and pause, then pop unless restarted or paused.

        A restart value other than the expected one pops nothing and flags
        `_pop_saw_restart` so the loop runs its stop checks at once (a value that is
        only written differently, or unreadable, becomes the new expected one).
        A paused queue is skipped when its value is truthy, as Laravel's `(bool) get()`.
        """
        result = queue.pop_with_control(name, index, ack=ack, control=control, restart=self._restart_raw)
        if result.skipped == "restart":
            self._restart_raw = result.restart
            self._restart_raw_value = self._decoded_control(control, result.restart, fallback=self._last_restart)
            self._restart_from_pop = self._restart_raw_value
            self._pop_saw_restart = True
            return None
        self._restart_from_pop = self._restart_raw_value  # the script found the expected value
        if result.skipped == "paused":
            if self._decoded_control(control, result.paused, fallback=False):
                return None
            return queue.pop(name, index)  # a falsy value (e.g. `b:0;`): not paused
        return result.job

    def _decoded_control(self, control: Any, raw: Any, *, fallback: Any) -> Any:
        """A control value decoded as its cache store would; `fallback` if unreadable (as a failed MGET)."""
        try:
            return control.decode(raw)
        except Exception as exc:
            if not self._cache_error_logged:
                log.warning("unreadable restart/pause value in the cache, ignored: %s", exc)
                self._cache_error_logged = True
            return fallback

    # -- getting jobs ------------------------------------------------------------------------
    def _next_job(self, queue: Queue, queues: list[str], paused: set[str], control: Any = None) -> Job | None:
        """First job in queue-priority order; the previous job's delete rides on the first pop.

        With `control` (see `_control_keys`) each pop also reads restart and pause.
        If a pop raises, its ack was not applied: it stays pending for the next pop.
        """
        ack, self._pending_ack = self._pending_ack, None
        if queue.pop_may_wait:
            self.output.flush()
        try:
            for index, name in enumerate(queues):
                if name in paused:
                    continue
                if control is None:
                    job = queue.pop(name, index, ack=ack)
                else:
                    job = self._pop_with_control(queue, name, index, ack, control)
                ack = None
                if job is not None or self._pop_saw_restart:
                    return job
            return None
        except Exception as exc:
            unreservable = getattr(exc, "job", None)
            if isinstance(unreservable, Job):  # a row the driver cannot reserve: Laravel 12.54 fails it
                unreservable.on_fail = self._fail_job
                self._fail_job(unreservable, exc)
                return None
            log.error("could not pop from [%s]: %s", queue.connection_name, exc)
            self._sleep(1)
            return None
        finally:
            self._pending_ack = ack

    def _flush_ack(self, queue: Queue) -> None:
        if self._pending_ack is not None:
            job, self._pending_ack = self._pending_ack, None
            try:
                queue.flush_acks([job])
            except Exception as exc:
                log.error("could not delete finished job %s: %s (it returns after retry_after)", job.job_id, exc)

    # -- processing ----------------------------------------------------------------------------
    def _run_job(self, queue: Queue, job: Job, *, armed: bool) -> None:
        timeout = timeout_for(job, self.options)
        if armed and timeout > 0 and self._watchdog is not None:
            self._watchdog.arm(job, timeout)
        self._defer_delete = True
        try:
            self.process(job)
        finally:
            self._defer_delete = False
            if armed and self._watchdog is not None:
                self._watchdog.disarm()
        if self._deferred_job is job:
            self._pending_ack = job
        self._deferred_job = None

    def process(self, job: Job) -> None:
        """Laravel's Worker::process: guard, run, and route exceptions."""
        job.on_fail = self._fail_job
        self.events.fire(self.events.reserved, job)
        self.output.starting(job)
        started = time.perf_counter()
        try:
            _ = job.payload
        except InvalidPayloadError as exc:
            self._fail_job(job, exc)
            self._finished(job, "failed", started, exc)
            log.warning("job %s has an unreadable payload: %s", job.job_id, exc)
            return
        self.events.fire(self.events.before, job)
        ran = False
        try:
            self._fail_if_already_exceeded(job)
            if not job.is_deleted():
                ran = True
                self._call(job)
            self.events.fire(self.events.after, job)
            self._finished(job, _outcome(job, ran=ran, gave_back=self._gave_back), started)
        except Exception as exc:
            self._handle_exception(job, exc)
            self._finished(job, "failed" if job.has_failed() else "released_after_exception", started, exc)

    def _finished(self, job: Job, outcome: str, started: float, exc: BaseException | None = None) -> None:
        """The job's fate is decided: the console line and the `finished` listeners."""
        milliseconds = (time.perf_counter() - started) * 1000
        status = outcome if outcome in ("failed", "released_after_exception") else "success"
        self.output.finished(job, status, milliseconds, exc)
        if self.events.finished:
            self.events.fire(self.events.finished, job, outcome, milliseconds, exc)

    def _fail_if_already_exceeded(self, job: Job) -> None:
        if not has_exceeded_attempts(job, self.options, time.time()):
            return
        try:
            raise MaxAttemptsExceededError.for_job(job.display_name)
        except MaxAttemptsExceededError as exc:  # raised first, so failed_jobs shows where
            self._fail_job(job, exc)
            raise

    def _call(self, job: Job) -> None:
        """CallQueuedHandler::call for object jobs, the registered function for string jobs."""
        from laravel_queue.registry import UnknownJobError

        try:
            prepared = self.registry.prepare(job, encrypter=self._encrypter())
        except UnknownJobError:
            if self.options.unknown == "release":
                self._give_back(job)
                return
            raise
        job._prepared = prepared  # type: ignore[attr-defined]
        self.lifecycle.before_handle(job, prepared)
        prepared.handle()
        self.lifecycle.after_handle(job, prepared)
        if not job.is_deleted_or_released():
            self._delete_finished(job)

    def _delete_finished(self, job: Job) -> None:
        """Delete now, or (in the loop) mark it and let the next pop carry the delete."""
        if self._defer_delete:
            job.delete_later()
            self._deferred_job = job
        else:
            job.delete()

    def _give_back(self, job: Job) -> None:
        """`--unknown=release`: back to the queue unchanged, attempts not consumed, for PHP workers."""
        give_back = getattr(job, "give_back", None)
        if give_back is not None:
            give_back()
        else:
            job.release(0)
        self._gave_back = True
        log.info("no Python handler for %s; given back to the queue", job.display_name)

    def _encrypter(self) -> Any:
        if self.encrypter is None and self.settings.app.key is not None:
            from laravel_queue.bus.encryption import Encrypter

            self.encrypter = Encrypter.from_settings(self.settings)
        return self.encrypter

    # -- exceptions and failure --------------------------------------------------------------
    def _handle_exception(self, job: Job, exc: Exception) -> None:
        """Laravel's handleJobException: fail if out of tries or exceptions, else release with backoff."""
        try:
            if not job.has_failed():
                self._fail_if_will_exceed_attempts(job, exc)
                self._fail_if_will_exceed_exceptions(job, exc)
            self.events.fire(self.events.exception_occurred, job, exc)
            if not job.is_deleted() and not job.is_released() and not job.has_failed():
                job.release(backoff_for(job, self.options))
        finally:
            log.warning("job %s raised %s: %s", _safe_display(job), type(exc).__name__, exc)

    def _fail_if_will_exceed_attempts(self, job: Job, exc: BaseException) -> None:
        if will_exceed_attempts(job, self.options, time.time()):
            self._fail_job(job, exc)

    def _fail_if_will_exceed_exceptions(self, job: Job, exc: BaseException) -> None:
        max_exceptions = job.max_exceptions
        uuid = job.uuid
        if not uuid or max_exceptions is None:
            return
        try:
            cache = self.cache()
            key = max_exceptions_key(uuid)
            if not cache.get(key):
                cache.put(key, 0, 86400)
            count = cache.increment(key)
        except Exception as cache_exc:
            log.warning("maxExceptions not counted (cache unavailable): %s", cache_exc)
            return
        if reached_max_exceptions(max_exceptions, count):
            cache.forget(key)
            self._fail_job(job, exc)

    def _fail_job(self, job: Job, exc: BaseException | None) -> None:
        """Laravel's Job::fail: record it in failed_jobs, delete it, run the failed() hooks.

        Laravel deletes first and writes failed_jobs last; here the record is written first,
        so a failed_jobs store that cannot be written leaves the job reserved (it returns
        after retry_after) instead of losing it.
        """
        job.mark_as_failed()
        if job.is_deleted():
            return
        error = exc if exc is not None else ManuallyFailedError("")
        if not self._log_failed(job, error):
            return
        try:
            job.delete()
            prepared = getattr(job, "_prepared", None)
            self.lifecycle.after_failure(job, prepared, error)
            if prepared is not None:
                prepared.failed(error)
        finally:
            self.events.fire(self.events.failing, job, error)

    def _log_failed(self, job: Job, exc: BaseException) -> bool:
        from laravel_queue.failed.exception_text import format_exception

        try:
            self.connections.failed().log(job.connection_name, job.queue, job.raw_body, format_exception(exc))
        except Exception as log_exc:
            log.error(
                "could not write failed job %s to failed_jobs (%s); it stays reserved and returns after retry_after",
                job.job_id, log_exc,
            )
            return False
        return True

    def _on_timeout(self, job: Job) -> None:
        """The watchdog's bookkeeping (§8.6) before the process is killed."""
        try:
            raise TimeoutExceededError.for_job(_safe_display(job))
        except TimeoutExceededError as raised:
            exc = raised
        try:
            self._fail_if_will_exceed_attempts(job, exc)
            if not job.has_failed():
                self._fail_if_will_exceed_exceptions(job, exc)
            if not job.has_failed() and job.fail_on_timeout:
                self._fail_job(job, exc)
            if self._pending_ack is not None:
                self.connections.queue(job.connection_name).flush_acks([self._pending_ack])
        except Exception as bookkeeping_exc:
            log.error("timeout bookkeeping for %s failed: %s", job.job_id, bookkeeping_exc)
        log.error("%s; stopping the worker (exit by SIGKILL, as Laravel)", exc)

    # -- signals and sleeping ------------------------------------------------------------------
    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def quit_(signum: int, frame: Any) -> None:
            self.should_quit = True
            self._wake.set()

        def pause(signum: int, frame: Any) -> None:
            self.paused = True

        def resume(signum: int, frame: Any) -> None:
            self.paused = False
            self._wake.set()

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, quit_)
        signal.signal(signal.SIGUSR2, pause)
        signal.signal(signal.SIGCONT, resume)

    def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.output.flush()
        self._wake.clear()
        if not self.should_quit:
            self._wake.wait(seconds)


def _loosely_equal(a: Any, b: Any) -> bool:
    """PHP's `==` for the restart timestamp: "1714000000" equals 1714000000."""
    if a is None or b is None:
        return a is b
    return str(a) == str(b)


def _stored_restart(control: Any, value: Any) -> Any:
    """The stored form of a restart value (a guess is fine: a mismatch is re-read)."""
    if value is None:
        return None
    try:
        return control.encode(value)
    except Exception:
        return b""


def _outcome(job: Job, *, ran: bool, gave_back: bool) -> str:
    """The `finished` outcome of a run whose handler did not raise."""
    if job.has_failed():
        return "failed"
    if gave_back:
        return "given_back"
    if job.is_released():
        return "released"
    return "processed" if ran else "deleted"


def _safe_display(job: Job) -> str:
    try:
        return job.display_name
    except Exception:
        return "Unknown"
