"""`laravel-queue migrate`: create the queue, failed-job, batch and cache tables Laravel's
skeleton migrations create, each on the connection the configuration names for it.

Existing tables are left exactly as they are, so running it against an app PHP already
migrated does nothing.

`--notify` (PostgreSQL only) also installs the jobs tables' insert trigger that wakes idle
workers (drivers/database/notify.py); `--notify --drop` removes it; `--notify --sql` prints
the SQL instead of running it, for teams whose migrations live in PHP.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from laravel_queue.cli.common import AppOption, EnvFileOption, resolve_settings

if TYPE_CHECKING:
    from laravel_queue.config import Settings
    from laravel_queue.connections import Connections
    from laravel_queue.db import Database


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
            typer.echo(f"Created folder [{folder}] for the SQLite database.")


def migrate_command(
    env_file: EnvFileOption = None,
    app: AppOption = None,
    database: Annotated[
        str | None, typer.Option("--database", help="Create every table on this database connection instead.")
    ] = None,
    notify: Annotated[
        bool,
        typer.Option(
            "--notify",
            help="PostgreSQL: also install the jobs table's insert trigger, so a push wakes idle workers at once.",
        ),
    ] = False,
    drop: Annotated[bool, typer.Option("--drop", help="With --notify: remove the trigger (and nothing else).")] = False,
    sql: Annotated[
        bool, typer.Option("--sql", help="With --notify: print the trigger's SQL instead of running anything.")
    ] = False,
) -> None:
    """Create the jobs, job_batches, failed_jobs, cache and cache_locks tables when absent."""
    from laravel_queue.config import ConfigError
    from laravel_queue.connections import Connections
    from laravel_queue.db import DatabaseError
    from laravel_queue.errors import ConfigurationError, ServiceConnectionError

    if (drop or sql) and not notify:
        raise ConfigurationError("--drop and --sql only go with --notify.")
    settings = resolve_settings(env_file, app)
    connections = Connections(settings)
    try:
        targets = notify_targets(settings, connections, database) if notify else {}
        if not (drop or sql):
            _create_tables(settings, connections, database)
        for (name, table), db in targets.items():
            _apply_notify(name, table, db, drop=drop, print_only=sql)
    except (ConfigError, DatabaseError) as exc:
        raise ServiceConnectionError(f"Migration failed: {exc}") from exc
    finally:
        connections.close()


def _create_tables(settings: Settings, connections: Connections, database: str | None) -> None:
    from laravel_queue.schema import migrate as migrate_tables

    created_any = False
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
            typer.echo(f"Created table [{table}] on connection [{connection}].")
        created_any = created_any or bool(created)
    if not created_any:
        typer.echo("Nothing to migrate: every table already exists.")


def notify_targets(
    settings: Settings, connections: Connections, database: str | None
) -> dict[tuple[str, str], Database]:
    """{(connection, jobs table): its Database} of every database queue on PostgreSQL; the others
    are named and skipped, and none at all is an error."""
    from laravel_queue.errors import ConfigurationError

    targets: dict[tuple[str, str], Database] = {}
    for cfg in settings.queue.connections.values():
        if cfg.driver == "database":
            name = database or cfg.connection or settings.database.default
            targets.setdefault((name, cfg.table), connections.db(name))
    postgres = {key: db for key, db in targets.items() if db.dialect == "pgsql"}
    if not postgres:
        engines = ", ".join(sorted({f"[{name}] is {db.dialect}" for (name, _), db in targets.items()})) or "none"
        raise ConfigurationError(
            f"--notify needs PostgreSQL (database queue connections: {engines}); "
            "MySQL, MariaDB and SQLite workers poll every --sleep seconds."
        )
    for (name, table), db in targets.items():
        if (name, table) not in postgres:
            typer.echo(f"Skipped [{table}] on connection [{name}]: {db.dialect} has no LISTEN/NOTIFY.")
    return postgres


def _apply_notify(name: str, table: str, db: Database, *, drop: bool, print_only: bool) -> None:
    """Install, drop or print the insert trigger of one jobs table."""
    from laravel_queue.drivers.database import notify

    if print_only:
        statements = notify.drop_statements(db, table) if drop else notify.install_statements(db, table)
        typer.echo(f"-- connection [{name}], table [{table}]")
        typer.echo("".join(f"{statement};\n" for statement in statements))
    elif drop:
        notify.drop_trigger(db, table)
        typer.echo(f"Dropped the notify trigger of [{table}] on connection [{name}].")
    else:
        notify.install_trigger(db, table)
        typer.echo(
            f"Installed the notify trigger on [{table}] on connection [{name}]: "
            f"pushes wake idle workers (channel {notify.channel_for(db, table)})."
        )


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate_command)
