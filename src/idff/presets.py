"""Per-dataset image presets, as data.

A preset is a JSON-able dict with five sections, each consumed by one part of the pipeline:

* ``data`` — :func:`idff.images.batches.build_image_data` (dataset, size, channels, flip).
* ``model`` — :func:`idff.models.build_model` (backbone ``"unet"`` and its arguments).
* ``objective`` — :func:`idff.methods.make_objective` (σ, flow weight ``w``, coupling).
* ``train`` — :class:`idff.training.TrainConfig` fields plus ``batch_size`` (global).
* ``sampling`` — defaults of ``idff sample`` / ``idff generate``
  (:class:`idff.sampling.SamplingConfig`: field, solver, NFE, noise).

The CIFAR-10 network is the published one (docs/METHOD.md, "Published checkpoints"); the
other large presets use the ADM widths usual for their resolution, the published
optimisation recipe (docs/METHOD.md, "Optimisation") and exact minibatch OT coupling.
``fashion_mnist`` is sized to train in about 90 minutes on 2 CPU cores. Override any field
with ``idff train PRESET --set section.key=value``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from idff.config_keys import config_keys
from idff.errors import ConfigError

__all__ = ["PRESETS", "get_preset", "apply_overrides", "parse_override", "config_keys"]

# σ = 0.05: measured better than 0.2 on Fashion-MNIST at 4,621 and 13,863 steps (README)
_OBJECTIVE = {"name": "idff", "sigma": 0.05, "flow_weight": 2.0, "coupling": "ot"}
# precision: bf16 autocast on CUDA; the CPU always trains in fp32 (TrainConfig)
_TRAIN = {"batch_size": 128, "lr": 2e-4, "warmup": 5000, "grad_clip": 1.0, "ema_decay": 0.9999,
          "steps": 400_000, "ckpt_every": 20_000, "sample_every": 20_000, "log_every": 100,
          "precision": "bf16"}
_SAMPLE = {"field": "pf", "solver": "midpoint", "nfe": 10}


def _unet(channels: int, size: int, num_channels: int, mult: list[int], attention: str,
          **kw: Any) -> dict[str, Any]:
    return {"backbone": "unet", "method": "idff", "parametrization": "velocity",
            "sigma": _OBJECTIVE["sigma"],
            "in_channels": channels, "image_size": size, "num_channels": num_channels,
            "num_res_blocks": 2, "channel_mult": mult, "attention_resolutions": attention,
            "num_heads": 4, "num_head_channels": 64, "dropout": 0.1, **kw}


def _preset(dataset: str, channels: int, size: int, model: dict, hflip: bool = True,
            train: dict | None = None, **data: Any) -> dict[str, Any]:
    return {
        "data": {"dataset": dataset, "image_size": size, "channels": channels, "hflip": hflip,
                 **data},
        "model": model,
        "objective": dict(_OBJECTIVE),
        "train": {**_TRAIN, **(train or {})},
        "sampling": dict(_SAMPLE),
    }


PRESETS: dict[str, dict[str, Any]] = {
    "cifar10": _preset("cifar10", 3, 32, _unet(3, 32, 128, [1, 2, 2, 4], "16")),
    "celeba64": _preset("celeba64", 3, 64, _unet(3, 64, 128, [1, 2, 3, 4], "16,8"),
                        train={"batch_size": 64}),
    "celebahq256": _preset("celebahq256", 3, 256, _unet(3, 256, 128, [1, 1, 2, 2, 4, 4], "16"),
                           train={"batch_size": 16, "ckpt_every": 10_000}),
    "lsun_bedroom": _preset("lsun_bedroom", 3, 256,
                            _unet(3, 256, 128, [1, 1, 2, 2, 4, 4], "16"),
                            train={"batch_size": 16, "ckpt_every": 10_000}),
    "lsun_church": _preset("lsun_church", 3, 256, _unet(3, 256, 128, [1, 1, 2, 2, 4, 4], "16"),
                           train={"batch_size": 16, "ckpt_every": 10_000}),
    "imagenet64": _preset("imagenet64", 3, 64, _unet(3, 64, 128, [1, 2, 3, 4], "16,8"),
                          train={"batch_size": 64}),
    # CPU-sized: ~1.1 M parameters; OT coupling, short warmup and a fast EMA because the
    # whole run is a few thousand steps.
    "fashion_mnist": _preset(
        "fashion_mnist", 1, 28,
        {**_unet(1, 28, 32, [1, 2, 2], "7"), "num_res_blocks": 1, "num_heads": 4,
         "num_head_channels": -1, "dropout": 0.0},
        train={"batch_size": 32, "lr": 1e-3, "warmup": 200, "ema_decay": 0.995, "steps": 6000,
               "ckpt_every": 250, "sample_every": 500, "log_every": 50},
    ),
}


def get_preset(name: str) -> dict[str, Any]:
    """A deep copy of preset ``name``."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}.")
    return copy.deepcopy(PRESETS[name])


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=1e-4"`` → ``(["train", "lr"], 1e-4)``; values are parsed as JSON when
    they can be (numbers, booleans, lists), else kept as strings."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value.")
    key, raw = text.split("=", 1)
    path = [k for k in key.strip().split(".") if k]
    if len(path) < 2:
        raise ValueError(f"override {text!r} must name a section and a key, e.g. train.lr=1e-4.")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return path, value


def _type_name(example: Any) -> str | None:
    if isinstance(example, bool):
        return "true or false"
    if isinstance(example, int):
        return "an integer"
    if isinstance(example, float):
        return "a number"
    if isinstance(example, str):
        return "a string"
    if isinstance(example, list):
        return "a list, e.g. [1, 2]"
    return None


def _check_type(key: str, value: Any, example: Any) -> None:
    if example is None or value is None:
        return
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
        list: lambda v: isinstance(v, list),
    }.get(type(example))
    if ok is not None and not ok(value):
        raise ConfigError(f"{key} must be {_type_name(example)}, got {json.dumps(value)}; "
                          f"e.g. --set {key}={json.dumps(example)}.")


def apply_overrides(preset: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``preset`` with ``section.key=value`` overrides applied.

    Raises:
        ConfigError: an unknown section or key (naming the closest valid one) or a value
            of the wrong type (``train.lr=abc``).
    """
    from idff.errors import unknown_key_message

    out = copy.deepcopy(preset)
    keys = config_keys(out) if overrides else {}
    for text in overrides:
        path, value = parse_override(text)
        if path[0] not in out:
            raise ConfigError(f"--set {text}: " + unknown_key_message(path[0], "", out, "section"))
        if len(path) != 2:
            raise ConfigError(f"--set {text}: give one section and one key, e.g. "
                              "train.lr=1e-4.")
        section, key = path
        valid = keys.get(section, {})
        if key not in valid:
            raise ConfigError(f"--set {text}: " + unknown_key_message(key, section, valid))
        _check_type(f"{section}.{key}", value, valid[key])
        out[section][key] = value
    return out
