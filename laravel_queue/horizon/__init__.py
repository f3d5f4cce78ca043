"""Horizon bookkeeping: jobs Python runs or dispatches appear in Laravel Horizon like PHP's.

Horizon keeps no process state about a job beyond a stopwatch: its dashboard reads
a Redis keyspace (`horizon.prefix`) that its PHP listeners write at push, reserve,
release, delete and failure. This package writes the same keys from Python
(docs/horizon.md, spec horizon.md §5), and never what Horizon's own processes own:
trims, snapshots, masters/supervisors, commands, tag monitoring.

* config.py: when it is on (`resolve_mode`) and what `config:show` prints (`describe`);
* store.py / scripts.py / channel.py: the writes, one wait for Redis per job;
* listener.py: the worker side (`attach_listener`);
* producer.py: the dispatch side (`encoded_payload`, `record_push`).

The entry points below decide on the mode first and import the rest only when
bookkeeping is on, so apps without Horizon pay nothing at import or dispatch time.
"""

from __future__ import annotations

import logging
from typing import Any

from laravel_queue.config import Settings
from laravel_queue.horizon.config import HorizonMode, describe, resolve_mode

log = logging.getLogger("laravel_queue.horizon")


def attach_listener(events: Any, connections: Any, settings: Settings, flag: bool | None = None) -> bool:
    """Add Horizon bookkeeping to a worker's events unless it is off; returns whether it was added."""
    mode = resolve_mode(settings, flag)
    if not mode.worker_enabled:
        return False
    from laravel_queue.horizon.listener import HorizonListener
    from laravel_queue.horizon.producer import store_for
    from laravel_queue.redis_client import is_cluster

    store = store_for(connections, settings)
    if is_cluster(store.client):
        log.warning("Horizon bookkeeping is off: Horizon's keyspace is on a Redis cluster connection")
        return False
    HorizonListener(store, mode).attach(events)
    log.info("Horizon bookkeeping: %s (%s), prefix %s", mode.mode, mode.reason, mode.prefix)
    return True


def encoded_payload(body: dict[str, Any], driver: Any, settings: Settings) -> str | None:
    """The payload as Horizon's RedisQueue stores it, or None when dispatch bookkeeping is off."""
    if not resolve_mode(settings).producer_enabled:
        return None
    from laravel_queue.horizon import producer

    return producer.encoded_payload(body, driver, settings)


def record_push(encoded: str, driver: Any, queue: str | None, settings: Settings, connections: Any) -> None:
    """After a push: Horizon's pending record, when dispatch bookkeeping is on (best-effort)."""
    if not resolve_mode(settings).producer_enabled:
        return
    from laravel_queue.horizon import producer

    producer.record_push(encoded, driver, queue, settings, connections)


__all__ = ["HorizonMode", "attach_listener", "describe", "encoded_payload", "record_push", "resolve_mode"]
