# %% [markdown]
# # idff quickstart
#
# Sample the shipped Fashion-MNIST model at a chosen NFE, train a 2D toy run with the
# public builders, and plug in a network of your own. A py:percent script: run it with
# `python examples/quickstart.py [--steps N] [--out DIR]` (seconds on a CPU), or open it
# as a notebook (VS Code, or Jupyter with jupytext). `tests/project/test_examples.py` runs it.

# %%
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import idff
from idff.errors import ConfigError
from idff.metrics import mmd
from idff.models import TwoHead, XTAdapter
from idff.toy.data import sample_toy

p = argparse.ArgumentParser(description="idff quickstart")
p.add_argument("--steps", type=int, default=2000, help="training steps of the toy run")
p.add_argument("--out", default=None, help="a new folder for the run and the image grid")
args, _ = p.parse_known_args()
out = Path(args.out or tempfile.mkdtemp(prefix="idff-quickstart-"))

# %% [markdown]
# ## 1. A shipped model: no training
#
# `idff.load` takes a run folder or the name of a shipped run. The network carries its σ
# and heads; `run.sampling` holds the run's sampling settings. Images come back clamped
# to the data range [-1, 1] (`clamp=False` returns the solver's output as is), and
# `seed=None` (the default) draws fresh noise, like `torch.randn`. The run stores the
# sampler chosen for each few-step budget (`run.sampling.budgets`): at 4 calls, two `rk2`
# steps (second call a quarter into the step) on the `power:1.5` time grid.

# %%
run = idff.load("fashion_mnist/idff")
print(run.kind, run.sampling.nfe, run.sampling.solver, run.sampling.grid)
s4 = run.sampling.replace(nfe=4)
print(f"stored for NFE 4: {s4.solver} alpha={s4.alpha} {s4.grid} rho={s4.rho}")
res = run.sample(16, nfe=4, seed=0)
print(f"images {tuple(res.x.shape)}, NFE {res.nfe}, range [{res.x.min():.1f}, {res.x.max():.1f}]")
try:
    print("grid:", idff.save_grid(res, out / "fashion_mnist_nfe4.png"))
except ImportError:  # the grid needs the 'images' extra (Pillow)
    pass

# %% [markdown]
# ## 2. Train a 2D toy run
#
# `idff.toy_config` gives the measured best toy settings (IDFF with bounded "velocity"
# heads, OT coupling, σ = 0.2, flow weight 5) and the toy training recipe (lr 1e-3, a
# 200-step warm-up, EMA 0.999). `on_log` receives the metrics at every logging step: hook
# W&B or any logger there.

# %%
cfg = idff.toy_config("idff", "moons")
t0, c0 = time.perf_counter(), time.process_time()
toy = idff.train_run(cfg, out / "moons", {"steps": args.steps, "log_every": 500},
                     progress=False,
                     on_log=lambda step, m: print(f"step {step}: loss {m['loss']:.3f}"))
print(f"{args.steps} steps in {time.perf_counter() - t0:.0f} s "
      f"({time.process_time() - c0:.0f} s of CPU time, {torch.get_num_threads()} thread(s))")
res = toy.sample(1000, nfe=4, seed=0)
print(f"toy samples {tuple(res.x.shape)}, NFE {res.nfe}, sigma {toy.model.sigma}")

# %% [markdown]
# Judge the samples, not their shape: the squared MMD against fresh moons, next to the same
# score between two fresh sets (its floor). After 2,000 steps it is about 0.013 against a
# floor near 0; a shapeless blob scores about 0.04.

# %%
g = torch.Generator().manual_seed(1)
fresh, fresh2 = sample_toy("moons", 1000, g), sample_toy("moons", 1000, g)
print(f"MMD² vs fresh moons: {mmd(res.x, fresh):.4f} (floor {mmd(fresh2, fresh):.4f})")

# %% [markdown]
# ## 3. Your own network
#
# idff calls networks as `net(t, x, cond)`; a module written as `forward(x, t, **extras)`
# (flow_matching, diffusers) goes through `XTAdapter`. `TwoHead` splits its output into
# IDFF's two heads and carries σ, so the objective and the sampler take σ from it.


# %%
class MyNet(nn.Module):
    def __init__(self, dim: int = 2, hidden: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(dim + 1, hidden), nn.SiLU(),
                                  nn.Linear(hidden, 2 * dim))  # two heads' worth

    def forward(self, x, t):
        return self.body(torch.cat([x, t[:, None]], dim=1))


net = TwoHead(XTAdapter(MyNet()), parametrization="velocity", sigma=0.2)
objective = idff.IDFFObjective(flow_weight=5.0, coupling="ot")  # σ: the network's
loss = objective(net, torch.randn(256, 2)).loss
res = idff.SamplingConfig(nfe=4).integrate(net, torch.randn(8, 2))
print(f"own network: loss {loss.item():.3f}, NFE {res.nfe}")
try:
    idff.SamplingConfig(sigma=0.1, nfe=4).integrate(net, torch.randn(8, 2))
except ConfigError as e:  # σ lives in one place
    print("refused:", e)
