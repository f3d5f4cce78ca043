"""Python stand-ins for PHP values that have no native Python equivalent.

The codec never maps PHP classes to user types (the registry does that later), so
objects, enums and `Serializable` bodies are kept as plain data that re-serializes
byte for byte: class name, mangled property names, their order, and references.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Visibility = Literal["public", "protected", "private"]
PropertyKey = str | bytes | int
ClassName = str | bytes

_OWN_SLOTS = frozenset({"class_name", "properties"})
_MISSING: Any = object()


def mangle(name: str, visibility: Visibility = "public", class_name: str | None = None) -> str:
    """Return the key PHP's serialize() writes for a property of this visibility.

    Private properties are keyed by the class that *declares* them, which is why an
    object can carry two private properties with the same bare name.
    """
    if visibility == "public":
        return name
    if visibility == "protected":
        return f"\0*\0{name}"
    if visibility == "private":
        if not class_name:
            raise ValueError("a private property needs the declaring class name")
        return f"\0{class_name}\0{name}"
    raise ValueError(f"unknown visibility {visibility!r}")


def demangle(key: PropertyKey) -> tuple[PropertyKey, Visibility, ClassName | None]:
    """Split a serialized property key into (bare name, visibility, declaring class)."""
    if isinstance(key, str) and key[:1] == "\0":
        second = key.find("\0", 1)
        if second > 0:
            owner, name = key[1:second], key[second + 1 :]
            return (name, "protected", None) if owner == "*" else (name, "private", owner)
    elif isinstance(key, bytes) and key[:1] == b"\0":
        second = key.find(b"\0", 1)
        if second > 0:
            owner_b, name_b = key[1:second], key[second + 1 :]
            return (name_b, "protected", None) if owner_b == b"*" else (name_b, "private", owner_b)
    return key, "public", None


class PhpObject:
    """A PHP object (`O:`), including ones written by `__serialize`.

    `properties` maps the *serialized* (mangled) key to the value, in serialization
    order: public `name`, protected `"\\0*\\0name"`, private `"\\0Class\\0name"`;
    `__serialize` objects may also use int keys. Item and attribute access take the
    bare name (`job["queue"]`, `job.queue`) and find it whatever its visibility.
    """

    __slots__ = ("class_name", "properties")

    class_name: ClassName
    properties: dict[PropertyKey, Any]

    def __init__(self, class_name: ClassName, properties: Mapping[PropertyKey, Any] | None = None) -> None:
        object.__setattr__(self, "class_name", class_name)
        object.__setattr__(self, "properties", dict(properties) if properties else {})

    # -- lookup by bare name -------------------------------------------------------------

    def key_of(self, name: PropertyKey) -> PropertyKey | None:
        """The serialized key holding bare property `name` (public, then protected, then private)."""
        props = self.properties
        if name in props:
            return name
        if isinstance(name, str):
            protected = "\0*\0" + name
            if protected in props:
                return protected
            suffix = "\0" + name
            for key in props:
                if (
                    isinstance(key, str)
                    and key[:1] == "\0"
                    and key.endswith(suffix)
                    and key.find("\0", 1) == len(key) - len(suffix)
                ):
                    return key
        return None

    def __getitem__(self, name: PropertyKey) -> Any:
        key = self.key_of(name)
        if key is None:
            raise KeyError(name)
        return self.properties[key]

    def __setitem__(self, name: PropertyKey, value: Any) -> None:
        """Replace an existing property (keeping its visibility) or add a public one."""
        key = self.key_of(name)
        self.properties[name if key is None else key] = value

    def __delitem__(self, name: PropertyKey) -> None:
        key = self.key_of(name)
        if key is None:
            raise KeyError(name)
        del self.properties[key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, (str, bytes, int)) and self.key_of(name) is not None

    def get(self, name: PropertyKey, default: Any = None) -> Any:
        key = self.key_of(name)
        return default if key is None else self.properties[key]

    def __getattr__(self, name: str) -> Any:
        if name in _OWN_SLOTS or name.startswith("__"):
            raise AttributeError(name)
        key = self.key_of(name)
        if key is None:
            raise AttributeError(f"{self.class_name!r} object has no property {name!r}")
        return self.properties[key]

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN_SLOTS:
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        if name in _OWN_SLOTS:
            raise AttributeError(f"cannot delete {name}")
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    # -- visibility-aware editing -----------------------------------------------------------

    def set(
        self,
        name: str,
        value: Any,
        visibility: Visibility = "public",
        declaring_class: str | None = None,
    ) -> PhpObject:
        """Set (or add at the end) the property with exactly this visibility; returns self.

        `declaring_class` is only used for private properties and defaults to this
        object's class (pass the parent class for an inherited private property).
        """
        owner = declaring_class
        if visibility == "private" and owner is None:
            if not isinstance(self.class_name, str):
                raise ValueError("pass declaring_class for a private property of a bytes class name")
            owner = self.class_name
        self.properties[mangle(name, visibility, owner)] = value
        return self

    def visibility(self, name: PropertyKey) -> Visibility:
        key = self.key_of(name)
        if key is None:
            raise KeyError(name)
        return demangle(key)[1]

    def mangled_names(self) -> dict[PropertyKey, PropertyKey]:
        """Bare name -> serialized key, in order (the first wins for shadowed privates)."""
        mapping: dict[PropertyKey, PropertyKey] = {}
        for key in self.properties:
            mapping.setdefault(demangle(key)[0], key)
        return mapping

    def to_dict(self) -> dict[PropertyKey, Any]:
        """Bare name -> value (the first wins for shadowed privates)."""
        out: dict[PropertyKey, Any] = {}
        for key, value in self.properties.items():
            out.setdefault(demangle(key)[0], value)
        return out

    def __iter__(self) -> Iterator[PropertyKey]:
        return iter(self.mangled_names())

    def __len__(self) -> int:
        return len(self.properties)

    # -- value semantics ------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PhpObject):
            return NotImplemented
        return self.class_name == other.class_name and list(self.properties.items()) == list(other.properties.items())

    __hash__ = None  # type: ignore[assignment]

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"PhpObject({self.class_name!r}, {self.properties!r})"

    def __reduce__(self) -> tuple[type[PhpObject], tuple[ClassName, dict[PropertyKey, Any]]]:
        return (type(self), (self.class_name, self.properties))


@dataclass(frozen=True, slots=True)
class PhpEnum:
    """A PHP 8.1 enum case (`E:`). Cases are singletons in PHP, so equal values share a slot."""

    class_name: ClassName
    case: ClassName


@dataclass(frozen=True, slots=True)
class PhpSerializable:
    """An object written by the legacy `Serializable` interface (`C:`); the body is opaque."""

    class_name: ClassName
    data: bytes


class PhpReference:
    """A PHP reference (`&`): every place holding the same instance shares one PHP value.

    Only needed where PHP data contains `R:`; the decoder puts the same instance at the
    first occurrence and at every `R:`, and the encoder writes `R:` for the repeats.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PhpReference):
            return NotImplemented
        return bool(self.value == other.value)

    __hash__ = None  # type: ignore[assignment]

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"PhpReference({self.value!r})"


OBJECT_TYPES = (PhpObject, PhpEnum, PhpSerializable)
