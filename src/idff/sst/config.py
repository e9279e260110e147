"""The configuration of an SST run and its data: the methods and their objective settings,
the eofs demo data set, :func:`sst_run_config` and :func:`load_sst_data` (open, patch,
split and normalise what a run config describes)."""

from __future__ import annotations

from typing import Any

import numpy as np

from idff.sampling import SamplingConfig
from idff.sst.data import (
    Box,
    SSTCube,
    cut_patches,
    eofs_example_path,
    normalise,
    open_sst,
    year_split,
)
from idff.timeseries.gridded import UNET_DEFAULTS
from idff.timeseries.objective import FORECAST_METHODS

__all__ = ["TRAIN_DEFAULTS", "SST_METHODS", "METHOD_DEFAULTS", "EOFS_DATA", "MAX_WHOLE_GRID",
           "sst_run_config", "load_sst_data"]

#: the training settings of an SST run (``idff train sst``, ``sst-demo``;
#: :class:`~idff.training.TrainConfig` fields)
TRAIN_DEFAULTS = {"steps": 1000, "lr": 5e-4, "warmup": 100, "ema_decay": 0.995, "seed": 0,
                  "log_every": 50, "ckpt_every": 250}

#: the methods an SST run trains (those of the forecasting objective)
SST_METHODS = FORECAST_METHODS

#: objective settings per method (σ = 0.2, w = 2 for SST; docs/METHOD.md, "Path and coupling"
#: and "Objective").
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "idff": {"name": "idff", "sigma": 0.2, "flow_weight": 2.0, "coupling": "independent"},
    "otcfm": {"name": "otcfm", "sigma": 0.0, "coupling": "ot"},
}

#: the eofs demo: 50 winters, train 1963–1999, test 2000–2012.
EOFS_DATA: dict[str, Any] = {
    "path": "eofs",
    "var": "sst",
    "boxes": None,
    "normalisation": "global",
    "train": [None, 1999],
    "val": None,
    "test": [2000, None],
}


#: grids larger than this (per side) must be cut into patches.
MAX_WHOLE_GRID = 256


def sst_run_config(
    method: str,
    data: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    horizon: int = 7,
    context: int = 1,
    batch_size: int = 32,
    sampling: dict[str, Any] | None = None,
    sigma: float | None = None,
) -> dict[str, Any]:
    """The JSON-able description of an SST run (sizes are filled by :func:`train_sst`);
    ``sigma`` is the path noise (default: the method's)."""
    if method not in SST_METHODS:
        raise ValueError(f"unknown SST method {method!r}; choose one of {', '.join(SST_METHODS)}.")
    net = dict(UNET_DEFAULTS)
    net.update(model or {})
    net["method"] = "idff" if method == "idff" else "cfm"
    if method == "idff":
        net.setdefault("parametrization", "skip")
    objective = dict(METHOD_DEFAULTS[method])
    if sigma is not None:
        objective["sigma"] = float(sigma)
    return {
        "kind": "sst",
        "method": method,
        "objective": objective,
        "model": net,
        "data": dict(EOFS_DATA if data is None else data),
        "horizon": horizon,
        "context": context,
        "batch_size": batch_size,
        "sampling": SamplingConfig.from_dict(
            {"nfe": 3, "solver": "euler", "gamma": 1.0, **(sampling or {}), "method": method,
             "sigma": objective["sigma"]}).knobs(),
    }


def load_sst_data(data: dict[str, Any]) -> tuple[SSTCube, dict[str, np.ndarray]]:
    """Open, patch, split and normalise the data a run config describes.

    Returns:
        The normalised cube over all times, and the time indices of each split.
    """
    path = eofs_example_path() if data["path"] == "eofs" else data["path"]
    da = open_sst(path, var=data.get("var", "sst"))
    boxes = None if not data.get("boxes") else [Box(*b) for b in data["boxes"]]
    if data.get("corners"):  # south-west corners in degrees, square patches
        size = int(data.get("patch_size", 60))
        boxes = (boxes or []) + [Box.at(da, lat, lon, size, size) for lat, lon in data["corners"]]
    if boxes is None and max(da.sizes["lat"], da.sizes["lon"]) > MAX_WHOLE_GRID:
        raise ValueError(
            f"the grid is {da.sizes['lat']}×{da.sizes['lon']}; too large to model whole. Pass "
            "patch boxes (--boxes 'i0,j0,60,60;...', the protocol's 60×60 patches)."
        )
    cube = cut_patches(da, boxes)
    tuple_or_none = lambda r: None if r is None else tuple(r)  # noqa: E731
    splits = year_split(cube, tuple_or_none(data.get("train")), tuple_or_none(data.get("val")),
                        tuple_or_none(data.get("test")))
    cube = normalise(cube, splits["train"], data.get("normalisation", "global"),
                     stats=data.get("stats"))
    return cube, splits

