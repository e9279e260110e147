"""Method presets: which objective trains a network (sampling: :mod:`idff.sampling`).

``"idff"`` trains two heads with :class:`~idff.objective.IDFFObjective`; ``"otcfm"`` and
``"icfm"`` train a velocity network with :class:`~idff.objective.CFMObjective` under OT
or independent coupling. ``sigma`` is the path noise of every method. Configs are plain
dicts so they round-trip through JSON.
"""

from __future__ import annotations

import inspect
from typing import Any

from idff.errors import ConfigError, unknown_key_message
from idff.objective import CFMObjective, IDFFObjective
from idff.sampling import METHOD_NAMES

__all__ = ["METHOD_NAMES", "make_objective", "network_kind", "objective_keys", "check_sigma"]

#: objective keys a CFM method accepts (IDFF-only keys are tolerated so that one preset
#: section serves every method; they have no effect on a velocity network)
_IDFF_ONLY = ("flow_weight", "flow_weighting", "score_target")


def _check(name: str) -> None:
    if name not in METHOD_NAMES:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHOD_NAMES)}.")


def network_kind(name: str) -> str:
    """``"idff"`` for two-head networks, ``"cfm"`` for velocity networks."""
    _check(name)
    return "idff" if name == "idff" else "cfm"


def objective_keys(name: str) -> list[str]:
    """The keys an objective section of method ``name`` accepts (besides ``name``)."""
    _check(name)
    cls = IDFFObjective if name == "idff" else CFMObjective
    keys = [k for k in inspect.signature(cls.__init__).parameters if k != "self"]
    return keys if name == "idff" else keys + list(_IDFF_ONLY)


def make_objective(cfg: dict[str, Any]):
    """Build the training objective from ``{"name": ..., **options}``.

    Raises:
        ConfigError: an unknown method or key (naming the closest valid key).
    """
    cfg = dict(cfg)
    name = cfg.pop("name")
    _check(name)
    allowed = objective_keys(name)
    for k in cfg:
        if k not in allowed:
            raise ConfigError(unknown_key_message(k, "objective", allowed))
    if name == "idff":
        return IDFFObjective(**cfg)
    for k in _IDFF_ONLY:
        cfg.pop(k, None)
    cfg.setdefault("coupling", "ot" if name == "otcfm" else "independent")
    return CFMObjective(**cfg)


def check_sigma(config: dict[str, Any]) -> None:
    """Refuse a run config whose two-head network and objective name different σ.

    ``model.sigma`` (the heads' σ) and ``objective.sigma`` (the path's) must agree for IDFF:
    the network would otherwise be trained, or sampled, on another path than its heads
    assume.

    Raises:
        ConfigError: naming both values.
    """
    model, obj = config.get("model") or {}, config.get("objective") or {}
    if model.get("method", "idff") != "idff" or "sigma" not in model or "sigma" not in obj:
        return
    if model["sigma"] is None or float(model["sigma"]) == float(obj["sigma"]):
        return
    raise ConfigError(
        f"model.sigma={float(model['sigma']):g} but objective.sigma={float(obj['sigma']):g}: "
        "the heads and the path share one σ; set both to the same value (or set only "
        "objective.sigma, which the heads then take)."
    )
