#!/usr/bin/env bash
# Build the wheel, install it into a fresh virtual environment, load a shipped run by name
# and run `idff demo` from it.
#
# The fresh environment installs the wheel itself (not the source tree) with --no-deps and
# borrows the already-installed dependencies (torch, ...) of .venv through a .pth line, so
# nothing large is downloaded; `pip check` then verifies that the wheel's declared
# dependencies are satisfied. Usage: bash scripts/wheel_check.sh [DEMO_STEPS]   (after
# scripts/install.sh with the 'test' extra, which provides 'build').
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
steps="${1:-200}"
tmp="$(mktemp -d)"
had_build=$([[ -e build ]] && echo 1 || echo 0)  # setuptools' build/ folder: ours to remove
cleanup() { rm -rf "$tmp"; [[ $had_build == 1 ]] || rm -rf "$root/build"; }
trap cleanup EXIT
.venv/bin/python -m build --wheel --no-isolation --outdir "$tmp/dist" . > "$tmp/build.log" 2>&1 \
  || { cat "$tmp/build.log"; exit 1; }
wheel=$(ls "$tmp"/dist/idff-*.whl)
echo "built $(basename "$wheel")"
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip uninstall -q -y setuptools 2>/dev/null || true  # use .venv's
deps=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
site=$("$tmp/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$deps" > "$site/_idff_deps_from_dotvenv.pth"
"$tmp/venv/bin/python" -m pip install -q --no-deps --no-index "$wheel"
"$tmp/venv/bin/python" -m pip check
cd "$tmp"  # away from the source tree: the installed package must be the one imported
"$tmp/venv/bin/python" - <<'PY'
import importlib.metadata as md
import pathlib
import sys

import idff

where = pathlib.Path(idff.__file__).resolve()
assert str(where).startswith(sys.prefix), f"idff imported from {where}, not the wheel"
assert (where.parent / "py.typed").is_file(), "py.typed missing from the wheel"
assert md.version("idff") == idff.__version__, (md.version("idff"), idff.__version__)
print(f"idff {idff.__version__} from {where.parent}")

# the shipped runs are package data: they load by name, from the installed package
run = idff.load("fashion_mnist/idff")
assert str(run.path.resolve()).startswith(sys.prefix), f"loaded {run.path}, not the wheel's"
res = run.sample(2, nfe=2, seed=0)
assert tuple(res.x.shape) == (2, 1, 28, 28) and res.nfe == 2, (res.x.shape, res.nfe)
assert res.x.min() >= -1 and res.x.max() <= 1
print(f"idff.load('fashion_mnist/idff') from {run.path}: samples {tuple(res.x.shape)}")
PY
"$tmp/venv/bin/idff" --version
OMP_NUM_THREADS=1 "$tmp/venv/bin/idff" demo --steps "$steps" --out "$tmp/demo"
test -s "$tmp/demo/table.md" && test -s "$tmp/demo/trajectories.png"
echo "wheel check passed"
