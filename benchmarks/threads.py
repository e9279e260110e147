"""Training-step time of the package's small networks at 1 and 2 CPU threads.

Prints a markdown table: the basis of the thread policy in ``idff.threads`` (one thread for
networks under 5 M parameters on the CPU). Run from the repository root:

    .venv/bin/python benchmarks/threads.py [--threads 1 2] [--repeats 20]

Timings depend on what else the machine is running: report the load with the table.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

import idff
from idff.models import build_model


def step_time(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Seconds per forward + backward + AdamW step on the two heads' squared outputs."""
    opt = torch.optim.AdamW(model.parameters())
    t = torch.rand(len(x))

    def step() -> None:
        out = model(t, x)
        loss = sum(o.pow(2).mean() for o in (out if isinstance(out, tuple) else (out,)))
        loss.backward()
        opt.step()
        opt.zero_grad()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    torch.manual_seed(0)
    cases = [("toy MLP 3×256 (idff.toy_config)", idff.toy_config("idff", "moons")["model"],
              (256, 2), args.repeats * 10),
             ("Fashion-MNIST UNet (preset)", idff.image_config("fashion_mnist")["model"],
              (32, 1, 28, 28), args.repeats)]
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| network | parameters | batch | " + " | ".join(f"{n} thread(s)" for n in args.threads)
          + " |")
    print("|---|---:|---:|" + "---:|" * len(args.threads))
    for name, cfg, shape, repeats in cases:
        model = build_model(cfg)
        size = sum(q.numel() for q in model.parameters())
        x = torch.randn(shape)
        cells = []
        for n in args.threads:
            torch.set_num_threads(n)
            cells.append(f"{1000 * step_time(model, x, repeats):.1f} ms")
        print(f"| {name} | {size:,} | {shape[0]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
