#!/usr/bin/env bash
# How the scheduling of trials onto a bundle's slots pays off: the same study, the same trial
# budget and the same sampler seed, run once per strategy into its own temporary storage,
# timed to the end; then one markdown table of wall time, trials complete / pruned / failed,
# epochs trained, and the best validation value found with its trial's test accuracy.
#   benchmarks/run-refill-benchmark.sh [BUILD_DIR | GPU_TUNE_BINARY]
#   TRIALS=2 EPOCHS=1 benchmarks/run-refill-benchmark.sh build-nocuda     # a smoke run
# Strategies (STRATEGIES, comma separated, in this order by default):
#   asha        continuous refill with ASHA pruning (pruner: asha, min_resource 1 epoch,
#               reduction_factor 3, added to a temporary copy of the study file)
#   continuous  continuous refill, no pruning: a slot that frees up gets the next trial
#   waves       static waves (--refill waves): wait until every slot is free, then sample S
#   sequential  one trial at a time (--parallel 1)
# The study: STUDY, else examples/fashion_mnist.yaml with a GPU (nvidia-smi -L) and
# examples/fashion_mnist_cpu.yaml without. Other knobs: TRIALS (trial budget, default the
# study's), EPOCHS (cap on every trial's epochs, default the study's), DEVICES (gpu_tune's
# --devices), TIME_LIMIT (seconds; default none, so every strategy runs the whole budget:
# the CPU study's own 5-minute limit would cut the slow strategies short), EXTRA_ARGS (more
# gpu_tune tune options for every run, e.g. "--train-size 5000" for a quick check), KEEP=1
# (keep the study files and logs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
target=${1:-$root/build}
if [[ -f "$target" && -x "$target" ]]; then gpu_tune=$target; else gpu_tune=$target/apps/gpu_tune; fi
[[ -x "$gpu_tune" ]] || { echo "run-refill-benchmark: no gpu_tune binary at $gpu_tune" >&2; exit 2; }
python=/usr/bin/python3

if [[ -n "${STUDY:-}" ]]; then
  study=$STUDY
elif nvidia-smi -L >/dev/null 2>&1; then
  study=$root/examples/fashion_mnist.yaml
else
  study=$root/examples/fashion_mnist_cpu.yaml
fi
[[ -f "$study" ]] || { echo "run-refill-benchmark: no study file $study" >&2; exit 2; }
strategies=${STRATEGIES:-asha,continuous,waves,sequential}

out=$(mktemp -d "${TMPDIR:-/tmp}/refill-benchmark.XXXXXX")
if [[ "${KEEP:-0}" == 1 ]]; then
  echo "run-refill-benchmark: keeping $out" >&2
else
  trap 'rm -rf "$out"' EXIT
fi

# The study without any pruner: its top-level `pruner:` block (block or flow style) removed.
awk '/^pruner:/ { skip = 1; next } skip && /^([ \t]|#|$)/ { next } { skip = 0; print }' "$study" >"$out/plain.yaml"
{ cat "$out/plain.yaml"; printf '\npruner:\n  name: asha\n  min_resource: 1\n  reduction_factor: 3\n'; } >"$out/asha.yaml"

has_refill=0
"$gpu_tune" tune --help 2>/dev/null | grep -q -- '--refill' && has_refill=1
common=(--full --no-progress --time-limit "${TIME_LIMIT:-1e12}")
[[ -n "${TRIALS:-}" ]] && common+=(--trials "$TRIALS")
[[ -n "${EPOCHS:-}" ]] && common+=(--epochs "$EPOCHS")
[[ -n "${DEVICES:-}" ]] && common+=(--devices "$DEVICES")
read -r -a extra <<<"${EXTRA_ARGS:-}"
common+=("${extra[@]}")
echo "run-refill-benchmark: $study with ${common[*]}" >&2
# Timings on a shared machine mislead: gpu_tune's OpenMP threads slow down badly when
# other processes hold the cores, so say how busy the machine was.
echo "run-refill-benchmark: load average $(cut -d" " -f1-3 /proc/loadavg) on $(nproc) cores" >&2

: >"$out/runs.tsv"
run=0
for strategy in ${strategies//,/ }; do
  run=$((run + 1))
  file=$out/plain.yaml
  how=""
  case "$strategy" in
    asha) file=$out/asha.yaml; flags=(--refill continuous); how="pruner asha (min_resource 1, reduction_factor 3)" ;;
    continuous) flags=(--refill continuous) ;;
    waves) flags=(--refill waves) ;;
    sequential) flags=(--parallel 1) ;;
    *) echo "run-refill-benchmark: unknown strategy '$strategy' (asha, continuous, waves, sequential)" >&2; exit 2 ;;
  esac
  if [[ "${flags[0]}" == --refill && $has_refill == 0 ]]; then
    if [[ "${flags[1]}" == waves ]]; then
      echo "run-refill-benchmark: $gpu_tune has no --refill option; skipping $strategy" >&2
      continue
    fi
    flags=()  # continuous refill is what a gpu_tune without the option does
  fi
  storage=$out/$run-$strategy.db  # a strategy named twice runs twice, each into a new study
  echo "run-refill-benchmark: $strategy: gpu_tune tune ${flags[*]}" >&2
  start=$(date +%s.%N)
  set +e
  "$gpu_tune" tune "$file" --storage "$storage" "${common[@]}" "${flags[@]}" >"$out/$run-$strategy.log" 2>&1
  status=$?
  set -e
  end=$(date +%s.%N)
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  if [[ $status != 0 ]]; then
    echo "run-refill-benchmark: $strategy exited with status $status after $seconds s:" >&2
    tail -n 5 "$out/$run-$strategy.log" >&2
  else
    grep -E "^(study|best)" "$out/$run-$strategy.log" | sed 's/^/  /' >&2 || true
  fi
  how="${how}${how:+, }${flags[*]:-continuous refill (no --refill option)}"
  printf '%s\t%s\t%s\t%s\t%s\n' "$strategy" "$how" "$seconds" "$status" "$storage" >>"$out/runs.tsv"
done

echo
echo "$(basename "$study"), $(grep -c . "$out/runs.tsv") strategies, flags common to all: ${common[*]}"
echo
"$python" "$here/summarize_refill_benchmark.py" "$out/runs.tsv"
