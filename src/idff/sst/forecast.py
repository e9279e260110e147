"""SST forecasts: the starts whose targets are test frames, the learned ensembles
(:func:`sst_forecast`, an autoregressive rollout per lead), and the persistence and
climatology baselines, all as a :class:`Forecast`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from idff.progress import progress_bar
from idff.sampling import SamplingConfig
from idff.sst.data import SSTCube
from idff.timeseries.gridded import make_cond_channels
from idff.timeseries.rollout import repeat_members, rollout, split_members

__all__ = ["forecast_starts", "Forecast", "sst_forecast", "persistence_forecast",
           "climatology_forecast"]


def forecast_starts(n_times: int, test_idx: np.ndarray, horizon: int, context: int = 1,
                    stride: int = 1) -> np.ndarray:
    """Start indices ``k0`` (last observed frame) whose ``horizon`` targets are test frames.

    Raises:
        ValueError: when the test period is shorter than the horizon.
    """
    test = set(int(i) for i in test_idx)
    starts = [k0 for k0 in range(context - 1, n_times - horizon)
              if all(k0 + j in test for j in range(1, horizon + 1))]
    if not starts:
        raise ValueError(
            f"the horizon {horizon} is longer than the test data ({len(test)} time steps); "
            "use a shorter --horizon or more test years."
        )
    return np.asarray(starts[::stride])


@dataclass
class Forecast:
    """Ensemble ``(K, M, B, 1, H, W)``, truth ``(K, B, 1, H, W)``, mask ``(B, 1, H, W)``,
    each forecast's start index and patch, NFE per lead and wall seconds (all forecasts)."""

    ens: Tensor
    truth: Tensor
    mask: Tensor
    starts: np.ndarray
    patches: np.ndarray
    nfe_per_step: list[int]
    seconds: float


def _batch(cube: SSTCube, starts: np.ndarray, horizon: int):
    p_idx = np.repeat(np.arange(cube.data.shape[0]), len(starts))
    k_idx = np.tile(starts, cube.data.shape[0])
    data = torch.from_numpy(cube.data)
    truth = torch.stack([data[p_idx, k_idx + j][:, None] for j in range(1, horizon + 1)])
    mask = torch.from_numpy(cube.mask[p_idx])[:, None]
    return data, p_idx, k_idx, truth, mask


def sst_forecast(
    model: nn.Module,
    config: dict[str, Any],
    cube: SSTCube,
    starts: np.ndarray,
    horizon: int,
    members: int = 50,
    sampling: SamplingConfig | None = None,
    *,
    seed: int = 0,
    max_rows: int = 4096,
    device: str | torch.device = "cpu",
    progress: bool = False,
    **overrides: Any,
) -> Forecast:
    """Roll out ``members`` forecasts of ``horizon`` leads from every start and patch.

    Args:
        model: the trained network (eval mode is set by the rollout).
        config: its run config (method, horizon, context, sampling defaults).
        cube: the normalised cube holding the starts and their targets.
        starts: start indices (last observed frames), see :func:`forecast_starts`.
        horizon: leads to forecast (at most the trained horizon).
        members: ensemble size ``M``.
        sampling: NFE per lead, solver, field and noise (default: the run's, see
            :meth:`SamplingConfig.from_run`); ``overrides`` (``nfe=``, ``gamma=``, ...;
            ``None`` keeps the value) change it (docs/METHOD.md, "Fields").
        seed: seed of the ensemble noise.
        max_rows: starts are rolled out in chunks of at most this many ``M·B`` rows.
        device: where the network and the rollout run; the noise is drawn there, so other
            devices give other (equally distributed) ensembles. Results come back on the CPU.
        progress: show a bar over the forecast starts (after two seconds).
    """
    import time

    if horizon > config["horizon"]:
        raise ValueError(
            f"the model was trained for leads up to {config['horizon']}; --horizon {horizon} "
            "would feed it lead times it never saw. Retrain with a longer horizon."
        )
    sampling = (sampling or SamplingConfig.from_run(config)).replace(**overrides)
    context, k_train, method = config["context"], config["horizon"], config["method"]
    source = None
    if method != "idff":
        source = lambda x, gen: torch.randn(x.shape, generator=gen, dtype=x.dtype,  # noqa: E731
                                            device=x.device)
    model = model.to(device)
    g = torch.Generator(device=device).manual_seed(seed)  # on the CPU: torch.Generator()
    per_chunk = max(1, max_rows // (members * cube.data.shape[0]))
    parts, seconds, nfe = [], 0.0, []
    bar = progress_bar(len(starts), "forecasts", unit="start", enable=progress)
    for c0 in range(0, len(starts), per_chunk):
        data, p_idx, k_idx, truth, mask = _batch(cube, starts[c0 : c0 + per_chunk], horizon)
        older = [repeat_members(data[p_idx, k_idx - c][:, None].to(device), members)
                 for c in range(context)]
        obs, older = older[0], older[1:][::-1]  # frames k0-context+1 .. k0-1, oldest first

        def make_cond(k: int, history, obs=obs, older=older):
            seq = older + list(history)
            prev = [seq[-1 - c] for c in range(context)]
            return make_cond_channels(prev, obs, k, k_train)

        t0 = time.perf_counter()
        res = rollout(model, data[p_idx, k_idx][:, None].to(device), horizon, make_cond,
                      sampling=sampling, members=members, generator=g, source=source)
        seconds += time.perf_counter() - t0
        nfe = res.nfe_per_step
        ens = split_members(res.trajectory[1:].cpu(), members, dim=1)
        parts.append((ens, truth, mask, k_idx, p_idx))
        bar.update(len(starts[c0 : c0 + per_chunk]))
    bar.close()
    # the batch axis B is 2 in the ensemble (K, M, B, ...), 1 in the truth, 0 in the mask
    ens, truth, mask = (torch.cat([p[i] for p in parts], dim=d) for i, d in enumerate((2, 1, 0)))
    k_idx, p_idx = (np.concatenate([p[i] for p in parts]) for i in (3, 4))
    return Forecast(ens, truth, mask, k_idx, p_idx, nfe, seconds)


def persistence_forecast(cube: SSTCube, starts: np.ndarray, horizon: int) -> Forecast:
    """The last observed frame, for every lead (a one-member ensemble)."""
    data, p_idx, k_idx, truth, mask = _batch(cube, starts, horizon)
    last = data[p_idx, k_idx][:, None]
    ens = last[None, None].expand(horizon, 1, *last.shape).clone()
    return Forecast(ens, truth, mask, k_idx, p_idx, [0] * horizon, 0.0)


def climatology_forecast(cube: SSTCube, train_idx: np.ndarray, starts: np.ndarray, horizon: int,
                         members: int = 50, window_days: int = 15, seed: int = 0) -> Forecast:
    """Members = training frames of the same patch within ``±window_days`` of the target's day
    of year (at most ``members`` of them, drawn without replacement)."""
    data, p_idx, k_idx, truth, mask = _batch(cube, starts, horizon)
    doy = (cube.times.astype("datetime64[D]") - cube.times.astype("datetime64[Y]")).astype(int)
    rng = np.random.default_rng(seed)
    leads = []
    for j in range(1, horizon + 1):
        rows = []
        for p, k in zip(p_idx, k_idx):
            d = np.abs(doy[train_idx] - doy[k + j])
            near = train_idx[np.minimum(d, 365 - d) <= window_days]
            if near.size == 0:
                raise ValueError("no training frame near the target's day of year.")
            pick = near if near.size <= members else rng.choice(near, members, replace=False)
            rows.append(data[p, pick])
        m = min(r.shape[0] for r in rows)
        leads.append(torch.stack([r[:m] for r in rows], 1)[:, :, None])
    m = min(x.shape[0] for x in leads)
    ens = torch.stack([x[:m] for x in leads])
    return Forecast(ens, truth, mask, k_idx, p_idx, [0] * horizon, 0.0)

