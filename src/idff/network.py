"""What idff asks of a network, checked where a network enters the library.

Every network is called as ``net(t, x)`` or ``net(t, x, cond)`` (docs/METHOD.md, "Heads"):
time first, as in the paper. An IDFF network returns the two heads ``(x̂1, ŝ)`` (a
:class:`~idff.models.TwoHead` around a backbone); a CFM network returns one velocity. A
:class:`~idff.models.TwoHead` carries the path noise σ it was built for, so objectives and
fields read σ from the model, and a different σ given anywhere else is an error
(:func:`resolve_sigma`). The checks here turn the usual mistakes, which otherwise surface
as shape errors deep inside a solver, into one-line :class:`~idff.errors.ConfigError`\\ s
that name the fix.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import Tensor, nn

from idff.errors import ConfigError

__all__ = ["unwrap", "model_sigma", "resolve_sigma", "check_call_order", "as_two_heads",
           "as_velocity", "DEFAULT_SIGMA"]

#: σ of a two-head network that does not carry one (the toys' and the published value)
DEFAULT_SIGMA = 0.2

#: attributes through which wrappers reach the network they wrap: ``NFECounter.net``,
#: ``GuidedNet.net``, ``DistributedDataParallel.module``, ``AveragedModel.module``,
#: ``torch.compile``'s ``_orig_mod``
_WRAPPED = ("_orig_mod", "module", "net")

_X_NAMES = {"x", "xt", "x_t", "sample", "samples", "z", "input", "inputs", "noisy", "y"}
_T_NAMES = {"t", "time", "times", "timestep", "timesteps", "tau"}


def _is_two_head(net: Any) -> bool:
    return hasattr(net, "parametrization") and hasattr(net, "backbone")


def unwrap(net: Any, depth: int = 6) -> Any:
    """The innermost two-head network inside known wrappers, else ``net`` itself."""
    cur = net
    for _ in range(depth):
        if _is_two_head(cur):
            return cur
        inner = next((getattr(cur, a) for a in _WRAPPED if isinstance(getattr(cur, a, None),
                                                                       nn.Module)), None)
        if inner is None:
            break
        cur = inner
    return cur if _is_two_head(cur) else net


def model_sigma(net: Any) -> float | None:
    """The σ a two-head network was built for, or ``None`` when it carries none."""
    inner = unwrap(net)
    sigma = getattr(inner, "sigma", None) if _is_two_head(inner) else None
    return None if sigma is None else float(sigma)


def resolve_sigma(given: float | None, net: Any, where: str) -> float:
    """The σ to use with ``net``: the model's when ``given`` is ``None``.

    Args:
        given: the σ passed to the objective, field or sampling config (``None``: not given).
        net: the network.
        where: what ``given`` was passed to, for the message (``"IDFFObjective(sigma=...)"``).

    Raises:
        ConfigError: ``given`` and the model's σ differ (naming both values).
    """
    own = model_sigma(net)
    if given is None:
        return DEFAULT_SIGMA if own is None else own
    if own is not None and abs(float(given) - own) > 1e-12:
        raise ConfigError(
            f"{where} has sigma={float(given):g} but the network was built for sigma={own:g} "
            f"(TwoHead(..., sigma={own:g})); σ is the network's: leave sigma unset to use it, or "
            "build the network with the σ you want."
        )
    return float(given)


def check_call_order(net: nn.Module, who: str) -> None:
    """Refuse a module whose ``forward`` takes ``(x, t, ...)``: idff calls ``net(t, x, cond)``.

    Only the parameter names are read (``x``/``sample`` first and ``t``/``timestep`` second
    is the flow_matching and diffusers order); nothing is called.

    Raises:
        ConfigError: naming :class:`~idff.models.XTAdapter`, which converts the order.
    """
    fwd = getattr(net, "forward", None)
    if fwd is None or getattr(net, "_idff_order_ok", False):
        return
    try:
        params = [p.name for p in inspect.signature(fwd).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return
    if len(params) >= 2 and params[0].lower() in _X_NAMES and params[1].lower() in _T_NAMES:
        raise ConfigError(
            f"{type(net).__name__}.forward takes ({params[0]}, {params[1]}, ...), but {who} "
            "calls the network as net(t, x, cond); wrap it: idff.models.XTAdapter(net)."
        )


def as_two_heads(out: Any, who: str) -> tuple[Tensor, Tensor]:
    """``out`` as IDFF's heads ``(x̂1, ŝ)``.

    Raises:
        ConfigError: the network returned something else (a plain tensor: no ``TwoHead``).
    """
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return out[0], out[1]
    got = (f"a tensor of shape {tuple(out.shape)}" if isinstance(out, Tensor)
           else f"{type(out).__name__}")
    raise ConfigError(
        f"{who} needs a two-head network returning (x̂1, ŝ), but it returned {got}; wrap the "
        "backbone: idff.models.TwoHead(net) (with twice the output channels), or train a "
        "velocity network with CFMObjective."
    )


def as_velocity(out: Any, who: str) -> Tensor:
    """``out`` as a velocity tensor.

    Raises:
        ConfigError: the network returned IDFF's two heads (a ``TwoHead``).
    """
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)):
        raise ConfigError(
            f"{who} needs a velocity network returning one tensor, but it returned "
            f"{len(out)} outputs (a TwoHead's x̂1 and ŝ); use IDFFObjective/IDFFField for a "
            "TwoHead, or pass the backbone itself (with the data's channel count as output)."
        )
    raise ConfigError(f"{who} needs a network returning a tensor, got {type(out).__name__}.")
