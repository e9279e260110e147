"""IDFF's sampling options named on the command line for a velocity (OT-/I-CFM) run.

:class:`idff.sampling.SamplingConfig` refuses them at values that would change the
samples; at IDFF's own defaults (``--field pf``, ``--gamma 0``, ``--s 0``, ``--ode``) it
takes them quietly, so that code may pass them for every method. Typed on the command
line they still read as a choice that was honoured, so the commands refuse them here.
"""

from __future__ import annotations

import json
from typing import Any

from idff.errors import UserError

__all__ = ["IDFF_ONLY", "method_of", "refuse_idff_options"]

#: sampling options that only an IDFF (two-head) run reads
IDFF_ONLY = ("field", "gamma", "s", "sde")
#: their values that the core takes quietly on a velocity run
IDFF_DEFAULTS = {"field": "pf", "gamma": 0.0, "s": 0.0, "sde": False}


def method_of(run: Any) -> str:
    """The method of the run at ``run`` (a published ``.pt`` checkpoint is IDFF); ``"idff"``
    when it cannot be read, which the loader then reports."""
    from idff.runs import resolve

    try:
        p = resolve(run)
        if p.is_file():
            return "idff"
        cfg = json.loads((p / "config.json").read_text())
        return str(cfg.get("method", "idff")) if isinstance(cfg, dict) else "idff"
    except (OSError, ValueError, UserError):
        return "idff"


def _word(name: str, value: Any) -> str:
    if name == "sde":
        return "--sde" if value else "--ode"
    return f"--{name} {value}" if name == "field" else f"--{name} {value:g}"


def refuse_idff_options(run: Any, overrides: dict[str, Any]) -> None:
    """Refuse ``--field pf``, ``--gamma 0``, ``--s 0`` and ``--ode`` for a velocity run.

    Raises:
        UserError: naming the options and why they change nothing.
    """
    # other values are refused by SamplingConfig itself, in its own words
    named = [k for k in IDFF_ONLY if k in overrides and overrides[k] == IDFF_DEFAULTS[k]]
    method = method_of(run) if named else "idff"
    if method == "idff":
        return
    words = ", ".join(_word(k, overrides[k]) for k in named)
    raise UserError(f"{words} would change nothing: an {method} run is sampled with its "
                    f"velocity, which has no IDFF field or noise; drop "
                    f"{'them' if len(named) > 1 else 'it'}.")
