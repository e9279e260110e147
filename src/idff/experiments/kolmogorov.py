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
from idff.run_kind import RunKind, load_weights
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
    "free_rollout",
    "long_run_statistics",
    "long_rollout_score",
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


def _prepare(model: nn.Module, config: dict[str, Any], sampling: SamplingConfig | None,
             overrides: dict[str, Any], members: int, seed: int,
             device: str | torch.device) -> tuple[nn.Module, SamplingConfig, int,
                                                  torch.Generator]:
    """What forecasts and free rollouts share: the model on ``device``, the run's sampling
    settings with ``overrides``, the ensemble size (one member for the deterministic UNet)
    and a seeded generator."""
    sampling = (sampling or SamplingConfig.from_run(config)).replace(**overrides)
    members = 1 if config["forecaster"] == "mse" else members
    return (model.to(device), sampling, members,
            torch.Generator(device=device).manual_seed(seed))


def _roll(model: nn.Module, config: dict[str, Any], sampling: SamplingConfig, x0: Tensor,
          obs: Tensor, older: list[Tensor], horizon: int, members: int,
          generator: torch.Generator):
    """``horizon`` leads from ``x0`` (``members`` per state), conditioned on the observed
    frame ``obs`` and the ``older`` context frames (oldest first), each already repeated
    per member, and on the lead."""
    context, k_train = config["context"], config["horizon"]

    def make_cond(lead: int, history):
        seq = older + list(history)
        return make_cond_channels([seq[-1 - c] for c in range(context)], obs, lead, k_train)

    with torch.no_grad():
        return rollout(model, x0, horizon, make_cond, sampling=sampling, members=members,
                       generator=generator, source=_source(config))


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
    model, sampling, members, g = _prepare(model, config, sampling, overrides, members, seed,
                                           device)
    context = config["context"]
    p_all, k_all = _pairs(test, starts)
    data = torch.from_numpy(np.ascontiguousarray(test))
    per_chunk = max(1, max_rows // members)
    parts, seconds, nfe = [], 0.0, 0
    bar = progress_bar(len(p_all), "forecasts", unit="start", enable=progress)
    for c0 in range(0, len(p_all), per_chunk):
        p, k = p_all[c0:c0 + per_chunk], k_all[c0:c0 + per_chunk]
        frames = [data[p, k - c][:, None].to(device).repeat(members, 1, 1, 1)
                  for c in range(context)]
        t0 = time.perf_counter()
        res = _roll(model, config, sampling, data[p, k][:, None].to(device), frames[0],
                    frames[1:][::-1], horizon, members, g)
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
    model, sampling, members, g = _prepare(model, config, sampling, overrides, members, seed,
                                           device)
    context, k_train = config["context"], config["horizon"]
    start = torch.from_numpy(np.ascontiguousarray(test[:trajectories, :context])).to(device)
    seq = [start[:, c][:, None].repeat(members, 1, 1, 1) for c in range(context)]
    out: list[Tensor] = []
    bar = progress_bar(frames, "free rollout", unit="frame", enable=progress)
    while len(out) < frames:
        block = min(k_train, frames - len(out))
        obs, older = seq[-1], seq[len(seq) - context:-1]
        res = _roll(model, config, sampling, obs, obs, older, block, 1, g)
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


KIND = RunKind("kolmogorov", load=load_kolmogorov_model,
               note="Forecast it with 'idff forecast RUN' or 'idff kolmogorov-benchmark'.")
