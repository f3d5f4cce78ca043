"""`laravel-queue dispatch CLASS --data JSON`: queue a PHP job (or a `Class@method` job) from the shell."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from laravel_queue.cli.common import AppOption, EnvFileOption, resolve_settings

if TYPE_CHECKING:
    from laravel_queue.config import Settings


def dispatch_command(
    php_class: Annotated[
        str, typer.Argument(metavar="CLASS", help="PHP job class (App\\Jobs\\Foo), or Class@method for a string job.")
    ],
    data: Annotated[
        str, typer.Option("--data", help="JSON object of the job's public properties (string job: any JSON).")
    ] = "{}",
    connection: Annotated[str | None, typer.Option("--connection", help="Queue connection name.")] = None,
    queue: Annotated[str | None, typer.Option("--queue", help="Queue name.")] = None,
    delay: Annotated[int, typer.Option("--delay", min=0, help="Seconds before the job becomes available.")] = 0,
    encrypt: Annotated[
        bool, typer.Option("--encrypt", help="Encrypt the command with APP_KEY (ShouldBeEncrypted).")
    ] = False,
    env_file: EnvFileOption = None,
    app: AppOption = None,
) -> None:
    """Queue one job: its id on stdout, what was pushed where on stderr."""
    from laravel_queue.connections import Connections
    from laravel_queue.dispatch import Command, dispatch, push_raw, string_job_payload
    from laravel_queue.errors import ConfigurationError

    values = _parse_data(data)
    settings = resolve_settings(env_file, app)
    connections = Connections(settings)
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
    typer.echo(str(job_id))
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
    typer.echo(f"  {badge} {message}", err=True)


def _parse_data(data: str) -> Any:
    from laravel_queue.errors import ConfigurationError

    try:
        return json.loads(data)
    except ValueError as exc:
        raise ConfigurationError(f"--data is not valid JSON: {exc}") from None


def register(app: typer.Typer) -> None:
    app.command("dispatch")(dispatch_command)
