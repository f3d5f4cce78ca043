"""The database errors every engine's driver exceptions are translated into."""

from __future__ import annotations

from laravel_queue.errors import ConfigurationError, LaravelQueueError, ServiceConnectionError

MIGRATE_HINT = "run `laravel-queue migrate` (or `php artisan migrate`) to create the queue tables"


class DatabaseError(LaravelQueueError):
    """A statement failed; the driver's own exception is attached as `__cause__`."""


class LostConnectionError(DatabaseError, ServiceConnectionError):
    """The server connection dropped or cannot be opened; nothing after the last commit is kept."""


class MissingTableError(DatabaseError, ServiceConnectionError):
    """A statement named a table that does not exist: the database was not migrated."""

    hint = MIGRATE_HINT


class DatabaseConfigError(DatabaseError, ConfigurationError):
    """A connection setting (driver, charset, SQLite path or pragma) that cannot work."""


class UniqueViolationError(DatabaseError):
    """An INSERT/UPDATE hit a primary-key or unique index."""


class ConcurrencyError(DatabaseError):
    """Deadlock, lock wait timeout, serialization failure or SQLITE_BUSY: safe to retry."""
