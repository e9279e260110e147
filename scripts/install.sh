#!/usr/bin/env bash
# Create .venv (if missing) and install idff with the given extras (default: test).
# Usage: bash scripts/install.sh [EXTRAS]      e.g. bash scripts/install.sh "test,images"
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
python3 -m venv .venv
# torch and torchvision are installed together as a matching pair (CPU works with either build).
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1" \
  || .venv/bin/python -m pip install -q "torch>=2.1" "torchvision>=0.16"
.venv/bin/python -m pip install -q -e ".[${extras}]"
