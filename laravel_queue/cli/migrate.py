"""`laravel-queue migrate`: create the queue, failed-job, batch and cache tables Laravel's
skeleton migrations create, each on the connection the configuration names for it.

Existing tables are left exactly as they are, so running it against an app PHP already
migrated does nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from laravel_queue.cli.common import command, option, resolve_settings, settings_options

if TYPE_CHECKING:
    from laravel_queue.config import Settings


def table_plan(settings: Settings, database: str | None = None) -> dict[str, dict[str, str | bool | None]]:
    """{connection name: migrate() keyword arguments} for every table to ensure."""
    default = settings.database.default

    def name(connection: str | None) -> str:
        return database or connection or default

    plan: dict[str, dict[str, str | bool | None]] = {}

    def add(connection: str | None, **tables: str | bool | None) -> None:
        plan.setdefault(name(connection), {}).update(tables)

    for cfg in settings.queue.connections.values():
        if cfg.driver == "database":
            add(cfg.connection, jobs_table=cfg.table)
    add(settings.queue.batching.database, batches_table=settings.queue.batching.table)
    failed = settings.queue.failed
    if failed.driver not in ("file", "null", "dynamodb", ""):
        add(failed.database, failed_table=failed.table, failed_uuids=failed.driver == "database-uuids")
    for store in settings.cache.stores.values():
        if store.driver == "database":
            add(store.connection, cache_table=store.table)
            add(store.lock_connection or store.connection, lock_table=store.lock_table)
    return plan


def _ensure_sqlite_directory(settings: Settings, connection: str) -> None:
    """Like `php artisan migrate` offering to create a missing SQLite database: create its folder."""
    cfg = settings.db_connection(connection)
    if cfg.driver == "sqlite" and cfg.database != ":memory:":
        folder = Path(cfg.database).parent
        if not folder.exists():
            folder.mkdir(parents=True)
            click.echo(f"Created folder [{folder}] for the SQLite database.")


@command("migrate")
@settings_options
@option("--database", metavar="CONNECTION", help="Create every table on this database connection instead.")
def migrate_command(env_file: Path | None, app: Path | None, database: str | None) -> None:
    """Create the jobs, job_batches, failed_jobs, cache and cache_locks tables when absent."""
    from laravel_queue.config import ConfigError
    from laravel_queue.connections import Connections
    from laravel_queue.db import DatabaseError
    from laravel_queue.errors import ServiceConnectionError
    from laravel_queue.schema import migrate as migrate_tables

    settings = resolve_settings(env_file, app)
    connections = Connections(settings)
    created_any = False
    try:
        for connection, tables in table_plan(settings, database).items():
            arguments = {
                "jobs_table": None, "failed_table": None, "batches_table": None, "cache_table": None,
                "lock_table": None, **tables,
            }
            _ensure_sqlite_directory(settings, connection)
            created = migrate_tables(
                connections.db(connection), **arguments, version=settings.laravel_version  # type: ignore[arg-type]
            )
            for table in created:
                click.echo(f"Created table [{table}] on connection [{connection}].")
            created_any = created_any or bool(created)
    except (ConfigError, DatabaseError) as exc:
        raise ServiceConnectionError(f"Migration failed: {exc}") from exc
    finally:
        connections.close()
    if not created_any:
        click.echo("Nothing to migrate: every table already exists.")

