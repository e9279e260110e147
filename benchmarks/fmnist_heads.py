"""What IDFF's score head buys at few NFE on Fashion-MNIST (docs/METHOD.md, "What the score
head can and cannot change at sampling time"): the same network sampled with

- ``pf``: the probability flow ``(x̂1 - x)/(1 - t) - ŝ`` (the package default),
- ``x1``: the trained ``x̂1`` as the data prediction, ``(x̂1 - x)/(1 - t)`` (score dropped),
- ``velocity``: the CFM-trained velocity ``E[x1 - x0 | x] = (x̂1 - x)/(1 - t) - 2t·ŝ``,

for the few-step solvers (midpoint, ab3, dpm2m, unipc3, rk2 with α = 0.25 on the ρ = 2 power
grid), and the pf SDE family (``γ > 0``: Euler–Maruyama, ``ddim`` with fresh noise) against
``γ = 0``. Every cell
uses the same noises (one seed: paired) and scores FD-FMNIST-CNN against the validation
reference (10k training images) and the evaluation reference (10k test images, with a
95 % bootstrap interval). Cells are journalled to ``OUT.jsonl`` (rerun to resume).

    python benchmarks/fmnist_heads.py checkpoints/fashion_mnist/idff --n 1000 \\
        --classifier checkpoints/fashion_mnist/classifier/fmnist_cnn.pt \\
        --out results/eval/fmnist_heads
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from idff.eval.bench.quality import fashion_mnist_quality
from idff.eval.bench.samplers import parse_solver
from idff.eval.distribution import frechet_bootstrap
from idff.eval.fid import classifier_extractor, frechet_distance
from idff.io import atomic_write
from idff.runs import load

SHA = "461f769f7193fb4dbaa2bb43ddbeddff3498b9f5000ca4774c63ab6de80dedc5"

#: (NFE, solver, field, γ, grid) in the order they run (the most informative first)
CELLS = {
    "heads": [(nfe, solver, field, 0.0, "power") for nfe in (2, 4)
              for solver in ("ab3", "midpoint") for field in ("pf", "x1", "velocity")],
    "gamma": [(nfe, solver, "pf", gamma, "power") for nfe in (4, 10)
              for solver in ("euler", "ddim") for gamma in (0.0, 1.0, 3.0)],
    "dpm": [(nfe, "dpm2m", field, 0.0, "power") for nfe in (2, 4) for field in ("pf", "x1")],
    "unipc": [(nfe, "unipc3", field, 0.0, "power") for nfe in (4, 6, 10)
              for field in ("pf", "x1", "velocity")],
    "rk2": [(nfe, "rk2:0.25", field, 0.0, "power") for nfe in (2, 4)
            for field in ("pf", "x1", "velocity")],
}


def key(cell) -> str:
    nfe, solver, field, gamma, grid = cell
    return f"{nfe}|{solver}|{field}|{gamma:g}|{grid}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--n", type=int, default=1000, help="samples per cell")
    ap.add_argument("--seed", type=int, default=0, help="one seed for every cell (paired)")
    ap.add_argument("--classifier", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--cells", default="heads,gamma,dpm",
                    help=f"comma-separated groups of cells: {', '.join(CELLS)}")
    ap.add_argument("--table-only", action="store_true",
                    help="write the table of the journalled cells, sample nothing")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cells = [c for g in args.cells.split(",") for c in CELLS[g.strip()]]

    quality = fashion_mnist_quality(classifier_extractor(args.classifier, SHA), args.data_root)
    run = load(args.run)
    journal = args.out.with_suffix(".jsonl")
    done = {}
    if journal.is_file():
        for line in journal.read_text().splitlines():
            row = json.loads(line)
            done[row["key"]] = row
    for cell in cells:
        if key(cell) in done or args.table_only:
            continue
        nfe, solver, field, gamma, grid = cell
        name, extra = parse_solver(solver)  # rk2:α places rk2's second call
        t0 = time.perf_counter()
        with torch.no_grad():
            res = run.sample(args.n, seed=args.seed, nfe=nfe, solver=name, field=field,
                             gamma=gamma, grid=grid, rho=2.0, clamp=False, **extra)
        x, used = res.x, res.nfe
        seconds = time.perf_counter() - t0
        feats = quality.features(x)
        val = quality.refs["val"]
        fd_val = frechet_distance(feats.mean(0), np.cov(feats, rowvar=False), val.mu, val.sigma)
        ev = quality.refs["eval"]
        fd, lo, hi = frechet_bootstrap(feats, ev.mu, ev.sigma, 200)
        row = {"key": key(cell), "nfe_budget": nfe, "nfe": used, "solver": solver,
               "field": field, "gamma": gamma, "grid": f"{grid}:2", "n": args.n,
               "seed": args.seed, "fd_val": fd_val, "fd_eval": fd, "fd_eval_lo": lo,
               "fd_eval_hi": hi, "seconds": seconds}
        print(json.dumps(row), flush=True)
        with journal.open("a") as f:
            f.write(json.dumps(row) + "\n")
        done[row["key"]] = row

    rows = [done[key(c)] for c in cells if key(c) in done]
    lines = [f"FD-FMNIST-CNN of {args.run} ({args.n} samples per cell, seed {args.seed} for "
             "every cell: the same noises), validation reference (10k train images) and "
             "evaluation reference (10k test images, 95 % bootstrap interval). Grid: power, "
             "ρ = 2. Command: `python benchmarks/fmnist_heads.py "
             f"{args.run} --n {args.n} --classifier {args.classifier} --cells {args.cells} "
             f"--out {args.out}`.", "",
             "| NFE | solver | field | γ | FD val | FD eval [95 %] | counted NFE |",
             "|---:|---|---|---:|---:|---|---:|"]
    for r in rows:
        lines.append(f"| {r['nfe_budget']} | {r['solver']} | {r['field']} | {r['gamma']:g} | "
                     f"{r['fd_val']:.1f} | {r['fd_eval']:.1f} [{r['fd_eval_lo']:.1f}, "
                     f"{r['fd_eval_hi']:.1f}] | {r['nfe']} |")
    text = "\n".join(lines) + "\n"
    atomic_write(args.out.with_suffix(".md"), lambda f: f.write(text.encode()))
    print(text)


if __name__ == "__main__":
    main()
