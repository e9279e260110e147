"""Run configs for :func:`idff.train_run`, one public builder per kind.

``idff.toy_config(method, dataset)`` and ``idff.image_config(preset, changes)`` return
plain JSON-able dicts (``kind``, ``method``, ``objective``, ``model``, ``data``,
``train``, ...), checked so that a bad key or value is a one-line
:class:`~idff.errors.ConfigError` before any training starts. The experiment modules that
know each kind are imported when a builder is called, so ``import idff`` stays light.
"""

from __future__ import annotations

import json
from typing import Any

from idff.errors import ConfigError
from idff.runs import SMALL_TRAIN

__all__ = ["toy_config", "image_config"]


def toy_config(
    method: str = "idff",
    dataset: str = "moons",
    *,
    dim: int = 2,
    hidden: int = 256,
    depth: int = 3,
    parametrization: str | None = None,
    objective: dict[str, Any] | None = None,
    batch_size: int = 256,
    train: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A toy run config: the measured best settings per method
    (:func:`idff.toy.config.toy_run_config`: IDFF with bounded ``"velocity"`` heads,
    OT coupling, σ = 0.2, flow weight 5) and a ``"train"`` section with the toy recipe
    (:data:`idff.runs.SMALL_TRAIN`: 5,000 steps, lr 1e-3, a 200-step warm-up, EMA 0.999),
    changed by ``train``.

    Args:
        method: ``"idff"``, ``"otcfm"`` or ``"icfm"``.
        dataset: a toy of :data:`idff.toy.data.TOYS` (``"moons"``, ``"8gaussians"``, ...).
        dim, hidden, depth: the MLP's data dimension, width and depth.
        parametrization: IDFF's heads (:class:`~idff.models.TwoHead`; default
            ``"velocity"``); refused for a CFM method, which has one velocity network.
        objective: changes to the method's objective settings (``{"sigma": 0.1}``).
        batch_size: training batch size.
        train: changes to the training settings (``{"steps": 2000}``).

    Raises:
        ConfigError: an unknown method or dataset, or a ``parametrization`` for a CFM method.
    """
    from idff.toy.config import toy_run_config
    from idff.toy.data import TOYS

    if dataset not in TOYS:
        raise ConfigError(f"unknown toy dataset {dataset!r}; choose one of {', '.join(TOYS)}.")
    cfg = toy_run_config(method, dataset, dim=dim, hidden=hidden, depth=depth,
                         parametrization=parametrization, objective=objective,
                         batch_size=batch_size)
    cfg["train"] = {**SMALL_TRAIN, **(train or {})}
    return cfg


def image_config(preset: str, changes: dict[str, Any] | list[str] | None = None,
                 data_root: str | None = None) -> dict[str, Any]:
    """An image run config: ``preset`` (``"fashion_mnist"``, ``"cifar10"``, ...; its
    ``"train"`` section is the preset's recipe) with ``changes`` (``{"train.steps": 2000,
    "objective.sigma": 0.2}`` or ``["train.steps=2000"]``), checked as strictly as
    ``idff train PRESET --set`` (:func:`idff.images.config.image_run_config`).

    Args:
        data_root: the folder of the data set (for the presets that read one).

    Raises:
        ConfigError: an unknown preset, section or key (naming the closest valid one), a
            value of the wrong type, or a ``model.sigma`` other than ``objective.sigma``.
    """
    from idff.images.config import image_run_config

    if isinstance(changes, dict):
        changes = [f"{k}={v if isinstance(v, str) else json.dumps(v)}"
                   for k, v in changes.items()]
    return image_run_config(preset, list(changes or []), data_root=data_root)
