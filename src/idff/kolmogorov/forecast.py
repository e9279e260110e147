"""Kolmogorov-flow forecasts (docs/METHOD.md, "Kolmogorov flow"): the starts of the test
trajectories, the learned ensembles (:func:`learned_forecast`), and the persistence,
climatology and physics-ensemble baselines, all as a :class:`Forecast` in normalised units."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from idff.errors import ConfigError
from idff.kolmogorov.solver import (
    KolmogorovFlow,
    KolmogorovParams,
    block_average,
    fine_perturbation,
    upsample_consistent,
)
from idff.progress import progress_bar
from idff.sampling import SamplingConfig
from idff.timeseries.gridded import make_cond_channels
from idff.timeseries.rollout import rollout, split_members

__all__ = ["forecast_starts", "Forecast", "learned_forecast", "persistence_forecast",
           "climatology_forecast", "physics_forecast"]


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

