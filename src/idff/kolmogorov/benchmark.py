"""The Kolmogorov-flow benchmark (``idff kolmogorov-benchmark``): train IDFF, OT-CFM and a
deterministic UNet with the same network and budget (in parallel processes if asked),
choose each ensemble forecaster's time grid on the validation trajectories, forecast the
test trajectories, run long free rollouts, score every forecaster against persistence,
climatology and the physics ensemble, and write the tables and figures. Every stage is
cached under the runs folder, so a rerun only computes what changed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from idff.errors import ConfigError
from idff.kolmogorov.config import kolmogorov_run_config, load_data
from idff.kolmogorov.data import default_root
from idff.kolmogorov.forecast import (
    Forecast,
    _truth,
    climatology_forecast,
    forecast_starts,
    learned_forecast,
    persistence_forecast,
    physics_forecast,
)
from idff.kolmogorov.longrun import LONG_FRAMES, free_rollout, long_rollout_score
from idff.kolmogorov.report import (
    long_table,
    plot_calibration,
    plot_fields,
    plot_long,
    plot_scores,
    selection_table,
    tables,
)
from idff.kolmogorov.scores import score
from idff.kolmogorov.train import load_kolmogorov_model, train_kolmogorov
from idff.sampling import SamplingConfig
from idff.sampling.registry import parse_grid
from idff.threads import choose_threads
from idff.training import TrainConfig

__all__ = ["SELECT_GRIDS", "SSR_BAND", "select_sampling", "run_benchmark"]


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

    from idff.io import atomic_write_json

    clock = run / "train_time.json"
    spent = (json.loads(clock.read_text())["seconds"] if clock.is_file() else 0.0) + seconds
    atomic_write_json({"seconds": spent}, clock)
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


def _train_job(config: dict[str, Any], run: Path, train: TrainConfig, device: str,
               progress: bool, threads: int | None) -> float:
    """Train (or resume) one forecaster; return the wall seconds (a worker of
    :func:`run_benchmark`'s parallel training)."""
    if threads:
        choose_threads(threads)
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
