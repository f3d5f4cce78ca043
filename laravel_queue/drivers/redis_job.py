"""A job reserved from Redis: the listed element and its exact reserved copy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from laravel_queue.job import InvalidPayloadError, Job

if TYPE_CHECKING:
    from laravel_queue.drivers.redis import RedisQueue


class RedisJob(Job):
    """A reserved Redis job: the original list element plus the exact reserved copy.

    `raw_bytes` is the element as it was listed (what `failed_jobs.payload` stores);
    `reserved` is the cjson copy with attempts incremented, byte for byte, because
    delete and release find the reservation by that exact member.
    """

    def __init__(
        self,
        driver: RedisQueue,
        *,
        raw: bytes,
        reserved: bytes,
        queue: str,
        attempts: int | None = None,
    ) -> None:
        body = raw.decode("utf-8", "replace")
        super().__init__(raw_body=body, queue=queue, connection_name=driver.connection_name)
        self.driver = driver
        self.raw_bytes = raw
        self.reserved = reserved
        self._attempts = attempts

    def attempts(self) -> int:
        """Original payload `attempts` + 1 (Laravel counts at reservation)."""
        if self._attempts is None:
            try:
                self._attempts = int(self.payload.get("attempts") or 0) + 1
            except (InvalidPayloadError, TypeError, ValueError):
                self._attempts = 1
        return self._attempts

    @property
    def job_id(self) -> str | None:
        try:
            value = self.payload.get("id")
        except InvalidPayloadError:
            return None
        return None if value is None else str(value)

    def _delete_from_backend(self) -> None:
        self.driver.delete_reserved(self.queue, self.reserved)

    def _release_to_backend(self, delay: int) -> None:
        self.driver.delete_and_release(self.queue, self.reserved, delay)

    def give_back(self) -> None:
        """Return the job exactly as it was listed, attempt not consumed (`--unknown=release`)."""
        self._released = True
        self.driver.give_back(self.queue, self.raw_bytes, self.reserved)

    def shed_body(self, *, acknowledged: bool = False) -> None:
        """Also drop the listed bytes (`reserved` stays until the deferred delete has used it)
        and the reply buffers that still hold the pop's reply."""
        super().shed_body(acknowledged=acknowledged)
        self.raw_bytes = b""
        if acknowledged:
            self.reserved = b""
        self.driver.release_read_buffers()
