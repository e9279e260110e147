#!/usr/bin/env bash
# Install idff and run the main job: train IDFF, OT-CFM and I-CFM on a 2D toy, print the
# quality-vs-NFE table and write the figure to runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh "test"
.venv/bin/idff demo "$@"
