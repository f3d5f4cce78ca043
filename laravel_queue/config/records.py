"""Frozen records for the settings tree, with the part of pydantic's model API callers use.

Not pydantic models, nor dataclasses: building a dozen pydantic models (with pydantic's
plugin scan) cost 60-100 ms of every command's start, and `@dataclass` generates each
class's methods with `exec`, 1-3 ms a class (issue 26). The loaders hand every field
its final type, so nothing is left to validate. `Record` subclasses declare fields as
annotations with defaults (`field(default_factory=...)` for mutable ones); instances take
keyword arguments only, are immutable, compare and hash by value, and offer
`model_copy(update=...)`, `model_dump(mode="json")` and `model_dump_json()`.
`SecretStr` behaves as pydantic's: the value through `get_secret_value()`, `**********`
everywhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self, dataclass_transform
else:
    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        return lambda cls: cls

T = TypeVar("T")
_MASK = "**********"


class SecretStr:
    """A secret setting (password, key): its value only through `get_secret_value()`."""

    __slots__ = ("_secret_value",)

    def __init__(self, secret_value: str) -> None:
        self._secret_value = secret_value

    def get_secret_value(self) -> str:
        return self._secret_value

    def __str__(self) -> str:
        return _MASK if self._secret_value else ""

    def __repr__(self) -> str:
        return f"SecretStr('{self}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._secret_value == self._secret_value

    def __hash__(self) -> int:
        return hash(self._secret_value)

    def __len__(self) -> int:
        return len(self._secret_value)


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is made per instance (a dict, a nested record)."""
    marker: Any = _Factory(default_factory)
    return marker  # type: ignore[no-any-return]


_REQUIRED = object()


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Record:
    """An immutable record of the fields its subclass annotates."""

    _fields: ClassVar[dict[str, Any]] = {}  # name -> default, a _Factory, or _REQUIRED

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict(cls._fields)
        for name in cls.__annotations__:  # this class's own (Python >= 3.10)
            fields[name] = cls.__dict__.get(name, _REQUIRED)
            if name in cls.__dict__:
                delattr(cls, name)  # the instance holds the value; the default lives in _fields
        cls._fields = fields

    def __init__(self, **values: Any) -> None:
        for name, default in self._fields.items():
            if name in values:
                value = values.pop(name)
            elif default is _REQUIRED:
                raise TypeError(f"{type(self).__name__}() missing required keyword argument: {name!r}")
            else:
                value = default.make() if isinstance(default, _Factory) else default
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments: {', '.join(values)}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot assign to {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._values() == self._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({shown})"

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with `update`'s fields replaced (pydantic's `model_copy`; `deep` is accepted)."""
        return type(self)(**{**{name: getattr(self, name) for name in self._fields}, **(update or {})})

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]:
        """Fields as a dict, nested records too; `mode="json"`: secrets masked, paths as text, lists."""
        return {name: _dumped(getattr(self, name), mode == "json") for name in self._fields}

    def model_dump_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=indent)


def _dumped(value: Any, as_json: bool) -> Any:
    if isinstance(value, Record):
        return value.model_dump(mode="json" if as_json else "python")
    if isinstance(value, Mapping):
        return {key: _dumped(inner, as_json) for key, inner in value.items()}
    if isinstance(value, tuple | list):
        items = [_dumped(inner, as_json) for inner in value]
        return items if as_json else type(value)(items)
    if as_json and hasattr(value, "get_secret_value"):  # ours, or a pydantic SecretStr a caller passed
        return str(value)
    if as_json and isinstance(value, Path):
        return str(value)
    return value
