"""Write ``reference_samples.pt``: samples that later versions must reproduce exactly.

Each case fixes a network (a shipped checkpoint, or a seeded random initialisation), a
sampling setting and a seed. ``tests/runs/test_reference_samples.py`` recomputes every case
through the public API and compares. Regenerate only when a change is *meant* to change
samples, and say so in the changelog.

    python tests/data/make_reference.py
"""

from __future__ import annotations

from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def image_cases():
    from idff.images.kind import load_image_model
    from idff.images.sample import sample_images

    out = {}
    for name, kw in {
        # the solver is named: NFE 4 of the shipped runs has a stored sampler (rk2)
        "fmnist_idff_pf_midpoint_4": ("idff", {"nfe": 4, "solver": "midpoint"}),
        "fmnist_idff_published_4": ("idff", {"nfe": 4, "field": "published", "s": 0.2}),
        "fmnist_idff_ddim_2": ("idff", {"nfe": 2, "solver": "ddim"}),
        "fmnist_idff_euler_gamma_3": ("idff", {"nfe": 3, "solver": "euler", "gamma": 0.5}),
        "fmnist_otcfm_midpoint_4": ("otcfm", {"nfe": 4, "solver": "midpoint"}),
        # the batch-128 runs with the samplers they store for NFE 4 and 2
        "fmnist_b128_idff_stored_4": ("idff-b128", {"nfe": 4}),
        "fmnist_b128_otcfm_stored_2": ("otcfm-b128", {"nfe": 2}),
    }.items():
        run, opts = kw
        model, cfg = load_image_model(ROOT / "checkpoints" / "fashion_mnist" / run)
        x, nfe = sample_images(model, cfg, n=3, seed=7, **opts)
        out[name] = {"x": x, "nfe": nfe}
    return out


def toy_cases():
    from idff.models import build_model
    from idff.toy.config import toy_run_config
    from idff.toy.sample import sample_model

    out = {}
    for method, param in (("idff", "velocity"), ("idff", "skip"), ("otcfm", None), ("icfm", None)):
        cfg = toy_run_config(method, "checkerboard", hidden=32, depth=2,
                             parametrization=param)
        torch.manual_seed(0)
        model = build_model(cfg["model"]).eval()
        for solver, nfe, extra in (("midpoint", 4, {}), ("euler", 3, {"gamma": 1.0}),
                                   ("heun", 5, {}), ("euler", 2, {"field": "published",
                                                                  "s": 0.4, "sde": True})):
            if method != "idff" and extra:
                continue
            res = sample_model(model, cfg, n=5, nfe=nfe, solver=solver, seed=3, **extra)
            key = f"toy_{method}_{param}_{solver}_{nfe}_{'_'.join(map(str, extra.values()))}"
            out[key] = {"x": res.x, "nfe": res.nfe}
    return out


def timeseries_cases():
    from idff.md.rollout import rollout
    from idff.models import build_model
    from idff.sampling import SamplingConfig

    out = {}
    for method, extra in (("idff", {}), ("idff", {"gamma": 0.0, "solver": "midpoint", "nfe": 4}),
                          ("cfm", {"gamma": 0.0})):
        model_cfg = {"backbone": "mlp", "method": "idff" if method == "idff" else "cfm",
                     "dim": 4, "hidden": 16, "depth": 2, "cond_dim": 8}
        torch.manual_seed(1)
        model = build_model(model_cfg).eval()
        window = torch.randn(2, 2, 4, generator=torch.Generator().manual_seed(2))
        # the MD rollout defaults of the first reference: σ = 0.1, Euler, γ = 1 (IDFF)
        conf = SamplingConfig(method="idff" if method == "idff" else "icfm", sigma=0.1,
                              **{"nfe": 2, "solver": "euler", "gamma": 1.0, **extra})
        res = rollout(model, window, n_steps=3, sampling=conf, cond="state", project=None,
                      generator=torch.Generator().manual_seed(5))
        key = f"md_{method}_{'_'.join(f'{k}{v}' for k, v in extra.items())}"
        out[key] = {"x": res.states, "nfe": res.nfe_per_frame}
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    ref = {**image_cases(), **toy_cases(), **timeseries_cases()}
    torch.save(ref, HERE / "reference_samples.pt")
    for k, v in ref.items():
        print(f"{k:45s} nfe={v['nfe']:3d} shape={tuple(v['x'].shape)} "
              f"mean={v['x'].mean():+.5f}")
