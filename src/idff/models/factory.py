"""Build networks from plain JSON-able configs, so checkpoints hold ``state_dict`` + JSON.

A config is a dict with ``"backbone"`` (a registered name), ``"method"`` (``"idff"`` gives
a :class:`TwoHead` with twice the output channels, ``"cfm"`` a plain velocity network),
and the backbone's keyword arguments. New backbones register with :func:`register_backbone`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from idff.errors import ConfigError, unknown_key_message
from idff.models.heads import TwoHead
from idff.models.mlp import MLP

__all__ = ["BACKBONES", "NETWORK_KINDS", "register_backbone", "build_model"]

#: network kinds: two heads (IDFF) or one velocity (every CFM method)
NETWORK_KINDS = ("idff", "cfm")

# name -> builder(out_multiplier, **kwargs) -> backbone
BACKBONES: dict[str, Callable[..., nn.Module]] = {}
# name -> the model-config keys the backbone accepts (None: not checked)
_ACCEPTS: dict[str, set[str] | None] = {}


def _keywords(fn: Callable) -> tuple[set[str], bool]:
    params = inspect.signature(fn).parameters.values()
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names - {"self", "out_mult"}, any(p.kind == p.VAR_KEYWORD for p in params)


def register_backbone(name: str, builder: Callable[..., nn.Module],
                      accepts: type | Callable | None = None) -> None:
    """Register ``builder(out_mult: int, **kwargs) -> nn.Module`` under ``name``.

    ``accepts``: the class (or function) the builder forwards its ``**kwargs`` to; its
    parameters are then the keys a model config may hold, and any other key is refused with
    the closest valid one.
    """
    BACKBONES[name] = builder
    keys, open_ = _keywords(builder)
    if open_ and accepts is not None:
        more, open_ = _keywords(accepts)
        keys |= more
    _ACCEPTS[name] = None if open_ else keys


def _mlp(out_mult: int, dim: int, **kw: Any) -> nn.Module:
    return MLP(dim=dim, out_dim=out_mult * dim, **kw)


register_backbone("mlp", _mlp, accepts=MLP)


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
    allowed = _ACCEPTS.get(name)
    if allowed is not None:
        for k in cfg:
            if k not in allowed:
                extra = {"backbone", "method", "parametrization", "split_dim", "duplicate_input",
                         "sigma"}
                raise ConfigError(unknown_key_message(k, "model", allowed | extra))
    if method == "cfm":
        return BACKBONES[name](1, **cfg)
    return TwoHead(
        BACKBONES[name](2, **cfg),
        parametrization=param,
        split_dim=split_dim,
        duplicate_input=duplicate_input,
        sigma=sigma,
    )
