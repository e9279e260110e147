"""Scores, files and figures of SST forecasts: :func:`evaluate_sst` (CRPS, ensemble-mean MSE
and spread-skill on ocean cells, in the data's units), ``metrics.json`` and ``per_lead.csv``
(:func:`save_scores`), the forecast figure (:func:`plot_forecast`) and the demo's table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from idff.io import atomic_savefig, atomic_write_text
from idff.sst.data import SSTCube
from idff.sst.forecast import Forecast
from idff.timeseries.forecast import ForecastScores, score_forecast

__all__ = ["evaluate_sst", "save_scores", "plot_forecast", "scores_table"]


def _physical(cube: SSTCube, fc: Forecast) -> tuple[Tensor, Tensor]:
    stats = cube.stats
    n = cube.data.shape[0]
    mean = torch.tensor(np.broadcast_to(np.asarray(stats["mean"], dtype=float), (n,)).copy())
    std = torch.tensor(np.broadcast_to(np.asarray(stats["std"], dtype=float), (n,)).copy())
    mu = mean[fc.patches].float().reshape(-1, 1, 1, 1)
    sd = std[fc.patches].float().reshape(-1, 1, 1, 1)
    return fc.ens * sd + mu, fc.truth * sd + mu


def evaluate_sst(cube: SSTCube, fc: Forecast) -> ForecastScores:
    """CRPS, ensemble-mean MSE and spread-skill on ocean cells, in the data's units."""
    ens, truth = _physical(cube, fc)
    scores = score_forecast(ens, truth, fc.mask)
    n = len(fc.starts)
    scores.extra.update({
        "nfe_per_lead": fc.nfe_per_step[0] if fc.nfe_per_step else 0,
        "nfe_total": int(sum(fc.nfe_per_step)),
        "seconds_per_forecast": fc.seconds / max(n, 1),
        "forecasts": n,
    })
    return scores


def save_scores(scores: dict[str, ForecastScores], out: str | Path) -> None:
    """Write ``metrics.json`` and ``per_lead.csv`` for named score sets."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json.dumps({k: v.as_dict() for k, v in scores.items()}, indent=2),
                      out / "metrics.json")
    lines = ["method,lead,crps,mse,ssr"]
    for name, s in scores.items():
        lines += [f"{name},{r['lead']},{r['crps']:.5f},{r['mse']:.5f},{r['ssr']:.4f}"
                  for r in s.per_lead]
    atomic_write_text("\n".join(lines) + "\n", out / "per_lead.csv")


def plot_forecast(cube: SSTCube, forecasts: dict[str, Forecast], path: str | Path,
                  index: int = 0) -> None:
    """Heat maps per lead day: the truth, each method's ensemble mean and one member of the
    first learned ensemble, for one forecast.

    Args:
        forecasts: name -> forecast (all over the same starts and patches).
        index: which forecast (row of the batch) to draw.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(forecasts.values()))
    mask = first.mask[index, 0].numpy()
    rows = {"truth": _physical(cube, first)[1][:, index, 0]}
    for name, fc in forecasts.items():
        ens = _physical(cube, fc)[0][:, :, index, 0]
        rows[f"{name} mean" if ens.shape[1] > 1 else name] = ens.mean(1)
    for name, fc in forecasts.items():  # one member shows the spread the mean hides
        if fc.ens.shape[1] > 1 and fc.nfe_per_step[0] > 0:
            rows[f"{name} member 1"] = _physical(cube, fc)[0][:, 0, index, 0]
            break
    k = first.truth.shape[0]
    vmax = float(max(np.abs(r.numpy()[:, mask]).max() for r in rows.values()))
    fig, axes = plt.subplots(len(rows), k, figsize=(1.9 * k, 1.3 * len(rows) + 0.6),
                             squeeze=False, constrained_layout=True)
    for i, (name, r) in enumerate(rows.items()):
        for j in range(k):
            ax = axes[i, j]
            img = np.where(mask, r[j].numpy(), np.nan)
            im = ax.imshow(img, origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"lead {j + 1}", fontsize=8)
            if j == 0:
                ax.set_ylabel(name, fontsize=8)
    start = str(cube.times[first.starts[index]])[:10]
    fig.suptitle(f"SST forecast from {start} (patch {first.patches[index]})", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8, label="SST (data units)")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)


def scores_table(scores: dict[str, ForecastScores], train_info: dict[str, dict[str, float]]) -> str:
    head = ("| method | CRPS | ensemble-mean MSE | spread-skill | members | NFE / lead | "
            "NFE / forecast | s / forecast | train steps | train min |")
    lines = [head, "|" + "---|" * 10]
    for name, s in scores.items():
        e, t = s.extra, train_info.get(name, {})
        lines.append(
            f"| {name} | {s.crps:.4f} | {s.mse:.4f} | {s.ssr:.3f} | {s.members} | "
            f"{e['nfe_per_lead']} | {e['nfe_total']} | {e['seconds_per_forecast']:.2f} | "
            f"{t.get('steps', '–')} | "
            + (f"{t['minutes']:.1f}" if "minutes" in t else "–") + " |"
        )
    return "\n".join(lines)

