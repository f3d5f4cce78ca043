"""How few round trips, and how little server time, can the MariaDB pop take? Pop by pop, interleaved.

Until 2026-12-01 the worker's pop on MySQL/MariaDB sent two packets per job: [BEGIN; DELETE
ack; SELECT the restart and pause keys; Laravel's locked SELECT] and then [UPDATE; COMMIT],
because the UPDATE needs the id the SELECT found. The same transaction fits in one packet only
if the server carries that id (and the restart/pause decision) itself, in user variables:

* `two_packets`: the two packets, as `DatabaseQueue.pop_with_control` sent them then.
* `into`: one packet. `SELECT ... INTO` variables for the restart and pause values (a
  consistent read: a `SET @v = (subquery)` would take shared locks on the cache rows), the
  locked SELECT as `SELECT id INTO @job`, an UPDATE guarded by those variables, then one
  SELECT returning the control values and the reserved row. Deterministic, two statements more.
  What the worker sends to MySQL.
* `block`: the `into` statements inside one `BEGIN NOT ATOMIC ... END` compound statement
  (MariaDB only) with an exit handler that rolls back and re-raises: the server runs them
  without one reply per statement; an IF picks the last SELECT, so no derived table is
  joined (since 2026-12-02 08:20). What the worker sends to MariaDB.
* `assign`: one packet, the row returned by the locked SELECT itself with `@job := id` in its
  select list. One statement fewer than `into`, but the assignment is deprecated in MySQL 8,
  and the server does not promise which row sets it.

Each pop uses the next variant in turn on one table of N real NoopJob payloads, and each
pop's wall time is recorded, so a noisy minute hits every variant alike. Every pop checks it
reserved its row (attempts 1). All are bare pymysql with the worker's cursor and flags.

    .venv/bin/python -m benchmarks.ab_mariadb_pop_packets --jobs 9000 [--variants two_packets,into,block,assign]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from itertools import cycle
from pathlib import Path
from typing import Any

import pymysql

from benchmarks.backends import MariadbBackend
from benchmarks.noop_jobs import noop_payload
from laravel_queue.db import _BLOCK_OPENING  # what Database.commit_in_block sends
from laravel_queue.worker.worker import RESTART_KEY, paused_key

RETRY_AFTER = 90
LOCKED_WHERE = (
    "from `jobs` where `queue` = %s and ((`reserved_at` is null and `available_at` <= %s) or (`reserved_at` <= %s))"
    " order by `id` asc limit 1 FOR UPDATE SKIP LOCKED"
)
CONTROL_INTO = (
    "select null, (select `value` from `cache` where `key` = %s and `expiration` > %s),"
    " (select `value` from `cache` where `key` = %s and `expiration` > %s) into @lq_job, @lq_restart, @lq_paused"
)
GUARDED_UPDATE = (
    "update `jobs` set `reserved_at` = %s, `attempts` = `attempts` + 1"
    " where `id` = @lq_job and @lq_paused is null and @lq_restart <=> %s"
)
CONTROL_COLUMNS = "@lq_restart as `lq_restart`, @lq_paused as `lq_paused`"
ALLOWED = "@lq_paused is null and @lq_restart <=> %s"
JOINED_FINAL_SELECT = (  # one result set whatever happened, as MySQL's packet needs
    f"select {CONTROL_COLUMNS}, `r`.* from (select 1) as `control`"
    f" left join `jobs` as `r` on `r`.`id` = @lq_job and {ALLOWED}"
)
BLOCK_FINAL_SELECT = (  # inside the block an IF picks the SELECT: no derived table to join
    f"IF @lq_job is not null and {ALLOWED} THEN select {CONTROL_COLUMNS}, `r`.* from `jobs` as `r`"
    f" where `r`.`id` = @lq_job; ELSE select {CONTROL_COLUMNS}; END IF"
)
Pop = Callable[[Any, int | None, int], dict[str, Any]]


def results(cursor: Any) -> list[Any]:
    """Every result of a multi-statement packet: the row of a result set, else the row count."""
    out = []
    while True:
        out.append(cursor.fetchone() if cursor.description else cursor.rowcount)
        if not cursor.nextset():
            return out


class Variants:
    def __init__(self, prefix: str, restart: str) -> None:
        self.keys = (prefix + RESTART_KEY, prefix + paused_key("database", "default"))
        self.restart = restart

    def two_packets(self, cursor: Any, ack: int | None, now: int) -> dict[str, Any]:
        ack_sql, ack_params = ("delete from `jobs` where `id` = %s;\n", (ack,)) if ack else ("", ())
        cursor.execute(
            f"START TRANSACTION;\n{ack_sql}select * from `cache` where `key` in (%s, %s);\nselect * {LOCKED_WHERE}",
            (*ack_params, *self.keys, "default", now, now - RETRY_AFTER),
        )
        row = results(cursor)[-1]
        cursor.execute(
            "update `jobs` set `reserved_at` = %s, `attempts` = %s where `id` = %s;\nCOMMIT",
            (now, row["attempts"] + 1, row["id"]),
        )
        results(cursor)
        return {**row, "attempts": row["attempts"] + 1}

    def _into_statements(self, ack: int | None, now: int) -> tuple[str, tuple[Any, ...]]:
        ack_sql, ack_params = ("delete from `jobs` where `id` = %s;\n", (ack,)) if ack else ("", ())
        sql = (
            f"START TRANSACTION;\n{ack_sql}{CONTROL_INTO};\n"
            f"select `id` into @lq_job {LOCKED_WHERE};\n{GUARDED_UPDATE};\n"
            f"{JOINED_FINAL_SELECT};\nCOMMIT"
        )
        params = (*ack_params, self.keys[0], now, self.keys[1], now, "default", now, now - RETRY_AFTER, now,
                  self.restart, self.restart)
        return sql, params

    def into(self, cursor: Any, ack: int | None, now: int) -> dict[str, Any]:
        cursor.execute(*self._into_statements(ack, now))
        return dict(results(cursor)[-2])

    def block(self, cursor: Any, ack: int | None, now: int) -> dict[str, Any]:
        sql, params = self._into_statements(ack, now)
        body = sql.removeprefix("START TRANSACTION;\n")  # the block's opening starts the transaction
        body = body.replace(JOINED_FINAL_SELECT, BLOCK_FINAL_SELECT)
        cursor.execute(f"{_BLOCK_OPENING}{body};\nEND", params)
        return dict(results(cursor)[0])

    def assign(self, cursor: Any, ack: int | None, now: int) -> dict[str, Any]:
        ack_sql, ack_params = ("delete from `jobs` where `id` = %s;\n", (ack,)) if ack else ("", ())
        cursor.execute(
            f"START TRANSACTION;\n{ack_sql}{CONTROL_INTO};\nselect *, @lq_job := `id` as `lq_job` {LOCKED_WHERE};\n"
            f"{GUARDED_UPDATE};\nselect @lq_restart as `lq_restart`, @lq_paused as `lq_paused`;\nCOMMIT",
            (*ack_params, self.keys[0], now, self.keys[1], now, "default", now, now - RETRY_AFTER, now, self.restart),
        )
        row = results(cursor)[-4]
        return {**row, "attempts": row["attempts"] + 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=9000)
    parser.add_argument("--variants", default="two_packets,into,block,assign")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        backend = MariadbBackend(Path(workdir))
        backend.open()
        try:
            times = run(backend, args.jobs, args.variants.split(","))
        finally:
            backend.close()
    for name, seconds in times.items():
        print(
            f"{name:11s} {len(seconds):6d} pops  mean {statistics.mean(seconds) * 1e6:5.0f} µs"
            f"  median {statistics.median(seconds) * 1e6:5.0f} µs"
        )


def run(backend: MariadbBackend, jobs: int, names: list[str]) -> dict[str, list[float]]:
    connections = backend.connections
    store = connections.cache()
    store.put(RESTART_KEY, 1796166830, 3600)  # a live restart value, as `queue:restart` leaves it
    backend.prefill(backend.prepare([noop_payload(n) for n in range(jobs)]))
    stored = f"select `value` from {store.db.table('cache')} where `key` = ?"
    restart = store.db.fetch_value(stored, (store.prefix + RESTART_KEY,))  # the raw text the worker expects
    variants = Variants(store.prefix, restart)
    pops: dict[str, Pop] = {name: getattr(variants, name) for name in names}
    conn = pymysql.connect(
        host=backend.host, port=backend.port, user=backend.user, password=backend.password,
        database=backend.database, autocommit=True, cursorclass=pymysql.cursors.DictCursor,
        client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
    )
    times: dict[str, list[float]] = {name: [] for name in names}
    ack: int | None = None
    try:
        cursor = conn.cursor()
        for name, _ in zip(cycle(names), range(jobs), strict=False):
            started = time.perf_counter()
            row = pops[name](cursor, ack, int(time.time()))
            times[name].append(time.perf_counter() - started)
            if row.get("id") is None or row["attempts"] != 1:
                raise AssertionError(f"{name}: the pop did not reserve a fresh job: {row}")
            ack = int(row["id"])
    finally:
        conn.close()
    return times


if __name__ == "__main__":
    main()
