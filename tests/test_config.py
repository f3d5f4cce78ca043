"""Settings resolve like a Laravel app's config: names, defaults, precedence, errors, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from laravel_queue.cli import app
from laravel_queue.config import ConfigError, load_settings
from laravel_queue.config.dotenv import env_value, parse_dotenv

ENV_FILE = Path(__file__).parent / "fixtures" / "laravel.env"


def test_laravel_12_defaults_with_an_empty_environment(tmp_path: Path) -> None:
    settings = load_settings(environ={}, app_path=tmp_path)
    assert settings.queue.default == "database"
    assert settings.database.default == "sqlite"
    assert settings.database.connections["sqlite"].database == str(tmp_path / "database" / "database.sqlite")
    assert settings.database.redis.prefix == "laravel-database-"
    assert settings.cache.prefix == "laravel-cache-"
    assert settings.cache.default == "database"
    assert settings.queue.failed.driver == "database-uuids"
    assert settings.queue.failed.table == "failed_jobs"
    assert settings.queue.batching.table == "job_batches"
    redis_queue = settings.queue.connections["redis"]
    assert (redis_queue.connection, redis_queue.queue, redis_queue.retry_after, redis_queue.block_for) == (
        "default",
        "default",
        90,
        None,
    )
    database_queue = settings.queue.connections["database"]
    assert (database_queue.table, database_queue.queue, database_queue.retry_after) == ("jobs", "default", 90)
    assert settings.queue.connections["sqs"].prefix == "https://sqs.us-east-1.amazonaws.com/your-account-id"
    assert settings.database.redis.connections["default"].database == 0
    assert settings.database.redis.connections["cache"].database == 1
    assert settings.cache.stores["redis"].connection == "cache"
    assert settings.cache.stores["redis"].lock_connection == "default"
    assert settings.app.cipher == "AES-256-CBC"
    assert settings.app.timezone == "UTC"


@pytest.mark.parametrize(
    ("version", "redis_prefix", "cache_prefix"),
    [
        ("12", "laravel-database-", "laravel-cache-"),
        ("11", "laravel_database_", "laravel_cache_"),
        ("10", "laravel_database_", "laravel_cache_"),
    ],
)
def test_prefixes_follow_the_skeleton_of_each_version(version: str, redis_prefix: str, cache_prefix: str) -> None:
    settings = load_settings(environ={"LARAVEL_VERSION": version})
    assert settings.database.redis.prefix == redis_prefix
    assert settings.cache.prefix == cache_prefix


def test_prefixes_are_slugs_of_app_name() -> None:
    settings = load_settings(environ={"APP_NAME": "Héllo World & Co"})
    assert settings.database.redis.prefix == "hello-world-co-database-"
    assert settings.cache.prefix == "hello-world-co-cache-"


def test_env_file_values_and_laravel_literals() -> None:
    settings = load_settings(env_file=ENV_FILE, environ={})
    assert settings.app.name == "Acme Shop"
    assert settings.app.timezone == "Europe/Amsterdam"
    assert settings.queue.default == "redis"
    assert settings.database.redis.prefix == "acme-shop-database-"
    assert settings.cache.prefix == ""  # an explicitly empty CACHE_PREFIX stays empty
    redis = settings.database.redis.connections["default"]
    assert (redis.host, redis.port, redis.password) == ("127.0.0.1", 6380, None)  # ${DB_HOST}, null
    assert settings.queue.connections["redis"].queue == "emails"
    assert settings.queue.connections["redis"].retry_after == 120
    mariadb = settings.database.connections["mariadb"]
    assert mariadb.password is not None
    assert mariadb.password.get_secret_value() == "p@ss ${NOT_EXPANDED}"  # single quotes: no expansion
    sqs = settings.queue.connections["sqs"]
    assert (sqs.region, sqs.suffix) == ("eu-west-1", "-production")
    assert sqs.secret is not None and sqs.secret.get_secret_value() == "aws secret with spaces"


def test_precedence_cli_over_environment_over_env_file_over_defaults() -> None:
    from_file = load_settings(env_file=ENV_FILE, environ={})
    from_env = load_settings(env_file=ENV_FILE, environ={"REDIS_QUEUE": "env-queue"})
    from_cli = load_settings(env_file=ENV_FILE, environ={"REDIS_QUEUE": "env-queue"}, overrides={"REDIS_QUEUE": "cli"})
    default = load_settings(environ={})
    assert default.queue.connections["redis"].queue == "default"
    assert from_file.queue.connections["redis"].queue == "emails"
    assert from_env.queue.connections["redis"].queue == "env-queue"
    assert from_cli.queue.connections["redis"].queue == "cli"


def test_app_path_reads_its_env_and_resolves_relative_paths(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DB_DATABASE=database/app.sqlite\nQUEUE_CONNECTION=database\n")
    settings = load_settings(app_path=tmp_path, environ={})
    assert settings.database.connections["sqlite"].database == str(tmp_path / "database" / "app.sqlite")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REDIS_PORT", "six"),
        ("DB_QUEUE_RETRY_AFTER", "soon"),
        ("QUEUE_CONNECTION", "beanstalk"),
        ("REDIS_SERIALIZER", "igbinary"),
        ("LARAVEL_VERSION", "twelve"),
    ],
)
def test_invalid_values_fail_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(environ={variable: value})


def test_dotenv_parser_rules() -> None:
    parsed = parse_dotenv(
        'A=plain # comment\nB="x ${A} \\n y"\nC=\'${A}\'\nexport D=(empty)\nE="multi\nline"\n', environ={}
    )
    assert parsed["A"] == "plain"
    assert parsed["B"] == "x plain \n y"
    assert parsed["C"] == "${A}"
    assert env_value(parsed["D"]) == ""
    assert parsed["E"] == "multi\nline"
    assert [env_value(v) for v in ("true", "(false)", "null", "NULL")] == [True, False, None, None]


def test_config_show_masks_secrets_and_prints_connections() -> None:
    result = CliRunner().invoke(app, ["config:show", "--env-file", str(ENV_FILE)])
    assert result.exit_code == 0, result.output
    assert "queue.connections.redis.queue" in result.output
    assert "emails" in result.output
    for secret in ("cmpYHSmqXs57", "aws secret with spaces", "p@ss", "AKIAEXAMPLE"):
        assert secret not in result.output
    as_json = CliRunner().invoke(app, ["config:show", "--env-file", str(ENV_FILE), "--json"])
    data = json.loads(as_json.output)
    assert data["app"]["key"] == "**********"
    assert data["queue"]["default"] == "redis"


def test_config_show_reports_bad_values_in_one_line() -> None:
    result = CliRunner().invoke(app, ["config:show"], env={"REDIS_PORT": "nope"})
    assert result.exit_code == 2
    assert "REDIS_PORT" in result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("laravel-queue ")


def test_db_url_parts_win_over_separate_variables() -> None:
    settings = load_settings(
        environ={
            "DB_CONNECTION": "pgsql",
            "DB_HOST": "ignored",
            "DB_URL": "postgresql://u:p%40ss@db.example:6543/app?sslmode=require",
        }
    )
    cfg = settings.db_connection()
    assert (cfg.host, cfg.port, cfg.database, cfg.username, cfg.sslmode) == ("db.example", 6543, "app", "u", "require")
    assert cfg.password is not None and cfg.password.get_secret_value() == "p@ss"
    assert load_settings(environ={"DB_URL": "sqlite:////tmp/x.sqlite"}).db_connection().database == "/tmp/x.sqlite"


def test_null_failed_driver_selects_the_null_provider() -> None:
    assert load_settings(environ={"QUEUE_FAILED_DRIVER": "null"}).queue.failed.driver == "null"
    assert load_settings(environ={"QUEUE_FAILED_DRIVER": "(null)"}).queue.failed.driver == "null"
    assert load_settings(environ={}).queue.failed.driver == "database-uuids"
