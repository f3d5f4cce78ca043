"""`laravel-queue dispatch CLASS --data JSON`: queue a PHP job (or a `Class@method` job) from the shell."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer

from laravel_queue.cli.common import AppOption, EnvFileOption, resolve_settings


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
    """Queue one job and print its job id."""
    from laravel_queue.connections import Connections
    from laravel_queue.dispatch import Command, DispatchError, dispatch, push_raw, string_job_payload

    values = _parse_data(data)
    settings = resolve_settings(env_file, app)
    connections = Connections(settings)
    try:
        if "@" in php_class:
            payload = string_job_payload(php_class, values, version=settings.laravel_version)
            job_id = push_raw(payload, connection=connection, queue=queue, delay=delay, connections=connections)
        else:
            if not isinstance(values, dict):
                _fail("--data must be a JSON object of property names to values for a class job")
            command = Command(php_class, values, should_be_encrypted=encrypt)
            job_id = dispatch(command, connection=connection, queue=queue, delay=delay or None, connections=connections)
    except (DispatchError, ValueError) as exc:
        _fail(str(exc))
    finally:
        connections.close()
    if job_id is None:
        typer.echo("Not queued: the driver returned no job id (or a unique job with that key is queued).", err=True)
        return
    typer.echo(str(job_id))


def _parse_data(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        _fail(f"--data is not valid JSON: {exc}")


def _fail(message: str) -> NoReturn:
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("dispatch")(dispatch_command)
