"""PostgreSQL's one-statement pops: ack, (control read,) reservation as one CTE, one round trip."""

from __future__ import annotations

from laravel_queue.db import Database


def pop_acked(db: Database, table: str, pop_lock: str) -> dict[str, str]:
    """PostgreSQL: Laravel's ack DELETE + locked SELECT + UPDATE as ONE autocommit statement.

    Same rows touched, same values written (attempts = old + 1, reserved_at = now), one
    round trip. The candidate SELECT excludes the ack id so no row is touched twice. The
    UPDATE finds its row through a scalar subquery, an index lookup whatever the planner
    believes: joined to the candidate instead, a table whose statistics were taken while it
    was empty (a jobs table's usual state) is scanned whole on every pop."""
    t = db.table(table)
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


def pop_controlled(db: Database, table: str, cache_table: str, pop_lock: str, pause_all: bool = False) -> str:
    """PostgreSQL: `pop_acked` plus the worker's restart/pause read, as ONE statement.

    Reads the live (unexpired) restart and paused values of the cache table, and reserves
    only when the restart value is the expected one and the queue is not paused; returns
    one row: the two stored values, then the reserved job's columns (NULL when none). The
    ack id may be NULL (first pop). `pause_all` (Laravel 13): the paused value is the
    queue's key, else the global `illuminate:queues:paused` (two more parameters)."""
    t, cache = db.table(table), db.table(cache_table)
    q = db.quote_identifier
    live = f"{q('key')} = ? and {q('expiration')} > ?"
    live_value = f"(select {q('value')} from {cache} where {live})"
    sql = (
        f"with {q('acked')} as (delete from {t} where {q('id')} = ?::bigint),"
        f" {q('control')} as (select"
        f" (select {q('value')} from {cache} where {live}) as {q('lq_restart')},"
        f" {paused_value(live_value, pause_all)} as {q('lq_paused')}),"
        f" {q('candidate')} as (select {q('id')} from {t} where {q('queue')} = ?"
        f" and (({q('reserved_at')} is null and {q('available_at')} <= ?) or ({q('reserved_at')} <= ?))"
        f" and {q('id')} is distinct from ?::bigint"
        f" order by {q('id')} asc limit 1{pop_lock}),"
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
    return sql


def paused_value(live_value: str, pause_all: bool) -> str:
    """The stored paused value a controlled pop reads: the queue's key, and with Laravel 13's
    global key (`queue:pause --all`) the queue's else the global one."""
    return f"coalesce({live_value}, {live_value})" if pause_all else live_value
