"""2D toy experiments: train IDFF / OT-CFM / I-CFM, evaluate quality versus NFE, plot.

Shared by ``idff demo``, ``idff train toy``, ``idff sample`` and ``benchmarks/toy_nfe.py``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from idff.data.toys import TOYS, sample_toy
from idff.distill.guard import check_student_nfe
from idff.errors import ConfigError, unknown_key_message
from idff.methods import make_objective, network_kind
from idff.metrics import mmd, wasserstein
from idff.models import build_model
from idff.progress import ProgressField, progress_bar
from idff.run_kind import RunKind, draw_source, load_weights
from idff.sampling import SamplingConfig
from idff.training import TrainConfig, Trainer
from idff.training.checkpoint import init_from_run

__all__ = [
    "METHOD_DEFAULTS",
    "toy_run_config",
    "train_toy",
    "load_toy_model",
    "sample_model",
    "evaluate_nfe",
    "true_floor",
]

#: objective settings per method for toys (docs/METHOD.md, "Path and coupling", "Objective").
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "idff": {"name": "idff", "sigma": 0.2, "flow_weight": 5.0, "coupling": "ot"},
    "otcfm": {"name": "otcfm", "sigma": 0.0, "coupling": "ot"},
    "icfm": {"name": "icfm", "sigma": 0.0, "coupling": "independent"},
}


class ToyStream:
    """Infinite stream of fresh toy batches ``(x1, None)``, or minibatches of a fixed array."""

    def __init__(self, dataset: str | None, batch_size: int, data: np.ndarray | None = None):
        if data is None and dataset not in TOYS:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(TOYS)}.")
        self.dataset, self.batch_size = dataset, batch_size
        self.data = None if data is None else torch.as_tensor(data, dtype=torch.float32)

    def __iter__(self):
        while True:
            if self.data is None:
                yield sample_toy(self.dataset, self.batch_size), None
            else:
                idx = torch.randint(0, self.data.shape[0], (self.batch_size,))
                yield self.data[idx], None


def toy_run_config(
    method: str,
    dataset: str,
    dim: int = 2,
    hidden: int = 256,
    depth: int = 3,
    parametrization: str | None = None,
    objective: dict[str, Any] | None = None,
    batch_size: int = 256,
) -> dict[str, Any]:
    """The JSON-able description of a toy run.

    IDFF's heads default to ``"velocity"`` (bounded outputs), the best measured on the 2D
    toys (``benchmarks/results/toy_velocity.md``); ``"skip"`` and ``"x1"`` stay available.

    Raises:
        ConfigError: an unknown method, a size (``dim``, ``hidden``, ``depth``,
            ``batch_size``) that is not an integer >= 1, or a ``parametrization`` for a CFM
            method, whose one velocity network has none (it would be dropped).
    """
    network_kind(method)  # an unknown method is a ConfigError, not a KeyError
    for name, value in (("dim", dim), ("hidden", hidden), ("depth", depth),
                        ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}; a network or "
                              "batch of that size has nothing to train.")
    if method != "idff" and parametrization is not None:
        raise ConfigError(
            f"parametrization={parametrization!r} chooses IDFF's two heads; an {method} run "
            "trains one velocity network and would ignore it. Drop it, or use method='idff'.",
            cli=f"--parametrization {parametrization} chooses IDFF's two heads; an {method} run "
                "trains one velocity network and would ignore it. Drop it, or use --method "
                "idff.")
    parametrization = parametrization or "velocity"
    obj = dict(METHOD_DEFAULTS[method])
    obj.update(objective or {})
    model = {
        "backbone": "mlp",
        "method": network_kind(method),
        "dim": dim,
        "hidden": hidden,
        "depth": depth,
    }
    if method == "idff":
        model["parametrization"] = parametrization
        if parametrization == "velocity":
            model["sigma"] = obj["sigma"]
    return {
        "kind": "toy",
        "method": method,
        "objective": obj,
        "model": model,
        "data": {"dataset": dataset, "batch_size": batch_size},
    }


def train_toy(
    run_config: dict[str, Any],
    out: str | Path,
    train: TrainConfig,
    data: np.ndarray | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
    resume: bool | str = False,
    init_from: str | Path | None = None,
) -> nn.Module:
    """Train the run a config describes; return the EMA model.

    ``resume``: continue the run saved in ``out`` (see :class:`~idff.training.Trainer`);
    ``init_from``: start from the weights of another run of the same network (fine-tuning).
    """
    from idff.methods import check_sigma
    from idff.training.memory import check_step_memory

    check_sigma(run_config)
    check_step_memory(run_config)
    if data is not None:  # a resume on a changed array is refused
        from idff.data.fingerprint import array_sha256, stamp_data

        stamp_data(run_config, out, resume, array_sha256(data))
    torch.manual_seed(train.seed)
    model = build_model(run_config["model"])
    if init_from is not None:
        init_from_run(model, run_config, init_from)
    objective = make_objective(run_config["objective"])
    stream = ToyStream(run_config["data"]["dataset"], run_config["data"]["batch_size"], data)
    trainer = Trainer(model, objective, stream, train, out, run_config, progress=progress,
                      device=device, resume=resume)
    return trainer.fit()


def load_toy_model(run_dir: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the EMA model of a toy run directory.

    Raises:
        RunError: not a toy run (an SST or MD run, say), or weights that do not fit.
    """
    return load_weights(run_dir, "toy")


def sample_model(
    model: nn.Module,
    config: dict[str, Any],
    n: int,
    sampling: SamplingConfig | None = None,
    *,
    seed: int = 0,
    return_trajectory: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = False,
    generator: torch.Generator | None = None,
    x0: Tensor | None = None,
    **overrides: Any,
):
    """Sample ``n`` points of a toy run.

    ``sampling`` defaults to the run's (:meth:`SamplingConfig.from_run`); ``overrides``
    (``nfe=``, ``solver=``, ``gamma=``, ...; ``None`` keeps the value) change it. The noise
    is drawn on the CPU from ``seed``, so samples do not depend on ``device`` beyond
    floating-point round-off; results come back on the CPU. ``generator`` or ``x0`` replace
    the seeded source (:func:`idff.runs.draw_source`). ``progress`` shows a bar of
    network evaluations when sampling takes more than two seconds.
    """
    sampling = (sampling or SamplingConfig.from_run(config)).replace(**overrides)
    check_student_nfe(config, sampling.nfe, sampling.solver, sampling.adaptive)
    x0, g = draw_source(n, (config["model"]["dim"],), seed=seed, generator=generator, x0=x0,
                        device=device)
    model = model.to(device)
    bar = progress_bar(sampling.nfe, f"sampling ({sampling.effective_solver()})",
                       enable=progress)
    try:
        res = sampling.integrate(model, x0, generator=g, return_trajectory=return_trajectory,
                                 wrap=lambda f: ProgressField(f, bar))
    finally:
        bar.close()
    if res.x.device.type != "cpu":
        res.x = res.x.cpu()
        if res.trajectory is not None:
            res.trajectory = res.trajectory.cpu()
    return res


@dataclass
class EvalRow:
    method: str
    label: str
    solver: str
    nfe_budget: str
    nfe: int
    mmd: float
    w2: float
    seconds: float


def evaluate_nfe(
    model: nn.Module,
    config: dict[str, Any],
    nfes: Sequence[int | str],
    n_eval: int = 2000,
    seed: int = 0,
    solver: str | None = None,
    field: str = "pf",
    label: str | None = None,
    reference: Tensor | None = None,
    **sample_kw: Any,
) -> list[EvalRow]:
    """MMD and W2 against fresh data for each NFE budget (``"adaptive"`` = dopri5)."""
    dataset = config["data"]["dataset"]
    if reference is None:
        reference = sample_toy(dataset, n_eval, torch.Generator().manual_seed(10_000 + seed))
    rows = []
    stochastic = sample_kw.get("gamma", 0.0) > 0 or sample_kw.get("sde", False)
    for budget in nfes:
        adaptive = budget == "adaptive"
        if adaptive and stochastic:  # adaptive solvers integrate ODEs only
            continue
        sol = "dopri5" if adaptive else solver
        t0 = time.perf_counter()
        try:
            res = sample_model(model, config, n_eval, seed=seed,
                               nfe=None if adaptive else int(budget), solver=sol, field=field,
                               **sample_kw)
        except RuntimeError:  # an adaptive solve that stalls is reported, not fatal
            rows.append(
                EvalRow(
                    config["method"],
                    label or config["method"],
                    sol or "",
                    str(budget),
                    -1,
                    float("nan"),
                    float("nan"),
                    float("nan"),
                )
            )
            continue
        dt = time.perf_counter() - t0
        rows.append(
            EvalRow(
                method=config["method"],
                label=label or config["method"],
                solver=sol or SamplingConfig.from_run(config).solver,
                nfe_budget=str(budget),
                nfe=res.nfe,
                mmd=mmd(res.x, reference),
                w2=wasserstein(res.x, reference, 2),
                seconds=dt,
            )
        )
    return rows


def true_floor(dataset: str, n_eval: int = 2000, seed: int = 0) -> tuple[float, float]:
    """MMD and W2 between two independent true samples of the same size (the noise floor)."""
    a = sample_toy(dataset, n_eval, torch.Generator().manual_seed(20_000 + seed))
    b = sample_toy(dataset, n_eval, torch.Generator().manual_seed(10_000 + seed))
    return mmd(a, b), wasserstein(a, b, 2)


def _sample(model, config, n, sampling, seed=0, device="cpu", generator=None, x0=None,
            return_trajectory=False):
    return sample_model(model, config, n, sampling, seed=seed, device=device,
                        generator=generator, x0=x0, return_trajectory=return_trajectory)


#: the keys of a toy run's ``data`` section, and of the whole config
TOY_DATA_KEYS = ("dataset", "batch_size", "file", "sha256")
TOY_KEYS = ("kind", "method", "objective", "model", "data", "train", "sampling", "layout",
            "step")


def _stream(config: dict[str, Any]) -> ToyStream:
    """The training stream of ``idff.train_run`` (a named toy; vector files train through
    :func:`train_toy` with ``data=``). Unknown sections and ``data`` keys are refused, not
    ignored."""
    for k in config:
        if k not in TOY_KEYS:
            raise ConfigError(unknown_key_message(k, "", TOY_KEYS, "section"))
    data = config["data"]
    for k in data:
        if k not in TOY_DATA_KEYS:
            raise ConfigError(unknown_key_message(k, "data", TOY_DATA_KEYS))
    if data["dataset"] == "file" or data.get("file"):
        raise ConfigError("a toy config on a vector file trains with idff.experiments.toy."
                          "train_toy(config, out, train, data=array) or 'idff train toy --data "
                          "FILE'; idff.train_run draws named toys only.")
    return ToyStream(data["dataset"], data["batch_size"])


KIND = RunKind("toy", load=load_toy_model, sample=_sample, stream=_stream, published_sde=True,
               requires=("data.dataset", "data.batch_size"))
