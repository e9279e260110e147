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
from idff.metrics_probabilistic import (
    crps_ensemble,
    ensemble_mean_mse,
    rank_histogram,
    spread_skill_ratio,
)
from idff.models import SSTNet, build_sst_model, pad_size
from idff.objective import LossOutput
from idff.progress import progress_bar
from idff.runs import load_weights, register_kind
from idff.sampling import SamplingConfig
from idff.timeseries.kolmogorov import (
    KolmogorovFlow,
    KolmogorovParams,
    block_average,
    energy_spectrum,
    fine_perturbation,
    upsample_consistent,
)
from idff.timeseries.rollout import rollout, split_members
from idff.training import TrainConfig, Trainer
from idff.training.checkpoint import init_from_run

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
    "select_sampling",
    "free_rollout",
    "long_run_statistics",
    "run_benchmark",
]

#: forecaster -> (sampling method of its network, objective settings)
FORECASTERS: dict[str, tuple[str, dict[str, Any]]] = {
    "idff": ("idff", {"name": "idff", "sigma": 1.0, "flow_weight": 2.0,
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
    sigma: float | None = None,
) -> dict[str, Any]:
    """The JSON-able description of a Kolmogorov run (``sigma``: the IDFF path noise,
    default 1, as large as a frame's uncertainty so that the SDE can spread an ensemble;
    only IDFF has one).

    Raises:
        ConfigError: an unknown forecaster, or ``sigma`` for a forecaster without one.
    """
    if forecaster not in FORECASTERS:
        raise ConfigError(f"unknown forecaster {forecaster!r}; choose one of "
                          f"{', '.join(FORECASTERS)}.")
    method, objective = FORECASTERS[forecaster]
    if sigma is not None:
        if forecaster != "idff":
            raise ConfigError(f"--sigma sets IDFF's path noise; the {forecaster} forecaster "
                              "has none. Leave it out.")
        if sigma <= 0:
            raise ConfigError(f"--sigma must be > 0 for IDFF (its score head is scaled by it), "
                              f"got {sigma}.")
        objective = {**objective, "sigma": float(sigma)}
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
                     progress: bool = True, device: str | torch.device = "cpu",
                     resume: bool | str = False,
                     init_from: str | Path | None = None) -> nn.Module:
    """Train the run a config describes into ``out``; return the EMA model (``resume``:
    see :class:`~idff.training.Trainer`; ``init_from``: start from another run's weights)."""
    data = load_data(config["data"], ("train",))
    h, w = data.splits["train"].shape[-2:]
    m = config["model"]
    levels = len(m.get("channel_mult", [1]))
    m.update({"in_channels": 1, "cond_channels": config["context"] + 2, "size": [h, w],
              "pad_to": list(pad_size(h, w, levels))})
    config["data"]["stats"] = data.manifest["stats"]
    torch.manual_seed(train.seed)
    model = build_sst_model(config)
    if init_from is not None:
        init_from_run(model, config, init_from)
    windows = KolmogorovWindows(data.splits["train"], config["horizon"], config["context"],
                                config["batch_size"], seed=train.seed)
    trainer = Trainer(model, make_objective(config["forecaster"], config["objective"]), windows,
                      train, out, config, progress=progress, device=device, resume=resume)
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


def _noise_source(x: Tensor, gen: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)


def _source(config: dict[str, Any]):
    """OT-CFM starts every lead from Gaussian noise; the others from the current frame."""
    return _noise_source if config["forecaster"] == "otcfm" else None


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
    source = _source(config)
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


#: frames of the long free rollouts (every 0.2 time units: T = 30)
LONG_FRAMES = 150

#: windows (first, last frame, 1-based) over which long rollouts are compared with the
#: test set's statistics: T in (0, 5], (5, 10] and (10, 30]
LONG_WINDOWS = ((1, 25), (26, 50), (51, 150))


def free_rollout(model: nn.Module, config: dict[str, Any], test: np.ndarray, frames: int,
                 members: int = 1, sampling: SamplingConfig | None = None, *,
                 trajectories: int = 8, seed: int = 0, device: str | torch.device = "cpu",
                 progress: bool = False, **overrides: Any) -> Tensor:
    """Free-running rollouts of ``frames`` frames from the first frames of the first
    ``trajectories`` test trajectories, ``members`` each: blocks of the model's horizon,
    every block conditioned on the last generated frame as its observed one (nothing
    observed after the start). Returns ``(frames, members·B, H, W)`` in normalised units.

    Raises:
        FloatingPointError: the rollout diverged (NaN/inf states).
    """
    sampling = (sampling or SamplingConfig.from_run(config)).replace(**overrides)
    if config["forecaster"] == "mse":
        members = 1
    context, k_train = config["context"], config["horizon"]
    source = _source(config)
    model = model.to(device)
    g = torch.Generator(device=device).manual_seed(seed)
    start = torch.from_numpy(np.ascontiguousarray(test[:trajectories, :context])).to(device)
    seq = [start[:, c][:, None].repeat(members, 1, 1, 1) for c in range(context)]
    out: list[Tensor] = []
    bar = progress_bar(frames, "free rollout", unit="frame", enable=progress)
    while len(out) < frames:
        block = min(k_train, frames - len(out))
        obs, older = seq[-1], seq[len(seq) - context:-1]

        def make_cond(lead: int, history, obs=obs, older=older):
            s = older + list(history)
            return make_cond_channels([s[-1 - c] for c in range(context)], obs, lead, k_train)

        with torch.no_grad():
            res = rollout(model, obs, block, make_cond, sampling=sampling, members=1,
                          generator=g, source=source)
        new = list(res.trajectory[1:])
        seq = (seq + new)[-context:]
        out += [f[:, 0].cpu() for f in new]
        bar.update(block)
    bar.close()
    return torch.stack(out)


def _fit_windows(windows: tuple[tuple[int, int], ...], frames: int) -> tuple[tuple[int, int], ...]:
    return tuple(w for w in windows if w[1] <= frames) or ((1, frames),)


def _w1(a: Tensor, b: Tensor, levels: int = 1000, seed: int = 0) -> float:
    """Wasserstein-1 distance between the value distributions of ``a`` and ``b`` (the mean
    gap between their quantiles at ``levels`` evenly spaced levels; at most 10⁶ values of
    each, drawn at random)."""
    g = torch.Generator().manual_seed(seed)
    x, y = a.flatten().double(), b.flatten().double()
    x = x[torch.randperm(x.numel(), generator=g)[:1_000_000]]
    y = y[torch.randperm(y.numel(), generator=g)[:1_000_000]]
    q = (torch.arange(levels, dtype=torch.float64) + 0.5) / levels
    return float((torch.quantile(x, q) - torch.quantile(y, q)).abs().mean())


def long_run_statistics(traj: Tensor, reference: Tensor, frame_dt: float,
                        windows: tuple[tuple[int, int], ...] = LONG_WINDOWS,
                        kmax: int = 10) -> list[dict[str, Any]]:
    """Statistics of rollout frames ``traj`` ``(F, N, H, W)`` per window of frames against
    ``reference`` frames ``(..., H, W)`` (the test set, same units): the ratio of mean
    squared vorticity (enstrophy), the mean ``|log E(k)/E_ref(k)|`` over ``1 ≤ k ≤ kmax``
    and the Wasserstein-1 distance between the distributions of cell values
    (docs/METHOD.md, "Kolmogorov flow"). Windows past ``F`` are left out (all ``F`` frames
    make one window when none fits)."""
    ref = reference.reshape(-1, *reference.shape[-2:])
    windows = _fit_windows(windows, traj.shape[0])
    e_ref = energy_spectrum(ref)[1:kmax + 1]
    z_ref = float(ref.double().pow(2).mean())
    rows = []
    for a, b in windows:
        x = traj[a - 1:b].reshape(-1, *traj.shape[-2:])
        e = energy_spectrum(x)[1:kmax + 1]
        rows.append({"frames": [a, b], "time": [round((a - 1) * frame_dt, 6),
                                                round(b * frame_dt, 6)],
                     "enstrophy_ratio": float(x.double().pow(2).mean()) / z_ref,
                     "spectrum_log_error": float((e / e_ref).log().abs().mean()),
                     "w1": _w1(x, ref)})
    return rows


def long_rollout_score(traj: Tensor, reference: Tensor, frame_dt: float) -> dict[str, Any]:
    """:func:`long_run_statistics` per window, plus what the figure draws: the enstrophy
    ratio of every frame and the energy spectra of the last window and of ``reference``."""
    ref = reference.reshape(-1, *reference.shape[-2:])
    a, b = _fit_windows(LONG_WINDOWS, traj.shape[0])[-1]
    z_ref = float(ref.double().pow(2).mean())
    return {"windows": long_run_statistics(traj, ref, frame_dt),
            "enstrophy": (traj.double().pow(2).mean((1, 2, 3)) / z_ref).tolist(),
            "spectrum": energy_spectrum(traj[a - 1:b].reshape(-1, *traj.shape[-2:])).tolist(),
            "spectrum_reference": energy_spectrum(ref).tolist()}


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


register_kind("kolmogorov", load=load_kolmogorov_model,
              note="Forecast it with 'idff forecast RUN' or 'idff kolmogorov-benchmark'.")


# -- the benchmark ----------------------------------------------------------------------

#: leads shown in the README tables (T = 0.2, 0.4, 1.0, 2.0, 3.2 for frames every 0.2)
TABLE_LEADS = (1, 2, 5, 10, 16)

#: time grids the benchmark tries for its ensemble forecasters on the validation trajectories
SELECT_GRIDS = ("uniform", "power:0.7", "power:1.5")

#: forecasters whose ensembles have spread (the others are one deterministic member)
ENSEMBLE_FORECASTERS = ("idff", "otcfm")

#: the spread-skill band a forecaster must hold at every lead to count as calibrated
SSR_BAND = (0.7, 1.3)


def select_sampling(candidates: dict[str, dict[str, Any]],
                    band: tuple[float, float] = SSR_BAND) -> tuple[str, dict[str, Any]]:
    """Choose among validation scores ``{label: score(...)}``: the sharpest calibrated one,
    i.e. among the candidates whose spread-skill ratio is inside ``band`` at every lead,
    the lowest CRPS averaged over leads; when none is calibrated, the lowest mean CRPS
    (docs/METHOD.md, "Kolmogorov flow"). Returns the label and a summary per candidate
    (``ssr_min``, ``ssr_max``, ``crps_mean``, ``calibrated``).

    Raises:
        ConfigError: no candidates.
    """
    if not candidates:
        raise ConfigError("select_sampling needs at least one candidate.")
    lo, hi = band
    summary = {}
    for label, s in candidates.items():
        ssr = [r["ssr"] for r in s["per_lead"]]
        summary[label] = {"ssr_min": float(min(ssr)), "ssr_max": float(max(ssr)),
                          "crps_mean": float(np.mean([r["crps"] for r in s["per_lead"]])),
                          "calibrated": bool(all(lo <= v <= hi for v in ssr))}
    pool = [k for k, v in summary.items() if v["calibrated"]] or list(summary)
    best = min(pool, key=lambda k: summary[k]["crps_mean"])
    return best, summary


def selection_table(scores: dict[str, dict[str, Any]]) -> str:
    """Markdown: the validation candidates of every forecaster that chose its sampling."""
    rows = [(name, s["selection"]) for name, s in scores.items() if "selection" in s]
    if not rows:
        return ""
    lo, hi = rows[0][1]["band"]
    out = [f"**sampler chosen on the validation trajectories** (calibrated: spread-skill in "
           f"[{lo}, {hi}] at every lead; then the lowest mean CRPS)", "",
           "| forecaster | grid | spread-skill (min–max) | mean CRPS | calibrated | chosen |",
           "|---|---|---:|---:|:---:|:---:|"]
    for name, sel in rows:
        for label, c in sel["candidates"].items():
            out.append(f"| {name} | {label} | {c['ssr_min']:.2f}–{c['ssr_max']:.2f} | "
                       f"{c['crps_mean']:.3f} | {'yes' if c['calibrated'] else 'no'} | "
                       f"{'**yes**' if label == sel['chosen'] else ''} |")
    return "\n".join(out) + "\n"


def _cached(path: Path, settings: dict[str, Any], compute) -> dict[str, Any]:
    """``compute()`` once per ``settings``: the result is kept in ``path`` (JSON)."""
    import json

    from idff.io import atomic_write_json

    if path.is_file():
        old = json.loads(path.read_text())
        if old.get("settings") == settings:
            return old
    out = {"settings": settings, **compute()}
    atomic_write_json(out, path, indent=1)
    return out


def _train_clock(run: Path, seconds: float) -> float:
    import json

    clock = run / "train_time.json"
    spent = (json.loads(clock.read_text())["seconds"] if clock.is_file() else 0.0) + seconds
    clock.write_text(json.dumps({"seconds": spent}))
    return spent


def _finished(run: Path, config: dict[str, Any], steps: int) -> bool:
    """Whether ``run`` holds a run of ``config``'s network, objective and data trained for
    at least ``steps`` (the benchmark then reuses it instead of resuming the trainer)."""
    import json

    path = run / "config.json"
    if not path.is_file():
        return False
    old = json.loads(path.read_text())
    same = all(old.get(k) == config[k] for k in ("forecaster", "objective", "horizon",
                                                  "context", "batch_size"))
    same = same and all(old.get("model", {}).get(k) == v for k, v in config["model"].items())
    same = same and old.get("data", {}).get("size") == config["data"]["size"]
    if not same or int(old.get("train", {}).get("steps", 0)) < steps:
        return False
    from idff.training.checkpoint import RunError

    try:
        return int(load_kolmogorov_model(run)[1]["step"]) >= steps
    except (RunError, OSError, ValueError, KeyError):  # the trainer will say what is wrong
        return False


def tables(scores: dict[str, dict[str, Any]], frame_dt: float,
           leads: tuple[int, ...] = TABLE_LEADS) -> str:
    """Markdown tables of CRPS, ensemble-mean RMSE and spread-skill at ``leads``, and the
    time the ensemble-mean correlation stays ≥ 0.8."""
    horizon = min(len(s["per_lead"]) for s in scores.values())
    leads = tuple(k for k in leads if k <= horizon)
    head = "| forecaster | " + " | ".join(f"T = {k * frame_dt:.1f}" for k in leads) + " |"
    sep = "|---|" + "---:|" * len(leads)
    out = []
    members = max(s["members"] for s in scores.values())
    for key, title, fmt in (("crps", "CRPS (data sd units)", "{:.3f}"),
                            ("rmse", "ensemble-mean RMSE (data sd units)", "{:.3f}"),
                            ("ssr", "spread-skill ratio", "{:.2f}"),
                            ("outside", "truth outside the ensemble (fraction of cells; "
                                        f"calibrated {members} members: "
                                        f"{2 / (members + 1):.2f})", "{:.2f}")):
        out += [f"**{title}**", "", head, sep]
        for name, s in scores.items():
            vals = [s["per_lead"][k - 1].get(key, float("nan")) for k in leads]
            if key in ("ssr", "outside") and s["members"] == 1:
                cells = ["–"] * len(leads)
            else:
                cells = [fmt.format(v) for v in vals]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    out += ["| forecaster | members | NFE / lead | correlation ≥ 0.8 until | s / forecast | "
            "train steps | train min |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in scores.items():
        t = s.get("train", {})
        until = (f"≥ {s['corr_time']:.1f}" if s["corr_never_below"] else f"{s['corr_time']:.1f}")
        out.append(f"| {name} | {s['members']} | {s['nfe_per_lead']} | {until} | "
                   f"{s['seconds_per_forecast']:.2f} | {t.get('steps', '–')} | "
                   + (f"{t['minutes']:.1f}" if "minutes" in t else "–") + " |")
    return "\n".join(out) + "\n"


def long_table(long: dict[str, dict[str, Any]]) -> str:
    """Markdown: the long free rollouts' statistics against the test set, per window."""
    out = ["**long free rollouts against the test set's statistics** (enstrophy ratio: 1 is "
           "right; spectrum: mean |log E(k)/E_test(k)|, k ≤ 10; W1: of the cell values, "
           "data sd units; `truth`: the true continuations, the sampling floor)", "",
           "| forecaster | T | enstrophy ratio | spectrum log-error | W1 |",
           "|---|---|---:|---:|---:|"]
    for name, s in long.items():
        if "diverged" in s:
            out.append(f"| {name} | – | diverged | – | – |")
            continue
        for w in s["windows"]:
            t0, t1 = w["time"]
            out.append(f"| {name} | {t0:g}–{t1:g} | {w['enstrophy_ratio']:.2f} | "
                       f"{w['spectrum_log_error']:.2f} | {w['w1']:.3f} |")
    return "\n".join(out) + "\n"


def plot_long(long: dict[str, dict[str, Any]], frame_dt: float, path: str | Path) -> None:
    """Enstrophy ratio against time and the last window's energy spectra, per forecaster."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ref = None
    for name, s in long.items():
        if "diverged" in s:
            continue
        z = np.asarray(s["enstrophy"])
        style = {"color": "k", "lw": 2} if name == "truth" else {}
        a1.plot(frame_dt * np.arange(1, len(z) + 1), z, label=name, **style)
        e = np.asarray(s["spectrum"])
        a2.loglog(np.arange(1, len(e)), e[1:], label=name, **style)
        ref = np.asarray(s["spectrum_reference"])
    if ref is not None:
        a2.loglog(np.arange(1, len(ref)), ref[1:], "k--", lw=1, label="test set")
    a1.axhline(1.0, color="k", lw=0.5)
    a1.set(xlabel="time", ylabel="enstrophy / test set's", title="free rollouts")
    a2.set(xlabel="wavenumber k", ylabel="E(k)", title="energy spectrum, last window")
    a1.legend(fontsize=7)
    a2.legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scores(scores: dict[str, dict[str, Any]], path: str | Path) -> None:
    """CRPS, RMSE and spread-skill ratio against lead time, one line per forecaster."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for i, (name, s) in enumerate(scores.items()):
        t = [r["time"] for r in s["per_lead"]]
        for ax, key in zip(axes, ("crps", "rmse", "ssr")):
            if key == "ssr" and s["members"] == 1:
                continue  # no spread; the colour stays with the forecaster
            ax.plot(t, [r[key] for r in s["per_lead"]], marker=".", label=name, color=f"C{i}")
    for ax, title in zip(axes, ("CRPS", "ensemble-mean RMSE", "spread-skill ratio")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("lead time")
    axes[2].axhline(1.0, color="k", lw=0.6, ls="--")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_calibration(scores: dict[str, dict[str, Any]], frame_dt: float,
                     path: str | Path) -> None:
    """Top: rank histograms (frequency × (M + 1): 1 is flat, calibrated) of every ensemble
    forecaster; bottom: energy spectra of its members against the truth's, at
    :data:`SPECTRUM_LEADS`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    leads = [k for k in SPECTRUM_LEADS
             if any(str(k) in s.get("spectra", {}) for s in scores.values())]
    if not leads:
        return
    fig, axes = plt.subplots(2, len(leads), figsize=(3.6 * len(leads), 6.2), squeeze=False)
    for j, k in enumerate(leads):
        top, bottom = axes[0, j], axes[1, j]
        truth_drawn = False
        for i, (name, s) in enumerate(scores.items()):
            row = s["per_lead"][k - 1] if len(s["per_lead"]) >= k else {}
            if row.get("ranks"):
                h = np.asarray(row["ranks"]) * len(row["ranks"])
                top.plot(np.linspace(0, 1, len(h)), h, marker=".", color=f"C{i}", label=name)
            spec = s.get("spectra", {}).get(str(k))
            if spec:
                kk = np.arange(1, len(spec["members"]))
                if not truth_drawn:
                    bottom.loglog(kk, spec["truth"][1:], color="k", lw=2, label="truth")
                    truth_drawn = True
                bottom.loglog(kk, spec["members"][1:], color=f"C{i}", label=name)
        top.axhline(1.0, color="k", lw=0.6, ls="--")
        top.set_title(f"rank histogram, T = {k * frame_dt:.1f}", fontsize=9)
        top.set_xlabel("rank of the truth / M")
        bottom.set_title(f"energy spectrum, T = {k * frame_dt:.1f}", fontsize=9)
        bottom.set_xlabel("wavenumber k")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_fields(fields: dict[str, np.ndarray], frame_dt: float, path: str | Path,
                leads: tuple[int, ...] = (1, 5, 10, 16)) -> None:
    """Rows of vorticity fields (truth, ensemble means, members) at a few leads.

    Args:
        fields: row name -> ``(K, H, W)`` fields of one forecast.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k_max = min(f.shape[0] for f in fields.values())
    leads = tuple(k for k in leads if k <= k_max)
    vmax = float(np.abs(fields["truth"]).max())
    fig, axes = plt.subplots(len(fields), len(leads), squeeze=False,
                             figsize=(1.9 * len(leads) + 0.8, 1.8 * len(fields)),
                             constrained_layout=True)
    for i, (name, f) in enumerate(fields.items()):
        for j, k in enumerate(leads):
            ax = axes[i, j]
            im = ax.imshow(f[k - 1], origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"T = {k * frame_dt:.1f}", fontsize=8)
            if j == 0:
                ax.set_ylabel(name, fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.7, label="vorticity (data sd)")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _train_job(config: dict[str, Any], run: Path, train: TrainConfig, device: str,
               progress: bool, threads: int | None) -> float:
    """Train (or resume) one forecaster; return the wall seconds (a worker of
    :func:`run_benchmark`'s parallel training)."""
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    train_kolmogorov(config, run, train, progress=progress, device=device, resume="auto")
    return time.perf_counter() - t0


def _train_all(todo: list[tuple[str, dict[str, Any], Path]], train: TrainConfig, device: str,
               jobs: int, echo) -> dict[str, float]:
    """Train every ``(name, config, run)`` of ``todo``, ``jobs`` at a time (separate
    processes, one CPU thread each when on the CPU); return the wall seconds of each."""
    if jobs <= 1 or len(todo) <= 1:
        seconds = {}
        for name, cfg, run in todo:
            echo(f"training {name} for {train.steps} steps -> {run}")
            seconds[name] = _train_job(cfg, run, train, str(device), True, None)
        return seconds
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = 1 if str(device) == "cpu" else None
    echo(f"training {', '.join(n for n, _, _ in todo)} for {train.steps} steps, {jobs} at a "
         f"time (progress of {todo[0][0]} shown; each run logs to its folder)")
    with ProcessPoolExecutor(min(jobs, len(todo)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {name: pool.submit(_train_job, cfg, run, train, str(device), i == 0, threads)
                   for i, (name, cfg, run) in enumerate(todo)}
        seconds = {}
        for name, fut in futures.items():
            seconds[name] = fut.result()
            echo(f"{name} trained ({seconds[name] / 60:.1f} min)")
    return seconds


def run_benchmark(
    runs: str | Path,
    results: str | Path,
    size: str = "cpu",
    data_root: str | Path | None = None,
    forecasters: tuple[str, ...] = ("idff", "otcfm", "mse"),
    steps: int = 2000,
    batch_size: int = 32,
    lr: float = 5e-4,
    horizon: int = 16,
    members: int = 16,
    starts_per_trajectory: int = 2,
    max_trajectories: int | None = None,
    seed: int = 0,
    model: dict[str, Any] | None = None,
    sampling: dict[str, dict[str, Any]] | None = None,
    device: str | torch.device = "cpu",
    command: str = "",
    echo=print,
    sigma: float | None = None,
    grids: tuple[str, ...] = SELECT_GRIDS,
    jobs: int = 1,
    long_frames: int = LONG_FRAMES,
    long_trajectories: int = 8,
    long_members: int = 2,
) -> dict[str, dict[str, Any]]:
    """Train (or resume) every forecaster into ``runs/<name>`` (``jobs`` at a time), choose
    the time grid of each ensemble forecaster on the validation trajectories (``grids``:
    candidates such as ``"power:0.7"``; :func:`select_sampling`; skipped for one candidate or
    when ``sampling`` names a grid), forecast the test set, score every forecaster and
    baseline (``sigma``: IDFF's path noise), run ``long_members`` free rollouts of
    ``long_frames`` frames from each of ``long_trajectories`` test trajectories per learned
    forecaster (:func:`free_rollout`, compared with the test set's statistics; 0 frames: none),
    and write ``metrics.json``, ``per_lead.csv``, ``table.md``, ``scores.png``,
    ``calibration.png``, ``forecast.png`` and ``long_rollout.png`` into ``results``.
    Scores are cached per forecaster, split and settings under ``runs/scores``, so a rerun
    only computes what changed.

    Raises:
        ConfigError: a bad grid candidate, or a bad count (``jobs``, ``long_*``).
    """
    from idff.eval.bench import parse_grid
    from idff.io import atomic_write_json, atomic_write_text

    for key, v, lo in (("jobs", jobs, 1), ("long_frames", long_frames, 0),
                       ("long_trajectories", long_trajectories, 1),
                       ("long_members", long_members, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"{key} must be an integer >= {lo}, got {v!r}.")
    try:
        grid_overrides = {g: parse_grid(g) for g in grids}
    except ValueError as e:
        raise ConfigError(f"{e} (in the benchmark's grid candidates)") from None
    runs, results = Path(runs), Path(results)
    root = str(data_root or default_root())
    data = load_data({"root": root, "size": size}, ("train", "val", "test"))
    man = data.manifest
    frame_dt = man["spec"]["frame_dt"]
    test = data.splits["test"][:max_trajectories]
    val = data.splits["val"][:max_trajectories]
    raw_test = test * data.std + data.mean
    starts = forecast_starts(test.shape[1], horizon, 1, starts_per_trajectory)
    val_starts = forecast_starts(val.shape[1], horizon, 1, starts_per_trajectory)
    common = {"size": size, "sha256": man["sha256"]["test.npy"], "horizon": horizon,
              "starts": starts.tolist(), "trajectories": int(test.shape[0]), "seed": seed}
    common_val = {"size": size, "sha256": man["sha256"]["val.npy"], "horizon": horizon,
                  "starts": val_starts.tolist(), "trajectories": int(val.shape[0]),
                  "seed": seed + 1}
    scores: dict[str, dict[str, Any]] = {}
    full_test = data.splits["test"]
    reference = torch.from_numpy(full_test)
    common_long = {"size": size, "sha256": man["sha256"]["test.npy"], "frames": long_frames,
                   "trajectories": min(long_trajectories, full_test.shape[0]),
                   "seed": seed + 2}
    long: dict[str, dict[str, Any]] = {}

    def keep(fc: Forecast) -> dict[str, Any]:
        # the first forecast's ensemble mean and first member, for the figure
        ex = {"example": fc.ens[:, :, 0, 0].mean(1).tolist()}
        if fc.ens.shape[1] > 1:
            ex["example_member"] = fc.ens[:, 0, 0, 0].tolist()
        return {**score(fc, frame_dt), **ex}

    (runs / "scores").mkdir(parents=True, exist_ok=True)
    configs = {name: kolmogorov_run_config(name, size, root, horizon, 1, batch_size, model,
                                           (sampling or {}).get(name),
                                           sigma if name == "idff" else None)
               for name in forecasters}
    train_cfg = TrainConfig(steps=steps, lr=lr, warmup=min(200, steps), ema_decay=0.999,
                            seed=seed, log_every=100, ckpt_every=250)
    todo = []
    for name in forecasters:
        if _finished(runs / name, configs[name], steps):
            echo(f"{runs / name} is trained to {steps} steps with these settings; reusing it")
        else:
            todo.append((name, configs[name], runs / name))
    seconds = _train_all(todo, train_cfg, device, jobs, echo)
    for name in forecasters:
        run = runs / name
        minutes = _train_clock(run, seconds.get(name, 0.0)) / 60
        net, cfg = load_kolmogorov_model(run)
        base = dict((sampling or {}).get(name, {}))
        selection = None
        if (name in ENSEMBLE_FORECASTERS and members > 1 and len(grids) > 1
                and "grid" not in base):
            candidates = {}
            for label, over in grid_overrides.items():
                # sampling settings the run does not record take their current defaults
                c_cfg = SamplingConfig.from_run(cfg, **{**base, **over})
                settings = {**common_val, "members": members, "step": cfg["step"],
                            "sampling": c_cfg.to_dict()}
                echo(f"forecasting {name} on the validation trajectories, grid {label}")

                def val_forecast(net=net, cfg=cfg, c_cfg=c_cfg):
                    fc = learned_forecast(net, cfg, val, val_starts, horizon, members, c_cfg,
                                          seed=seed + 1, device=device, progress=True)
                    return score(fc, frame_dt)

                safe = label.replace(":", "_")
                candidates[label] = _cached(runs / "scores" / f"{name}.val.{safe}.json",
                                            settings, val_forecast)
            chosen, summary = select_sampling(candidates)
            selection = {"chosen": chosen, "band": list(SSR_BAND), "candidates": summary}
            base.update(grid_overrides[chosen])
            echo(f"{name}: grid {chosen} chosen on the validation trajectories")
        s_cfg = SamplingConfig.from_run(cfg, **base)
        settings = {**common, "members": members, "step": cfg["step"],
                    "sampling": s_cfg.to_dict()}
        echo(f"forecasting {name}")

        def run_forecast(net=net, cfg=cfg, s_cfg=s_cfg):
            return keep(learned_forecast(net, cfg, test, starts, horizon, members, s_cfg,
                                         seed=seed, device=device, progress=True))

        scores[name] = _cached(runs / "scores" / f"{name}.json", settings, run_forecast)
        scores[name]["train"] = {"steps": cfg["step"], "minutes": minutes}
        scores[name]["sampling"] = s_cfg.to_dict()
        if selection:
            scores[name]["selection"] = selection
        if long_frames:
            echo(f"free rollouts of {name} ({long_frames} frames)")

            def run_long(net=net, cfg=cfg, s_cfg=s_cfg):
                try:
                    traj = free_rollout(net, cfg, full_test, long_frames, long_members, s_cfg,
                                        trajectories=long_trajectories, seed=seed + 2,
                                        device=device, progress=True)
                except FloatingPointError as e:
                    return {"diverged": str(e)}
                return long_rollout_score(traj, reference, frame_dt)

            long[name] = _cached(runs / "scores" / f"{name}.long.json",
                                 {**common_long, "members": long_members, "step": cfg["step"],
                                  "sampling": s_cfg.to_dict()}, run_long)
    if long:
        n = common_long["trajectories"]
        truth = reference[:n, 1:long_frames + 1].transpose(0, 1)  # the true continuations
        long["truth"] = long_rollout_score(truth, reference, frame_dt)
    scores["persistence"] = _cached(runs / "scores" / "persistence.json", common,
                                    lambda: keep(persistence_forecast(test, starts, horizon)))
    scores["climatology"] = _cached(
        runs / "scores" / "climatology.json", {**common, "members": members},
        lambda: keep(climatology_forecast(data.splits["train"], test, starts,
                                                         horizon, members, seed)))
    echo("physics ensemble")
    scores["physics"] = _cached(
        runs / "scores" / "physics.json", {**common, "members": members},
        lambda: keep(physics_forecast(raw_test, man, starts, horizon, members, seed,
                                                 device=device, progress=True)))
    fields = {"truth": _truth(test, starts, horizon)[:, 0, 0].numpy()}
    for name, s in scores.items():
        fields[f"{name} mean" if s["members"] > 1 else name] = np.asarray(s.pop("example"))
    for name in ("idff", "physics"):
        if "example_member" in scores.get(name, {}):
            fields[f"{name} member"] = np.asarray(scores[name]["example_member"])
    for s in scores.values():
        s.pop("example_member", None)
    results.mkdir(parents=True, exist_ok=True)
    setup = {"command": command, "data": {k: man[k] for k in ("spec", "physics", "sha256",
                                                               "simulation_seconds")},
             **{k: v for k, v in common.items() if k != "sha256"}, "members": members,
             "frame_dt": frame_dt, "grid_candidates": list(grids),
             "validation_trajectories": int(val.shape[0])}
    long = {k: {kk: vv for kk, vv in v.items() if kk != "settings"} for k, v in long.items()}
    atomic_write_json({"setup": setup, "scores": scores, "long_rollouts": long},
                      results / "metrics.json", indent=1)
    lines = ["forecaster,lead,time,crps,rmse,ssr,corr"]
    for name, s in scores.items():
        lines += [f"{name},{r['lead']},{r['time']},{r['crps']:.5f},{r['rmse']:.5f},"
                  f"{r['ssr']:.4f},{r['corr']:.4f}" for r in s["per_lead"]]
    atomic_write_text("\n".join(lines) + "\n", results / "per_lead.csv")
    table = tables(scores, frame_dt)
    chosen = selection_table(scores)
    if chosen:
        table += "\n" + chosen
    if long:
        table += "\n" + long_table(long)
        plot_long(long, frame_dt, results / "long_rollout.png")
    atomic_write_text(table, results / "table.md")
    plot_scores(scores, results / "scores.png")
    plot_calibration(scores, frame_dt, results / "calibration.png")
    plot_fields(fields, frame_dt, results / "forecast.png")
    echo(table)
    return scores
