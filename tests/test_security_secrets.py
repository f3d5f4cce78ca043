"""APP_KEY, passwords and AWS secrets never appear in output, logs, config:show or failed_jobs.

Every secret gets a distinctive value; every command runs as a real subprocess and
every byte it prints (and every failed_jobs row it writes) is searched for each of them,
including while connections fail (wrong passwords, unreachable endpoints), which is
when drivers like to echo their configuration.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ROOT, free_port

from laravel_queue.bus.encryption import Encrypter, parse_app_key
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.php import PhpObject, dumps
from laravel_queue.schema import migrate

RAW_APP_KEY = b"KEYKEY-distinct-app-key-32bytes!"
APP_KEY = "base64:" + base64.b64encode(RAW_APP_KEY).decode()
PREVIOUS_KEY = "base64:" + base64.b64encode(b"PREVKEY-distinct-old-key-32byte!").decode()
SECRETS = {
    "APP_KEY": APP_KEY,
    "APP_PREVIOUS_KEYS": PREVIOUS_KEY,
    "DB_PASSWORD": "dbpw-Z7q1-distinct",
    "REDIS_PASSWORD": "redispw-K9x4-distinct",
    "AWS_SECRET_ACCESS_KEY": "awssecret-M3v8-distinct",
    "AWS_SESSION_TOKEN": "awstoken-P5n2-distinct",
}
NEEDLES = [
    *SECRETS.values(),
    APP_KEY.removeprefix("base64:"),
    PREVIOUS_KEY.removeprefix("base64:"),
    RAW_APP_KEY.decode(),
    "PREVKEY-distinct",
    "urlpw-R2d7-distinct",
]


def assert_no_secret(text: str, where: str) -> None:
    leaked = [needle for needle in NEEDLES if needle in text]
    assert not leaked, f"{where} contains secret(s) {leaked}:\n{text[:3000]}"


def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "laravel_queue", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result.stdout + result.stderr


@pytest.fixture
def secret_env(sqlite_env: dict[str, str], redis_server: tuple[str, int], redis_prefix: str) -> dict[str, str]:
    """A database queue on SQLite with every secret set; the Redis cache refuses the password."""
    return {
        **sqlite_env,
        **SECRETS,
        "CACHE_STORE": "redis",
        "REDIS_HOST": redis_server[0],
        "REDIS_PORT": str(redis_server[1]),
        "REDIS_PREFIX": redis_prefix,
        "AWS_ACCESS_KEY_ID": "AKIATESTKEYID",
        "SQS_PREFIX": "http://127.0.0.1:1/123456789012",
    }


@pytest.fixture
def conns(secret_env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ={**secret_env, "CACHE_STORE": "array"}))
    migrate(connections.db())
    yield connections
    connections.close()


def test_config_show_masks_every_secret(secret_env: dict[str, str]) -> None:
    env = {
        **secret_env,
        "REDIS_URL": "redis://user:urlpw-R2d7-distinct@127.0.0.1:6379/0",
        "DB_URL": "mysql://root:urlpw-R2d7-distinct@127.0.0.1:3306/app",
    }
    for args in (["config:show"], ["config:show", "--json"]):
        output = run_cli(env, *args)
        assert "queue" in output, output
        assert_no_secret(output, " ".join(args))


def test_settings_repr_and_dump_hide_secrets(secret_env: dict[str, str]) -> None:
    settings = load_settings(environ={**secret_env, "REDIS_URL": "redis://u:urlpw-R2d7-distinct@h:1/0"})
    assert_no_secret(repr(settings), "repr(settings)")
    assert_no_secret(str(settings), "str(settings)")
    assert_no_secret(settings.model_dump_json(), "settings.model_dump_json()")


def test_worker_output_and_failed_jobs_hold_no_secret(
    secret_env: dict[str, str], conns: Connections, tmp_path: Any
) -> None:
    queue = conns.queue()
    encrypter = Encrypter(parse_app_key(APP_KEY))
    sealed = encrypter.encrypt(dumps(dumps(PhpObject("App\\Jobs\\Canary", {"n": 1}))))
    tampered = sealed[:-8] + ("A" * 8 if not sealed.endswith("A" * 8) else "B" * 8)
    jobs = [
        string_job_payload("App\\Jobs\\Unknown@handle", {"x": 1}),
        {
            **string_job_payload("x@y"),
            "job": "Illuminate\\Queue\\CallQueuedHandler@call",
            "displayName": "App\\Jobs\\Canary",
            "data": {"commandName": "App\\Jobs\\Canary", "command": tampered},
        },
        {
            **string_job_payload("x@y"),
            "job": "Illuminate\\Queue\\CallQueuedHandler@call",
            "displayName": "App\\Jobs\\TypedJob",
            "data": {
                "commandName": "App\\Jobs\\TypedJob",
                "command": dumps(PhpObject("App\\Jobs\\TypedJob", {"user_id": "x"})).decode(),
            },
        },
    ]
    for payload in jobs:
        queue.push_raw(php_json_encode(queue.prepare_payload(payload)), "default")
    env = {**secret_env, "REDIS_PASSWORD": SECRETS["REDIS_PASSWORD"]}  # the shared Redis has no password: AUTH fails
    output = run_cli(
        env, "queue:work", "--jobs", "tests.support.reliability_jobs", "--stop-when-empty", "--sleep", "0", "-v"
    )
    assert_no_secret(output, "queue:work output")
    failed = conns.failed().all()
    assert len(failed) == 3, output
    for record in failed:
        assert_no_secret(record.exception, f"failed_jobs.exception of {record.uuid}")


def test_connection_errors_hold_no_secret(mysql_server: tuple[str, int, str, str], sqlite_env: dict[str, str]) -> None:
    """Wrong MariaDB password, unreachable PostgreSQL/Redis/SQS given by URLs with passwords."""
    host, port, _, _ = mysql_server
    closed = str(free_port())
    cases = {
        "mariadb wrong password": {
            "DB_CONNECTION": "mariadb",
            "DB_HOST": host,
            "DB_PORT": str(port),
            "DB_DATABASE": "mysql",
            "DB_USERNAME": "root",
            "DB_PASSWORD": SECRETS["DB_PASSWORD"],
            "QUEUE_CONNECTION": "database",
        },
        "pgsql url, nothing listening": {
            "DB_CONNECTION": "pgsql",
            "QUEUE_CONNECTION": "database",
            "DB_URL": f"postgresql://postgres:urlpw-R2d7-distinct@127.0.0.1:{closed}/x",
        },
        "redis url, nothing listening": {
            "QUEUE_CONNECTION": "redis",
            "REDIS_URL": f"redis://u:urlpw-R2d7-distinct@127.0.0.1:{closed}/0",
        },
        "sqs, nothing listening": {
            "QUEUE_CONNECTION": "sqs",
            "AWS_ACCESS_KEY_ID": "AKIATESTKEYID",
            "AWS_SECRET_ACCESS_KEY": SECRETS["AWS_SECRET_ACCESS_KEY"],
            "AWS_SESSION_TOKEN": SECRETS["AWS_SESSION_TOKEN"],
            "SQS_ENDPOINT": f"http://127.0.0.1:{closed}",
            "SQS_PREFIX": f"http://127.0.0.1:{closed}/123456789012",
        },
    }
    for name, overrides in cases.items():
        env = {**sqlite_env, "CACHE_STORE": "array", "APP_KEY": APP_KEY, **overrides}
        output = run_cli(env, "queue:work", "--stop-when-empty", "--sleep", "0", "-v", timeout=90)
        assert "could not pop" in output or "Error" in output, f"{name}: the failure is not reported:\n{output}"
        assert_no_secret(output, name)
