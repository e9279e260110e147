"""Kolmogorov-flow forecasting: train IDFF, OT-CFM and a deterministic UNet, roll out
ensembles, compare with persistence, climatology and a physics ensemble, score per lead.

Shared by ``idff train kolmogorov``, ``idff forecast RUN`` and ``idff kolmogorov-benchmark``.
The data are coarse-grained vorticity frames (:mod:`idff.data.kolmogorov`), normalised by
the training mean and standard deviation, so every error is in units of the data's sd.

* **IDFF** (docs/METHOD.md, "Path and coupling", time series): ``x0`` = frame ``k−1``,
  ``x1`` = frame ``k``, conditioned on the previous frame(s), the last observed frame and
  the lead; ensembles from the ``pf`` field's SDE family (``γ > 0``).
* **OT-CFM**: the same network and conditioning, Gaussian noise → frame ``k`` (minibatch OT
  pairs); ensembles from the noise draws.
* **Deterministic UNet** (``mse``): the same network trained by mean squared error on the
  increment, ``v(0, x0, cond) ≈ x1 − x0``; it rolls out as one Euler step of its velocity
  (``x1 = x0 + v``), a one-member ensemble.
* **Persistence** (the last observed frame), **climatology** (random training frames as
  members) and the **physics ensemble** (docs/METHOD.md, "Kolmogorov flow"): fine fields
  consistent with the observed coarse state plus fine-scale noise, run by the solver.

Scores per lead (docs/METHOD.md, "Kolmogorov flow"): CRPS, ensemble-mean RMSE, spread-skill
ratio and the anomaly correlation of the ensemble mean, with the time it stays ≥ 0.8.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from idff.data.kolmogorov import KolmogorovWindows, default_root, load_manifest, load_split
from idff.data.sst import make_cond_channels
from idff.errors import ConfigError
from idff.experiments.sst import UNET_DEFAULTS, SSTObjective
from idff.metrics_probabilistic import crps_ensemble, ensemble_mean_mse, spread_skill_ratio
from idff.models import SSTNet, build_sst_model, pad_size
from idff.objective import LossOutput
from idff.progress import progress_bar
from idff.runs import load_weights, register_kind
from idff.sampling import SamplingConfig
from idff.timeseries.kolmogorov import (
    KolmogorovFlow,
    KolmogorovParams,
    block_average,
    fine_perturbation,
    upsample_consistent,
)
from idff.timeseries.rollout import rollout, split_members
from idff.training import TrainConfig, Trainer

__all__ = [
    "FORECASTERS",
    "kolmogorov_run_config",
    "train_kolmogorov",
    "load_kolmogorov_model",
    "KolmogorovData",
    "load_data",
    "Forecast",
    "learned_forecast",
    "persistence_forecast",
    "climatology_forecast",
    "physics_forecast",
    "score",
]

#: forecaster -> (sampling method of its network, objective settings)
FORECASTERS: dict[str, tuple[str, dict[str, Any]]] = {
    "idff": ("idff", {"name": "idff", "sigma": 0.2, "flow_weight": 2.0,
                      "coupling": "independent"}),
    "otcfm": ("otcfm", {"name": "otcfm", "sigma": 0.0, "coupling": "ot"}),
    "mse": ("icfm", {"name": "mse", "sigma": 0.0}),
}

#: sampling defaults: IDFF's SDE (γ = 1) and OT-CFM with 3 Euler steps per lead; the
#: deterministic network is exactly one Euler step of its velocity.
SAMPLING_DEFAULTS: dict[str, dict[str, Any]] = {
    "idff": {"nfe": 3, "solver": "euler", "gamma": 1.0},
    "otcfm": {"nfe": 3, "solver": "euler"},
    "mse": {"nfe": 1, "solver": "euler"},
}


class IncrementMSE:
    """``mean (v(0, x0, cond) − (x1 − x0))²``: a deterministic one-step forecaster whose
    rollout is one Euler step of the velocity it learned."""

    def __call__(self, model: nn.Module, x1: Tensor, cond: dict[str, Tensor],
                 x0: Tensor | None = None, generator: torch.Generator | None = None) -> LossOutput:
        c, prev = cond["cond"].to(x1.device), cond["x0"].to(x1.device)
        t = torch.zeros(x1.shape[0], dtype=x1.dtype, device=x1.device)
        loss = (model(t, prev, c) - (x1 - prev)).pow(2).mean()
        return LossOutput(loss, loss.detach(), torch.zeros_like(loss))


def make_objective(forecaster: str, config: dict[str, Any]):
    return IncrementMSE() if forecaster == "mse" else SSTObjective(config)


# -- configs, training and loading ------------------------------------------------------


def kolmogorov_run_config(
    forecaster: str,
    size: str = "cpu",
    data_root: str | Path | None = None,
    horizon: int = 16,
    context: int = 1,
    batch_size: int = 32,
    model: dict[str, Any] | None = None,
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON-able description of a Kolmogorov run.

    Raises:
        ConfigError: an unknown forecaster.
    """
    if forecaster not in FORECASTERS:
        raise ConfigError(f"unknown forecaster {forecaster!r}; choose one of "
                          f"{', '.join(FORECASTERS)}.")
    method, objective = FORECASTERS[forecaster]
    net = {**UNET_DEFAULTS, **(model or {})}
    net["method"] = "idff" if method == "idff" else "cfm"
    if method == "idff":
        net.setdefault("parametrization", "skip")
    return {
        "kind": "kolmogorov",
        "forecaster": forecaster,
        "method": method,
        "objective": dict(objective),
        "model": net,
        "data": {"size": size, "root": str(data_root or default_root())},
        "horizon": horizon,
        "context": context,
        "batch_size": batch_size,
        "sampling": SamplingConfig.from_dict(
            {**SAMPLING_DEFAULTS[forecaster], **(sampling or {}), "method": method,
             "sigma": objective["sigma"]}).knobs(),
    }


@dataclass
class KolmogorovData:
    """Normalised splits ``(trajectories, frames, H, W)``, the manifest and its folder."""

    folder: Path
    manifest: dict[str, Any]
    splits: dict[str, np.ndarray]

    @property
    def mean(self) -> float:
        return self.manifest["stats"]["mean"]

    @property
    def std(self) -> float:
        return self.manifest["stats"]["std"]


def load_data(data: dict[str, Any], splits: tuple[str, ...] = ("train", "test")) -> KolmogorovData:
    """Load and normalise (by the training mean and sd) the splits of a run's data."""
    folder = Path(data["root"]) / data["size"]
    manifest = load_manifest(folder)
    mu, sd = manifest["stats"]["mean"], manifest["stats"]["std"]
    return KolmogorovData(folder, manifest,
                          {s: (load_split(folder, s) - mu) / sd for s in splits})


def train_kolmogorov(config: dict[str, Any], out: str | Path, train: TrainConfig,
                     progress: bool = True, device: str | torch.device = "cpu") -> nn.Module:
    """Train the run a config describes into ``out``; return the EMA model."""
    data = load_data(config["data"], ("train",))
    h, w = data.splits["train"].shape[-2:]
    m = config["model"]
    levels = len(m.get("channel_mult", [1]))
    m.update({"in_channels": 1, "cond_channels": config["context"] + 2, "size": [h, w],
              "pad_to": list(pad_size(h, w, levels))})
    config["data"]["stats"] = data.manifest["stats"]
    torch.manual_seed(train.seed)
    model = build_sst_model(config)
    windows = KolmogorovWindows(data.splits["train"], config["horizon"], config["context"],
                                config["batch_size"], seed=train.seed)
    trainer = Trainer(model, make_objective(config["forecaster"], config["objective"]), windows,
                      train, out, config, progress=progress, device=device)
    return trainer.fit()


def load_kolmogorov_model(run_dir: str | Path) -> tuple[SSTNet, dict[str, Any]]:
    """Rebuild the EMA model of a Kolmogorov run directory."""
    return load_weights(run_dir, "kolmogorov", build_sst_model)


# -- forecasts --------------------------------------------------------------------------


def forecast_starts(frames: int, horizon: int, context: int = 1,
                    per_trajectory: int = 2) -> np.ndarray:
    """``per_trajectory`` evenly spaced starts (last observed frames) whose ``horizon``
    targets exist.

    Raises:
        ConfigError: the trajectories are too short.
    """
    last = frames - 1 - horizon
    if last < context - 1:
        raise ConfigError(f"trajectories of {frames} frames cannot hold a horizon of {horizon} "
                          f"after {context} context frame(s); use a shorter --horizon.")
    return np.unique(np.linspace(context - 1, last, per_trajectory + 2)[1:-1].round().astype(int))


@dataclass
class Forecast:
    """Ensemble ``(K, M, B, 1, H, W)`` and truth ``(K, B, 1, H, W)`` in normalised units;
    NFE per lead and wall seconds (all forecasts)."""

    ens: Tensor
    truth: Tensor
    nfe_per_lead: int
    seconds: float


def _pairs(test: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.repeat(np.arange(test.shape[0]), len(starts))
    return p, np.tile(starts, test.shape[0])


def _truth(test: np.ndarray, starts: np.ndarray, horizon: int) -> Tensor:
    p, k = _pairs(test, starts)
    return torch.from_numpy(np.stack([test[p, k + j] for j in range(1, horizon + 1)]))[:, :, None]


def learned_forecast(model: nn.Module, config: dict[str, Any], test: np.ndarray,
                     starts: np.ndarray, horizon: int, members: int = 16,
                     sampling: SamplingConfig | None = None, *, seed: int = 0,
                     max_rows: int = 1024, device: str | torch.device = "cpu",
                     progress: bool = False, **overrides: Any) -> Forecast:
    """Roll a trained run out from every (test trajectory, start): ``members`` members of
    ``horizon`` leads (docs/METHOD.md, "Kolmogorov flow")."""
    if horizon > config["horizon"]:
        raise ConfigError(f"the model was trained for leads up to {config['horizon']}; use "
                          f"--horizon <= {config['horizon']} or retrain with a longer one.")
    sampling = (sampling or SamplingConfig.from_run(config)).replace(**overrides)
    if config["forecaster"] == "mse":
        members = 1
    context, k_train = config["context"], config["horizon"]
    source = None
    if config["forecaster"] == "otcfm":
        source = lambda x, gen: torch.randn(x.shape, generator=gen, dtype=x.dtype,  # noqa: E731
                                            device=x.device)
    model = model.to(device)
    g = torch.Generator(device=device).manual_seed(seed)
    p_all, k_all = _pairs(test, starts)
    data = torch.from_numpy(np.ascontiguousarray(test))
    per_chunk = max(1, max_rows // members)
    parts, seconds, nfe = [], 0.0, 0
    bar = progress_bar(len(p_all), "forecasts", unit="start", enable=progress)
    for c0 in range(0, len(p_all), per_chunk):
        p, k = p_all[c0:c0 + per_chunk], k_all[c0:c0 + per_chunk]
        frames = [data[p, k - c][:, None].to(device).repeat(members, 1, 1, 1)
                  for c in range(context)]
        obs, older = frames[0], frames[1:][::-1]

        def make_cond(lead: int, history, obs=obs, older=older):
            seq = older + list(history)
            return make_cond_channels([seq[-1 - c] for c in range(context)], obs, lead, k_train)

        t0 = time.perf_counter()
        with torch.no_grad():
            res = rollout(model, data[p, k][:, None].to(device), horizon, make_cond,
                          sampling=sampling, members=members, generator=g, source=source)
        seconds += time.perf_counter() - t0
        nfe = res.nfe_per_step[0]
        parts.append(split_members(res.trajectory[1:].cpu(), members, dim=1))
        bar.update(len(p))
    bar.close()
    return Forecast(torch.cat(parts, 2), _truth(test, starts, horizon), nfe, seconds)


def persistence_forecast(test: np.ndarray, starts: np.ndarray, horizon: int) -> Forecast:
    """The last observed frame at every lead (one member)."""
    p, k = _pairs(test, starts)
    last = torch.from_numpy(test[p, k])[:, None]
    ens = last[None, None].expand(horizon, 1, *last.shape).clone()
    return Forecast(ens, _truth(test, starts, horizon), 0, 0.0)


def climatology_forecast(train: np.ndarray, test: np.ndarray, starts: np.ndarray, horizon: int,
                         members: int = 16, seed: int = 0) -> Forecast:
    """Members are random training frames, drawn independently per lead and forecast: their
    mean is the training mean field, their spread the per-pixel climate spread."""
    rng = np.random.default_rng(seed)
    b = len(starts) * test.shape[0]
    flat = train.reshape(-1, *train.shape[2:])
    idx = rng.integers(0, flat.shape[0], (horizon, members, b))
    ens = torch.from_numpy(flat[idx])[:, :, :, None]
    return Forecast(ens, _truth(test, starts, horizon), 0, 0.0)


def physics_forecast(raw_test: np.ndarray, manifest: dict[str, Any], starts: np.ndarray,
                     horizon: int, members: int = 16, seed: int = 0, max_batch: int = 1024,
                     device: str | torch.device = "cpu", progress: bool = False) -> Forecast:
    """The physics ensemble (docs/METHOD.md, "Kolmogorov flow"): fine fields consistent with
    the observed coarse state (its band-limited interpolation, corrected to its block means)
    plus zero-block-mean white noise of the training fine-scale rms, run by the solver at
    the data's resolution and block-averaged every frame.

    Args:
        raw_test: test split in the data's units ``(trajectories, frames, h, w)``.
        manifest: the data set's manifest (physics, block size, residual rms, statistics).
    """
    spec, phys = manifest["spec"], manifest["physics"]
    factor, sd = spec["factor"], manifest["fine_residual_sd"]
    mu, std = manifest["stats"]["mean"], manifest["stats"]["std"]
    flow = KolmogorovFlow(KolmogorovParams(**phys), dtype=torch.float32, device=device)
    g = torch.Generator().manual_seed(seed)
    p_all, k_all = _pairs(raw_test, starts)
    per_chunk = max(1, max_batch // members)
    parts, t0 = [], time.perf_counter()
    bar = progress_bar(len(p_all), "physics ensemble", unit="start", enable=progress)
    for c0 in range(0, len(p_all), per_chunk):
        p, k = p_all[c0:c0 + per_chunk], k_all[c0:c0 + per_chunk]
        coarse = torch.from_numpy(raw_test[p, k]).double().repeat(members, 1, 1)
        fine = upsample_consistent(coarse, factor)
        fine = fine + fine_perturbation(tuple(fine.shape), factor, sd, generator=g)
        w = flow.to_spectral(fine.float().to(device))
        leads = []
        for _ in range(horizon):
            w = flow.advance(w, spec["frame_dt"])
            leads.append(block_average(flow.to_grid(w), factor).cpu())
        ens = (torch.stack(leads) - mu) / std
        parts.append(split_members(ens, members, dim=1)[:, :, :, None])
        bar.update(len(p))
    bar.close()
    truth = _truth((raw_test - mu) / std, starts, horizon)
    return Forecast(torch.cat(parts, 2), truth, 0, time.perf_counter() - t0)


# -- scores -----------------------------------------------------------------------------


def anomaly_correlation(ens_mean: Tensor, truth: Tensor) -> Tensor:
    """Pattern correlation per forecast of ``(B, ...)`` fields (centred per field)."""
    a = ens_mean.flatten(1).double()
    b = truth.flatten(1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12)


def score(fc: Forecast, frame_dt: float, threshold: float = 0.8) -> dict[str, Any]:
    """Per lead: CRPS, ensemble-mean RMSE, spread-skill ratio (0 for one member) and mean
    correlation; plus the time the mean correlation stays ≥ ``threshold`` (the whole
    horizon when it never falls below)."""
    rows = []
    for k in range(fc.ens.shape[0]):
        e, y = fc.ens[k], fc.truth[k]
        corr = anomaly_correlation(e.mean(0), y)
        rows.append({
            "lead": k + 1,
            "time": round((k + 1) * frame_dt, 6),
            "crps": float(crps_ensemble(e, y).mean()),
            "rmse": float(np.sqrt(ensemble_mean_mse(e, y))),
            "ssr": spread_skill_ratio(e, y),
            "corr": float(corr.mean()),
        })
    below = [r["time"] for r in rows if r["corr"] < threshold]
    above_time = round(below[0] - frame_dt, 6) if below else rows[-1]["time"]
    return {"members": int(fc.ens.shape[1]), "forecasts": int(fc.ens.shape[2]),
            "nfe_per_lead": fc.nfe_per_lead,
            "seconds_per_forecast": fc.seconds / max(fc.ens.shape[2], 1),
            "corr_time": above_time, "corr_never_below": not below, "per_lead": rows}


register_kind("kolmogorov", load=load_kolmogorov_model,
              note="Forecast it with 'idff forecast RUN' or 'idff kolmogorov-benchmark'.")
