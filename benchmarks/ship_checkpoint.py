"""Copy a trained run's EMA snapshot and config into a small shippable folder, with the
sampling settings that the benchmark chose on the validation reference at a given NFE as
the folder's defaults (``config.json`` → ``sample``), so that

    idff sample checkpoints/fashion_mnist/idff --nfe 10 --n 64 --out grid.png

samples the way the benchmark scored it.

    python benchmarks/ship_checkpoint.py runs/fmnist-idff checkpoints/fashion_mnist/idff \
        --bench results/eval/fmnist_idff.csv --nfe 10 \
        --fewstep results/eval/fmnist_fewstep_idff.csv

``--fewstep`` also stores the sampler that a few-step table (``benchmarks/fmnist_fewstep.sh``)
chose at each of its budgets (``sampling.budgets``, what ``idff bench nfe --store`` writes).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from idff.eval.bench.report import read_csv
from idff.run_config import upgrade_config


def chosen_sampling(bench_csv: Path, nfe: int) -> dict:
    """The sampling settings of the candidate chosen at budget ``nfe`` (solver, grid, noise:
    names such as ``midpoint gamma=0`` or ``rk2:0.25 power:1.5 gamma=0``)."""
    from idff.eval.bench.samplers import parse_grid, parse_solver

    rows = [r for r in read_csv(bench_csv) if r.nfe_budget == str(nfe)]
    if not rows:
        raise SystemExit(f"{bench_csv} has no row for NFE {nfe}.")
    out: dict = {"nfe": nfe}
    words = [w for w in rows[0].noise.split() if w != "-"]
    for k, v in (w.split("=") for w in words if "=" in w):
        out[k] = v if k == "field" else float(v)
    specs = [w for w in words if "=" not in w]
    if specs:
        solver, kw = parse_solver(specs[0])
        out.update(solver=solver, **kw)
    if len(specs) > 1:
        out.update(parse_grid(specs[1]))
    if "s" in out:
        out["field"] = "published"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--bench", type=Path, required=True, help="the run's benchmark CSV")
    ap.add_argument("--nfe", type=int, default=10)
    ap.add_argument("--fewstep", type=Path, default=None,
                    help="a few-step table's CSV: store its choice at each budget")
    args = ap.parse_args()
    cfg = upgrade_config(json.loads((args.run / "config.json").read_text()))
    cfg.setdefault("sampling", {}).update(chosen_sampling(args.bench, args.nfe))
    args.out.mkdir(parents=True, exist_ok=True)
    snaps = [p for p in args.run.iterdir() if p.name.startswith("snapshot.")]
    if not snaps:
        raise SystemExit(f"{args.run} has no snapshot file.")
    for p in snaps:
        shutil.copy2(p, args.out / p.name)
    (args.out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    print(f"wrote {args.out}: {', '.join(p.name for p in snaps)}, config.json "
          f"(sampling: {cfg['sampling']})")
    if args.fewstep:
        store_fewstep(args.out, args.fewstep)


def store_fewstep(run: Path, table: Path) -> None:
    """Store the candidate ``table`` chose at each budget in ``run`` (``sampling.budgets``):
    the candidates are rebuilt under the same names, and their settings written."""
    from idff.eval.bench.entries import entry_from_run
    from idff.eval.bench.store import store_choices

    rows = [r for r in read_csv(table) if r.nfe_budget.isdigit()]
    parts = [r.noise.split() for r in rows]
    gammas = sorted({float(p.split("=")[1]) for n in parts for p in n if p.startswith("gamma=")})
    entry = entry_from_run(run, solvers=sorted({n[0] for n in parts}),
                           grids=sorted({n[1] for n in parts}), gammas=gammas or (0.0,))
    unknown = sorted({r.noise for r in rows} - set(entry.settings))
    if unknown:
        raise SystemExit(f"{table}: cannot rebuild the candidates {unknown}.")
    chosen = store_choices(entry, rows)
    print(f"stored in {run}/config.json (sampling.budgets): NFE "
          + ", ".join(map(str, chosen)))


if __name__ == "__main__":
    main()
