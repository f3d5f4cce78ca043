"""SerializesModels references (spec §4.3-4.4): typed identifiers and re-querying them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import laravel_fixture

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.db import Database
from laravel_queue.models import (
    ModelIdentifier,
    ModelNotFoundError,
    ModelResolver,
    ModelTable,
    replace_model_identifiers,
    restore_model_identifiers,
)
from laravel_queue.payload import decode_command
from laravel_queue.php import PhpObject, dumps, loads


@pytest.fixture
def users_db(sqlite_env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ=sqlite_env, env_file=None))
    db: Database = connections.db()
    db.execute("create table users (id integer primary key, name varchar(50))")
    db.execute("create table posts (uuid varchar(36) primary key, title varchar(50))")
    for user_id, name in ((1, "Ada"), (2, "Grace"), (3, "Linus")):
        db.execute("insert into users (id, name) values (?, ?)", (user_id, name))
    db.execute("insert into posts (uuid, title) values (?, ?)", ("p-1", "Hello"))
    yield connections
    connections.close()


def eloquent_command() -> PhpObject:
    return decode_command(json.loads(laravel_fixture("sqlite/eloquent_model.json")["raw_payload"]))


def test_identifiers_round_trip_to_the_exact_php_bytes() -> None:
    raw = json.loads(laravel_fixture("redis/eloquent_model.json")["raw_payload"])["data"]["command"]
    command = replace_model_identifiers(loads(raw))
    assert isinstance(command.user, ModelIdentifier) and not command.user.is_collection
    assert dumps(restore_model_identifiers(command)).decode() == raw


def test_single_models_and_collections_become_rows_in_queued_order(users_db: Connections) -> None:
    resolver = ModelResolver({"App\\Models\\User": "users"}, connections=users_db)
    command = eloquent_command()
    assert resolver.resolve(command.user) == {"id": 1, "name": "Ada"}
    reordered = ModelIdentifier("App\\Models\\User", [3, 99, 1], [], "sqlite")
    assert resolver.resolve(reordered) == [{"id": 3, "name": "Linus"}, {"id": 1, "name": "Ada"}]
    resolved = resolver.resolve_all(command)
    assert resolved.users == [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}]
    assert resolved.loadedWithRelation is None


def test_missing_rows_and_unmapped_models_are_reported(users_db: Connections) -> None:
    resolver = ModelResolver({"App\\Models\\Post": ModelTable("posts", key="uuid")}, db=users_db.db())
    assert resolver.resolve(ModelIdentifier("App\\Models\\Post", "p-1"))["title"] == "Hello"
    with pytest.raises(ModelNotFoundError, match=r"App\\Models\\Post\] p-2"):
        resolver.resolve(ModelIdentifier("App\\Models\\Post", "p-2"))
    with pytest.raises(LookupError, match="no table is configured for model App\\\\Models\\\\User"):
        resolver.resolve(ModelIdentifier("App\\Models\\User", 1))
    with pytest.raises(ValueError, match="exactly one"):
        ModelResolver({})
