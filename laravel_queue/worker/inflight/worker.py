"""`queue:work --in-flight N`: one asyncio loop keeps up to N jobs reserved and running.

Each round: read restart and pause (one cache read), run Laravel's stop checks, then
reserve as many jobs as there are free slots (several per round trip on Redis, each its
own reservation), and start each as a task. Worker-wide stops (signal, restart, memory,
--max-jobs, --max-time, --stop-when-empty) end the rounds; the in-flight jobs then
finish before the worker exits with Laravel's status. Pause, maintenance and a looping
hook returning False stop the reserving, not the running jobs. With nothing to reserve it
waits for a push where the driver can (drivers/wake.py, as the sync worker), else sleeps
`--sleep`; a finished job or a signal ends either at once.

The per-job rules are the sync `Worker`'s (see `jobrun`); this module only decides when
to reserve.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from laravel_queue.drivers.base import Queue
from laravel_queue.drivers.wake import push_wait_for
from laravel_queue.job import Job
from laravel_queue.worker.inflight.jobrun import JobRunner
from laravel_queue.worker.inflight.sources import JobSource, source_for
from laravel_queue.worker.inflight.watch import LoopWatch
from laravel_queue.worker.timeout import TimeoutBookkeeping
from laravel_queue.worker.worker import Worker

log = logging.getLogger("laravel_queue.worker")

ACK_DELAY_SECONDS = 0.05
"""Longest a finished job's delete waits to ride on the next pop before it is sent on its own.

A delete held past retry_after (on SQS, the visibility timeout) lets the finished job be
reserved again, which Laravel's worker, deleting at once, never does; the short window
still lets a busy worker batch its deletes with its pops."""


class InFlightWorker:
    """Drives a sync `Worker`'s rules with up to `in_flight` jobs at once on one event loop."""

    def __init__(self, worker: Worker, in_flight: int) -> None:
        if in_flight < 1:
            raise ValueError("--in-flight must be at least 1")
        self.worker = worker
        self.in_flight = in_flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None
        self._slot_freed: asyncio.Event | None = None
        self._started = 0.0
        self._jobs_started = 0
        self._found_nothing = False
        self._ack_flush: asyncio.TimerHandle | None = None
        self._ack_flush_tasks: set[asyncio.Task[None]] = set()
        self._ack_target: tuple[JobSource, JobRunner] | None = None
        self._waiting: asyncio.Future[bool] | None = None
        """The push wait in progress (on the source's wait thread), kept across rounds."""
        self._stop_waiting = threading.Event()

    def daemon(self, connection_name: str | None, queues: list[str]) -> int:
        """Work until a stop condition, then let the in-flight jobs finish; Laravel's exit status."""
        return asyncio.run(self._daemon(connection_name, queues))

    async def _daemon(self, connection_name: str | None, queues: list[str]) -> int:
        worker = self.worker
        queue = worker.connections.queue(connection_name)
        source = source_for(queue)
        pool = ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="laravel-queue-job")
        watch = LoopWatch(TimeoutBookkeeping(worker.settings, worker.options, worker.lifecycle))
        runner = JobRunner(worker.processor, source, pool, watch)
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._install_signal_handlers()
        self._ack_target = (source, runner)
        source.attach(asyncio.get_running_loop())
        watch.start(asyncio.get_running_loop(), runner)
        try:
            worker.control.last_restart = (await source.run(worker.control.read, queue.connection_name, []))[0]
            return await self._rounds(source, runner, queue, queues)
        finally:
            self._stop_waiting.set()
            if self._tasks:
                await asyncio.wait(set(self._tasks))
            if self._ack_flush is not None:
                self._ack_flush.cancel()
            if self._ack_flush_tasks:
                await asyncio.wait(set(self._ack_flush_tasks))
            if self._waiting is not None:
                with contextlib.suppress(Exception):  # ends within one slice of its wait
                    await self._waiting
            await self._flush(source, runner)
            worker.output.flush()
            watch.stop()
            await source.close()
            pool.shutdown(wait=False)

    async def _rounds(self, source: JobSource, runner: JobRunner, queue: Queue, queues: list[str]) -> int:
        """Rounds until a stop condition; an unexpected error in a round is logged and the next one runs."""
        self._started = time.monotonic()
        while True:
            try:
                status = await self._round(source, runner, queue, queues)
            except Exception:  # a bug or an outage outside any job: log it and go on, as the sync loop
                log.exception("unexpected error in the in-flight worker loop; continuing")
                await self._sleep(1)
                continue
            if status is not None:
                return status

    async def _round(self, source: JobSource, runner: JobRunner, queue: Queue, queues: list[str]) -> int | None:
        """Stop checks, then reserve up to the free slots; Laravel's exit status when it is time to stop."""
        worker, options = self.worker, self.worker.options
        restart, paused = await source.run(worker.control.read, queue.connection_name, queues)
        status = worker._stop_status(restart, self._found_nothing, self._started, self._jobs_started)
        if status is not None:
            return status
        if not await source.run(worker._daemon_should_run):
            await self._sleep(options.sleep if options.sleep > 0 else 1)
            self._found_nothing = False
            return None
        worker.output.flush()  # this round's RUNNING/DONE lines, one write
        if not source.cut_short and await self._wait_for_slots():
            return None  # time passed: the stop checks come first again
        free = self.in_flight - len(self._tasks)
        if options.max_jobs:
            free = min(free, options.max_jobs - self._jobs_started)
        if free <= 0:
            await self._next_finish()
            return None
        unpaused = [q for q in queues if q not in paused]
        assert self._wake is not None
        self._wake.clear()  # a job finishing from here on ends the idle wait below
        jobs = await self._reserve(source, runner, unpaused, free)
        for job in jobs:
            self._start(runner, job)
        self._jobs_started += len(jobs)
        self._found_nothing = not jobs and not self._tasks  # a running job may still queue more (a chain)
        if not jobs and self._tasks and options.stop_when_empty:
            await self._next_finish()
        elif not jobs:
            await self._idle(source, queue, unpaused)
        return None

    async def _wait_for_slots(self) -> bool:
        """Until a quarter of the slots (at least one) is free: a round trip then reserves a batch
        instead of one job per finished job. A job that ends sooner than the others still frees
        its slot at once; the wait is only for the next reservation."""
        wanted = max(1, self.in_flight // 4)
        waited = False
        while self._tasks and self.in_flight - len(self._tasks) < wanted:
            await self._next_finish()
            waited = True
        return waited

    async def _next_finish(self) -> None:
        """Until one in-flight job finishes (one event, not a callback on every task per wait)."""
        assert self._slot_freed is not None
        self._slot_freed.clear()
        await self._slot_freed.wait()

    async def _reserve(self, source: JobSource, runner: JobRunner, queues: list[str], count: int) -> list[Job]:
        """Reserve up to `count` jobs; the finished jobs' deletes ride along. A failed pop keeps them."""
        acks, runner.acks = runner.acks, []
        if not queues:  # every queue paused
            runner.acks = acks + runner.acks
            return []
        try:
            return await source.pop(queues, count, acks)
        except Exception as exc:
            runner.acks = acks + runner.acks
            unreservable = getattr(exc, "job", None)
            if isinstance(unreservable, Job):  # a row the driver cannot reserve: Laravel 12.54 fails it
                await source.run(self.worker.processor.fail_unreservable, unreservable, exc)
                return []
            log.error("could not pop: %s", exc)
            await self._sleep(1)
            return []

    def _start(self, runner: JobRunner, job: Job) -> None:
        task = asyncio.get_running_loop().create_task(runner.process(job), name=f"job {job.job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        """A job is done: its slot is free and its delete should ride the next pop soon, so an
        idle wait ends now instead of after --sleep."""
        self._tasks.discard(task)
        self._schedule_ack_flush()
        self._wake_up()
        if self._slot_freed is not None:
            self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("in-flight job task crashed: %r", task.exception())

    def _schedule_ack_flush(self) -> None:
        """Send the finished jobs' deletes within ACK_DELAY_SECONDS unless a pop takes them first."""
        if self._ack_target is None or self._ack_flush is not None or not self._ack_target[1].acks:
            return
        source, runner = self._ack_target

        def flush_now() -> None:
            self._ack_flush = None
            if runner.acks:
                task = asyncio.get_running_loop().create_task(self._flush(source, runner))
                self._ack_flush_tasks.add(task)
                task.add_done_callback(self._ack_flush_tasks.discard)

        self._ack_flush = asyncio.get_running_loop().call_later(ACK_DELAY_SECONDS, flush_now)

    async def _flush(self, source: JobSource, runner: JobRunner) -> None:
        acks, runner.acks = runner.acks, []
        try:
            await source.flush_acks(acks)
        except Exception as exc:
            log.error("could not delete %d finished job(s): %s (they return after retry_after)", len(acks), exc)

    # -- signals and sleeping ------------------------------------------------------------------
    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        worker = self.worker

        def quit_() -> None:
            worker.quit()
            self._wake_up()

        def resume() -> None:
            worker.resume()
            self._wake_up()

        try:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                loop.add_signal_handler(sig, quit_)
            loop.add_signal_handler(signal.SIGUSR2, worker.pause)
            loop.add_signal_handler(signal.SIGCONT, resume)
        except (RuntimeError, ValueError):  # not the main thread: the caller handles signals
            pass

    def _wake_up(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _idle(self, source: JobSource, queue: Queue, queues: list[str]) -> None:
        """Nothing to reserve: wait for a push where the driver can, else sleep `--sleep`.

        The wait blocks a thread (`source.wait_for_push`); a finished job or a signal ends
        this call at once and asks the wait to stop. A wait still finishing its last slice
        is picked up by the next idle call, so a push it saw is not lost.
        """
        seconds = self.worker.options.sleep
        # where the driver does its I/O: a driver may look its wait up on its own connection
        wait = await source.run(push_wait_for, queue) if seconds > 0 and queues else None
        if wait is None or (self._tasks and not source.waits_beside_jobs):
            await self._until_woken(seconds)
            return
        assert self._wake is not None
        self.worker.output.flush()
        if self.worker.should_quit or self._wake.is_set():
            return
        self._stop_waiting.clear()
        if self._waiting is None:
            stop = self._stop_waiting.is_set
            self._waiting = asyncio.ensure_future(source.wait_for_push(wait, queues, seconds, stop))
        waiting = self._waiting
        woken: asyncio.Future[Any] = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({waiting, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
        if waiting.done():
            self._waiting = None
            waiting.result()  # a failed wait raises: the round's error path logs it and pauses 1 s
        else:
            self._stop_waiting.set()

    async def _sleep(self, seconds: float) -> None:
        if self._wake is not None:
            self._wake.clear()
        await self._until_woken(seconds)

    async def _until_woken(self, seconds: float) -> None:
        """At most `seconds`, ended by a finished job or a signal since the wake was last cleared."""
        if seconds <= 0 or self._wake is None:
            return
        self.worker.output.flush()
        if self.worker.should_quit:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
