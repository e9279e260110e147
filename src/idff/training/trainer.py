"""One training loop for every data type.

The loop knows a model, an objective ``loss(model, x1, cond) -> LossOutput`` and an
iterable of ``(x1, cond)`` batches; it never knows the formulation. It keeps an EMA
copy, warms the learning rate up linearly, clips gradients, and writes resumable,
atomic checkpoints (see :mod:`idff.training.checkpoint`).

A step never waits for the device: loss terms, the gradient norm and a "first non-finite
step" record stay on it and are read on logging and checkpoint steps only, so a non-finite
loss stops training at the next of those steps (never after a checkpoint of bad weights).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from idff.accel import channels_last_if_useful
from idff.errors import TrainingInterrupted
from idff.finite import Check
from idff.io import atomic_save, atomic_write_json, atomic_write_text
from idff.run_config import LAYOUT
from idff.runlock import folder_lock
from idff.threads import check_threads, using_threads
from idff.training.checkpoint import (
    CONFIG,
    STATE,
    RunError,
    check_resume_config,
    claim_run_dir,
    load_state,
    load_state_dict_checked,
    remove_stale_tmp,
    save_snapshot,
)
from idff.training.config import TrainConfig
from idff.training.distributed import DistContext
from idff.training.ema import EMA
from idff.training.step import TrainStep, precision_setup

__all__ = ["TrainConfig", "Trainer"]


def _cycle(data: Iterable) -> Iterator:
    while True:
        empty = True
        for batch in data:
            empty = False
            yield batch
        if empty:
            raise ValueError(
                "the training data yielded no batch; check the dataset and batch size."
            )


class Trainer(TrainStep):
    """Train ``model`` with ``objective`` on ``data``, saving into ``run_dir``.

    Args:
        model: the network (two-head for IDFF, velocity for CFM).
        objective: callable ``(model, x1, cond) -> LossOutput``.
        data: iterable of ``x1`` or ``(x1, cond)`` batches; cycled forever. If it has
            ``state_dict``/``load_state_dict`` (position in the epoch), resuming continues
            from the same batch.
        config: optimisation settings.
        run_dir: output folder (``config.json``, ``snapshot.safetensors``, ``state.pt``,
            ``log.jsonl``).
        run_config: the JSON-able description of the run (model, method, data), saved as
            ``config.json`` beside the weights.
        device: where to train (ignored when ``dist`` is given).
        on_log: optional callback ``(step, metrics_dict)``.
        dist: a :class:`~idff.training.distributed.DistContext` for DDP (``torchrun``);
            only rank 0 writes files, every rank keeps identical weights.
        resume: ``False`` (default): ``run_dir`` must hold no run; ``True``: continue the
            run saved there (its ``state.pt``); ``"auto"``: continue it if there is one
            (see :func:`~idff.training.checkpoint.claim_run_dir`).
        compile: ``torch.compile`` the network for the training step (on CUDA the
            weights are also stored ``channels_last``). Not part of the run's settings: a
            run may be resumed with or without it.
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
        dist: DistContext | None = None,
        resume: bool | str = False,
        compile: bool = False,
        threads: int | None = None,
    ):
        self.threads = check_threads(threads)
        self.resume_mode = resume
        self.dist = dist or DistContext(device=torch.device(device))
        self.device = self.dist.device
        self.model = model.to(self.device)
        if compile:
            # before DDP builds its buckets, so that gradients, parameters and bucket
            # views share one memory format
            self.model = channels_last_if_useful(self.model, self.device)
        self.net = self.dist.wrap(self.model)
        if compile:
            self.net = torch.compile(self.net)
        self.objective = objective
        self.data = data
        self.config = config
        self.run_dir = Path(run_dir)
        self.run_config = dict(run_config or {})
        self.run_config["layout"] = LAYOUT  # the config layout this code writes (run_config.py)
        self.run_config["train"] = {**self.run_config.get("train", {}), **asdict(config)}
        self.on_log = on_log
        self.progress = progress
        self.ema = EMA(self.model, config.ema_decay, config.ema_warmup)
        # fused: one kernel for the whole update and the step counts on the device (the
        # for-loop version reads them with .item() every step)
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
            fused=self.device.type in ("cuda", "cpu"),
        )
        warm = max(config.warmup, 1)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min(1.0, (s + 1) / warm)
        )
        self.autocast_dtype, self.scaler = precision_setup(config.precision, self.device)
        self.step = 0
        # [step, 1 + index of the failed check, checked value] of the first step since
        # the last read with a failed check; zeros while none (see check_finite)
        self._fault = torch.zeros(3, device=self.device)
        self._checks: list[Check] = []

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict(),
            "ema_n_averaged": self.ema.n_averaged,
            "optim": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "rng": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if hasattr(self.data, "state_dict"):
            state["data"] = self.data.state_dict()
        return state

    def save(self) -> None:
        """Write the resume state and the inference snapshot atomically (rank 0 only)."""
        if self.is_main:
            atomic_save(self.state_dict(), self.run_dir / STATE)
            save_snapshot(self.run_dir, self.ema.module.state_dict(), self.run_config, self.step)
        self.dist.barrier()

    def resume(self) -> bool:
        """Restore the resume state of ``run_dir`` if there is one; return whether it did.

        Raises:
            RunError: the run was trained with other settings (see
                :func:`~idff.training.checkpoint.check_resume_config`), or its state is
                incomplete or unreadable.
        """
        if not (self.run_dir / STATE).is_file():
            return False
        self._keep_record()
        self._keep_old_ema()
        check_resume_config(self.run_dir, self.run_config)
        state = load_state(self.run_dir)
        if int(state["step"]) > self.config.steps:
            raise RunError(
                f"{self.run_dir} is at step {int(state['step'])}; train.steps="
                f"{self.config.steps} is lower, and the weights cannot go back. Give steps >= "
                f"{int(state['step'])}, or fine-tune into another folder.",
                cli=f"{self.run_dir} is at step {int(state['step'])}; --steps "
                    f"{self.config.steps} is lower, and the weights cannot go back. Give "
                    f"--steps {int(state['step'])} or more, or choose another --out.")
        where = str(self.run_dir / STATE)
        load_state_dict_checked(self.model, state["model"], where)
        load_state_dict_checked(self.ema.module, state["ema"], where + " (EMA)")
        self.ema.load_count(int(state["ema_n_averaged"]))
        self.opt.load_state_dict(state["optim"])
        self.sched.load_state_dict(state["sched"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        if self.dist.rank:  # rank 0's RNG was saved; others derive distinct streams from it
            torch.manual_seed(self.config.seed + 1_000_003 * self.dist.rank + self.step)
        if "data" in state and hasattr(self.data, "load_state_dict"):
            self.data.load_state_dict(state["data"])
        return True

    def _keep_record(self) -> None:
        """A resumed run keeps the ``init_from`` record of the run that started it."""
        try:
            old = json.loads((self.run_dir / CONFIG).read_text())
        except (OSError, ValueError):
            return  # a missing or broken config is reported by check_resume_config
        if isinstance(old, dict) and "init_from" in old and "init_from" not in self.run_config:
            self.run_config["init_from"] = old["init_from"]

    def _keep_old_ema(self) -> None:
        """A run started before the EMA warm-up existed continues without it (exactly)."""
        try:
            old = json.loads((self.run_dir / CONFIG).read_text())
        except (OSError, ValueError):
            return
        train = old.get("train") if isinstance(old, dict) else None
        if isinstance(train, dict) and "ema_warmup" not in train:
            self.config.ema_warmup = False
            self.ema.warmup = False
            self.run_config["train"]["ema_warmup"] = False

    # -- loop ----------------------------------------------------------------------------
    def _trim_log(self) -> None:
        """Drop log lines past the resumed step (and torn lines), so steps never repeat."""
        path = self.run_dir / "log.jsonl"
        if not path.is_file():
            return
        keep = []
        for line in path.read_text().splitlines():
            try:
                if int(json.loads(line)["step"]) <= self.step:
                    keep.append(line)
            except (ValueError, KeyError, TypeError):
                continue
        atomic_write_text("".join(f"{line}\n" for line in keep), path)

    def _install_signal_handlers(self) -> dict:
        """SIGINT/SIGTERM ask the loop to save and stop (a second SIGINT stops at once)."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        self._signal = None

        def handler(signum, frame):
            if self._signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self._signal = signum

        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
        return old

    def fit(self) -> nn.Module:
        """Train until ``config.steps``; return the EMA model. Resumes if a state exists.

        On SIGINT or SIGTERM the loop finishes its step, saves a checkpoint and raises
        :class:`~idff.errors.TrainingInterrupted`; training again with ``resume=True``
        continues from that step. ``run_dir`` is locked meanwhile (:mod:`idff.runlock`). Runs
        on the thread count of :mod:`idff.threads` (one thread for a small network on the CPU
        unless ``threads`` says otherwise).
        """
        lock = folder_lock(self.run_dir, option="run_dir") if self.is_main else nullcontext()
        with lock, using_threads(self.model, self.device, self.threads):
            return self._fit()

    def _fit(self) -> nn.Module:
        if self.step == 0:  # the first fit of this trainer: the folder must be ours
            claim_run_dir(self.run_dir, self.resume_mode)
        if self.is_main and self.run_dir.is_dir():
            remove_stale_tmp(self.run_dir)
        fresh = self.step == 0 and not self.resume()
        if fresh:
            torch.manual_seed(self.config.seed + 1_000_003 * self.dist.rank)
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._trim_log()
        self.dist.barrier()
        if fresh and self.is_main:  # once every rank has claimed it, the folder says whose it is
            atomic_write_json(self.run_config, self.run_dir / CONFIG, indent=2, sort_keys=True)
        self._signal = None
        old_handlers = self._install_signal_handlers()
        batches = _cycle(self.data)
        bar = tqdm(
            total=self.config.steps,
            initial=self.step,
            disable=not (self.progress and self.is_main),
            desc=self.run_dir.name,
            dynamic_ncols=True,
        )
        log = open(self.run_dir / "log.jsonl", "a") if self.is_main else None
        tb = _tensorboard(self.run_dir) if self.config.tensorboard and self.is_main else None
        t0, n0 = time.perf_counter(), self.step
        # single process: looking at the clock and the signal flag costs nothing; under DDP
        # it is a collective, done on logging and checkpoint steps only
        every_step = not self.dist.distributed
        try:
            while self.step < self.config.steps:
                limit = self.config.max_minutes
                metrics = self.train_micro_steps(self._next_micro(batches))
                bar.update(1)
                log_now = self.step % self.config.log_every == 0 or self.step == self.config.steps
                ckpt_now = self.step % self.config.ckpt_every == 0
                look = every_step or log_now or ckpt_now
                late = look and bool(limit) and self.dist.any(
                    time.perf_counter() - t0 > 60 * limit)
                stop = look and self.dist.any(self._signal is not None)
                if log_now or ckpt_now or late or stop:
                    self._check_finite_or_stop()
                if log_now:
                    metrics = {k: self.dist.mean(float(v)) for k, v in metrics.items()}
                    rate = (self.step - n0) / max(time.perf_counter() - t0, 1e-9)
                    metrics["steps_per_s"] = rate
                    metrics["images_per_s"] = rate * _batch_len(self._last_batch_size(),
                                                                 self.config.grad_accum,
                                                                 self.dist.world_size)
                    bar.set_postfix(loss=f"{metrics['loss']:.4f}", it_s=f"{rate:.2f}")
                    if log is not None:
                        log.write(json.dumps({"step": self.step, **metrics}) + "\n")
                        log.flush()
                    if tb is not None:
                        for k, v in metrics.items():
                            tb.add_scalar(f"train/{k}", v, self.step)
                    if self.on_log:
                        self.on_log(self.step, metrics)
                if ckpt_now:
                    self.save()
                if stop:
                    self.save()
                    raise TrainingInterrupted(self.step, self.run_dir, int(
                        self._signal or signal.SIGTERM), self_resuming=self.resume_mode == "auto")
                if late:
                    break
            self._check_finite_or_stop()
            self.save()
        finally:
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            bar.close()
            if log is not None:
                log.close()
            if tb is not None:
                tb.close()
        return self.ema.module

    def _check_finite_or_stop(self) -> None:
        try:
            self.check_finite()
        except (FloatingPointError, ValueError) as e:
            raise type(e)(
                f"{e} Training stopped; the last good checkpoint (step {self._saved_step()}) "
                f"in {self.run_dir} was kept."
            ) from e

    def _saved_step(self) -> int | str:
        path = self.run_dir / STATE
        return "none yet" if not path.is_file() else int(load_state(self.run_dir)["step"])

    def _last_batch_size(self) -> int:
        size = getattr(self.data, "batch_size", None)
        return int(size) if size else 0


def _batch_len(batch: int, accum: int, world: int) -> int:
    return batch * accum * world


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ImportError("tensorboard logging needs the 'tensorboard' package: pip install "
                          "'idff[images]'.") from e
    return SummaryWriter(str(run_dir / "tb"))
