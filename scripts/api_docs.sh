#!/usr/bin/env bash
# Build the API reference of idff from its docstrings (pdoc, from the 'test' extra) as
# HTML: bash scripts/api_docs.sh [OUT_DIR]   (default docs/api; open OUT_DIR/index.html).
# tests/project/test_api_docs.py builds it into a temporary folder, so CI checks that it builds.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/api}"
py="${PYTHON:-$( [[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3 )}"
# the public modules (idff's __all__ lists names, so pdoc would not walk its submodules)
modules=(idff idff.runs idff.builders idff.sampling idff.sampler idff.fields idff.objective
         idff.path idff.coupling idff.network idff.models idff.methods idff.training
         idff.errors idff.run_config idff.analytic idff.metrics)
PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$py" -m pdoc "${modules[@]}" --docformat google \
  --no-show-source --footer-text "idff $(PYTHONPATH=src "$py" -c 'import idff; print(idff.__version__)')" \
  -o "$out"
echo "API reference: $out/index.html"
