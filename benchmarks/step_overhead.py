"""Host overhead of the training step: idff's Trainer against a bare torchcfm-style loop.

Both train the same tiny UNet (the ``fashion_mnist`` preset shrunk to one level of 32
channels; one output head for the CFM loop) on the same batch, on the CPU, where — as on a
GPU with a small network — the Python and bookkeeping around the network decide the
speed. The trainer's step is the full one (EMA, clipping, warm-up schedule, deferred NaN
checks, loss terms); the CFM loop is torchcfm's example (``ExactOptimalTransport`` or plain
``ConditionalFlowMatcher``, AdamW, clipping, EMA). Repetitions are interleaved and the
median is reported. Prints a Markdown table: ms/step, steps/s, the IDFF/CFM ratio
(target ≥ 0.95) and the share of the step spent on the OT coupling. Times are the
process's CPU time (``time.process_time``), so other jobs on a shared machine weigh less.

    OMP_NUM_THREADS=1 nice python benchmarks/step_overhead.py
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import tempfile
import time

import torch
from torch import nn

from idff.coupling import couple
from idff.methods import make_objective
from idff.models import build_model
from idff.presets import apply_overrides, get_preset
from idff.training import TrainConfig, Trainer

TINY = ["model.num_channels=32", "model.channel_mult=[1]", "model.num_res_blocks=1",
        'model.attention_resolutions=""', "model.num_head_channels=-1", "model.dropout=0.0"]


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def idff_step(cfg, x1: torch.Tensor, coupling: str):
    objective = make_objective({**cfg["objective"], "coupling": coupling})
    tc = TrainConfig(steps=10**9, lr=2e-4, warmup=100, ema_decay=0.9999, log_every=10**9)
    trainer = Trainer(build_model(cfg["model"]), objective, [(x1, None)], tc,
                      tempfile.mkdtemp(), cfg, progress=False)

    def batches():
        while True:
            yield x1, None

    it = batches()
    return lambda: trainer.train_micro_steps(trainer._next_micro(it))


def cfm_step(cfg, x1: torch.Tensor, coupling: str):
    """torchcfm's example training step, same UNet with one head."""
    from torchcfm.conditional_flow_matching import (
        ConditionalFlowMatcher,
        ExactOptimalTransportConditionalFlowMatcher,
    )

    net = build_model({**cfg["model"], "method": "cfm"})
    ema = copy.deepcopy(net)
    fm = (ExactOptimalTransportConditionalFlowMatcher if coupling == "ot"
          else ConditionalFlowMatcher)(sigma=0.0)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        x0 = torch.randn_like(x1)
        t, xt, ut = fm.sample_location_and_conditional_flow(x0, x1)
        loss = torch.mean((net(t, xt) - ut) ** 2)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1 - 0.9999)

    return step


def _per_call(fn, n: int) -> float:
    """CPU seconds of this process per call (other processes on a shared machine do not
    count; with one thread it is the step's own cost)."""
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=8, help="image side (1 channel)")
    p.add_argument("--steps", type=int, default=10, help="steps per timed block")
    p.add_argument("--reps", type=int, default=15, help="interleaved timed blocks")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--couplings", default="ot,independent")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    size = args.size
    cfg = apply_overrides(get_preset("fashion_mnist"),
                          TINY + [f"data.image_size={size}", f"model.image_size={size}"])
    x1 = torch.rand(args.batch, 1, size, size) * 2 - 1
    n_params = sum(q.numel() for q in build_model(cfg["model"]).parameters())
    print(f"step overhead on {_cpu_name()}, {args.threads} thread(s), torch {torch.__version__}:"
          f" UNet {n_params / 1e3:.0f} k parameters, batch {args.batch} × 1 × {size} × {size}; "
          f"CPU time, median of {args.reps} interleaved blocks of {args.steps} steps "
          f"({time.strftime('%Y-%m-%d')})\n")
    print("| coupling | IDFF Trainer (ms/step) | torchcfm-style loop (ms/step) | IDFF/CFM "
          "steps/s | OT coupling (ms) | OT share of the IDFF step |")
    print("|---|---|---|---|---|---|")
    x0 = torch.randn_like(x1)

    def ot():
        couple(x0, x1, "ot")

    for coupling in [c.strip() for c in args.couplings.split(",")]:
        a, b = idff_step(cfg, x1, coupling), cfm_step(cfg, x1, coupling)
        for fn in (a, b, ot):  # warm-up
            _per_call(fn, 3)
        ta, tb, to = [], [], []
        for _ in range(args.reps):
            ta.append(_per_call(a, args.steps))
            tb.append(_per_call(b, args.steps))
            if coupling == "ot":
                to.append(_per_call(ot, args.steps))
        ma, mb = statistics.median(ta), statistics.median(tb)
        share = (f"{1e3 * statistics.median(to):.2f} | {100 * statistics.median(to) / ma:.1f} %"
                 if to else "- | -")
        print(f"| {coupling} | {1e3 * ma:.2f} | {1e3 * mb:.2f} | {mb / ma:.3f} | {share} |",
              flush=True)


if __name__ == "__main__":
    main()
