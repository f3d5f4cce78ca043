"""The physical Redis keys of one Laravel queue name, as `RedisQueue` and PHP's scripts use them.

Separate from the driver because the naming is Laravel's contract with PHP workers
(`queues:Q`, `:delayed`, `:reserved`, `:notify`, Laravel 13's cluster hash tags) and holds
whatever the driver does with the keys.
"""

from __future__ import annotations

__all__ = ["QueueKeys", "has_hash_tag"]


def has_hash_tag(name: str) -> bool:
    """Redis Cluster's rule: a `{...}` with something inside decides the slot."""
    start = name.find("{")
    end = name.find("}", start + 1) if start >= 0 else -1
    return end > start + 1


class QueueKeys:
    """The four physical keys of one queue name."""

    __slots__ = ("delayed", "name", "notify", "queue", "reserved")

    def __init__(self, prefix: str, name: str, hash_tag: bool = False) -> None:
        self.name = name
        tagged = f"{{{name}}}" if hash_tag and not has_hash_tag(name) else name
        self.queue = f"{prefix}queues:{tagged}"
        self.delayed = f"{self.queue}:delayed"
        self.reserved = f"{self.queue}:reserved"
        self.notify = f"{self.queue}:notify"
