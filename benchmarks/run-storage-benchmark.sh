#!/usr/bin/env bash
# Trials per second that one study sustains with 1, 4 and 16 worker processes, on PostgreSQL
# (a throw-away local server with PostgreSQL's durable defaults: fsync and synchronous
# commits on) and on SQLite (one file, synchronous=FULL), on an objective that ends at once
# (benchmarks/study_throughput.cpp), with Optuna's RDB storage on the same server and the
# same objective beside it (benchmarks/optuna_storage_throughput.py; python3-optuna and
# python3-psycopg2, which `scripts/install-deps.sh --bench` installs). Runs interleave; prints
# one markdown table of medians.
#   benchmarks/run-storage-benchmark.sh [BUILD_DIR]
# Knobs: WORKERS (default "1 4 16"), TRIALS (per run, default 400), REPEATS (default 3),
# STEPS (intermediate values per trial, default 3), SAMPLER (random | tpe, default random),
# RESULTS (a file to keep every run's JSON line in).
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
# The same server for Optuna, through SQLAlchemy and psycopg2, in a database of its own.
psql=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql
"$psql" -X -q "$postgres_url" -c "CREATE DATABASE optuna"
optuna_url=$(echo "$postgres_url" | sed 's|^postgresql://\(.*\)@/postgres?|postgresql+psycopg2://\1@/optuna?|')

results=${RESULTS:-$scratch/results.jsonl}  # RESULTS=FILE keeps the raw runs
run=0
for repeat in $(seq "$repeats"); do
  for workers in $workers_list; do
    for storage in postgresql sqlite; do
      run=$((run + 1))
      if [[ $storage == postgresql ]]; then where=$postgres_url; else where=$scratch/run$run.db; fi
      "$binary" --storage "$where" --workers "$workers" --trials "$trials" --steps "$steps" --sampler "$sampler" \
        --study "run$run" >>"$results"
      if [[ $sampler == random ]]; then
        run=$((run + 1))
        if [[ $storage == postgresql ]]; then where=$optuna_url; else where=sqlite:///$scratch/run$run.db; fi
        /usr/bin/python3 "$here/optuna_storage_throughput.py" --storage "$where" --workers "$workers" \
          --trials "$trials" --steps "$steps" --study "run$run" >>"$results"
      fi
    done
  done
done

/usr/bin/python3 - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
groups = {}
for r in rows:
    program = "optuna" if r.get("program", "").startswith("optuna") else "gpu_tune"
    rate = float("nan") if r.get("failed_workers") else r["trials_per_second"]
    groups.setdefault((program, r["storage"], r["workers"]), []).append(rate)
first = rows[0]
optuna_version = next((r["program"] for r in rows if "program" in r), "")
print(f"{first['trials']} trials per run, {first['steps']} intermediate values each, sampler {first['sampler']}, "
      f"median of {len(next(iter(groups.values())))} runs; {optuna_version}")
print()
print("| workers | gpu_tune PostgreSQL | Optuna PostgreSQL | ratio | gpu_tune SQLite | Optuna SQLite | ratio |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
failures = {}
for r in rows:
    if r.get("failed_workers"):
        failures[(r["storage"], r["workers"])] = failures.get((r["storage"], r["workers"]), 0) + 1
def median(key):
    values = [v for v in groups.get(key, []) if v == v]  # runs whose workers all finished
    return statistics.median(values) if values else float("nan")
for workers in sorted({w for _, _, w in groups}):
    cells = []
    for storage in ("postgresql", "sqlite"):
        ours, theirs = median(("gpu_tune", storage, workers)), median(("optuna", storage, workers))
        failed = failures.get((storage, workers), 0)
        theirs_cell = f"{theirs:.0f}" if theirs == theirs else "-"
        if failed:
            theirs_cell += f" (a worker died in {failed} of {len(groups[('optuna', storage, workers)])} runs)"
        ratio = f"{ours / theirs:.1f}x" if theirs == theirs else "-"
        cells += [f"{ours:.0f}", theirs_cell, ratio]
    print(f"| {workers} | " + " | ".join(cells) + " |")
print()
print("trials per second (complete trials / wall time from the first worker's start to the last one's end)")
EOF
