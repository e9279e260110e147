"""IDFF vs OT-CFM over training seeds: the batch-128 Fashion-MNIST runs of
``benchmarks/fmnist_nfe.sh`` (``TAG=-b128-sS``), paired seed by seed.

For every training seed and NFE budget it lists both methods' FD-FMNIST-CNN (95 % bootstrap
interval) with the earlier samplers (``benchmarks/fmnist_nfe.sh``: midpoint or ddim2 on the
uniform grid) and with the few-step sampler chosen on the validation reference by
``benchmarks/fmnist_fewstep.sh``, and the paired difference
OT-CFM − IDFF (positive: IDFF ahead). The last table gives the mean difference over seeds and
on how many seeds IDFF is ahead (by more than 0.05: the tables round to 0.1, so smaller
differences count as ties), then the targets T3 and T4 per seed. Seeds whose benchmarks are
missing are reported and skipped.

    python benchmarks/fmnist_seeds.py --seeds 0,1 --png results/eval/fmnist_b128_seeds.png \
        > results/eval/fmnist_b128_seeds.md

``--png`` also draws FD against NFE, one line per method and seed, solid for the few-step
samplers and dashed for the earlier ones, with the bootstrap intervals as bars (log axes).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from idff.eval.bench.report import read_csv

#: differences at most this large are ties (the tables print one decimal)
TIE = 0.05

#: (sampler family, method) -> benchmark part, ``{seed}`` filled in
PARTS = {
    ("earlier", "IDFF"): ["{mid}_idff_s005", "{mid}_idff_100"],
    ("earlier", "OT-CFM"): ["{mid}_otcfm", "{mid}_otcfm_100"],
    ("few-step", "IDFF"): ["{few}_idff"],
    ("few-step", "OT-CFM"): ["{few}_otcfm"],
}


def load(mid: str, few: str, seed: int) -> dict[tuple[str, str], dict[int, object]]:
    """``{(family, method): {budget: row}}`` of one training seed (missing parts left out)."""
    out: dict[tuple[str, str], dict[int, object]] = {}
    for key, parts in PARTS.items():
        for part in parts:
            path = Path(part.format(mid=mid, few=few).format(seed=seed) + ".csv")
            if not path.is_file():
                continue
            for r in read_csv(path):
                if r.nfe_budget.isdigit() and math.isfinite(r.value):
                    out.setdefault(key, {})[int(r.nfe_budget)] = r
    return out


def fd(r) -> str:
    if r is None:
        return ""
    lo, hi = r.extra.get(f"{r.metric}_lo"), r.extra.get(f"{r.metric}_hi")
    ci = f" [{lo:.1f}, {hi:.1f}]" if lo is not None else ""
    called = f" ({r.nfe} calls)" if r.nfe != int(r.nfe_budget) else ""
    sampler = f" `{r.noise.replace(' gamma=0', '')}`" if r.noise else ""
    return f"{r.value:.1f}{ci}{called}{sampler}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1", help="training seeds, comma-separated")
    ap.add_argument("--mid", default="results/eval/fmnist_b128_s{seed}",
                    help="prefix of benchmarks/fmnist_nfe.sh's outputs ({seed} filled in)")
    ap.add_argument("--few", default="results/eval/fmnist_fewstep_b128_s{seed}",
                    help="prefix of benchmarks/fmnist_fewstep.sh's outputs")
    ap.add_argument("--png", type=Path, default=None, help="also write this figure")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    data = {s: load(args.mid, args.few, s) for s in seeds}
    missing = [s for s in seeds if not data[s]]
    seeds = [s for s in seeds if data[s]]
    if not seeds:
        raise SystemExit(f"no benchmark outputs for seeds {args.seeds} under {args.mid!r} / "
                         f"{args.few!r}; run benchmarks/fmnist_nfe.sh and fmnist_fewstep.sh.")
    budgets = sorted({b for s in seeds for rows in data[s].values() for b in rows})

    lines = ["**FD-FMNIST-CNN per training seed** (2000 samples, 95 % bootstrap interval; "
             "difference = OT-CFM − IDFF, positive: IDFF ahead)", ""]
    lines += ["| seed | sampler | NFE | IDFF | OT-CFM | difference |",
              "|---|---|---:|---|---|---:|"]
    diffs: dict[tuple[str, int], list[float]] = {}
    for s in seeds:
        for family in ("earlier", "few-step"):
            idff, cfm = data[s].get((family, "IDFF"), {}), data[s].get((family, "OT-CFM"), {})
            for b in budgets:
                a, c = idff.get(b), cfm.get(b)
                if a is None and c is None:
                    continue
                d = c.value - a.value if a is not None and c is not None else None
                if d is not None:
                    diffs.setdefault((family, b), []).append(d)
                lines.append(f"| {s} | {family} | {b} | {fd(a)} | {fd(c)} | "
                             f"{'' if d is None else f'{d:+.1f}'} |")
    lines += ["", f"**Over seeds** ({', '.join(map(str, seeds))})", "",
              "| sampler | NFE | mean difference | IDFF ahead on | tied on |",
              "|---|---:|---:|---:|---:|"]
    for (family, b), ds in sorted(diffs.items(), key=lambda kv: (kv[0][0] != "earlier",
                                                                 kv[0][1])):
        ahead = sum(d > TIE for d in ds)
        tied = sum(abs(d) <= TIE for d in ds)
        lines.append(f"| {family} | {b} | {sum(ds) / len(ds):+.1f} | {ahead} of {len(ds)} | "
                     f"{tied} |")
    lines += targets(data, seeds)
    if missing:
        lines += ["", f"No outputs yet for seed(s) {', '.join(map(str, missing))}."]
    print("\n".join(lines))
    if args.png:
        plot(data, seeds, args.png)


def best(data: dict, seed: int, method: str, budget: int) -> float | None:
    """The method's lowest FD at ``budget`` over both sampler families (its best sampler)."""
    vals = [rows[budget].value for (fam, m), rows in data[seed].items()
            if m == method and budget in rows]
    return min(vals) if vals else None


def targets(data: dict, seeds: list[int]) -> list[str]:
    """T3 (IDFF's NFE 4 over OT-CFM's NFE 100, needs <= 1.05) and T4 (a method's NFE 2 over
    its own NFE 100, needs <= 1.5) per seed, each method with its best sampler."""
    def ratio(a, b):
        return f"{a:.1f} / {b:.1f} = {a / b:.2f}" if a is not None and b is not None else ""

    lines = ["", "**Targets per seed** (each method with its best sampler at the budget; "
             "T3 needs <= 1.05, T4 <= 1.5)", "",
             "| seed | T3: IDFF NFE 4 / OT-CFM NFE 100 | T4 IDFF: NFE 2 / own NFE 100 | "
             "T4 OT-CFM: NFE 2 / own NFE 100 |", "|---|---|---|---|"]
    for s in seeds:
        cfm100 = best(data, s, "OT-CFM", 100)
        lines.append(f"| {s} | {ratio(best(data, s, 'IDFF', 4), cfm100)} | "
                     f"{ratio(best(data, s, 'IDFF', 2), best(data, s, 'IDFF', 100))} | "
                     f"{ratio(best(data, s, 'OT-CFM', 2), cfm100)} |")
    return lines


def plot(data: dict, seeds: list[int], path: Path) -> None:
    """FD against NFE per method and seed (few-step solid, earlier dashed), log axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = {"IDFF": "tab:blue", "OT-CFM": "tab:orange"}
    markers = "os^D"
    for i, s in enumerate(seeds):
        for (family, method), rows in sorted(data[s].items()):
            b = sorted(rows)
            v = [rows[k].value for k in b]
            lo = [rows[k].value - rows[k].extra.get(f"{rows[k].metric}_lo", rows[k].value)
                  for k in b]
            hi = [rows[k].extra.get(f"{rows[k].metric}_hi", rows[k].value) - rows[k].value
                  for k in b]
            ax.errorbar(b, v, yerr=[lo, hi], color=colours.get(method, "k"),
                        ls="-" if family == "few-step" else "--", marker=markers[i % 4],
                        ms=4, capsize=2, label=f"{method}, {family}, seed {s}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    for axis in (ax.xaxis, ax.yaxis):  # plain numbers, not 6×10¹
        axis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("NFE (network calls per sample)")
    ax.set_ylabel("FD-FMNIST-CNN (lower is better)")
    ax.set_title("Fashion-MNIST, batch 128, paired training seeds")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
