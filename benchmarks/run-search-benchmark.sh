#!/usr/bin/env bash
# Search benchmarks: our TPE (default, independent, joint always) and random sampling beside Optuna's
# (TPE independent and multivariate, random) on the same functions, spaces, budgets and
# seeds, one trial at a time and with 8 in flight; and the time of one TPE suggestion with
# 1,000 finished trials in a ten-parameter space.
#   benchmarks/run-search-benchmark.sh [BUILD_DIR] [SEEDS] [BUDGET]
# Defaults: build, 20 seeds, 100 trials: about 20 minutes on 2 cores, nearly all of it
# Optuna (each of its TPE suggestions costs milliseconds of Python), which runs in JOBS
# processes (default: one per core). The report seeds are 1..SEEDS; choose defaults on
# others (tpe_quality --first-seed), not on these.
# FIXED_LOGPDF=1 also runs Optuna 3.1's TPE with the kernel fix it got in 3.5 (the
# optuna-fixed columns).
set -euo pipefail
build=${1:-build}
seeds=${2:-20}
budget=${3:-100}
jobs=${JOBS:-$(nproc)}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python=/usr/bin/python3  # Debian's interpreter, which sees python3-optuna

for tool in tpe_speed tpe_quality; do
  if [[ ! -x "$build/benchmarks/$tool" ]]; then
    echo "run-search-benchmark: $build/benchmarks/$tool is missing; build it first (cmake --build $build --target $tool)" >&2
    exit 1
  fi
done

echo "suggestion time: ours" >&2
"$build/benchmarks/tpe_speed" >>"$out/results.jsonl"
echo "suggestion time: optuna" >&2
"$python" "$here/optuna_tpe.py" --part speed >>"$out/results.jsonl"
echo "quality ($seeds seeds, $budget trials, 1 and 8 in flight): ours" >&2
"$build/benchmarks/tpe_quality" --seeds "$seeds" --budget "$budget" --in-flight 1,8 \
  --sampler tpe,tpe-independent,tpe-multivariate,random >>"$out/results.jsonl"
echo "quality ($seeds seeds, $budget trials, 1 and 8 in flight): optuna" >&2
"$python" "$here/optuna_tpe.py" --part quality --seeds "$seeds" --budget "$budget" --in-flight 1,8 \
  --jobs "$jobs" >>"$out/results.jsonl"
if [[ "${FIXED_LOGPDF:-0}" == 1 ]]; then
  echo "quality ($seeds seeds, $budget trials): optuna with the upstream kernel fix" >&2
  "$python" "$here/optuna_tpe.py" --part quality --seeds "$seeds" --budget "$budget" --sampler tpe,tpe-multivariate \
    --fixed-logpdf --jobs "$jobs" >>"$out/results.jsonl"
fi
if [[ -n "${KEEP:-}" ]]; then cp "$out/results.jsonl" "$KEEP"; fi
"$python" "$here/summarize_search_benchmark.py" "$out/results.jsonl"
