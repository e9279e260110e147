"""Method presets: which objective trains a network and which field samples it.

``"idff"`` trains two heads with :class:`~idff.objective.IDFFObjective`; ``"otcfm"`` and
``"icfm"`` train a velocity network with :class:`~idff.objective.CFMObjective` under OT
or independent coupling. Configs are plain dicts so they round-trip through JSON.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from idff.fields import CFMField, Field, IDFFField
from idff.objective import CFMObjective, IDFFObjective

__all__ = ["METHOD_NAMES", "make_objective", "make_sampling_field", "network_kind"]

METHOD_NAMES = ("idff", "otcfm", "icfm")


def _check(name: str) -> None:
    if name not in METHOD_NAMES:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHOD_NAMES)}.")


def network_kind(name: str) -> str:
    """``"idff"`` for two-head networks, ``"cfm"`` for velocity networks."""
    _check(name)
    return "idff" if name == "idff" else "cfm"


def make_objective(cfg: dict[str, Any]):
    """Build the training objective from ``{"name": ..., **options}``."""
    cfg = dict(cfg)
    name = cfg.pop("name")
    _check(name)
    if name == "idff":
        return IDFFObjective(**cfg)
    cfg.setdefault("coupling", "ot" if name == "otcfm" else "independent")
    cfg.pop("flow_weight", None)
    return CFMObjective(sigma=cfg.get("cfm_sigma", 0.0), coupling=cfg["coupling"])


def make_sampling_field(
    name: str,
    net: nn.Module,
    field: str = "pf",
    sigma: float = 0.2,
    gamma: float = 0.0,
    s: float = 0.0,
    sde: bool = False,
    cond: Tensor | None = None,
) -> Field:
    """The field that samples a network trained by method ``name``.

    For IDFF, ``field`` is ``"pf"`` (default) or ``"published"``; CFM methods ignore it.
    """
    _check(name)
    if name == "idff":
        return IDFFField(net, kind=field, sigma=sigma, gamma=gamma, s=s, sde=sde, cond=cond)
    return CFMField(net, cond=cond)
