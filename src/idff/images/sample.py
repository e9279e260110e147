"""Sampling image runs: one seeded source per sample index (results independent of the
batch size and GPU count), class labels and guidance checked against the model."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from idff.distill.guard import check_student_nfe
from idff.errors import ConfigError, UserError
from idff.models import GuidedNet
from idff.sampler import SampleResult
from idff.sampling import SamplingConfig

__all__ = ["SEED_STRIDE", "sample_seed", "source_noise", "sample_images", "image_samples",
           "check_conditioning"]


SEED_STRIDE = 1_000_003


def sample_seed(seed: int, index: int) -> int:
    """The generator seed of sample ``index`` (independent of batch size and GPU count).

    ``(seed·1000003 + index) mod 2³²`` — PyTorch's CPU generator keeps 32 bits of a seed —
    so seeds are distinct for every index below 1,000,003 and every seed below 4294.
    """
    return (int(seed) * SEED_STRIDE + int(index)) % 2**32


def source_noise(shape: tuple[int, ...], seed: int, indices: range | list[int]) -> Tensor:
    """``x0`` for the given sample indices, each drawn from its own seeded generator."""
    out = torch.empty((len(indices), *shape))
    for row, i in enumerate(indices):
        g = torch.Generator().manual_seed(sample_seed(seed, i))
        out[row] = torch.randn(shape, generator=g)
    return out


@torch.no_grad()
def sample_images(
    model: nn.Module,
    cfg: dict[str, Any],
    n: int,
    sampling: SamplingConfig | None = None,
    *,
    seed: int = 0,
    start: int = 0,
    batch_size: int = 64,
    indices: list[int] | None = None,
    labels: Tensor | None = None,
    guidance: float = 1.0,
    device: str | torch.device = "cpu",
    **overrides: Any,
) -> tuple[Tensor, int]:
    """Draw ``n`` images (float, ``(n, C, H, W)`` in about [-1, 1]) and report the NFE.

    Sample ``i`` (``start ≤ i < start + n``, or each of ``indices``) starts from its own
    seeded ``x0``, so results do not depend on ``batch_size``. ``sampling`` defaults to the
    run's (:meth:`SamplingConfig.from_run`); ``overrides`` (``nfe=``, ``solver=``, ...;
    ``None`` keeps the value) change it. :func:`image_samples` does the same and also takes
    a ``generator`` or ``x0`` and returns trajectories.

    Returns:
        ``(images, nfe)`` where ``nfe`` is the counted network calls per sample.
    """
    res = image_samples(model, cfg, n, sampling, seed=seed, start=start, batch_size=batch_size,
                        indices=indices, labels=labels, guidance=guidance, device=device,
                        **overrides)
    return res.x, res.nfe


def check_conditioning(cfg: dict[str, Any], guidance: float = 1.0,
                       labels: Tensor | None = None) -> None:
    """Refuse class labels or a guidance scale that the run would ignore or cannot take.

    Raises:
        UserError: guidance without a class-conditional model or without labels.
        ConfigError: labels for an unconditional model, or labels outside ``[0, classes)``,
            or a guidance scale that is not a finite number >= 0.
    """
    from idff.sample_inputs import check_guidance

    guidance = check_guidance(guidance)
    num_classes = cfg["model"].get("num_classes")
    if guidance != 1.0 and (not num_classes or labels is None):
        why = ("the model is not class-conditional" if not num_classes else
               "no class label was given")
        raise UserError(f"guidance={guidance:g} has no effect: {why}. Leave guidance at 1"
                        + ("." if not num_classes else ", or pass label=..."),
                        cli=f"--guidance {guidance:g} has no effect: {why}. Drop --guidance"
                            + ("." if not num_classes else ", or pass --label."))
    if labels is None:
        return
    if not num_classes:
        raise ConfigError("labels were given but the model is not class-conditional "
                          "(it has no model.num_classes); sample it without labels.",
                          cli="--label was given but the model is not class-conditional (it "
                              "has no model.num_classes); drop --label.")
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if len(bad):
        raise ConfigError(f"class label {int(bad[0])} is out of range: the model has "
                          f"{num_classes} classes, labels 0 to {num_classes - 1}.")


@torch.no_grad()
def image_samples(
    model: nn.Module,
    cfg: dict[str, Any],
    n: int,
    sampling: SamplingConfig | None = None,
    *,
    seed: int = 0,
    start: int = 0,
    batch_size: int = 64,
    indices: list[int] | None = None,
    labels: Tensor | None = None,
    guidance: float = 1.0,
    device: str | torch.device = "cpu",
    generator: torch.Generator | None = None,
    x0: Tensor | None = None,
    return_trajectory: bool = False,
    **overrides: Any,
) -> SampleResult:
    """:func:`sample_images` as a :class:`~idff.sampler.SampleResult` (images unclamped).

    ``generator`` draws all sources (and the solver's noise) from one generator instead of
    per-sample seeds; ``x0`` gives the sources ``(n, C, H, W)``; ``return_trajectory``
    keeps the states along the way (``(K, n, C, H, W)``, on the CPU).

    Raises:
        ConfigError: labels for an unconditional model, or counts that do not match.
    """
    from idff.errors import ConfigError
    from idff.run_kind import draw_source
    from idff.sample_inputs import as_labels

    sampling = (sampling or SamplingConfig.from_run(cfg)).replace(**overrides)
    check_student_nfe(cfg, sampling.nfe, sampling.solver, sampling.adaptive)
    model = model.to(device).eval()
    net: nn.Module = model
    num_classes = cfg["model"].get("num_classes")
    labels = None if labels is None else as_labels(labels)
    check_conditioning(cfg, guidance, labels)
    if labels is not None:
        if len(labels) != n:
            raise ConfigError(f"need one label per sample: {len(labels)} labels for n={n}.")
        if guidance != 1.0:
            net = GuidedNet(model, guidance, num_classes)
    shape = (int(cfg["model"]["in_channels"]), *_hw(cfg["model"]["image_size"]))
    all_idx = list(range(start, start + n)) if indices is None else [int(i) for i in indices]
    if len(all_idx) != n:
        raise ConfigError(f"got {len(all_idx)} indices for n={n}.")
    g = None
    if generator is not None or x0 is not None:
        source, g = draw_source(n, shape, seed=seed, generator=generator, x0=x0, device=device)
    outs, trajs, used, times = [], [], 0, None
    for lo in range(0, n, batch_size):
        idx = all_idx[lo : lo + batch_size]
        if g is None:
            x0_b = source_noise(shape, seed, idx).to(device)
            g_b = torch.Generator(device=device).manual_seed(sample_seed(seed, idx[0]))
        else:
            x0_b, g_b = source[lo : lo + len(idx)], g
        cond = None if labels is None else labels[lo : lo + len(idx)].to(device)
        res = sampling.integrate(net, x0_b, cond=cond, generator=g_b,
                                 return_trajectory=return_trajectory)
        outs.append(res.x.float().cpu())
        if res.trajectory is not None:
            trajs.append(res.trajectory.float().cpu())
            times = res.times.cpu() if res.times is not None else None
        used = res.nfe
    traj = torch.cat(trajs, dim=1) if trajs else None
    return SampleResult(x=torch.cat(outs), nfe=used, trajectory=traj, times=times)


def _hw(size) -> tuple[int, int]:
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
