"""`laravel-queue dispatch CLASS --data JSON`: queue a PHP job (or a `Class@method` job) from the shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from laravel_queue.cli.common import argument, command, option, resolve_settings, settings_options

if TYPE_CHECKING:
    from laravel_queue.config import Settings


@command("dispatch")
@argument("php_class", metavar="CLASS", help="PHP job class (App\\Jobs\\Foo), or Class@method for a string job.")
@option("--data", default="{}", metavar="JSON",
        help="JSON object of the job's public properties (string job: any JSON).")
@option("--connection", help="Queue connection name.")
@option("--queue", help="Queue name.")
@option("--delay", type=click.IntRange(min=0), default=0, metavar="SECONDS",
        help="Seconds before the job becomes available.")
@option("--encrypt", is_flag=True, help="Encrypt the command with APP_KEY (ShouldBeEncrypted).")
@settings_options
def dispatch_command(
    php_class: str,
    data: str,
    connection: str | None,
    queue: str | None,
    delay: int,
    encrypt: bool,
    env_file: Path | None,
    app: Path | None,
) -> None:
    """Queue one job: its id on stdout, what was pushed where on stderr."""
    from laravel_queue.cli.redis_push import DispatchConnections
    from laravel_queue.dispatch import Command, dispatch, push_raw, string_job_payload
    from laravel_queue.errors import ConfigurationError

    values = _parse_data(data)
    settings = resolve_settings(env_file, app)
    connections = DispatchConnections(settings)
    try:
        if "@" in php_class:
            payload = string_job_payload(php_class, values, version=settings.laravel_version)
            job_id = push_raw(payload, connection=connection, queue=queue, delay=delay, connections=connections)
        else:
            if not isinstance(values, dict):
                raise ConfigurationError("--data must be a JSON object of property names to values for a class job")
            command = Command(php_class, values, should_be_encrypted=encrypt)
            job_id = dispatch(command, connection=connection, queue=queue, delay=delay or None, connections=connections)
    finally:
        connections.close()
    where = _destination(settings, values, connection, queue)
    if job_id is None:
        _note(f"Not queued: [{php_class}] on [{where}] is a unique job that is already queued (or no id came back).")
        return
    click.echo(str(job_id))
    _note(f"Pushed [{php_class}] onto [{where}] as job [{job_id}].")


def _destination(settings: Settings, values: Any, connection: str | None, queue: str | None) -> str:
    """`connection:queue` as dispatch() resolves them (option, then the command's own property)."""
    own = values if isinstance(values, dict) else {}
    name = connection or own.get("connection") or settings.queue.default
    config = settings.queue_connection(str(name))
    return f"{config.name}:{queue or own.get('queue') or config.queue or 'default'}"


def _note(message: str) -> None:
    """Artisan's INFO line on stderr: stdout stays the bare id for scripts (`id=$(...)`)."""
    from laravel_queue.style import Style

    badge = Style.for_stream(sys.stderr).badge("INFO", "blue")
    click.echo(f"  {badge} {message}", err=True)


def _parse_data(data: str) -> Any:
    from laravel_queue.errors import ConfigurationError

    try:
        return json.loads(data)
    except ValueError as exc:
        raise ConfigurationError(f"--data is not valid JSON: {exc}") from None

