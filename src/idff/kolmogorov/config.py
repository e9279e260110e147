"""The configuration of a Kolmogorov run and its data: the forecasters (IDFF, OT-CFM and the
deterministic UNet ``mse``) with their objective and sampling defaults,
:func:`kolmogorov_run_config`, and the normalised splits of a run's data (:func:`load_data`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from idff.errors import ConfigError
from idff.kolmogorov.data import default_root, load_manifest, load_split
from idff.sampling import SamplingConfig
from idff.timeseries.gridded import UNET_DEFAULTS

__all__ = ["TRAIN_DEFAULTS", "FORECASTERS", "SAMPLING_DEFAULTS", "kolmogorov_run_config",
           "KolmogorovData", "load_data"]

#: the training settings of a Kolmogorov forecaster (``idff train kolmogorov``,
#: ``kolmogorov-benchmark``; :class:`~idff.training.TrainConfig` fields)
TRAIN_DEFAULTS = {"steps": 2000, "lr": 5e-4, "warmup": 200, "ema_decay": 0.999, "seed": 0,
                  "log_every": 100, "ckpt_every": 250}

#: forecaster -> (sampling method of its network, objective settings)
FORECASTERS: dict[str, tuple[str, dict[str, Any]]] = {
    "idff": ("idff", {"name": "idff", "sigma": 1.0, "flow_weight": 2.0,
                      "coupling": "independent"}),
    "otcfm": ("otcfm", {"name": "otcfm", "sigma": 0.0, "coupling": "ot"}),
    "mse": ("icfm", {"name": "mse", "sigma": 0.0}),
}

#: sampling defaults: IDFF's SDE (γ = 1) and OT-CFM with 3 Euler steps per lead; the
#: deterministic network is exactly one Euler step of its velocity.
SAMPLING_DEFAULTS: dict[str, dict[str, Any]] = {
    "idff": {"nfe": 3, "solver": "euler", "gamma": 1.0},
    "otcfm": {"nfe": 3, "solver": "euler"},
    "mse": {"nfe": 1, "solver": "euler"},
}


def kolmogorov_run_config(
    forecaster: str,
    size: str = "cpu",
    data_root: str | Path | None = None,
    horizon: int = 16,
    context: int = 1,
    batch_size: int = 32,
    model: dict[str, Any] | None = None,
    sampling: dict[str, Any] | None = None,
    sigma: float | None = None,
) -> dict[str, Any]:
    """The JSON-able description of a Kolmogorov run (``sigma``: the IDFF path noise,
    default 1, as large as a frame's uncertainty so that the SDE can spread an ensemble;
    only IDFF has one).

    Raises:
        ConfigError: an unknown forecaster, or ``sigma`` for a forecaster without one.
    """
    if forecaster not in FORECASTERS:
        raise ConfigError(f"unknown forecaster {forecaster!r}; choose one of "
                          f"{', '.join(FORECASTERS)}.")
    method, objective = FORECASTERS[forecaster]
    if sigma is not None:
        if forecaster != "idff":
            raise ConfigError(f"--sigma sets IDFF's path noise; the {forecaster} forecaster "
                              "has none. Leave it out.")
        if sigma <= 0:
            raise ConfigError(f"--sigma must be > 0 for IDFF (its score head is scaled by it), "
                              f"got {sigma}.")
        objective = {**objective, "sigma": float(sigma)}
    net = {**UNET_DEFAULTS, **(model or {})}
    net["method"] = "idff" if method == "idff" else "cfm"
    if method == "idff":
        net.setdefault("parametrization", "skip")
    return {
        "kind": "kolmogorov",
        "forecaster": forecaster,
        "method": method,
        "objective": dict(objective),
        "model": net,
        "data": {"size": size, "root": str(data_root or default_root())},
        "horizon": horizon,
        "context": context,
        "batch_size": batch_size,
        "sampling": SamplingConfig.from_dict(
            {**SAMPLING_DEFAULTS[forecaster], **(sampling or {}), "method": method,
             "sigma": objective["sigma"]}).knobs(),
    }


@dataclass
class KolmogorovData:
    """Normalised splits ``(trajectories, frames, H, W)``, the manifest and its folder."""

    folder: Path
    manifest: dict[str, Any]
    splits: dict[str, np.ndarray]

    @property
    def mean(self) -> float:
        return self.manifest["stats"]["mean"]

    @property
    def std(self) -> float:
        return self.manifest["stats"]["std"]


def load_data(data: dict[str, Any], splits: tuple[str, ...] = ("train", "test")) -> KolmogorovData:
    """Load and normalise (by the training mean and sd) the splits of a run's data."""
    folder = Path(data["root"]) / data["size"]
    manifest = load_manifest(folder)
    mu, sd = manifest["stats"]["mean"], manifest["stats"]["std"]
    return KolmogorovData(folder, manifest,
                          {s: (load_split(folder, s) - mu) / sd for s in splits})

