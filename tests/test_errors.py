"""One exception tree: every class the package defines is a LaravelQueueError, keeps its old
builtin base, and the failures users hit (services down, tables missing) are UserErrors."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

import laravel_queue
from laravel_queue.config import ConfigError, load_settings
from laravel_queue.config.dotenv import DotenvError, read_dotenv
from laravel_queue.connections import Connections
from laravel_queue.db import LostConnectionError, MissingTableError
from laravel_queue.dispatch import Command, dispatch
from laravel_queue.errors import (
    ConfigurationError,
    LaravelQueueError,
    PayloadError,
    ServiceConnectionError,
    UserError,
)
from laravel_queue.service_errors import RedisUnavailableError


def _package_modules() -> Iterator[str]:
    for info in pkgutil.walk_packages(laravel_queue.__path__, "laravel_queue."):
        if not info.name.endswith("__main__"):
            yield info.name


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_exception_class_in_the_package_derives_from_laravel_queue_error() -> None:
    for name in _package_modules():
        importlib.import_module(name)
    ours = {cls for cls in _subclasses(BaseException) if cls.__module__.startswith("laravel_queue.")}
    assert len(ours) > 30
    outside = sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in ours if not issubclass(cls, LaravelQueueError))
    assert outside == []


@pytest.mark.parametrize(
    ("path", "builtin", "branch"),
    [
        ("laravel_queue.config.ConfigError", ValueError, ConfigurationError),
        ("laravel_queue.dispatch.DispatchError", ValueError, PayloadError),
        ("laravel_queue.job.InvalidPayloadError", ValueError, PayloadError),
        ("laravel_queue.php.PhpUnserializeError", ValueError, PayloadError),
        ("laravel_queue.registry.UnknownJobError", LookupError, ConfigurationError),
        ("laravel_queue.failed.file.LockTimeoutError", TimeoutError, ServiceConnectionError),
        ("laravel_queue.drivers.sqs.SqsQueueError", RuntimeError, ServiceConnectionError),
    ],
)
def test_old_builtin_bases_still_catch(path: str, builtin: type, branch: type) -> None:
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, builtin) and issubclass(cls, branch)


def test_a_bad_env_file_is_a_configuration_error(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text('BROKEN="never closed\n')
    with pytest.raises(DotenvError) as raised:
        read_dotenv(env, {})
    assert isinstance(raised.value, ConfigError) and isinstance(raised.value, UserError)


def _dispatch_error(env: dict[str, str]) -> BaseException:
    """What a dispatch on these settings raises (it must raise)."""
    conns = Connections(load_settings(environ=env))
    try:
        with pytest.raises(LaravelQueueError) as raised:
            dispatch(Command("App\\Jobs\\Ping"), connections=conns)
    finally:
        conns.close()
    return raised.value


def test_dispatch_with_redis_down_is_a_service_connection_error_with_a_hint() -> None:
    error = _dispatch_error({"QUEUE_CONNECTION": "redis", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(free_port())})
    assert isinstance(error, RedisUnavailableError) and isinstance(error, ServiceConnectionError)
    assert "cannot reach Redis" in str(error) and error.hint


@pytest.mark.parametrize("engine_env", ["sqlite_env", "mysql_env", "pgsql_env"])
def test_dispatch_before_migrate_names_the_fix(engine_env: str, request: pytest.FixtureRequest) -> None:
    error = _dispatch_error(dict(request.getfixturevalue(engine_env)))
    assert isinstance(error, MissingTableError) and isinstance(error, ServiceConnectionError)
    assert "laravel-queue migrate" in (error.hint or "")


def test_an_unreachable_database_is_a_service_connection_error(mysql_env: dict[str, str]) -> None:
    error = _dispatch_error({**mysql_env, "DB_PORT": str(free_port())})
    assert isinstance(error, LostConnectionError) and isinstance(error, ServiceConnectionError)


def test_library_code_raises_no_typer_types() -> None:
    package = Path(laravel_queue.__file__).parent
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "cli" not in path.relative_to(package).parts and "typer" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
