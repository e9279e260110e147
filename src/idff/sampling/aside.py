"""A stored per-budget sampler, set aside by a named option, said out loud.

A run's :class:`~idff.sampling.SamplingConfig` may sample its NFE with an entry of its
per-budget table (``sampling.budgets``; docs/METHOD.md, "Samplers stored per budget"). Naming
a solver, grid or noise option sets that entry aside and starts from the run's stored
settings. The repr shows those settings (``home=``) beside the entry in use, and a request
that the stored settings cannot honour is refused here naming the entry and the stored
setting in the way, rather than a setting the user never saw.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from idff.errors import ConfigError
from idff.sampling.registry import Names

__all__ = ["config_repr", "check_set_aside", "NOISE_SOLVERS"]

#: solvers that integrate a field with diffusion (the others are for ODEs): the registry's
NOISE_SOLVERS = Names(diffusion=True)


def config_repr(cfg: Any) -> str:
    """The dataclass repr, plus ``home=`` (the stored settings a named option starts from)
    while an entry of the per-budget table is in use."""
    parts = [f"{f.name}={getattr(cfg, f.name)!r}" for f in dataclasses.fields(cfg) if f.repr]
    if cfg.home is not None:
        parts.append(f"home={dict(cfg.home)!r}")
    return f"{type(cfg).__name__}({', '.join(parts)})"


def _words(k: str, v: Any) -> tuple[str, str]:
    """``k=v`` in Python words and in command-line words."""
    cli = f"--{k}" if v is True else f"--{k} {v:g}" if isinstance(v, float) else f"--{k} {v}"
    return f"{k}={v!r}", cli


def check_set_aside(out: Any, given: Mapping[str, Any], knobs: tuple[str, ...],
                    stored: Mapping[str, Any]) -> None:
    """Refuse options named over a set-aside entry that the stored settings cannot honour.

    ``out`` is the config :meth:`~idff.sampling.SamplingConfig.replace` built from the
    options ``given``; ``knobs`` are the sampler options (naming one sets the entry aside);
    ``stored`` the settings the entry sits on.

    Raises:
        ConfigError: ``rho`` where the stored grid is not ``power`` (the entry's was),
            ``alpha`` where the stored solver is not ``rk2`` (the entry's was), or noise
            (``gamma``, ``sde``) for a stored solver that integrates ODEs only.
    """
    entry = (out.budgets or {}).get(out.nfe)
    if not entry or not given.keys() & set(knobs):
        return
    # the options that ask for this field's noise (another field's are refused later)
    noise = [k for k in (("gamma",) if out.field == "pf" else ("sde", "s")) if given.get(k)]
    if "rho" in given and "grid" not in given and out.grid != "power" and \
            entry.get("grid") == "power":
        named, why, fix = "rho", f"grid {out.grid!r} has no exponent", ("grid", "power")
    elif "alpha" in given and "solver" not in given and out.solver != "rk2" and \
            entry.get("solver") == "rk2":
        named, why, fix = "alpha", (f"solver {out.solver!r} has no movable second call"),\
            ("solver", "rk2")
    elif noise and "solver" not in given and out.method == "idff" and \
            (out.field == "pf" and out.gamma > 0 and out.sigma != 0 or
             out.field == "published" and out.sde and
             out.s > 0) and out.effective_solver() not in NOISE_SOLVERS:
        named, why, fix = noise[0], (f"solver {out.effective_solver()!r} integrates ODEs only, "
                                     "without the noise asked for"), ("solver", "euler")
    else:
        return
    try:  # the entry in the words of `describe`
        used = {**stored, **entry, "nfe": out.nfe}
        if used.get("grid") != "custom":
            used["times"] = None
        shown = dataclasses.replace(out, **used, budgets=None, home=None).describe()
    except (ConfigError, TypeError):
        shown = ", ".join(f"{k}={v!r}" for k, v in entry.items() if k != "times")
    py, cli = _words(named, given[named])
    fix_py, fix_cli = _words(*fix)
    said = (f"sets aside the sampler stored for NFE {out.nfe} ({shown}) and starts from the "
            f"run's stored settings, whose {why}")
    raise ConfigError(f"{py} {said}; add {fix_py}.", cli=f"{cli} {said}; add {fix_cli}.")
