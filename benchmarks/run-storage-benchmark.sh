#!/usr/bin/env bash
# Trials per second that one study sustains with 1, 4 and 16 worker processes, on PostgreSQL
# (a throw-away local server with PostgreSQL's durable defaults: fsync and synchronous
# commits on) and on SQLite (one file, synchronous=FULL) beside it, on an objective that ends
# at once (benchmarks/study_throughput.cpp). Prints one markdown table of medians.
#   benchmarks/run-storage-benchmark.sh [BUILD_DIR]
# Knobs: WORKERS (default "1 4 16"), TRIALS (per run, default 400), REPEATS (default 3),
# STEPS (intermediate values per trial, default 3), SAMPLER (random | tpe, default random).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build}
binary=$build/benchmarks/study_throughput
[[ -x "$binary" ]] || { echo "run-storage-benchmark: no $binary (build the benchmarks first)" >&2; exit 2; }
workers_list=${WORKERS:-1 4 16}
trials=${TRIALS:-400}
repeats=${REPEATS:-3}
steps=${STEPS:-3}
sampler=${SAMPLER:-random}

scratch=$(mktemp -d /tmp/gpu_tune_storage_bench.XXXXXX)
trap '"$root/scripts/postgres-test-server.sh" stop "$scratch/pg" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
"$root/scripts/postgres-test-server.sh" start "$scratch/pg" durable >/dev/null
postgres_url=$(cat "$scratch/pg/url")

results=$scratch/results.jsonl
run=0
for repeat in $(seq "$repeats"); do
  for workers in $workers_list; do
    for storage in postgresql sqlite; do
      run=$((run + 1))
      if [[ $storage == postgresql ]]; then where=$postgres_url; else where=$scratch/run$run.db; fi
      "$binary" --storage "$where" --workers "$workers" --trials "$trials" --steps "$steps" --sampler "$sampler" \
        --study "run$run" >>"$results"
    done
  done
done

/usr/bin/python3 - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
groups = {}
for r in rows:
    groups.setdefault((r["storage"], r["workers"]), []).append(r["trials_per_second"])
first = rows[0]
print(f"{first['trials']} trials per run, {first['steps']} intermediate values each, sampler {first['sampler']}, "
      f"median of {len(next(iter(groups.values())))} runs")
print()
print("| workers | PostgreSQL trials/s | SQLite trials/s |")
print("| ---: | ---: | ---: |")
for workers in sorted({w for _, w in groups}):
    pg = statistics.median(groups.get(("postgresql", workers), [float("nan")]))
    lite = statistics.median(groups.get(("sqlite", workers), [float("nan")]))
    print(f"| {workers} | {pg:.0f} | {lite:.0f} |")
EOF
