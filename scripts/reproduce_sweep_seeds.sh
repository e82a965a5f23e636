#!/usr/bin/env bash
# The multi-seed sweep committed in results/sweep-seeds/, with the JAX engine: the whole grid x 5
# seeds on the first 10000 training images, and base, solver-adam, lr-0.1 and
# early-stopping-True x 5 seeds on all 60000 beside sklearn's single fits
# (results/sklearn_sweep). Resumable: run it again after an interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
export FMNIST_DATA_DIR="${FMNIST_DATA_DIR:-../shared/data/fashion-mnist}"
fmnist sweep --engine jax --seeds 5 --configs all --train-subset 10000 --out results/sweep-seeds/subset-10000
fmnist sweep --engine jax --seeds 5 --configs base,solver-adam,lr-0.1,early-stopping-True \
    --out results/sweep-seeds/full --compare-with results/sklearn_sweep/results.csv
