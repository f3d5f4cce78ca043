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

On PostgreSQL, `migrate --notify` adds an insert trigger whose notifications wake idle
workers (`notify`); without it they sleep `--sleep` seconds between polls, as Laravel's.

Modules: `queue` (the driver), `job` (a reserved row), `sql` (Laravel's statements),
`one_trip` (the one-round-trip pops and the control read they carry), `pgsql` and `mysql`
(each engine's statements for them), `notify` (PostgreSQL's insert trigger and LISTEN wait).
"""

from __future__ import annotations

from laravel_queue.drivers.database.job import DatabaseJob, UnreservableJobError
from laravel_queue.drivers.database.one_trip import DatabaseControlKeys, FastPathDeclined
from laravel_queue.drivers.database.queue import DatabaseQueue

__all__ = ["DatabaseControlKeys", "DatabaseJob", "DatabaseQueue", "FastPathDeclined", "UnreservableJobError"]
