"""The tables Laravel's skeleton migrations create, as each schema grammar writes them.

`migrate()` creates a table only when it is absent and never alters one, so it is safe to
run against a database PHP already migrated. Column names, types, nullability, defaults
and index names follow `0001_01_01_000001_create_cache_table.php` and
`0001_01_01_000002_create_jobs_table.php` through Laravel's MySQL / PostgreSQL / SQLite
grammars (laravel-compat.md §6.1, §10.1, §11.2, §13.2). With `version` 13 the tables follow
Laravel 13's framework stubs: `jobs.attempts` unsignedSmallInteger, and `failed_jobs`'
connection/queue as string(255) with an index on (connection, queue, failed_at).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from laravel_queue import compat
from laravel_queue.db import Database

# Column types per Blueprint method: (mysql, pgsql, sqlite).
_TYPES: dict[str, tuple[str, str, str]] = {
    "id": (
        "bigint unsigned not null auto_increment primary key",
        "bigserial not null primary key",
        "integer primary key autoincrement not null",
    ),
    "string": ("varchar(255)", "varchar(255)", "varchar"),
    "text": ("text", "text", "text"),
    "mediumText": ("mediumtext", "text", "text"),
    "longText": ("longtext", "text", "text"),
    "integer": ("int", "integer", "integer"),
    "unsignedTinyInteger": ("tinyint unsigned", "smallint", "integer"),
    "unsignedSmallInteger": ("smallint unsigned", "smallint", "integer"),
    "unsignedInteger": ("int unsigned", "integer", "integer"),
    "timestampUseCurrent": (
        "timestamp not null default CURRENT_TIMESTAMP",
        "timestamp(0) without time zone not null default CURRENT_TIMESTAMP",
        "datetime not null default CURRENT_TIMESTAMP",
    ),
}
_DIALECT_INDEX = {"mysql": 0, "pgsql": 1, "sqlite": 2}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = False


@dataclass(frozen=True)
class TableSpec:
    columns: tuple[Column, ...]
    primary: str | None = None  # a non-increment primary key column
    indexes: tuple[str | tuple[str, ...], ...] = ()  # a column, or the columns of a compound index
    uniques: tuple[str, ...] = ()


JOBS = TableSpec(
    columns=(
        Column("id", "id"),
        Column("queue", "string"),
        Column("payload", "longText"),
        Column("attempts", "unsignedTinyInteger"),
        Column("reserved_at", "unsignedInteger", nullable=True),
        Column("available_at", "unsignedInteger"),
        Column("created_at", "unsignedInteger"),
    ),
    indexes=("queue",),
)
JOB_BATCHES = TableSpec(
    columns=(
        Column("id", "string"),
        Column("name", "string"),
        Column("total_jobs", "integer"),
        Column("pending_jobs", "integer"),
        Column("failed_jobs", "integer"),
        Column("failed_job_ids", "longText"),
        Column("options", "mediumText", nullable=True),
        Column("cancelled_at", "integer", nullable=True),
        Column("created_at", "integer"),
        Column("finished_at", "integer", nullable=True),
    ),
    primary="id",
)
_FAILED_COMMON = (
    Column("connection", "text"),
    Column("queue", "text"),
    Column("payload", "longText"),
    Column("exception", "longText"),
    Column("failed_at", "timestampUseCurrent"),
)
FAILED_JOBS = TableSpec(columns=(Column("id", "id"), Column("uuid", "string"), *_FAILED_COMMON), uniques=("uuid",))
FAILED_JOBS_LEGACY = TableSpec(columns=(Column("id", "id"), *_FAILED_COMMON))
_FAILED_INDEX_13 = ("connection", "queue", "failed_at")


def _laravel13_failed_jobs(spec: TableSpec) -> TableSpec:
    """failed_jobs as Laravel 13 creates it: connection/queue strings, indexed with failed_at."""
    columns = tuple(Column(c.name, "string") if c.name in ("connection", "queue") else c for c in spec.columns)
    return replace(spec, columns=columns, indexes=(*spec.indexes, _FAILED_INDEX_13))


def _laravel13_jobs(spec: TableSpec) -> TableSpec:
    columns = tuple(Column(c.name, "unsignedSmallInteger") if c.name == "attempts" else c for c in spec.columns)
    return replace(spec, columns=columns)


def table_specs(version: tuple[int, int], *, failed_uuids: bool = True) -> dict[str, TableSpec]:
    """The specs of one Laravel version: {"jobs", "job_batches", "failed_jobs", "cache", "cache_locks"}."""
    jobs, failed = JOBS, FAILED_JOBS if failed_uuids else FAILED_JOBS_LEGACY
    if compat.jobs_attempts_small_int(version):
        jobs = _laravel13_jobs(jobs)
    if compat.failed_jobs_connection_queue_strings(version):
        failed = _laravel13_failed_jobs(failed)
    return {"jobs": jobs, "job_batches": JOB_BATCHES, "failed_jobs": failed, "cache": CACHE, "cache_locks": CACHE_LOCKS}
CACHE = TableSpec(
    columns=(Column("key", "string"), Column("value", "mediumText"), Column("expiration", "integer")),
    primary="key",
    indexes=("expiration",),
)
CACHE_LOCKS = TableSpec(
    columns=(Column("key", "string"), Column("owner", "string"), Column("expiration", "integer")),
    primary="key",
    indexes=("expiration",),
)


def table_exists(db: Database, table: str) -> bool:
    name = db.prefix + table
    db.quote_identifier(name)  # validate
    if db.dialect == "sqlite":
        sql = "select name from sqlite_master where type = 'table' and name = ?"
    elif db.dialect == "mysql":
        sql = "select table_name from information_schema.tables where table_schema = database() and table_name = ?"
    else:
        sql = (
            "select table_name from information_schema.tables"
            " where table_schema = any(current_schemas(false)) and table_name = ?"
        )
    return db.fetch_one(sql, (name,)) is not None


def create_table_sql(db: Database, table: str, spec: TableSpec) -> list[str]:
    """The statements Laravel's grammar for `db.dialect` runs for `Schema::create`."""
    position = _DIALECT_INDEX[db.dialect]
    q = db.quote_identifier
    wrapped = db.table(table)
    columns = []
    for column in spec.columns:
        sql_type = _TYPES[column.type][position]
        if column.type in ("id", "timestampUseCurrent"):
            columns.append(f"{q(column.name)} {sql_type}")
        elif column.nullable:
            columns.append(f"{q(column.name)} {sql_type}" + ("" if db.dialect == "sqlite" else " null"))
        else:
            columns.append(f"{q(column.name)} {sql_type} not null")
    if spec.primary:
        columns.append(f"primary key ({q(spec.primary)})")
    create = f"create table {wrapped} ({', '.join(columns)})"
    if db.dialect == "mysql":
        create += " default character set utf8mb4 collate 'utf8mb4_unicode_ci'"
    statements = [create]
    index_base = (db.prefix + table).replace(".", "_").replace("-", "_").lower()
    for indexed in spec.indexes:
        names = (indexed,) if isinstance(indexed, str) else indexed
        index = q(f"{index_base}_{'_'.join(names)}_index")
        listed = ", ".join(q(name) for name in names)
        if db.dialect == "mysql":
            statements.append(f"alter table {wrapped} add index {index}({listed})")
        else:
            statements.append(f"create index {index} on {wrapped} ({listed})")
    for name in spec.uniques:
        index = q(f"{index_base}_{name}_unique")
        if db.dialect == "mysql":
            statements.append(f"alter table {wrapped} add unique {index}({q(name)})")
        elif db.dialect == "pgsql":
            statements.append(f"alter table {wrapped} add constraint {index} unique ({q(name)})")
        else:
            statements.append(f"create unique index {index} on {wrapped} ({q(name)})")
    return statements


def migrate(
    db: Database,
    *,
    jobs_table: str | None = "jobs",
    failed_table: str | None = "failed_jobs",
    batches_table: str | None = "job_batches",
    cache_table: str | None = "cache",
    lock_table: str | None = "cache_locks",
    failed_uuids: bool = True,
    version: tuple[int, int] = compat.DEFAULT_VERSION,
) -> list[str]:
    """Create the absent tables on `db` (None skips one); returns the names created.

    `failed_uuids=False` creates the legacy `failed_jobs` shape (no `uuid` column) that the
    `database` failed-job driver writes to. `version` picks the Laravel release's shapes."""
    specs = table_specs(version, failed_uuids=failed_uuids)
    plan = [
        (jobs_table, specs["jobs"]),
        (batches_table, specs["job_batches"]),
        (failed_table, specs["failed_jobs"]),
        (cache_table, specs["cache"]),
        (lock_table, specs["cache_locks"]),
    ]
    created: list[str] = []
    for table, spec in plan:
        if table is None or table_exists(db, table):
            continue
        statements = create_table_sql(db, table, spec)
        if db.dialect == "mysql":  # DDL commits implicitly on MySQL
            for statement in statements:
                db.execute(statement)
        else:
            with db.transaction():
                for statement in statements:
                    db.execute(statement)
        created.append(table)
    return created
