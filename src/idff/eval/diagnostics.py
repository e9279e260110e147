"""Per-time diagnostics of a trained run: held-out regression error of each head, binned by
``t``, and where the training loss puts its weight (docs/METHOD.md, "Objective").

For every time bin, held-out targets ``x1`` are paired with fresh sources ``x0`` by the
run's own coupling (in chunks of its training batch size), put on the run's own path, and
the network is scored on

* ``vel_mse``: ``‖D̂ − (x1 − x0)‖²`` per element, the velocity error. IDFF's ``D̂`` is the
  heads' implied ``E[x1 − x0 | x_t]`` (:func:`idff.objective.implied_velocity`; ``x̂1 + λ_t ŝ``
  for runs trained with ``score_target="x0"``, whose score head predicts ``−E[x0 | x_t]``); a CFM
  network's is its output. It includes the irreducible part (the target is a sample, not
  its conditional mean), so compare runs on the same path and data only in trend, and
  across paths with care.
* ``x1_mse``: ``‖x̂1 − x1‖²`` (IDFF only), and ``eps_mse``: the score loss ``‖λ_t ŝ + ε‖²``
  (IDFF only; ``‖λ_t ŝ + x0‖²`` for runs trained with ``score_target="x0"``).
* ``weight_share``: the share of the flow loss's velocity-space weight that falls in the
  bin, for ``t ~ U[0, 1]``: ``w(t)·(1 − t)²`` for losses on ``x̂1`` (an ``x̂1`` error is
  ``(1 − t)`` times a velocity error) and ``1`` for velocity losses (CFM, ``"cfm"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from idff.coupling import couple
from idff.io import atomic_savefig, atomic_write_text
from idff.objective import IDFFObjective, implied_velocity
from idff.path import CFMPath, IDFFPath, expand_t

__all__ = ["TimeBin", "velocity_weight", "per_time_errors", "write_table", "plot_per_time"]


@dataclass
class TimeBin:
    """Diagnostics of one run in one time bin ``[t_lo, t_hi)``."""

    label: str
    t_lo: float
    t_hi: float
    vel_mse: float
    x1_mse: float
    eps_mse: float
    weight_share: float


def velocity_weight(objective: dict[str, Any], t: np.ndarray) -> np.ndarray:
    """The flow loss's weight on a velocity error at times ``t`` (unnormalised)."""
    if objective.get("name", "idff") != "idff":
        return np.ones_like(t)
    kind = objective.get("flow_weighting", "none")
    if kind == "cfm":
        return np.ones_like(t)
    w = IDFFObjective(sigma=objective.get("sigma", 0.2), flow_weighting=kind,
                      max_weight=objective.get("max_weight", 100.0)).flow_weights(
        torch.as_tensor(t, dtype=torch.float64)).numpy()
    return w * (1 - t) ** 2


@torch.no_grad()
def per_time_errors(
    model: nn.Module,
    config: dict[str, Any],
    x1: Tensor,
    label: str,
    bins: int = 10,
    t_max: float = 0.999,
    seed: int = 0,
    batch_size: int | None = None,
) -> list[TimeBin]:
    """Held-out errors of ``model`` per time bin (see the module docstring).

    Args:
        model: a two-head IDFF network or a CFM velocity network (``config["method"]``).
        config: the run's config (``method``, ``objective``, ``train.batch_size``).
        x1: held-out data ``(N, ...)`` in the model's range.
        bins: equal-width bins on ``[0, t_max]``; each sample gets one uniform ``t`` per bin.
        batch_size: coupling chunk (default: the run's training batch size).
    """
    if bins < 1 or not 0 < t_max <= 1:
        raise ValueError(f"need bins >= 1 and 0 < t_max <= 1, got {bins}, {t_max}.")
    method = config.get("method", "idff")
    obj = config.get("objective", {})
    idff = method == "idff"
    sigma = float(obj["sigma"])  # the path noise of every method (run config layout 2)
    path = IDFFPath(sigma) if idff else CFMPath(sigma)
    coupling = obj.get("coupling", "ot" if method == "otcfm" else "independent")
    bs = int(batch_size or config.get("train", {}).get("batch_size")
             or config.get("data", {}).get("batch_size") or 256)
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(x1.shape, generator=g, dtype=x1.dtype)
    pairs = [couple(x0[i:i + bs], x1[i:i + bs], coupling, generator=g)
             for i in range(0, len(x1), bs)]
    x0c = torch.cat([p[0] for p in pairs])
    x1c = torch.cat([p[1] for p in pairs])
    edges = np.linspace(0.0, t_max, bins + 1)
    fine = np.linspace(0, 1, 20_001)[:-1] + 0.5 / 20_000
    wv = velocity_weight(obj if idff else {"name": method}, fine)
    total = wv.sum()
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sums = np.zeros(3)
        for i in range(0, len(x1c), 500):
            a, b = x0c[i:i + 500], x1c[i:i + 500]
            t = lo + (hi - lo) * torch.rand(len(a), generator=g, dtype=a.dtype)
            eps = torch.randn(a.shape, generator=g, dtype=a.dtype)
            ps = path.sample(a, b, t, eps)
            u = b - a
            if idff:
                f, s = model(t, ps.xt)
                lam = path.lambda_t(expand_t(t, a))
                if obj.get("score_target", "eps") == "x0":  # λ_t ŝ ≈ −E[x0 | x_t]
                    target, d = a, f + lam * s
                else:
                    target, d = eps, implied_velocity(f, s, ps.xt, t)
                sums += [((d - u) ** 2).sum().item(), ((f - b) ** 2).sum().item(),
                         ((lam * s + target) ** 2).sum().item()]
            else:
                v = model(t, ps.xt)
                sums += [((v - u) ** 2).sum().item(), 0.0, 0.0]
        per = sums / x1c.numel()
        share = wv[(fine >= lo) & (fine < hi)].sum() / total
        nan = float("nan")
        out.append(TimeBin(label, float(lo), float(hi), float(per[0]),
                           float(per[1]) if idff else nan, float(per[2]) if idff else nan,
                           float(share)))
    return out


def write_table(rows: Sequence[TimeBin], path: str | Path, header: str = "") -> str:
    """A markdown table (one row per run and bin) and a CSV beside it (``.csv``)."""
    import csv
    import io

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header.strip(), ""] if header else []
    lines += ["| run | t | velocity MSE | x̂1 MSE | score-loss MSE | flow-weight share |",
              "|---|---|---:|---:|---:|---:|"]

    def f(v: float) -> str:
        return "–" if not np.isfinite(v) else f"{v:.4f}"

    for r in rows:
        lines.append(f"| {r.label} | {r.t_lo:.2f}–{r.t_hi:.2f} | {f(r.vel_mse)} | "
                     f"{f(r.x1_mse)} | {f(r.eps_mse)} | {100 * r.weight_share:.1f} % |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(text, path.with_suffix(".md"))
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(asdict(rows[0])))
    w.writeheader()
    for r in rows:
        w.writerow(asdict(r))
    atomic_write_text(buf.getvalue(), path.with_suffix(".csv"))
    return text


def plot_per_time(rows: Sequence[TimeBin], path: str | Path, title: str = "") -> None:
    """Velocity MSE per bin (left) and the flow loss's weight share per bin (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_w) = plt.subplots(1, 2, figsize=(10, 3.8))
    for lab in dict.fromkeys(r.label for r in rows):
        rs = [r for r in rows if r.label == lab]
        mid = [(r.t_lo + r.t_hi) / 2 for r in rs]
        ax.plot(mid, [r.vel_mse for r in rs], marker="o", ms=3, label=lab)
        ax_w.plot(mid, [100 * r.weight_share for r in rs], marker="o", ms=3, label=lab)
    ax.set_xlabel("t")
    ax.set_ylabel("held-out ‖D̂ − (x1 − x0)‖² per element")
    ax.set_yscale("log")
    ax.set_title(title or "velocity error by time")
    ax.legend(fontsize=7)
    ax_w.set_xlabel("t")
    ax_w.set_ylabel("% of the flow loss's velocity-space weight")
    ax_w.set_title("where the loss looks")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)
