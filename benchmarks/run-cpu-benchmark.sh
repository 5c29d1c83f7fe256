#!/usr/bin/env bash
# CPU throughput: gpu_tune bundles of S = 1, 4, 8 MLPs beside PyTorch training the same
# models one after another, in the same run. Prints a table of medians and ratios.
#   benchmarks/run-cpu-benchmark.sh [BUILD_DIR] [STEPS] [ROUNDS]
# The runs are interleaved round by round, so a noisy neighbour hits both sides alike.
# PyTorch is run twice: as users run it (default threads, DataLoader per sample) and
# tuned (one thread, one gather per batch), which is much faster on small VMs.
set -euo pipefail
build=${1:-build}
steps=${2:-100}
rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python=/usr/bin/python3  # Debian's interpreter, which sees python3-torch

models=mlp_small,mlp_medium,mlp_large
for round in $(seq "$rounds"); do
  echo "round $round of $rounds" >&2
  "$build/benchmarks/bundle_throughput" --model "$models" --slots 1,4,8 --steps "$steps" --repeats 1 \
    2>/dev/null >>"$out/gpu_tune.jsonl"
  for count in 1 4 8; do
    "$python" "$here/pytorch_cpu_sequential.py" --model "$models" --count "$count" --steps "$steps" \
      --loader per-sample --json | sed 's/^{/{"variant": "default", /' >>"$out/pytorch.jsonl"
    "$python" "$here/pytorch_cpu_sequential.py" --model "$models" --count "$count" --steps "$steps" \
      --threads 1 --json | sed 's/^{/{"variant": "1-thread", /' >>"$out/pytorch.jsonl"
  done
done
"$python" "$here/summarize_cpu_benchmark.py" "$out/gpu_tune.jsonl" "$out/pytorch.jsonl"
