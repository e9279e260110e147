"""One and two network calls on 2D toys: IDFF and OT-CFM teachers, each distilled by
reflow and by x1head (``idff.distill``), against the teachers at NFE 1, 2, 4 and 100.

Teachers train for --steps (toy defaults); each student trains for at most half of that on
--pairs pairs made by its teacher's stored sampler at NFE 100. Teachers and students are
cached under --cache (resumable), so a rerun only evaluates. One torch thread.

    python benchmarks/toy_distill.py --seeds 0 --out benchmarks/results/toy_distill

Writes ``OUT.csv`` (every row), ``OUT.md`` (mean ± std over seeds, the costs) and ``OUT.png``.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

import idff
from idff.metrics import mmd
from idff.toy.data import sample_toy, support_fraction

TEACHERS = ("idff", "otcfm")
METHODS = ("reflow", "x1head")
TEACHER_NFES = (1, 2, 4, 100)
STUDENT_NFES = (1, 2)


def metrics(dataset: str, x: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    return {"in_support": support_fraction(dataset, x), "mmd": mmd(x, ref),
            "mmd_fine": mmd(x, ref, bandwidths=(0.001, 0.01))}


def map_rms(x: torch.Tensor, best: torch.Tensor) -> float:
    """Root-mean-square distance from the teacher's NFE-100 sample of the same noise."""
    return float((x - best).pow(2).sum(1).mean().sqrt())


def teacher_run(cache: Path, method: str, dataset: str, seed: int, steps: int):
    out = cache / f"{dataset}-{method}-s{seed}-n{steps}"
    cfg = idff.toy_config(method, dataset, train={"steps": steps, "seed": seed})
    return idff.train_run(cfg, out, progress=False, resume="auto", threads=1)


def student_run(cache: Path, teacher, method: str, steps: int, pairs: int, seed: int):
    out = Path(f"{teacher.path}-{method}-n{steps}-p{pairs}")
    return idff.distill(teacher, out, method, steps=steps, pairs=pairs, pair_nfe=100,
                        seed=seed, resume=(out / "config.json").is_file(), progress=False,
                        echo=lambda line: print(f"  {out.name}: {line}", flush=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["checkerboard", "8gaussians"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--steps", type=int, default=5000, help="teacher training steps")
    ap.add_argument("--student-share", type=float, default=0.5,
                    help="student steps as a share of the teacher's (at most 0.5)")
    ap.add_argument("--pairs", type=int, default=16384)
    ap.add_argument("--n", type=int, default=4000, help="samples per evaluation")
    ap.add_argument("--cache", default="cache/toy_distill")
    ap.add_argument("--out", default="benchmarks/results/toy_distill")
    args = ap.parse_args()
    if not 0 < args.student_share <= 0.5:
        ap.error("--student-share must be in (0, 0.5]: the student trains at most half the "
                 "teacher's steps.")
    torch.set_num_threads(1)
    cache, out = Path(args.cache), Path(args.out)
    cache.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    s_steps = max(int(args.steps * args.student_share), 1)
    rows, costs, shown = [], {}, {}
    for dataset in args.datasets:
        for seed in args.seeds:
            ref = sample_toy(dataset, args.n, torch.Generator().manual_seed(10_000 + seed))
            for tm in TEACHERS:
                teacher = teacher_run(cache, tm, dataset, seed, args.steps)
                # every sampler below starts from the same noise (seed), so its samples
                # compare one to one with the teacher's NFE-100 map
                best = teacher.sample(args.n, nfe=100, seed=seed).x
                for nfe in TEACHER_NFES:
                    x = teacher.sample(args.n, nfe=nfe, seed=seed).x
                    rows.append({"dataset": dataset, "seed": seed, "teacher": tm,
                                 "model": "teacher", "nfe": nfe, **metrics(dataset, x, ref),
                                 "map_rms": map_rms(x, best)})
                    shown[(dataset, tm, "teacher", nfe)] = x
                for method in METHODS:
                    student = student_run(cache, teacher, method, s_steps, args.pairs, seed)
                    costs[(dataset, seed, tm, method)] = json.loads(
                        (student.path / "costs.json").read_text())
                    for nfe in STUDENT_NFES:
                        res = student.sample(args.n, nfe=nfe, seed=seed)
                        assert res.nfe == nfe, (res.nfe, nfe)
                        rows.append({"dataset": dataset, "seed": seed, "teacher": tm,
                                     "model": method, "nfe": nfe,
                                     **metrics(dataset, res.x, ref),
                                     "map_rms": map_rms(res.x, best)})
                        shown[(dataset, tm, method, nfe)] = res.x
                print(f"{dataset} seed {seed} {tm}: done", flush=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out.with_suffix(".md").write_text(table(rows, costs, args, s_steps))
    figure(shown, args.datasets, out.with_suffix(".png"))
    print(out.with_suffix(".md").read_text())


def _fmt(values: list[float], digits: int) -> str:
    m = float(np.mean(values))
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {float(np.std(values)):.{digits}f}"


def table(rows, costs, args, s_steps) -> str:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["teacher"], r["model"], r["nfe"])].append(r)
    lines = ["# One and two calls on 2D toys (benchmarks/toy_distill.py)", "",
             f"Teachers: {args.steps} steps (toy defaults), sampled with their stored sampler. "
             f"Students: {s_steps} steps ({s_steps / args.steps:.0%} of the teacher's), "
             f"initialised from the teacher, trained on {args.pairs} pairs made by the teacher "
             f"at NFE 100. {args.n} samples against {args.n} data points; seeds "
             f"{', '.join(map(str, args.seeds))}. in_support: higher is better (data: "
             "checkerboard 1.0, 8gaussians 0.989); MMD² (kernel variances 0.01-100) and "
             "mmd_fine (0.001, 0.01): lower is better. map RMS: distance from the teacher's "
             "NFE-100 "
             "sample of the same noise (how far a sampler is from the map it imitates).", "",
             "| dataset | teacher | model | NFE | in_support | MMD² | mmd_fine | map RMS |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for (dataset, tm, model, nfe), rs in groups.items():
        lines.append(f"| {dataset} | {tm} | {model} | {nfe} | "
                     f"{_fmt([r['in_support'] for r in rs], 3)} | "
                     f"{_fmt([r['mmd'] for r in rs], 4)} | "
                     f"{_fmt([r['mmd_fine'] for r in rs], 4)} | "
                     f"{_fmt([r['map_rms'] for r in rs], 3)} |")
    lines += ["", "Costs per student (mean over seeds): teacher network evaluations to make "
              "the pairs, student steps as a share of the teacher's, wall time on one thread.",
              "", "| dataset | teacher | method | teacher evals | step share | pairs s | "
              "train s |", "|---|---|---|---:|---:|---:|---:|"]
    keyed: dict[tuple, list[dict]] = defaultdict(list)
    for (dataset, _seed, tm, method), c in costs.items():
        keyed[(dataset, tm, method)].append(c)
    for (dataset, tm, method), cs in keyed.items():
        lines.append(f"| {dataset} | {tm} | {method} | {cs[0]['teacher_evals']:,} | "
                     f"{cs[0]['step_share']:.0%} | "
                     f"{np.mean([c['seconds_pairs'] for c in cs]):.1f} | "
                     f"{np.mean([c['seconds_train'] for c in cs]):.1f} |")
    return "\n".join(lines) + "\n"


def figure(shown, datasets, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from idff.io import atomic_savefig

    cols = [("teacher", 100), ("teacher", 1), ("teacher", 2), ("reflow", 1), ("reflow", 2),
            ("x1head", 1), ("x1head", 2)]
    rows = [(d, tm) for d in datasets for tm in TEACHERS]
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.2 * len(cols), 2.2 * len(rows)),
                             squeeze=False)
    for i, (d, tm) in enumerate(rows):
        for j, (model, nfe) in enumerate(cols):
            ax = axes[i, j]
            x = shown.get((d, tm, model, nfe))
            if x is not None:
                ax.scatter(x[:2000, 0], x[:2000, 1], s=0.5, alpha=0.5)
            ax.set_xlim(-4.5, 4.5)
            ax.set_ylim(-4.5, 4.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"{model} NFE {nfe}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{d}\n{tm}", fontsize=9)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)


if __name__ == "__main__":
    main()
