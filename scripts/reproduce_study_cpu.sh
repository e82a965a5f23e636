#!/usr/bin/env bash
# The CPU reproduction committed in results/: the study's protocol, 8 seeds of simple and big in
# JAX and torch_ref, the bf16 check (8 simple seeds in bf16 against the float32 cell) and 8 JAX
# seeds of the cnn, one run directory each (a seed takes 1.3-3 h; a rerun trains the missing). Hours on 2 cores; every step resumes where an interruption left it, so
# run it again after one. Data: $FMNIST_DATA_DIR, else ../shared/data/fashion-mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
export FMNIST_DATA_DIR="${FMNIST_DATA_DIR:-../shared/data/fashion-mnist}"
study=results/study-cpu
fmnist study --models simple,big --frameworks jax,torch --seeds 8 --out "$study"
bf16=results/bf16-check/jax-simple-bf16
if [ ! -f "$bf16/results.json" ]; then
  if [ -f "$bf16/config.json" ]; then
    fmnist train --resume "$bf16"
  else
    fmnist train --model simple --seeds 8 --precision bf16 --out "$bf16"
  fi
fi
fmnist compare "$study/jax-simple" "$bf16" --out results/bf16-check
fmnist study --models cnn --frameworks jax --seeds 8 --seeds-per-run 1 --checkpoint-every 1 --out "$study"
