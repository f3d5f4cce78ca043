"""The named version rules in laravel_queue.compat, one release on each side of every boundary."""

from __future__ import annotations

import pytest

from laravel_queue import compat
from laravel_queue.config.settings import ConfigError, load_settings, parse_laravel_version


@pytest.mark.parametrize(
    ("rule", "last_without", "first_with"),
    [
        (compat.slugs_use_hyphens, (11, 99), (12, 0)),
        (compat.unique_key_has_separator, (10, 99), (11, 0)),
        (compat.lock_key_uses_display_name, (12, 40), (12, 41)),
        (compat.unique_key_uses_xxh128, (12, 53), (12, 54)),
        (compat.unique_lock_has_owner, (12, 99), (13, 0)),
        (compat.context_carries_unique_lock, (11, 38), (11, 39)),
        (compat.queueable_has_laravel11_properties, (10, 99), (11, 0)),
        (compat.queueable_has_message_group, (12, 26), (12, 27)),
        (compat.queueable_has_lock_owners, (12, 99), (13, 0)),
        (compat.payload_has_created_at_and_delay, (12, 10), (12, 11)),
        (compat.payload_has_batch_id, (12, 50), (12, 51)),
        (compat.payload_has_delete_when_missing_models, (12, 99), (13, 0)),
    ],
)
def test_each_rule_switches_on_at_its_release(rule, last_without, first_with) -> None:
    assert rule(last_without) is False
    assert rule(first_with) is True


def test_rules_that_ended_with_a_release() -> None:
    assert compat.cache_prefix_gets_colon((10, 99)) and not compat.cache_prefix_gets_colon((11, 0))
    assert compat.cache_store_variable((10, 99)) == "CACHE_DRIVER"
    assert compat.cache_store_variable((11, 0)) == "CACHE_STORE"
    assert (compat.default_cache_store((10, 99)), compat.default_cache_store((11, 0))) == ("file", "database")


@pytest.mark.parametrize("raw", ["10", "11.5", "12.54.1", "13"])
def test_supported_majors_are_10_to_13(raw: str) -> None:
    assert compat.is_supported_major(parse_laravel_version(raw)[0])


@pytest.mark.parametrize("raw", ["8", "9.52", "14"])
def test_majors_outside_10_to_13_are_refused_with_the_range_in_the_message(raw: str) -> None:
    with pytest.raises(ConfigError, match="supported majors are 10 to 13"):
        load_settings(environ={"LARAVEL_VERSION": raw})


def test_a_bare_major_means_its_newest_minor() -> None:
    assert parse_laravel_version("12") == compat.DEFAULT_VERSION


@pytest.mark.parametrize(
    ("dialect", "server", "expected"),
    [
        ("sqlite", "3.45.1", False),
        ("mysql", "8.0.0", False),
        ("mysql", "8.0.1", True),
        ("mysql", "5.5.5-10.5.23-MariaDB-1", False),
        ("mysql", "5.5.5-10.6.0-MariaDB-1", True),
        ("mysql", "10.11.19-MariaDB-ubu2204", True),
        ("mysql", "18.0.0-vitess", False),
        ("mysql", "19.0.2-vitess", True),
        ("pgsql", "9.4", False),
        ("pgsql", "9.5", True),
        ("pgsql", "16.2", True),
    ],
)
def test_skip_locked_follows_laravels_server_rule(dialect: str, server: str, expected: bool) -> None:
    assert compat.supports_skip_locked(dialect, server) is expected


def test_server_version_rules() -> None:
    assert compat.version_tuple("8.0.36-log") == (8, 0, 36)
    assert compat.version_tuple("unknown") == (0,)
    assert compat.mariadb_version("8.0.36") is None
    assert compat.mariadb_version("5.5.5-10.11.19-MariaDB-1") == (10, 11, 19)
    assert compat.mariadb_runs_compound_statements("10.1.1-MariaDB")
    assert not compat.mariadb_runs_compound_statements("10.1.0-MariaDB")
    assert not compat.mariadb_runs_compound_statements("8.0.36")
    assert compat.redis_scripts_keep_db("7.2.4") and not compat.redis_scripts_keep_db("6.2.14")
    assert not compat.redis_scripts_keep_db("0")
