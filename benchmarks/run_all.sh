#!/usr/bin/env bash
# Every benchmark, then BENCHMARKS.md (the machine, this command, the date, every number).
#
#   benchmarks/run_all.sh                 # full run: ~15-25 min on a 2-core machine
#   benchmarks/run_all.sh --quick         # smoke check of the worker benchmark only (< 1 min)
#   benchmarks/run_all.sh --only redis,sqlite --runs 3
#
# Arguments go to benchmarks/bench_worker.py. The other benchmark scripts (codec, drivers) run
# first, one at a time, so they never compete with the worker runs for the two cores; their raw
# output is appended to BENCHMARKS.md next to the curated numbers of their RESULTS-*.md files.
# They are skipped with --quick or LQBENCH_SKIP_OTHERS=1.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
OUT="$(mktemp -d -t lqbench-others-XXXXXX)"
trap 'rm -rf "$OUT"' EXIT

quick=0
for arg in "$@"; do
    [[ "$arg" == "--quick" ]] && quick=1
done

if [[ "$quick" == 0 && "${LQBENCH_SKIP_OTHERS:-0}" != 1 ]]; then
    for script in benchmarks/bench_*.py; do
        name="$(basename "$script" .py)"
        [[ "$name" == bench_worker ]] && continue
        echo "== $script"
        if ! timeout 1200 "$PYTHON" "$script" >"$OUT/$name.txt" 2>&1; then
            echo "   $script failed (its output is kept in the report)" >&2
        fi
        tail -n 3 "$OUT/$name.txt"
    done
fi

echo "== benchmarks/bench_worker.py $*"
"$PYTHON" -m benchmarks.bench_worker --write BENCHMARKS.md --extra-dir "$OUT" "$@"
