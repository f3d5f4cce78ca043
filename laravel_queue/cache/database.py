"""The `database` cache store and its locks: Laravel's DatabaseStore / DatabaseLock.

Rows are interchangeable with PHP's: key column = cache prefix + key, value = PHP
`serialize()` (base64 when it holds a NUL byte on PostgreSQL/SQLite), `expiration` = Unix
seconds, lock rows in `cache_locks` keyed by the same prefixed name (laravel-compat.md §13.2,
§13.3). The SQL text is Laravel's grammar output, so query logs compare line for line.
"""

from __future__ import annotations

import base64
import binascii
import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from laravel_queue import compat
from laravel_queue.cache.base import CacheStore, Lock
from laravel_queue.db import Database, UniqueViolationError
from laravel_queue.php import dumps, loads
from laravel_queue.support import str_random

if TYPE_CHECKING:
    from laravel_queue.config.settings import CacheStoreConfig
    from laravel_queue.resources import Resources

FOREVER_SECONDS = 315_360_000
FLEXIBLE_CREATED = "illuminate:cache:flexible:created:"


class DatabaseStore(CacheStore):
    def __init__(
        self,
        db: Database,
        table: str = "cache",
        prefix: str = "",
        *,
        lock_db: Database | None = None,
        lock_table: str = "cache_locks",
        lock_lottery: tuple[int, int] = (2, 100),
        default_lock_timeout: int = 86_400,
        clock: Callable[[], float] = time.time,
        owner_delete_release: bool = False,
    ) -> None:
        self.db = db
        self.table_name = table
        self.prefix = prefix
        self.owner_delete_release = owner_delete_release
        self.lock_db = lock_db or db
        self.lock_table = lock_table
        self.lock_lottery = lock_lottery
        self.default_lock_timeout = default_lock_timeout
        self.clock = clock

    @classmethod
    def from_config(cls, connections: Resources, cfg: CacheStoreConfig) -> DatabaseStore:
        prefix = cfg.prefix if cfg.prefix is not None else connections.settings.cache.prefix
        return cls(
            connections.db(cfg.connection),
            cfg.table,
            prefix,
            lock_db=connections.db(cfg.lock_connection or cfg.connection),
            lock_table=cfg.lock_table,
            owner_delete_release=compat.database_lock_release_is_single_delete(connections.settings.laravel_version),
        )

    def now(self) -> int:
        return int(self.clock())

    @property
    def _t(self) -> str:
        return self.db.table(self.table_name)

    def _q(self, name: str) -> str:
        return self.db.quote_identifier(name)

    # -- value encoding -------------------------------------------------------------------------
    def _base64_dialect(self) -> bool:
        return self.db.dialect in ("pgsql", "sqlite")

    def serialize(self, value: Any) -> str:
        raw = dumps(value)
        if self._base64_dialect() and b"\0" in raw:
            return base64.b64encode(raw).decode("ascii")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            if self._base64_dialect():  # PHP's reader base64-decodes any value without ':' or ';'
                return base64.b64encode(raw).decode("ascii")
            raise ValueError("cache value is not valid UTF-8 and cannot be stored in a MySQL text column") from None

    def unserialize(self, stored: str | bytes) -> Any:
        raw = stored.encode("utf-8") if isinstance(stored, str) else bytes(stored)
        if self._base64_dialect() and b":" not in raw and b";" not in raw:
            try:
                raw = base64.b64decode(raw, validate=False)
            except (binascii.Error, ValueError):
                return None
        return loads(raw)

    # -- reads --------------------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        return self.many([key])[0]

    def many(self, keys: Sequence[str]) -> list[Any]:
        """One `select ... where key in (...)`; expired rows count as missing and are deleted."""
        if not keys:
            return []
        prefixed = [self.prefix + key for key in keys]
        rows = self.db.fetch_all(*self.select_many(prefixed))
        now = self.now()
        expired = [row["key"] for row in rows if int(row["expiration"]) <= now]
        if expired:
            self._forget_if_expired(expired)
        return [None if raw is None else self.unserialize(raw) for raw in self.stored_values(rows, prefixed, now)]

    def select_many(self, prefixed_keys: Sequence[str]) -> tuple[str, list[str]]:
        """Laravel's `many()` SELECT for keys already prefixed: (sql, params), for a caller
        that runs it inside its own transaction (the database queue's pop)."""
        placeholders = ", ".join("?" for _ in prefixed_keys)
        return f"select * from {self._t} where {self._q('key')} in ({placeholders})", list(prefixed_keys)

    def stored_values(self, rows: Sequence[Any], prefixed_keys: Sequence[str], now: int) -> list[Any]:
        """The stored (serialized) value of each key from `select_many` rows; expired at `now`
        or missing: None."""
        live = {row["key"]: row["value"] for row in rows if int(row["expiration"]) > now}
        return [live.get(key) for key in prefixed_keys]

    def _forget_if_expired(self, prefixed_keys: list[str]) -> None:
        keys = [
            item
            for key in prefixed_keys
            for item in (key, self.prefix + FLEXIBLE_CREATED + key.removeprefix(self.prefix))
        ]
        placeholders = ", ".join("?" for _ in keys)
        self.db.execute(
            f"delete from {self._t} where {self._q('key')} in ({placeholders}) and {self._q('expiration')} <= ?",
            [*keys, self.now()],
        )

    # -- writes -------------------------------------------------------------------------------------
    def _upsert_sql(self) -> str:
        q = self._q
        columns = f"{q('expiration')}, {q('key')}, {q('value')}"
        if self.db.dialect == "mysql":
            update = ", ".join(f"{q(c)} = values({q(c)})" for c in ("expiration", "key", "value"))
            return f"insert into {self._t} ({columns}) values (?, ?, ?) on duplicate key update {update}"
        update = ", ".join(f'{q(c)} = {q("excluded")}.{q(c)}' for c in ("expiration", "key", "value"))
        return f"insert into {self._t} ({columns}) values (?, ?, ?) on conflict ({q('key')}) do update set {update}"

    def put(self, key: str, value: Any, seconds: int) -> None:
        """Repository::put: a TTL of 0 or less forgets the key instead."""
        if seconds <= 0:
            self.forget(key)
            return
        self.db.execute(self._upsert_sql(), (self.now() + int(seconds), self.prefix + key, self.serialize(value)))

    def forever(self, key: str, value: Any) -> None:
        self.put(key, value, FOREVER_SECONDS)

    def add(self, key: str, value: Any, seconds: int) -> bool:
        """Store only when there is no live value (insert-or-ignore); True when stored."""
        if seconds <= 0 or self.get(key) is not None:
            return False
        q = self._q
        insert = {"mysql": "insert ignore into", "sqlite": "insert or ignore into"}.get(self.db.dialect, "insert into")
        tail = " on conflict do nothing" if self.db.dialect == "pgsql" else ""
        sql = f"{insert} {self._t} ({q('key')}, {q('value')}, {q('expiration')}) values (?, ?, ?){tail}"
        return self.db.execute(sql, (self.prefix + key, self.serialize(value), self.now() + int(seconds))) > 0

    def increment(self, key: str, by: int = 1) -> int | None:
        """Locked read-modify-write; None (Laravel's false) when missing or not numeric."""
        return self._adjust(key, by)

    def decrement(self, key: str, by: int = 1) -> int | None:
        return self._adjust(key, -by)

    def _adjust(self, key: str, by: int) -> int | None:
        prefixed = self.prefix + key
        lock = "" if self.db.dialect == "sqlite" else " for update"

        def adjust() -> int | None:
            row = self.db.fetch_one(f"select * from {self._t} where {self._q('key')} = ? limit 1{lock}", (prefixed,))
            if row is None:
                return None
            current = self.unserialize(row["value"])
            number = _php_int(current)
            if number is None:
                return None
            new = number + by
            self.db.execute(f"update {self._t} set {self._q('value')} = ? where {self._q('key')} = ?",
                            (self.serialize(new), prefixed))
            return new

        return self.db.run_transaction(adjust)

    def forget(self, key: str) -> bool:
        keys = [self.prefix + key, self.prefix + FLEXIBLE_CREATED + key]
        self.db.execute(f"delete from {self._t} where {self._q('key')} in (?, ?)", keys)
        return True

    def flush(self) -> bool:
        self.db.execute(f"delete from {self._t}")
        return True

    # -- locks ----------------------------------------------------------------------------------------
    def lock(self, name: str, seconds: int = 0, owner: str | None = None) -> DatabaseLock:
        return DatabaseLock(
            self.lock_db,
            self.lock_table,
            self.prefix + name,
            seconds,
            owner or str_random(16),
            lottery=self.lock_lottery,
            default_timeout=self.default_lock_timeout,
            clock=self.clock,
            owner_delete_release=self.owner_delete_release,
        )


def _php_int(value: Any) -> int | None:
    """(int) $value when PHP's is_numeric($value), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, (str, bytes)):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        try:
            return int(float(text.strip())) if text.strip() else None
        except ValueError:
            return None
    return None


class DatabaseLock(Lock):
    """A row in `cache_locks`: INSERT to acquire, conditional UPDATE to take over an expired one.

    `owner_delete_release` (Laravel 13): release is one `DELETE ... WHERE key = ? AND owner = ?`
    (True when a row went) and the current owner ignores expired rows; before 13, release
    reads the owner first and the current owner is the row's, expired or not.
    """

    def __init__(
        self,
        db: Database,
        table: str,
        name: str,
        seconds: int,
        owner: str,
        *,
        lottery: tuple[int, int] = (2, 100),
        default_timeout: int = 86_400,
        clock: Callable[[], float] = time.time,
        owner_delete_release: bool = False,
    ) -> None:
        super().__init__(name, seconds, owner)
        self.owner_delete_release = owner_delete_release
        self.db = db
        self.table_name = table
        self.lottery = lottery
        self.default_timeout = default_timeout
        self.clock = clock

    @property
    def _t(self) -> str:
        return self.db.table(self.table_name)

    def _q(self, name: str) -> str:
        return self.db.quote_identifier(name)

    def now(self) -> int:
        return int(self.clock())

    def _expires_at(self) -> int:
        timeout = self.default_timeout if self.default_timeout > 0 else 86_400
        return self.now() + (self.seconds if self.seconds > 0 else timeout)

    def acquire(self) -> bool:
        q = self._q
        insert = f"insert into {self._t} ({q('key')}, {q('owner')}, {q('expiration')}) values (?, ?, ?)"
        try:
            if self.db.in_transaction:  # a failed INSERT must not abort the caller's transaction
                with self.db.transaction():
                    self.db.execute(insert, (self.name, self.owner, self._expires_at()))
            else:
                self.db.execute(insert, (self.name, self.owner, self._expires_at()))
            acquired = True
        except UniqueViolationError:
            updated = self.db.execute(
                f"update {self._t} set {q('owner')} = ?, {q('expiration')} = ? where {q('key')} = ?"
                f" and ({q('owner')} = ? or {q('expiration')} <= ?)",
                (self.owner, self._expires_at(), self.name, self.owner, self.now()),
            )
            acquired = updated >= 1
        chances, out_of = self.lottery
        if out_of > 0 and random.randint(1, out_of) <= chances:
            self.db.execute(f"delete from {self._t} where {q('expiration')} <= ?", (self.now(),))
        return acquired

    def release(self) -> bool:
        if self.owner_delete_release:
            deleted = self.db.execute(
                f"delete from {self._t} where {self._q('key')} = ? and {self._q('owner')} = ?", (self.name, self.owner)
            )
            return deleted > 0
        if self.get_current_owner() != self.owner:
            return False
        self.db.execute(f"delete from {self._t} where {self._q('key')} = ? and {self._q('owner')} = ?",
                        (self.name, self.owner))
        return True

    def force_release(self) -> None:
        self.db.execute(f"delete from {self._t} where {self._q('key')} = ?", (self.name,))

    def get_current_owner(self) -> str | None:
        if self.owner_delete_release:
            row = self.db.fetch_one(
                f"select * from {self._t} where {self._q('key')} = ? and {self._q('expiration')} > ? limit 1",
                (self.name, self.now()),
            )
            return None if row is None else str(row["owner"])
        row = self.db.fetch_one(f"select * from {self._t} where {self._q('key')} = ? limit 1", (self.name,))
        return None if row is None else str(row["owner"])

    def refresh(self, seconds: int | None = None) -> bool:
        """Extend a lock we still hold (and that has not expired) by `seconds` (default: its TTL)."""
        ttl = self.seconds if seconds is None else seconds
        q = self._q
        expiration = self.now() + (ttl if ttl > 0 else self.default_timeout)
        updated = self.db.execute(
            f"update {self._t} set {q('expiration')} = ? where {q('key')} = ? and {q('owner')} = ?"
            f" and {q('expiration')} > ?",
            (expiration, self.name, self.owner, self.now()),
        )
        return updated > 0
