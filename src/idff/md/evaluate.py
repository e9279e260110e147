"""Evaluating an MD run (``idff md-eval``): rollouts from the held-out reference's start,
scored one by one against it (structure, states, rates and, for several residues, the
kinetics of :mod:`idff.md.kinetics`), beside the MD noise floor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from idff.md.config import LABELS
from idff.md.dihedrals import from_features, to_features
from idff.md.kinetics import fit_tica, peptide_compare
from idff.md.metrics import compare
from idff.md.rollout import project_circle, rollout
from idff.md.series import load_series
from idff.md.train import load_md_model
from idff.sampling import SamplingConfig

__all__ = ["evaluate_md"]


def _features(a: np.ndarray, periodic: bool) -> np.ndarray:
    return to_features(a) if periodic else np.asarray(a, float)


def _generate(model, cfg, start_window: np.ndarray, n_steps: int, n_rollouts: int,
              sampling: SamplingConfig, periodic: bool, seed: int, start_index: int,
              progress: bool, device: str | torch.device = "cpu") -> tuple[np.ndarray, int]:
    d = cfg["data"]
    w = torch.as_tensor(_features(start_window, periodic), dtype=torch.float32)
    w = w[None].repeat(n_rollouts, 1, 1).to(device)
    g = torch.Generator(device=device).manual_seed(seed)  # on the CPU: torch.Generator()
    res = rollout(model, w, n_steps, sampling, cond=d["cond"], start_index=start_index,
                  lag=d["lag"], index_scale=d.get("index_scale", 1.0),
                  project=project_circle if periodic else None, generator=g,
                  progress=progress)
    x = res.states.numpy()
    return (from_features(x) if periodic else x), res.nfe_per_frame


def evaluate_md(
    run_dir: str | Path,
    n_rollouts: int = 4,
    seed: int = 0,
    series: dict[str, Any] | None = None,
    max_frames: int | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
    split: str = "reference",
    **overrides: Any,
) -> dict[str, Any]:
    """Roll a trained run out from the held-out reference's start and score it
    (``split="validation"``: against the validation trajectory instead, without a floor).

    ``n_rollouts`` independent rollouts, each as long as the reference (at stride
    ``lag``), are scored one by one against the reference and averaged; the second
    held-out MD run, scored the same way, is the noise floor. ``overrides`` (``nfe=``,
    ``solver=``, ...; ``None`` keeps the value) change the run's sampling settings.

    Returns:
        ``{"rows": [...], "generated": (R, T, K) angles, "reference": (T, K),
        "floor": (T, K) | None, "nfe": int, "dt_ps": float}``.
    """
    model, cfg = load_md_model(run_dir)
    model = model.to(device)
    d = cfg["data"]
    series = series or load_series(d, progress)
    if not series["periodic"]:
        raise ValueError(f"{run_dir} is a Lorenz-63 run; evaluate it with evaluate_lorenz.")
    lag, h = d["lag"], d["history"]
    sampling = SamplingConfig.from_run(cfg, **overrides)
    if split not in ("reference", "validation"):
        raise ValueError(f"split must be 'reference' or 'validation', got {split!r}.")
    if split == "validation" and series.get("validation") is None:
        raise ValueError(f"{run_dir} was trained without a validation trajectory; train it "
                         "with a validation split (md-benchmark --grids with several grids).")
    ref_full = series[split]
    if max_frames:
        ref_full = ref_full[:max_frames]
    first = lag * h
    ref = ref_full[first::lag]
    n_steps = len(ref) - 1
    if n_steps < 1:
        raise ValueError(
            f"the reference has {len(ref_full)} frames, too few for lag {lag} and history {h}."
        )
    window = ref_full[0:first + 1:lag]
    gen, used = _generate(model, cfg, window, n_steps, n_rollouts, sampling, True, seed, first,
                          progress, device)
    dt = series["dt"] * lag
    per = [compare(g, ref, dt) for g in gen]
    tica = None
    if ref.shape[1] >= 4:  # several residues: MDGen's metrics too (idff.md.kinetics)
        tica = fit_tica([to_features(s[::lag]) for s in series["train"]], 1)
        for p, g in zip(per, gen):
            p.update(peptide_compare(g, ref, dt, tica=tica))
    grid = "" if sampling.grid == "uniform" else (
        f", power ρ={sampling.rho:g}" if sampling.grid == "power" else f", {sampling.grid} grid")
    label = f"{LABELS[cfg['method']]} σ={sampling.sigma:g} (NFE {used}/frame{grid})"
    if d["cond"] == "index":
        label += " [frame-index cond]"
    elif h != 1:
        label += f" [history {h}]"
    rows = [_summarise(label, per)]
    floor = None
    if split == "reference" and series.get("floor") is not None:
        floor = series["floor"][:len(ref_full)][first::lag][: len(ref)]
        if len(floor) == len(ref):
            fl = compare(floor, ref, dt)
            if tica is not None:
                fl.update(peptide_compare(floor, ref, dt, tica=tica))
            rows.append(_summarise("MD, second run (noise floor)", [fl]))
    self_row = _summarise("MD, held-out reference", [compare(ref, ref, dt)])
    for k in ("cc", "rmse", "mae", "js_rama", "js_phi", "js_psi", "pop_abs_err"):
        self_row.pop(k, None)
        self_row.pop(k + "_sd", None)
    rows.append(self_row)
    return {"rows": rows, "generated": gen, "reference": ref, "floor": floor, "nfe": used,
            "dt_ps": dt, "config": cfg}


def _summarise(label: str, per: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"label": label, "n": len(per)}
    for k in per[0]:
        v = np.array([p[k] for p in per], float)
        row[k] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
        if len(per) > 1:
            row[k + "_sd"] = float(np.nanstd(v)) if np.isfinite(v).any() else float("nan")
    return row

