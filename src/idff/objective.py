"""Training objectives: IDFF and the (OT-)CFM baselines (docs/METHOD.md, "Objective", "Baselines").

An objective is a callable ``loss(model, x1, cond=None, x0=None) -> LossOutput``; the
training loop never needs to know which method it trains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from idff.coupling import COUPLINGS, couple
from idff.finite import require_finite
from idff.network import as_two_heads, as_velocity, check_call_order, resolve_sigma
from idff.path import CFMPath, IDFFPath, expand_t

__all__ = [
    "LossOutput",
    "nonfinite_message",
    "IDFFObjective",
    "implied_velocity",
    "CFMObjective",
    "FLOW_WEIGHTINGS",
    "SCORE_TARGETS",
]

FLOW_WEIGHTINGS = ("none", "velocity", "clipped", "cfm")
SCORE_TARGETS = ("eps", "x0")


@dataclass
class LossOutput:
    """Total loss and its terms (scalars); ``flow``/``score`` are unweighted means."""

    loss: Tensor
    flow: Tensor
    score: Tensor

    def terms(self) -> Tensor:
        """``(loss, flow, score)`` as one detached float32 tensor on the loss's device
        (no host synchronisation)."""
        return torch.stack([self.loss.detach().float(), self.flow.detach().float(),
                            self.score.detach().float().to(self.loss.device)])

    def items(self) -> dict[str, float]:
        """The terms as Python floats (one host synchronisation)."""
        loss, flow, score = self.terms().tolist()
        return {"loss": loss, "flow": flow, "score": score}


def nonfinite_message(what: str, value: float) -> str:
    """The error for a non-finite loss (``what``: ``"IDFF loss"``, ...)."""
    return (f"the {what} is not finite ({value}); lower the learning rate, enable gradient "
            "clipping, or check the data for NaN/inf.")


def _check_finite(loss: Tensor, what: str) -> None:
    # deferred (read later, without stalling the device) inside idff.finite.deferred_checks
    require_finite(loss, lambda value: FloatingPointError(nonfinite_message(what, value)))


def _mean_per_sample(x: Tensor) -> Tensor:
    return x.flatten(1).mean(1)


def _draw(
    x1: Tensor,
    x0: Tensor | None,
    coupling: str,
    generator: torch.Generator | None,
    t_max: float = 1.0,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Source (``N(0, I)`` unless given), coupled pairs, times ``U[0, t_max]`` and noise."""
    for name, x in (("x1", x1), ("x0", x0)):
        if x is not None and not (torch.is_tensor(x) and x.is_floating_point()):
            what = f"{x.dtype} tensor" if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"the training data {name} is a {what}; the objective needs a "
                             f"floating-point tensor: pass {name}.float() (images scaled to "
                             "[-1, 1]).")
    x0 = torch.randn_like(x1) if x0 is None else x0
    x0, x1 = couple(x0, x1, coupling, generator=generator)
    kw = {"device": x1.device, "dtype": x1.dtype, "generator": generator}
    t = torch.rand(x1.shape[0], **kw) * t_max
    eps = torch.randn(x1.shape, **kw)
    return x0, x1, t, eps


def implied_velocity(x1_hat: Tensor, score: Tensor, xt: Tensor, t: Tensor) -> Tensor:
    """``D̂ = (x̂1 − x_t)/(1 − t) − 2t·ŝ``: the heads' estimate of ``E[x1 − x0 | x_t]``.

    Exact for any parametrization at the optimal heads (docs/METHOD.md, "Objective");
    ``1 − t`` is floored at ``1e-4``.
    """
    tt = expand_t(t, xt)
    return (x1_hat - xt) / (1 - tt).clamp(min=1e-4) - 2 * tt * score


def _check_coupling(coupling: str) -> None:
    """Refuse an unknown coupling when the objective is built, not at its first batch."""
    if coupling not in COUPLINGS:
        raise ValueError(f"unknown coupling {coupling!r}; choose one of "
                         f"{', '.join(COUPLINGS)}.")


class IDFFObjective:
    """``L = w·E‖x̂1 − x1‖² + E‖λ_t ŝ + ε‖²``, ``λ_t = 2σ_t/σ²`` (docs/METHOD.md, "Objective").

    Squared norms are averaged over elements. ``x̂1`` enters through whatever
    parametrization the model's :class:`~idff.models.TwoHead` uses.

    Args:
        sigma: training noise ``σ`` of the path; ``None`` (default): the σ the network
            carries (``TwoHead(..., sigma=σ)``), or 0.2 for a network that carries none. A σ
            other than the network's is refused (:func:`idff.network.resolve_sigma`).
        flow_weight: ``w`` (5 for 2D toys, 2 for images, SST and MD).
        coupling: ``"independent"`` or ``"ot"`` (exact minibatch OT).
        score_target: ``"eps"`` (default) or ``"x0"`` (the published image script).
        flow_weighting: per-time weight of the flow term. ``"none"`` (published),
            ``"velocity"``: ``1/(1-t)²`` (velocity-space error), ``"clipped"``:
            ``min(1/(1-t)², max_weight)``. Weights are normalised to mean 1 per batch.
            ``"cfm"``: the flow term becomes the CFM velocity loss ``‖D̂ − (x1 − x0)‖²``
            on the heads' implied velocity ``D̂ = (x̂1 − x_t)/(1 − t) − 2t·ŝ``
            (``E[x1 − x0 | x_t]`` at the optimum, so the minimiser is unchanged), uniform
            in ``t`` as in CFM; with ``parametrization="velocity"`` ``D̂`` is the
            network's ``D`` output (docs/METHOD.md, "Objective").
        max_weight: the cap of ``"clipped"``.
        t_eps: times are drawn uniformly from ``[0, 1 - t_eps]``.
    """

    def __init__(
        self,
        sigma: float | None = None,
        flow_weight: float = 2.0,
        coupling: str = "independent",
        score_target: str = "eps",
        flow_weighting: str = "none",
        max_weight: float = 100.0,
        t_eps: float = 0.0,
    ):
        if score_target not in SCORE_TARGETS:
            raise ValueError(f"unknown score_target {score_target!r}; choose 'eps' or 'x0'.")
        if flow_weighting not in FLOW_WEIGHTINGS:
            raise ValueError(
                f"unknown flow_weighting {flow_weighting!r}; "
                f"choose one of {', '.join(FLOW_WEIGHTINGS)}."
            )
        _check_coupling(coupling)
        for name, v in (("flow_weight", flow_weight), ("max_weight", max_weight)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                    not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}.")
        if max_weight != 100.0 and flow_weighting != "clipped":
            raise ValueError(f"max_weight={max_weight!r} would change nothing: it caps the "
                             f"'clipped' flow weighting, and flow_weighting is "
                             f"{flow_weighting!r}; add flow_weighting='clipped'.")
        if isinstance(t_eps, bool) or not isinstance(t_eps, (int, float)) or \
                not 0 <= t_eps < 1:
            raise ValueError(f"t_eps must be in [0, 1): times are drawn from [0, 1 - t_eps]; "
                             f"got {t_eps!r}.")
        self.sigma = None if sigma is None else float(sigma)
        self.path = IDFFPath(0.2 if sigma is None else sigma)
        self._checked: int | None = None
        self.flow_weight = float(flow_weight)
        self.coupling = coupling
        self.score_target = score_target
        self.flow_weighting = flow_weighting
        self.max_weight = float(max_weight)
        self.t_eps = float(t_eps)

    def path_for(self, model: nn.Module) -> IDFFPath:
        """The path of ``model``'s σ (see ``sigma``); checks the network once per model.

        Raises:
            ConfigError: the network's σ differs from ``sigma``, or it takes ``(x, t)``.
        """
        if self._checked != id(model):
            check_call_order(model, "IDFFObjective")
            sigma = resolve_sigma(self.sigma, model, "IDFFObjective(sigma=...)")
            if sigma != self.path.sigma:
                self.path = IDFFPath(sigma)
            self._checked = id(model)
        return self.path

    def flow_weights(self, t: Tensor) -> Tensor:
        """Per-sample weight of the flow term, normalised to mean 1 (``(B,)``)."""
        if self.flow_weighting in ("none", "cfm"):
            return torch.ones_like(t)
        w = 1.0 / (1 - t).clamp(min=1e-4) ** 2
        if self.flow_weighting == "clipped":
            w = w.clamp(max=self.max_weight)
        return w / w.mean()

    def __call__(
        self,
        model: nn.Module,
        x1: Tensor,
        cond: Tensor | None = None,
        x0: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> LossOutput:
        """Compute the loss on a batch.

        Args:
            model: two-head network ``model(t, x, cond) -> (x̂1, ŝ)``.
            x1: targets ``(B, ...)``.
            cond: optional conditioning.
            x0: sources; ``N(0, I)`` draws when omitted (generation).
        """
        path = self.path_for(model)
        x0, x1, t, eps = _draw(x1, x0, self.coupling, generator, 1 - self.t_eps)
        ps = path.sample(x0, x1, t, eps)
        out = model(t, ps.xt, cond) if cond is not None else model(t, ps.xt)
        x1_hat, score = as_two_heads(out, "IDFFObjective")
        if self.flow_weighting == "cfm":
            d_hat = implied_velocity(x1_hat, score, ps.xt, t)
            flow_err = _mean_per_sample((d_hat - (x1 - x0)) ** 2)
        else:
            flow_err = _mean_per_sample((x1_hat - x1) ** 2)
        target = eps if self.score_target == "eps" else x0
        lam = path.lambda_t(expand_t(t, x1))
        score_err = _mean_per_sample((lam * score + target) ** 2)
        flow = (self.flow_weights(t) * flow_err).mean()
        score_term = score_err.mean()
        loss = self.flow_weight * flow + score_term
        _check_finite(loss, "IDFF loss")
        return LossOutput(loss=loss, flow=flow_err.mean().detach(), score=score_term.detach())


class CFMObjective:
    """(OT-)CFM: ``E‖v_θ(t, x_t) − (x1 − x0)‖²`` on ``x_t = t x1 + (1−t) x0 + σε``
    (docs/METHOD.md, "Baselines").

    Args:
        sigma: path noise (0 gives I-CFM / rectified flow).
        coupling: ``"independent"`` (I-CFM) or ``"ot"`` (OT-CFM).
    """

    def __init__(self, sigma: float = 0.0, coupling: str = "independent"):
        _check_coupling(coupling)
        self.path = CFMPath(sigma)
        self.coupling = coupling
        self._checked: int | None = None

    def __call__(
        self,
        model: nn.Module,
        x1: Tensor,
        cond: Tensor | None = None,
        x0: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> LossOutput:
        if self._checked != id(model):  # once per model, not on every step
            check_call_order(model, "CFMObjective")
            self._checked = id(model)
        x0, x1, t, eps = _draw(x1, x0, self.coupling, generator)
        ps = self.path.sample(x0, x1, t, eps)
        v = as_velocity(model(t, ps.xt, cond) if cond is not None else model(t, ps.xt),
                        "CFMObjective")
        err = ((v - CFMPath.target(ps)) ** 2).mean()
        _check_finite(err, "CFM loss")
        zero = torch.zeros((), device=x1.device)
        return LossOutput(loss=err, flow=err.detach(), score=zero)
