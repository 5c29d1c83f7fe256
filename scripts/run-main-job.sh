#!/usr/bin/env bash
# The main job. With a GPU: the seed study (examples/fashion_mnist.yaml): TPE over
# learning rate, batch size and model (MLPs and CNNs), trials trained together in one
# bundle. Without one: examples/fashion_mnist_cpu.yaml, the same search cut to what a CPU
# trains in minutes, as a study of its own. --full runs the seed study either way.
# A study lives in studies/STUDY/; running again resumes it.
#   scripts/run-main-job.sh [BUILD_DIR] [--full] [gpu_tune tune options]
set -euo pipefail
build=${1:-build}
shift || true
study=examples/fashion_mnist.yaml
if [[ "${1:-}" != "--full" ]] && ! nvidia-smi -L >/dev/null 2>&1; then
  echo "run-main-job: no GPU found; running examples/fashion_mnist_cpu.yaml, the seed study" \
       "cut to what a CPU trains in minutes (--full runs the seed study)" >&2
  study=examples/fashion_mnist_cpu.yaml
  exec "$build/apps/gpu_tune" tune "$study" --full "$@"
fi
exec "$build/apps/gpu_tune" tune "$study" "$@"
