"""The Fashion-MNIST tables of docs/results/images.md from the merged benchmark CSV: the
Fréchet distance with its 95 % bootstrap interval, k-NN precision / recall, the chosen
sampler and the target verdicts.

    python benchmarks/fmnist_table.py results/eval/fmnist_nfe.csv
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from idff.eval.bench.report import read_csv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", type=Path)
    args = ap.parse_args()
    rows = read_csv(args.csv)
    metric = rows[0].metric
    labels = list(dict.fromkeys(r.label for r in rows))
    budgets = sorted({int(r.nfe_budget) for r in rows if r.nfe_budget.isdigit()})
    get = {(r.label, int(r.nfe_budget)): r for r in rows if r.nfe_budget.isdigit()}

    def table(cell) -> list[str]:
        out = ["| run | " + " | ".join(f"NFE {b}" for b in budgets) + " |",
               "|---|" + "---:|" * len(budgets)]
        for lab in labels:
            cells = [cell(get[(lab, b)]) if (lab, b) in get else "" for b in budgets]
            out.append(f"| {lab} | " + " | ".join(cells) + " |")
        return out

    def fd(r) -> str:
        if not math.isfinite(r.value):
            return "n/a"
        lo, hi = r.extra.get(f"{metric}_lo"), r.extra.get(f"{metric}_hi")
        nfe = f" ({r.nfe})" if r.nfe != int(r.nfe_budget) else ""
        ci = f" [{lo:.1f}, {hi:.1f}]" if lo is not None else ""
        return f"{r.value:.1f}{ci}{nfe}"

    def pr(r) -> str:
        p, q = r.extra.get("precision"), r.extra.get("recall")
        return "" if p is None else f"{p:.2f} / {q:.2f}"

    lines = [f"**{metric}** (lower is better; 95 % bootstrap interval; counted NFE in "
             "parentheses where it differs from the budget)", ""] + table(fd)
    lines += ["", "**k-NN precision / recall** (k = 3, higher is better)", ""] + table(pr)
    lines += ["", "**Sampler chosen on the validation reference**", ""]
    lines += table(lambda r: r.noise)
    lines += ["", "**Sampling time, seconds per 1k samples (one CPU thread)**", ""]
    lines += table(lambda r: f"{r.seconds_per_1k:.0f}")

    def pick(prefix: str, b: int):
        """The best (lowest) row at budget ``b`` among the runs whose label starts so."""
        cands = [get[(lab, b)] for lab in labels if lab.startswith(prefix) and (lab, b) in get
                 and math.isfinite(get[(lab, b)].value)]
        return min(cands, key=lambda r: r.value) if cands else None

    ot100 = pick("OT-CFM", 100)
    checks = []
    for name, a, b in (("T1 (NFE 4)", pick("IDFF", 4), pick("OT-CFM", 4)),
                       ("T1 (NFE 10)", pick("IDFF", 10), pick("OT-CFM", 10)),
                       ("T2", pick("IDFF", 10), ot100),
                       ("T3", pick("IDFF", 4), ot100)):
        if a is None or b is None:
            continue
        met = a.value <= b.value
        extra = ""
        if name == "T2":
            # one network call costs the same for every method, so the sampling-time ratio
            # is the ratio of counted calls; wall times come from separate processes
            ratio = b.nfe / a.nfe
            met = met and ratio >= 5
            extra = (f", {ratio:.0f}× fewer network calls (measured wall times "
                     f"{a.seconds_per_1k:.0f} vs {b.seconds_per_1k:.0f} s per 1k samples)")
        checks.append(f"- {name}: {a.label} at NFE {a.nfe_budget} {a.value:.1f} vs {b.label} "
                      f"at NFE {b.nfe_budget} {b.value:.1f}{extra}: "
                      f"**{'met' if met else 'not met'}**")
    lines += ["", *checks]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
