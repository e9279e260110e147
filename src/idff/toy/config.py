"""A toy run's config: the method's objective settings, the MLP and the named toy (or a
vector file)."""

from __future__ import annotations

from typing import Any

from idff.errors import ConfigError
from idff.methods import network_kind

__all__ = ["TRAIN_DEFAULTS", "METHOD_DEFAULTS", "toy_run_config"]

#: the training settings of a toy run (``idff train toy``; :class:`~idff.training.TrainConfig`
#: fields): the small-network recipe, a 200-step warm-up and a fast EMA
TRAIN_DEFAULTS = {"steps": 5000, "lr": 1e-3, "warmup": 200, "ema_decay": 0.999, "seed": 0,
                  "ckpt_every": 1000}

#: objective settings per method for toys (docs/METHOD.md, "Path and coupling", "Objective").
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "idff": {"name": "idff", "sigma": 0.2, "flow_weight": 5.0, "coupling": "ot"},
    "otcfm": {"name": "otcfm", "sigma": 0.0, "coupling": "ot"},
    "icfm": {"name": "icfm", "sigma": 0.0, "coupling": "independent"},
}


def toy_run_config(
    method: str,
    dataset: str,
    dim: int = 2,
    hidden: int = 256,
    depth: int = 3,
    parametrization: str | None = None,
    objective: dict[str, Any] | None = None,
    batch_size: int = 256,
) -> dict[str, Any]:
    """The JSON-able description of a toy run.

    IDFF's heads default to ``"velocity"`` (bounded outputs), the best measured on the 2D
    toys (``benchmarks/results/toy_velocity.md``); ``"skip"`` and ``"x1"`` stay available.

    Raises:
        ConfigError: an unknown method, a size (``dim``, ``hidden``, ``depth``,
            ``batch_size``) that is not an integer >= 1, or a ``parametrization`` for a CFM
            method, whose one velocity network has none (it would be dropped).
    """
    network_kind(method)  # an unknown method is a ConfigError, not a KeyError
    for name, value in (("dim", dim), ("hidden", hidden), ("depth", depth),
                        ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}; a network or "
                              "batch of that size has nothing to train.")
    if method != "idff" and parametrization is not None:
        raise ConfigError(
            f"parametrization={parametrization!r} chooses IDFF's two heads; an {method} run "
            "trains one velocity network and would ignore it. Drop it, or use method='idff'.",
            cli=f"--parametrization {parametrization} chooses IDFF's two heads; an {method} run "
                "trains one velocity network and would ignore it. Drop it, or use --method "
                "idff.")
    parametrization = parametrization or "velocity"
    obj = dict(METHOD_DEFAULTS[method])
    obj.update(objective or {})
    model = {
        "backbone": "mlp",
        "method": network_kind(method),
        "dim": dim,
        "hidden": hidden,
        "depth": depth,
    }
    if method == "idff":
        model["parametrization"] = parametrization
        if parametrization == "velocity":
            model["sigma"] = obj["sigma"]
    return {
        "kind": "toy",
        "method": method,
        "objective": obj,
        "model": model,
        "data": {"dataset": dataset, "batch_size": batch_size},
    }
