"""Sampling a toy run: seeded sources, the run's sampling settings, an optional progress
bar; samples come back on the CPU."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from idff.distill.guard import check_student_nfe
from idff.progress import ProgressField, progress_bar
from idff.run_kind import draw_source
from idff.sampling import SamplingConfig

__all__ = ["sample_model"]


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
