"""Reading run configs written by any version: one place that upgrades old layouts.

Run configs are plain JSON. The layout changed once; :func:`upgrade_config` maps an older
config to the current one so that every loader sees one spelling per concept:

* the sampling section is ``"sampling"`` (image runs wrote ``"sample"``);
* the path noise is ``objective.sigma`` for every method (CFM runs wrote ``cfm_sigma`` and
  ignored ``sigma``, so an old CFM run without ``cfm_sigma`` trained with σ = 0);
* the independent-coupling CFM baseline is ``"icfm"`` (MD runs wrote ``"cfm"``);
* the sampling budget is ``nfe`` (SST runs wrote solver ``steps``); ``method`` and
  ``sigma`` are the run's own and are no longer repeated in the sampling section.

Upgrading is exact: an old run samples the same numbers after it.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["upgrade_config", "CFM_METHODS", "LAYOUT"]

#: the layout written by this version (stored as ``"layout"`` in every config.json)
LAYOUT = 2

CFM_METHODS = ("otcfm", "icfm")


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` in the current layout (already-current configs are unchanged)."""
    cfg = copy.deepcopy(config)
    if not isinstance(cfg, dict):
        return cfg
    if "sample" in cfg and "sampling" not in cfg:
        cfg["sampling"] = cfg.pop("sample")
    if cfg.get("kind") == "md" and cfg.get("method") == "cfm":
        cfg["method"] = "icfm"
    obj = cfg.get("objective")
    if isinstance(obj, dict) and obj.get("name") in CFM_METHODS:
        if "cfm_sigma" in obj:
            obj["sigma"] = float(obj.pop("cfm_sigma"))
        elif cfg.get("layout", 1) < LAYOUT:
            obj["sigma"] = 0.0  # the old CFM objective never read "sigma"
    samp = cfg.get("sampling")
    if isinstance(samp, dict):
        samp.pop("method", None)
        samp.pop("sigma", None)
        samp.pop("source_noise", None)  # now implied: CFM time series start on the noisy path
        if "steps" in samp:
            from idff.sampling import nfe_for_steps

            solver = samp.get("solver", "euler")
            samp["nfe"] = nfe_for_steps(int(samp.pop("steps")), solver,
                                        cfg.get("method", "idff") == "idff")
    cfg["layout"] = LAYOUT
    return cfg
