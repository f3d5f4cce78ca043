"""The Redis queue's hot-path transport: the worker's per-job script on a raw socket.

Kept beside the client (`laravel_queue.redis_client`) and the driver (`drivers.redis`),
which is its only user; see `HotPathConnection` for why it exists and how errors behave.
"""

from __future__ import annotations

import os
import select
import time
from typing import Any

_HOT_READ_SIZE = 65536  # recv_into buffer; a bigger reply is fed to the reader in pieces


class HotPathConnection:
    """One connection of the client's pool kept by the queue for the worker's per-job script.

    Through redis-py, a job's EVALSHA spends ~10 µs of ~25 µs on the client: packing
    (a generator with isinstance per argument), the pool's unread-data poll, metrics
    and connection layers. So redis-py only makes and handshakes the connection (AUTH or
    ACL user, HELLO/protocol, SELECT, TLS, unix socket, client name); each call is then
    one `hiredis.pack_command` + `sendall`, and the reply is read with `recv_into` into a
    preallocated buffer and parsed by that connection's own hiredis reader, so replies
    are exactly what `read_response()` returns (RESP2 or RESP3, bytes or decoded). A
    connection whose parser is not hiredis goes through `send_command`/`read_response`.

    With `spin_ns` (`queue:work --busy-poll`) the wait for a reply first polls the socket
    without sleeping, yielding the CPU on every turn, and only then blocks in `recv`: a
    sleeping process is woken through the scheduler (on a VM, an interrupt to a halted
    vCPU), which can cost more than the script itself. Off by default: it trades CPU for
    latency and only pays where the worker has a core to itself.

    Errors behave as through the client: NOSCRIPT loads the script and retries once;
    another error reply raises redis-py's exception for it (ResponseError, NoPermission,
    Busy...); a connection error drops the socket and any half-read reply (the next call
    reconnects) and propagates as redis-py's ConnectionError/TimeoutError to the worker,
    which logs it and backs off.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._connection: Any = None
        self._sock: Any = None  # set while connected with a hiredis parser
        self._reader: Any = None  # that parser's hiredis.Reader
        self._not_enough_data: object = None  # what the reader's gets() returns for "need more"
        self._push_type: Any = ()  # hiredis.PushNotification (hiredis >= 3.2)
        self._pack_command: Any = None  # hiredis.pack_command, set with _sock
        self._buffer = bytearray(_HOT_READ_SIZE)
        self._view = memoryview(self._buffer)
        self.spin_ns = 0  # busy-poll budget per reply wait (0: block at once)
        self._poller: Any = None  # select.poll on _sock, for the busy-poll

    def run(self, script: Any, keys: list[Any], args: list[Any]) -> Any:
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return self._call(command)
        except Exception as exc:
            from redis.exceptions import NoScriptError

            if not isinstance(exc, NoScriptError):
                raise
        self._client.script_load(script.script)
        return self._call(command)

    def _call(self, command: tuple[Any, ...]) -> Any:
        sock = self._sock
        if sock is None:
            sock = self._connect()
            if sock is None:
                return self._call_through_redis_py(command)
        try:
            packed = self._pack_command(command)
        except TypeError as exc:  # as redis-py's HiredisRespSerializer
            from redis.exceptions import DataError

            raise DataError(exc) from exc
        reader = self._reader
        not_enough_data = self._not_enough_data
        reading = False
        try:
            sock.sendall(packed)
            reading = True
            while True:
                reply = reader.gets()
                while reply is not_enough_data:
                    if self.spin_ns:
                        self._spin_until_readable()
                    got = sock.recv_into(self._buffer)
                    if not got:
                        from redis._parsers.socket import SERVER_CLOSED_CONNECTION_ERROR
                        from redis.exceptions import ConnectionError as RedisConnectionError

                        raise RedisConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
                    reader.feed(self._view, 0, got)
                    reply = reader.gets()
                if type(reply) is list and not (reply and isinstance(reply[0], Exception)):
                    return reply  # the pop scripts' reply
                if not isinstance(reply, self._push_type):
                    break
                self._connection._parser.handle_push_response(reply)  # as read_response does
        except BaseException as exc:
            self._disconnect()
            error = self._connection_error(exc, reading=reading)
            if error is exc:
                raise
            raise error from exc
        return self._checked(reply)

    def _spin_until_readable(self) -> None:
        """Poll (timeout 0) until the reply is readable or `spin_ns` has passed; each empty
        poll yields, so other runnable work on this core (Redis, other workers) goes first."""
        poll = self._poller.poll
        clock = time.perf_counter_ns
        deadline = clock() + self.spin_ns
        while not poll(0) and clock() < deadline:
            os.sched_yield()

    def _checked(self, reply: Any) -> Any:
        """What `Connection.read_response` does with an error (or error-led) reply."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import ResponseError

        first = reply[0] if type(reply) is list else None
        if isinstance(reply, RedisConnectionError) or isinstance(first, RedisConnectionError):
            self._disconnect()
            raise reply if first is None else first
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def _connect(self) -> Any:
        """Connect through redis-py; the socket for the hiredis path, or None for redis-py's."""
        connection = self._connection
        if connection is None:
            connection = self._connection = self._client.connection_pool.make_connection()
        connection.connect()
        try:
            import hiredis
            from redis._parsers.hiredis import NOT_ENOUGH_DATA, _HiredisParser
        except ImportError:
            return None
        parser = getattr(connection, "_parser", None)
        if not isinstance(parser, _HiredisParser) or not hasattr(parser, "handle_push_response"):
            return None
        sock, reader = getattr(connection, "_sock", None), getattr(parser, "_reader", None)
        if sock is None or reader is None:
            return None
        self._reader = reader
        self._not_enough_data = NOT_ENOUGH_DATA
        self._push_type = getattr(hiredis, "PushNotification", ())
        self._pack_command = hiredis.pack_command
        self._poller = select.poll()
        self._poller.register(sock, select.POLLIN)
        self._sock = sock
        return sock

    def _call_through_redis_py(self, command: tuple[Any, ...]) -> Any:
        """The connection's own path; it disconnects itself on connection errors."""
        self._connection.send_command(*command)
        return self._connection.read_response()

    def _connection_error(self, exc: BaseException, *, reading: bool) -> BaseException:
        """redis-py's exception for a socket error (`exc` itself when it is not one)."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        host = self._host()
        if isinstance(exc, TimeoutError):  # socket.timeout
            return RedisTimeoutError(f"Timeout reading from {host}" if reading else "Timeout writing to socket")
        if not isinstance(exc, OSError):
            return exc
        if reading:
            return RedisConnectionError(f"Error while reading from {host} : {exc.args}")
        errno, message = exc.args[:2] if len(exc.args) >= 2 else ("UNKNOWN", exc.args[0] if exc.args else exc)
        return RedisConnectionError(f"Error {errno} while writing to socket. {message}.")

    def _host(self) -> str:
        host_error = getattr(self._connection, "_host_error", None)
        return str(host_error()) if host_error is not None else "redis"

    def _disconnect(self) -> None:
        """Drop the socket and the reader with whatever part of a reply it holds."""
        self._sock = None
        self._reader = None
        self._poller = None
        if self._connection is not None:
            self._connection.disconnect()

    def close(self) -> None:
        self._disconnect()
        self._connection = None

    def release_read_buffer(self) -> None:
        """Free the hiredis buffer that keeps the last (huge) reply until the next read."""
        shrink_reader(self._reader)


def shrink_reader(reader: Any) -> None:
    """hiredis frees a reader's grown buffer only on its next feed: feed it one tiny reply, read it back.

    Only between replies (no unread bytes), so the reader's state is what it was.
    """
    if reader is None or not hasattr(reader, "has_data") or reader.has_data():
        return
    reader.feed(b"+OK\r\n")
    reader.gets()
