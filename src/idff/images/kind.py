"""The ``image`` run kind: loading an image model (a run folder, a published checkpoint or a
shipped name), and the :class:`~idff.run_kind.RunKind` that ``idff.load`` and
``idff.train_run`` use (``KIND``)."""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from idff.images.published import load_published
from idff.images.sample import image_samples
from idff.images.train import train_images
from idff.run_kind import RunKind, load_weights

__all__ = ["KIND", "is_image_run", "load_image_model"]


def is_image_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an image run directory or a published ``.pt`` checkpoint."""
    from idff.errors import UserError
    from idff.run_kind import run_kind_of

    try:
        return run_kind_of(path) == "image"
    except (UserError, OSError):
        return False


def load_image_model(path: str | os.PathLike, which: str = "ema_model",
                     image_size: int = 32) -> tuple[nn.Module, dict[str, Any]]:
    """Load an image run directory (EMA snapshot), a published ``.pt`` checkpoint or a
    shipped run by name (:func:`idff.runs.resolve`)."""
    from idff.run_kind import resolve

    p = resolve(path)
    if p.is_file():
        return load_published(p, which=which, image_size=image_size)
    return load_weights(p, "image")


def _sample(model, cfg, n, sampling, seed=0, device="cpu", generator=None, x0=None, labels=None,
            guidance=1.0, return_trajectory=False):
    return image_samples(model, cfg, n, sampling, seed=seed, device=device, batch_size=250,
                         generator=generator, x0=x0, labels=labels, guidance=guidance,
                         return_trajectory=return_trajectory)


def _train(cfg, out, progress=True, device="cpu", on_log=None, resume=False, init_from=None):
    return train_images(cfg, out, device=str(device), progress=progress, on_log=on_log,
                        resume=resume, init_from=init_from).ema.module


KIND = RunKind("image", load=load_image_model, sample=_sample, data_range=(-1.0, 1.0),
               train=_train, train_defaults={}, requires=("data", "train.batch_size"),
               takes=("generator", "x0", "labels", "guidance", "return_trajectory"))
