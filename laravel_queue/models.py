"""Eloquent model references in queued commands (`SerializesModels`, spec §4.3-§4.4).

PHP replaces every model in a job with an `Illuminate\\Contracts\\Database\\ModelIdentifier`
(class, key or list of keys, relations, connection, collection class) and re-queries
it when the job runs. Python surfaces these as `ModelIdentifier`; `ModelResolver`
re-queries them from tables the user names, because Python cannot know a PHP model's
table, key or scopes on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from laravel_queue.errors import JobOutcomeError
from laravel_queue.php import PhpObject

if TYPE_CHECKING:
    from laravel_queue.db import Database
    from laravel_queue.resources import Resources

MODEL_IDENTIFIER_CLASS = "Illuminate\\Contracts\\Database\\ModelIdentifier"


class ModelNotFoundError(JobOutcomeError, LookupError):
    """Laravel's `ModelNotFoundException`: a single queued model no longer exists."""


@dataclass
class ModelIdentifier:
    """A queued reference to one model (`id` scalar) or a collection (`id` list)."""

    class_name: str
    id: Any
    relations: list[str] = field(default_factory=list)
    connection: str | None = None
    collection_class: str | None = None

    @property
    def is_collection(self) -> bool:
        return isinstance(self.id, list)

    @classmethod
    def from_php(cls, obj: PhpObject) -> ModelIdentifier:
        relations = obj.get("relations")
        if isinstance(relations, dict):  # PHP [] can decode either way after a JSON trip
            relations = list(relations.values())
        ids = obj.get("id")
        if isinstance(ids, dict):
            ids = list(ids.values())
        return cls(
            class_name=str(obj.get("class")),
            id=ids,
            relations=list(relations or []),
            connection=obj.get("connection"),
            collection_class=obj.get("collectionClass"),
        )

    def to_php(self) -> PhpObject:
        """The object PHP's `getSerializedPropertyValue` writes: five public properties."""
        return PhpObject(
            MODEL_IDENTIFIER_CLASS,
            {
                "class": self.class_name,
                "id": list(self.id) if isinstance(self.id, (list, tuple)) else self.id,
                "relations": list(self.relations),
                "connection": self.connection,
                "collectionClass": self.collection_class,
            },
        )


def replace_model_identifiers(value: Any) -> Any:
    """Swap every ModelIdentifier PhpObject in a decoded value for a `ModelIdentifier`, in place."""
    return _walk(value, _to_identifier, {})


def restore_model_identifiers(value: Any) -> Any:
    """The reverse, before serializing for PHP: `ModelIdentifier` back to its PhpObject (in place)."""
    return _walk(value, _to_php_identifier, {})


def _to_identifier(value: Any) -> Any:
    if isinstance(value, PhpObject) and value.class_name == MODEL_IDENTIFIER_CLASS:
        return ModelIdentifier.from_php(value)
    return None


def _to_php_identifier(value: Any) -> Any:
    return value.to_php() if isinstance(value, ModelIdentifier) else None


def _walk(value: Any, convert: Any, seen: dict[int, Any]) -> Any:
    """Depth-first replacement that visits each container once (PHP data can share objects)."""
    replaced = convert(value)
    if replaced is not None:
        return replaced
    if id(value) in seen:
        return value
    if isinstance(value, PhpObject):
        seen[id(value)] = value
        for key, item in list(value.properties.items()):
            value.properties[key] = _walk(item, convert, seen)
    elif isinstance(value, dict):
        seen[id(value)] = value
        for key, item in list(value.items()):
            value[key] = _walk(item, convert, seen)
    elif isinstance(value, list):
        seen[id(value)] = value
        for index, item in enumerate(value):
            value[index] = _walk(item, convert, seen)
    return value


@dataclass(frozen=True)
class ModelTable:
    """Where a PHP model's rows live: table name and primary key column."""

    table: str
    key: str = "id"


class ModelResolver:
    """Re-query queued models as rows (dicts), the way `SerializesModels` restores them.

    `tables` maps a model class (or morph alias) to a table name or a `ModelTable`.
    Rows come from `connections.db(identifier.connection)` when `connections` is
    given, else from the single `db`.
    """

    def __init__(
        self,
        tables: Mapping[str, str | ModelTable],
        *,
        connections: Resources | None = None,
        db: Database | None = None,
    ) -> None:
        if (connections is None) == (db is None):
            raise ValueError("give exactly one of connections= or db=")
        self._tables = {
            name: spec if isinstance(spec, ModelTable) else ModelTable(spec) for name, spec in tables.items()
        }
        self._connections = connections
        self._db = db

    def resolve(self, identifier: ModelIdentifier) -> dict[str, Any] | list[dict[str, Any]]:
        """One row (single model) or rows in the queued key order, missing ones dropped."""
        spec = self._tables.get(identifier.class_name)
        if spec is None:
            raise LookupError(
                f"no table is configured for model {identifier.class_name}; pass it in ModelResolver(tables={{...}})"
            )
        db = self._database(identifier.connection)
        table = db.table(spec.table)
        key = db.quote_identifier(spec.key)
        if not identifier.is_collection:
            row = db.fetch_one(f"select * from {table} where {key} = ? limit 1", (identifier.id,))
            if row is None:
                raise ModelNotFoundError(f"No query results for model [{identifier.class_name}] {identifier.id}")
            return row
        ids = list(identifier.id)
        if not ids:
            return []
        placeholders = ", ".join("?" for _ in ids)
        rows = db.fetch_all(f"select * from {table} where {key} in ({placeholders})", tuple(ids))
        by_key = {str(row[spec.key]): row for row in rows}
        return [by_key[str(i)] for i in ids if str(i) in by_key]

    def resolve_all(self, value: Any) -> Any:
        """Replace every `ModelIdentifier` inside a decoded command by its row(s), in place."""
        return _walk(value, lambda v: self.resolve(v) if isinstance(v, ModelIdentifier) else None, {})

    def _database(self, connection: str | None) -> Database:
        if self._connections is not None:
            return self._connections.db(connection)
        assert self._db is not None
        return self._db
