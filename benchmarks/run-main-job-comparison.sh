#!/usr/bin/env bash
# The CPU main job beside PyTorch's fastest configuration on the same trials: runs the study
# scripts/run-main-job.sh runs without a GPU (examples/fashion_mnist_cpu.yaml, --full) into
# a fresh temporary --storage, timing gpu_tune's wall clock, then compare_main_job.py
# replays exactly those trials with PyTorch (two single-threaded processes) and prints both
# wall times, their ratio and the trials' accuracies side by side.
#   benchmarks/run-main-job-comparison.sh [BUILD_DIR | GPU_TUNE_BINARY]
#   TRIALS=2 EPOCHS=1 benchmarks/run-main-job-comparison.sh build-nocuda    # a smoke run
# Knobs: TRIALS (trial budget), EPOCHS (cap on every trial's epochs), STUDY (the study
# file), DEVICES (gpu_tune's --devices, default cpu: the CPU main job even on a GPU
# machine), PROCESSES (PyTorch processes, default 2), KEEP=1 (keep the study file and
# write the comparison as JSON beside it), MEMORY_FORMAT (nchw, PyTorch's default, or nhwc:
# its convolutions on channels-last tensors), GPU_TUNE_DATA (the Fashion-MNIST folder),
# TRAIN_SIZE (both train on the first N images only: quick checks, not measurements),
# FLUSH_DENORMAL=1 (PyTorch flushes subnormal floats, as gpu_tune's CPU forms always do).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
target=${1:-$root/build}
if [[ -f "$target" && -x "$target" ]]; then gpu_tune=$target; else gpu_tune=$target/apps/gpu_tune; fi
[[ -x "$gpu_tune" ]] || { echo "run-main-job-comparison: no gpu_tune binary at $gpu_tune" >&2; exit 2; }
python=/usr/bin/python3  # Debian's interpreter, which sees python3-torch
"$root/scripts/install-deps.sh" --bench >&2  # python3-torch for the replay (installs only what is missing)
study=${STUDY:-$root/examples/fashion_mnist_cpu.yaml}

out=$(mktemp -d "${TMPDIR:-/tmp}/main-job-comparison.XXXXXX")
if [[ "${KEEP:-0}" == 1 ]]; then
  echo "run-main-job-comparison: keeping $out" >&2
else
  trap 'rm -rf "$out"' EXIT
fi

args=(tune "$study" --full --storage "$out/study.db" --devices "${DEVICES:-cpu}" --no-progress)
[[ -n "${TRIALS:-}" ]] && args+=(--trials "$TRIALS")
[[ -n "${EPOCHS:-}" ]] && args+=(--epochs "$EPOCHS")
[[ -n "${TRAIN_SIZE:-}" ]] && args+=(--train-size "$TRAIN_SIZE")
echo "run-main-job-comparison: $gpu_tune ${args[*]}" >&2
# Timings on a shared machine mislead: gpu_tune's OpenMP threads slow down badly when
# other processes hold the cores, so say how busy the machine was.
echo "run-main-job-comparison: load average $(cut -d" " -f1-3 /proc/loadavg) on $(nproc) cores" >&2
start=$(date +%s.%N)
"$gpu_tune" "${args[@]}"
end=$(date +%s.%N)
seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
echo "run-main-job-comparison: gpu_tune took $seconds s; replaying its trials with PyTorch" >&2

compare=("$python" "$here/compare_main_job.py" "$out/study.db" --gpu-tune-seconds "$seconds"
         --processes "${PROCESSES:-2}")
[[ -n "${TRAIN_SIZE:-}" ]] && compare+=(--train-size "$TRAIN_SIZE")
[[ -n "${MEMORY_FORMAT:-}" ]] && compare+=(--memory-format "$MEMORY_FORMAT")
[[ "${FLUSH_DENORMAL:-0}" == 1 ]] && compare+=(--flush-denormal)
[[ "${KEEP:-0}" == 1 ]] && compare+=(--json "$out/comparison.json")
"${compare[@]}"
