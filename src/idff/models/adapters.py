"""Use a network written for another library's call order (``forward(x, t, **extras)``).

idff calls networks as ``net(t, x, cond)`` (time first, docs/METHOD.md, "Heads");
flow_matching's ``ModelWrapper`` and diffusers' UNets take ``(x, t, **extras)``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

__all__ = ["XTAdapter"]


class XTAdapter(nn.Module):
    """Call ``module(x, t, **extras)`` where idff calls ``net(t, x, cond)``.

    The time convention is idff's (``t = 0`` noise, ``t = 1`` data, ``t`` in ``[0, 1]``,
    shape ``(B,)``), the same as flow_matching's; ``time_scale`` multiplies ``t`` for
    networks trained on another range (diffusers' ``1000`` timesteps, say). An output with
    a ``.sample`` attribute (diffusers' output objects) is unwrapped.

    Args:
        module: the network, ``module(x, t, **extras) -> y``.
        cond: the keyword under which idff's ``cond`` is passed (``"class_labels"`` for a
            diffusers UNet, ``"extra"``-style names for others); ``None`` refuses a ``cond``.
        time_scale: factor applied to ``t`` before the call.
        **extras: fixed keyword arguments passed on every call.

    Example::

        net = TwoHead(XTAdapter(my_unet))      # my_unet.forward(x, t)
    """

    _idff_order_ok = True

    def __init__(self, module: nn.Module, cond: str | None = "cond", time_scale: float = 1.0,
                 **extras: Any):
        super().__init__()
        self.module = module
        self.cond_name = cond
        self.time_scale = float(time_scale)
        self.extras = extras

    def forward(self, t: Tensor, x: Tensor, cond: Any = None) -> Tensor:
        kw = dict(self.extras)
        if cond is not None:
            if self.cond_name is None:
                raise ValueError("this XTAdapter passes no conditioning (cond=None); build it "
                                 "with XTAdapter(module, cond='name_of_the_keyword').")
            kw[self.cond_name] = cond
        out = self.module(x, t * self.time_scale if self.time_scale != 1.0 else t, **kw)
        return getattr(out, "sample", out)
