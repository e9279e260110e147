"""The configuration of an MD (or Lorenz-63) run: the methods' objective settings, the
sampling defaults per system, how tables name the methods, :func:`md_run_config` and the
state width of a torsion series (:func:`input_dim`)."""

from __future__ import annotations

from typing import Any

from idff.md.data import cond_dim
from idff.methods import network_kind
from idff.sampling import SamplingConfig

__all__ = ["TRAIN_DEFAULTS", "METHOD_DEFAULTS", "SAMPLING", "LABELS", "md_run_config", "input_dim"]

#: the training settings of an MD or Lorenz-63 run (``idff train md``;
#: :class:`~idff.training.TrainConfig` fields)
TRAIN_DEFAULTS = {"steps": 6000, "lr": 1e-3, "warmup": 200, "ema_decay": 0.999, "seed": 0,
                  "ckpt_every": 1000}

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

