"""GPU check: IDFF training and sampling throughput on a CIFAR-10-sized UNet.

Measures, on synthetic 3×32×32 data with the ``cifar10`` preset's UNet (bf16 autocast,
DistributedDataParallel over NCCL at world size 1):

* IDFF training steps/s with idff's :class:`~idff.training.Trainer` step (OT coupling,
  grad clipping, EMA), with ``torch.compile`` off and on;
* a plain CFM loop of the same UNet (one output head) in torchcfm's example style
  (``ExactOptimalTransportConditionalFlowMatcher``, AdamW, clipping, EMA), off and on;
* 10k-sample generation with the IDFF ``pf`` field at NFE 10 (midpoint), off and on;

and prints one table. ``--dry-run`` runs the same code on the CPU with a tiny UNet, gloo and
two steps, to check the script itself.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from idff.methods import make_objective
from idff.models import build_model
from idff.presets import apply_overrides, get_preset
from idff.sampler import integrate, steps_for_nfe
from idff.sampling import SamplingConfig
from idff.training import TrainConfig, Trainer
from idff.training.distributed import DistContext

TINY = ["model.num_channels=32", "model.channel_mult=[1]", "model.num_res_blocks=1",
        'model.attention_resolutions=""', "model.num_head_channels=-1", "model.dropout=0.0"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, warmup: int, steps: int, device: torch.device) -> float:
    """Calls per second of ``fn`` over ``steps`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return steps / (time.perf_counter() - t0)


def idff_train_rate(cfg, device, batch, warmup, steps, compile_) -> float:
    model = build_model(cfg["model"])
    tc = TrainConfig(steps=warmup + steps, lr=2e-4, warmup=100, precision=args.precision,
                     ema_decay=0.9999)
    trainer = Trainer(model, make_objective(cfg["objective"]), [], tc, "/nonexistent",
                      cfg, dist=DistContext(device=device), progress=False)
    ids = [device.index] if device.type == "cuda" else None
    trainer.net = DDP(trainer.model, device_ids=ids)
    if compile_:
        trainer.net = torch.compile(trainer.net)
    x1 = torch.randn(batch, 3, 32, 32, device=device)
    return _timed(lambda: trainer.train_step(x1, None), warmup, steps, device)


def cfm_train_rate(cfg, device, batch, warmup, steps, compile_) -> float:
    """torchcfm's example loop, same UNet with one head."""
    from torchcfm.conditional_flow_matching import ExactOptimalTransportConditionalFlowMatcher

    net = build_model({**cfg["model"], "method": "cfm"}).to(device)
    ema = copy.deepcopy(net)
    ids = [device.index] if device.type == "cuda" else None
    ddp = DDP(net, device_ids=ids)
    model = torch.compile(ddp) if compile_ else ddp
    fm = ExactOptimalTransportConditionalFlowMatcher(sigma=0.0)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4)
    x1 = torch.randn(batch, 3, 32, 32, device=device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16,
                         enabled=device.type == "cuda" and args.precision == "bf16")

    def step():
        opt.zero_grad(set_to_none=True)
        x0 = torch.randn_like(x1)
        t, xt, ut = fm.sample_location_and_conditional_flow(x0, x1)
        with amp:
            vt = model(t, xt)
        loss = torch.mean((vt.float() - ut) ** 2)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1 - 0.9999)

    return _timed(step, warmup, steps, device)


def sample_rate(cfg, device, n, batch, nfe, compile_) -> float:
    model = build_model(cfg["model"]).to(device).eval()
    net = torch.compile(model) if compile_ else model
    sigma = cfg["objective"]["sigma"]
    steps = steps_for_nfe(nfe, "midpoint")
    amp = torch.autocast(device.type, dtype=torch.bfloat16,
                         enabled=device.type == "cuda" and args.precision == "bf16")

    def one_batch():
        f = SamplingConfig(sigma=sigma).field_for(net)
        with amp:
            integrate(f, torch.randn(batch, 3, 32, 32, device=device), steps=steps,
                      solver="midpoint")

    batches = max(n // batch, 1)
    return _timed(one_batch, 1, batches, device) * batch


def main() -> None:
    dry = args.dry_run
    device = torch.device("cpu" if dry else "cuda", 0 if not dry else None)
    if not dry:
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    rendezvous = os.path.join(tempfile.mkdtemp(), "rendezvous")  # no port to collide on
    dist.init_process_group("gloo" if dry else "nccl", init_method=f"file://{rendezvous}",
                            rank=0, world_size=1)
    cfg = apply_overrides(get_preset("cifar10"), TINY if dry else [])
    batch = 4 if dry else args.batch
    warm, steps = (1, 2) if dry else (args.warmup, args.steps)
    n_gen, gen_batch = (8, 4) if dry else (args.samples, args.gen_batch)
    compiles = [False] if dry or args.no_compile else [False, True]
    params = sum(p.numel() for p in build_model(cfg["model"]).parameters())
    rows, start = [], time.perf_counter()
    for c in compiles:
        tag = "compile" if c else "eager"
        if c and time.perf_counter() - start > args.budget / 3:
            print(f"skipping torch.compile: the eager pass took more than a third of the "
                  f"{args.budget:.0f} s budget", flush=True)
            break
        print(f"measuring {tag} ...", flush=True)
        t0 = time.perf_counter()
        r_idff = idff_train_rate(cfg, device, batch, warm, steps, c)
        r_cfm = cfm_train_rate(cfg, device, batch, warm, steps, c)
        r_gen = sample_rate(cfg, device, n_gen, gen_batch, 10, c)
        rows.append((tag, r_idff, r_cfm, r_gen, time.perf_counter() - t0))
    name = "CPU dry run" if dry else torch.cuda.get_device_name(device)
    print(f"\nGPU check on {name}: cifar10 UNet ({params / 1e6:.1f} M parameters, two heads), "
          f"batch {batch}, {args.precision}, DDP world size 1 "
          f"({'gloo' if dry else 'nccl'}); {steps} timed steps after {warm} warm-up; "
          f"generation: {n_gen} samples, NFE 10 (midpoint), batch {gen_batch}\n")
    print("| mode | IDFF train (steps/s) | CFM train, torchcfm style (steps/s) | IDFF/CFM "
          "| IDFF train (img/s) | generation (samples/s) | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    for tag, a, b, g, w in rows:
        print(f"| {tag} | {a:.2f} | {b:.2f} | {a / b:.2f} | {a * batch:.0f} | {g:.0f} | "
              f"{w:.0f} |")
    dist.destroy_process_group()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny UNet, two steps.")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--gen-batch", type=int, default=1000)
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--budget", type=float, default=450.0, help="seconds the whole check may take")
    args = p.parse_args()
    main()
