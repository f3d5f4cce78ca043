"""Find the user's Schedule from `--schedule module[:attribute]` (attribute default `schedule`)."""

from __future__ import annotations

import importlib
import os
import sys

from laravel_queue.errors import JobImportError
from laravel_queue.schedule.schedule import Schedule


class ScheduleLoadError(JobImportError, ValueError):
    """The --schedule target cannot be imported or is not a Schedule."""


def load_schedule(target: str) -> Schedule:
    """Import `module[:attribute]`; the attribute may be a Schedule or a function returning one."""
    module_name, _, attribute = target.partition(":")
    attribute = attribute or "schedule"
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise ScheduleLoadError(f"--schedule: expected module[:attribute], got {target!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: the project's own modules are importable
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ScheduleLoadError(f"--schedule: cannot import {module_name!r}: {exc}") from exc
    if not hasattr(module, attribute):
        raise ScheduleLoadError(f"--schedule: module {module_name!r} has no attribute {attribute!r}")
    value = getattr(module, attribute)
    if callable(value) and not isinstance(value, Schedule):
        value = value()
    if not isinstance(value, Schedule):
        raise ScheduleLoadError(
            f"--schedule: {module_name}:{attribute} is {type(value).__name__}, not a laravel_queue.schedule.Schedule"
        )
    return value
