"""The CLI's building blocks on plain click, and the options every command shares.

click rather than typer: typer 0.20+ coerces every parameter through a pydantic
TypeAdapter, which alone cost ~60 ms of each command's start (issue 26). The help keeps
artisan's look: an "Arguments" section, flags without type labels, and values named by
what they mean (`--delay SECONDS`, `--env-file FILE`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from laravel_queue.config import Settings

F = TypeVar("F", bound=Callable[..., Any])


class Argument(click.Argument):
    """A positional argument with a help line, listed under "Arguments" (click < 8.5 has no `help`)."""

    def __init__(self, param_decls: Sequence[str], *, help: str | None = None, **attrs: Any) -> None:
        super().__init__(param_decls, **attrs)
        self.help = help

    def help_record(self, ctx: click.Context) -> tuple[str, str]:
        text = self.help or ""
        if self.required:
            text = f"{text}  [required]".strip()
        name = self.metavar or (self.name or "").upper()
        return (f"{name}..." if self.nargs != 1 else name), text

    def make_metavar(self, ctx: click.Context | None = None) -> str:
        """The argument as written in the usage line: CLASS, [CONNECTION], [IDS]..."""
        name = self.metavar or (self.name or "").upper()
        if not self.required:
            name = f"[{name}]"
        return f"{name}..." if self.nargs != 1 else name


class Option(click.Option):
    """An option whose value is named by its meaning, never by its type; defaults shown."""

    def __init__(self, param_decls: Sequence[str], **attrs: Any) -> None:
        attrs.setdefault("show_default", True)
        super().__init__(param_decls, **attrs)
        if self.metavar is None and not self.is_flag:
            longest = max(self.opts, key=len)
            self.metavar = longest.lstrip("-").upper()


class Command(click.Command):
    """Usage, description, then "Arguments" and "Options" (the layout the CLI always had)."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        arguments = [param.help_record(ctx) for param in self.get_params(ctx) if isinstance(param, Argument)]
        options = [
            record
            for param in self.get_params(ctx)
            if not isinstance(param, click.Argument) and (record := param.get_help_record(ctx)) is not None
        ]
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)

    def format_arguments(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Written by `format_options` (click 8.5 would add a second section)."""


def command(name: str, **attrs: Any) -> Callable[[Callable[..., Any]], Command]:
    """`@command("queue:failed")`: a click command with the CLI's help layout."""
    return click.command(name, cls=Command, **attrs)


def argument(*param_decls: str, **attrs: Any) -> Callable[[F], F]:
    return click.argument(*param_decls, cls=Argument, **attrs)


def option(*param_decls: str, **attrs: Any) -> Callable[[F], F]:
    return click.option(*param_decls, cls=Option, **attrs)


def settings_options(function: F) -> F:
    """`--env-file` and `--app`, the options every command that reads settings takes."""
    env_file = option(
        "--env-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE",
        help="A Laravel .env file to read (process environment wins over it).",
    )
    app = option(
        "--app",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        metavar="DIR",
        help="A Laravel project root: reads its .env and resolves relative paths from it.",
    )
    return env_file(app(function))


def resolve_settings(
    env_file: Path | None, app: Path | None, overrides: Mapping[str, str] | None = None
) -> Settings:
    """Load settings; a bad variable ends the command with one line naming it."""
    from laravel_queue.config import ConfigError, load_settings
    from laravel_queue.errors import ConfigurationError

    try:
        return load_settings(env_file=env_file, app_path=app, overrides=overrides)
    except ConfigError as exc:
        raise ConfigurationError(str(exc)) from exc
