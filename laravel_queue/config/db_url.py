"""DB_URL: Laravel's ConfigurationUrlParser for one database connection."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from laravel_queue.config.errors import ConfigError
from laravel_queue.config.models import DatabaseConnectionConfig, SecretStr

URL_DRIVERS = {"mysql": "mysql", "mariadb": "mariadb", "pgsql": "pgsql", "postgres": "pgsql",
                "postgresql": "pgsql", "sqlite": "sqlite"}


def apply_db_url(cfg: DatabaseConnectionConfig) -> DatabaseConnectionConfig:
    """Laravel's ConfigurationUrlParser: the parts of DB_URL win over the separate DB_* values."""
    if cfg.url is None:
        return cfg
    raw = cfg.url.get_secret_value()
    parsed = urlsplit(raw)
    scheme = parsed.scheme.lower()
    if scheme not in URL_DRIVERS:
        raise ConfigError(f"DB_URL: unsupported scheme {scheme!r} (use mysql, mariadb, pgsql or sqlite)")
    if URL_DRIVERS[scheme] != cfg.driver and not (cfg.driver == "mariadb" and scheme == "mysql"):
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
