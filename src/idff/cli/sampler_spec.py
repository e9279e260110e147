"""``--solver`` and ``--grid`` values in the registry's spellings (``rk2:0.25``,
``power:1.5``): their choices are read from :mod:`idff.sampling.registry` when help is shown
or a value is parsed, so a solver or grid registered later is offered everywhere."""

from __future__ import annotations

from typing import Any

import click

from idff.errors import UserError

__all__ = ["SolverSpec", "GridSpec", "split_specs"]


class _Spec(click.ParamType):
    """A registry name, or ``name:PARAM`` for a family with a parameter."""

    def names(self) -> list[str]:
        raise NotImplementedError

    def parse(self, value: str) -> dict[str, Any]:
        raise NotImplementedError

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return f"[{'|'.join(self.names())}]"

    def convert(self, value: Any, param, ctx) -> str:
        try:
            self.parse(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)
        return str(value).strip()

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(n) for n in self.names() if n.startswith(incomplete)]


class SolverSpec(_Spec):
    name = "solver"

    def __init__(self, plain: bool = False, **facts: Any) -> None:
        self.plain, self.facts = plain, facts

    def names(self) -> list[str]:
        from idff.sampling.registry import solver_names

        return list(solver_names(**self.facts))

    def parse(self, value: str) -> dict[str, Any]:
        from idff.sampling.registry import parse_solver

        name, kw = parse_solver(value)
        if kw and self.plain:
            raise ValueError(f"this command takes a solver name, not {value!r}; write "
                             f"{name!r}.")
        if name not in self.names():
            raise ValueError(f"solver {name!r} is not offered here; choose one of "
                             f"{', '.join(self.names())}.")
        return {"solver": name, **kw}


class GridSpec(_Spec):
    name = "grid"

    def names(self) -> list[str]:
        from idff.sampling.registry import grid_names

        return list(grid_names())

    def parse(self, value: str) -> dict[str, Any]:
        from idff.sampling.registry import parse_grid

        params = parse_grid(value)
        return params if ":" in value else {"grid": params["grid"]}


def split_specs(given: dict[str, Any]) -> dict[str, Any]:
    """``solver``/``grid`` given as ``rk2:0.25`` / ``power:1.5`` -> the plain name and its
    parameter (``alpha``, ``rho``); the parameter named twice is refused."""
    out = dict(given)
    for key, typ in (("solver", SolverSpec()), ("grid", GridSpec())):
        if out.get(key) is None or ":" not in str(out[key]):
            continue
        parsed = typ.parse(out[key])
        for k in parsed:
            if k != key and out.get(k) is not None:
                raise UserError(f"--{key} {out[key]} already sets {k}; drop --{k} {out[k]:g} "
                                f"or write --{key} {parsed[key]}.")
        out.update(parsed)
    return out
