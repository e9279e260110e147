"""One optimizer step of the trainer: gradient accumulation over micro-batches (no DDP sync
but on the last), mixed precision (autocast, fp16 loss scaling) and the NaN/inf checks that
stay on the device until a logging or checkpoint step reads them.

:class:`TrainStep` is a base of :class:`~idff.training.Trainer`; it uses the trainer's
``model``, ``net`` (the wrapped network), ``objective``, ``opt``, ``sched``, ``ema``,
``dist``, ``config`` and ``device``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from idff.finite import Check, deferred_checks

__all__ = ["TrainStep", "precision_setup"]


def precision_setup(precision: str, device: torch.device
                    ) -> tuple[torch.dtype | None, torch.amp.GradScaler]:
    """The autocast dtype (``None``: fp32) and loss scaler of ``train.precision`` on
    ``device``: mixed precision on CUDA only, loss scaling for fp16 only."""
    amp = precision != "fp32" and device.type == "cuda"
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision) if amp else None
    return dtype, torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)


def _split(batch) -> tuple[torch.Tensor, Any]:
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


class TrainStep:
    """The step of :class:`~idff.training.Trainer` (see the module docstring)."""

    def _autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast("cuda", dtype=self.autocast_dtype)

    def train_step(self, x1: torch.Tensor, cond: Any) -> dict[str, Any]:
        """One optimizer step on one batch (see :meth:`train_micro_steps`)."""
        return self.train_micro_steps([(x1, cond)])

    def train_micro_steps(self, micro: list[tuple[torch.Tensor, Any]]) -> dict[str, Any]:
        """One optimizer step accumulating gradients over ``micro`` batches.

        Nothing here waits for the device. The returned ``loss``, ``flow``, ``score`` and
        ``grad_norm`` are 0-d tensors on the device (``float()`` reads one); ``lr`` is a
        float. A non-finite loss or gradient norm is recorded on the device and raised by
        :meth:`check_finite` (which :meth:`fit` calls on logging and checkpoint steps).
        """
        self.model.train()
        # DDP keeps gradients as views of its buckets (distributed.py): zero them in place
        self.opt.zero_grad(set_to_none=not _grads_are_bucket_views(self.net))
        terms = None
        with deferred_checks() as checks:  # the data and loss NaN checks, kept on the device
            for k, (x1, cond) in enumerate(micro):
                sync = k == len(micro) - 1 or not self.dist.distributed
                ctx = nullcontext() if sync else self.net.no_sync()
                with ctx:
                    with self._autocast():
                        out = self.objective(self.net, x1, cond)
                    self.scaler.scale(out.loss / len(micro)).backward()
                part = out.terms() / len(micro)
                terms = part if terms is None else terms + part
        self.scaler.unscale_(self.opt)
        gnorm = nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self._record_faults(checks, terms[0], gnorm)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        self.ema.update_parameters(self.model)
        self.step += 1
        # this process's values; averaged over processes when logged
        metrics: dict[str, Any] = {"loss": terms[0], "flow": terms[1], "score": terms[2]}
        metrics["grad_norm"] = gnorm.detach()
        metrics["lr"] = self.sched.get_last_lr()[0]
        return metrics

    def _record_faults(self, checks: list[Check], loss: torch.Tensor,
                       gnorm: torch.Tensor) -> None:
        """Remember, on the device, the first failed check of the first step that had one.

        Checks: those the objective deferred (finite data, finite loss), then a finite
        loss (for objectives without their own check) and, unless fp16 loss scaling
        handles it by skipping the step, a finite gradient norm.
        """
        checks = [*checks, Check(torch.isfinite(loss), loss, _loss_error)]
        if not self.scaler.is_enabled():
            gnorm = gnorm.detach().float()
            checks.append(Check(torch.isfinite(gnorm), gnorm, _gnorm_error))
        self._checks = checks
        bad = ~torch.stack([c.ok for c in checks])
        zero = torch.zeros((), device=loss.device)
        values = torch.stack([zero if c.value is None else c.value.float() for c in checks])
        first = bad.int().argmax()
        # gather, not values[first]: indexing by a 0-d device tensor may read it on the host
        here = torch.stack([torch.full_like(zero, self.step + 1), (first + 1).float(),
                            values.gather(0, first.reshape(1))[0]])
        self._fault = torch.where((self._fault[0] == 0) & bad.any(), here, self._fault)

    def check_finite(self) -> None:
        """Raise the error of the first failed NaN/inf check since the last call (reads the
        device; a collective under DDP).

        Raises:
            FloatingPointError: ``step N: the IDFF loss is not finite (nan); ...`` (or the
                gradient norm); ValueError: ``step N: x1 contains NaN or inf values; ...``.
        """
        step, index, value = self._fault.tolist()
        if not self.dist.any(step > 0):
            return
        if step == 0:
            raise FloatingPointError(f"step {self.step}: the loss is not finite on another "
                                     "process.")
        error = self._checks[int(index) - 1].error(value)
        raise type(error)(f"step {int(step)}: {error}")

    def _next_micro(self, batches: Iterator) -> list[tuple[torch.Tensor, Any]]:
        out = []
        for _ in range(self.config.grad_accum):
            x1, cond = _split(next(batches))
            x1 = x1.to(self.device, non_blocking=True)
            if torch.is_tensor(cond):
                cond = cond.to(self.device, non_blocking=True)
            out.append((x1, cond))
        return out



def _loss_error(value: float) -> FloatingPointError:
    from idff.objective import nonfinite_message

    return FloatingPointError(nonfinite_message("loss", value))


def _gnorm_error(value: float) -> FloatingPointError:
    return FloatingPointError("the gradient norm is not finite; lower the learning rate or "
                              "check the data.")


def _grads_are_bucket_views(net: nn.Module) -> bool:
    inner = getattr(net, "_orig_mod", net)  # through torch.compile's wrapper
    return bool(getattr(inner, "gradient_as_bucket_view", False))
