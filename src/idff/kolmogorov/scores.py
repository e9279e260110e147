"""Scores of Kolmogorov-flow forecasts per lead (docs/METHOD.md, "Kolmogorov flow"): CRPS,
ensemble-mean RMSE, spread-skill ratio, rank histograms, the anomaly correlation of the
ensemble mean with the time it stays ≥ 0.8, and energy spectra at a few leads."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from idff.kolmogorov.forecast import Forecast
from idff.kolmogorov.solver import energy_spectrum
from idff.timeseries.probabilistic import (
    crps_ensemble,
    ensemble_mean_mse,
    rank_histogram,
    spread_skill_ratio,
)

__all__ = ["anomaly_correlation", "SPECTRUM_LEADS", "score"]


def anomaly_correlation(ens_mean: Tensor, truth: Tensor) -> Tensor:
    """Pattern correlation per forecast of ``(B, ...)`` fields (centred per field)."""
    a = ens_mean.flatten(1).double()
    b = truth.flatten(1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12)


#: leads whose energy spectra are kept (T = 0.2, 1.0, 3.2 for frames every 0.2)
SPECTRUM_LEADS = (1, 5, 16)


def score(fc: Forecast, frame_dt: float, threshold: float = 0.8) -> dict[str, Any]:
    """Per lead: CRPS, ensemble-mean RMSE, spread-skill ratio (0 for one member), mean
    correlation, the rank histogram of the truth among the members and the fraction of
    cells where the truth falls outside the ensemble (``2/(M+1)`` when calibrated); the
    time the mean correlation stays ≥ ``threshold`` (the whole horizon when it never falls
    below); and, at :data:`SPECTRUM_LEADS`, the energy spectra of the members and the truth
    (docs/METHOD.md, "Kolmogorov flow")."""
    rows, spectra = [], {}
    for k in range(fc.ens.shape[0]):
        e, y = fc.ens[k], fc.truth[k]
        corr = anomaly_correlation(e.mean(0), y)
        ranks = rank_histogram(e, y, seed=k) if e.shape[0] > 1 else None
        rows.append({
            "lead": k + 1,
            "time": round((k + 1) * frame_dt, 6),
            "crps": float(crps_ensemble(e, y).mean()),
            "rmse": float(np.sqrt(ensemble_mean_mse(e, y))),
            "ssr": spread_skill_ratio(e, y),
            "corr": float(corr.mean()),
            "outside": float(ranks[0] + ranks[-1]) if ranks is not None else 1.0,
            "ranks": ranks.round(5).tolist() if ranks is not None else [],
        })
        if k + 1 in SPECTRUM_LEADS:
            spectra[str(k + 1)] = {
                "members": energy_spectrum(e.flatten(0, 2)).tolist(),
                "truth": energy_spectrum(y.flatten(0, 1)).tolist(),
            }
    below = [r["time"] for r in rows if r["corr"] < threshold]
    above_time = round(below[0] - frame_dt, 6) if below else rows[-1]["time"]
    return {"members": int(fc.ens.shape[1]), "forecasts": int(fc.ens.shape[2]),
            "nfe_per_lead": fc.nfe_per_lead,
            "seconds_per_forecast": fc.seconds / max(fc.ens.shape[2], 1),
            "corr_time": above_time, "corr_never_below": not below, "per_lead": rows,
            "spectra": spectra}

