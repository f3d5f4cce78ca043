"""Hostile and broken payloads pushed to a real Redis queue while a real worker runs.

One `queue:work` subprocess (with an audit hook, see tests/support/reliability_jobs.py)
works through a catalogue of bad payloads, one at a time, each followed by a harmless
job that proves the worker is still alive. Each bad payload must end in failed_jobs with
an exception naming the problem; the worker must keep running with bounded memory; and
nothing named by the data may be imported or called.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid as uuid_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, wait_for

from laravel_queue.bus.encryption import Encrypter, parse_app_key
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode
from laravel_queue.php import dumps
from laravel_queue.schema import migrate

APP_KEY = "base64:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY="  # 32 bytes, test-only
HANDLER = "Illuminate\\Queue\\CallQueuedHandler@call"
CANARY_CLASS = "App\\Jobs\\Canary"
BIG = 50 * 1024 * 1024
MEMORY_LIMIT_MB = 600
"""Peak RSS the worker may reach while chewing through the catalogue (50 MB payloads included)."""


@dataclass(frozen=True)
class Hostile:
    name: str
    expect: tuple[str, ...]
    """Fragments the failed_jobs exception must contain (it names the problem)."""
    build: Callable[[str], bytes]
    """uuid -> the raw bytes pushed to the queue list."""
    bug: str | None = None
    """A known defect in another module (the test is a strict xfail until it is fixed)."""


def envelope(uid: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uuid": uid,
        "displayName": fields.get("displayName", CANARY_CLASS),
        "job": HANDLER,
        "maxTries": None,
        "maxExceptions": None,
        "failOnTimeout": False,
        "backoff": None,
        "timeout": None,
        "data": {"commandName": CANARY_CLASS, "command": ""},
        "id": uid.replace("-", ""),
        "attempts": 0,
    }
    base.update(fields)
    return base


def object_job(command: str | bytes, command_name: str = CANARY_CLASS) -> Callable[[str], bytes]:
    """An object job whose data.command is `command` (bytes spliced in raw, for non-UTF-8 input)."""

    def build(uid: str) -> bytes:
        marker = "@@COMMAND@@"
        body = php_json_encode(
            envelope(uid, displayName=command_name, data={"commandName": command_name, "command": marker})
        )
        raw = command if isinstance(command, bytes) else json.dumps(command)[1:-1].encode()
        return body.encode().replace(marker.encode(), raw)

    return build


def string_job(job: str, data: Any = None) -> Callable[[str], bytes]:
    return lambda uid: php_json_encode(envelope(uid, displayName=job.partition("@")[0], job=job, data=data)).encode()


def canary_command(**props: Any) -> str:
    from laravel_queue.php import PhpObject

    return dumps(PhpObject(CANARY_CLASS, props)).decode()


def typed_command(**props: Any) -> str:
    from laravel_queue.php import PhpObject

    return dumps(PhpObject("App\\Jobs\\TypedJob", props)).decode()


def encrypted(tamper: Callable[[str], str], inner: bytes | None = None) -> Callable[[str], bytes]:
    def build(uid: str) -> bytes:
        encrypter = Encrypter(parse_app_key(APP_KEY))
        plaintext = inner or dumps(canary_command(n=1, log="/dev/null"))  # Laravel encrypts serialize($command)
        sealed = tamper(encrypter.encrypt(plaintext))
        return object_job(sealed)(uid)

    return build


def flip_mac(token: str) -> str:
    import base64

    parts = json.loads(base64.b64decode(token))
    parts["value"] = parts["value"][:-4] + ("AAAA" if parts["value"][-4:] != "AAAA" else "BBBB")
    return base64.b64encode(json.dumps(parts).encode()).decode()


DEEP = 100_000
CATALOGUE = [
    Hostile("invalid json", ("not valid JSON",), lambda uid: b'{"uuid":"' + uid.encode() + b'","job":'),
    Hostile("json array", ("not a JSON object",), lambda uid: b"[1,2,3]"),
    Hostile("json scalar", ("not a JSON object",), lambda uid: b'"just a string"'),
    Hostile("json without job", ("job",), lambda uid: json.dumps({"uuid": uid, "data": {}}).encode()),
    Hostile("job is not a string", ("job",), lambda uid: json.dumps({"uuid": uid, "job": ["x"], "data": {}}).encode()),
    Hostile(
        "json nested 100000 deep",
        ("JSON",),
        lambda uid: b'{"uuid":"' + uid.encode() + b'","job":"X@y","data":' + b"[" * DEEP + b"]" * DEEP + b"}",
    ),
    Hostile(
        "truncated serialize", ("not valid PHP serialize data",), object_job('O:15:"App\\Jobs\\Canary":1:{s:1:"n";i:')
    ),
    Hostile(
        "corrupted serialize",
        ("not valid PHP serialize data",),
        object_job('O:15:"App\\Jobs\\Canary":1:{s:1:"n";X:1;}'),
    ),
    Hostile(
        "string length beyond data",
        ("not valid PHP serialize data",),
        object_job('O:15:"App\\Jobs\\Canary":1:{s:999999999:"n";i:1;}'),
    ),
    Hostile(
        "array count beyond data",
        ("not valid PHP serialize data",),
        object_job('O:15:"App\\Jobs\\Canary":1:{s:1:"n";a:2147483647:{i:0;i:1;}}'),
    ),
    Hostile(
        "property count beyond data",
        ("not valid PHP serialize data",),
        object_job('O:15:"App\\Jobs\\Canary":999999999:{s:1:"n";i:1;}'),
    ),
    Hostile(
        "class name length beyond data",
        ("not valid PHP serialize data",),
        object_job('O:999999:"App\\Jobs\\Canary":0:{}'),
    ),
    Hostile(
        "negative length", ("not valid PHP serialize data",), object_job('O:15:"App\\Jobs\\Canary":1:{s:-5:"n";i:1;}')
    ),
    Hostile(
        "back-reference out of range",
        ("not valid PHP serialize data",),
        object_job('O:15:"App\\Jobs\\Canary":1:{s:1:"n";r:99;}'),
    ),
    Hostile(
        "integer overflow",
        ("not valid PHP serialize data",),
        object_job('O:15:"App\\Jobs\\Canary":1:{s:1:"n";i:99999999999999999999999;}'),
    ),
    Hostile(
        "serialize nested 100000 deep",
        ("not valid PHP serialize data",),
        object_job('O:15:"App\\Jobs\\Canary":1:{s:1:"n";' + "a:1:{i:0;" * DEEP + "N;" + "}" * DEEP + "}"),
    ),
    Hostile("trailing garbage", ("not valid PHP serialize data",), object_job('O:15:"App\\Jobs\\Canary":0:{}GARBAGE')),
    Hostile(
        "50 MB string for a typed handler",
        ("does not fit", "user_id"),
        object_job(typed_command(user_id="9" * BIG, email="x", log="/dev/null"), "App\\Jobs\\TypedJob"),
    ),
    Hostile(
        "50 MB string job data, unknown class",
        ("no Python handler", "App\\Jobs\\Huge"),
        string_job("App\\Jobs\\Huge@handle", {"blob": "x" * BIG}),
    ),
    Hostile(
        "unknown object class",
        ("no Python handler", "App\\Jobs\\DoesNotExist"),
        object_job('O:22:"App\\Jobs\\DoesNotExist":0:{}', "App\\Jobs\\DoesNotExist"),
    ),
    Hostile("unknown string job", ("no Python handler", "App\\Jobs\\Nope"), string_job("App\\Jobs\\Nope@handle", {})),
    Hostile(
        "properties that do not fit the model",
        ("does not fit", "user_id", "email"),
        object_job(typed_command(user_id="not a number", log="/dev/null"), "App\\Jobs\\TypedJob"),
    ),
    Hostile(
        "decrypted command is not a serialized string",
        ("not a serialized string",),
        encrypted(lambda token: token, inner=b"i:5;"),
    ),
    Hostile("unencrypted command that is not an object", ("cannot decrypt",), object_job("a:0:{}")),
    Hostile(
        "non-UTF-8 bytes in the body",
        ("no Python handler",),
        lambda uid: b'{"uuid":"' + uid.encode() + b'","job":"App\\\\Jobs\\\\Bin\xff\xfe@handle","data":"\xc3\x28"}',
    ),
    Hostile(
        "non-UTF-8 bytes in the command",
        ("not valid PHP serialize data",),
        object_job(
            json.dumps('O:15:"App\\Jobs\\Canary":1:{s:1:"n";s:2:"XX";}')[1:-1].encode().replace(b"XX", b"\xff\xfe")
        ),
    ),
    Hostile("encrypted command, tampered value", ("cannot decrypt", "MAC is invalid"), encrypted(flip_mac)),
    Hostile("encrypted command, not base64", ("cannot decrypt",), object_job("!!!not-base64!!!")),
    Hostile(
        "encrypted command, wrong envelope", ("cannot decrypt",), object_job("eyJpdiI6IjEyMyJ9")
    ),  # base64 of {"iv":"123"}
    # Python module paths as class names: must be looked up as strings, never imported or called
    Hostile(
        "class os.system",
        ("no Python handler", "os.system"),
        object_job('O:9:"os.system":1:{s:3:"cmd";s:5:"id >&2";}', "os.system"),
    ),
    Hostile(
        "string job subprocess@Popen",
        ("no Python handler", "subprocess"),
        string_job("subprocess@Popen", ["touch", "/tmp/pwned-by-payload"]),
    ),
    Hostile(
        "string job builtins@eval",
        ("no Python handler", "builtins"),
        string_job("builtins@eval", "__import__('os').system('id')"),
    ),
    Hostile(
        "class naming a test module",
        ("no Python handler", "reliability_canary"),
        object_job('O:32:"tests.support.reliability_canary":0:{}', "tests.support.reliability_canary"),
    ),
    Hostile(
        "known handler, command of class subprocess.Popen",
        ("invalid class name",),
        object_job('O:16:"subprocess.Popen":2:{s:1:"n";i:7;s:3:"log";s:9:"/dev/null";}'),
    ),
    Hostile(
        "C: custom-serialized object named os.system",
        ("invalid class name",),
        object_job('O:15:"App\\Jobs\\Canary":2:{s:1:"n";C:9:"os.system":2:{ab}s:3:"log";s:9:"/dev/null";}'),
    ),
    Hostile(
        "E: enum named subprocess",
        (),
        object_job('O:15:"App\\Jobs\\Canary":2:{s:1:"n";E:16:"subprocess:Popen";s:3:"log";s:9:"/dev/null";}'),
    ),
]
FORBIDDEN_IMPORTS = ("reliability_canary", "os.system", "subprocess.Popen", "builtins.eval", "App\\", "App.Jobs")
FORBIDDEN_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen", "pickle.")


@dataclass
class Outcome:
    uid: str
    digest: str
    """sha256 of the pushed body as text (what failed_jobs.payload must hold)."""
    crashed: bool
    worker_output: str
    failed: Any = None


def text_digest(text: str | bytes) -> str:
    raw = text if isinstance(text, bytes) else text.encode("utf-8")
    return hashlib.sha256(raw.decode("utf-8", "replace").encode("utf-8")).hexdigest()


@dataclass
class CatalogueRun:
    outcomes: dict[str, Outcome]
    audit: list[tuple[str, str]]
    peak_rss_mb: float
    final_rss_mb: float
    worker_restarts: int


def proc_status_mb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@pytest.fixture(scope="module")
def catalogue_run(redis_server: tuple[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogueRun]:
    """Run the worker over the whole catalogue once; the tests below each check one entry."""
    import redis as redis_lib

    workdir = tmp_path_factory.mktemp("hostile")
    prefix = f"lqhostile-{uuid_module.uuid4().hex[:8]}-"
    env = {
        "QUEUE_CONNECTION": "redis",
        "CACHE_STORE": "array",
        "REDIS_HOST": redis_server[0],
        "REDIS_PORT": str(redis_server[1]),
        "REDIS_PREFIX": prefix,
        "REDIS_QUEUE_RETRY_AFTER": "600",
        "DB_CONNECTION": "sqlite",
        "DB_DATABASE": str(workdir / "db.sqlite"),
        "APP_KEY": APP_KEY,
        "RELIABILITY_AUDIT_LOG": str(workdir / "audit.log"),
    }
    connections = Connections(load_settings(environ=env))
    migrate(connections.db())
    client = redis_lib.Redis(host=redis_server[0], port=redis_server[1])
    list_key, notify_key = f"{prefix}queues:default", f"{prefix}queues:default:notify"
    log = workdir / "canary.log"
    outputs = iter(range(1000))

    def start() -> subprocess.Popen[bytes]:
        out = (workdir / f"worker-{next(outputs)}.out").open("wb")
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "laravel_queue",
                "queue:work",
                "--jobs",
                "tests.support.reliability_jobs",
                "--sleep",
                "0.05",
                "--memory",
                "2048",
                "--timeout",
                "0",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def output_of(number: int) -> str:
        return (workdir / f"worker-{number}.out").read_text(errors="replace")

    worker, worker_number, restarts = start(), 0, 0
    peak = 0.0
    outcomes: dict[str, Outcome] = {}
    try:
        for index, entry in enumerate(CATALOGUE):
            uid = str(uuid_module.uuid4())
            before = len(output_of(worker_number))
            body = entry.build(uid)
            client.rpush(list_key, body)
            client.rpush(notify_key, 1)
            canary = {
                "uuid": str(uuid_module.uuid4()),
                "displayName": "Tests\\Rel\\Record",
                "job": "Tests\\Rel\\Record@handle",
                "data": {"log": str(log), "n": index},
                "attempts": 0,
            }
            client.rpush(list_key, json.dumps(canary))
            client.rpush(notify_key, 1)
            wait_for(
                lambda i=index, w=worker: (
                    w.poll() is not None or f"done {i} " in (log.read_text() if log.exists() else "")
                ),
                timeout=60,
                what=f"the worker to get past [{entry.name}]",
            )
            peak = max(peak, proc_status_mb(worker.pid, "VmHWM"))
            crashed = worker.poll() is not None
            outcomes[entry.name] = Outcome(uid, text_digest(body), crashed, output_of(worker_number)[before:])
            del body
            if crashed:  # a supervisor would restart it; the crashing payload is removed so the rest can run
                worker.wait(10)
                client.delete(list_key, f"{list_key}:reserved", notify_key)
                worker_number, restarts = worker_number + 1, restarts + 1
                worker = start()
        final_rss = proc_status_mb(worker.pid, "VmRSS")
        failed = connections.failed().all()
        by_digest = {text_digest(record.payload): record for record in failed}
        for outcome in outcomes.values():
            outcome.failed = next((r for r in failed if r.uuid == outcome.uid), None) or by_digest.get(outcome.digest)
        audit_path = workdir / "audit.log"
        audit = (
            [tuple(line.split("\t", 1)) for line in audit_path.read_text().splitlines()] if audit_path.exists() else []
        )
        yield CatalogueRun(outcomes, audit, peak, final_rss, restarts)  # type: ignore[arg-type]
    finally:
        worker.kill()
        worker.wait(10)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()
        connections.close()


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(e, marks=pytest.mark.xfail(strict=True, reason=e.bug) if e.bug else (), id=e.name)
        for e in CATALOGUE
    ],
)
def test_hostile_payload_is_failed_and_the_worker_keeps_running(catalogue_run: CatalogueRun, entry: Hostile) -> None:
    outcome = catalogue_run.outcomes[entry.name]
    assert not outcome.crashed, f"the worker died on [{entry.name}]:\n{outcome.worker_output[-3000:]}"
    if not entry.expect:  # harmless data behind a known handler: it runs; nothing named in it is touched
        assert outcome.failed is None, outcome.failed.exception[:500]
        return
    assert outcome.failed is not None, f"[{entry.name}] is not in failed_jobs; worker said:\n{outcome.worker_output}"
    first_line = outcome.failed.exception.splitlines()[0]
    for fragment in entry.expect:
        assert fragment in outcome.failed.exception, f"[{entry.name}] exception lacks {fragment!r}: {first_line}"
    assert len(first_line) < 2000, "the message must stay readable (no echo of a huge input)"
    assert text_digest(outcome.failed.payload) == outcome.digest, "failed_jobs.payload must be the job as queued"


def test_nothing_named_by_the_data_was_imported_or_called(catalogue_run: CatalogueRun) -> None:
    imports = [detail for event, detail in catalogue_run.audit if event == "import"]
    assert not [name for name in imports if any(bad in name for bad in FORBIDDEN_IMPORTS)], imports
    events = [(event, detail) for event, detail in catalogue_run.audit if event.startswith(FORBIDDEN_EVENTS)]
    assert events == []
    assert not Path("/tmp/pwned-by-payload").exists()


def test_memory_stays_bounded(catalogue_run: CatalogueRun) -> None:
    print(
        f"\nworker peak RSS {catalogue_run.peak_rss_mb:.0f} MB, final RSS {catalogue_run.final_rss_mb:.0f} MB, "
        f"restarts {catalogue_run.worker_restarts}"
    )
    assert catalogue_run.peak_rss_mb < MEMORY_LIMIT_MB
