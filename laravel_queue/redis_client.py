"""redis-py clients built from Laravel's `database.redis` config.

One factory so the queue driver, the cache store and the scheduler talk to the same
server, database index and credentials PHP uses. Keys are NOT prefixed here (redis-py
has no client-side prefix): callers prepend `redis_key_prefix(settings, name)` the way
phpredis applies `OPT_PREFIX`, which keeps the prefix visible in every key we build.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from laravel_queue.config import ConfigError, Settings
from laravel_queue.config.settings import RedisConnectionConfig

if TYPE_CHECKING:  # redis-py is imported by the first client made (80-130 ms: not on every start-up path)
    import redis
    from redis.cluster import RedisCluster

_TLS_URL_SCHEMES = {"rediss", "tls"}
_URL_SCHEMES = {"redis", "tcp", *_TLS_URL_SCHEMES}


def make_redis_client(settings: Settings, name: str = "default") -> redis.Redis | RedisCluster:
    """A client for `database.redis.<name>`; a `RedisCluster` when `<name>` is a cluster."""
    redis_config = settings.database.redis
    if name in redis_config.clusters:
        return _cluster_client(redis_config.clusters[name])
    import redis

    cfg = settings.redis_connection(name)
    return redis.Redis(**connection_kwargs(cfg))


def redis_key_prefix(settings: Settings, name: str = "default") -> str:
    """The key prefix (phpredis `OPT_PREFIX`) of a Redis connection or cluster."""
    redis_config = settings.database.redis
    if name in redis_config.clusters:
        nodes = redis_config.clusters[name]
        return nodes[0].prefix if nodes else redis_config.prefix
    return settings.redis_connection(name).prefix


def is_cluster(client: Any) -> bool:
    cluster = sys.modules.get("redis.cluster")  # never imported: no client can be a cluster client
    return cluster is not None and isinstance(client, cluster.RedisCluster)


def connection_kwargs(cfg: RedisConnectionConfig) -> dict[str, Any]:
    """redis-py keyword arguments for one connection; `url` parts win over the separate keys."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # One immediate retry replaces a socket the server closed while idle; a real
    # outage surfaces at once as ConnectionError for the worker to handle.
    return {**connection_params(cfg), "retry": Retry(NoBackoff(), 1)}


def connection_params(cfg: RedisConnectionConfig) -> dict[str, Any]:
    """`connection_kwargs` without redis-py's objects: address, database, credentials, timeouts, TLS."""
    host, port, database = cfg.host, cfg.port, cfg.database
    username = cfg.username
    password = cfg.password.get_secret_value() if cfg.password else None
    tls = cfg.scheme == "tls"
    if cfg.url is not None:
        url = urlsplit(cfg.url.get_secret_value())
        if url.scheme not in _URL_SCHEMES:
            raise ConfigError(
                f"REDIS_URL: unsupported scheme {url.scheme!r} (use redis://, rediss:// or tls://)"
            )
        tls = tls or url.scheme in _TLS_URL_SCHEMES
        host = url.hostname or host
        port = url.port or port
        username = unquote(url.username) if url.username else username
        password = unquote(url.password) if url.password else password
        path = url.path.strip("/")
        if path:
            if not path.isdigit():
                raise ConfigError("REDIS_URL: the path must be a database index such as /0")
            database = int(path)
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "db": database,
        "username": username,
        "password": password,
        "socket_connect_timeout": cfg.timeout or None,
        "socket_timeout": cfg.read_timeout or None,
        "socket_keepalive": True,
        "decode_responses": False,
    }
    if tls:
        kwargs["ssl"] = True
    return kwargs


def _cluster_client(nodes: tuple[RedisConnectionConfig, ...]) -> RedisCluster:
    from redis.cluster import ClusterNode, RedisCluster

    if not nodes:
        raise ConfigError("Redis cluster has no nodes (REDIS_CLUSTER_NODES)")
    first = connection_kwargs(nodes[0])
    first.pop("db")  # a cluster has only database 0
    first.pop("host")
    first.pop("port")
    first.pop("retry")  # RedisCluster retries per node itself
    startup = [ClusterNode(n.host, n.port) for n in nodes]  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    return RedisCluster(startup_nodes=startup, **first)
