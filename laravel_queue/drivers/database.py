"""The `database` queue driver: Laravel's DatabaseQueue, statement for statement.

Rows, columns and SQL text are Laravel's (see laravel-compat.md §6), so PHP and Python
workers can share one `jobs` table. One deliberate addition: `pop(..., ack=job)` deletes
the previous finished job inside the same transaction as the next reservation, so a
busy worker pays one commit per job instead of Laravel's two. What is stored is the same.
On PostgreSQL that pop is one statement (a CTE: DELETE ack, SELECT ... FOR UPDATE SKIP
LOCKED, UPDATE ... RETURNING) in one round trip. On MySQL it is one packet: the locked
SELECT keeps the chosen id in a session variable for the UPDATE, and the COMMIT rides
along; on MariaDB the same statements travel as one `BEGIN NOT ATOMIC` block. A pop
without ack keeps Laravel's text. With the default database cache store on the queue's own
connection, `pop_with_control` also reads the worker's restart and pause keys in the
reservation (SQLite: Laravel's `many()` SELECT inside the transaction; MySQL and
PostgreSQL: inside the one pop round trip, where the server itself declines to reserve
when they say so), instead of the worker's separate cache query per job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from laravel_queue.db import ConcurrencyError, Database, DatabaseError, LostConnectionError, Statement
from laravel_queue.drivers.base import ControlledPop, Queue
from laravel_queue.job import Job

if TYPE_CHECKING:
    from laravel_queue.cache.base import CacheStore
    from laravel_queue.cache.database import DatabaseStore
    from laravel_queue.config.settings import QueueConnectionConfig
    from laravel_queue.connections import Connections

_COLUMNS = ("queue", "attempts", "reserved_at", "available_at", "created_at", "payload")
_BULK_COLUMNS = tuple(sorted(_COLUMNS))  # Laravel sorts columns of a multi-row insert
_BULK_CHUNK = 500


class UnreservableJobError(DatabaseError):
    """The selected row could not be marked reserved (e.g. `attempts` overflowing TINYINT).

    Laravel 12.54+ fails such a job instead of leaving it to block the queue: `job` is the
    handle to pass through the worker's failure path. The transaction (and any `ack`) was
    rolled back."""

    def __init__(self, message: str, job: DatabaseJob) -> None:
        super().__init__(message)
        self.job = job


class FastPathDeclined(Exception):
    """The one-round-trip pop failed without changing anything; use Laravel's protocol."""


@dataclass(frozen=True)
class DatabaseControlKeys:
    """The worker's restart and pause keys (prefixed) in a database cache store that lives on
    the queue's connection; values are the store's `value` column text."""

    store: DatabaseStore
    restart: str
    paused: Mapping[str, str]  # queue name -> its prefixed paused key
    selects: Mapping[str, tuple[str, list[str]]]  # queue name -> the store's SELECT of both keys

    def encode(self, value: Any) -> Any:
        return self.store.serialize(value)

    def decode(self, raw: Any) -> Any:
        return None if raw is None else self.store.unserialize(raw)


@dataclass(frozen=True)
class _OneTripPop:
    """The MySQL/MariaDB one-round-trip pop, statement by statement (`_one_trip_pop_sql`)."""

    read_control: str
    select_next: str
    reserve: str
    reserved: str
    reserved_in_block: str


class DatabaseJob(Job):
    """A reserved `jobs` row: id, attempts after the reservation increment, raw payload."""

    def __init__(self, queue_driver: DatabaseQueue, record: dict[str, Any], queue: str) -> None:
        super().__init__(raw_body=str(record["payload"]), queue=queue, connection_name=queue_driver.connection_name)
        self.record = record
        self._driver = queue_driver

    def shed_body(self, *, acknowledged: bool = False) -> None:
        super().shed_body(acknowledged=acknowledged)
        self.record["payload"] = ""  # the row's copy; id and attempts stay for the delete

    def attempts(self) -> int:
        return int(self.record["attempts"])

    @property
    def job_id(self) -> int:
        return int(self.record["id"])

    def _delete_from_backend(self) -> None:
        self._driver.delete_reserved(self.queue, self.job_id)

    def _release_to_backend(self, delay: int) -> None:
        self._driver.delete_and_release(self.queue, self, delay)

    def give_back(self) -> None:
        """Un-reserve the row as it was, attempt not consumed (`--unknown=release`)."""
        self._released = True
        self._driver.give_back(self)


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
        self._controlled_sql: dict[str, str] = {}  # PostgreSQL controlled pop, per cache table
        self._one_trip_sql: dict[str | None, _OneTripPop] = {}  # MySQL pop, per cache table (None: no control)

    @classmethod
    def from_config(cls, connections: Connections, cfg: QueueConnectionConfig) -> DatabaseQueue:
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
            self._sql = self._build_sql()
        return self._sql

    def _build_sql(self) -> dict[str, str]:
        db = self.db
        t = db.table(self.table_name)
        q = db.quote_identifier
        cols = ", ".join(q(c) for c in _COLUMNS)
        row_lock = "" if db.dialect == "sqlite" else " for update"
        pop_lock = self._pop_lock()
        queue = f"{q('queue')} = ?"
        pending = f"{queue} and {q('reserved_at')} is null and {q('available_at')} <= ?"
        return {
            "insert": f"insert into {t} ({cols}) values (?, ?, ?, ?, ?, ?)",
            "select_next": (
                f"select * from {t} where {queue} and (({q('reserved_at')} is null and {q('available_at')} <= ?)"
                f" or ({q('reserved_at')} <= ?)) order by {q('id')} asc limit 1{pop_lock}"
            ),
            "reserve": f"update {t} set {q('reserved_at')} = ?, {q('attempts')} = ? where {q('id')} = ?",
            "find_locked": f"select * from {t} where {q('id')} = ? limit 1{row_lock}",
            "delete": f"delete from {t} where {q('id')} = ?",
            "size": f"select count(*) as aggregate from {t} where {queue}",
            "pending": f"select count(*) as aggregate from {t} where {pending}",
            "delayed": (
                f"select count(*) as aggregate from {t} where {queue} and {q('reserved_at')} is null"
                f" and {q('available_at')} > ?"
            ),
            "reserved": f"select count(*) as aggregate from {t} where {queue} and {q('reserved_at')} is not null",
            "oldest": f"select {q('available_at')} from {t} where {pending} order by {q('available_at')} asc limit 1",
            "clear": f"delete from {t} where {queue}",
            **(self._pgsql_pop_acked(pop_lock) if db.dialect == "pgsql" else {}),
        }

    def _pgsql_pop_acked(self, pop_lock: str) -> dict[str, str]:
        """PostgreSQL: Laravel's ack DELETE + locked SELECT + UPDATE as ONE autocommit statement.

        Same rows touched, same values written (attempts = old + 1, reserved_at = now), one
        round trip. The candidate SELECT excludes the ack id so no row is touched twice. The
        UPDATE finds its row through a scalar subquery, an index lookup whatever the planner
        believes: joined to the candidate instead, a table whose statistics were taken while it
        was empty (a jobs table's usual state) is scanned whole on every pop."""
        db = self.db
        t = db.table(self.table_name)
        q = db.quote_identifier
        due = (
            f"{q('queue')} = ? and (({q('reserved_at')} is null and {q('available_at')} <= ?)"
            f" or ({q('reserved_at')} <= ?)) and {q('id')} <> ?"
        )
        return {
            "pop_acked": (
                f"with {q('acked')} as (delete from {t} where {q('id')} = ?),"
                f" {q('candidate')} as (select {q('id')} from {t} where {due}"
                f" order by {q('id')} asc limit 1{pop_lock})"
                f" update {t} as {q('reserving')} set {q('reserved_at')} = ?,"
                f" {q('attempts')} = {q('reserving')}.{q('attempts')} + 1"
                f" where {q('reserving')}.{q('id')} = (select {q('id')} from {q('candidate')})"
                f" returning {q('reserving')}.*"
            ),
        }

    def _pop_lock(self) -> str:
        """Laravel's lock clause for the candidate SELECT: SKIP LOCKED where the server has it."""
        if self.db.supports_skip_locked():
            return " FOR UPDATE SKIP LOCKED"
        return "" if self.db.dialect == "sqlite" else " for update"

    def _pgsql_pop_controlled(self, cache_table: str) -> str:
        """PostgreSQL: `_pgsql_pop_acked` plus the worker's restart/pause read, as ONE statement.

        Reads the live (unexpired) restart and paused values of the cache table, and reserves
        only when the restart value is the expected one and the queue is not paused; returns
        one row: the two stored values, then the reserved job's columns (NULL when none). The
        ack id may be NULL (first pop)."""
        sql = self._controlled_sql.get(cache_table)
        if sql is not None:
            return sql
        db = self.db
        t, cache = db.table(self.table_name), db.table(cache_table)
        q = db.quote_identifier
        live = f"{q('key')} = ? and {q('expiration')} > ?"
        sql = (
            f"with {q('acked')} as (delete from {t} where {q('id')} = ?::bigint),"
            f" {q('control')} as (select"
            f" (select {q('value')} from {cache} where {live}) as {q('lq_restart')},"
            f" (select {q('value')} from {cache} where {live}) as {q('lq_paused')}),"
            f" {q('candidate')} as (select {q('id')} from {t} where {q('queue')} = ?"
            f" and (({q('reserved_at')} is null and {q('available_at')} <= ?) or ({q('reserved_at')} <= ?))"
            f" and {q('id')} is distinct from ?::bigint"
            f" order by {q('id')} asc limit 1{self._pop_lock()}),"
            f" {q('reserved')} as (update {t} as {q('reserving')} set {q('reserved_at')} = ?,"
            f" {q('attempts')} = {q('reserving')}.{q('attempts')} + 1"
            f" from {q('control')}"
            f" where {q('reserving')}.{q('id')} = (select {q('id')} from {q('candidate')})"
            f" and {q('control')}.{q('lq_paused')} is null"
            f" and {q('control')}.{q('lq_restart')} is not distinct from ?::text"
            f" returning {q('reserving')}.*)"
            f" select {q('control')}.{q('lq_restart')}, {q('control')}.{q('lq_paused')}, {q('reserved')}.*"
            f" from {q('control')} left join {q('reserved')} on true"
        )
        self._controlled_sql[cache_table] = sql
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
        cols = ", ".join(q(c) for c in _BULK_COLUMNS)
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
                    record = self._pop_acked_in_one_statement(queue, ack_id)
                    return None if record is None else DatabaseJob(self, record, queue)
                if self._pops_in_one_trip():
                    return self._pop_in_one_trip(queue, ack_id, None, None).job
        return self._reserve(queue, ack_id)

    def control_keys(
        self, store: CacheStore, *, restart_key: str, paused_keys: Mapping[str, str]
    ) -> DatabaseControlKeys | None:
        """Keys for `pop_with_control`: a database cache store on this very connection."""
        from laravel_queue.cache.database import DatabaseStore

        if not isinstance(store, DatabaseStore) or store.db is not self.db:
            return None
        restart = store.prefix + restart_key
        paused = {name: store.prefix + key for name, key in paused_keys.items()}
        selects = {name: store.select_many([restart, key]) for name, key in paused.items()}
        return DatabaseControlKeys(store=store, restart=restart, paused=paused, selects=selects)

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
                return self._pop_controlled_in_one_statement(queue, ack_id, control, restart)
            if self._pops_in_one_trip():
                return self._pop_in_one_trip(queue, ack_id, control, restart)
        select_sql, keys = control.selects[queue]
        seen: list[Any] = [restart, None]  # stored restart and paused values, as the pop read them

        def may_reserve(rows: list[Any]) -> bool:
            seen[:] = control.store.stored_values(rows, keys, control.store.now())
            return seen[0] == restart and seen[1] is None

        job = self._reserve(queue, ack_id, before=(select_sql, keys, "all"), may_reserve=may_reserve)
        return _controlled_pop(job, restart, *seen)

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
            record = results[-1]
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

    def _pop_acked_in_one_statement(self, queue: str, ack_id: int) -> dict[str, Any] | None:
        """One round trip, one commit. An error other than a lost connection (e.g. attempts
        overflowing SMALLINT) changed nothing, as the statement is atomic: raise
        FastPathDeclined so Laravel's protocol runs and names the unreservable job."""
        now = self.now()
        params = (ack_id, queue, now, now - self.retry_after, ack_id, now)
        with _declined_on_error(LostConnectionError):  # already reconnected and retried once by Database
            row = self.db.execute_returning(self.sql["pop_acked"], params)
        return row

    def _pop_controlled_in_one_statement(
        self, queue: str, ack_id: int | None, control: DatabaseControlKeys, restart: Any
    ) -> ControlledPop:
        """PostgreSQL: ack, restart/pause read and reservation in one autocommit statement
        (one round trip, one transaction). Errors as `_pop_acked_in_one_statement`."""
        now = self.now()
        params = (
            ack_id,
            control.restart, now,
            control.paused[queue], now,
            queue, now, now - self.retry_after, ack_id,
            now, restart,
        )
        with _declined_on_error(LostConnectionError):
            row = self.db.execute_returning(self._pgsql_pop_controlled(control.store.table_name), params)
        assert row is not None  # the statement always returns the control row
        return self._controlled_pop_of_row(row, queue, restart)

    def _pops_in_one_trip(self) -> bool:
        """MySQL/MariaDB outside a caller's transaction (the pop must end with its own COMMIT)."""
        return self.db.dialect == "mysql" and not self.db.in_transaction

    def _pop_in_one_trip(
        self, queue: str, ack_id: int | None, control: DatabaseControlKeys | None, restart: Any
    ) -> ControlledPop:
        """MySQL/MariaDB: `_reserve`'s transaction (ack DELETE, restart/pause read, Laravel's
        locked SELECT, UPDATE) and its COMMIT in one round trip: on MariaDB one compound
        statement, on MySQL the statements in one packet. Errors as
        `_pop_acked_in_one_statement`: the transaction rolled back, nothing changed."""
        now = self.now()
        sql = self._one_trip_pop_sql(None if control is None else control.store.table_name)
        keys = () if control is None else (control.restart, now, control.paused[queue], now)
        statements: list[Statement] = [(self.sql["delete"], (ack_id,), "rowcount")] if ack_id is not None else []
        in_block = self.db.runs_compound_statements  # MariaDB: the whole transaction as one statement
        statements += [
            (sql.read_control, keys, "rowcount"),
            (sql.select_next, (queue, now, now - self.retry_after), "rowcount"),
            (sql.reserve, (now, restart), "rowcount"),
            (sql.reserved_in_block if in_block else sql.reserved, (restart,), "one"),
        ]
        with _declined_on_error(LostConnectionError, ConcurrencyError):  # both were retried once already
            if in_block:
                row = self.db.commit_in_block(statements)
            else:
                row = self.db.run_transaction(lambda: self.db.commit_with(statements))[-1]
        assert row is not None  # the last SELECT always returns the control row
        return self._controlled_pop_of_row(row, queue, restart)

    def _controlled_pop_of_row(self, row: dict[str, Any], queue: str, restart: Any) -> ControlledPop:
        """The one-round-trip pops' result row: the stored restart and paused values, then the
        reserved job's columns (all NULL when nothing was reserved)."""
        stored_restart, stored_paused = row.pop("lq_restart"), row.pop("lq_paused")
        job = DatabaseJob(self, row, queue) if row.get("id") is not None else None
        return _controlled_pop(job, restart, stored_restart, stored_paused)

    def _one_trip_pop_sql(self, cache_table: str | None) -> _OneTripPop:
        """The statements of `_pop_in_one_trip`. Session variables carry what the client would:
        `@lq_job`, the id the locked SELECT chose (reset first: a SELECT ... INTO that finds no
        row leaves it as it was), and the live restart and paused values. These are read with
        SELECT ... INTO, a consistent read like Laravel's `many()`: `SET @v = (subquery)` would
        take shared locks on the cache rows. The UPDATE reserves only when the restart value is
        the expected one and the queue is not paused; the last SELECT returns both values and
        the reserved row (NULL columns when none). Inside MariaDB's block an IF picks that last
        SELECT instead of a join to a derived table: 4-5% less server CPU per pop here."""
        sql = self._one_trip_sql.get(cache_table)
        if sql is not None:
            return sql
        db = self.db
        t, q = db.table(self.table_name), db.quote_identifier
        if cache_table is None:
            read_control = "select null, null, null into @lq_job, @lq_restart, @lq_paused"
        else:
            live = f"select {q('value')} from {db.table(cache_table)} where {q('key')} = ? and {q('expiration')} > ?"
            read_control = f"select null, ({live}), ({live}) into @lq_job, @lq_restart, @lq_paused"
        allowed = "@lq_paused is null and @lq_restart <=> ?"
        control_columns = f"@lq_restart as {q('lq_restart')}, @lq_paused as {q('lq_paused')}"
        sql = _OneTripPop(
            read_control=read_control,
            select_next=self.sql["select_next"].replace("select * ", f"select {q('id')} into @lq_job ", 1),
            reserve=(
                f"update {t} set {q('reserved_at')} = ?, {q('attempts')} = {q('attempts')} + 1"
                f" where {q('id')} = @lq_job and {allowed}"
            ),
            reserved=(
                f"select {control_columns}, {q('reserved')}.*"
                f" from (select 1) as {q('control')} left join {t} as {q('reserved')}"
                f" on {q('reserved')}.{q('id')} = @lq_job and {allowed}"
            ),
            reserved_in_block=(
                f"IF @lq_job is not null and {allowed} THEN"
                f" select {control_columns}, {q('reserved')}.* from {t} as {q('reserved')}"
                f" where {q('reserved')}.{q('id')} = @lq_job;"
                f" ELSE select {control_columns}; END IF"
            ),
        )
        self._one_trip_sql[cache_table] = sql
        return sql

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

    def close(self) -> None:
        """The Database is shared through Connections, which closes it."""


@contextmanager
def _declined_on_error(*passed_on: type[DatabaseError]) -> Iterator[None]:
    """Around a one-round-trip pop: the `passed_on` kinds propagate; any other DatabaseError
    left the table unchanged (one statement, or a transaction rolled back), so it becomes
    FastPathDeclined and Laravel's protocol runs instead and names what went wrong."""
    try:
        yield
    except passed_on:
        raise
    except DatabaseError as exc:
        raise FastPathDeclined from exc


def _controlled_pop(job: DatabaseJob | None, restart: Any, stored_restart: Any, stored_paused: Any) -> ControlledPop:
    """The `pop_with_control` result from what the pop read: a job, or why none was reserved."""
    if job is not None:
        return ControlledPop(job, restart, None, None)
    if stored_restart != restart:
        return ControlledPop(None, stored_restart, stored_paused, "restart")
    if stored_paused is not None:
        return ControlledPop(None, stored_restart, stored_paused, "paused")
    return ControlledPop(None, restart, None, None)
