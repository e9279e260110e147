#!/usr/bin/env bash
# Install idff with every extra the tests exercise, then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh "all"
.venv/bin/python -m pytest -q "$@"
