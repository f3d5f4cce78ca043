"""The queue-connection contract every driver implements (Laravel's `Queue` contract)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from laravel_queue.job import Job

if TYPE_CHECKING:
    from laravel_queue.cache.base import CacheStore
    from laravel_queue.drivers.wake import PushWait


class ControlKeys(Protocol):
    """Where a driver's `pop_with_control` reads the worker's restart and pause keys.

    Values travel as the cache store stores them (`encode`/`decode` are its rules), so the
    pop can compare the restart value without decoding it on the server.
    """

    def encode(self, value: Any) -> Any:
        """The stored form of `value`, as the cache store writes it."""

    def decode(self, raw: Any) -> Any:
        """A stored value read by the pop, decoded as the cache store's `get` would."""


@dataclass(frozen=True)
class ControlledPop:
    """One `pop_with_control`: the stored control values it read, and the job if it popped.

    `restart` and `paused` are the stored forms (None when absent; decode them with
    `ControlKeys.decode`). `skipped` says why nothing was popped: "restart" (the restart
    value is not the expected one) or "paused" (the queue's paused key holds a value);
    None when the pop ran: the restart value was the expected one and the queue not paused.
    """

    job: Job | None
    restart: Any
    paused: Any
    skipped: Literal["restart", "paused"] | None


class Queue(ABC):
    """One configured queue connection: push, pop, size and clear on named queues."""

    def __init__(self, *, connection_name: str, default_queue: str = "default") -> None:
        self.connection_name = connection_name
        self.default_queue = default_queue

    @property
    def pop_may_wait(self) -> bool:
        """True when a pop can block for long (BLPOP, SQS long polling, a remote API): the
        worker then writes out its held-back console line before popping."""
        return False

    def busy_poll(self, microseconds: int) -> None:
        """`queue:work --busy-poll`: how long a pop may spin on its reply before sleeping in
        the kernel. Drivers that cannot (or need not) poll ignore it."""

    def get_queue(self, queue: str | None) -> str:
        return queue or self.default_queue

    def prepare_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Add the driver's own envelope fields (Redis: `id`, `attempts`) before encoding."""
        return payload

    @abstractmethod
    def push_raw(self, payload: str, queue: str | None = None, *, delay: int = 0) -> str | int | None:
        """Store an encoded payload, ready now or after `delay` seconds; returns the job id."""

    @abstractmethod
    def pop(self, queue: str | None = None, index: int = 0, *, ack: Job | None = None) -> Job | None:
        """Reserve the next available job of one queue (`index`: its place in the priority list).

        `ack`, when given, is a finished job of this connection that the worker marked with
        `Job.delete_later()`: the driver removes it from storage in the same round trip or
        transaction as this reservation, whether or not a job is found. This is how the
        worker reaches several times Laravel's throughput without changing what is stored.
        """

    #: True when `control_keys` takes `pause_all_key` (Laravel 13's `illuminate:queues:paused`)
    #: and `pop_with_control` reads it with the queue's own pause key.
    reads_pause_all_key = False

    def control_keys(
        self, store: CacheStore, *, restart_key: str, paused_keys: Mapping[str, str]
    ) -> ControlKeys | None:
        """Keys for `pop_with_control` when this driver can read `store` inside its pop (the
        worker then needs no separate cache read per job); None: the worker reads the store."""
        return None

    def pop_with_control(
        self,
        queue: str | None,
        index: int = 0,
        *,
        ack: Job | None = None,
        control: ControlKeys,
        restart: Any,
    ) -> ControlledPop:
        """`pop` that first reads the restart key and this queue's paused key, atomically with it.

        `restart` is the stored restart value the worker expects (None: absent). When the
        stored value differs, or the paused key holds a value, nothing is reserved and the
        worker decides (stop, or skip the queue). The ack is applied in every case. Only
        called with keys this driver's `control_keys` returned."""
        raise NotImplementedError(f"{type(self).__name__} reads no control keys in its pop")

    def push_wait(self) -> PushWait | None:
        """How an idle worker waits for a push (drivers/wake.py); None: it sleeps `--sleep`, as Laravel's."""
        return None

    def flush_acks(self, jobs: list[Job]) -> None:
        """Remove jobs marked `delete_later()` that no pop has carried (worker stopping)."""
        for job in jobs:
            job._delete_from_backend()

    @abstractmethod
    def size(self, queue: str | None = None) -> int: ...

    def pending_size(self, queue: str | None = None) -> int | None:
        return None

    def delayed_size(self, queue: str | None = None) -> int | None:
        return None

    def reserved_size(self, queue: str | None = None) -> int | None:
        return None

    def creation_time_of_oldest_pending_job(self, queue: str | None = None) -> int | None:
        return None

    @abstractmethod
    def clear(self, queue: str | None = None) -> int:
        """Delete every job of the queue; returns how many there were."""

    def close(self) -> None:
        """Release network resources."""
