"""`DatabaseQueue`: Laravel's DatabaseQueue protocol over `laravel_queue.db` (see the package docstring)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, cast

from laravel_queue.db import ConcurrencyError, Database, DatabaseError, LostConnectionError, Statement
from laravel_queue.drivers.base import ControlledPop, Queue
from laravel_queue.drivers.database.job import DatabaseJob, UnreservableJobError
from laravel_queue.drivers.database.mysql import OneTripPop, one_trip_pop
from laravel_queue.drivers.database.notify import PostgresNotifyWait, notify_wait_for
from laravel_queue.drivers.database.one_trip import (
    DatabaseControlKeys,
    FastPathDeclined,
    controlled_pop,
    pop_acked_in_one_statement,
    pop_controlled_in_one_statement,
    pop_in_one_trip,
    pops_in_one_trip,
)
from laravel_queue.drivers.database.pgsql import pop_controlled
from laravel_queue.drivers.database.sql import BULK_COLUMNS, candidate_lock, laravel_statements
from laravel_queue.job import Job

if TYPE_CHECKING:
    from laravel_queue.cache.base import CacheStore
    from laravel_queue.config.settings import QueueConnectionConfig
    from laravel_queue.drivers.wake import PushWait
    from laravel_queue.resources import Resources

log = logging.getLogger("laravel_queue.worker")

_BULK_CHUNK = 500
_NOT_ASKED = object()  # `push_wait` has not looked for the trigger yet


class DatabaseQueue(Queue):
    """Jobs in a SQL table, reserved with a locked SELECT + UPDATE inside one transaction."""

    def __init__(
        self,
        db: Database,
        *,
        table: str = "jobs",
        connection_name: str = "database",
        default_queue: str = "default",
        retry_after: int | None = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(connection_name=connection_name, default_queue=default_queue)
        self.db = db
        self.table_name = table
        self.retry_after = 60 if retry_after is None else int(retry_after)
        self.clock = clock
        self._sql: dict[str, str] | None = None
        # PostgreSQL controlled pop / MySQL pop, per cache table (None: no control) and whether
        # Laravel 13's global paused key is read too
        self._controlled_sql: dict[tuple[str, bool], str] = {}
        self._one_trip_sql: dict[tuple[str | None, bool], OneTripPop] = {}
        self._push_wait: object = _NOT_ASKED

    @classmethod
    def from_config(cls, connections: Resources, cfg: QueueConnectionConfig) -> DatabaseQueue:
        return cls(
            connections.db(cfg.connection),
            table=cfg.table,
            connection_name=cfg.name,
            default_queue=cfg.queue,
            retry_after=cfg.retry_after,
        )

    def now(self) -> int:
        return int(self.clock())

    # -- SQL, built once per connection with Laravel's grammar output ---------------------------
    @property
    def sql(self) -> dict[str, str]:
        if self._sql is None:
            self._sql = laravel_statements(self.db, self.table_name)
        return self._sql

    def _pgsql_pop_controlled(self, cache_table: str, pause_all: bool = False) -> str:
        sql = self._controlled_sql.get((cache_table, pause_all))
        if sql is None:
            sql = pop_controlled(self.db, self.table_name, cache_table, candidate_lock(self.db), pause_all)
            self._controlled_sql[(cache_table, pause_all)] = sql
        return sql

    def _one_trip_pop_sql(self, cache_table: str | None, pause_all: bool = False) -> OneTripPop:
        sql = self._one_trip_sql.get((cache_table, pause_all))
        if sql is None:
            sql = one_trip_pop(self.db, self.table_name, cache_table, self.sql["select_next"], pause_all)
            self._one_trip_sql[(cache_table, pause_all)] = sql
        return sql

    # -- push -----------------------------------------------------------------------------------
    def push_raw(self, payload: str, queue: str | None = None, *, delay: int = 0) -> int:
        """INSERT one row (attempts 0, reserved_at NULL); returns the new job id."""
        return self._insert(self.get_queue(queue), payload, delay, attempts=0)

    def _insert(self, queue: str, payload: str, delay: int, attempts: int) -> int:
        now = self.now()
        params = (queue, attempts, None, now + max(0, int(delay)), now, payload)
        return self.db.insert_get_id(self.sql["insert"], params)

    def push_raw_many(self, payloads: Sequence[str], queue: str | None = None, *, delay: int = 0) -> int:
        """Laravel's `bulk()`: multi-row INSERTs (columns sorted, as Laravel writes them) in one
        transaction; returns the number of rows stored."""
        queue = self.get_queue(queue)
        now = self.now()
        q = self.db.quote_identifier
        cols = ", ".join(q(c) for c in BULK_COLUMNS)
        # sorted order: attempts, available_at, created_at, payload, queue, reserved_at
        rows = [(0, now + max(0, int(delay)), now, payload, queue, None) for payload in payloads]
        with self.db.transaction():
            for start in range(0, len(rows), _BULK_CHUNK):
                chunk = rows[start : start + _BULK_CHUNK]
                values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
                params = [value for row in chunk for value in row]
                self.db.execute(f"insert into {self.db.table(self.table_name)} ({cols}) values {values}", params)
        return len(rows)

    # -- pop ------------------------------------------------------------------------------------
    def pop(self, queue: str | None = None, index: int = 0, *, ack: Job | None = None) -> DatabaseJob | None:
        """Reserve the oldest available (or expired-reserved) job of `queue`.

        `ack` (a finished DatabaseJob marked `delete_later()`) is deleted in the same
        transaction. If this raises, nothing was reserved and `ack` was NOT deleted:
        carry it to the next pop or `flush_acks`. A lost connection or deadlock is retried
        once on a fresh connection."""
        queue = self.get_queue(queue)
        ack_id = self._ack_id(ack)
        if ack_id is not None:
            with suppress(FastPathDeclined):
                if "pop_acked" in self.sql:
                    record = pop_acked_in_one_statement(self, queue, ack_id)
                    return None if record is None else DatabaseJob(self, record, queue)
                if pops_in_one_trip(self):
                    return cast("DatabaseJob | None", pop_in_one_trip(self, queue, ack_id, None, None).job)
        return self._reserve(queue, ack_id)

    reads_pause_all_key = True

    def control_keys(
        self,
        store: CacheStore,
        *,
        restart_key: str,
        paused_keys: Mapping[str, str],
        pause_all_key: str | None = None,
    ) -> DatabaseControlKeys | None:
        """Keys for `pop_with_control`: a database cache store on this very connection."""
        from laravel_queue.cache.database import DatabaseStore

        if not isinstance(store, DatabaseStore) or store.db is not self.db:
            return None
        restart = store.prefix + restart_key
        paused = {name: store.prefix + key for name, key in paused_keys.items()}
        pause_all = None if pause_all_key is None else store.prefix + pause_all_key
        extra = [] if pause_all is None else [pause_all]
        selects = {name: store.select_many([restart, key, *extra]) for name, key in paused.items()}
        return DatabaseControlKeys(store=store, restart=restart, paused=paused, selects=selects, pause_all=pause_all)

    def pop_with_control(
        self,
        queue: str | None,
        index: int = 0,
        *,
        ack: Job | None = None,
        control: Any,
        restart: Any,
    ) -> ControlledPop:
        """`pop` whose transaction first reads the restart and paused keys from the cache table
        (one more SELECT in the same round trip on MySQL). Restart not the expected stored
        value, or the queue paused: the selected row is left as it was (its lock ends with
        the COMMIT that applies the ack) and nothing is reserved."""
        queue = self.get_queue(queue)
        ack_id = self._ack_id(ack)
        with suppress(FastPathDeclined):
            if self.db.dialect == "pgsql":
                return pop_controlled_in_one_statement(self, queue, ack_id, control, restart)
            if pops_in_one_trip(self):
                return pop_in_one_trip(self, queue, ack_id, control, restart)
        select_sql, keys = control.selects[queue]
        seen: list[Any] = [restart, None]  # stored restart and paused values, as the pop read them

        def may_reserve(rows: list[Any]) -> bool:
            stored = control.store.stored_values(rows, keys, control.store.now())
            seen[:] = [stored[0], next((value for value in stored[1:] if value is not None), None)]
            return seen[0] == restart and seen[1] is None

        job = self._reserve(queue, ack_id, before=(select_sql, keys, "all"), may_reserve=may_reserve)
        return controlled_pop(job, restart, *seen)

    def _reserve(
        self,
        queue: str,
        ack_id: int | None,
        *,
        before: Statement | None = None,
        may_reserve: Callable[[Any], bool] | None = None,
    ) -> DatabaseJob | None:
        """Laravel's pop transaction (locked SELECT, UPDATE attempts/reserved_at), with the
        ack's DELETE and an optional `before` statement in front of the SELECT, all in one
        round trip on MySQL; `may_reserve(result of before)` False reserves nothing."""
        selected: list[dict[str, Any]] = []

        def reserve() -> dict[str, Any] | None:
            selected.clear()
            now = self.now()
            statements: list[Statement] = []
            if ack_id is not None:
                statements.append((self.sql["delete"], (ack_id,), "rowcount"))
            if before is not None:
                statements.append(before)
            statements.append((self.sql["select_next"], (queue, now, now - self.retry_after), "one"))
            results = self.db.batch(statements)
            record: dict[str, Any] | None = results[-1]
            if may_reserve is not None and not may_reserve(results[-2]):
                return None
            if record is None:
                return None
            record["attempts"] = int(record["attempts"]) + 1
            record["reserved_at"] = now
            selected.append(record)
            # sent with the COMMIT: one round trip less per job on MySQL and PostgreSQL
            self.db.execute_deferred(self.sql["reserve"], (now, record["attempts"], record["id"]))
            return record

        try:
            record = self.db.run_transaction(reserve)
        except (LostConnectionError, ConcurrencyError):
            raise
        except DatabaseError as exc:
            if selected:  # Laravel 12.54+: a row that cannot be reserved is failed, not retried forever
                job = DatabaseJob(self, selected[-1], queue)
                raise UnreservableJobError(f"job {job.job_id} cannot be reserved: {exc}", job) from exc
            raise
        return None if record is None else DatabaseJob(self, record, queue)

    def _ack_id(self, ack: Job | None) -> int | None:
        if ack is None:
            return None
        if not isinstance(ack, DatabaseJob) or ack._driver.db is not self.db:
            raise ValueError(f"ack must be a DatabaseJob of connection [{self.connection_name}], got {ack!r}")
        return ack.job_id

    def flush_acks(self, jobs: list[Job]) -> None:
        """Delete finished jobs that no pop carried, in one transaction."""
        ids = [job_id for job_id in (self._ack_id(job) for job in jobs) if job_id is not None]
        if not ids:
            return

        def delete_all() -> None:
            for job_id in ids:
                self.db.execute(self.sql["delete"], (job_id,))

        self.db.run_transaction(delete_all)

    # -- delete / release ---------------------------------------------------------------------
    def delete_reserved(self, queue: str, job_id: int) -> None:
        """Laravel's deleteReserved: locked existence check, then DELETE, in one transaction."""

        def delete() -> None:
            if self.db.fetch_one(self.sql["find_locked"], (job_id,)) is not None:
                self.db.execute(self.sql["delete"], (job_id,))

        self.db.run_transaction(delete)

    def delete_and_release(self, queue: str, job: DatabaseJob, delay: int) -> int:
        """Laravel's deleteAndRelease: delete the reserved row and INSERT it anew (new id,
        created_at now, attempts kept, available after `delay`). Returns the new id."""

        def release() -> int:
            if self.db.fetch_one(self.sql["find_locked"], (job.job_id,)) is not None:
                self.db.execute(self.sql["delete"], (job.job_id,))
            return self._insert(queue, job.raw_body, delay, attempts=job.attempts())

        return self.db.run_transaction(release)

    def give_back(self, job: DatabaseJob) -> None:
        """Not Laravel's: clear the reservation and undo its attempt, so a PHP worker takes the row
        as it was before this worker reserved it (same id, same place in the queue)."""
        table = self.db.table(self.table_name)
        self.db.execute(
            f"UPDATE {table} SET reserved_at = NULL, attempts = ? WHERE id = ?",
            (max(job.attempts() - 1, 0), job.job_id),
        )

    # -- sizes ------------------------------------------------------------------------------------
    def size(self, queue: str | None = None) -> int:
        return int(self.db.fetch_value(self.sql["size"], (self.get_queue(queue),)) or 0)

    def pending_size(self, queue: str | None = None) -> int:
        return int(self.db.fetch_value(self.sql["pending"], (self.get_queue(queue), self.now())) or 0)

    def delayed_size(self, queue: str | None = None) -> int:
        return int(self.db.fetch_value(self.sql["delayed"], (self.get_queue(queue), self.now())) or 0)

    def reserved_size(self, queue: str | None = None) -> int:
        return int(self.db.fetch_value(self.sql["reserved"], (self.get_queue(queue),)) or 0)

    def creation_time_of_oldest_pending_job(self, queue: str | None = None) -> int | None:
        value = self.db.fetch_value(self.sql["oldest"], (self.get_queue(queue), self.now()))
        return None if value is None else int(value)

    def clear(self, queue: str | None = None) -> int:
        return self.db.execute(self.sql["clear"], (self.get_queue(queue),))

    # -- waiting for a push ---------------------------------------------------------------------
    def push_wait(self) -> PushWait | None:
        """PostgreSQL with `migrate --notify`'s trigger on the table: LISTEN while idle
        (drivers/database/notify.py). None (sleep `--sleep` as Laravel does) without it, and on
        MySQL/MariaDB and SQLite. The trigger is looked up once per driver."""
        if self.db.dialect != "pgsql":
            return None
        if self._push_wait is _NOT_ASKED:
            try:
                self._push_wait = notify_wait_for(self)
            except DatabaseError as exc:  # ask again at the next idle; the pop reports the outage
                log.debug("cannot tell whether the jobs table notifies: %s", exc)
                return None
        return cast("PostgresNotifyWait | None", self._push_wait)

    def close(self) -> None:
        """Ends the LISTEN session, if any; the Database is shared through Connections, which closes it."""
        if isinstance(self._push_wait, PostgresNotifyWait):
            self._push_wait.close()
        self._push_wait = _NOT_ASKED
