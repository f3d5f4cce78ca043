"""`signatures.positional`: what a handler or callback takes, read once per function."""

from __future__ import annotations

from typing import Any

from laravel_queue.signatures import Positional, positional


class Handler:
    def handle(self, job: Any) -> None: ...

    def bare(self) -> None: ...

    def many(self, *args: Any) -> None: ...


class Unhashable:
    __hash__ = None  # type: ignore[assignment]

    def __call__(self, batch: Any, exc: Any) -> None: ...


def test_a_bound_method_does_not_count_self_and_shares_its_function_entry() -> None:
    assert positional(Handler().handle) == Positional(1, False)
    assert positional(Handler().bare) == Positional(0, False)
    assert positional(Handler().many) == Positional(0, True)


def test_functions_star_args_and_unhashable_callables() -> None:
    assert positional(lambda exc: None) == Positional(1, False)
    assert positional(lambda job, command, exc: None).takes(3)
    assert positional(lambda *args: None).takes(3)
    assert not positional(lambda batch: None).takes(2)  # type: ignore[union-attr]
    assert positional(Unhashable()) == Positional(2, False)
