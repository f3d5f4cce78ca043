"""`laravel-queue dispatch` to Redis without importing redis-py for the one script it sends.

Importing redis-py costs 80-130 ms (redis-py 8 loads its asyncio and observability
layers, and opentelemetry's SDK when that is installed): more than the rest of the
command (issue 26). A dispatch from the shell sends one script call, Laravel's push (or
later) script, so `OneShotRedis` sends a registered script's EVALSHA itself on a plain
TCP socket, after the handshake redis-py 8 makes (HELLO 3 with AUTH, then SELECT),
and SCRIPT LOAD + EVALSHA again on NOSCRIPT, as redis-py's `Script` does. Arguments are
encoded as redis-py encodes them, so the keys and the pushed payload are the same bytes.

Everything else goes to a real redis-py client made on first use: any other command
(Horizon's records, unique locks on a Redis cache), TLS and cluster connections (never
served here), and a connection that cannot be made or whose handshake is refused, so
those errors are redis-py's own. An error reply to the script raises redis-py's
exception for it (the script may have run in part, so it is not sent again).
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from laravel_queue.connections import Connections

if TYPE_CHECKING:
    from laravel_queue.config import Settings

_READ_SIZE = 65536


class _Script:
    """What `register_script` returns: called as redis-py's `Script(keys=..., args=...)`."""

    def __init__(self, owner: OneShotRedis, script: str) -> None:
        self.owner = owner
        self.script = script
        self.sha = hashlib.sha1(script.encode("utf-8")).hexdigest()

    def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = (), client: Any = None) -> Any:
        if client is not None:
            return client.register_script(self.script)(keys=keys, args=args)
        return self.owner.run_script(self, list(keys), list(args))


class OneShotRedis:
    """A redis-py client stand-in: scripts on its own socket, everything else on redis-py."""

    def __init__(self, params: dict[str, Any], make_client: Callable[[], Any]) -> None:
        self._params = params
        self._make_client = make_client
        self._real: Any = None
        self._sock: socket.socket | None = None
        self._reader: Any = None

    def register_script(self, script: str) -> _Script:
        return _Script(self, script)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)

    def real(self) -> Any:
        """The redis-py client for everything the one-shot path does not serve."""
        if self._real is None:
            self._real = self._make_client()
        return self._real

    def run_script(self, script: _Script, keys: list[Any], args: list[Any]) -> Any:
        if self._real is None and self._sock is None and not self._connect():
            self._disconnect()
        if self._sock is None:
            return self._through_redis_py(script, keys, args)
        command = ["EVALSHA", script.sha, len(keys), *keys, *args]
        try:
            reply = self._call(command)
            if _is_error(reply) and str(reply).startswith("NOSCRIPT"):
                self._raise_if_error(self._call(["SCRIPT", "LOAD", script.script]))
                reply = self._call(command)
        except OSError:  # redis-py's one retry after a connection error: the call again, through redis-py
            self._disconnect()
            return self._through_redis_py(script, keys, args)
        self._raise_if_error(reply)
        return reply

    def _through_redis_py(self, script: _Script, keys: list[Any], args: list[Any]) -> Any:
        return self.real().register_script(script.script)(keys=keys, args=args)

    def close(self) -> None:
        self._disconnect()
        if self._real is not None:
            self._real.close()

    # -- the socket -------------------------------------------------------------------------

    def _connect(self) -> bool:
        """Connect and make redis-py 8's handshake; False (nothing executed) when anything is not as expected."""
        import hiredis

        params = self._params
        try:
            sock = socket.create_connection((params["host"], params["port"]), params["socket_connect_timeout"])
        except OSError:
            return False
        self._sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(params["socket_timeout"])
        self._reader = hiredis.Reader()
        hello: list[Any] = ["HELLO", 3]
        if params["username"] or params["password"]:
            hello += ["AUTH", params["username"] or "default", params["password"] or ""]
        try:
            if _is_error(self._call(hello)):
                return False
            return not (params["db"] and _is_error(self._call(["SELECT", params["db"]])))
        except (OSError, ValueError, TypeError):
            return False
        except Exception as exc:  # hiredis too old for RESP3 raises its ProtocolError
            if type(exc).__module__.startswith("hiredis"):
                return False
            raise

    def _call(self, command: list[Any]) -> Any:
        import hiredis

        assert self._sock is not None
        parts: Any = tuple(_encode(part) for part in command)  # hiredis's stub types a 1-tuple
        self._sock.sendall(hiredis.pack_command(parts))
        reader = self._reader
        reply = reader.gets()
        while reply is False:
            data = self._sock.recv(_READ_SIZE)
            if not data:
                raise OSError("Connection closed by server.")
            reader.feed(data)
            reply = reader.gets()
        return reply

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    @staticmethod
    def _raise_if_error(reply: Any) -> None:
        if not _is_error(reply):
            return
        message = str(reply)
        try:
            from redis._parsers.base import BaseParser

            parse_error: Any = BaseParser.parse_error  # redis-py's own error-reply classes (untyped)
            error: Exception = parse_error(message)
        except ImportError:  # another redis-py layout: the generic class
            from redis.exceptions import ResponseError

            error = ResponseError(message)
        raise error


def _is_error(reply: Any) -> bool:
    return type(reply).__name__ == "ReplyError"


def _encode(value: Any) -> bytes:
    """redis-py's `Encoder.encode` (utf-8, strict): bytes as given, numbers by `repr`."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, bool):
        raise TypeError("Invalid input of type: 'bool'. Convert to a bytes, string, int or float first.")
    if isinstance(value, int | float):
        return repr(value).encode()
    if isinstance(value, str):
        return value.encode("utf-8", "strict")
    raise TypeError(f"Invalid input of type: '{type(value).__name__}'. Convert to a bytes, string, int or float first.")


class DispatchConnections(Connections):
    """`Connections` whose plain-TCP Redis connections are `OneShotRedis` (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._one_shot: dict[str, OneShotRedis] = {}

    def redis(self, name: str = "default") -> Any:
        if name in self._one_shot:
            return self._one_shot[name]
        if name in self.settings.database.redis.clusters:
            return super().redis(name)
        from laravel_queue.redis_client import connection_params

        params = connection_params(self.settings.redis_connection(name))
        if params.get("ssl"):
            return super().redis(name)
        client = self._one_shot[name] = OneShotRedis(params, lambda: super(DispatchConnections, self).redis(name))
        return client

    def close(self) -> None:
        for client in self._one_shot.values():
            client._disconnect()
        self._one_shot.clear()
        super().close()
