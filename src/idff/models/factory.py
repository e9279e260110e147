"""Build networks from plain JSON-able configs, so checkpoints hold ``state_dict`` + JSON.

A config is a dict with ``"backbone"`` (a registered name), ``"method"`` (``"idff"`` gives
a :class:`TwoHead` with twice the output channels, ``"cfm"`` a plain velocity network),
and the backbone's keyword arguments. New backbones register with :func:`register_backbone`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from idff.models.heads import TwoHead
from idff.models.mlp import MLP

__all__ = ["BACKBONES", "NETWORK_KINDS", "register_backbone", "build_model"]

#: network kinds: two heads (IDFF) or one velocity (every CFM method)
NETWORK_KINDS = ("idff", "cfm")

# name -> builder(out_multiplier, **kwargs) -> backbone
BACKBONES: dict[str, Callable[..., nn.Module]] = {}


def register_backbone(name: str, builder: Callable[..., nn.Module]) -> None:
    """Register ``builder(out_mult: int, **kwargs) -> nn.Module`` under ``name``."""
    BACKBONES[name] = builder


def _mlp(out_mult: int, dim: int, **kw: Any) -> nn.Module:
    return MLP(dim=dim, out_dim=out_mult * dim, **kw)


register_backbone("mlp", _mlp)


def build_model(config: dict[str, Any]) -> nn.Module:
    """Instantiate the network a config describes (see module docstring)."""
    cfg = dict(config)
    name = cfg.pop("backbone", None)
    method = cfg.pop("method", "idff")
    param = cfg.pop("parametrization", "skip")
    split_dim = cfg.pop("split_dim", 1)
    duplicate_input = cfg.pop("duplicate_input", False)
    sigma = cfg.pop("sigma", None)
    if name not in BACKBONES:
        known = ", ".join(sorted(BACKBONES)) or "none"
        raise ValueError(f"unknown backbone {name!r} in the model config; known: {known}.")
    if method not in NETWORK_KINDS:
        raise ValueError(f"unknown network kind model.method={method!r}; choose one of "
                         f"{', '.join(NETWORK_KINDS)}.")
    if method == "cfm":
        return BACKBONES[name](1, **cfg)
    return TwoHead(
        BACKBONES[name](2, **cfg),
        parametrization=param,
        split_dim=split_dim,
        duplicate_input=duplicate_input,
        sigma=sigma,
    )
