"""Quality versus NFE on 2D toys: IDFF variants, OT-CFM and I-CFM, over several seeds.

Every method uses the same MLP, data stream, optimiser and number of steps; NFE is
counted by the sampler. Trained models are cached under --cache, so reruns only evaluate.

    python benchmarks/toy_nfe.py --datasets checkerboard 8gaussians --seeds 0 1 2 \
        --out benchmarks/results/toy_nfe

Writes ``OUT.csv`` (every row), ``OUT.md`` (mean ± std over seeds) and ``OUT.png``.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from idff.toy.config import toy_run_config
from idff.toy.evaluate import evaluate_nfe, true_floor
from idff.toy.kind import load_toy_model
from idff.toy.train import train_toy
from idff.training import TrainConfig
from idff.training.checkpoint import snapshot_file

NFES = [1, 2, 3, 5, 10, 20, 50, 100, "adaptive"]


def _idff(param="skip", field="pf", solver="midpoint", objective=None, **sampling):
    """An IDFF variant: heads, training-objective overrides and sampling options."""
    over = {"parametrization": param}
    if objective:
        over["objective"] = objective
    return ("idff", over, {"field": field, "solver": solver, **sampling})


def _clipped(cap):
    return {"flow_weighting": "clipped", "max_weight": cap}


# name -> (method, model/objective overrides, sampling options); the overrides name the
# cache directory, so a variant's dict must not change once results are cached
VARIANTS = {
    "idff": _idff(),
    "idff-euler": _idff(solver="euler"),
    "idff-sde1.5": _idff(solver="euler", gamma=1.5),
    "idff-published": _idff("x1", field="published", solver="euler", s=0.2),
    "idff-x1-pf": _idff("x1", solver="euler"),
    "idff-x1-clipped": _idff("x1", objective=_clipped(10.0)),
    "idff-skip-clip10": _idff(objective=_clipped(10.0)),
    "idff-skip-clip100": _idff(objective=_clipped(100.0)),
    "idff-sigma0.1": _idff(objective={"sigma": 0.1}),
    "idff-velocity": _idff("velocity"),
    "otcfm": ("otcfm", {}, {"solver": "midpoint"}),
    "otcfm-euler": ("otcfm", {}, {"solver": "euler"}),
    "icfm": ("icfm", {}, {"solver": "midpoint"}),
}


# variants run only when named with --variants (leads, not part of the default table)
LEADS = ("clip", "sde", "sigma", "velocity")


def run_dir(cache: Path, method: str, overrides: dict, dataset: str, seed: int, steps: int) -> Path:
    key = json.dumps(overrides, sort_keys=True).replace(" ", "")
    tag = "".join(c if c.isalnum() else "_" for c in key).strip("_") or "default"
    return cache / f"{dataset}-{method}-{tag}-s{seed}-n{steps}"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--datasets", nargs="+", default=["checkerboard", "8gaussians"])
    ap.add_argument(
        "--variants",
        nargs="+",
        default=[v for v in VARIANTS if not any(k in v for k in LEADS)],
    )
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--n-eval", type=int, default=2000)
    ap.add_argument("--cache", default="cache/toy_nfe")
    ap.add_argument("--out", default="benchmarks/results/toy_nfe")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cache, out = Path(args.cache), Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    rows = []
    for dataset in args.datasets:
        for seed in args.seeds:
            floor_mmd, floor_w2 = true_floor(dataset, args.n_eval, seed)
            rows.append(
                dict(
                    dataset=dataset,
                    seed=seed,
                    variant="true-vs-true",
                    nfe_budget="-",
                    nfe=0,
                    mmd=floor_mmd,
                    w2=floor_w2,
                    seconds=0.0,
                )
            )
            for name in args.variants:
                method, over, samp = VARIANTS[name]
                over = dict(over)
                cfg = toy_run_config(
                    method,
                    dataset,
                    parametrization=over.pop("parametrization", None),  # IDFF variants name it
                    objective=over.pop("objective", None),
                )
                rd = run_dir(cache, method, VARIANTS[name][1], dataset, seed, args.steps)
                if (
                    not snapshot_file(rd).exists()
                    or json.loads((rd / "config.json").read_text())["train"]["steps"] != args.steps
                ):
                    train_toy(
                        cfg,
                        rd,
                        TrainConfig(
                            steps=args.steps,
                            lr=1e-3,
                            warmup=200,
                            ema_decay=0.999,
                            seed=seed,
                            ckpt_every=args.steps,
                        ),
                        progress=False,
                        resume="auto",  # a shorter cached run is extended
                    )
                model, cfg = load_toy_model(rd)
                samp = dict(samp)
                for r in evaluate_nfe(
                    model,
                    cfg,
                    NFES,
                    n_eval=args.n_eval,
                    seed=seed,
                    solver=samp.pop("solver"),
                    field=samp.pop("field", "pf"),
                    **samp,
                ):
                    rows.append(
                        dict(
                            dataset=dataset,
                            seed=seed,
                            variant=name,
                            nfe_budget=r.nfe_budget,
                            nfe=r.nfe,
                            mmd=r.mmd,
                            w2=r.w2,
                            seconds=r.seconds,
                        )
                    )
                print(
                    f"{dataset} seed={seed} {name}: "
                    + " ".join(
                        f"{r['nfe_budget']}:{r['mmd']:.4f}"
                        for r in rows
                        if r["variant"] == name and r["seed"] == seed and r["dataset"] == dataset
                    ),
                    flush=True,
                )

    with open(out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    write_markdown(rows, out.with_suffix(".md"), args)
    plot(rows, out.with_suffix(".png"))


def summarise(rows):
    agg = defaultdict(list)
    for r in rows:
        agg[(r["dataset"], r["variant"], r["nfe_budget"])].append(r)
    return agg


def write_markdown(rows, path: Path, args) -> None:
    agg = summarise(rows)
    lines = [
        f"Seeds {args.seeds}, {args.steps} training steps, {args.n_eval} samples; "
        "cells: MMD mean ± std over seeds (W2 mean); adaptive shows its mean NFE.\n"
    ]
    for dataset in args.datasets:
        floor = agg[(dataset, "true-vs-true", "-")]
        lines.append(
            f"\n### {dataset} (true-vs-true floor: MMD {np.mean([r['mmd'] for r in floor]):.4f}, "
            f"W2 {np.mean([r['w2'] for r in floor]):.3f})\n"
        )
        lines.append("| variant | " + " | ".join(f"NFE {b}" for b in NFES) + " |")
        lines.append("|---|" + "---|" * len(NFES))
        for name in args.variants:
            cells = []
            for b in NFES:
                rs = agg[(dataset, name, str(b))]
                if not rs:
                    cells.append("–")
                    continue
                m = [r["mmd"] for r in rs]
                cell = f"{np.mean(m):.4f} ± {np.std(m):.4f} ({np.mean([r['w2'] for r in rs]):.3f})"
                if b == "adaptive":
                    cell += f" [NFE {np.mean([r['nfe'] for r in rs]):.0f}]"
                cells.append(cell)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agg = summarise(rows)
    datasets = sorted({r["dataset"] for r in rows})
    variants = [v for v in dict.fromkeys(r["variant"] for r in rows) if v != "true-vs-true"]
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.2), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        for v in variants:
            xs, ms, ss = [], [], []
            for b in NFES:
                rs = agg[(ds, v, str(b))]
                if rs:
                    xs.append(np.mean([r["nfe"] for r in rs]))
                    ms.append(np.mean([r["mmd"] for r in rs]))
                    ss.append(np.std([r["mmd"] for r in rs]))
            order = np.argsort(xs)
            xs, ms, ss = np.array(xs)[order], np.array(ms)[order], np.array(ss)[order]
            ax.errorbar(xs, ms, yerr=ss, marker="o", ms=3, capsize=2, label=v)
        floor = np.mean([r["mmd"] for r in agg[(ds, "true-vs-true", "-")]])
        ax.axhline(floor, color="k", ls=":", label="true vs true")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_xlabel("NFE (counted)")
        ax.set_ylabel("MMD")
        ax.set_title(ds)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
