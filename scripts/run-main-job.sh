#!/usr/bin/env bash
# The main job: the seed study (examples/fashion_mnist.yaml): TPE over learning rate,
# batch size and model structure, trials trained together in one bundle. Without a GPU it
# runs a reduced budget that ends in minutes (it says so); pass --full for all of it.
# The study lives in studies/fashion_mnist_mlp/; running again resumes it.
set -euo pipefail
build=${1:-build}
shift || true
exec "$build/apps/gpu_tune" tune examples/fashion_mnist.yaml "$@"
