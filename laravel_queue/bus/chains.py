"""Job chains: continue a Laravel chain after a job succeeds in Python (spec §11.1, decision 2).

`Bus::chain([A, B, C])` queues A with `chained = [serialize(B), serialize(C)]`. When
A succeeds, the worker unserializes B, gives it the rest of the chain and A's
`chainConnection` / `chainQueue` / `chainCatchCallbacks`, falls back to those for
B's own connection and queue, and dispatches B. `next_in_chain` does that on the
PHP object with the lossless writer; `Chains` dispatches the result, so a chain can
start in PHP, run a step in Python and continue in PHP.

When a chained job fails for good the rest of the chain is dropped. The chain's
`catch` callbacks are PHP closures that a Python worker cannot run (decision 1):
they are left untouched, Python callbacks registered with `on_chain_catch` run, and
one structured warning names the closures that did not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from laravel_queue.awaitables import check_runnable, run_sync
from laravel_queue.errors import PayloadError
from laravel_queue.job import Job
from laravel_queue.payload_codec import CONTEXT_KEY
from laravel_queue.php import PhpObject, loads
from laravel_queue.signatures import positional
from laravel_queue.worker.lifecycle import JobLifecycle

log = logging.getLogger("laravel_queue.bus.chains")


class ChainError(PayloadError, ValueError):
    """The next element of `chained` is not a serialized PHP object."""


# -- building the next command --------------------------------------------------------------------


def _queueable_defaults(version: tuple[int, int]) -> list[tuple[str, Any]]:
    from laravel_queue.dispatch.command import queueable_defaults as defaults

    return defaults(version)


def _is_default(value: Any, default: Any) -> bool:
    """PHP's `===` against a property default (SerializesModels omits such properties)."""
    return type(value) is type(default) and value == default


def _set_in_declared_order(obj: PhpObject, name: str, value: Any, order: list[str]) -> None:
    """Set a Queueable property; a new one goes where PHP's declaration order puts it."""
    key = obj.key_of(name)
    if key is not None:
        obj.properties[key] = value
        return
    position = order.index(name)
    before = [n for n in order[:position] if obj.key_of(n) is not None]
    after = [n for n in order[position + 1 :] if obj.key_of(n) is not None]
    items = list(obj.properties.items())
    if before:
        anchor = obj.key_of(before[-1])
        index = next(i for i, (k, _) in enumerate(items) if k == anchor) + 1
    elif after:
        anchor = obj.key_of(after[0])
        index = next(i for i, (k, _) in enumerate(items) if k == anchor)
    else:
        index = len(items)
    items.insert(index, (name, value))
    obj.properties = dict(items)


def next_in_chain(
    command: PhpObject,
    *,
    serializes_models: bool = True,
    version: tuple[int, int] = (12, 99),
) -> PhpObject | None:
    """The next chained command as Laravel's `dispatchNextJobInChain` prepares it, or None.

    With `serializes_models` (the default job stub) properties equal to their
    Queueable default are left out, as PHP's SerializesModels writes them.
    """
    chained = command.get("chained")
    if isinstance(chained, dict):
        chained = list(chained.values())
    if not isinstance(chained, list) or not chained:
        return None
    first, rest = chained[0], chained[1:]
    if not isinstance(first, (str, bytes)):
        raise ChainError(f"chained[0] is a {type(first).__name__}, not a serialized job")
    from laravel_queue.php import PhpUnserializeError

    try:
        nxt = loads(first)
    except PhpUnserializeError as exc:
        raise ChainError(f"chained[0] is not PHP serialize data: {exc}") from None
    if not isinstance(nxt, PhpObject):
        raise ChainError(f"chained[0] holds a {type(nxt).__name__}, not a job object")

    chain_connection = command.get("chainConnection")
    chain_queue = command.get("chainQueue")
    updates = {
        "chained": rest,
        "connection": nxt.get("connection") or chain_connection,
        "queue": nxt.get("queue") or chain_queue,
        "chainConnection": chain_connection,
        "chainQueue": chain_queue,
        "chainCatchCallbacks": command.get("chainCatchCallbacks"),
    }
    defaults = dict(_queueable_defaults(version))
    order = list(defaults)
    for name, value in updates.items():
        if serializes_models and _is_default(value, defaults.get(name)):
            if nxt.key_of(name) is not None:
                del nxt[name]
            continue
        _set_in_declared_order(nxt, name, value, order)
    return nxt


def dispatch_next(
    connections: Any,
    job: Job,
    command: PhpObject,
    *,
    registry: Any = None,
) -> str | int | None:
    """Queue the next command of `command`'s chain as PHP would; returns the new job id
    (None: no chain, or the next job is unique and its lock is held).

    PHP advances a chain with the `dispatch()` helper, so this goes through
    `laravel_queue.dispatch.dispatch`: knobs from the next command's properties and its
    registry declarations, a `ShouldBeUnique` lock taken the same way, and the running
    job's context carried on, as PHP's worker carries its hydrated Context into jobs it
    dispatches.
    """
    from laravel_queue.dispatch import dispatch
    from laravel_queue.registry import default_registry

    registry = default_registry if registry is None else registry
    settings = connections.settings
    nxt = next_in_chain(command, version=settings.laravel_version)
    if nxt is None:
        return None
    if not registry.options_for(str(nxt.class_name)).serializes_models:  # PHP writes every property
        nxt = next_in_chain(command, serializes_models=False, version=settings.laravel_version)
        assert nxt is not None
    context = job.payload.get(CONTEXT_KEY)
    return dispatch(
        nxt,
        connections=connections,
        registry=registry,
        context=context if isinstance(context, dict) else None,
    )


# -- Python chain-catch callbacks ---------------------------------------------------------------

ChainCatchCallback = Callable[..., Any]


@dataclass(frozen=True)
class _ChainCatch:
    callback: ChainCatchCallback
    job_class: str | None


class ChainCallbacks:
    """Python callbacks run when a chained job fails for good (PHP's chain `catch`)."""

    def __init__(self) -> None:
        self._entries: list[_ChainCatch] = []

    def on_chain_catch(self, callback: ChainCatchCallback, *, job_class: str | None = None) -> ChainCatchCallback:
        check_runnable(callback, "the on_chain_catch callback")
        if not callable(callback):
            raise TypeError(f"on_chain_catch needs a callable, got {callback!r}")
        self._entries.append(_ChainCatch(callback, job_class.lstrip("\\") if job_class else None))
        return callback

    def matching(self, php_class: str | None) -> list[ChainCatchCallback]:
        return [e.callback for e in self._entries if e.job_class is None or e.job_class == php_class]

    def clear(self) -> None:
        self._entries.clear()


default_chain_callbacks = ChainCallbacks()


def on_chain_catch(
    callback: ChainCatchCallback | None = None,
    *,
    job_class: str | None = None,
    callbacks: ChainCallbacks | None = None,
) -> Any:
    """Call `callback(exc)` or `callback(job, command, exc)` when a job of a chain fails for good.

    `job_class` limits it to chains whose failing job has that PHP class. Usable as a
    decorator: `@on_chain_catch(job_class="App\\\\Jobs\\\\Step")`.
    """
    registry = callbacks or default_chain_callbacks
    if callback is None:
        return lambda fn: registry.on_chain_catch(fn, job_class=job_class)
    return registry.on_chain_catch(callback, job_class=job_class)


def is_chained(command: Any) -> bool:
    """True for a command that is part of a chain (Bus::chain sets chainCatchCallbacks to an array)."""
    if not isinstance(command, PhpObject):
        return False
    chained = command.get("chained")
    return bool(chained) or isinstance(command.get("chainCatchCallbacks"), (list, dict))


class Chains(JobLifecycle):
    """Dispatches the next chained job after success; runs the chain's Python catch callbacks on failure."""

    def __init__(self, connections: Any, registry: Any = None, callbacks: ChainCallbacks | None = None) -> None:
        self.connections = connections
        self.registry = registry
        self.callbacks = callbacks or default_chain_callbacks

    def after_handle(self, job: Job, prepared: Any) -> None:
        if job.has_failed() or job.is_released():
            return
        command = prepared.command
        if isinstance(command, PhpObject) and command.properties.get("chained"):  # Queueable's are public
            job_id = dispatch_next(self.connections, job, command, registry=self.registry)
            log.debug("chain of %s continued with job %s", job.display_name, job_id)

    def after_failure(self, job: Job, prepared: Any | None, exc: BaseException | None) -> None:
        command = prepared.command if prepared is not None else None
        if not is_chained(command):
            return
        assert isinstance(command, PhpObject)
        php_class = str(command.class_name)
        for callback in self.callbacks.matching(php_class):
            _call_catch(callback, job, command, exc)
        closures = command.get("chainCatchCallbacks")
        count = len(closures) if isinstance(closures, (list, dict)) else 0
        remaining = command.get("chained")
        dropped = len(remaining) if isinstance(remaining, (list, dict)) else 0
        if count:
            log.warning(
                "chain of %s failed: %d PHP catch closure(s) not run by the Python worker; %d chained job(s) dropped",
                php_class,
                count,
                dropped,
                extra={
                    "laravel_queue_event": "php_chain_catch_not_run",
                    "job_class": php_class,
                    "job_uuid": job.uuid,
                    "callbacks": {"catch": count},
                    "dropped_jobs": dropped,
                },
            )


def _call_catch(callback: ChainCatchCallback, job: Job, command: Any, exc: BaseException | None) -> None:
    try:
        takes = positional(callback)
        full = takes is not None and takes.takes(3)
        run_sync(callback(job, command, exc) if full else callback(exc))
    except Exception:  # PHP would report it; the failure itself is already recorded
        log.exception("chain catch callback %r raised", callback)
