"""Sea-surface-temperature forecasting: train IDFF / OT-CFM, roll out ensembles, score.

Shared by ``idff train sst``, ``idff forecast`` and ``idff sst-demo``.

* **IDFF** (docs/METHOD.md, "Path and coupling", time series): the path runs from
  ``x0`` = frame ``k-1`` to ``x1`` = frame ``k``; the network also sees ``cond`` = previous
  frame(s), the last observed frame and the lead ``ℓ/K`` (see
  :class:`~idff.data.sst.SSTWindows`). Ensembles come from the marginal-preserving SDE of
  the ``pf`` field with ``γ = 1``:
  ``dx = (x̂1 - x)/(1 - t) dt + σ dW`` integrated by Euler–Maruyama.
* **OT-CFM** baseline: the same network and conditioning, a flow from Gaussian noise to
  frame ``k`` whose noise is paired to the targets by exact minibatch OT (the targets keep
  their conditioning); ensembles come from the noise draws.
* **Persistence** (the last observed frame) and **climatology** (training frames within
  ±15 days of the target's day of year, as ensemble members).

Fields are zero-padded to a size the UNet accepts and cropped back (``pad_to``,
:class:`~idff.models.sst.SSTNet`); scores
are computed on ocean cells in the data's units (the normalisation is undone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from idff.coupling import ot_plan
from idff.data.sst import (
    Box,
    SSTCube,
    SSTWindows,
    cut_patches,
    eofs_example_path,
    make_cond_channels,
    normalise,
    open_sst,
    year_split,
)
from idff.io import atomic_savefig, atomic_write_json, atomic_write_text
from idff.methods import make_objective
from idff.models import SSTNet, build_sst_model, pad_size
from idff.objective import LossOutput
from idff.progress import progress_bar
from idff.run_kind import RunKind, load_weights
from idff.sampling import SamplingConfig
from idff.timeseries.forecast import ForecastScores, score_forecast
from idff.timeseries.rollout import repeat_members, rollout, split_members
from idff.training import TrainConfig, Trainer
from idff.training.checkpoint import init_from_run

__all__ = [
    "SST_METHODS",
    "SSTObjective",
    "ot_assign_sources",
    "sst_run_config",
    "load_sst_data",
    "train_sst",
    "load_sst_model",
    "forecast_starts",
    "sst_forecast",
    "persistence_forecast",
    "climatology_forecast",
    "evaluate_sst",
]

SST_METHODS = ("idff", "otcfm")

#: objective settings per method (σ = 0.2, w = 2 for SST; docs/METHOD.md, "Path and coupling"
#: and "Objective").
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "idff": {"name": "idff", "sigma": 0.2, "flow_weight": 2.0, "coupling": "independent"},
    "otcfm": {"name": "otcfm", "sigma": 0.0, "coupling": "ot"},
}

#: a small ADM UNet for coarse grids (no attention; 3 resolution levels).
UNET_DEFAULTS: dict[str, Any] = {
    "backbone": "unet",
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": [1, 2, 2],
    "attention_resolutions": "",
    "num_head_channels": -1,
    "dropout": 0.1,
}

#: the eofs demo: 50 winters, train 1963–1999, test 2000–2012.
EOFS_DATA: dict[str, Any] = {
    "path": "eofs",
    "var": "sst",
    "boxes": None,
    "normalisation": "global",
    "train": [None, 1999],
    "val": None,
    "test": [2000, None],
}


#: grids larger than this (per side) must be cut into patches.
MAX_WHOLE_GRID = 256


# -- objective --------------------------------------------------------------------------


def ot_assign_sources(x0: Tensor, x1: Tensor) -> Tensor:
    """Re-order the sources ``x0`` (``(B, ...)``) so that row ``j`` is the partner of target
    ``j`` under the exact minibatch OT plan (squared Euclidean cost); the targets, and so
    their conditioning, keep their order. Between equal batches the plan is a permutation.

    The same pairs as :func:`idff.coupling.couple` with ``"ot"``, taken by ``argmax`` instead
    of a draw from the plan's columns: a draw would consume random numbers and so change
    the training stream of the recorded SST results.
    """
    plan = torch.from_numpy(ot_plan(x0, x1))
    return x0[plan.argmax(0).to(x0.device)]


class SSTObjective:
    """Training loss on :class:`~idff.data.sst.SSTWindows` batches ``(x1, {"x0", "cond"})``.

    IDFF uses the previous frame as the source ``x0``; OT-CFM draws Gaussian sources and,
    with ``coupling="ot"``, re-assigns them to the targets by the exact minibatch OT plan,
    so every target keeps its own conditioning.
    """

    def __init__(self, config: dict[str, Any]):
        cfg = dict(config)
        self.name = cfg["name"]
        if self.name not in SST_METHODS:
            raise ValueError(f"unknown SST method {self.name!r}; choose one of {SST_METHODS}.")
        coupling = cfg.get("coupling", "independent" if self.name == "idff" else "ot")
        if self.name == "idff" and coupling != "independent":
            raise ValueError(
                "IDFF forecasting pairs each frame with its predecessor; use coupling="
                "'independent' (OT would re-pair frames across time)."
            )
        # the OT pairing is done here, so that each target keeps its conditioning
        self.ot = self.name == "otcfm" and coupling == "ot"
        self.inner = make_objective({**cfg, "coupling": "independent"})

    def __call__(self, model: nn.Module, x1: Tensor, cond: dict[str, Tensor],
                 x0: Tensor | None = None, generator: torch.Generator | None = None) -> LossOutput:
        if not isinstance(cond, dict) or "cond" not in cond or "x0" not in cond:
            raise ValueError("SST batches carry cond = {'x0': previous frame, 'cond': channels}.")
        # the trainer moves tensors only; the dict's entries follow the targets' device
        c, prev = cond["cond"].to(x1.device), cond["x0"].to(x1.device)
        if self.name == "idff":
            return self.inner(model, x1, c, x0=prev, generator=generator)
        noise = torch.randn(x1.shape, generator=generator, dtype=x1.dtype, device=x1.device)
        if self.ot:
            noise = ot_assign_sources(noise, x1)
        return self.inner(model, x1, c, x0=noise, generator=generator)


# -- configs and data -------------------------------------------------------------------


def sst_run_config(
    method: str,
    data: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    horizon: int = 7,
    context: int = 1,
    batch_size: int = 32,
    sampling: dict[str, Any] | None = None,
    sigma: float | None = None,
) -> dict[str, Any]:
    """The JSON-able description of an SST run (sizes are filled by :func:`train_sst`);
    ``sigma`` is the path noise (default: the method's)."""
    if method not in SST_METHODS:
        raise ValueError(f"unknown SST method {method!r}; choose one of {', '.join(SST_METHODS)}.")
    net = dict(UNET_DEFAULTS)
    net.update(model or {})
    net["method"] = "idff" if method == "idff" else "cfm"
    if method == "idff":
        net.setdefault("parametrization", "skip")
    objective = dict(METHOD_DEFAULTS[method])
    if sigma is not None:
        objective["sigma"] = float(sigma)
    return {
        "kind": "sst",
        "method": method,
        "objective": objective,
        "model": net,
        "data": dict(EOFS_DATA if data is None else data),
        "horizon": horizon,
        "context": context,
        "batch_size": batch_size,
        "sampling": SamplingConfig.from_dict(
            {"nfe": 3, "solver": "euler", "gamma": 1.0, **(sampling or {}), "method": method,
             "sigma": objective["sigma"]}).knobs(),
    }


def load_sst_data(data: dict[str, Any]) -> tuple[SSTCube, dict[str, np.ndarray]]:
    """Open, patch, split and normalise the data a run config describes.

    Returns:
        The normalised cube over all times, and the time indices of each split.
    """
    path = eofs_example_path() if data["path"] == "eofs" else data["path"]
    da = open_sst(path, var=data.get("var", "sst"))
    boxes = None if not data.get("boxes") else [Box(*b) for b in data["boxes"]]
    if data.get("corners"):  # south-west corners in degrees, square patches
        size = int(data.get("patch_size", 60))
        boxes = (boxes or []) + [Box.at(da, lat, lon, size, size) for lat, lon in data["corners"]]
    if boxes is None and max(da.sizes["lat"], da.sizes["lon"]) > MAX_WHOLE_GRID:
        raise ValueError(
            f"the grid is {da.sizes['lat']}×{da.sizes['lon']}; too large to model whole. Pass "
            "patch boxes (--boxes 'i0,j0,60,60;...', the protocol's 60×60 patches)."
        )
    cube = cut_patches(da, boxes)
    tuple_or_none = lambda r: None if r is None else tuple(r)  # noqa: E731
    splits = year_split(cube, tuple_or_none(data.get("train")), tuple_or_none(data.get("val")),
                        tuple_or_none(data.get("test")))
    cube = normalise(cube, splits["train"], data.get("normalisation", "global"),
                     stats=data.get("stats"))
    return cube, splits


def _contiguous(idx: np.ndarray) -> np.ndarray:
    if idx.size and (np.diff(idx) != 1).any():
        raise ValueError("a split must be a contiguous range of time steps.")
    return idx


def train_sst(config: dict[str, Any], out: str | Path, train: TrainConfig,
              progress: bool = True, device: str | torch.device = "cpu",
              resume: bool | str = False, init_from: str | Path | None = None) -> nn.Module:
    """Train the SST run a config describes into ``out``; return the EMA model (``resume``:
    see :class:`~idff.training.Trainer`; ``init_from``: start from another run's weights)."""
    cube, splits = load_sst_data(config["data"])
    tr = cube.select(_contiguous(splits["train"]))
    _, h, w = cube.mask.shape
    model_cfg = config["model"]
    levels = len(model_cfg.get("channel_mult", [1])) if model_cfg["backbone"] == "unet" else 1
    model_cfg.update({"in_channels": 1, "cond_channels": config["context"] + 2, "size": [h, w],
                      "pad_to": list(pad_size(h, w, levels))})
    config["data"]["stats"] = cube.stats  # forecasts reuse the training statistics
    torch.manual_seed(train.seed)
    model = build_sst_model(config)
    if init_from is not None:
        init_from_run(model, config, init_from)
    windows = SSTWindows(tr, config["horizon"], config["context"], config["batch_size"],
                         seed=train.seed)
    trainer = Trainer(model, SSTObjective(config["objective"]), windows, train, out, config,
                      progress=progress, device=device, resume=resume)
    return trainer.fit()


def load_sst_model(run_dir: str | Path) -> tuple[SSTNet, dict[str, Any]]:
    """Rebuild the EMA model of an SST run directory."""
    return load_weights(run_dir, "sst", build_sst_model)


# -- forecasts --------------------------------------------------------------------------


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


def _table(scores: dict[str, ForecastScores], train_info: dict[str, dict[str, float]]) -> str:
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


def run_sst_demo(
    out: str | Path,
    results: str | Path,
    steps: int = 1000,
    batch_size: int = 16,
    lr: float = 5e-4,
    horizon: int = 7,
    members: int = 50,
    nfe: int = 3,
    seed: int = 0,
    command: str = "",
    echo=print,
) -> dict[str, ForecastScores]:
    """Train IDFF and OT-CFM on the eofs SST anomalies, score them with persistence and
    climatology, and write ``metrics.json``, ``per_lead.csv``, ``forecast.png``, the table
    ``table.md`` and the data, split and budget ``setup.json`` into ``results``
    (``benchmarks/sst_readme.py`` turns them into the results README)."""
    import time

    out, results = Path(out), Path(results)
    train_info: dict[str, dict[str, float]] = {}
    forecasts: dict[str, Forecast] = {}
    for method in SST_METHODS:
        cfg = sst_run_config(method, horizon=horizon, batch_size=batch_size,
                             sampling={"nfe": nfe})
        t0 = time.perf_counter()
        echo(f"training {method} for {steps} steps -> {out / method}")
        train_sst(cfg, out / method, TrainConfig(steps=steps, lr=lr, warmup=min(100, steps),
                                                 ema_decay=0.995, seed=seed, log_every=50,
                                                 ckpt_every=250), resume="auto")
        # wall time accumulates over sessions, so a resumed or re-scored run keeps its cost
        clock = out / method / "train_time.json"
        spent = json.loads(clock.read_text())["seconds"] if clock.is_file() else 0.0
        spent += time.perf_counter() - t0
        atomic_write_text(json.dumps({"seconds": spent}), clock)
        train_info[method] = {"steps": steps, "minutes": spent / 60}
    cube = splits = starts = None
    for method in SST_METHODS:
        model, cfg = load_sst_model(out / method)
        if cube is None:
            cube, splits = load_sst_data(cfg["data"])
            starts = forecast_starts(cube.data.shape[1], splits["test"], horizon, cfg["context"])
        echo(f"forecasting {method}: {len(starts)} starts × {members} members × {horizon} leads")
        forecasts[method] = sst_forecast(model, cfg, cube, starts, horizon, members, seed=seed)
    forecasts["persistence"] = persistence_forecast(cube, starts, horizon)
    forecasts["climatology"] = climatology_forecast(cube, splits["train"], starts, horizon,
                                                    members, seed=seed)
    scores = {name: evaluate_sst(cube, fc) for name, fc in forecasts.items()}
    save_scores(scores, results)
    plot_forecast(cube, {k: forecasts[k] for k in ("idff", "otcfm", "persistence")},
                  results / "forecast.png")
    table = _table(scores, train_info)
    atomic_write_text(table + "\n", results / "table.md")
    years = cube.years
    atomic_write_json({
        "command": command, "winters": int(cube.data.shape[1]),
        "first_year": int(years.min()), "last_year": int(years.max()),
        "grid": [int(n) for n in cube.mask.shape[1:]], "land_cells": int((~cube.mask).sum()),
        "last_train_year": int(years[splits["train"]].max()),
        "first_test_year": int(years[splits["test"]].min()),
        "train_pairs": len(splits["train"]) - 1, "horizon": horizon, "starts": len(starts),
        "members": members, "nfe_per_lead": nfe, "train": train_info,
    }, results / "setup.json", indent=2)
    echo(table)
    return scores


KIND = RunKind("sst", load=load_sst_model,
               note="Forecast it with 'idff forecast RUN' (idff.experiments.sst.sst_forecast).")
