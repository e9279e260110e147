"""An image run's config: a preset plus ``--set`` overrides, checked before anything is built.

A run's ``config.json`` carries ``"kind": "image"`` and the preset sections (``data``,
``model``, ``objective``, ``train``, ``sample``), so a run can be rebuilt from JSON alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idff.errors import ConfigError
from idff.methods import check_sigma
from idff.presets import apply_overrides, get_preset
from idff.sampling import SamplingConfig

__all__ = ["MODEL_SIZES", "TRAIN_KEYS", "IDFF_ONLY_OVERRIDES", "image_run_config",
           "train_config_from", "per_rank_batch"]

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
    from idff.training.config import TrainConfig

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
