"""PHP serialize codec speed: this package (C and pure Python) vs phpserialize 1.3 vs PHP.

    .venv/bin/python benchmarks/bench_codec.py [--quick] [--no-php]

Decodes and encodes every real Laravel command in fixtures/laravel/redis (median
per payload) and synthetic Laravel-like commands of about 1 KB, 100 KB and 10 MB,
all in the same run so the ratios are comparable on a shared, noisy machine.
With php-cli on PATH, PHP's own unserialize()/serialize() of the same bytes is
timed too. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import phpserialize  # noqa: E402

from laravel_queue.php import PhpObject, _decode, _encode  # noqa: E402

try:
    from laravel_queue.php import _speedups
except ImportError:  # the table then shows the pure-Python codec only
    _speedups = None

PHP_TIMER = r"""<?php
error_reporting(E_ALL & ~E_DEPRECATED);
$out = [];
foreach (array_slice($argv, 1) as $file) {
    $raw = file_get_contents($file);
    $value = @unserialize($raw);
    if ($value === false) {  // e.g. an enum whose class is not declared here
        $out[basename($file)] = null;
        continue;
    }
    $times = ['decode' => [], 'encode' => []];
    foreach (['decode', 'encode'] as $what) {
        $n = 1;
        do {
            $t = hrtime(true);
            for ($i = 0; $i < $n; $i++) { $what === 'decode' ? unserialize($raw) : serialize($value); }
            $elapsed = hrtime(true) - $t;
            $n *= 2;
        } while ($elapsed < 20e6 && $n < 1e7);
        $n = intdiv($n, 2);
        for ($r = 0; $r < 5; $r++) {
            $t = hrtime(true);
            for ($i = 0; $i < $n; $i++) { $what === 'decode' ? unserialize($raw) : serialize($value); }
            $times[$what][] = (hrtime(true) - $t) / $n / 1e9;
        }
        sort($times[$what]);
    }
    $out[basename($file)] = ['decode' => $times['decode'][2], 'encode' => $times['encode'][2]];
}
echo json_encode($out);
"""


def batch_size(fn: Callable[[], Any], seconds: float) -> int:
    """Calls per batch so that one batch takes about `seconds`."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - start >= seconds or n >= 1 << 20:
            return n
        n *= 2


def median_times(fns: dict[str, Callable[[], Any]], batch_seconds: float, rounds: int) -> dict[str, float]:
    """Median seconds per call of each function, batches interleaved round by round.

    Interleaving exposes every implementation to the same background load, which keeps
    the ratios stable on a shared machine even when absolute times drift.
    """
    sizes = {name: batch_size(fn, batch_seconds) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            n = sizes[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(values) for name, values in samples.items()}


def fixture_commands() -> list[tuple[str, bytes]]:
    out = []
    for path in sorted((ROOT / "fixtures" / "laravel" / "redis").glob("*.json")):
        payload = json.loads(json.loads(path.read_text(encoding="utf-8"))["raw_payload"])
        data = payload.get("data")
        command = data.get("command") if isinstance(data, dict) else None
        if isinstance(command, str) and command.startswith("O:"):
            out.append((path.stem, command.encode("utf-8")))
    return out


def synthetic(target: int) -> bytes:
    """A Laravel-like command: a job holding records with model identifiers, floats, UTF-8."""
    dumps = _speedups.dumps if _speedups else _encode.dumps

    def record(i: int) -> dict[str, Any]:
        owner = PhpObject(
            "Illuminate\\Contracts\\Database\\ModelIdentifier",
            {
                "class": "App\\Models\\User",
                "id": i % 97,
                "relations": [],
                "connection": "mysql",
                "collectionClass": None,
            },
        )
        return {
            "id": i,
            "sku": f"SKU-{i:08d}",
            "name": f"Produit numéro {i} – qualité ✓",
            "price": round(i * 1.37, 2),
            "qty": i % 17,
            "active": i % 3 == 0,
            "tags": ["import", "csv", f"batch-{i // 100}"],
            "meta": {"source": "upload.csv", "line": i + 2, "note": None},
            "owner": owner,
        }

    per_record = len(dumps(record(12345)))
    rows = [record(i) for i in range(max(1, target // per_record))]
    job = PhpObject("App\\Jobs\\ImportProducts", {"batchId": "9b1f0c3e-5d1a-4c8e-9a57-2f6f3f7c2b11", "rows": rows})
    job.set("attempts", 0, "protected").set("uploadedBy", 42, "private")
    return dumps(job)


def php_times(payloads: dict[str, bytes]) -> dict[str, dict[str, float]]:
    php = shutil.which("php")
    if not php:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "timer.php"
        script.write_text(PHP_TIMER, encoding="utf-8")
        files = []
        for name, raw in payloads.items():
            path = Path(tmp) / name
            path.write_bytes(raw)
            files.append(str(path))
        proc = subprocess.run(
            [php, "-d", "memory_limit=2G", str(script), *files], capture_output=True, text=True, check=True
        )
    return json.loads(proc.stdout)


def fmt_time(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_size(size: int) -> str:
    return (
        f"{size:,} B" if size < 10_000 else f"{size / 1024:,.0f} KB" if size < 5_000_000 else f"{size / 2**20:.1f} MB"
    )


def ratio(slow: float | None, fast: float | None) -> str:
    if not slow or not fast or math.isnan(slow):
        return "n/a"
    return f"**{slow / fast:.1f}x**"


def measure(name: str, raw: bytes) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "size": len(raw), "dec_ps": None, "enc_ps": None}
    value = _decode.loads(raw)
    assert _encode.dumps(value) == raw
    fns: dict[str, Callable[[], Any]] = {}
    if _speedups is not None:
        fns["dec_c"] = lambda: _speedups.loads(raw)
        fns["enc_c"] = lambda: _speedups.dumps(value)
    fns["dec_py"] = lambda: _decode.loads(raw)
    fns["enc_py"] = lambda: _encode.dumps(value)
    try:
        theirs = phpserialize.loads(raw, object_hook=phpserialize.phpobject)
        fns["dec_ps"] = lambda: phpserialize.loads(raw, object_hook=phpserialize.phpobject)
        fns["enc_ps"] = lambda: phpserialize.dumps(theirs)
    except Exception:  # E:, r:, R:, C: are beyond phpserialize 1.3
        pass
    big = len(raw) > 1_000_000
    row.update(median_times(fns, batch_seconds=0.0 if big else 0.02, rounds=3 if big else 9))
    return row


def table(rows: list[dict[str, Any]], php: dict[str, dict[str, float]]) -> list[str]:
    best = "C" if _speedups is not None else "pure Python"
    head = (
        f"| payload | size | decode {best} | decode pure Python | decode phpserialize | {best} vs phpserialize "
        f"| encode {best} | encode pure Python | encode phpserialize | {best} vs phpserialize |"
    )
    cols = 10
    if php:
        head += " PHP unserialize | PHP serialize |"
        cols += 2
    lines = [head, "|---|---:" + "|---:" * (cols - 2) + "|"]
    for r in rows:
        dec = r.get("dec_c", r["dec_py"])
        enc = r.get("enc_c", r["enc_py"])
        line = (
            f"| {r['name']} | {fmt_size(r['size'])} | {fmt_time(dec)} | {fmt_time(r['dec_py'])} | "
            f"{fmt_time(r['dec_ps'])} | {ratio(r['dec_ps'], dec)} | {fmt_time(enc)} | {fmt_time(r['enc_py'])} | "
            f"{fmt_time(r['enc_ps'])} | {ratio(r['enc_ps'], enc)} |"
        )
        if php:
            p = php.get(r["name"]) or {}
            line += f" {fmt_time(p.get('decode'))} | {fmt_time(p.get('encode'))} |"
        lines.append(line)
    return lines


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 10 MB payload")
    parser.add_argument("--no-php", action="store_true", help="do not time php-cli")
    args = parser.parse_args()

    payloads = dict(fixture_commands())
    sizes = [("synthetic 1 KB", 1024), ("synthetic 100 KB", 100 * 1024)]
    if not args.quick:
        sizes.append(("synthetic 10 MB", 10 * 2**20))
    for name, target in sizes:
        payloads[name] = synthetic(target)

    rows = [measure(name, raw) for name, raw in payloads.items()]
    php = {} if args.no_php else php_times(payloads)

    fixtures = [r for r in rows if not r["name"].startswith("synthetic") and r["dec_ps"]]
    key_dec, key_enc = ("dec_c", "enc_c") if _speedups is not None else ("dec_py", "enc_py")
    out = [
        f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"phpserialize {getattr(phpserialize, '__version__', '1.3')}, codec implementation: "
        f"{'C extension' if _speedups is not None else 'pure Python'}.",
        "",
        *table(rows, php),
        "",
        f"Real Laravel commands ({len(fixtures)} that phpserialize can read), geometric mean speed-up over "
        f"phpserialize: decode **{geomean([r['dec_ps'] / r[key_dec] for r in fixtures]):.1f}x**, "
        f"encode **{geomean([r['enc_ps'] / r[key_enc] for r in fixtures]):.1f}x** "
        f"(pure-Python fallback: decode {geomean([r['dec_ps'] / r['dec_py'] for r in fixtures]):.2f}x, "
        f"encode {geomean([r['enc_ps'] / r['enc_py'] for r in fixtures]):.2f}x).",
    ]
    big = [r for r in rows if r["name"].startswith("synthetic")]
    if len(big) >= 2 and _speedups is not None:
        per_byte = ", ".join(f"{r['name'][10:]}: {r['size'] / r['dec_c'] / 2**20:.0f} MB/s" for r in big)
        out += ["", f"C decode throughput by size (linear if flat): {per_byte}."]
    print("\n".join(out))


if __name__ == "__main__":
    main()
