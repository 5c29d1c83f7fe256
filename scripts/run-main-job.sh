#!/usr/bin/env bash
# The main job: a bundle of candidate models from the seed study's space (the three MLP
# presets, several learning rates and batch sizes, Adam, early stopping) trained together.
# Finishes in a few minutes on a 2-core CPU.
set -euo pipefail
build=${1:-build}
exec "$build/apps/gpu_tune" train \
  --slot model=mlp_small,lr=1e-3,batch=64,seed=1 \
  --slot model=mlp_small,lr=1e-2,batch=256,seed=2 \
  --slot model=mlp_medium,lr=3e-4,batch=32,seed=3 \
  --slot model=mlp_medium,lr=1e-3,batch=128,seed=4 \
  --slot model=mlp_large,lr=1e-4,batch=64,seed=5 \
  --slot model=mlp_large,lr=1e-3,batch=256,seed=6 \
  --epochs 5 --patience 3
