"""MySQL/MariaDB's one-round-trip pop: the statements, with session variables carrying the row."""

from __future__ import annotations

from dataclasses import dataclass

from laravel_queue.db import Database
from laravel_queue.drivers.database.pgsql import paused_value


@dataclass(frozen=True)
class OneTripPop:
    """The MySQL/MariaDB one-round-trip pop, statement by statement (`one_trip_pop`)."""

    read_control: str
    select_next: str
    reserve: str
    reserved: str
    reserved_in_block: str


def one_trip_pop(
    db: Database, table: str, cache_table: str | None, select_next: str, pause_all: bool = False
) -> OneTripPop:
    """The statements of `DatabaseQueue._pop_in_one_trip`. Session variables carry what the client would:
    `@lq_job`, the id the locked SELECT chose (reset first: a SELECT ... INTO that finds no
    row leaves it as it was), and the live restart and paused values. These are read with
    SELECT ... INTO, a consistent read like Laravel's `many()`: `SET @v = (subquery)` would
    take shared locks on the cache rows. The UPDATE reserves only when the restart value is
    the expected one and the queue is not paused; the last SELECT returns both values and
    the reserved row (NULL columns when none). Inside MariaDB's block an IF picks that last
    SELECT instead of a join to a derived table: 4-5% less server CPU per pop here."""
    t, q = db.table(table), db.quote_identifier
    if cache_table is None:
        read_control = "select null, null, null into @lq_job, @lq_restart, @lq_paused"
    else:
        live = f"select {q('value')} from {db.table(cache_table)} where {q('key')} = ? and {q('expiration')} > ?"
        paused = paused_value(f"({live})", pause_all)  # Laravel 13: the queue's, else the global key's
        read_control = f"select null, ({live}), {paused} into @lq_job, @lq_restart, @lq_paused"
    allowed = "@lq_paused is null and @lq_restart <=> ?"
    control_columns = f"@lq_restart as {q('lq_restart')}, @lq_paused as {q('lq_paused')}"
    sql = OneTripPop(
        read_control=read_control,
        select_next=select_next.replace("select * ", f"select {q('id')} into @lq_job ", 1),
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
    return sql
