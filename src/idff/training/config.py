"""The optimisation settings of a run (:class:`TrainConfig`), checked once when built."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from idff.errors import ConfigError

__all__ = ["PRECISIONS", "TrainConfig"]

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Optimisation settings (defaults: the published image recipe; docs/METHOD.md,
    "Optimisation"). For a toy or another small network, give :func:`idff.train_run` a dict
    of changes instead: it starts from the kind's settings (toys: a 200-step warm-up and
    EMA 0.999, :data:`idff.runs.SMALL_TRAIN`).

    ``grad_accum`` micro-batches make one optimizer step; ``precision`` is ``"fp32"``,
    ``"bf16"`` or ``"fp16"`` (autocast, GPU only; fp16 adds loss scaling);
    ``max_minutes`` stops (and saves) after that wall time; ``tensorboard`` writes scalars
    to ``run_dir/tb``; ``sample_every`` is read by sample-grid hooks.
    """

    steps: int = 5000
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup: int = 5000
    grad_clip: float = 1.0
    ema_decay: float = 0.9999
    ema_warmup: bool = True
    seed: int = 0
    log_every: int = 100
    ckpt_every: int = 1000
    max_minutes: float | None = None
    grad_accum: int = 1
    precision: str = "fp32"
    tensorboard: bool = False
    sample_every: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        def bad(key: str, want: str) -> ConfigError:
            return ConfigError(f"train.{key} must be {want}, got {getattr(self, key)!r}.")

        for key in ("steps", "grad_accum", "log_every", "ckpt_every"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise bad(key, "an integer >= 1")
        for key in ("warmup", "seed", "sample_every"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                raise bad(key, "an integer >= 0")
        for key, lo in (("lr", 0.0), ("grad_clip", 0.0)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not lo < v < math.inf:
                raise bad(key, "a finite number > 0")
        if not isinstance(self.weight_decay, numbers.Real) or not 0 <= self.weight_decay < 1e9:
            raise bad("weight_decay", "a finite number >= 0")
        if not 0 <= self.ema_decay < 1:
            raise bad("ema_decay", "in [0, 1)")
        if not isinstance(self.ema_warmup, bool):
            raise bad("ema_warmup", "true or false")
        if self.max_minutes is not None and not (isinstance(self.max_minutes, numbers.Real)
                                                 and 0 < self.max_minutes < math.inf):
            raise bad("max_minutes", "a finite number > 0 (or null)")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r} (train.precision); choose "
                              f"one of {', '.join(PRECISIONS)}.")
