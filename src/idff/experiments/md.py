"""Molecular-dynamics (and Lorenz-63) experiments: data, training, rollout, evaluation.

Shared by ``idff md-simulate``, ``idff train md``, ``idff md-eval`` and
``idff md-benchmark``. A run directory holds the JSON config (model, objective, data
source and split, lag/history/conditioning, sampling defaults) beside the EMA weights,
so evaluation rebuilds everything from the run alone.

Split of simulated data: trajectories ``0 .. n-3`` train, ``n-2`` is the held-out
reference, ``n-1`` a second held-out run that gives the MD noise floor.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from idff.io import atomic_write_json, atomic_write_text
from idff.md.data import TransitionStream, cond_dim, load_published_pickle, make_transitions
from idff.md.dihedrals import from_features, load_torsions, to_features
from idff.md.kinetics import fit_tica, peptide_compare
from idff.md.metrics import compare
from idff.md.rollout import project_circle, rollout
from idff.md.simulate import SimulationSettings, simulate
from idff.methods import make_objective, network_kind
from idff.models import build_model
from idff.run_kind import RunKind, load_weights
from idff.sampling import SamplingConfig
from idff.sampling.registry import parse_grid
from idff.timeseries.lorenz import compare_lorenz, lorenz63
from idff.training import TrainConfig, Trainer
from idff.training.checkpoint import init_from_run

__all__ = ["METHOD_DEFAULTS", "SAMPLING", "PairedObjective", "md_run_config", "load_series",
           "train_md", "load_md_model", "evaluate_md", "evaluate_lorenz", "metric_table"]

#: objective per method for time series (σ = 0.1, w = 2 for MD; docs/METHOD.md, "Path and
#: coupling" and "Objective"). The CFM
#: baseline uses the same (frame k, frame k+τ) pairs: OT re-pairing would mix frames of
#: unrelated times, so the coupling is the dynamics itself.
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "idff": {"name": "idff", "sigma": 0.1, "flow_weight": 2.0, "coupling": "independent"},
    "icfm": {"name": "icfm", "sigma": 0.1, "coupling": "independent"},
}

#: sampling defaults per (system, method): stochastic MD, deterministic Lorenz-63. With
#: x0 = the current state (a point), the score head's target ε/λ_t diverges as t → 0 and
#: is untrained at t = 0 (λ_0 = 0), so fields that call ŝ at t = 0 are avoided: MD uses
#: γ = 1, whose drift (x̂1 − x)/(1 − t) has no score term; Lorenz-63 uses the ddim update,
#: which only uses λ_t ŝ (zero at t = 0). Measured on Lorenz-63 (NFE 4): midpoint on the
#: pf ODE gives JS(x,z) 0.59 and a valid time of 0.36 LT, ddim 0.08 and 1.22 LT.
SAMPLING: dict[str, dict[str, dict[str, Any]]] = {
    "alanine": {
        "idff": {"nfe": 4, "solver": "euler", "gamma": 1.0},
        "icfm": {"nfe": 4, "solver": "midpoint", "gamma": 0.0},
    },
    "lorenz": {
        "idff": {"nfe": 4, "solver": "ddim", "gamma": 0.0},
        "icfm": {"nfe": 4, "solver": "midpoint", "gamma": 0.0},
    },
}

#: how tables name the methods
LABELS = {"idff": "IDFF", "icfm": "I-CFM", "otcfm": "OT-CFM"}


class PairedObjective:
    """Adapt ``objective(model, x1, cond, x0=...)`` to batches whose ``cond`` is ``(x0, c)``."""

    def __init__(self, objective):
        self.objective = objective

    def __call__(self, model: nn.Module, x1: torch.Tensor, cond) -> Any:
        x0, c = cond
        return self.objective(model, x1, c, x0=x0)


def md_run_config(
    method: str,
    data: dict[str, Any],
    lag: int = 1,
    history: int = 0,
    cond: str = "state",
    hidden: int = 256,
    depth: int = 3,
    batch_size: int = 256,
    sampling: dict[str, Any] | None = None,
    sigma: float | None = None,
) -> dict[str, Any]:
    """The JSON-able description of an MD/Lorenz run.

    Args:
        method: ``"idff"`` or ``"icfm"`` (CFM on the same transition pairs).
        data: source description (see :func:`load_series`).
        lag, history, cond: transition pairs (see :func:`idff.md.data.make_transitions`).
        sampling: overrides of the system's default sampling settings
            (:class:`~idff.sampling.SamplingConfig` fields other than method and σ).
        sigma: path noise ``σ`` (IDFF ``σ``, CFM source/path noise) for training and
            sampling; default 0.1, 0 for the Lorenz-63 CFM baseline (docs/METHOD.md,
            "Path and coupling").
    """
    if method not in METHOD_DEFAULTS:
        raise ValueError(f"unknown method {method!r}; choose one of "
                         f"{', '.join(METHOD_DEFAULTS)}.")
    system = data.get("system", "alanine")
    if system not in SAMPLING:
        raise ValueError(f"unknown system {system!r}; choose one of {', '.join(SAMPLING)}.")
    dim = data["dim"]
    obj = dict(METHOD_DEFAULTS[method])
    samp = {**SAMPLING[system][method], **(sampling or {})}
    if system == "lorenz" and method == "icfm":
        obj["sigma"] = 0.0
    if sigma is not None:
        obj["sigma"] = float(sigma)
    model = {
        "backbone": "mlp", "method": network_kind(obj["name"]), "dim": dim,
        "cond_dim": cond_dim(dim, cond, history), "hidden": hidden, "depth": depth,
    }
    if method == "idff":
        model["parametrization"] = "skip"
    return {
        "kind": "md", "method": method, "objective": obj, "model": model,
        "data": {**data, "lag": lag, "history": history, "cond": cond, "batch_size": batch_size},
        "sampling": SamplingConfig.from_dict(
            {**samp, "method": method, "sigma": obj["sigma"]}).knobs(),
    }


def input_dim(series: dict[str, Any]) -> int:
    """The network's state width for a loaded torsion series: (sin, cos) of every torsion."""
    return 2 * series["train"][0].shape[1]


def load_series(data: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    """Load a data source: ``{"train": [...], "reference": arr, "floor": arr | None, ...}``.

    Sources (``data["source"]``):
        ``"simulation"``: ``settings`` (a :class:`SimulationSettings` dict), ``cache``.
        ``"files"``: ``trajectories`` (DCD/XTC paths), ``topology``, ``frame_ps``; the last
            one (or two) are held out as reference (and floor).
        ``"pickle"``: ``path``, ``units``, ``frame_ps``, ``train_fraction``: the first part
            of the one trajectory trains, the rest is the reference.
        ``"lorenz"``: ``n_train``, ``n_test``, ``dt``, ``seed``.

    Series are angles in degrees ``(T, K)`` (periodic) or standardised states (Lorenz).
    The last two trajectories are the held-out reference and noise floor; with
    ``data["validation"]`` the one before them is held out too, as ``"validation"`` (to
    choose sampling settings on; :func:`run_md_benchmark`).
    """
    src = data.get("source")
    if src == "simulation":
        res = simulate(SimulationSettings(**data["settings"]), data.get("cache", "cache/md"),
                       progress=progress)
        series, dt = list(res.angles), res.frame_ps
    elif src == "files":
        paths = data["trajectories"]
        if len(paths) < 2:
            raise ValueError("give at least two trajectories: one to train, one held out.")
        series = [load_torsions(p, data["topology"])[0] for p in paths]
        dt = float(data.get("frame_ps", 1.0))
    elif src == "pickle":
        angles, _ = load_published_pickle(data["path"], data.get("units", "degrees"))
        cut = int(len(angles) * float(data.get("train_fraction", 0.8)))
        series, dt = [angles[:cut], angles[cut:]], float(data.get("frame_ps", 1.0))
    elif src == "lorenz":
        dt = float(data.get("dt", 0.02))
        seed = int(data.get("seed", 0))
        train = lorenz63(int(data.get("n_train", 20000)), dt, seed=seed)
        tests = [lorenz63(int(data.get("n_test", 5000)), dt, seed=seed + 1 + i) for i in range(2)]
        mean, std = train.mean(0), train.std(0)
        return {"train": [(train - mean) / std], "reference": (tests[0] - mean) / std,
                "floor": (tests[1] - mean) / std, "dt": dt, "periodic": False, "scale": std,
                "names": ["x", "y", "z"]}
    else:
        raise ValueError(
            f"unknown data source {src!r}; use 'simulation', 'files', 'pickle' or 'lorenz'."
        )
    val = None
    if data.get("validation"):
        if len(series) < 4:
            raise ValueError(f"a validation trajectory needs at least 4 trajectories (train, "
                             f"validation, reference, floor); got {len(series)}.")
        val, series = series[-3], series[:-3] + series[-2:]
    if len(series) >= 3:
        train, ref, floor = series[:-2], series[-2], series[-1]
    else:
        train, ref, floor = series[:-1], series[-1], None
    return {"train": train, "reference": ref, "floor": floor, "validation": val, "dt": dt,
            "periodic": True}


def _transitions(cfg: dict[str, Any], series: dict[str, Any]):
    d = cfg["data"]
    return make_transitions(series["train"], d["lag"], d["history"], d["cond"],
                            periodic=series["periodic"], index_scale=d.get("index_scale"))


def train_md(run_config: dict[str, Any], out: str | Path, train: TrainConfig,
             series: dict[str, Any] | None = None, progress: bool = True,
             device: str | torch.device = "cpu", resume: bool | str = False,
             init_from: str | Path | None = None) -> nn.Module:
    """Train the run a config describes; return the EMA model (``resume``: see
    :class:`~idff.training.Trainer`; ``init_from``: start from another run's weights)."""
    torch.manual_seed(train.seed)
    series = series or load_series(run_config["data"], progress)
    d = run_config["data"]
    d.setdefault("index_scale", float(max(len(s) for s in series["train"])))
    pairs = _transitions(run_config, series)
    model = build_model(run_config["model"])
    if init_from is not None:
        init_from_run(model, run_config, init_from)
    objective = PairedObjective(make_objective(run_config["objective"]))
    stream = TransitionStream(pairs, d["batch_size"], seed=train.seed)
    trainer = Trainer(model, objective, stream, train, out, run_config, progress=progress,
                      device=device, resume=resume)
    return trainer.fit()


def load_md_model(run_dir: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the EMA model of an MD/Lorenz run directory."""
    return load_weights(run_dir, "md")


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


def evaluate_lorenz(
    run_dir: str | Path,
    n_starts: int = 50,
    horizon_lt: float = 3.0,
    free_steps: int = 5000,
    seed: int = 0,
    series: dict[str, Any] | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
    **overrides: Any,
) -> dict[str, Any]:
    """Forecasts from ``n_starts`` points of the held-out trajectory, and a free rollout
    (sampling: the run's, changed by ``overrides``)."""
    from idff.timeseries.lorenz import LYAPUNOV_EXPONENT

    model, cfg = load_md_model(run_dir)
    model = model.to(device)
    d = cfg["data"]
    series = series or load_series(d, progress)
    lag, h = d["lag"], d["history"]
    sampling = SamplingConfig.from_run(cfg, **overrides)
    ref, dt = series["reference"], series["dt"] * lag
    horizon = int(round(horizon_lt / (LYAPUNOV_EXPONENT * dt))) + 1
    sub = ref[::lag]
    starts = np.linspace(h, len(sub) - horizon - 1, n_starts).astype(int)
    windows = torch.as_tensor(np.stack([sub[s - h:s + 1] for s in starts]), dtype=torch.float32)
    g = torch.Generator(device=device).manual_seed(seed)
    fc = rollout(model, windows.to(device), horizon, sampling, cond=d["cond"], lag=lag,
                 index_scale=d.get("index_scale", 1.0), project=None, generator=g)
    truth = np.stack([sub[s:s + horizon + 1] for s in starts])
    n_free = min(free_steps, len(sub) - 1 - h)
    free, used = _generate(model, cfg, sub[:h + 1], n_free, 1, sampling, False, seed + 1, h,
                           progress, device)
    scale = np.ones(3)  # states are standardised
    rows = [{"label": f"{LABELS[cfg['method']]} (NFE {used}/step)",
             **compare_lorenz(fc.states.numpy(), truth, free[0], sub[h:h + n_free + 1], dt, scale)}]
    floor = series["floor"][::lag][: n_free + 1]
    from idff.timeseries.lorenz import invariant_js

    rows.append({"label": "true system, second trajectory (floor)",
                 **invariant_js(floor, sub[h:h + n_free + 1])})
    return {"rows": rows, "nfe": used, "forecast": fc.states.numpy(), "truth": truth,
            "free": free[0], "reference": sub, "config": cfg}


def metric_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """Markdown table: ``columns`` are ``(key, header, format)``; ``±sd`` shown when present."""
    head = "| method | " + " | ".join(c[1] for c in columns) + " |"
    sep = "|---|" + "---|" * len(columns)
    lines = [head, sep]
    for r in rows:
        cells = []
        for key, _, fmt in columns:
            v = r.get(key)
            if v is None or (isinstance(v, float) and not np.isfinite(v)):
                cells.append("–")
                continue
            cell = format(v, fmt)
            sd = r.get(key + "_sd")
            if sd is not None and np.isfinite(sd):
                cell += f" ± {format(sd, fmt)}"
            cells.append(cell)
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_json(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented JSON (NaN kept as ``NaN``)."""
    atomic_write_json(obj, path, indent=2, default=float)


MD_COLUMNS = [
    ("cc", "CC ↑", ".3f"), ("rmse", "RMSE (°) ↓", ".1f"), ("mae", "MAE (°) ↓", ".1f"),
    ("js_rama", "JS Rama ↓", ".3f"), ("js_phi", "JS φ ↓", ".3f"), ("js_psi", "JS ψ ↓", ".3f"),
    ("pop_abs_err", "Σ|Δpop| ↓", ".3f"),
]
KINETIC_COLUMNS = [
    ("pop_C7eq", "p(C7eq/C5)", ".3f"), ("pop_aR", "p(αR)", ".3f"), ("pop_aL", "p(C7ax/αL)", ".3f"),
    ("k_C7eq_aR", "k C7eq→αR (1/ns)", ".1f"), ("k_aR_C7eq", "k αR→C7eq (1/ns)", ".1f"),
    ("k_to_aL", "k →αL (1/ns)", ".2f"), ("act_phi", "τ_φ (ps)", ".1f"),
    ("act_psi", "τ_ψ (ps)", ".1f"),
]
#: several residues (idff.md.kinetics); JS are divergences in bits
PEPTIDE_COLUMNS = [
    ("js_torsion", "JS torsion ↓", ".3f"), ("js_rama_res", "JS Rama/residue ↓", ".3f"),
    ("js_tica", "JS TICA 1-2 ↓", ".3f"), ("msm_pop_err", "Σ|Δpop| MSM ↓", ".3f"),
    ("mfpt_factor", "MFPT factor ↓", ".2f"), ("mfpt_worst", "worst MFPT factor", ".1f"),
    ("decorr_factor", "decorrelation factor ↓", ".2f"),
]
LORENZ_COLUMNS = [
    ("err_1lt", "error @1 LT ↓", ".3f"), ("err_2lt", "error @2 LT ↓", ".3f"),
    ("err_3lt", "error @3 LT ↓", ".3f"), ("valid_lt", "valid time (LT) ↑", ".2f"),
    ("js_xz", "JS (x,z) ↓", ".3f"), ("js_x", "JS x ↓", ".3f"), ("js_z", "JS z ↓", ".3f"),
]


def benchmark_tables(rows: list[dict[str, Any]],
                     lorenz_rows: list[dict[str, Any]] | None = None) -> list[str]:
    """The benchmark's tables, as ``md-eval`` prints them: structure, states and rates (of the
    first residue), and, when the rows carry them (systems with several residues), the
    kinetics of :mod:`idff.md.kinetics`; then Lorenz-63."""
    tables = [metric_table(rows, MD_COLUMNS), metric_table(rows, KINETIC_COLUMNS)]
    if any("js_torsion" in r for r in rows):
        tables.append(metric_table(rows, PEPTIDE_COLUMNS))
    if lorenz_rows:
        tables.append(metric_table(lorenz_rows, LORENZ_COLUMNS))
    return tables


#: what the validation choice of sampler ranks (lower is better): the multi-residue targets
#: when the system has them, else the dipeptide's distribution and populations
SELECT_METRICS = (("js_rama_res", "msm_pop_err", "mfpt_factor"), ("js_rama", "pop_abs_err"))


def select_md_sampling(rows: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Choose among validation rows ``{candidate: row}``: the lowest mean rank over
    :data:`SELECT_METRICS` (the first set every row has; NaN ranks last); ties go to the
    earlier candidate (docs/METHOD.md, "Molecular dynamics: the time grid chosen on a
    validation trajectory"). Returns the candidate and
    ``{"metrics": [...], "ranks": {candidate: mean rank}}``.

    Raises:
        ValueError: no candidates, or rows without the metrics.
    """
    if not rows:
        raise ValueError("select_md_sampling needs at least one candidate.")
    metrics = next((m for m in SELECT_METRICS if all(k in r for r in rows.values() for k in m)),
                   None)
    if metrics is None:
        raise ValueError("the validation rows lack the selection metrics "
                         f"({' or '.join(', '.join(m) for m in SELECT_METRICS)}).")
    names = list(rows)
    ranks = np.zeros(len(names))
    for k in metrics:  # a metric that could not be computed (NaN) ranks last
        v = np.array([rows[n][k] for n in names], float)
        v = np.where(np.isfinite(v), v, np.inf)
        ranks += v.argsort(kind="stable").argsort(kind="stable")
    ranks /= len(metrics)
    best = names[int(np.argmin(ranks))]
    return best, {"metrics": list(metrics), "ranks": dict(zip(names, ranks.tolist()))}


def run_md_benchmark(
    out: str | Path,
    settings: SimulationSettings,
    runs: str | Path = "runs/md",
    cache: str | Path = "cache/md",
    steps: int = 4000,
    nfes: tuple[int, ...] = (2, 4),
    n_rollouts: int = 4,
    lag: int = 2,
    history: int = 1,
    sigmas: tuple[float, ...] = (0.1, 0.3, 1.0),
    seed: int = 0,
    lorenz: bool = True,
    command: str = "",
    echo=print,
    progress: bool = True,
    grids: tuple[str, ...] = ("uniform",),
) -> dict[str, Any]:
    """Simulate (cached), train IDFF and the CFM baseline, evaluate; write ``metrics.json``
    (every number and setting, and ``command``), ``table.md`` and the figures into ``out``.

    Every ``σ`` in ``sigmas`` trains one IDFF and one CFM model (same network, data and
    steps); every model is rolled out at every NFE in ``nfes``. With several ``grids``
    (``"uniform"``, ``"power:0.7"``, ...) one more trajectory is held out for validation
    (before the reference and floor), and each model and NFE samples on the grid
    :func:`select_md_sampling` picks there. ``benchmarks/md_readme.py`` turns
    ``metrics.json`` into the results README.

    Raises:
        ValueError: a bad grid, or too few trajectories for a validation split.
    """
    import time

    from idff.md.plots import plot_ramachandran, plot_torsion_series
    from idff.timeseries.lorenz import plot_lorenz

    grid_overrides = {g: parse_grid(g) for g in grids}
    select = len(grid_overrides) > 1
    out, runs = Path(out), Path(runs)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    data = {"source": "simulation", "system": "alanine", "settings": asdict(settings),
            "cache": str(cache), **({"validation": True} if select else {})}
    echo(f"simulating (cached in {cache}) ...")
    series = load_series(data, progress)
    data["dim"] = input_dim(series)  # 4 for the dipeptide, 12 for the tetrapeptide
    t_sim = time.perf_counter() - t_start
    train_cfg = TrainConfig(steps=steps, lr=1e-3, warmup=min(200, steps), ema_decay=0.999,
                            seed=seed, log_every=200, ckpt_every=max(steps, 1))
    timings = {"simulation_s": t_sim}
    rows, floor_rows, first = [], [], {}
    selection: list[dict[str, Any]] = []
    for sigma in sigmas:
        for method in ("idff", "icfm"):
            cfg = md_run_config(method, data, lag=lag, history=history, sigma=sigma)
            name = f"alanine-{method}-sigma{sigma:g}-{settings.key()}-lag{lag}-h{history}"
            name += "-val" if select else ""  # trained without the validation trajectory
            run_dir = runs / f"{name}-s{seed}-n{steps}"
            t0 = time.perf_counter()
            echo(f"training {method} σ={sigma:g} -> {run_dir}")
            train_md(cfg, run_dir, train_cfg, series=series, progress=progress, resume="auto")
            timings[f"train_{method}_{sigma:g}_s"] = time.perf_counter() - t0
            for nfe in nfes:
                t0 = time.perf_counter()
                over: dict[str, Any] = {}
                if select:
                    val = {g: evaluate_md(run_dir, n_rollouts, seed + 1, series=series,
                                          progress=progress, split="validation", nfe=nfe,
                                          **o)["rows"][0]
                           for g, o in grid_overrides.items()}
                    chosen, info = select_md_sampling(val)
                    over = grid_overrides[chosen]
                    selection.append({"method": method, "sigma": sigma, "nfe": nfe,
                                      "chosen": chosen, **info,
                                      "rows": {g: {k: r[k] for k in info["metrics"]}
                                               for g, r in val.items()}})
                    echo(f"{LABELS[method]} σ={sigma:g} NFE {nfe}: grid {chosen} chosen on "
                         "the validation trajectory")
                r = evaluate_md(run_dir, n_rollouts, seed, series=series, progress=progress,
                                nfe=nfe, **over)
                timings[f"eval_{method}_{sigma:g}_nfe{nfe}_s"] = time.perf_counter() - t0
                rows.append(r["rows"][0])
                floor_rows = r["rows"][1:]
                first[(method, sigma)] = r  # figures show the largest NFE
    rows += floor_rows
    any_r = next(iter(first.values()))
    ref, floor, dt = any_r["reference"], any_r["floor"], any_r["dt_ps"]
    panels = {"MD held-out reference": ref}
    if floor is not None:
        panels["MD second run (floor)"] = floor
    for (method, sigma), r in first.items():
        panels[f"{LABELS[method]} σ={sigma:g} (NFE {r['nfe']}, {n_rollouts} rollouts)"] = (
            r["generated"])
    plot_ramachandran(panels, out / "ramachandran.png")
    ts = {"MD reference": ref}
    ts.update({f"{LABELS[m]} σ={s:g}": r["generated"][0] for (m, s), r in first.items()})
    plot_torsion_series(ts, dt, out / "torsions.png")
    lz = None
    if lorenz:
        lz = run_lorenz_benchmark(out / "lorenz", runs, steps=steps, nfe=max(nfes), seed=seed,
                                  echo=echo, progress=progress)
        plot_lorenz({"true (held-out)": lz["idff"]["reference"][:5000],
                     f"IDFF (NFE {lz['idff']['nfe']})": lz["idff"]["free"],
                     f"I-CFM (NFE {lz['icfm']['nfe']})": lz["icfm"]["free"]}, out / "lorenz.png")
        timings["lorenz_s"] = lz["seconds"]
    timings["total_s"] = time.perf_counter() - t_start
    save_json({"rows": rows, "lorenz": lz["rows"] if lz else None, "timings": timings,
               "settings": asdict(settings), "lag": lag, "history": history, "steps": steps,
               "nfes": list(nfes), "sigmas": list(sigmas), "rollouts": n_rollouts,
               "train_trajectories": len(series["train"]),
               "reference_frames": len(series["reference"]), "command": command,
               "grids": list(grids), "selection": selection},
              out / "metrics.json")
    tables = benchmark_tables(rows, lz["rows"] if lz else None)
    if selection:  # before the Lorenz table, which stays last
        tables.insert(len(tables) - 1 if lz else len(tables), selection_table(selection))
    atomic_write_text("\n\n".join(tables) + "\n", out / "table.md")
    for table in tables[:-1] if lz else tables:  # the Lorenz table was printed with its run
        echo(table)
    return {"rows": rows, "timings": timings, "tables": tables}


def selection_table(selection: list[dict[str, Any]]) -> str:
    """Markdown: every model's validation candidates, their metrics and the choice."""
    metrics = selection[0]["metrics"]
    out = ["**grid chosen on the validation trajectory** (lowest mean rank over "
           + ", ".join(metrics) + ")", "",
           "| model | NFE | grid | " + " | ".join(metrics) + " | mean rank | chosen |",
           "|---|---|---|" + "---:|" * len(metrics) + "---:|:---:|"]
    for sel in selection:
        for g, r in sel["rows"].items():
            out.append(f"| {LABELS[sel['method']]} σ={sel['sigma']:g} | {sel['nfe']} | {g} | "
                       + " | ".join(f"{r[k]:.3f}" for k in metrics)
                       + f" | {sel['ranks'][g]:.2f} | "
                       + ("**yes**" if g == sel["chosen"] else "") + " |")
    return "\n".join(out)


def run_lorenz_benchmark(out: str | Path, runs: str | Path = "runs/md", steps: int = 4000,
                         nfe: int = 4, lag: int = 1, history: int = 0, seed: int = 0,
                         echo=print, progress: bool = True) -> dict[str, Any]:
    """Lorenz-63 through the same pipeline: train IDFF and I-CFM, forecast and roll out freely."""
    import time

    t0 = time.perf_counter()
    data = {"source": "lorenz", "system": "lorenz", "n_train": 20000, "n_test": 6000,
            "dt": 0.02, "seed": seed, "dim": 3}
    series = load_series(data, progress)
    train_cfg = TrainConfig(steps=steps, lr=1e-3, warmup=min(200, steps), ema_decay=0.999,
                            seed=seed, log_every=200, ckpt_every=max(steps, 1))
    res: dict[str, Any] = {}
    for method in ("idff", "icfm"):
        cfg = md_run_config(method, data, lag=lag, history=history, sampling={"nfe": nfe})
        cfg["data"]["periodic"] = False
        run_dir = Path(runs) / f"lorenz-{method}-lag{lag}-h{history}-s{seed}-n{steps}"
        echo(f"training {method} on Lorenz-63 -> {run_dir}")
        train_md(cfg, run_dir, train_cfg, series=series, progress=progress, resume="auto")
        res[method] = evaluate_lorenz(run_dir, seed=seed, series=series, progress=progress,
                                      nfe=nfe)
    rows = [res["idff"]["rows"][0], res["icfm"]["rows"][0], res["idff"]["rows"][1]]
    res["rows"] = rows
    res["seconds"] = time.perf_counter() - t0
    Path(out).mkdir(parents=True, exist_ok=True)
    atomic_write_text(metric_table(rows, LORENZ_COLUMNS) + "\n", Path(out) / "table.md")
    echo(metric_table(rows, LORENZ_COLUMNS))
    return res


KIND = RunKind("md", load=load_md_model,
               note="Roll it out with 'idff md-eval RUN' (idff.experiments.md.evaluate_md).")
