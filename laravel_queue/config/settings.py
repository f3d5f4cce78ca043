"""The resolved configuration, shaped like a Laravel app's own config arrays.

Every value is read from the environment variable the Laravel 12 skeleton's
config files read, with the skeleton's default, so pointing the worker at a
Laravel project's `.env` gives the same connections, prefixes and table names
PHP uses. Precedence, highest first: CLI overrides, process environment, the
`.env` file, Laravel's defaults.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from laravel_queue.config.dotenv import env_value, read_dotenv


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AppConfig(_Model):
    name: str = "Laravel"
    env: str = "production"
    key: SecretStr | None = None
    previous_keys: tuple[SecretStr, ...] = ()
    cipher: str = "AES-256-CBC"
    timezone: str = "UTC"
    schedule_timezone: str | None = None
    base_path: Path = Path(".")
    maintenance_driver: str = "file"
    maintenance_store: str = "database"


class RedisConnectionConfig(_Model):
    name: str
    url: SecretStr | None = None
    scheme: Literal["tcp", "tls"] = "tcp"
    host: str = "127.0.0.1"
    port: int = 6379
    username: str | None = None
    password: SecretStr | None = None
    database: int = 0
    prefix: str = ""
    timeout: float | None = None
    read_timeout: float | None = None


class RedisConfig(_Model):
    client: str = "phpredis"
    cluster: str = "redis"
    prefix: str = ""
    serializer: str | None = None
    compression: str | None = None
    connections: dict[str, RedisConnectionConfig]
    clusters: dict[str, tuple[RedisConnectionConfig, ...]] = {}


class DatabaseConnectionConfig(_Model):
    name: str
    driver: Literal["sqlite", "mysql", "mariadb", "pgsql"]
    url: SecretStr | None = None
    database: str
    host: str = "127.0.0.1"
    port: int | None = None
    username: str | None = None
    password: SecretStr | None = None
    unix_socket: str | None = None
    charset: str = "utf8mb4"
    prefix: str = ""
    busy_timeout: int | None = None
    journal_mode: str | None = None
    synchronous: str | None = None
    transaction_mode: str | None = None
    sslmode: str | None = None
    ssl_ca: str | None = None
    version: str | None = None


class QueueConnectionConfig(_Model):
    name: str
    driver: Literal["sync", "database", "redis", "sqs", "null"]
    connection: str | None = None
    table: str = "jobs"
    queue: str = "default"
    retry_after: int | None = 60
    block_for: float | None = None
    after_commit: bool = False
    migration_batch_size: int = -1
    prefix: str = ""
    suffix: str = ""
    region: str = "us-east-1"
    key: SecretStr | None = None
    secret: SecretStr | None = None
    token: SecretStr | None = None
    endpoint: str | None = None
    wait_time: int | None = None


class FailedConfig(_Model):
    driver: str = "database-uuids"
    database: str | None = None
    table: str = "failed_jobs"
    path: Path | None = None
    limit: int = 100
    region: str = "us-east-1"
    key: SecretStr | None = None
    secret: SecretStr | None = None
    endpoint: str | None = None


class BatchingConfig(_Model):
    database: str | None = None
    table: str = "job_batches"


class QueueConfig(_Model):
    default: str = "database"
    connections: dict[str, QueueConnectionConfig]
    failed: FailedConfig
    batching: BatchingConfig


class CacheStoreConfig(_Model):
    name: str
    driver: Literal["redis", "database", "array", "file", "null", "memcached", "dynamodb"]
    connection: str | None = None
    lock_connection: str | None = None
    table: str = "cache"
    lock_table: str = "cache_locks"
    path: Path | None = None
    prefix: str | None = None


class CacheConfig(_Model):
    default: str = "database"
    prefix: str = ""
    schedule_store: str | None = None
    stores: dict[str, CacheStoreConfig]


class DatabaseConfig(_Model):
    default: str = "sqlite"
    connections: dict[str, DatabaseConnectionConfig]
    redis: RedisConfig


HORIZON_TRIM_DEFAULTS = {  # minutes, config/horizon.php `trim`
    "recent": 60, "pending": 60, "completed": 60, "recent_failed": 10080, "failed": 10080,
    "monitored": 10080,
}


class HorizonConfig(_Model):
    """`config/horizon.php`, the parts a foreign worker needs (read from env: the file is PHP).

    `enabled` None means "detect" (see laravel_queue.horizon.config); `installed` says
    whether the app's `config/horizon.php` exists; `trim` holds minutes per list.
    """

    enabled: bool | None = None
    prefix: str = "laravel_horizon:"
    prefix_from_env: bool = False
    use: str = "default"
    installed: bool = False
    trim: dict[str, int] = Field(default_factory=lambda: dict(HORIZON_TRIM_DEFAULTS))
    silenced: tuple[str, ...] = ()
    silenced_tags: tuple[str, ...] = ()


class Settings(_Model):
    """Laravel's `config()` tree, the parts a queue worker and scheduler read."""

    laravel_version: tuple[int, int] = (12, 99)
    app: AppConfig
    queue: QueueConfig
    database: DatabaseConfig
    cache: CacheConfig
    horizon: HorizonConfig = HorizonConfig()

    def queue_connection(self, name: str | None = None) -> QueueConnectionConfig:
        name = name or self.queue.default
        try:
            return self.queue.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.queue.connections))
            raise ConfigError(f"queue connection [{name}] is not configured (known: {known})") from None

    def db_connection(self, name: str | None = None) -> DatabaseConnectionConfig:
        name = name or self.database.default
        try:
            return self.database.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.database.connections))
            raise ConfigError(f"database connection [{name}] is not configured (known: {known})") from None

    def redis_connection(self, name: str | None = None) -> RedisConnectionConfig:
        name = name or "default"
        try:
            return self.database.redis.connections[name]
        except KeyError:
            raise ConfigError(f"Redis connection [{name}] is not configured") from None

    def cache_store(self, name: str | None = None) -> CacheStoreConfig:
        name = name or self.cache.default
        try:
            return self.cache.stores[name]
        except KeyError:
            raise ConfigError(f"cache store [{name}] is not configured") from None


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
    if not 8 <= major <= 13:
        raise ConfigError(f"LARAVEL_VERSION: supported majors are 10 to 13, got {raw!r}")
    return major, minor


class _Env:
    """Typed access to the merged environment; errors name the variable."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    def raw(self, name: str) -> str | bool | None:
        return env_value(self.values.get(name))

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return "1" if value else ""
        return value

    def is_null(self, name: str) -> bool:
        """Set to Laravel's `null` literal (env() then returns null, not the default)."""
        return name in self.values and self.raw(name) is None

    def req(self, name: str, default: str) -> str:
        value = self.str(name, default)
        return default if value is None else value

    def int(self, name: str, default: int | None) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {value!r}") from None

    def float(self, name: str, default: float | None) -> float | None:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if value in ("1", "on", "yes"):
            return True
        if value in ("0", "off", "no"):
            return False
        raise ConfigError(f"{name}: expected true or false, got {value!r}")

    def secret(self, name: str) -> SecretStr | None:
        value = self.str(name)
        return SecretStr(value) if value else None


def merged_environment(
    *,
    env_file: Path | None = None,
    app_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """CLI overrides > process environment > `.env` (from --env-file or --app/.env)."""
    process = dict(os.environ if environ is None else environ)
    path = env_file or (app_path / ".env" if app_path else None)
    merged = read_dotenv(path, process) if path else {}
    merged.update(process)
    merged.update(overrides or {})
    return merged


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
    env = _Env(merged_environment(env_file=env_file, app_path=app_path, environ=environ, overrides=overrides))
    base_path = app_path or (env_file.parent if env_file else Path.cwd())
    version = parse_laravel_version(env.str("LARAVEL_VERSION") or "12")
    return Settings(
        laravel_version=version,
        app=_app(env, base_path),
        queue=_queue(env),
        database=_database(env, base_path, version),
        cache=_cache(env, version),
        horizon=_horizon(env, base_path),
    )


def _app(env: _Env, base_path: Path) -> AppConfig:
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


def _queue(env: _Env) -> QueueConfig:
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


def _database(env: _Env, base_path: Path, version: tuple[int, int]) -> DatabaseConfig:
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
    connections = {name: _apply_db_url(cfg) for name, cfg in connections.items()}
    return DatabaseConfig(default=default, connections=connections, redis=_redis(env, version))


_URL_DRIVERS = {"mysql": "mysql", "mariadb": "mariadb", "pgsql": "pgsql", "postgres": "pgsql",
                "postgresql": "pgsql", "sqlite": "sqlite"}


def _apply_db_url(cfg: DatabaseConnectionConfig) -> DatabaseConnectionConfig:
    """Laravel's ConfigurationUrlParser: the parts of DB_URL win over the separate DB_* values."""
    if cfg.url is None:
        return cfg
    raw = cfg.url.get_secret_value()
    parsed = urlsplit(raw)
    scheme = parsed.scheme.lower()
    if scheme not in _URL_DRIVERS:
        raise ConfigError(f"DB_URL: unsupported scheme {scheme!r} (use mysql, mariadb, pgsql or sqlite)")
    if _URL_DRIVERS[scheme] != cfg.driver and not (cfg.driver == "mariadb" and scheme == "mysql"):
        return cfg  # a URL for another engine leaves this connection as configured
    updates: dict[str, Any] = {}
    if cfg.driver == "sqlite":
        rest = raw.split(":", 1)[1]  # sqlite:///relative, sqlite:////absolute, sqlite::memory:
        path = rest[3:] if rest.startswith("///") else rest.lstrip("/")
        updates["database"] = ":memory:" if path.endswith(":memory:") else unquote(path)
    else:
        try:
            port = parsed.port
        except ValueError:
            raise ConfigError("DB_URL: the port is not a number") from None
        if parsed.hostname:
            updates["host"] = parsed.hostname
        if port:
            updates["port"] = port
        if parsed.username:
            updates["username"] = unquote(parsed.username)
        if parsed.password is not None:
            updates["password"] = SecretStr(unquote(parsed.password))
        if parsed.path.strip("/"):
            updates["database"] = unquote(parsed.path.lstrip("/"))
        query = dict(parse_qsl(parsed.query))
        if "sslmode" in query:
            updates["sslmode"] = query["sslmode"]
        if "charset" in query:
            updates["charset"] = query["charset"]
    return cfg.model_copy(update=updates)


def _redis(env: _Env, version: tuple[int, int]) -> RedisConfig:
    separator = "-" if version >= (12, 0) else "_"
    app_slug = slug(env.req("APP_NAME", "laravel"), separator)
    prefix = env.req("REDIS_PREFIX", f"{app_slug}{separator}database{separator}")
    scheme = env.req("REDIS_SCHEME", "tcp")
    if scheme not in ("tcp", "tls"):
        raise ConfigError(f"REDIS_SCHEME: expected tcp or tls, got {scheme!r}")
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
            scheme=scheme,  # type: ignore[arg-type]
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


def _cache(env: _Env, version: tuple[int, int]) -> CacheConfig:
    if version >= (12, 0):
        default_prefix = slug(env.req("APP_NAME", "laravel"), "-") + "-cache-"
    elif version >= (9, 0):
        default_prefix = slug(env.req("APP_NAME", "laravel"), "_") + "_cache_"
    else:
        default_prefix = slug(env.req("APP_NAME", "laravel"), "_") + "_cache"
    store_var = "CACHE_STORE" if version >= (11, 0) else "CACHE_DRIVER"
    default_store = env.str(store_var) or env.str("CACHE_DRIVER") or ("database" if version >= (11, 0) else "file")
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


def _horizon(env: _Env, base_path: Path) -> HorizonConfig:
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


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret replaced by `********`."""
    return settings.model_dump(mode="json")
