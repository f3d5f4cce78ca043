"""PostgreSQL: an INSERT into the jobs table wakes idle workers (opt-in, `migrate --notify`).

Laravel's database worker polls: an idle worker finds a new job up to `--sleep` seconds
after the push. `migrate --notify` installs an AFTER INSERT trigger on the jobs table that
runs `pg_notify(<channel>, <queue name>)` for each row, whoever inserts it (this package,
PHP's `dispatch()`, a raw INSERT). A worker whose connection sees that trigger LISTENs on
the channel while idle, so a push ends its wait at once; without the trigger it sleeps as
Laravel's does. The wait is never longer than `--sleep` (jobs that become due, expired
reservations and paused queues are found as before), and it is cut in slices so a stop
signal ends it within `SLICE_SECONDS`.

Per row, not per statement: a one-row push (the usual case) costs one function call either
way, and PostgreSQL delivers one notification per channel and payload per transaction, so
a bulk insert of one queue still wakes the workers once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from laravel_queue.db import Database, DatabaseError
from laravel_queue.db.pgsql import PostgresEngine, PostgresListener
from laravel_queue.drivers.wake import SLICE_SECONDS

if TYPE_CHECKING:
    from laravel_queue.drivers.database.queue import DatabaseQueue

log = logging.getLogger("laravel_queue.worker")

TRIGGER_NAME = "laravel_queue_notify_workers"
CHANNEL_PREFIX = "laravel_queue:"
_LONGEST_CHANNEL = 63  # NAMEDATALEN - 1: pg_notify() refuses a longer channel name


def prefixed_table(db: Database, table: str) -> str:
    """The table's name as PostgreSQL stores it: the connection's prefix on the last part."""
    schema, _, bare = table.rpartition(".")
    return f"{schema}.{db.prefix}{bare}" if schema else f"{db.prefix}{table}"


def channel_for(db: Database, table: str) -> str:
    """The LISTEN channel of one jobs table: `laravel_queue:<table>` (hashed when too long)."""
    name = prefixed_table(db, table)
    channel = CHANNEL_PREFIX + name
    if len(channel.encode()) > _LONGEST_CHANNEL:
        channel = CHANNEL_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:32]
    return channel


def _function(db: Database, table: str) -> str:
    return f"{db.table(table + '_notify_workers')}()"


def install_statements(db: Database, table: str) -> list[str]:
    """The trigger, idempotent: the function replaced, the trigger dropped and created again."""
    t, q = db.table(table), db.quote_identifier
    return [
        f"create or replace function {_function(db, table)} returns trigger language plpgsql as $$\n"
        f"begin\n"
        f"  perform pg_notify('{channel_for(db, table)}', new.{q('queue')});\n"
        f"  return null;\n"
        f"end\n"
        f"$$",
        f"drop trigger if exists {q(TRIGGER_NAME)} on {t}",
        f"create trigger {q(TRIGGER_NAME)} after insert on {t}"
        f" for each row execute function {_function(db, table)}",
    ]


def drop_statements(db: Database, table: str) -> list[str]:
    return [
        f"drop trigger if exists {db.quote_identifier(TRIGGER_NAME)} on {db.table(table)}",
        f"drop function if exists {_function(db, table)}",
    ]


def install_trigger(db: Database, table: str) -> None:
    with db.transaction():  # the trigger is replaced atomically: no insert goes unnoticed
        for sql in install_statements(db, table):
            db.execute(sql)


def drop_trigger(db: Database, table: str) -> None:
    with db.transaction():
        for sql in drop_statements(db, table):
            db.execute(sql)


def trigger_installed(db: Database, table: str) -> bool:
    """Whether the table has the (enabled) trigger; False when the table does not exist."""
    sql = "select 1 from pg_trigger where tgrelid = to_regclass(?) and tgname = ? and tgenabled <> 'D'"
    return db.fetch_one(sql, (db.table(table), TRIGGER_NAME)) is not None


class PostgresNotifyWait:
    """LISTEN on the table's channel until a push to one of the queues, the deadline or a stop."""

    def __init__(self, driver: DatabaseQueue) -> None:
        db = driver.db
        self.driver = driver
        self.channel = channel_for(db, driver.table_name)
        self.listener = PostgresListener(PostgresEngine(db.cfg))
        q = db.quote_identifier
        self._waiting_job_sql = (
            f"select {q('id')} from {db.table(driver.table_name)} where {q('queue')} = any(?)"
            f" and (({q('reserved_at')} is null and {q('available_at')} <= ?) or {q('reserved_at')} <= ?)"
            f" order by {q('id')} asc limit 1"
        )
        self._last_found: object = None
        self._failing = False

    def __call__(self, queues: Sequence[str], seconds: float, stop: Callable[[], bool]) -> bool:
        """True when a push woke the wait; False after `seconds` or a stop."""
        deadline = time.monotonic() + seconds
        if not queues:
            time.sleep(min(seconds, SLICE_SECONDS))
            return False
        try:
            return self._listen(queues, deadline, stop)
        except DatabaseError as exc:  # the pop will report the outage; here, sleep as Laravel's worker
            if not self._failing:
                log.warning("cannot LISTEN for pushes, sleeping instead: %s", exc)
            self._failing = True
            _sleep_until(deadline, stop)
            return False

    def _listen(self, queues: Sequence[str], deadline: float, stop: Callable[[], bool]) -> bool:
        now = self.driver.now()
        params = (list(queues), now, now - self.driver.retry_after)
        found = self.listener.listen(self.channel, self._waiting_job_sql, params)
        self._failing = False
        try:
            # A job pushed after the worker's empty pop but before the LISTEN sent no notification
            # here: pop again. Not for the same row twice in a row: one the pop cannot take (locked
            # by another worker's reservation) would make that a busy loop.
            seen_before, self._last_found = self._last_found, found
            if found is not None and found != seen_before:
                return True
            while not stop():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if any(payload in queues for payload in self.listener.wait(min(remaining, SLICE_SECONDS))):
                    return True
            return False
        finally:
            self.listener.unlisten()

    def close(self) -> None:
        self.listener.close()


def notify_wait_for(driver: DatabaseQueue) -> PostgresNotifyWait | None:
    """The LISTEN wait when the driver's table has the trigger (asked once per driver)."""
    if driver.db.dialect != "pgsql" or not trigger_installed(driver.db, driver.table_name):
        return None
    if not PostgresListener.supported():
        log.warning("the jobs table notifies, but psycopg < 3.2 cannot wait for it: sleeping --sleep instead")
        return None
    return PostgresNotifyWait(driver)


def _sleep_until(deadline: float, stop: Callable[[], bool]) -> None:
    while not stop():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(remaining, SLICE_SECONDS))
