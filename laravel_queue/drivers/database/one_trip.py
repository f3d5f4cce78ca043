"""The one-round-trip pops (PostgreSQL's CTE, MySQL/MariaDB's one packet or block) and the
restart/pause read that rides in them; `DatabaseQueue` falls back to Laravel's protocol
(`FastPathDeclined`) whenever one of them cannot say what went wrong."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from laravel_queue.db import ConcurrencyError, DatabaseError, LostConnectionError, Statement
from laravel_queue.drivers.base import ControlledPop
from laravel_queue.drivers.database.job import DatabaseJob
from laravel_queue.errors import InternalError

if TYPE_CHECKING:
    from laravel_queue.cache.database import DatabaseStore
    from laravel_queue.drivers.database.queue import DatabaseQueue


class FastPathDeclined(InternalError):
    """The one-round-trip pop failed without changing anything; use Laravel's protocol."""


@dataclass(frozen=True)
class DatabaseControlKeys:
    """The worker's restart and pause keys (prefixed) in a database cache store that lives on
    the queue's connection; values are the store's `value` column text."""

    store: DatabaseStore
    restart: str
    paused: Mapping[str, str]  # queue name -> its prefixed paused key
    selects: Mapping[str, tuple[str, list[str]]]  # queue name -> the store's SELECT of the keys
    pause_all: str | None = None  # Laravel 13's prefixed global paused key, read after the queue's

    def encode(self, value: Any) -> Any:
        return self.store.serialize(value)

    def decode(self, raw: Any) -> Any:
        return None if raw is None else self.store.unserialize(raw)


def pop_acked_in_one_statement(driver: DatabaseQueue, queue: str, ack_id: int) -> dict[str, Any] | None:
    """PostgreSQL: one round trip, one commit. An error other than a lost connection (e.g.
    attempts overflowing SMALLINT) changed nothing, as the statement is atomic: raise
    FastPathDeclined so Laravel's protocol runs and names the unreservable job."""
    now = driver.now()
    params = (ack_id, queue, now, now - driver.retry_after, ack_id, now)
    with declined_on_error(LostConnectionError):  # already reconnected and retried once by Database
        row = driver.db.execute_returning(driver.sql["pop_acked"], params)
    return row


def pop_controlled_in_one_statement(
    driver: DatabaseQueue, queue: str, ack_id: int | None, control: DatabaseControlKeys, restart: Any
) -> ControlledPop:
    """PostgreSQL: ack, restart/pause read and reservation in one autocommit statement
    (one round trip, one transaction). Errors as `pop_acked_in_one_statement`."""
    now = driver.now()
    params = (
        ack_id,
        control.restart, now,
        control.paused[queue], now,
        *(() if control.pause_all is None else (control.pause_all, now)),
        queue, now, now - driver.retry_after, ack_id,
        now, restart,
    )
    sql = driver._pgsql_pop_controlled(control.store.table_name, control.pause_all is not None)
    with declined_on_error(LostConnectionError):
        row = driver.db.execute_returning(sql, params)
    assert row is not None  # the statement always returns the control row
    return controlled_pop_of_row(driver, row, queue, restart)


def pops_in_one_trip(driver: DatabaseQueue) -> bool:
    """MySQL/MariaDB outside a caller's transaction (the pop must end with its own COMMIT)."""
    return driver.db.dialect == "mysql" and not driver.db.in_transaction


def pop_in_one_trip(
    driver: DatabaseQueue, queue: str, ack_id: int | None, control: DatabaseControlKeys | None, restart: Any
) -> ControlledPop:
    """MySQL/MariaDB: `DatabaseQueue._reserve`'s transaction (ack DELETE, restart/pause read,
    Laravel's locked SELECT, UPDATE) and its COMMIT in one round trip: on MariaDB one compound
    statement, on MySQL the statements in one packet. Errors as
    `pop_acked_in_one_statement`: the transaction rolled back, nothing changed."""
    db = driver.db
    now = driver.now()
    sql = driver._one_trip_pop_sql(
        None if control is None else control.store.table_name, control is not None and control.pause_all is not None
    )
    keys: tuple[Any, ...] = () if control is None else (control.restart, now, control.paused[queue], now)
    if control is not None and control.pause_all is not None:
        keys += (control.pause_all, now)
    statements: list[Statement] = [(driver.sql["delete"], (ack_id,), "rowcount")] if ack_id is not None else []
    in_block = db.runs_compound_statements  # MariaDB: the whole transaction as one statement
    statements += [
        (sql.read_control, keys, "rowcount"),
        (sql.select_next, (queue, now, now - driver.retry_after), "rowcount"),
        (sql.reserve, (now, restart), "rowcount"),
        (sql.reserved_in_block if in_block else sql.reserved, (restart,), "one"),
    ]
    with declined_on_error(LostConnectionError, ConcurrencyError):  # both were retried once already
        row = db.commit_in_block(statements) if in_block else db.run_transaction(lambda: db.commit_with(statements))[-1]
    assert row is not None  # the last SELECT always returns the control row
    return controlled_pop_of_row(driver, row, queue, restart)


def controlled_pop_of_row(driver: DatabaseQueue, row: dict[str, Any], queue: str, restart: Any) -> ControlledPop:
    """The one-round-trip pops' result row: the stored restart and paused values, then the
    reserved job's columns (all NULL when nothing was reserved)."""
    stored_restart, stored_paused = row.pop("lq_restart"), row.pop("lq_paused")
    job = DatabaseJob(driver, row, queue) if row.get("id") is not None else None
    return controlled_pop(job, restart, stored_restart, stored_paused)


@contextmanager
def declined_on_error(*passed_on: type[DatabaseError]) -> Iterator[None]:
    """Around a one-round-trip pop: the `passed_on` kinds propagate; any other DatabaseError
    left the table unchanged (one statement, or a transaction rolled back), so it becomes
    FastPathDeclined and Laravel's protocol runs instead and names what went wrong."""
    try:
        yield
    except passed_on:
        raise
    except DatabaseError as exc:
        raise FastPathDeclined from exc


def controlled_pop(job: DatabaseJob | None, restart: Any, stored_restart: Any, stored_paused: Any) -> ControlledPop:
    """The `pop_with_control` result from what the pop read: a job, or why none was reserved."""
    if job is not None:
        return ControlledPop(job, restart, None, None)
    if stored_restart != restart:
        return ControlledPop(None, stored_restart, stored_paused, "restart")
    if stored_paused is not None:
        return ControlledPop(None, stored_restart, stored_paused, "paused")
    return ControlledPop(None, restart, None, None)
