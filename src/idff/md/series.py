"""The data sources of an MD run (:func:`load_series`): a cached OpenMM simulation, user
trajectory files, the published pickle, or Lorenz-63; split into training trajectories,
the held-out reference, the noise floor and (optionally) a validation trajectory.

Split of simulated data: trajectories ``0 .. n-3`` train, ``n-2`` is the held-out
reference, ``n-1`` a second held-out run that gives the MD noise floor.
"""

from __future__ import annotations

from typing import Any

from idff.md.data import load_published_pickle
from idff.md.dihedrals import load_torsions
from idff.md.simulate import SimulationSettings, simulate
from idff.timeseries.lorenz import lorenz63

__all__ = ["load_series"]


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

