"""Encrypted and authenticated connections: rediss:// with certificate checks, Redis ACL users,
PostgreSQL `sslmode` and MySQL `MYSQL_ATTR_SSL_CA` reaching (and being enforced by) the drivers.

Redis runs as our own redis-server (TLS port, or ACL users) on a free port; the shared
databases have SSL disabled, so for them the test proves that asking for SSL fails
loudly instead of silently falling back to plaintext.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, free_port, port_open, unavailable, wait_for

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.schema import migrate

ACL_PASSWORD = "aclpw-T6w3-distinct"


def make_certificates(directory: Path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl CLI)."""
    openssl = shutil.which("openssl")
    if not openssl:
        unavailable("openssl is not installed (apt-get install openssl)")
    assert openssl

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=directory, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=laravel-queue-test-ca",
    )
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "ext",
    )
    return directory


def start_redis(args: list[str], port: int, workdir: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if not binary:
        unavailable("redis-server is not installed (apt-get install redis-server)")
    assert binary
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: port_open("127.0.0.1", port), what="our redis-server to listen")
    return proc


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    certs = make_certificates(tmp_path)
    port = free_port()
    proc = start_redis(
        [
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(certs / "server.pem"),
            "--tls-key-file",
            str(certs / "server.key"),
            "--tls-ca-cert-file",
            str(certs / "ca.pem"),
            "--tls-auth-clients",
            "no",
        ],
        port,
        tmp_path,
    )
    yield port, certs / "ca.pem"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[int]:
    """Only user `lqworker` may log in, and only keys under `rel-` are reachable to it."""
    port = free_port()
    proc = start_redis(["--port", str(port)], port, tmp_path)
    import redis

    admin = redis.Redis(port=port)
    admin.acl_setuser(
        "lqworker", enabled=True, passwords=[f"+{ACL_PASSWORD}"], keys=["rel-*"], commands=["+@all", "-@dangerous"]
    )
    admin.acl_setuser("default", enabled=False)
    admin.close()
    yield port
    proc.terminate()
    proc.wait(10)


def run_worker(env: dict[str, str]) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "laravel_queue",
            "queue:work",
            "--jobs",
            "tests.support.reliability_jobs",
            "--stop-when-empty",
            "--sleep",
            "0",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout + result.stderr


def push_record(env: dict[str, str], log: Path) -> None:
    connections = Connections(load_settings(environ=env))
    try:
        queue = connections.queue()
        payload = queue.prepare_payload(string_job_payload("Tests\\Rel\\Record@handle", {"log": str(log), "n": 1}))
        queue.push_raw(php_json_encode(payload), None)
    finally:
        connections.close()


def redis_env(sqlite_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = {
        **sqlite_env,
        "QUEUE_CONNECTION": "redis",
        "CACHE_STORE": "redis",
        "REDIS_PREFIX": "rel-database-",
        "CACHE_PREFIX": "rel-cache-",
        **extra,
    }
    connections = Connections(load_settings(environ=env))
    migrate(connections.db())
    connections.close()
    return env


def test_rediss_url_connects_with_verified_tls(
    tls_redis: tuple[int, Path], sqlite_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, ca = tls_redis
    env = redis_env(sqlite_env, REDIS_URL=f"rediss://127.0.0.1:{port}/0", SSL_CERT_FILE=str(ca))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the test's own pushes verify the server too
    log = tmp_path / "jobs.log"
    push_record(env, log)
    output = run_worker(env)
    assert log.read_text().startswith("done 1 "), output


def test_rediss_refuses_a_server_it_cannot_verify(
    tls_redis: tuple[int, Path], sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    port, _ = tls_redis
    env = redis_env(sqlite_env, REDIS_URL=f"rediss://127.0.0.1:{port}/0")
    env["SSL_CERT_FILE"] = str(tmp_path / "no-such-ca.pem")
    output = run_worker(env)
    assert "could not pop" in output and "certificate verify failed" in output, output


def test_plain_redis_against_a_tls_port_fails_loudly(tls_redis: tuple[int, Path], sqlite_env: dict[str, str]) -> None:
    port, _ = tls_redis
    output = run_worker(redis_env(sqlite_env, REDIS_HOST="127.0.0.1", REDIS_PORT=str(port)))
    assert "could not pop" in output, output


def test_redis_acl_user_with_prefix_scoped_keys(acl_redis: int, sqlite_env: dict[str, str], tmp_path: Path) -> None:
    """The ACL allows only `rel-*` keys: every key the worker and the cache touch is prefixed."""
    env = redis_env(
        sqlite_env,
        REDIS_HOST="127.0.0.1",
        REDIS_PORT=str(acl_redis),
        REDIS_USERNAME="lqworker",
        REDIS_PASSWORD=ACL_PASSWORD,
    )
    log = tmp_path / "jobs.log"
    push_record(env, log)
    output = run_worker(env)
    assert log.read_text().startswith("done 1 "), output
    assert "NOPERM" not in output and "could not" not in output, output


def test_redis_acl_wrong_password_is_reported_without_the_password(acl_redis: int, sqlite_env: dict[str, str]) -> None:
    env = redis_env(
        sqlite_env,
        REDIS_HOST="127.0.0.1",
        REDIS_PORT=str(acl_redis),
        REDIS_USERNAME="lqworker",
        REDIS_PASSWORD="wrong-" + ACL_PASSWORD,
    )
    output = run_worker(env)
    assert "could not pop" in output and ("WRONGPASS" in output or "invalid username-password" in output), output
    assert ACL_PASSWORD not in output


def test_pgsql_sslmode_require_is_enforced(pgsql_env: dict[str, str]) -> None:
    """The shared server has ssl=off: `require` must fail rather than fall back to plaintext."""
    from laravel_queue.db import connect

    settings = load_settings(environ={**pgsql_env, "DB_SSLMODE": "require"})
    with pytest.raises(Exception, match=r"(?i)ssl"):
        connect(settings.db_connection()).fetch_value("select 1")
    plain = connect(load_settings(environ={**pgsql_env, "DB_SSLMODE": "disable"}).db_connection())
    try:
        assert plain.fetch_value("select 1") == 1
    finally:
        plain.close()


def test_mysql_ssl_ca_is_enforced(mysql_env: dict[str, str], tmp_path: Path) -> None:
    """The shared MariaDB has SSL disabled: a configured CA must make the connection fail, not downgrade."""
    from laravel_queue.db import connect

    ca = make_certificates(tmp_path) / "ca.pem"
    settings = load_settings(environ={**mysql_env, "MYSQL_ATTR_SSL_CA": str(ca)})
    with pytest.raises(Exception, match=r"(?i)ssl"):
        connect(settings.db_connection()).fetch_value("select 1")


def test_db_url_components_are_used() -> None:
    settings = load_settings(
        environ={"DB_CONNECTION": "pgsql", "DB_URL": "postgresql://app:urlpw@db.internal:6543/appdb?sslmode=require"}
    )
    cfg: Any = settings.db_connection()
    assert (cfg.host, cfg.port, cfg.database, cfg.username) == ("db.internal", 6543, "appdb", "app")
