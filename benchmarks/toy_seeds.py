"""Aggregate ``idff bench nfe`` results on 2D toys: over seeds, or over training steps.

    # mean ± std over seeds; prefixes named DATASET-sSEED-nSTEPS (as toy_converged.sh writes)
    python benchmarks/toy_seeds.py seeds runs/toy_converged/bench/checkerboard-s0-n30000 ... \
        --steps 30000 --out benchmarks/results/toy_converged

    # learning curve; prefixes named ...-nSTEPS, one per training budget
    python benchmarks/toy_seeds.py curve runs/toy_lc/bench-n5000 runs/toy_lc/bench-n10000 ... \
        --out benchmarks/results/toy_learning_curve

    # paired per-seed change between two OUT.csv of the seeds mode (e.g. two budgets)
    python benchmarks/toy_seeds.py compare A.csv B.csv [--out OUT]

Each PREFIX is the ``--out`` of one ``idff bench nfe`` call (its PREFIX.csv and
PREFIX.meta.json are read). Writes OUT.csv (every per-seed or per-budget row), OUT.md (the
tables, and for ``seeds`` the target verdicts) and OUT.png; ``compare`` replaces its own
section at the end of OUT.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

METRICS = ("mmd", "mmd_fine", "in_support", "w2")
HIGHER_IS_BETTER = {"in_support"}
DESCR = {
    "mmd": "MMD² (RBF mixture, kernel variances 0.01–100)",
    "mmd_fine": "small-bandwidth MMD² (kernel variances 0.001, 0.01)",
    "in_support": "share of samples on the support (higher is better)",
    "w2": "exact W2",
}


def read_prefix(prefix: str) -> tuple[list[dict], dict]:
    """Rows of PREFIX.csv as dicts with float metrics, and the floor from PREFIX.meta.json."""
    p = Path(prefix)
    rows = []
    with open(p.with_suffix(".csv"), newline="") as f:
        for d in csv.DictReader(f):
            r = {"label": d["label"], "method": d["method"], "nfe_budget": d["nfe_budget"],
                 "nfe": int(d["nfe"]), "noise": d["noise"],
                 "seconds_per_1k": float(d["seconds_per_1k"])}
            r["mmd"] = float(d["value"])
            for m in METRICS[1:]:
                r[m] = float(d[m]) if d.get(m) not in (None, "") else float("nan")
            rows.append(r)
    meta = json.loads(p.with_suffix(".meta.json").read_text())
    return rows, meta.get("floor", {})


def budget_key(b: str) -> float:
    return float("inf") if b == "adaptive" else float(b)


def better(metric: str, a: float, b: float) -> bool:
    """Whether ``a`` is at least as good as ``b``."""
    return a >= b if metric in HIGHER_IS_BETTER else a <= b


def fmt(v: float, metric: str) -> str:
    if not np.isfinite(v):
        return "n/a"
    if metric == "in_support":
        return f"{v:.3f}"
    if metric == "w2":
        return f"{v:.3f}"
    return f"{v * 1e3:.2f}"


def unit(metric: str) -> str:
    return " (×10⁻³)" if metric.startswith("mmd") else ""


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


# --------------------------------------------------------------------------------- seeds


def seeds_main(args) -> None:
    rows, floors = [], defaultdict(list)
    for prefix in args.prefixes:
        m = re.search(r"([A-Za-z0-9]+)-s(\d+)-n(\d+)$", Path(prefix).name)
        if not m:
            raise SystemExit(f"{prefix}: expected a name DATASET-sSEED-nSTEPS")
        dataset, seed = m.group(1), int(m.group(2))
        bench, floor = read_prefix(prefix)
        floors[dataset].append(floor)
        for r in bench:
            rows.append({"dataset": dataset, "seed": seed, **r})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out.with_suffix(".csv"))

    agg = defaultdict(list)
    for r in rows:
        agg[(r["dataset"], r["label"], r["nfe_budget"])].append(r)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    labels = list(dict.fromkeys(r["label"] for r in rows))
    budgets = sorted({r["nfe_budget"] for r in rows}, key=budget_key)
    seeds = sorted({r["seed"] for r in rows})

    def stats(ds, lab, b, metric):
        v = np.array([r[metric] for r in agg[(ds, lab, b)]], dtype=float)
        return (v.mean(), v.std(), v) if len(v) else (np.nan, np.nan, v)

    lines = [
        f"2D toys, {args.steps} training steps, seeds {seeds}; each (dataset, seed) benchmarked "
        "by one `idff bench nfe` call (sampling candidates chosen per NFE budget on a "
        "validation reference, scored once on an independent evaluation reference of 2000 "
        "points, the references drawn with the seed). Cells: mean ± std over seeds "
        "(population std, ddof 0). Adaptive: dopri5, mean counted NFE in brackets.",
        "",
    ]
    verdicts = []
    for ds in datasets:
        lines += [f"## {ds}", ""]
        for metric in METRICS:
            fl = [f[metric] for f in floors[ds] if metric in f]
            fl_txt = (f"; reference floor (validation vs evaluation reference) "
                      f"{fmt(float(np.mean(fl)), metric)}" if fl else "")
            lines += [f"**{metric}**{unit(metric)}: {DESCR[metric]}{fl_txt}", "",
                      "| method | " + " | ".join(f"NFE {b}" for b in budgets) + " |",
                      "|---|" + "---:|" * len(budgets)]
            for lab in labels:
                cells = []
                for b in budgets:
                    mu, sd, v = stats(ds, lab, b, metric)
                    if not len(v):
                        cells.append("")
                        continue
                    c = f"{fmt(mu, metric)} ± {fmt(sd, metric)}"
                    if b == "adaptive":
                        c += f" [{np.mean([r['nfe'] for r in agg[(ds, lab, b)]]):.0f}]"
                    cells.append(c)
                lines.append(f"| {lab} | " + " | ".join(cells) + " |")
            lines.append("")
        verdicts += [f"### {ds}", ""] + targets(ds, labels, budgets, stats, seeds, agg)
    lines += ["## Targets", "",
              "(a) IDFF at NFE ≤ 4 (its best mean among budgets 1, 2, 4) against OT-CFM's best "
              "mean at any budget, adaptive included. Both runs of a seed share the references "
              "and sampling seeds, so the comparison is paired: 'paired' is the per-seed "
              "difference IDFF − OT-CFM (mean ± std over seeds; for in_support a positive value "
              "favours IDFF, for the others a negative one); 'beyond/within seed noise' says "
              "whether its mean exceeds its std; 'seeds' counts the seeds where IDFF is at "
              "least as good. "
              "(b) IDFF from NFE 4 upwards, paired per seed: 'degrades' when a larger budget is "
              "worse than a smaller one on every seed and by more than the std of the per-seed "
              "difference, 'improves' when better in that sense, else 'flat'. A descriptive rule "
              "over 3 seeds, not a significance test.", ""] + verdicts
    text = "\n".join(lines) + "\n"
    out.with_suffix(".md").write_text(text)
    print(text)
    plot_seeds(datasets, labels, budgets, stats, agg, floors, out.with_suffix(".png"),
               args.steps)


def paired(agg, ds, a, b, metric, sign):
    """Per-seed ``a − b`` (both (label, budget)), signed so that negative favours ``a``."""
    va = {r["seed"]: r[metric] for r in agg[(ds, *a)]}
    vb = {r["seed"]: r[metric] for r in agg[(ds, *b)]}
    return np.array([sign * (va[k] - vb[k]) for k in sorted(va) if k in vb], dtype=float)


def targets(ds, labels, budgets, stats, seeds, agg) -> list[str]:
    idff = next((lab for lab in labels if lab.startswith("idff")), None)
    ref = next((lab for lab in labels if lab.startswith("otcfm")), None)
    if idff is None or ref is None:
        return ["(needs an idff and an otcfm run)", ""]
    fast = [b for b in budgets if b != "adaptive" and int(b) <= 4 and len(agg[(ds, idff, b)])]
    later = [b for b in budgets if b != "adaptive" and int(b) >= 4 and len(agg[(ds, idff, b)])]
    out = ["| metric | IDFF best NFE ≤ 4 | OT-CFM best (any NFE) | paired IDFF − OT-CFM | (a) "
           f"| seeds | IDFF NFE {' → '.join(later)} | (b) |",
           "|---|---:|---:|---:|---|---:|---:|---|"]
    for metric in METRICS:
        sign = -1 if metric in HIGHER_IS_BETTER else 1

        def best(lab, cands, metric=metric, sign=sign):
            vals = [(stats(ds, lab, b, metric)[0], b) for b in cands
                    if len(agg[(ds, lab, b)])]
            return min(vals, key=lambda t: sign * t[0])

        (mi, bi), (mo, bo) = best(idff, fast), best(ref, budgets)
        si, so = stats(ds, idff, bi, metric)[1], stats(ds, ref, bo, metric)[1]
        d = paired(agg, ds, (idff, bi), (ref, bo), metric, sign)  # < 0: IDFF better
        wins = int((d <= 0).sum())
        noise = "beyond" if abs(d.mean()) > d.std() else "within"
        va = ("met" if d.mean() <= 0 else "not met") + f", {noise} seed noise"
        # (b): a larger budget worse than a smaller one (≥ 4) beyond the paired seed noise
        vb, gain = "flat", None
        for i, lo in enumerate(later):
            for hi in later[i + 1:]:
                e = paired(agg, ds, (idff, hi), (idff, lo), metric, sign)  # > 0: worse
                if abs(e.mean()) > e.std() and ((e > 0).all() or (e < 0).all()):
                    if e.mean() > 0:
                        vb = f"degrades (NFE {lo} → {hi})"
                    elif gain is None:
                        gain = f"improves (NFE {lo} → {hi})"
        if vb == "flat" and gain:
            vb = gain
        path = " → ".join(fmt(stats(ds, idff, b, metric)[0], metric) for b in later)
        dd = fmt(sign * d.mean(), metric) + " ± " + fmt(d.std(), metric)
        out.append(f"| {metric} | {fmt(mi, metric)} ± {fmt(si, metric)} (NFE {bi}) | "
                   f"{fmt(mo, metric)} ± {fmt(so, metric)} (NFE {bo}) | {dd} | {va} | "
                   f"{wins}/{len(d)} | {path} | {vb} |")
    return out + [""]


def plot_seeds(datasets, labels, budgets, stats, agg, floors, path: Path, steps) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(datasets), len(METRICS),
                             figsize=(4.2 * len(METRICS), 3.4 * len(datasets)), squeeze=False)
    for ax_row, ds in zip(axes, datasets):
        for ax, metric in zip(ax_row, METRICS):
            for lab in labels:
                fixed = [b for b in budgets if b != "adaptive" and len(agg[(ds, lab, b)])]
                x = [int(b) for b in fixed]
                mu = [stats(ds, lab, b, metric)[0] for b in fixed]
                sd = [stats(ds, lab, b, metric)[1] for b in fixed]
                line = ax.errorbar(x, mu, yerr=sd, marker="o", ms=3, capsize=2, label=lab)
                if len(agg[(ds, lab, "adaptive")]):
                    mu_a, sd_a, _ = stats(ds, lab, "adaptive", metric)
                    nfe_a = np.mean([r["nfe"] for r in agg[(ds, lab, "adaptive")]])
                    ax.errorbar([nfe_a], [mu_a], yerr=[sd_a], marker="*", ms=9, capsize=2,
                                color=line[0].get_color(), ls="none", label=f"{lab} adaptive")
            fl = [f[metric] for f in floors[ds] if metric in f]
            if fl:
                ax.axhline(float(np.mean(fl)), color="k", ls=":", lw=1, label="reference floor")
            ax.set_xscale("log")
            ax.set_xlabel("NFE (counted)")
            ax.set_title(f"{ds}: {metric}" + (" (↑)" if metric in HIGHER_IS_BETTER else " (↓)"),
                         fontsize=9)
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"2D toys, {steps} training steps: mean ± std over seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------- curve


def curve_main(args) -> None:
    rows = []
    for prefix in args.prefixes:
        m = re.search(r"-n(\d+)$", Path(prefix).name)
        if not m:
            raise SystemExit(f"{prefix}: expected a name ending in -nSTEPS")
        bench, _ = read_prefix(prefix)
        rows += [{"steps": int(m.group(1)), **r} for r in bench]
    floor = read_prefix(args.prefixes[-1])[1]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out.with_suffix(".csv"))
    steps = sorted({r["steps"] for r in rows})
    labels = list(dict.fromkeys(r["label"] for r in rows))
    budgets = sorted({r["nfe_budget"] for r in rows}, key=budget_key)
    get = {(r["label"], r["nfe_budget"], r["steps"]): r for r in rows}
    lines = ["Learning curve: checkerboard, seed 0, one run per method extended step by step "
             "(constant learning rate after a 200-step warm-up, EMA 0.999), each budget "
             "benchmarked by `idff bench nfe` (candidates chosen on the validation reference, "
             "2000 evaluation samples, references of seed 0). Cells: the evaluation value "
             "[chosen candidate].", ""]
    for metric in METRICS:
        fl = f"; reference floor {fmt(floor[metric], metric)}" if metric in floor else ""
        lines += [f"**{metric}**{unit(metric)}: {DESCR[metric]}{fl}", "",
                  "| method | NFE | " + " | ".join(f"{s // 1000}k" for s in steps) + " |",
                  "|---|---|" + "---:|" * len(steps)]
        for lab in labels:
            for b in budgets:
                cells = []
                for s in steps:
                    r = get.get((lab, b, s))
                    c = "" if r is None else fmt(r[metric], metric)
                    if r is not None and metric == "mmd" and r["noise"] not in ("-", "gamma=0"):
                        c += f" [{r['noise']}]"
                    cells.append(c)
                lines.append(f"| {lab} | {b} | " + " | ".join(cells) + " |")
        lines.append("")
    text = "\n".join(lines) + "\n"
    out.with_suffix(".md").write_text(text)
    print(text)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.4))
    for ax, metric in zip(axes, METRICS):
        for i, lab in enumerate(labels):
            for b, ls in zip(budgets, ("--", "-", ":")):
                xs = [s for s in steps if (lab, b, s) in get]
                ax.plot(xs, [get[(lab, b, s)][metric] for s in xs], ls=ls, marker="o", ms=3,
                        color=f"C{i}", label=f"{lab} NFE {b}")
        if metric in floor:
            ax.axhline(floor[metric], color="k", ls=":", lw=1, label="reference floor")
        ax.set_xlabel("training steps")
        ax.set_title(f"checkerboard: {metric}" + (" (↑)" if metric in HIGHER_IS_BETTER
                                                   else " (↓)"), fontsize=9)
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------- compare


COMPARE_HEAD = "## Paired check between two budgets"


def compare_main(args) -> None:
    """Paired per-seed change from the first to the second OUT.csv of the ``seeds`` mode."""
    def load(path):
        with open(path, newline="") as f:
            return {(r["dataset"], r["label"], r["nfe_budget"], int(r["seed"])): r
                    for r in csv.DictReader(f)}

    a, b = load(args.prefixes[0]), load(args.prefixes[1])
    keys = sorted({k[:3] for k in a if k in b}, key=lambda k: (k[0], k[1], budget_key(k[2])))
    lines = [COMPARE_HEAD, "",
             f"Paired per-seed change from {args.prefixes[0]} to {args.prefixes[1]} "
             "(mean ± std over the seeds in both; positive = better for in_support, "
             "negative = better for the others).", "",
             "| dataset | method | NFE | seeds | " + " | ".join(
                 f"Δ {m}{unit(m)}" for m in METRICS) + " |",
             "|---|---|---|---:|" + "---:|" * len(METRICS)]
    for ds, lab, bud in keys:
        seeds = sorted(k[3] for k in a if k[:3] == (ds, lab, bud) and k in b)
        cells = []
        for m in METRICS:
            d = np.array([float(b[(ds, lab, bud, s)][m]) - float(a[(ds, lab, bud, s)][m])
                          for s in seeds])
            cells.append(f"{fmt(d.mean(), m)} ± {fmt(d.std(), m)}")
        lines.append(f"| {ds} | {lab} | {bud} | {len(seeds)} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:  # replace this section of OUT.md (or start it), keep what precedes it
        path = Path(args.out).with_suffix(".md")
        before = path.read_text().split(COMPARE_HEAD)[0].rstrip() if path.is_file() else ""
        path.write_text((before + "\n\n" if before else "") + text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["seeds", "curve", "compare"])
    ap.add_argument("prefixes", nargs="+", help="--out prefixes of 'idff bench nfe' calls")
    ap.add_argument("--steps", type=int, default=None, help="training steps (for the text)")
    ap.add_argument("--out", help="output prefix: OUT.csv, OUT.md, OUT.png (compare: OUT.md)")
    args = ap.parse_args()
    if args.mode != "compare" and not args.out:
        ap.error("--out is required")
    {"seeds": seeds_main, "curve": curve_main, "compare": compare_main}[args.mode](args)


if __name__ == "__main__":
    main()
