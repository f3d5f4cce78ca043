"""`--metrics-port`: `/metrics` (prometheus_client's exposition) and `/healthz` on one port.

With one worker process the endpoint serves that process's registry. Under
`--concurrency` the command creates a temporary PROMETHEUS_MULTIPROC_DIR before it
forks, each child writes its samples there, and the parent's endpoint adds them up
with prometheus_client's `MultiProcessCollector`: one port for the whole command,
whatever the number of processes. The directory is removed when the command ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from laravel_queue.ops.prometheus_typed import add_multiprocess_collector, refresh_value_class

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

Health = Callable[[], tuple[bool, str]]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds the command open


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not worth a log line each
        pass


def endpoint_app(registry: CollectorRegistry, health: Health) -> Callable[..., Iterable[bytes]]:
    """WSGI app: `/healthz` from `health`, `/metrics` (and `/`) from prometheus_client, else 404."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            healthy, detail = health()
            body = (detail + "\n").encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
            return [body]
        if path in ("/metrics", "/"):
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        body = b"only /metrics and /healthz are served here\n"
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app


class Endpoint:
    """The HTTP server on its daemon thread; `close()` stops it."""

    def __init__(self, registry: CollectorRegistry, health: Health, port: int, host: str = "") -> None:
        try:
            self.httpd = make_server(
                host, port, endpoint_app(registry, health), _ThreadingWSGIServer, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise OSError(f"cannot listen for metrics on port {port}: {exc}") from None
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="laravel-queue-metrics", daemon=True)
        self.thread.start()

    def forget_in_child(self) -> None:
        """In a forked worker: close the inherited listening socket (the parent serves it)."""
        self.httpd.socket.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@contextlib.contextmanager
def multiprocess_directory() -> Iterator[str]:
    """A fresh PROMETHEUS_MULTIPROC_DIR for this command's children, removed afterwards.

    prometheus_client picks its value class when it is imported; if an application module
    imported it before the variable was set, the class is picked again.
    """
    path = tempfile.mkdtemp(prefix="laravel-queue-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = path
    refresh_value_class()
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        refresh_value_class()
        shutil.rmtree(path, ignore_errors=True)


def multiprocess_registry(path: str) -> CollectorRegistry:
    """A registry that adds up every worker process's samples in `path`."""
    registry = CollectorRegistry()
    add_multiprocess_collector(registry, path)
    return registry
