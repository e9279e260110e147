"""Every key an image run config accepts, per section, with an example value of its type.

The keys are read off the code that consumes each section, so ``--set`` (:mod:`idff.presets`)
and the check of a run's ``config.json`` (:mod:`idff.config_schema`) accept the same keys
without a second list to keep. Below both: it imports the consumers (models, objectives,
:class:`~idff.training.config.TrainConfig`, :class:`~idff.sampling.SamplingConfig`), never
the presets, the trainer or the checkpoints.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["keyword_params", "config_keys"]


def keyword_params(fn) -> dict[str, Any]:
    """Keyword parameters of ``fn`` with their defaults (``None`` when there is none)."""
    out = {}
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name != "self":
            out[name] = None if p.default is inspect.Parameter.empty else p.default
    return out


def config_keys(preset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every key an image run config accepts, per section, with an example value of its type.

    The keys are read off the code that consumes each section (the data loader, the
    backbone and head builders, the objectives, :class:`~idff.training.config.TrainConfig`), so a
    new argument there is accepted here without a second list to keep.
    """
    from dataclasses import MISSING, fields

    from idff.models.factory import BACKBONES
    from idff.objective import CFMObjective, IDFFObjective
    from idff.sampling import SamplingConfig
    from idff.training.config import TrainConfig

    backbone = preset.get("model", {}).get("backbone", "unet")
    if backbone == "unet":
        from idff.models.unet import UNet

        model = keyword_params(UNet.__init__)
    else:
        model = keyword_params(BACKBONES[backbone]) if backbone in BACKBONES else {}
    model.pop("out_mult", None)
    model.pop("kwargs", None)
    model.update(backbone="", method="", parametrization="", split_dim=1,
                 duplicate_input=False, sigma=0.2)
    keys = {
        "data": {"dataset": "", "image_size": 0, "channels": 0, "hflip": False, "root": "",
                 "download": False, "class_cond": False, "num_workers": 0, "layout": "",
                 "labels_from_dirs": False},
        "model": model,
        "objective": {"name": "", **keyword_params(IDFFObjective.__init__),
                      **keyword_params(CFMObjective.__init__)},
        "train": {"batch_size": 0, **{f.name: None if f.default is MISSING else f.default
                                      for f in fields(TrainConfig)}},
        "sampling": SamplingConfig().knobs(),
    }
    keys["train"]["max_minutes"] = 0.0
    for section, values in preset.items():  # the preset's own keys and value types win
        if isinstance(values, dict) and section in keys:
            keys[section].update(values)
    return keys
