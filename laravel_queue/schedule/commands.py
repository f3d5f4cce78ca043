"""Shell command strings built byte-for-byte as Laravel builds them.

The mutex name of a command/exec event hashes this string, so a Python scheduler
and a PHP scheduler only share a lock if both quote and join parameters the same way
(`Application::formatCommandString`, `ProcessUtils::escapeArgument`,
`Schedule::compileParameters`, `Event::normalizeCommand`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from laravel_queue.support import php_string

Parameters: TypeAlias = "Mapping[str | int, Any] | Sequence[Any]"

_PHP_NUMERIC = re.compile(r"^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$")
_BARE_OPTION = re.compile(r"^(-.$|--.*)", re.IGNORECASE | re.DOTALL)


def escape_argument(argument: Any) -> str:
    """POSIX `ProcessUtils::escapeArgument`: single quotes, `'` written as `'\\''`."""
    return "'" + php_string(argument).replace("'", "'\\''") + "'"


def is_php_numeric(value: Any) -> bool:
    """PHP's `is_numeric`: numbers and numeric strings, never booleans."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and bool(_PHP_NUMERIC.match(value))


def _compile_array(key: str, values: Sequence[Any]) -> str:
    quoted = [escape_argument(v) for v in values]
    if key.startswith("--"):
        quoted = [f"{key}={v}" for v in quoted]
    elif key.startswith("-"):
        quoted = [f"{key} {v}" for v in quoted]
    return " ".join(quoted)


def _compile_one(key: str | int | None, value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return _compile_array("" if key is None else str(key), value)
    text = php_string(value)
    if not is_php_numeric(value) and not _BARE_OPTION.match(text):
        text = escape_argument(value)
    return text if key is None or isinstance(key, int) else f"{key}={text}"


def compile_parameters(parameters: Parameters) -> str:
    """`Schedule::compileParameters`: list entries give the value, `key => value` gives `key=value`."""
    if isinstance(parameters, Mapping):
        return " ".join(_compile_one(k, v) for k, v in parameters.items())
    if isinstance(parameters, (str, bytes)):
        raise TypeError("parameters must be a list or a mapping, not a string")
    return " ".join(_compile_one(None, v) for v in parameters)


def with_parameters(command: str, parameters: Parameters | None) -> str:
    if parameters:
        return f"{command} {compile_parameters(parameters)}"
    return command


def find_php_binary() -> str:
    """The PHP binary Laravel's PhpExecutableFinder would report: PHP_BINARY, else `php` on PATH."""
    configured = os.environ.get("PHP_BINARY")
    if configured:
        return configured
    return shutil.which("php") or "php"


def format_command_string(command: str, php_binary: str, artisan_binary: str = "artisan") -> str:
    """`Application::formatCommandString`: `'<php>' 'artisan' <command>`."""
    return f"{escape_argument(php_binary)} {escape_argument(artisan_binary)} {command}"


def normalize_command(command: str, php_binary: str, artisan_binary: str = "artisan") -> str:
    """`Event::normalizeCommand` (11.36+): the quoted binaries become `php` and bare `artisan`."""
    artisan = escape_argument(artisan_binary)
    return command.replace(escape_argument(php_binary), "php").replace(artisan, re.sub(r"['\"]", "", artisan))
