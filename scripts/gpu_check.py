"""GPU check: IDFF training and sampling throughput, measured stage by stage.

Each stage runs in its own process under its own time limit (compiling included), and
every row is printed and appended (flushed to disk) to ``--out`` the moment it is
measured, so a stage that hangs or is killed costs only its own row. Stages, in order:

* ``idff``, ``cfm``: steps/s of idff's :class:`~idff.training.Trainer` step on the
  ``cifar10`` preset's UNet (two heads, OT coupling, clipping, EMA) and of a torchcfm-style
  CFM loop on the same UNet with one head (``ExactOptimalTransportConditionalFlowMatcher``,
  AdamW, clipping, EMA); bf16 autocast, DistributedDataParallel over NCCL at world size 1.
  The IDFF row also gives the OT coupling's share of the step.
* ``syncs``: host-device synchronisations per (non-logging) IDFF step, counted with
  ``torch.cuda.set_sync_debug_mode`` (``"error"`` must pass with independent coupling).
* ``fmnist``: the ``fashion_mnist`` preset alone (its data pipeline, no DDP), it/s at
  batch 128, as ``idff train fashion_mnist --device cuda --batch-size 128`` runs it.
* ``gen``: generation samples/s with the cifar10 UNet at NFE 4 and 10 (midpoint).
* ``idff_compile``, ``cfm_compile``, ``gen_compile``: the same with ``torch.compile``.

``--dry-run`` runs every stage on the CPU with a tiny UNet, gloo and two steps (compiled
stages with the ``eager`` dynamo backend), to check the script itself.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

TINY = ["model.num_channels=32", "model.channel_mult=[1]", "model.num_res_blocks=1",
        'model.attention_resolutions=""', "model.num_head_channels=-1", "model.dropout=0.0"]

#: stage -> seconds it may take (process start, compile and measurement included)
BUDGETS = {"idff": 50, "cfm": 45, "syncs": 35, "fmnist": 35, "gen": 40, "idff_compile": 120,
           "cfm_compile": 100, "gen_compile": 60}
HEADER = "| stage | measured | value | details | wall (s) |\n|---|---|---|---|---|"


# -- rows ---------------------------------------------------------------------------------


def emit(args, stage: str, what: str, value: str, details: str, wall: float,
         record: dict | None = None) -> None:
    """Print one table row and append it (and its numbers) to the output files, on disk now."""
    line = f"| {stage} | {what} | {value} | {details} | {wall:.0f} |"
    print(line, flush=True)
    for path, text in ((args.out, line),
                       (args.out + ".jsonl", json.dumps({"run": args.run_id, "stage": stage,
                                                         "what": what, **(record or {})}))):
        with open(path, "a") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())


# -- measuring ----------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, warmup: int, steps: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` over ``steps`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def _setup(args):
    from idff.presets import apply_overrides, get_preset

    device = torch.device("cpu") if args.dry_run else torch.device("cuda", 0)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if args.dry_run and "compile" in args.stage:
        # compiling with inductor takes minutes on a CPU; the eager backend checks the wiring
        real = torch.compile
        torch.compile = lambda model, **kw: real(model, backend="eager")
    cfg = apply_overrides(get_preset("cifar10"), TINY if args.dry_run else [])
    cfg["train"]["precision"] = args.precision
    return device, cfg


def _init_ddp(device: torch.device) -> None:
    rendezvous = os.path.join(tempfile.mkdtemp(), "rendezvous")  # no port to collide on
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                            init_method=f"file://{rendezvous}", rank=0, world_size=1)


def _ddp_context(device: torch.device):
    """A one-process context whose ``wrap`` is DDP anyway (as under torchrun)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    from idff.training.distributed import DistContext

    class DDPAtOne(DistContext):
        def wrap(self, model: nn.Module) -> nn.Module:
            ids = [device.index] if device.type == "cuda" else None
            return DDP(model, device_ids=ids, gradient_as_bucket_view=True)

    return DDPAtOne(device=device)


def _idff_trainer(cfg, device, compile_: bool, coupling: str = "ot"):
    from idff.methods import make_objective
    from idff.models import build_model
    from idff.training import TrainConfig, Trainer

    objective = make_objective({**cfg["objective"], "coupling": coupling})
    tc = TrainConfig(steps=10**9, lr=2e-4, warmup=100, precision=cfg["train"]["precision"],
                     ema_decay=0.9999, log_every=10**9)
    return Trainer(build_model(cfg["model"]), objective, [], tc, tempfile.mkdtemp(), cfg,
                   dist=_ddp_context(device), progress=False, compile=compile_)


def _batch(args, device, channels=3, size=32):
    g = torch.Generator(device=device).manual_seed(0)
    return torch.rand(args.batch, channels, size, size, device=device, generator=g) * 2 - 1


def stage_idff(args, compile_: bool) -> None:
    from idff.coupling import couple

    device, cfg = _setup(args)
    _init_ddp(device)
    t0 = time.perf_counter()
    trainer = _idff_trainer(cfg, device, compile_)
    x1 = _batch(args, device)
    per_step = _timed(lambda: trainer.train_step(x1, None), args.warmup, args.steps, device)
    x0 = torch.randn_like(x1)
    per_ot = _timed(lambda: couple(x0, x1, "ot"), 2, min(args.steps, 50), device)
    rate = 1 / per_step
    name = "idff_compile" if compile_ else "idff"
    emit(args, name, "IDFF train, steps/s", f"{rate:.2f}",
         f"{rate * args.batch:.0f} img/s; OT coupling {100 * per_ot / per_step:.1f} % of the "
         f"step ({1e3 * per_ot:.2f} ms); batch {args.batch}, {args.precision}, {args.steps} "
         f"steps after {args.warmup}", time.perf_counter() - t0,
         {"steps_per_s": rate, "ot_share": per_ot / per_step})
    dist.destroy_process_group()


def stage_cfm(args, compile_: bool) -> None:
    """torchcfm's example loop, same UNet with one head."""
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torchcfm.conditional_flow_matching import ExactOptimalTransportConditionalFlowMatcher

    from idff.models import build_model

    device, cfg = _setup(args)
    _init_ddp(device)
    t0 = time.perf_counter()
    net = build_model({**cfg["model"], "method": "cfm"}).to(device)
    ema = copy.deepcopy(net)
    ids = [device.index] if device.type == "cuda" else None
    ddp = DDP(net, device_ids=ids)
    model = torch.compile(ddp) if compile_ else ddp
    fm = ExactOptimalTransportConditionalFlowMatcher(sigma=0.0)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4)
    x1 = _batch(args, device)
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

    rate = 1 / _timed(step, args.warmup, args.steps, device)
    name = "cfm_compile" if compile_ else "cfm"
    emit(args, name, "CFM train (torchcfm style), steps/s", f"{rate:.2f}",
         f"{rate * args.batch:.0f} img/s; batch {args.batch}, {args.precision}",
         time.perf_counter() - t0, {"steps_per_s": rate})
    dist.destroy_process_group()


def _count_reads(fn, n: int) -> float:
    """CPU stand-in for the sync debug mode: Python reads of tensors per call of ``fn``."""
    counts = [0]
    names = ("item", "__float__", "__bool__", "__int__", "tolist")
    originals = {k: getattr(torch.Tensor, k) for k in names}

    def wrap(orig):
        def counted(self, *a, **kw):
            counts[0] += 1
            return orig(self, *a, **kw)
        return counted

    for k, orig in originals.items():
        setattr(torch.Tensor, k, wrap(orig))
    try:
        for _ in range(n):
            fn()
    finally:
        for k, orig in originals.items():
            setattr(torch.Tensor, k, orig)
    return counts[0] / n


def _count_syncs(fn, n: int) -> float:
    """Synchronisations per call of ``fn``, from the CUDA sync debug mode's warnings."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(n):
                fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / n


def stage_syncs(args) -> None:
    device, cfg = _setup(args)
    _init_ddp(device)
    t0 = time.perf_counter()
    found = {}
    for coupling in ("independent", "ot"):
        trainer = _idff_trainer(cfg, device, False, coupling)
        x1 = _batch(args, device)
        for _ in range(2):
            trainer.train_step(x1, None)
        _sync(device)
        count = _count_syncs if device.type == "cuda" else _count_reads
        found[coupling] = count(lambda tr=trainer, x=x1: tr.train_step(x, None), 5)
    strict = "n/a on CPU (Python reads of tensors counted instead)"
    if device.type == "cuda":
        trainer = _idff_trainer(cfg, device, False, "independent")
        trainer.train_step(x1, None)
        torch.cuda.synchronize(device)
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(3):
                trainer.train_step(x1, None)
            strict = 'set_sync_debug_mode("error"): passed (independent coupling)'
        except RuntimeError as e:
            strict = f'set_sync_debug_mode("error") raised: {str(e).splitlines()[0][:120]}'
        finally:
            torch.cuda.set_sync_debug_mode("default")
    emit(args, "syncs", "IDFF syncs per non-logging step",
         f"{found['independent']:g} (independent), {found['ot']:g} (OT)",
         f"{strict}; OT reads its B×B cost matrix on the host by design",
         time.perf_counter() - t0, found)
    dist.destroy_process_group()


def stage_fmnist(args) -> None:
    """The fashion_mnist preset as ``idff train`` runs it (data pipeline included)."""
    from idff.errors import DataError
    from idff.images.batches import ImageBatches, build_image_data
    from idff.images.datasets import NumpyImages
    from idff.methods import make_objective
    from idff.models import build_model
    from idff.presets import get_preset
    from idff.training import TrainConfig, Trainer
    from idff.training.trainer import _cycle

    device, _ = _setup(args)
    t0 = time.perf_counter()
    cfg = get_preset("fashion_mnist")
    batch = 8 if args.dry_run else 128
    try:
        data = build_image_data(cfg["data"], batch, device=device)
        source = "Fashion-MNIST"
    except DataError:
        fake = torch.randint(0, 256, (60_000, 1, 28, 28), dtype=torch.uint8)
        data = ImageBatches(NumpyImages(fake), batch, hflip=True, device=device)
        source = "random uint8 images of its shape (dataset not installed)"
    train = {k: v for k, v in cfg["train"].items() if k != "batch_size"}
    tc = TrainConfig(**{**train, "steps": 10**9, "log_every": 50})
    trainer = Trainer(build_model(cfg["model"]), make_objective(cfg["objective"]), data, tc,
                      tempfile.mkdtemp(), cfg, device=device, progress=False)
    batches = _cycle(data)
    rate = 1 / _timed(lambda: trainer.train_micro_steps(trainer._next_micro(batches)),
                      args.warmup, args.steps, device)
    emit(args, "fmnist", "fashion_mnist preset, it/s", f"{rate:.2f}",
         f"batch {batch}, {tc.precision} on {device.type}, {source}", time.perf_counter() - t0,
         {"steps_per_s": rate})


def stage_gen(args, compile_: bool) -> None:
    from idff.models import build_model
    from idff.sampling import SamplingConfig

    device, cfg = _setup(args)
    model = build_model(cfg["model"]).to(device).eval()
    if compile_:
        from idff.accel import compile_network

        model = compile_network(model, device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16,
                         enabled=device.type == "cuda" and args.precision == "bf16")
    batch = 4 if args.dry_run else args.gen_batch
    n = 8 if args.dry_run else args.samples
    x0 = torch.randn(batch, 3, cfg["model"]["image_size"], cfg["model"]["image_size"],
                     device=device)
    name = "gen_compile" if compile_ else "gen"
    for nfe in (4, 10):
        sampling = SamplingConfig(sigma=cfg["objective"]["sigma"], nfe=nfe, solver="midpoint",
                                  field="pf")

        def one_batch(sampling=sampling):
            with amp, torch.no_grad():
                sampling.integrate(model, x0)

        t1 = time.perf_counter()
        rate = batch / _timed(one_batch, 1, max(n // batch, 1), device)
        emit(args, name, f"generation NFE {nfe}, samples/s", f"{rate:.0f}",
             f"midpoint, batch {batch}, {args.precision}", time.perf_counter() - t1,
             {"samples_per_s": rate, "nfe": nfe})


STAGES = {"idff": lambda a: stage_idff(a, False), "cfm": lambda a: stage_cfm(a, False),
          "syncs": stage_syncs, "fmnist": stage_fmnist, "gen": lambda a: stage_gen(a, False),
          "idff_compile": lambda a: stage_idff(a, True),
          "cfm_compile": lambda a: stage_cfm(a, True),
          "gen_compile": lambda a: stage_gen(a, True)}


# -- driver ------------------------------------------------------------------------------


def _ratio_row(args, stage: str) -> None:
    """IDFF/CFM once both rows of a mode (eager or compiled) are in."""
    path = Path(args.out + ".jsonl")
    rates = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        r = json.loads(line)
        if "steps_per_s" in r and r.get("run") == args.run_id:
            rates[r["stage"]] = r["steps_per_s"]
    for tag, a, b in (("eager", "idff", "cfm"), ("compile", "idff_compile", "cfm_compile")):
        if stage in (a, b) and a in rates and b in rates:
            emit(args, f"ratio ({tag})", "IDFF/CFM steps/s", f"{rates[a] / rates[b]:.2f}",
                 "target ≥ 1.0", 0, {"ratio": rates[a] / rates[b]})


def drive(args) -> int:
    dry = args.dry_run
    name = "CPU dry run" if dry else torch.cuda.get_device_name(0)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        print(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}.")
        return 2
    if args.no_compile:
        stages = [s for s in stages if not s.endswith("_compile")]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    head = (f"\nGPU check {time.strftime('%Y-%m-%d %H:%M:%S')} on {name}, torch "
            f"{torch.__version__}: `python scripts/gpu_check.py {' '.join(sys.argv[1:])}` "
            f"(cifar10 UNet unless named; rows appended as measured)\n\n{HEADER}")
    print(head, flush=True)
    with open(args.out, "a") as f:
        f.write(head + "\n")
    start = time.perf_counter()
    for stage in stages:
        left = args.budget - (time.perf_counter() - start)
        limit = min(BUDGETS[stage] * args.budget_scale * (3 if dry else 1), left)
        if left < 10:
            emit(args, stage, "skipped", "-", f"the whole check's {args.budget:.0f} s budget "
                 "is spent", 0)
            continue
        cmd = [sys.executable, __file__, "--stage", stage, "--run-id", args.run_id,
               *sys.argv[1:]]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, start_new_session=True)
        try:
            code = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            emit(args, stage, "timed out", "-", f"stopped after its {limit:.0f} s budget "
                 "(raise --budget-scale to give it more)", time.perf_counter() - t0)
            continue
        if code:
            emit(args, stage, "failed", "-", f"exit code {code} (its traceback is above)",
                 time.perf_counter() - t0)
        _ratio_row(args, stage)
    print(f"\nrows appended to {args.out} (numbers: {args.out}.jsonl)", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny UNet, two steps.")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--samples", type=int, default=5_000)
    p.add_argument("--gen-batch", type=int, default=1000)
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--no-compile", action="store_true", help="Skip the compiled stages.")
    p.add_argument("--stages", default=",".join(STAGES),
                   help=f"Comma-separated, in order (default: {','.join(STAGES)}).")
    p.add_argument("--budget", type=float, default=450.0,
                   help="Seconds the whole check may take.")
    p.add_argument("--budget-scale", type=float, default=1.0,
                   help="Multiply every stage's own time limit (slower GPUs).")
    p.add_argument("--out", default="benchmarks/results/gpu_check.md",
                   help="Markdown file the rows are appended to (numbers: OUT.jsonl).")
    p.add_argument("--stage", help=argparse.SUPPRESS)
    p.add_argument("--run-id", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.dry_run:
        args.batch, args.warmup, args.steps = 4, 1, 2
    if args.stage:
        STAGES[args.stage](args)
        return 0
    args.run_id = args.run_id or f"{os.getpid()}-{time.time():.0f}"
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
