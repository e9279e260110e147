"""The ``toy`` run kind: loading a toy run, its training stream for ``idff.train_run`` (named
toys; unknown keys refused) and the :class:`~idff.run_kind.RunKind` (``KIND``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from idff.errors import ConfigError, unknown_key_message
from idff.run_kind import RunKind, load_weights
from idff.toy.sample import sample_model
from idff.toy.train import ToyStream

__all__ = ["KIND", "TOY_KEYS", "TOY_DATA_KEYS", "load_toy_model"]


def load_toy_model(run_dir: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the EMA model of a toy run directory.

    Raises:
        RunError: not a toy run (an SST or MD run, say), or weights that do not fit.
    """
    return load_weights(run_dir, "toy")


def _sample(model, config, n, sampling, seed=0, device="cpu", generator=None, x0=None,
            return_trajectory=False, progress=False):
    return sample_model(model, config, n, sampling, seed=seed, device=device,
                        generator=generator, x0=x0, return_trajectory=return_trajectory,
                        progress=progress)


#: the keys of a toy run's ``data`` section, and of the whole config
TOY_DATA_KEYS = ("dataset", "batch_size", "file", "sha256")
TOY_KEYS = ("kind", "method", "objective", "model", "data", "train", "sampling", "layout",
            "step")


def _stream(config: dict[str, Any]) -> ToyStream:
    """The training stream of ``idff.train_run`` (a named toy; vector files train through
    :func:`idff.toy.train.train_toy` with ``data=``). Unknown sections and ``data`` keys are
    refused, not ignored."""
    for k in config:
        if k not in TOY_KEYS:
            raise ConfigError(unknown_key_message(k, "", TOY_KEYS, "section"))
    data = config["data"]
    for k in data:
        if k not in TOY_DATA_KEYS:
            raise ConfigError(unknown_key_message(k, "data", TOY_DATA_KEYS))
    if data["dataset"] == "file" or data.get("file"):
        raise ConfigError("a toy config on a vector file trains with idff.toy.train.train_toy("
                          "config, out, train, data=array) or 'idff train toy --data FILE'; "
                          "idff.train_run draws named toys only.")
    return ToyStream(data["dataset"], data["batch_size"])


KIND = RunKind("toy", load=load_toy_model, sample=_sample, stream=_stream, published_sde=True,
               requires=("data.dataset", "data.batch_size"),
               takes=("generator", "x0", "return_trajectory", "progress"))
