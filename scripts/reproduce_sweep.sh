#!/usr/bin/env bash
# Reproduces the study's whole scikit-learn MLPClassifier sweep (see the README): the 20
# configurations on all 60000 training images, max_iter 10000, sklearn's default tol (1e-4),
# random_state 0, then summary.md, accuracy.png and the confusion heatmaps beside results.csv.
#
# The study's fits add up to about 4800 s on 8 BLAS threads, one configuration at a time; the
# longest single fit is neurons-500 (730 s). Configurations run N_JOBS at a time, the longest
# first, each with nproc/N_JOBS BLAS threads, so fit times compare with the study's only
# where the thread counts match (N_JOBS=$(( $(nproc) / 8 )) gives each fit 8).
# Interrupted? Run the same command again: finished configurations are skipped.
#
# Usage: scripts/reproduce_sweep.sh [OUT_DIR [MORE fmnist sweep OPTIONS]]
#   OUT_DIR defaults to runs/sklearn-sweep-full; a quick check of the script itself:
#   scripts/reproduce_sweep.sh /tmp/sweep-check --subset 1000 --max-iter 2
# Environment: N_JOBS (default nproc/2, at least 1), DATA_DIR (default $FMNIST_DATA_DIR or the
# user cache, downloaded there if missing), FMNIST (default: the `fmnist` on PATH).
set -euo pipefail

out=${1:-runs/sklearn-sweep-full}
shift $(( $# > 0 ? 1 : 0 ))
n_jobs=${N_JOBS:-$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))}
data_args=()
[[ -n ${DATA_DIR:-} ]] && data_args=(--data-dir "$DATA_DIR")

${FMNIST:-fmnist} sweep --list
time ${FMNIST:-fmnist} sweep --configs all --n-jobs "$n_jobs" --out "$out" "${data_args[@]}" "$@"
echo "results: $out/summary.md"
