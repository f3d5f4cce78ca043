"""Driver `file`: Laravel's FileFailedJobProvider, one pretty-printed JSON array.

The file is `storage/framework/cache/failed-jobs.json` (or `queue.failed.path`), newest
first, cut to `limit` entries. Writers take the lock `laravel-failed-jobs` (5 s, waiting up
to 10 s) in Laravel's `file` cache store, i.e. the same lock file PHP uses
(`storage/framework/cache/data/<sha1 path>`, created and checked under `flock`), so PHP
and Python never overwrite each other's entries.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from laravel_queue.errors import ServiceConnectionError
from laravel_queue.failed.base import FailedJob, FailedJobProvider
from laravel_queue.failed.database import DATE_FORMAT, as_utf8, payload_uuid

T = TypeVar("T")
LOCK_NAME = "laravel-failed-jobs"
LOCK_SECONDS = 5
LOCK_WAIT_SECONDS = 10


class LockTimeoutError(ServiceConnectionError, TimeoutError):
    """Laravel's LockTimeoutException: the failed-jobs file stayed locked for 10 s."""


class FileFailedJobProvider(FailedJobProvider):
    def __init__(
        self,
        path: Path | str,
        limit: int = 100,
        *,
        lock_directory: Path | str | None = None,
        timezone: str = "UTC",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.limit = limit
        self.lock_directory = Path(lock_directory) if lock_directory else None
        self.tz = ZoneInfo(timezone)
        self.clock = clock

    # -- the file -------------------------------------------------------------------------------
    def _read(self) -> list[dict[str, Any]]:
        try:
            content = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        if not content.strip():
            return []
        try:
            decoded = json.loads(content)
        except ValueError:
            return []  # Laravel's json_decode failure -> treated as empty
        return [entry for entry in decoded if isinstance(entry, dict)] if isinstance(decoded, list) else []

    def _write(self, jobs: list[dict[str, Any]]) -> None:
        """json_encode(JSON_PRETTY_PRINT): 4-space indent, `\\/` and `\\uXXXX` escapes."""
        text = json.dumps(jobs, indent=4, ensure_ascii=True).replace("/", "\\/")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.path)

    def _record(self, entry: dict[str, Any]) -> FailedJob:
        stamp = entry.get("failed_at_timestamp")
        if isinstance(stamp, (int, float)):
            failed_at = datetime.fromtimestamp(stamp, self.tz)
        else:
            failed_at = datetime.strptime(str(entry.get("failed_at")), DATE_FORMAT).replace(tzinfo=self.tz)
        return FailedJob(
            id=str(entry.get("id")),
            uuid=str(entry.get("id")),
            connection=str(entry.get("connection", "")),
            queue=str(entry.get("queue", "")),
            payload=str(entry.get("payload", "")),
            exception=str(entry.get("exception", "")),
            failed_at=failed_at,
        )

    # -- provider API ----------------------------------------------------------------------------
    def log(self, connection: str, queue: str, payload: str, exception: str) -> str:
        uuid = payload_uuid(payload)

        def write() -> str:
            jobs = self._read()
            now = self.clock()
            entry = {
                "id": uuid,
                "connection": connection,
                "queue": queue,
                "payload": payload,
                "exception": as_utf8(exception),
                "failed_at": datetime.fromtimestamp(now, self.tz).strftime(DATE_FORMAT),
                "failed_at_timestamp": int(now),
            }
            self._write([entry, *jobs][: self.limit])
            return uuid

        return self._locked(write)

    def all(self) -> list[FailedJob]:
        return [self._record(entry) for entry in self._read()]

    def find(self, id: str | int) -> FailedJob | None:
        for entry in self._read():
            if entry.get("id") == id:
                return self._record(entry)
        return None

    def forget(self, id: str | int) -> bool:
        def remove() -> bool:
            jobs = self._read()
            kept = [entry for entry in jobs if entry.get("id") != id]
            self._write(kept)
            return len(kept) != len(jobs)

        return self._locked(remove)

    def flush(self, hours: int | None = None) -> int:
        return self.prune(datetime.fromtimestamp(self.clock() - (hours or 0) * 3600, self.tz))

    def prune(self, before: datetime) -> int:
        """Remove entries with failed_at_timestamp <= before (Laravel's file provider rule)."""
        cutoff = (before if before.tzinfo else before.replace(tzinfo=self.tz)).timestamp()

        def remove() -> int:
            jobs = self._read()
            kept = [entry for entry in jobs if not _timestamp(entry) <= cutoff]
            self._write(kept)
            return len(jobs) - len(kept)

        return self._locked(remove)

    # -- Laravel's file-cache lock ---------------------------------------------------------------
    def _locked(self, callback: Callable[[], T]) -> T:
        if self.lock_directory is None:
            return callback()
        with file_cache_lock(self.lock_directory, LOCK_NAME, LOCK_SECONDS, LOCK_WAIT_SECONDS, self.clock):
            return callback()


def _timestamp(entry: dict[str, Any]) -> float:
    value = entry.get("failed_at_timestamp")
    return float(value) if isinstance(value, (int, float)) else float("-inf")


def file_cache_path(directory: Path, key: str) -> Path:
    """Laravel FileStore::path: sha1(key), nested under its first two 2-character pairs."""
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()
    return directory / digest[0:2] / digest[2:4] / digest


@contextmanager
def file_cache_lock(
    directory: Path, name: str, seconds: int, wait: float, clock: Callable[[], float] = time.time
) -> Iterator[str]:
    """Laravel's `Cache::store('file')->lock(name, seconds)->block(wait)`.

    The lock is a file-store entry whose content is `<expiry><serialize(owner)>`; it is
    added only when absent or expired, under an exclusive flock, exactly as FileStore::add."""
    from laravel_queue.php import dumps

    path = file_cache_path(directory, name)
    owner = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
    value = dumps(owner)
    deadline = time.monotonic() + wait
    while not _file_store_add(path, value, seconds, clock):
        if time.monotonic() >= deadline:
            raise LockTimeoutError(f"could not acquire the lock [{name}] within {wait} seconds")
        time.sleep(0.25)
    try:
        yield owner
    finally:
        _file_store_release(path, value)


def _file_store_add(path: Path, value: bytes, seconds: int, clock: Callable[[], float]) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            content = handle.read()
            if len(content) >= 10 and content[:10].isdigit() and int(content[:10]) > clock():
                return False
            handle.seek(0)
            handle.truncate()
            expiry = 9999999999 if seconds <= 0 else int(clock()) + seconds
            handle.write(str(expiry).encode("ascii") + value)
            handle.flush()
            return True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _file_store_release(path: Path, value: bytes) -> None:
    """Forget the entry only if we still own it (CacheLock::release)."""
    try:
        with open(path, "r+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                content = handle.read()
                if content[10:] == value:
                    path.unlink(missing_ok=True)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    except FileNotFoundError:
        pass
