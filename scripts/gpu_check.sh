#!/usr/bin/env bash
# GPU check: IDFF training (bf16, DDP/NCCL at world size 1) vs a torchcfm-style CFM loop of
# the same UNet, 10k-sample generation, torch.compile off/on; prints one table (< 8 min on
# one modern GPU). Usage: bash scripts/gpu_check.sh [--dry-run] [--steps N] [--no-compile]
#   --dry-run: the same code on the CPU with a tiny UNet and two steps (checks the script).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
[[ -x $py ]] || py=python3
exec timeout 480 "$py" scripts/gpu_check.py "$@"
