"""The resolved configuration, shaped like a Laravel app's own config arrays.

Every value is read from the environment variable the Laravel 12 skeleton's
config files read, with the skeleton's default, so pointing the worker at a
Laravel project's `.env` gives the same connections, prefixes and table names
PHP uses. Precedence, highest first: CLI overrides, process environment, the
`.env` file, Laravel's defaults.
"""


from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from laravel_queue import compat
from laravel_queue.config.db_url import apply_db_url
from laravel_queue.config.env import Env, merged_environment
from laravel_queue.config.errors import ConfigError
from laravel_queue.config.laravel_version import choose_version
from laravel_queue.config.models import (
    HORIZON_TRIM_DEFAULTS,
    AppConfig,
    BatchingConfig,
    CacheConfig,
    CacheStoreConfig,
    DatabaseConfig,
    DatabaseConnectionConfig,
    FailedConfig,
    HorizonConfig,
    QueueConfig,
    QueueConnectionConfig,
    RedisConfig,
    RedisConnectionConfig,
    SecretStr,
    Settings,
)


def slug(title: str, separator: str = "-") -> str:
    """Laravel's `Str::slug`: ASCII, lower case, runs of other characters to one separator."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    ascii_title = ascii_title.replace("@", f"{separator}at{separator}").lower()
    flipped = "_" if separator == "-" else "-"
    ascii_title = ascii_title.replace(flipped, separator)
    ascii_title = re.sub(rf"[^{re.escape(separator)}a-z0-9\s]+", "", ascii_title)
    ascii_title = re.sub(rf"[{re.escape(separator)}\s]+", separator, ascii_title)
    return ascii_title.strip(separator)


def parse_laravel_version(raw: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)(?:\.(\d+))?(?:\.\d+)?\s*", raw)
    if not match:
        raise ConfigError(f"LARAVEL_VERSION: expected a major or major.minor version, got {raw!r}")
    major = int(match.group(1))
    minor = int(match.group(2)) if match.group(2) is not None else 99
    if not compat.is_supported_major(major):
        raise ConfigError(f"LARAVEL_VERSION: supported majors are {compat.supported_range_text()}, got {raw!r}")
    return major, minor


def load_settings(
    *,
    env_file: Path | str | None = None,
    app_path: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve the configuration from the sources, in Laravel's order of precedence."""
    env_file = Path(env_file) if env_file else None
    app_path = Path(app_path) if app_path else None
    env = Env(merged_environment(env_file=env_file, app_path=app_path, environ=environ, overrides=overrides))
    base_path = app_path or (env_file.parent if env_file else Path.cwd())
    chosen = choose_version(env.str("LARAVEL_VERSION"), app_path)
    version = parse_laravel_version(chosen.raw)
    return Settings(
        laravel_version=version,
        laravel_version_source=chosen.source,
        app=_app(env, base_path),
        queue=_queue(env),
        database=_database(env, base_path, version),
        cache=_cache(env, version),
        horizon=_horizon(env, base_path),
    )


def _app(env: Env, base_path: Path) -> AppConfig:
    previous = [k.strip() for k in (env.str("APP_PREVIOUS_KEYS") or "").split(",") if k.strip()]
    return AppConfig(
        name=env.req("APP_NAME", "Laravel"),
        env=env.req("APP_ENV", "production"),
        key=env.secret("APP_KEY"),
        previous_keys=tuple(SecretStr(k) for k in previous),
        cipher=env.req("APP_CIPHER", "AES-256-CBC"),
        timezone=env.req("APP_TIMEZONE", "UTC"),
        schedule_timezone=env.str("SCHEDULE_TIMEZONE"),
        base_path=base_path,
        maintenance_driver=env.req("APP_MAINTENANCE_DRIVER", "file"),
        maintenance_store=env.req("APP_MAINTENANCE_STORE", "database"),
    )


def _queue(env: Env) -> QueueConfig:
    default_db = env.req("DB_CONNECTION", "sqlite")
    connections = {
        "sync": QueueConnectionConfig(name="sync", driver="sync"),
        "database": QueueConnectionConfig(
            name="database",
            driver="database",
            connection=env.str("DB_QUEUE_CONNECTION"),
            table=env.req("DB_QUEUE_TABLE", "jobs"),
            queue=env.req("DB_QUEUE", "default"),
            retry_after=env.int("DB_QUEUE_RETRY_AFTER", 90),
            after_commit=False,
        ),
        "sqs": QueueConnectionConfig(
            name="sqs",
            driver="sqs",
            key=env.secret("AWS_ACCESS_KEY_ID"),
            secret=env.secret("AWS_SECRET_ACCESS_KEY"),
            token=env.secret("AWS_SESSION_TOKEN"),
            prefix=env.req("SQS_PREFIX", "https://sqs.us-east-1.amazonaws.com/your-account-id"),
            queue=env.req("SQS_QUEUE", "default"),
            suffix=env.req("SQS_SUFFIX", ""),
            region=env.req("AWS_DEFAULT_REGION", "us-east-1"),
            endpoint=env.str("SQS_ENDPOINT") or env.str("AWS_ENDPOINT_URL_SQS") or env.str("AWS_ENDPOINT_URL"),
            wait_time=env.int("SQS_WAIT_TIME", None),
            retry_after=None,
        ),
        "redis": QueueConnectionConfig(
            name="redis",
            driver="redis",
            connection=env.req("REDIS_QUEUE_CONNECTION", "default"),
            queue=env.req("REDIS_QUEUE", "default"),
            retry_after=env.int("REDIS_QUEUE_RETRY_AFTER", 90),
            block_for=env.float("REDIS_QUEUE_BLOCK_FOR", None),
            migration_batch_size=env.int("REDIS_QUEUE_MIGRATION_BATCH_SIZE", -1) or -1,
        ),
        "null": QueueConnectionConfig(name="null", driver="null"),
    }
    default = env.req("QUEUE_CONNECTION", "database")
    if default not in connections:
        raise ConfigError(f"QUEUE_CONNECTION: unknown connection {default!r} (known: {', '.join(connections)})")
    failed_path = env.str("QUEUE_FAILED_PATH")
    return QueueConfig(
        default=default,
        connections=connections,
        failed=FailedConfig(
            driver="null" if env.is_null("QUEUE_FAILED_DRIVER") else env.req("QUEUE_FAILED_DRIVER", "database-uuids"),
            database=default_db,
            table=env.req("QUEUE_FAILED_TABLE", "failed_jobs"),
            path=Path(failed_path) if failed_path else None,
            region=env.req("AWS_DEFAULT_REGION", "us-east-1"),
            key=env.secret("AWS_ACCESS_KEY_ID"),
            secret=env.secret("AWS_SECRET_ACCESS_KEY"),
            endpoint=env.str("DYNAMODB_ENDPOINT"),
        ),
        batching=BatchingConfig(database=default_db, table=env.req("QUEUE_BATCHING_TABLE", "job_batches")),
    )


def _database(env: Env, base_path: Path, version: tuple[int, int]) -> DatabaseConfig:
    sqlite_db = env.str("DB_DATABASE") or str(base_path / "database" / "database.sqlite")
    if sqlite_db != ":memory:" and not Path(sqlite_db).is_absolute():
        sqlite_db = str(base_path / sqlite_db)

    def server(name: str, driver: Literal["mysql", "mariadb", "pgsql"], port: int) -> DatabaseConnectionConfig:
        return DatabaseConnectionConfig(
            name=name,
            driver=driver,
            url=env.secret("DB_URL"),
            host=env.req("DB_HOST", "127.0.0.1"),
            port=env.int("DB_PORT", port),
            database=env.req("DB_DATABASE", "laravel"),
            username=env.req("DB_USERNAME", "root"),
            password=env.secret("DB_PASSWORD"),
            unix_socket=env.str("DB_SOCKET"),
            charset=env.req("DB_CHARSET", "utf8" if driver == "pgsql" else "utf8mb4"),
            sslmode=env.str("DB_SSLMODE", "prefer") if driver == "pgsql" else None,
            ssl_ca=env.str("MYSQL_ATTR_SSL_CA"),
        )

    connections: dict[str, DatabaseConnectionConfig] = {
        "sqlite": DatabaseConnectionConfig(
            name="sqlite",
            driver="sqlite",
            url=env.secret("DB_URL"),
            database=sqlite_db,
            busy_timeout=env.int("DB_BUSY_TIMEOUT", None),
            journal_mode=env.str("DB_JOURNAL_MODE"),
            synchronous=env.str("DB_SYNCHRONOUS"),
            transaction_mode=env.str("DB_TRANSACTION_MODE"),
        ),
        "mysql": server("mysql", "mysql", 3306),
        "mariadb": server("mariadb", "mariadb", 3306),
        "pgsql": server("pgsql", "pgsql", 5432),
    }
    default = env.req("DB_CONNECTION", "sqlite")
    if default not in connections:
        raise ConfigError(f"DB_CONNECTION: unknown connection {default!r} (known: {', '.join(connections)})")
    connections = {name: apply_db_url(cfg) for name, cfg in connections.items()}
    return DatabaseConfig(default=default, connections=connections, redis=_redis(env, version))


def _redis(env: Env, version: tuple[int, int]) -> RedisConfig:
    separator = "-" if compat.slugs_use_hyphens(version) else "_"
    app_slug = slug(env.req("APP_NAME", "laravel"), separator)
    prefix = env.req("REDIS_PREFIX", f"{app_slug}{separator}database{separator}")
    given_scheme = env.req("REDIS_SCHEME", "tcp")
    if given_scheme not in ("tcp", "tls"):
        raise ConfigError(f"REDIS_SCHEME: expected tcp or tls, got {given_scheme!r}")
    scheme: Literal["tcp", "tls"] = "tls" if given_scheme == "tls" else "tcp"
    for option in ("REDIS_SERIALIZER", "REDIS_COMPRESSION"):
        value = env.str(option)
        if value and value.lower() not in ("0", "none", "serializer_none", "compression_none"):
            raise ConfigError(
                f"{option}: phpredis serializer/compression is not supported (got {value!r}); "
                "Laravel's default leaves both off"
            )

    def connection(name: str, db_var: str, db_default: int) -> RedisConnectionConfig:
        return RedisConnectionConfig(
            name=name,
            url=env.secret("REDIS_URL"),
            scheme=scheme,
            host=env.req("REDIS_HOST", "127.0.0.1"),
            port=env.int("REDIS_PORT", 6379) or 6379,
            username=env.str("REDIS_USERNAME"),
            password=env.secret("REDIS_PASSWORD"),
            database=env.int(db_var, db_default) or 0,
            prefix=prefix,
            timeout=env.float("REDIS_TIMEOUT", None),
            read_timeout=env.float("REDIS_READ_TIMEOUT", None),
        )

    clusters: dict[str, tuple[RedisConnectionConfig, ...]] = {}
    nodes = env.str("REDIS_CLUSTER_NODES")
    if nodes:
        parsed = []
        for index, node in enumerate(n.strip() for n in nodes.split(",") if n.strip()):
            host, _, port = node.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"REDIS_CLUSTER_NODES: expected host:port entries, got {node!r}")
            parsed.append(
                RedisConnectionConfig(
                    name=f"default-{index}", host=host, port=int(port), prefix=prefix,
                    username=env.str("REDIS_USERNAME"), password=env.secret("REDIS_PASSWORD"),
                )
            )
        clusters["default"] = tuple(parsed)
    return RedisConfig(
        client=env.req("REDIS_CLIENT", "phpredis"),
        cluster=env.req("REDIS_CLUSTER", "redis"),
        prefix=prefix,
        connections={
            "default": connection("default", "REDIS_DB", 0),
            "cache": connection("cache", "REDIS_CACHE_DB", 1),
        },
        clusters=clusters,
    )


def _cache(env: Env, version: tuple[int, int]) -> CacheConfig:
    separator = "-" if compat.slugs_use_hyphens(version) else "_"
    default_prefix = f"{slug(env.req('APP_NAME', 'laravel'), separator)}{separator}cache{separator}"
    store_var = compat.cache_store_variable(version)
    default_store = env.str(store_var) or env.str("CACHE_DRIVER") or compat.default_cache_store(version)
    stores = {
        "array": CacheStoreConfig(name="array", driver="array"),
        "database": CacheStoreConfig(
            name="database",
            driver="database",
            connection=env.str("DB_CACHE_CONNECTION"),
            table=env.req("DB_CACHE_TABLE", "cache"),
            lock_connection=env.str("DB_CACHE_LOCK_CONNECTION"),
            lock_table=env.str("DB_CACHE_LOCK_TABLE") or "cache_locks",
        ),
        "redis": CacheStoreConfig(
            name="redis",
            driver="redis",
            connection=env.req("REDIS_CACHE_CONNECTION", "cache"),
            lock_connection=env.req("REDIS_CACHE_LOCK_CONNECTION", "default"),
        ),
        "null": CacheStoreConfig(name="null", driver="null"),
        "file": CacheStoreConfig(name="file", driver="file", path=Path("storage/framework/cache/data")),
    }
    if default_store not in stores:
        raise ConfigError(
            f"{store_var}: cache store {default_store!r} is not supported here (use one of {', '.join(stores)})"
        )
    schedule_store = env.str("SCHEDULE_CACHE_STORE") or env.str("SCHEDULE_CACHE_DRIVER")
    return CacheConfig(
        default=default_store,
        prefix=env.req("CACHE_PREFIX", default_prefix),
        schedule_store=schedule_store,
        stores=stores,
    )


def _horizon(env: Env, base_path: Path) -> HorizonConfig:
    """Horizon's defaults: prefix `Str::slug(APP_NAME, '_').'_horizon:'`, connection `default`."""
    prefix = env.str("HORIZON_PREFIX")
    default_prefix = slug(env.req("APP_NAME", "laravel"), "_") + "_horizon:"
    trim = {name: env.int(f"HORIZON_TRIM_{name.upper()}", mins) or 0 for name, mins in HORIZON_TRIM_DEFAULTS.items()}
    enabled = env.raw("HORIZON_ENABLED")
    return HorizonConfig(
        enabled=None if enabled in (None, "", "auto") else env.bool("HORIZON_ENABLED", False),
        prefix=(prefix or "horizon:") if prefix is not None else default_prefix,  # Horizon::use(): `?: 'horizon:'`
        prefix_from_env=prefix is not None,
        use=env.req("HORIZON_USE", "default"),
        installed=(base_path / "config" / "horizon.php").is_file(),
        trim=trim,
        silenced=_names(env.str("HORIZON_SILENCED")),
        silenced_tags=_names(env.str("HORIZON_SILENCED_TAGS")),
    )


def _names(raw: str | None) -> tuple[str, ...]:
    return tuple(name.strip().lstrip("\\") for name in (raw or "").split(",") if name.strip())
