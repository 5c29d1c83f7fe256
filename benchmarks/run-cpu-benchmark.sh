#!/usr/bin/env bash
# CPU throughput: gpu_tune bundles of S models beside PyTorch training the same models one
# after another, in the same run. Prints a table of medians and ratios.
#   benchmarks/run-cpu-benchmark.sh [BUILD_DIR] [STEPS] [ROUNDS]
#   MODELS=cnn_small SLOTS=1,2,4 benchmarks/run-cpu-benchmark.sh build 30 3
# (defaults: MODELS=mlp_small,mlp_medium,mlp_large SLOTS=1,4,8)
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

models=${MODELS:-mlp_small,mlp_medium,mlp_large}
slots=${SLOTS:-1,4,8}
# PyTorch's tuned runs try both memory orders when a model has convolutions (channels-last
# can be the faster one for oneDNN); the table keeps the faster of the two.
formats=$("$python" -c 'import sys; sys.path.insert(0, sys.argv[1]); import torch_models
print("nchw,nhwc" if any(torch_models.is_spatial(m) for m in sys.argv[2].split(",") if m) else "nchw")' \
  "$here" "$models")
for round in $(seq "$rounds"); do
  echo "round $round of $rounds" >&2
  "$build/benchmarks/bundle_throughput" --model "$models" --slots "$slots" --steps "$steps" --repeats 1 \
    2>/dev/null >>"$out/gpu_tune.jsonl"
  for count in ${slots//,/ }; do
    "$python" "$here/pytorch_cpu_sequential.py" --model "$models" --count "$count" --steps "$steps" \
      --loader per-sample --json | sed 's/^{/{"variant": "default", /' >>"$out/pytorch.jsonl"
    for format in ${formats//,/ }; do
      "$python" "$here/pytorch_cpu_sequential.py" --model "$models" --count "$count" --steps "$steps" \
        --threads 1 --memory-format "$format" --json | sed 's/^{/{"variant": "1-thread", /' >>"$out/pytorch.jsonl"
      # PyTorch's fastest configuration on this machine: one single-threaded process per core,
      # the copies shared between them, run at the same time; their rates add up.
      half=$(( (count + 1) / 2 ))
      for part in 1 2; do
        "$python" "$here/pytorch_cpu_sequential.py" --model "$models" --count "$half" --steps "$steps" \
          --threads 1 --memory-format "$format" --seed "$part"00 --json |
          sed "s/^{/{\"variant\": \"2-process\", \"round\": $round, \"slots\": $count, /" >"$out/part$part.jsonl" &
      done
      wait
      cat "$out/part1.jsonl" "$out/part2.jsonl" >>"$out/pytorch.jsonl"
    done
  done
done
"$python" "$here/summarize_cpu_benchmark.py" "$out/gpu_tune.jsonl" "$out/pytorch.jsonl"
