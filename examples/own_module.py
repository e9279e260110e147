"""Train IDFF with your own network on your own data, then sample at a chosen NFE.

Your network only has to be an ``nn.Module`` called as ``net(t, x)`` (``t``: times ``(B,)``
in [0, 1]; ``x``: states ``(B, D)``) that returns twice as many channels as ``x`` has:
:class:`idff.models.TwoHead` splits them into IDFF's two heads and carries σ, which the
objective and the sampler then take from it. A module written as ``forward(x, t)``
(flow_matching, diffusers) goes in as ``TwoHead(XTAdapter(net))``. The loop below is plain
PyTorch; :class:`idff.training.Trainer` adds EMA, checkpoints and resume on top of the same
objective. The maths is in docs/METHOD.md.

    python examples/own_module.py --steps 2000 --nfe 4 --out samples.npy
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from torch import Tensor, nn

from idff import IDFFObjective, SamplingConfig
from idff.models import TwoHead


class MyNet(nn.Module):
    """Any backbone works; this one is a small MLP with the time as an extra input."""

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim + 1, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 2 * dim),  # two heads' worth of outputs
        )

    def forward(self, t: Tensor, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.net(torch.cat([x, t.reshape(-1, 1).to(x)], dim=1))


def my_data(n: int, generator: torch.Generator) -> Tensor:
    """Your data, shape ``(n, D)``; here points on a noisy ring of radius 2."""
    angle = torch.rand(n, generator=generator) * 2 * math.pi
    ring = torch.stack([angle.cos(), angle.sin()], dim=1) * 2
    return ring + 0.05 * torch.randn(n, 2, generator=generator)


def main(argv: list[str] | None = None) -> Tensor:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=2000, help="training steps")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--nfe", type=int, default=4, help="network evaluations per sample")
    p.add_argument("--n", type=int, default=1000, help="samples to draw")
    p.add_argument("--sigma", type=float, default=0.2, help="IDFF path noise σ")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="optional .npy file for the samples")
    args = p.parse_args(argv)

    g = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    model = TwoHead(MyNet(dim=2), parametrization="velocity", sigma=args.sigma).to(args.device)
    objective = IDFFObjective(flow_weight=5.0, coupling="ot")  # σ: the network's
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(1, args.steps + 1):
        x1 = my_data(args.batch_size, g).to(args.device)
        loss = objective(model, x1).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0 or step == args.steps:
            print(f"step {step}: loss {loss.item():.4f}")

    model.eval()
    # the exact probability-flow field, midpoint steps within the NFE budget
    sampling = SamplingConfig(nfe=args.nfe, solver="midpoint")
    x0 = torch.randn(args.n, 2, generator=g).to(args.device)
    res = sampling.integrate(model, x0)
    radius = res.x.norm(dim=1)
    print(f"{args.n} samples with {res.nfe} network evaluations each "
          f"({sampling.effective_solver()}); radius "
          f"{radius.mean():.3f} ± {radius.std():.3f} (data: 2.000 ± 0.05)")
    if args.out:
        np.save(args.out, res.x.cpu().numpy())
    return res.x


if __name__ == "__main__":
    main()
