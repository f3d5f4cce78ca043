"""A Python exception in the layout PHP gives `(string) $exception` (failed_jobs.exception).

`php artisan queue:failed` and Horizon only display this text, so a Python failure reads
like a PHP one (decisions.md 7): first line `<Class>: <message> in <file>:<line>`, then
`Stack trace:` with one `#N <file>(<line>): <function>()` line per frame and `#N {main}`.
Chained exceptions come innermost first, each outer one after a blank line as `Next ...`.
Only the exception is formatted: no locals, no environment, so no secrets.
"""

from __future__ import annotations

import builtins
from types import TracebackType

_MAX_CHAIN = 20


def format_exception(exc: BaseException) -> str:
    chain = _chain(exc)  # outermost first
    parts = [_format_one(item) for item in reversed(chain)]
    return "\n\nNext ".join(parts)


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < _MAX_CHAIN:
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__suppress_context__:
            current = None
        else:
            current = current.__context__
    return chain


def _class_name(exc: BaseException) -> str:
    """The class as PHP tools should show it: a declared `php_class` (the worker's own
    Laravel exceptions), a builtin's bare name, else the dotted Python path."""
    php_class = getattr(exc, "php_class", None)
    if isinstance(php_class, str):
        return php_class
    cls = type(exc)
    if cls.__module__ == "builtins" and getattr(builtins, cls.__name__, None) is cls:
        return str(cls.__qualname__)  # (mypy reads `cls` as Any after the `is` test)
    return f"{cls.__module__}.{cls.__qualname__}"


def _frames(tb: TracebackType | None) -> list[tuple[str, int, str]]:
    """(file, line, function) from the outermost caught frame to the raising one."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        module = tb.tb_frame.f_globals.get("__name__", "")
        qualname = getattr(code, "co_qualname", code.co_name)
        function = qualname if qualname == "<module>" or not module else f"{module}.{qualname}"
        frames.append((code.co_filename, tb.tb_lineno, function))
        tb = tb.tb_next
    return frames


def _format_one(exc: BaseException) -> str:
    frames = _frames(exc.__traceback__)
    if frames:
        file, line, _ = frames[-1]
    else:
        file, line = "[internal]", 0
    message = str(exc)
    head = f"{_class_name(exc)}: {message}" if message else _class_name(exc)
    lines = [f"{head} in {file}:{line}", "Stack trace:"]
    # PHP frame #k: the call site in the caller, naming the function that was called.
    for number, index in enumerate(range(len(frames) - 1, 0, -1)):
        caller_file, caller_line, _ = frames[index - 1]
        lines.append(f"#{number} {caller_file}({caller_line}): {frames[index][2]}()")
    lines.append(f"#{max(len(frames) - 1, 0)} {{main}}")
    return "\n".join(lines)
