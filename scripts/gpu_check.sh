#!/usr/bin/env bash
# GPU check: IDFF training (bf16, DDP/NCCL at world size 1) vs a torchcfm-style CFM loop of
# the same UNet, the fashion_mnist preset, generation at NFE 4 and 10, syncs per step,
# eager then torch.compile. Each stage runs under its own time limit and every row is
# printed and appended to benchmarks/results/gpu_check.md (--out) as soon as it is measured
# (< 8 min on one modern GPU). Usage: bash scripts/gpu_check.sh [--dry-run] [--steps N]
#   [--no-compile] [--stages idff,cfm,...] [--out FILE]
#   --dry-run: the same code on the CPU with a tiny UNet and two steps (checks the script).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}  # $PYTHON: the interpreter to use (default: the repo's venv)
[[ -x $py ]] || command -v "$py" >/dev/null || py=python3
exec timeout 480 "$py" scripts/gpu_check.py "$@"
