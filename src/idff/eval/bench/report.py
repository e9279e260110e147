"""The benchmark's tables: rows to and from CSV, the Markdown report (quality and time per run
and budget, with the protocol) and the speed-up check it ends with."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from idff.eval.bench.records import BenchRow
from idff.io import atomic_write_text

if TYPE_CHECKING:
    from idff.eval.bench.quality import Quality

__all__ = ["write_csv", "read_csv", "target_check", "write_markdown"]


def write_csv(rows: Sequence[BenchRow], path: str | Path) -> None:
    """All rows, one per (run, NFE budget), with secondary metrics as extra columns."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extras = sorted({k for r in rows for k in r.extra})
    fields = [f for f in asdict(rows[0]) if f != "extra"] + extras
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        d = asdict(r)
        d.update(d.pop("extra"))
        w.writerow(d)
    atomic_write_text(buf.getvalue(), path)


def read_csv(path: str | Path) -> list[BenchRow]:
    """Rows written by :func:`write_csv` (extra metric columns come back in ``extra``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no benchmark CSV there (written by 'idff bench nfe').")
    names = {f for f in BenchRow.__dataclass_fields__ if f != "extra"}
    conv = {"nfe": int, "n_samples": int, "value": float, "seconds_per_1k": float}
    rows = []
    with open(path, newline="") as f:
        for d in csv.DictReader(f):
            missing = names - set(d)
            if missing:
                raise ValueError(f"{path}: not a benchmark CSV (missing {sorted(missing)}).")
            kw = {k: conv.get(k, str)(d[k]) for k in names}
            extra = {k: float(v) for k, v in d.items() if k not in names and v not in ("", None)}
            rows.append(BenchRow(**kw, extra=extra))
    return rows


def _fmt(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


def target_check(rows: Sequence[BenchRow], fast: tuple[str, str] = ("idff", "10"),
                 slow: tuple[str, str] = ("otcfm", "100"), speedup: float = 5.0) -> str | None:
    """Whether ``fast`` (method, NFE) matches ``slow`` in quality with ``speedup``× less time."""
    def pick(method: str, budget: str):
        return next((r for r in rows if r.method == method and r.nfe_budget == budget), None)

    a, b = pick(*fast), pick(*slow)
    if a is None or b is None or not (np.isfinite(a.value) and np.isfinite(b.value)):
        return None
    ratio = b.seconds_per_1k / a.seconds_per_1k if a.seconds_per_1k > 0 else float("inf")
    met = a.value <= b.value and ratio >= speedup
    return (f"Target {'MET' if met else 'NOT MET'}: {a.label} at NFE {fast[1]} has "
            f"{a.metric} {_fmt(a.value)} vs {b.label} at NFE {slow[1]} {_fmt(b.value)} "
            f"({'≤' if a.value <= b.value else '>'}), sampling time ratio {ratio:.1f}× "
            f"(needs ≥ {speedup:g}×).")


def write_markdown(rows: Sequence[BenchRow], path: str | Path, quality: Quality,
                   header: str = "", floor: dict[str, float] | None = None) -> str:
    """A quality table and a time table (runs × NFE budgets) with the protocol; returns it."""
    labels = list(dict.fromkeys(r.label for r in rows))
    budgets = list(dict.fromkeys(r.nfe_budget for r in rows))
    get = {(r.label, r.nfe_budget): r for r in rows}
    n = rows[0].n_samples
    lines = [header.strip(), ""] if header else []
    lines += [f"Protocol: {quality.protocol}; {n} evaluation samples per cell; sampling noise "
              "chosen per budget on the validation reference; NFE counted by wrapping the network.",
              ""]
    if floor:
        lines += ["Reference floor (validation vs evaluation reference): "
                  + ", ".join(f"{k} {_fmt(v)}" for k, v in floor.items()), ""]
    head = "| run | " + " | ".join(f"NFE {b}" for b in budgets) + " |"
    sep = "|---|" + "---:|" * len(budgets)
    lines += [f"**{quality.name}** (lower is better; [chosen noise], adaptive: counted NFE)", "",
              head, sep]
    for lab in labels:
        cells = []
        for b in budgets:
            r = get.get((lab, b))
            if r is None:
                cells.append("")
                continue
            c = _fmt(r.value)
            if r.noise not in ("-", "gamma=0", "s=0"):
                c += f" [{r.noise}]"
            if b == "adaptive":
                c += f" (NFE {r.nfe})"
            cells.append(c)
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    extras = sorted({k for r in rows for k in r.extra})
    for k in extras:
        lines += ["", f"**{k}**", "", head, sep]
        for lab in labels:
            cells = [_fmt(get[(lab, b)].extra.get(k, float("nan"))) if (lab, b) in get else ""
                     for b in budgets]
            lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    lines += ["", "**Sampling wall time, seconds per 1k samples**", "", head, sep]
    for lab in labels:
        cells = [_fmt(get[(lab, b)].seconds_per_1k) if (lab, b) in get else "" for b in budgets]
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    check = target_check(rows)
    if check:
        lines += ["", check]
    text = "\n".join(lines) + "\n"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(text, path)
    return text
