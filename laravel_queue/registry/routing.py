"""Which PHP class (and method) a queued payload routes on, read without decoding the command.

Separate from the registry's table: these are Laravel's payload rules (`CallQueuedHandler`
with `commandName`, wrapper classes that queue another object, `Class@method` jobs), and
they hold for any registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from laravel_queue.job import Job
from laravel_queue.payload_codec import CALL_QUEUED_HANDLER, payload_dict

__all__ = ["CALL_QUEUED_LISTENER", "WRAPPER_CLASSES", "handler_candidates", "job_class_name"]

CALL_QUEUED_LISTENER = "Illuminate\\Events\\CallQueuedListener"

WRAPPER_CLASSES: Mapping[str, str | None] = {
    CALL_QUEUED_LISTENER: None,  # inner object: the event, data[0]
    "Illuminate\\Notifications\\SendQueuedNotifications": "notification",
    "Illuminate\\Mail\\SendQueuedMailable": "mailable",
    "Illuminate\\Broadcasting\\BroadcastEvent": "event",
}
"""Laravel classes that queue another object; jobs route by the wrapped object's class."""


def job_class_name(job: Job | Mapping[str, Any]) -> str:
    """The class a job routes on: commandName, a wrapper's inner class, or `Class` of `Class@method`."""
    payload = payload_dict(job)
    data = payload.get("data")
    if payload.get("job") == CALL_QUEUED_HANDLER and isinstance(data, dict):
        command_name = data.get("commandName")
        if isinstance(command_name, str) and command_name:
            if command_name in WRAPPER_CLASSES and payload.get("displayName"):
                return str(payload["displayName"])
            return command_name
        return str(payload.get("displayName") or CALL_QUEUED_HANDLER)
    return str(payload.get("job") or "").partition("@")[0]


def handler_candidates(payload: Mapping[str, Any], name: str) -> list[tuple[str, str | None]]:
    """The (class, method) registrations that may run a payload routed on `name`, best first.

    An object job tries its routed class, then the wrapper class itself; a `Class@method`
    job tries that method (`fire` when none is given), falling back to the class-wide one.
    """
    if payload.get("job") == CALL_QUEUED_HANDLER:
        candidates: list[tuple[str, str | None]] = [(name, None)]
        data = payload.get("data")
        command_name = data.get("commandName") if isinstance(data, dict) else None
        if isinstance(command_name, str) and command_name != name:
            candidates.append((command_name, None))  # a handler for the wrapper itself
        return candidates
    _, _, method = str(payload.get("job") or "").partition("@")
    return [(name, method or "fire")]
