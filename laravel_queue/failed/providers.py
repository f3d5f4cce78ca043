"""Pick the failed-job provider the way Laravel's QueueServiceProvider does (`queue.failed`).

`null` -> nothing recorded; `file` -> JSON file; `dynamodb` -> DynamoDB; `database-uuids` ->
uuid-keyed table (the default); any other driver name with a table -> the legacy
id-keyed table (Laravel: `isset($config['table'])`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from laravel_queue import compat
from laravel_queue.failed.base import FailedJobProvider

if TYPE_CHECKING:
    from laravel_queue.resources import Resources


def provider_from_config(connections: Resources) -> FailedJobProvider:
    settings = connections.settings
    failed = settings.queue.failed
    driver = failed.driver
    timezone = settings.app.timezone
    if driver in ("", "null"):
        from laravel_queue.failed.null import NullFailedJobProvider

        return NullFailedJobProvider()
    if driver == "file":
        from laravel_queue.failed.file import FileFailedJobProvider

        cache = settings.app.base_path / "storage" / "framework" / "cache"
        path = failed.path or cache / "failed-jobs.json"
        if not path.is_absolute():
            path = settings.app.base_path / path
        return FileFailedJobProvider(path, failed.limit, lock_directory=cache / "data", timezone=timezone)
    if driver == "dynamodb":
        from laravel_queue.failed.dynamodb import DynamoDbFailedJobProvider

        return DynamoDbFailedJobProvider.from_config(connections)
    if driver == "database-uuids":
        from laravel_queue.failed.database import DatabaseUuidFailedJobProvider

        return DatabaseUuidFailedJobProvider(
            connections.db(failed.database), failed.table, timezone=timezone, name_limit=_name_limit(settings)
        )
    if failed.table:
        from laravel_queue.failed.database import DatabaseFailedJobProvider

        return DatabaseFailedJobProvider(
            connections.db(failed.database), failed.table, timezone=timezone, name_limit=_name_limit(settings)
        )
    from laravel_queue.failed.null import NullFailedJobProvider

    return NullFailedJobProvider()


def _name_limit(settings: Any) -> int | None:
    """Laravel 13's failed_jobs.connection/queue are string(255): longer names are cut to fit."""
    return 255 if compat.failed_jobs_connection_queue_strings(settings.laravel_version) else None
