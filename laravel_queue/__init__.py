"""laravel-queue: a Python member of a Laravel application's queue and scheduler."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "dispatch", "handles"]

if TYPE_CHECKING:
    from laravel_queue.dispatch import dispatch
    from laravel_queue.registry import handles

_LAZY = {"handles": "laravel_queue.registry", "dispatch": "laravel_queue.dispatch"}


def __getattr__(name: str) -> Any:
    """Re-export `handles` and `dispatch` without importing them for every CLI start."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'laravel_queue' has no attribute {name!r}")
