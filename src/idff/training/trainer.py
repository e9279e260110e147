"""One training loop for every data type.

The loop knows a model, an objective ``loss(model, x1, cond) -> LossOutput`` and an
iterable of ``(x1, cond)`` batches; it never knows the formulation. It keeps an EMA
copy, warms the learning rate up linearly, clips gradients, and writes resumable,
atomic checkpoints (see :mod:`idff.training.checkpoint`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from idff.training.checkpoint import STATE, atomic_save, load_state, save_snapshot

__all__ = ["TrainConfig", "Trainer"]


@dataclass
class TrainConfig:
    """Optimisation settings (defaults: the published image recipe, spec §3)."""

    steps: int = 5000
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup: int = 5000
    grad_clip: float = 1.0
    ema_decay: float = 0.9999
    seed: int = 0
    log_every: int = 100
    ckpt_every: int = 1000
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}.")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}.")


def _cycle(data: Iterable) -> Iterator:
    while True:
        empty = True
        for batch in data:
            empty = False
            yield batch
        if empty:
            raise ValueError("the training data yielded no batch; check the dataset and batch size.")


def _split(batch) -> tuple[torch.Tensor, Any]:
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


class Trainer:
    """Train ``model`` with ``objective`` on ``data``, saving into ``run_dir``.

    Args:
        model: the network (two-head for IDFF, velocity for CFM).
        objective: callable ``(model, x1, cond) -> LossOutput``.
        data: iterable of ``x1`` or ``(x1, cond)`` batches; cycled forever.
        config: optimisation settings.
        run_dir: output folder (``config.json``, ``snapshot.pt``, ``state.pt``, ``log.jsonl``).
        run_config: the JSON-able description of the run (model, method, data), saved as
            ``config.json`` beside the weights.
        device: where to train.
        on_log: optional callback ``(step, metrics_dict)``.
    """

    def __init__(
        self,
        model: nn.Module,
        objective: Callable,
        data: Iterable,
        config: TrainConfig,
        run_dir: str | Path,
        run_config: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
        on_log: Callable[[int, dict], None] | None = None,
        progress: bool = True,
    ):
        self.model = model.to(device)
        self.objective = objective
        self.data = data
        self.config = config
        self.run_dir = Path(run_dir)
        self.run_config = dict(run_config or {})
        self.run_config["train"] = asdict(config)
        self.device = torch.device(device)
        self.on_log = on_log
        self.progress = progress
        self.ema = AveragedModel(
            self.model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True
        )
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        warm = max(config.warmup, 1)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min(1.0, (s + 1) / warm)
        )
        self.step = 0

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict(),
            "ema_n_averaged": self.ema.n_averaged,
            "optim": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
            "step": self.step,
            "rng": torch.get_rng_state(),
        }

    def save(self) -> None:
        """Write the resume state and the inference snapshot atomically."""
        atomic_save(self.state_dict(), self.run_dir / STATE)
        save_snapshot(self.run_dir, self.ema.module.state_dict(), self.run_config, self.step)

    def resume(self) -> bool:
        """Restore the resume state of ``run_dir`` if there is one; return whether it did."""
        state = load_state(self.run_dir)
        if state is None:
            return False
        self.model.load_state_dict(state["model"])
        self.ema.module.load_state_dict(state["ema"])
        self.ema.n_averaged.copy_(state["ema_n_averaged"])
        self.opt.load_state_dict(state["optim"])
        self.sched.load_state_dict(state["sched"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"])
        return True

    # -- loop ----------------------------------------------------------------------------
    def train_step(self, x1: torch.Tensor, cond: Any) -> dict[str, float]:
        self.model.train()
        out = self.objective(self.model, x1, cond)
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        gnorm = nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.opt.step()
        self.sched.step()
        self.ema.update_parameters(self.model)
        self.step += 1
        metrics = out.items()
        metrics["grad_norm"] = float(gnorm)
        metrics["lr"] = self.sched.get_last_lr()[0]
        return metrics

    def fit(self) -> nn.Module:
        """Train until ``config.steps``; return the EMA model. Resumes if a state exists."""
        if self.step == 0 and not self.resume():
            torch.manual_seed(self.config.seed)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        batches = _cycle(self.data)
        bar = tqdm(
            total=self.config.steps, initial=self.step, disable=not self.progress,
            desc=self.run_dir.name, dynamic_ncols=True,
        )
        log = open(self.run_dir / "log.jsonl", "a")
        t0, n0 = time.perf_counter(), self.step
        try:
            while self.step < self.config.steps:
                x1, cond = _split(next(batches))
                x1 = x1.to(self.device, non_blocking=True)
                if torch.is_tensor(cond):
                    cond = cond.to(self.device, non_blocking=True)
                try:
                    metrics = self.train_step(x1, cond)
                except FloatingPointError as e:
                    raise FloatingPointError(
                        f"step {self.step + 1}: {e} The last good checkpoint in {self.run_dir} "
                        "was kept."
                    ) from e
                bar.update(1)
                if self.step % self.config.log_every == 0 or self.step == self.config.steps:
                    rate = (self.step - n0) / max(time.perf_counter() - t0, 1e-9)
                    metrics["steps_per_s"] = rate
                    bar.set_postfix(loss=f"{metrics['loss']:.4f}", it_s=f"{rate:.1f}")
                    log.write(json.dumps({"step": self.step, **metrics}) + "\n")
                    log.flush()
                    if self.on_log:
                        self.on_log(self.step, metrics)
                if self.step % self.config.ckpt_every == 0:
                    self.save()
            self.save()
        finally:
            bar.close()
            log.close()
        return self.ema.module
