#!/usr/bin/env bash
# The GPU check, as one command for the device tool (one H200, at most 9 minutes). Before calling
# it, copy the data into the git-ignored data/ folder and carry it:
#   mkdir -p data/fashion-mnist && cp ../shared/data/fashion-mnist/*.gz data/fashion-mnist/
#   device run, carry ["data"]:  bash scripts/gpu_check.sh
# Writes $OUT/gpu-check.json (or ./gpu-check.json outside the device tool) and the log beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-.}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
timeout 540 python3 scripts/gpu_check.py --json "$out/gpu-check.json" \
    --data-dir data/fashion-mnist "$@" 2>&1 | tee "$out/gpu-check.log"
