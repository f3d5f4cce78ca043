"""Sending: `dispatch()` and `push_raw()` onto the connections they are given, or the process's."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from laravel_queue import compat, horizon
from laravel_queue.dispatch.command import Delay, delay_seconds, needs_encrypter, prepare
from laravel_queue.dispatch.envelope import envelope, with_context
from laravel_queue.dispatch.unique import unique_lock_for
from laravel_queue.payload_codec import payload_dict, php_json_encode
from laravel_queue.registry import Registry, default_registry
from laravel_queue.service_errors import service_errors

if TYPE_CHECKING:
    from laravel_queue.connections import Connections
    from laravel_queue.payload import Payload

log = logging.getLogger("laravel_queue.dispatch")


class Dispatcher:
    """Dispatches onto one explicit set of connections with one job registry.

    The worker gives each job's code a dispatcher on the worker's own connections; code
    outside a worker uses `default_dispatcher()`, built from the environment on first use.
    """

    def __init__(self, connections: Connections, registry: Registry | None = None) -> None:
        self.connections = connections
        self.registry = default_registry if registry is None else registry

    def dispatch(
        self,
        command: Any,
        *,
        connection: str | None = None,
        queue: str | None = None,
        delay: Delay = None,
        context: Mapping[str, Any] | None = None,
    ) -> str | int | None:
        """See the module-level `dispatch()`."""
        from laravel_queue.bus.encryption import Encrypter

        conns, registry = self.connections, self.registry
        version = conns.settings.laravel_version
        encrypter = Encrypter.from_settings(conns.settings) if needs_encrypter(command, registry) else None
        resolved = prepare(command, connection, queue, delay, registry, version)
        public = resolved.public
        debounce = _debounce_module(resolved.options)
        if debounce is not None:
            debounce.check_not_unique(str(resolved.obj.class_name), resolved.options)
        with service_errors():
            unique = unique_lock_for(command, resolved, conns)
            if unique is not None and not unique.lock.acquire():
                log.info(
                    "unique job already queued: %s not dispatched (lock %s is held)",
                    resolved.obj.class_name,
                    unique.key,
                    extra={"laravel_queue_event": "unique_job_skipped", "job_class": str(resolved.obj.class_name)},
                )
                return None
        try:
            if unique is not None:
                if compat.unique_lock_has_owner(version):
                    resolved.obj["uniqueLockOwner"] = unique.lock.owner
                context = unique.context(context, version)
            if debounce is not None:
                debounce.stamp_dispatch(resolved.obj, public, resolved.options, conns)
            payload = with_context(envelope(resolved, encrypter, version), context)
            return self.push_raw(
                payload,
                connection=connection or _str_or_none(public.get("connection")),
                queue=queue or _str_or_none(public.get("queue")),
                delay=delay_seconds(public.get("delay")) or delay,
            )
        except BaseException:
            if unique is not None:
                unique.release_after_failed_dispatch()
            raise

    def push_raw(
        self,
        payload: str | Mapping[str, Any] | Payload,
        *,
        connection: str | None = None,
        queue: str | None = None,
        delay: Delay = None,
    ) -> str | int | None:
        """See the module-level `push_raw()`."""
        with service_errors():
            driver = self.connections.queue(connection)
            seconds = delay_seconds(delay)
            if isinstance(payload, str):
                encoded = payload
            else:
                body = payload_dict(payload)  # a Payload's dict, or a copy of the mapping
                if "id" not in body and "attempts" not in body:
                    body = driver.prepare_payload(body)
                if "delay" in body and seconds and body["delay"] is None:
                    body["delay"] = seconds
                encoded = horizon.encoded_payload(body, driver, self.connections.settings) or php_json_encode(body)
            job_id = driver.push_raw(encoded, queue, delay=seconds)
            horizon.record_push(encoded, driver, queue, self.connections.settings, self.connections)
            return job_id


class _ProcessDefault:
    """The dispatcher `dispatch()` uses when given no connections: one per process, explicit
    (set by `set_default_connections`) or built from the environment on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dispatcher: Dispatcher | None = None

    def get(self) -> Dispatcher:
        with self._lock:
            if self._dispatcher is None:
                from laravel_queue.config import load_settings
                from laravel_queue.connections import Connections

                self._dispatcher = Dispatcher(Connections(load_settings()))
            return self._dispatcher

    def set(self, connections: Connections | None) -> None:
        with self._lock:
            self._dispatcher = None if connections is None else Dispatcher(connections)


_process_default = _ProcessDefault()


def default_dispatcher() -> Dispatcher:
    """The process's dispatcher (connections from the environment unless `set_default_connections`)."""
    return _process_default.get()


def set_default_connections(connections: Connections | None) -> None:
    """Use these connections when `dispatch`/`push_raw` get none (None: back to the environment's)."""
    _process_default.set(connections)


def _dispatcher(connections: Connections | None, registry: Registry | None = None) -> Dispatcher:
    if connections is None and registry is None:
        return _process_default.get()
    return Dispatcher(connections if connections is not None else _process_default.get().connections, registry)


def dispatch(
    command: Any,
    *,
    connection: str | None = None,
    queue: str | None = None,
    delay: Delay = None,
    connections: Connections | None = None,
    registry: Registry | None = None,
    context: Mapping[str, Any] | None = None,
) -> str | int | None:
    """Queue a PHP job (see the package docstring for command forms); returns the driver's job id.

    Like PHP, a command's own `connection`/`queue`/`delay` properties choose where it
    goes unless overridden here. Like PHP's `dispatch()` helper, a command declared
    unique (`JobOptions(unique=...)`) first takes its `ShouldBeUnique` lock: when another
    dispatch holds it nothing is queued and None is returned (spec §12.1). `context` is a
    Laravel Context (`{"data": ..., "hidden": ...}`) to carry, e.g. the running job's.
    Redis or a database that cannot be reached raises a `ServiceConnectionError`.
    """
    return _dispatcher(connections, registry).dispatch(
        command, connection=connection, queue=queue, delay=delay, context=context
    )


def push_raw(
    payload: str | Mapping[str, Any] | Payload,
    *,
    connection: str | None = None,
    queue: str | None = None,
    delay: Delay = None,
    connections: Connections | None = None,
) -> str | int | None:
    """Push an envelope. A string is stored verbatim (Laravel's `pushRaw`); a dict or Payload
    first gets the driver's fields (Redis `id`/`attempts`) unless it already has them."""
    return _dispatcher(connections).push_raw(payload, connection=connection, queue=queue, delay=delay)


def _debounce_module(options: Any) -> Any:
    """`bus.debounce` for a debounced job; None otherwise (the module is not on `dispatch`'s start-up path)."""
    if getattr(options, "debounce_for", None) is None:
        return None
    from laravel_queue.bus import debounce

    return debounce


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
