"""Options named explicitly that a sampling config would ignore are refused, not dropped:
the one check :meth:`~idff.sampling.SamplingConfig.replace` runs on what was named."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idff.errors import ConfigError
from idff.sampling.registry import grid_class, solver_class

__all__ = ["refuse_unused"]


def refuse_unused(cfg: Any, given: Mapping[str, Any]) -> None:
    """Refuse options given explicitly that ``cfg``'s method/field/solver would ignore.

    Raises:
        ConfigError: naming the options, why they do nothing, and the fix (in Python
            words, with the command-line words as its ``cli`` message).
    """
    defaults = {"field": "pf", "gamma": 0.0, "s": 0.0, "sde": False}
    # named explicitly, even at its default value, rho asks for the power grid and alpha
    # for rk2: without them it would be dropped without a word
    if grid_class(cfg.grid).param != "rho" and "rho" in given:
        unused = ["rho"]
        if cfg.adaptive:
            why = f"the solver {cfg.solver!r} is adaptive and uses no time grid"
            fix, cli_fix = "drop it", "drop it"
        else:
            why = f"only the power grid has an exponent, and the grid is {cfg.grid!r}"
            fix, cli_fix = "add grid='power'", "add --grid power"
    elif solver_class(cfg.solver).param != "alpha" and "alpha" in given:
        unused = ["alpha"]
        why = (f"only the rk2 solver has a movable second call, and the solver is "
               f"{cfg.solver!r}")
        fix, cli_fix = "add solver='rk2'", "add --solver rk2"
    elif cfg.method != "idff":
        unused = [k for k in defaults if k in given and given[k] != defaults[k]]
        why = (f"a {cfg.method} run is sampled with its velocity, which has no IDFF field "
               "or noise")
        fix = cli_fix = "drop them"
    elif cfg.field == "pf":
        unused = [k for k in ("s", "sde") if k in given and given[k] != defaults[k]]
        why, fix = "s and sde belong to the published field", "add field='published'"
        cli_fix = "add --field published"
    elif cfg.field == "published":
        unused = ["gamma"] if given.get("gamma", 0.0) != 0.0 else []
        why, fix, cli_fix = ("gamma belongs to the pf field", "add field='pf'",
                             "add --field pf")
    else:
        unused = [k for k in ("gamma", "s", "sde") if k in given and given[k] != defaults[k]]
        why = f"the {cfg.field} field is an ODE without noise"
        fix, cli_fix = "use field='pf' for gamma", "use --field pf for --gamma"
    if not unused:
        return

    def py(k: str) -> str:
        return f"{k}={given[k]!r}"

    def cli(k: str) -> str:
        v = given[k]
        return f"--{k}" if v is True else f"--{k} {v:g}" if k != "field" else f"--{k} {v}"

    note = ""
    if cfg.budgets and cfg.nfe in cfg.budgets:
        entry = ", ".join(f"{k}={v!r}" for k, v in cfg.budgets[cfg.nfe].items())
        note = (f" (naming a sampler option sets aside the sampler stored for NFE "
                f"{cfg.nfe}: {entry})")
    raise ConfigError(
        f"{', '.join(map(py, unused))} would change nothing: {why}; {fix}.{note}",
        cli=f"{', '.join(map(cli, unused))} would change nothing: {why}; {cli_fix}.{note}")
