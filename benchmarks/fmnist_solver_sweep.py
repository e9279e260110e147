"""Paired sweep of solvers × time grids at one budget on a Fashion-MNIST run: every candidate
starts from the same noises and is scored by FD-FMNIST-CNN against the validation reference
(10k training images). A quick way to place a solver's parameter (``rk2:ALPHA``) or a grid
(``power:RHO``) before ``idff bench nfe`` scores the chosen ones on the evaluation reference.

    python benchmarks/fmnist_solver_sweep.py checkpoints/fashion_mnist/idff --nfe 2 \\
        --solvers rk2:0.1,rk2:0.15,rk2:0.2,rk2:0.25,rk2:0.3,ab3 --grids uniform,power
    python benchmarks/fmnist_solver_sweep.py checkpoints/fashion_mnist/idff --nfe 4 \\
        --solvers rk2:0.2,rk2:0.3,rk2:0.4,midpoint --grids power,power:1.5
    python benchmarks/fmnist_solver_sweep.py checkpoints/fashion_mnist/idff --nfe 4 \\
        --solvers rk2:0.15 --grids power:1.25,power:1.5,power:1.75,power

Prints one line per candidate (run, NFE, solver, grid, validation FD).
"""

from __future__ import annotations

import argparse

import torch

from idff.eval.bench.quality import fashion_mnist_quality
from idff.eval.bench.samplers import parse_grid, parse_solver
from idff.eval.fid import classifier_extractor
from idff.runs import load

SHA = "461f769f7193fb4dbaa2bb43ddbeddff3498b9f5000ca4774c63ab6de80dedc5"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--nfe", type=int, required=True)
    ap.add_argument("--solvers", required=True, help="e.g. rk2:0.25,midpoint,unipc3")
    ap.add_argument("--grids", default="uniform", help="e.g. uniform,power,power:1.5")
    ap.add_argument("--n", type=int, default=1000, help="samples per candidate")
    ap.add_argument("--seed", type=int, default=123, help="seed of the shared noises")
    ap.add_argument("--classifier", default="checkpoints/fashion_mnist/classifier/fmnist_cnn.pt")
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)

    quality = fashion_mnist_quality(classifier_extractor(args.classifier, SHA), args.data_root,
                                    cache_dir="cache/eval/stats")
    run = load(args.run)
    x0 = torch.randn(args.n, 1, 28, 28, generator=torch.Generator().manual_seed(args.seed))
    for spec in args.solvers.split(","):
        solver, extra = parse_solver(spec)
        for grid in args.grids.split(","):
            kw = {**parse_grid(grid), **extra}
            with torch.no_grad():
                x = torch.cat([run.sample(len(b), x0=b, nfe=args.nfe, solver=solver, **kw).x
                               for b in x0.split(250)])
            fd = quality.score(x.clamp(-1, 1), "val")[quality.name]
            print(f"{args.run} nfe={args.nfe} {spec} {grid} FD_val={fd:.2f}", flush=True)


if __name__ == "__main__":
    main()
