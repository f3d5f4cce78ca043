"""Markdown references generated from the code, for the docs site (see docs/_hooks.py).

`cli_reference()` walks the click app: every command, its usage, arguments and options
with their defaults. `configuration_reference()` asks the settings loader itself which
settings each environment variable moves: it loads the defaults, then sets one variable
at a time to a probe value and records what changed. Nothing here is imported when the
command runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_VARIABLE = re.compile(r"""["']([A-Z][A-Z0-9_]{2,})["']""")
_PROBES = ("7", "tls", "redis", "mariadb", "13", "probe-value")
_SECTION_TITLES = {
    "laravel_version": "Laravel version",
    "app": "Application (`config/app.php`)",
    "queue": "Queues (`config/queue.php`)",
    "database": "Databases and Redis (`config/database.php`)",
    "cache": "Cache (`config/cache.php`)",
    "horizon": "Horizon (`config/horizon.php`)",
}


# -- CLI ------------------------------------------------------------------------------------


def cli_reference() -> str:
    """Every visible command of `laravel-queue` as Markdown."""
    from laravel_queue.cli import app

    group: Any = app
    context: Any = group.make_context("laravel-queue", [], resilient_parsing=True)
    lines = [
        "# CLI reference",
        "",
        "Generated from the command itself at build time. Every command also prints its own",
        "`--help`. A wrong input ends with one line on stderr and exit status 2 (1 when a",
        "service cannot be reached); `-v`/`--verbose` adds the traceback.",
        "",
        "## Global options",
        "",
        *_options_table(group.params, context),
    ]
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        sub = command.make_context(name, [], parent=context, resilient_parsing=True)
        lines += ["", f"## `{name}`", "", (command.help or "").strip(), "", "```text"]
        lines += [" ".join(command.collect_usage_pieces(sub)).join([f"laravel-queue {name} ", ""]).rstrip(), "```", ""]
        lines += _options_table(command.params, sub)
    return "\n".join(lines).rstrip() + "\n"


def _options_table(params: list[Any], context: Any) -> list[str]:
    rows = ["| argument / option | description | default |", "|---|---|---|"]
    for param in params:
        if getattr(param, "hidden", False) or param.name == "help":
            continue
        if param.param_type_name == "argument":
            names = f"`{param.metavar or param.name.upper()}`"
        else:
            names = ", ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
        default = param.get_default(context, call=False)
        unset = getattr(default, "name", None) == "UNSET"  # click >= 8.3's sentinel for "no default"
        hidden = unset or default is None or default is False or default in ("", ()) or callable(default)
        shown = "" if hidden else f"`{default}`"
        text = (getattr(param, "help", "") or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {names} | {text} | {shown} |")
    return rows if len(rows) > 2 else ["(none)"]


# -- configuration --------------------------------------------------------------------------


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flat(inner, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _settings_tree(environ: dict[str, str]) -> dict[str, Any] | None:
    from laravel_queue.config import ConfigError, load_settings, masked

    try:
        return dict(_flat(masked(load_settings(environ=environ, app_path=Path("/app")))))
    except ConfigError:
        return None


def variable_effects() -> dict[str, list[str]]:
    """{variable: setting paths it changes}, found by setting each variable in turn."""
    from laravel_queue import config as config_package

    folder = Path(config_package.__file__).parent  # the loaders read the variables (loaders, db_url, ...)
    source = "\n".join(path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.py")))
    variables = sorted(set(_VARIABLE.findall(source)))
    defaults = _settings_tree({})
    assert defaults is not None
    effects: dict[str, list[str]] = {}
    for variable in variables:
        for probe in _PROBES:
            tree = _settings_tree({variable: probe})
            changed = [path for path, value in (tree or {}).items() if defaults.get(path) != value]
            if changed:
                effects[variable] = changed
                break
    return effects


def configuration_reference() -> str:
    """Each environment variable, the settings it moves and their defaults, by section."""
    defaults = _settings_tree({})
    assert defaults is not None
    sections: dict[str, list[str]] = {}
    for variable, paths in variable_effects().items():
        section = _section_of(variable, paths)
        shown = ", ".join(f"`{path}`" for path in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        default = defaults.get(paths[0])
        default_text = "" if default in (None, "", []) else f"`{_scalar(default)}`"
        sections.setdefault(section, []).append(f"| `{variable}` | {shown} | {default_text} |")
    lines = [
        "# Configuration reference",
        "",
        "Generated at build time from the settings loader: each variable below was set on its",
        "own and the settings it changed are listed (`config:show` prints the same paths).",
        "Names and defaults are Laravel's: the values your app's `.env` already has apply",
        "unchanged. Precedence: command-line options, then the process environment, then the",
        "`.env` file (`--env-file` or `--app`), then Laravel's defaults. Defaults that depend on",
        "the working directory are shown for an app at `/app`.",
    ]
    for section, rows in sorted(sections.items(), key=lambda item: list(_SECTION_TITLES).index(item[0])):
        lines += ["", f"## {_SECTION_TITLES.get(section, section)}", "", "| variable | settings | default |"]
        lines += ["|---|---|---|", *rows]
    return "\n".join(lines) + "\n"


def _section_of(variable: str, paths: list[str]) -> str:
    """The section a reader looks under: by the variable's name, else its first setting."""
    if "CACHE" in variable:
        return "cache"
    if "QUEUE" in variable or variable.startswith(("SQS_", "AWS_", "DYNAMODB_")):
        return "queue"
    for prefixes, section in ((("APP_", "SCHEDULE_"), "app"), (("DB_", "REDIS_", "MYSQL_"), "database")):
        if variable.startswith(prefixes):
            return section
    return paths[0].split(".", 1)[0]


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
