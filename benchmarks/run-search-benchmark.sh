#!/usr/bin/env bash
# Search benchmarks: our TPE and random sampling beside Optuna's (TPE default, TPE
# multivariate, random) on the same functions, spaces, budgets and seeds, and the time of
# one TPE suggestion with 1,000 finished trials in a ten-parameter space.
#   benchmarks/run-search-benchmark.sh [BUILD_DIR] [SEEDS] [BUDGET]
# Defaults: build, 30 seeds, 80 trials: about 5 minutes on 2 cores, nearly all of it Optuna
# (each of its TPE suggestions costs milliseconds of Python even with short histories).
# Debian's Optuna is 3.1, whose TPE kernels were not normalised (fixed upstream in 3.5), so
# its TPE also runs a second time with that fix applied: the optuna-fixed columns.
set -euo pipefail
build=${1:-build}
seeds=${2:-30}
budget=${3:-80}
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
echo "quality ($seeds seeds, $budget trials): ours" >&2
"$build/benchmarks/tpe_quality" --seeds "$seeds" --budget "$budget" >>"$out/results.jsonl"
echo "quality ($seeds seeds, $budget trials): optuna" >&2
"$python" "$here/optuna_tpe.py" --part quality --seeds "$seeds" --budget "$budget" >>"$out/results.jsonl"
echo "quality ($seeds seeds, $budget trials): optuna with the upstream kernel fix" >&2
"$python" "$here/optuna_tpe.py" --part quality --seeds "$seeds" --budget "$budget" --sampler tpe,tpe-multivariate \
  --fixed-logpdf >>"$out/results.jsonl"

"$python" - "$out/results.jsonl" <<'EOF'
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
quality = {(r["impl"], r["function"], r["sampler"]): r for r in rows if r["benchmark"] == "quality"}
speed = {(r["impl"], r["mode"]): r for r in rows if r["benchmark"] == "suggestion_time"}
functions = list(dict.fromkeys(r["function"] for r in rows if r["benchmark"] == "quality"))
first = next(r for r in rows if r["benchmark"] == "quality")
columns = [("gpu_tune", "tpe", "ours-tpe"), ("gpu_tune", "tpe-multivariate", "ours-tpe-mv"),
           ("gpu_tune", "random", "ours-random"), ("optuna", "tpe", "optuna-tpe"),
           ("optuna", "tpe-multivariate", "optuna-tpe-mv"), ("optuna", "random", "optuna-random"),
           ("optuna-fixed", "tpe", "optuna-fixed-tpe"), ("optuna-fixed", "tpe-multivariate", "optuna-fixed-tpe-mv")]

print(f"\nMedian log10 regret of the best value ({first['seeds']} seeds, {first['budget']} sequential trials; lower is better)")
print("| function | " + " | ".join(label for _, _, label in columns) + " |")
print("|---" * (len(columns) + 1) + "|")
for function in functions:
    cells = []
    for impl, sampler, _ in columns:
        r = quality.get((impl, function, sampler))
        cells.append(f"{r['median_log10_regret']:.2f}" if r else "-")
    print(f"| {function} | " + " | ".join(cells) + " |")

print("\nOne TPE suggestion, 10 parameters, 1,000 finished trials (median ms)")
print("| mode | ours | optuna | optuna / ours |")
print("|---|---|---|---|")
for mode in ("independent", "multivariate"):
    ours, theirs = speed.get(("gpu_tune", mode)), speed.get(("optuna", mode))
    if ours and theirs:
        print(f"| {mode} | {ours['median_ms']:.2f} | {theirs['median_ms']:.1f} | {theirs['median_ms'] / ours['median_ms']:.0f}x |")
EOF
