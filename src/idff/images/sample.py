"""Image generation end to end: train a preset, load runs or published checkpoints, sample.

Shared by ``idff train PRESET``, ``idff sample``, ``idff generate`` and ``idff dump-real``.
A run's ``config.json`` carries ``"kind": "image"`` and the preset sections (``data``,
``model``, ``objective``, ``train``, ``sample``), so a run can be rebuilt from JSON alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from idff.distill.guard import check_student_nfe
from idff.errors import ConfigError, UserError, load_error_reason
from idff.methods import check_sigma, make_objective
from idff.models import GuidedNet, build_model
from idff.presets import apply_overrides, get_preset
from idff.run_kind import RunKind, load_weights
from idff.sampler import SampleResult
from idff.sampling import SamplingConfig
from idff.training.checkpoint import RunError, load_state_dict_checked

__all__ = [
    "image_run_config",
    "train_config_from",
    "per_rank_batch",
    "build_run",
    "dry_run_report",
    "train_images",
    "is_image_run",
    "load_image_model",
    "load_published",
    "published_model_config",
    "infer_unet_layout",
    "sample_seed",
    "source_noise",
    "sample_images",
    "image_samples",
    "check_conditioning",
    "save_grid",
]

#: model sizes that must be integers >= 1 (a 0 would fail deep inside the network)
MODEL_SIZES = ("num_channels", "num_res_blocks", "num_heads", "image_size", "in_channels")

TRAIN_KEYS = ("steps", "lr", "weight_decay", "warmup", "grad_clip", "ema_decay", "ema_warmup",
              "seed", "log_every", "ckpt_every", "max_minutes", "grad_accum", "precision",
              "sample_every", "tensorboard")


#: overrides that only an IDFF run reads (its objective's flow and score terms, its heads)
IDFF_ONLY_OVERRIDES = ("objective.flow_weight", "objective.flow_weighting",
                       "objective.score_target", "objective.max_weight", "objective.t_eps",
                       "model.parametrization", "model.sigma")


def image_run_config(preset: str, overrides: list[str] | None = None,
                     data_root: str | None = None) -> dict[str, Any]:
    """The JSON-able description of an image run: a preset plus overrides."""
    cfg = apply_overrides(get_preset(preset), list(overrides or []))
    if data_root is not None:
        cfg["data"]["root"] = str(Path(data_root).expanduser().resolve())
    cfg["kind"] = "image"
    cfg["preset"] = preset
    cfg["method"] = cfg["objective"].get("name", "idff")
    model = cfg["model"]
    data = cfg["data"]
    if cfg["method"] == "idff":
        # IDFF on images: bounded heads and the CFM-weighted flow loss, the combination that
        # measured best on Fashion-MNIST (README; docs/METHOD.md, "Objective")
        cfg["objective"].setdefault("flow_weighting", "cfm")
        if model.get("parametrization") == "velocity" and not any(
                o.strip().startswith("model.sigma=") for o in overrides or []):
            model["sigma"] = cfg["objective"]["sigma"]  # the heads use the path's σ
    else:
        # the preset's IDFF-only settings are tolerated on a CFM run; naming one is refused
        idff_only = [o.split("=", 1)[0].strip() for o in overrides or []
                     if o.split("=", 1)[0].strip() in IDFF_ONLY_OVERRIDES]
        if idff_only:
            raise ConfigError(
                f"{', '.join(idff_only)} would change nothing: an {cfg['method']} run trains one "
                "velocity network, and these set IDFF's heads and loss; drop them, or train "
                "IDFF (objective.name=idff).",
                cli=f"--set {' --set '.join(idff_only)} would change nothing: an "
                    f"{cfg['method']} run trains one velocity network, and these set IDFF's heads "
                    "and loss; drop them, or train IDFF (--set objective.name=idff).")
        if not any(o.strip().startswith("objective.sigma=") for o in overrides or []):
            cfg["objective"]["sigma"] = 0.0  # CFM baselines: the noiseless path unless asked
    check_sigma(cfg)
    if model.get("in_channels") != data.get("channels") or model.get("image_size") != data.get(
        "image_size"
    ):
        raise ValueError(
            f"model (in_channels={model.get('in_channels')}, image_size="
            f"{model.get('image_size')}) and data (channels={data.get('channels')}, image_size="
            f"{data.get('image_size')}) disagree; override both, e.g. --set data.image_size=64 "
            "--set model.image_size=64."
        )
    every, log = int(cfg["train"].get("sample_every", 0)), int(cfg["train"].get("log_every", 1))
    if every > 0 and every % max(log, 1):
        raise ValueError(f"train.sample_every={every} must be a multiple of train.log_every={log} "
                         "(grids are drawn at logging steps).")
    for key in MODEL_SIZES:
        v = model.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ConfigError(f"model.{key} must be an integer >= 1, got {v!r}; fix --set "
                              f"model.{key}.")
    bs = cfg["train"].get("batch_size")
    if isinstance(bs, bool) or not isinstance(bs, int) or bs < 1:
        raise ConfigError(f"train.batch_size must be an integer >= 1, got {bs!r}.")
    train_config_from(cfg)  # train.* and sampling.* fail here, not after training
    SamplingConfig.from_run(cfg)
    if data.get("class_cond") and not model.get("num_classes"):
        raise ValueError("data.class_cond needs model.num_classes (the number of labels).")
    if data.get("class_cond") and cfg["objective"].get("coupling") == "ot":
        # minibatch OT re-pairs x1 inside the objective, which would detach them from labels
        raise ValueError("class-conditional training needs --set objective.coupling=independent "
                         "(OT re-pairs images and would separate them from their labels).")
    return cfg


def train_config_from(cfg: dict[str, Any]):
    """:class:`~idff.training.TrainConfig` from a run config's ``train`` section."""
    from idff.errors import ConfigError, unknown_key_message
    from idff.training import TrainConfig

    t = cfg["train"]
    valid = set(TrainConfig.__dataclass_fields__) | {"batch_size"}
    for k in t:
        if k not in valid:
            raise ConfigError(unknown_key_message(k, "train", valid))
    known = {k: t[k] for k in TRAIN_KEYS if k in t}
    return TrainConfig(**known)


def per_rank_batch(cfg: dict[str, Any], world_size: int) -> int:
    """The per-process micro-batch for a global ``train.batch_size``."""
    t = cfg["train"]
    global_bs, accum = int(t["batch_size"]), int(t.get("grad_accum", 1))
    if global_bs % (world_size * accum):
        raise ValueError(
            f"train.batch_size={global_bs} is not divisible by processes × grad_accum = "
            f"{world_size} × {accum}; pick a multiple."
        )
    return global_bs // (world_size * accum)


def build_run(cfg: dict[str, Any], rank: int = 0, world_size: int = 1,
              device: str | torch.device = "cpu"):
    """Model, objective and data (batches served on ``device``) of an image run config."""
    from idff.data.image_batches import build_image_data

    model = build_model(cfg["model"])
    objective = make_objective(cfg["objective"])
    data = build_image_data(cfg["data"], per_rank_batch(cfg, world_size), rank=rank,
                            world_size=world_size, seed=int(cfg["train"].get("seed", 0)),
                            device=device)
    return model, objective, data


def is_image_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an image run directory or a published ``.pt`` checkpoint."""
    from idff.errors import UserError
    from idff.run_kind import run_kind_of

    try:
        return run_kind_of(path) == "image"
    except (UserError, OSError):
        return False


def grid_callback(trainer, cfg: dict[str, Any], every: int, n: int = 64) -> Callable:
    """``on_log`` hook writing ``samples/step_XXXXXXX.png`` from the EMA model every ``every``."""

    def hook(step: int, metrics: dict) -> None:
        if every <= 0 or step % every or not trainer.is_main:
            return
        ema = trainer.ema.module
        was_training = ema.training
        x, _ = sample_images(ema, cfg, n, device=trainer.device, batch_size=n)
        ema.train(was_training)
        save_grid(x, trainer.run_dir / "samples" / f"step_{step:07d}.png")

    return hook


def train_images(cfg: dict[str, Any], run_dir: str | os.PathLike, device: str = "cpu",
                 progress: bool = True, resume: bool | str = False,
                 init_from: str | os.PathLike | None = None, compile: bool = False,
                 on_log: Callable[[int, dict], None] | None = None):
    """Train an image run (single process or one rank of ``torchrun``); return the trainer.

    ``resume``: continue the run saved in ``run_dir`` (see :class:`~idff.training.Trainer`);
    ``init_from``: start from the EMA weights of another run of the same network;
    ``compile``: ``torch.compile`` the network (see :class:`~idff.training.Trainer`);
    ``on_log(step, metrics)`` is called at every logging step (after the sample grid).
    """
    from idff.training import Trainer
    from idff.training.checkpoint import claim_run_dir, init_from_run
    from idff.training.distributed import DistContext

    claim_run_dir(run_dir, resume)  # before the data pipeline is built: refusals are quick
    ctx = DistContext.from_env(device)
    torch.manual_seed(int(cfg["train"].get("seed", 0)) + ctx.rank)
    model, objective, data = build_run(cfg, ctx.rank, ctx.world_size, ctx.device)
    if init_from is not None:
        init_from_run(model, cfg, init_from)
    trainer = Trainer(model, objective, data, train_config_from(cfg), run_dir,
                      run_config=cfg, device=ctx.device, progress=progress and ctx.is_main,
                      dist=ctx, resume=resume, compile=compile)
    grid = grid_callback(trainer, cfg, int(cfg["train"].get("sample_every", 0)))

    def log(step: int, metrics: dict) -> None:
        grid(step, metrics)
        if on_log is not None:
            on_log(step, metrics)

    trainer.on_log = log
    trainer.fit()
    return trainer


# -- loading ------------------------------------------------------------------------------


def infer_unet_layout(state: dict[str, Tensor], image_size: int) -> dict[str, Any]:
    """Read an ADM UNet's width, levels and attention placement off its ``state_dict``.

    Returns ``num_channels``, ``num_res_blocks``, ``channel_mult`` and
    ``attention_resolutions`` (the attention head layout is not stored in the weights).
    Works for the published layout (convolutional downsampling); raises :class:`RunError`
    for state dicts it cannot read.
    """
    first = state.get("input_blocks.0.0.weight")
    if first is None or first.dim() != 4:
        raise RunError("the checkpoint has no 'input_blocks.0.0.weight': it is not an ADM UNet "
                       "state dict as published.")
    width = int(first.shape[0])
    levels: list[list[int]] = [[]]
    attention, ds, i = set(), 1, 1
    while True:
        if f"input_blocks.{i}.0.op.weight" in state:
            levels.append([])
            ds *= 2
        elif f"input_blocks.{i}.0.out_layers.3.weight" in state:
            levels[-1].append(int(state[f"input_blocks.{i}.0.out_layers.3.weight"].shape[0]))
            if f"input_blocks.{i}.1.norm.weight" in state:
                attention.add(ds)
        else:
            break
        i += 1
    counts = {len(level) for level in levels}
    if len(counts) != 1 or 0 in counts or any(c % width for lv in levels for c in lv):
        raise RunError("cannot read the UNet layout off this checkpoint (uneven levels); pass "
                       "the model settings explicitly.")
    return {
        "num_channels": width,
        "num_res_blocks": counts.pop(),
        "channel_mult": [level[0] // width for level in levels],
        "attention_resolutions": ",".join(str(image_size // d) for d in sorted(attention)),
    }


#: path noise σ of the published image checkpoints (docs/METHOD.md, "Published checkpoints")
PUBLISHED_SIGMA = 0.2


def published_model_config(state: dict[str, Tensor], image_size: int = 32,
                           preset: str = "cifar10",
                           overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model config reproducing a published checkpoint's layout (docs/METHOD.md,
    "Published checkpoints").

    The published UNet takes ``cat(x_t, x_t)`` (2C input channels) and returns 2C
    channels split into ``x̂1`` (first C) and ``ŝ``. Width, levels, blocks and attention
    resolutions are read off the weights (:func:`infer_unet_layout`); the attention head
    layout, dropout and the rest come from ``preset``, then ``overrides``. The network
    carries the published σ (:data:`PUBLISHED_SIGMA`), not the preset's.
    """
    layout = infer_unet_layout(state, image_size)
    model = dict(get_preset(preset)["model"])
    model.update(layout)
    model.update(in_channels=int(state["input_blocks.0.0.weight"].shape[1]) // 2,
                 image_size=image_size, in_mult=2, duplicate_input=True, parametrization="x1",
                 sigma=PUBLISHED_SIGMA)
    model.update(overrides or {})
    return model


def _strip_module(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def load_published(path: str | os.PathLike, which: str = "ema_model", image_size: int = 32,
                   preset: str = "cifar10", model_overrides: dict[str, Any] | None = None,
                   ) -> tuple[nn.Module, dict[str, Any]]:
    """Load a published IDFF image checkpoint (``net_model``/``ema_model`` dicts).

    Returns the two-head model (``duplicate_input=True``, ``"x1"`` heads) and a run config
    whose ``sampling`` section holds the published settings: the published field with
    ``s = 2σ``, NFE 10.
    """
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RunError(f"cannot read checkpoint {path} ({load_error_reason(e)}); the file is "
                       "truncated or not a torch checkpoint.") from e
    if not isinstance(ckpt, dict) or which not in ckpt:
        keys = ", ".join(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise RunError(f"{path} has no {which!r} entry (found: {keys}); a published IDFF "
                       "checkpoint holds 'net_model' and 'ema_model'.")
    state = _strip_module(ckpt[which])
    cfg = get_preset(preset)
    cfg["model"] = published_model_config(state, image_size, preset, model_overrides)
    cfg["data"].update(image_size=image_size, channels=cfg["model"]["in_channels"])
    sigma = float(cfg["model"]["sigma"])  # the published σ (or an override), not the preset's
    cfg["objective"]["sigma"] = sigma
    cfg["sampling"] = {"field": "published", "s": 2 * sigma, "solver": "midpoint", "nfe": 10}
    cfg.update(kind="image", preset=preset, method="idff", published=str(path),
               step=int(ckpt.get("step", 0)) if not torch.is_tensor(ckpt.get("step")) else
               int(ckpt["step"]))
    model = build_model(cfg["model"])
    load_state_dict_checked(model, {"backbone.net." + k: v for k, v in state.items()}, str(path))
    return model.eval(), cfg


def load_image_model(path: str | os.PathLike, which: str = "ema_model",
                     image_size: int = 32) -> tuple[nn.Module, dict[str, Any]]:
    """Load an image run directory (EMA snapshot), a published ``.pt`` checkpoint or a
    shipped run by name (:func:`idff.runs.resolve`)."""
    from idff.run_kind import resolve

    p = resolve(path)
    if p.is_file():
        return load_published(p, which=which, image_size=image_size)
    return load_weights(p, "image")


# -- sampling -----------------------------------------------------------------------------


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


def save_grid(x: Tensor, path: str | os.PathLike, nrow: int | None = None) -> Path:
    """Save images in [-1, 1] ``(N, C, H, W)`` as one PNG grid (``nrow`` per row, default
    ≈ √N), with white 2-pixel padding; grayscale grids are stored as RGB."""
    from torchvision.utils import save_image

    from idff.io import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"cannot write to {path.parent}; choose a writable --out.")
    nrow = nrow or max(1, int(round(x.shape[0] ** 0.5)))
    x = x.detach().float().cpu()
    return atomic_write(path, lambda f: save_image(x, f, format="PNG", nrow=nrow, padding=2,
                                                   pad_value=1.0, normalize=True,
                                                   value_range=(-1, 1)))


def dry_run_report(cfg: dict[str, Any], device: str = "cpu") -> list[str]:
    """Build a run's model, objective and data pipeline and evaluate one loss; write nothing.

    When the dataset is not on this machine the pipeline is built over random images of
    the configured shape and the report says what is missing.
    """
    from idff.data.image_batches import ImageBatches, build_image_data
    from idff.data.images import NumpyImages
    from idff.errors import DataNotFound

    lines = [f"preset {cfg['preset']}: {json.dumps(cfg['data'])}"]
    model = build_model(cfg["model"]).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    lines.append(f"model: {cfg['model']['backbone']} with {n_params / 1e6:.2f} M parameters")
    objective = make_objective(cfg["objective"])
    bs = per_rank_batch(cfg, 1)
    try:
        data = build_image_data(cfg["data"], bs)
        lines.append(f"data: {len(data.dataset)} images, {len(data)} batches of {bs} per epoch")
    except DataNotFound as e:  # absent data is checked on random images; corrupt data fails
        c, size = int(cfg["data"]["channels"]), int(cfg["data"]["image_size"])
        fake = torch.randint(0, 256, (max(2, bs), c, size, size), dtype=torch.uint8)
        data = ImageBatches(NumpyImages(fake), 2)
        lines.append(f"data: NOT FOUND ({e}) — pipeline checked on random images instead")
    x1, cond = next(iter(data))
    x1 = x1[:2].to(device)
    cond = None if cond is None else cond[:2].to(device)
    with torch.no_grad():
        out = objective(model, x1, cond)
    lines.append(f"one loss on a batch of {tuple(x1.shape)}: {out.loss.item():.4f} "
                 f"(flow {out.flow.item():.4f}, score {out.score.item():.4f})")
    lines.append(f"train: {json.dumps(cfg['train'])}")
    lines.append(f"sampling: {json.dumps(cfg['sampling'])}")
    return lines


def _sample(model, cfg, n, sampling, seed=0, device="cpu", generator=None, x0=None, labels=None,
            guidance=1.0, return_trajectory=False):
    return image_samples(model, cfg, n, sampling, seed=seed, device=device, batch_size=250,
                         generator=generator, x0=x0, labels=labels, guidance=guidance,
                         return_trajectory=return_trajectory)


def _train(cfg, out, progress=True, device="cpu", on_log=None, resume=False, init_from=None):
    return train_images(cfg, out, device=str(device), progress=progress, on_log=on_log,
                        resume=resume, init_from=init_from).ema.module


KIND = RunKind("image", load=load_image_model, sample=_sample, data_range=(-1.0, 1.0),
               train=_train, train_defaults={}, requires=("data", "train.batch_size"))
