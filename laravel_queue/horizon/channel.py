"""One Redis connection on which a write's reply may be read later.

Horizon bookkeeping makes two writes per job: the reserved write when the job is
popped and the finish write when its fate is decided. The reserved write goes out at
once (Horizon shows the job as reserved while it runs), but its reply is read together
with the finish write's, so a job waits for Redis once for its bookkeeping, not twice.
redis-py makes and handshakes the connection (AUTH, SELECT, TLS...); the calls are its
public `send_command` / `read_response`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("laravel_queue.horizon")


class DeferredReplies:
    """Commands sent in order on one connection; `wait=False` leaves the reply for the next `wait=True`."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._connection: Any = None
        self._unread = 0
        self._lock = threading.Lock()

    def send(self, *command: Any, wait: bool = True) -> Any:
        """Send `command`; with `wait`, read every outstanding reply and return this command's.

        An error reply to this command raises; one to an earlier command left unread is
        logged (it belongs to an earlier stage, already done). A connection error drops
        the connection and the unread replies and raises; the next call reconnects.
        """
        with self._lock:
            try:
                connection = self._connection
                if connection is None:
                    connection = self._connection = self._client.connection_pool.make_connection()
                connection.send_command(*command)
                self._unread += 1
                return self._read_all() if wait else None
            except (RedisConnectionError, RedisTimeoutError, OSError):
                self.close()
                raise

    def _read_all(self) -> Any:
        reply: Any = None
        while self._unread:
            self._unread -= 1
            try:
                reply = self._connection.read_response()
            except ResponseError as exc:
                if not self._unread:
                    raise
                log.warning("Horizon bookkeeping write failed: %s; the job itself is unaffected", exc,
                            extra={"laravel_queue_event": "horizon_write_failed"})
        return reply

    def close(self) -> None:
        self._unread = 0
        if self._connection is not None:
            self._connection.disconnect()
            self._connection = None
