"""How to sample a trained network: one config, one field builder, one step schedule.

:class:`SamplingConfig` owns every sampling knob (which field, its noise, the solver and
the NFE budget). Every pipeline (toys, images, SST, MD) and every command that samples
builds its field and step count from it, and every run stores it under the config key
``"sampling"`` (docs/METHOD.md, "Fields" and "Integration"). A new sampling option is one
new field here: it is then stored in run configs, accepted by ``from_dict`` and offered by
the command-line options of every sampling command (:func:`cli_options`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from idff.errors import ConfigError, unknown_key_message
from idff.fields import IDFF_KINDS, CFMField, Field, IDFFField
from idff.network import resolve_sigma
from idff.sampling.aside import check_set_aside, config_repr
from idff.sampling.integrate import integrate
from idff.sampling.registry import (
    Names,
    budget_refusal,
    check_solver_params,
    effective_solver,
    grid_class,
    grid_refusal,
    nfe_for_steps,
    solver_class,
    steps_for_nfe,
    time_grid,
)
from idff.sampling.result import SampleResult
from idff.sampling.unused import refuse_unused
from idff.threads import using_threads

__all__ = [
    "SamplingConfig",
    "METHOD_NAMES",
    "FIELD_KINDS",
    "SAMPLER_KNOBS",
    "cli_options",
    "nfe_for_steps",
    "SOLVERS",
    "ADAPTIVE",
    "GRIDS",
]

#: methods whose networks a field can sample: ``idff`` (two heads), ``otcfm``/``icfm`` (velocity)
METHOD_NAMES = ("idff", "otcfm", "icfm")
#: IDFF fields (docs/METHOD.md, "Fields"); CFM methods always use their velocity
FIELD_KINDS = IDFF_KINDS
#: the settings that make a sampler (what a per-budget entry may hold; the NFE is its key)
SAMPLER_KNOBS = ("solver", "field", "gamma", "s", "sde", "grid", "rho", "alpha", "times")
#: live views of the registry (a solver registered later is offered and accepted)
SOLVERS, ADAPTIVE, GRIDS = Names(), Names(adaptive=True), Names("grids")


def _opt(default: Any, help: str, choices: tuple[str, ...] | None = None,
         off: str | None = None) -> Any:
    """A config field that is also a command-line option (``help``, ``choices``; ``off``
    names the negative flag of a switch)."""
    return dataclasses.field(default=default,
                             metadata={"help": help, "choices": choices, "off": off})


@dataclass(frozen=True)
class SamplingConfig:
    """Every setting that turns a trained network into samples.

    Attributes:
        method: the method that trained the network: ``"idff"`` (two heads, an IDFF field)
            or ``"otcfm"``/``"icfm"`` (a velocity network, sampled with its velocity).
        field: IDFF only: ``"pf"``, ``"published"``, or the score-free ``"x1"`` (trained
            ``x̂1`` as the data prediction) / ``"velocity"`` (the CFM-trained velocity).
        sigma: the training path noise σ (the ``pf`` diffusion is ``γσ``); ``None``: the σ
            the network carries (a run's config always sets it). Sampling a network with
            another σ than its own is refused, naming both.
        gamma: ``pf`` diffusion multiplier ``γ ≥ 0``.
        s: ``published`` sampling noise, ``0 ≤ s ≤ 2``.
        sde: ``published`` diffusion on/off.
        solver: a registered solver (:mod:`idff.sampling.registry`).
        nfe: network evaluations per sample (fixed-step solvers); ``None`` for adaptive
            solvers, which choose their own steps (an explicit NFE with one is refused).
        grid: the time grid of fixed-step solvers (:mod:`idff.sampling.grids`).
        rho: the exponent of the ``power`` grid.
        alpha: ``rk2`` only: where its second call sits in each step (``0 < α ≤ 1``).
        times: the ``custom`` grid ``0 = t_0 < … < t_N = 1`` (``idff tune-schedule``), with
            as many steps as ``nfe`` gives ``solver``.
        budgets: the sampler chosen for each NFE budget, ``{nfe: {knob: value}}`` with the
            knobs of :data:`SAMPLER_KNOBS` (written by ``idff bench nfe --store`` and ``idff
            tune-schedule``; docs/METHOD.md, "Samplers stored per budget"). Asking for an
            NFE that has an entry, and naming no sampler knob, samples with that entry on top
            of the stored settings; naming any knob bypasses the table.
        home: set by :meth:`replace` when it applies an entry: the stored settings the entry
            sits on, to return to at a budget without one (leave it ``None``).
    """

    method: str = "idff"
    sigma: float | None = None
    nfe: int | None = _opt(10, "Network evaluations per sample (per frame or lead for time "
                           "series). An NFE with a stored sampler ('idff bench nfe --store', "
                           "'idff tune-schedule') samples with it unless a solver, grid or "
                           "noise option is given.")
    solver: str = _opt("midpoint", "Solver (Euler when the NFE allows one step only); "
                       "rk2:ALPHA also sets alpha.", SOLVERS)
    field: str = _opt("pf", "IDFF field: 'pf' (exact probability flow and its SDE family), "
                      "'published', or the score-free 'x1' / 'velocity' (for comparison).",
                      FIELD_KINDS)
    gamma: float = _opt(0.0, "pf field: diffusion γσ (0 = ODE).")
    s: float = _opt(0.0, "published field: sampling noise s (0 <= s <= 2).")
    sde: bool = _opt(False, "published field: add the diffusion g(t) = s²√(t(1-t)).",
                     off="ode")
    grid: str = _opt("uniform", "Time grid of fixed-step solvers: uniform k/N, power (k/N)^rho, "
                     "logsnr, or custom (times fitted by 'idff tune-schedule'); power:RHO also "
                     "sets rho.", GRIDS)
    rho: float = _opt(2.0, "Exponent of the power grid (> 1: small steps near the noise).")
    alpha: float = _opt(0.5, "rk2 solver: its second call sits at t + alpha·h (0 < alpha <= 1; "
                        "0.5 is the midpoint rule, small values a second-order Taylor step).")
    times: tuple[float, ...] | None = None
    budgets: Mapping[int, Mapping[str, Any]] | None = dataclasses.field(default=None,
                                                                        hash=False)
    #: the stored settings a budget entry was applied on (None: no entry applied)
    home: Mapping[str, Any] | None = dataclasses.field(default=None, repr=False,
                                                       compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.method not in METHOD_NAMES:
            raise ConfigError(f"unknown sampling method {self.method!r}; choose one of "
                              f"{', '.join(METHOD_NAMES)}.")
        if self.field not in FIELD_KINDS:
            raise ConfigError(f"unknown field {self.field!r}; choose one of "
                              f"{', '.join(FIELD_KINDS)}.")
        try:
            solver_class(self.solver)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        for name in ("sigma", "gamma", "s"):
            v = getattr(self, name)
            if name == "sigma" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ConfigError(f"sampling {name} must be a number >= 0, got {v!r}.")
        if self.gamma > 1e4:  # γ² overflows near 1e154; far below that the noise swamps all
            raise ConfigError(f"sampling gamma={self.gamma:g} is far beyond any useful "
                              "diffusion; use gamma <= 10000 (a few units at most in practice).")
        if self.field == "published" and self.s > 2:
            raise ConfigError(f"sampling noise s={self.s} makes 1 - s²·t(1-t) negative near "
                              "t = 0.5, so the published field is undefined; use s <= 2 (the "
                              "published runs use s = σ or 2σ).")
        if not isinstance(self.sde, bool):
            raise ConfigError(f"sampling sde must be true or false, got {self.sde!r}.")
        if self.field in ("x1", "velocity") and (self.gamma > 0 or self.s > 0 or self.sde):
            raise ConfigError(f"the {self.field} field is an ODE without noise, so gamma, s and "
                              "sde must stay 0/false; use field 'pf' for gamma > 0.")
        if self.solver in ADAPTIVE:
            if self.nfe is not None:
                raise ConfigError(budget_refusal(self.solver, f"nfe={self.nfe!r}"),
                                  cli=budget_refusal(self.solver, f"--nfe {self.nfe!r}"))
        elif isinstance(self.nfe, bool) or not isinstance(self.nfe, int) or self.nfe < 1:
            raise ConfigError(f"sampling nfe must be an integer >= 1 for solver "
                              f"{self.solver!r}, got {self.nfe!r}.")
        self._check_grid()
        self._check_budgets()

    def _check_budgets(self) -> None:
        if self.budgets is None:
            return
        if not isinstance(self.budgets, Mapping):
            raise ConfigError(f"sampling budgets must map an NFE to sampler settings, e.g. "
                              f'{{"4": {{"solver": "rk2", "alpha": 0.25}}}}, got '
                              f"{self.budgets!r}.")
        table: dict[int, dict[str, Any]] = {}
        for key, entry in self.budgets.items():
            where = f"sampling.budgets[{key!r}]"
            nfe = int(key) if isinstance(key, int) and not isinstance(key, bool) or \
                isinstance(key, str) and key.isdigit() else 0
            if nfe < 1:
                raise ConfigError(f"{where}: a budget is an NFE, an integer >= 1, got {key!r}.")
            if not isinstance(entry, Mapping) or not entry:
                raise ConfigError(f"{where} must hold sampler settings (e.g. {{\"solver\": "
                                  f"\"midpoint\", \"grid\": \"power\"}}), got {entry!r}.")
            for k in entry:
                if k not in SAMPLER_KNOBS:
                    raise ConfigError(unknown_key_message(k, where, SAMPLER_KNOBS))
            entry = dict(entry)
            if entry.get("times") is not None:
                entry["times"] = [float(v) for v in entry["times"]]
            if entry.get("solver") in ADAPTIVE:
                raise ConfigError(f"{where}: solver {entry['solver']!r} is adaptive and spends "
                                  "no fixed budget; store a fixed-step solver (e.g. midpoint).")
            merged = {**self._stored(), **entry, "nfe": nfe}
            if merged["grid"] != "custom" and "times" not in entry:
                merged["times"] = None
            try:
                applied = dataclasses.replace(self, budgets=None, home=None, **merged)
                applied._refuse_unused(entry)
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
            table[nfe] = entry
        object.__setattr__(self, "budgets", dict(sorted(table.items())) or None)

    def _stored(self) -> dict[str, Any]:
        """The sampler knobs a budget entry applies on: the stored settings."""
        if self.home is not None:
            return dict(self.home)
        return {k: getattr(self, k) for k in SAMPLER_KNOBS}

    def _check_grid(self) -> None:
        try:
            grid_class(self.grid)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        try:
            grid_class("power").check_params(rho=self.rho)
        except ValueError:
            raise ConfigError(f"sampling rho (the power grid's exponent) must be a number > 0, "
                              f"got {self.rho!r}.") from None
        try:
            check_solver_params("rk2", alpha=self.alpha)
        except ValueError as e:
            raise ConfigError(f"sampling {e}") from None
        if self.times is not None:
            if self.grid != "custom":
                raise ConfigError(f"sampling times are a custom grid but grid is {self.grid!r}; "
                                  "set grid 'custom' or drop times.")
            if isinstance(self.times, (str, bytes)) or not hasattr(self.times, "__iter__"):
                raise ConfigError(f"sampling times must be a list of numbers, got "
                                  f"{self.times!r}.")
            object.__setattr__(self, "times", tuple(float(v) for v in self.times))
        if self.adaptive:
            if self.grid != "uniform":
                raise ConfigError(grid_refusal(self.solver, self.grid))
            return
        if not solver_class(self.solver).on_grid and self.grid != "uniform":
            raise ConfigError(f"solver {self.solver!r} runs on the uniform grid only; use grid "
                              "'uniform'.")
        if self.grid == "custom":
            if self.times is None:
                raise ConfigError(f"grid 'custom' needs its times, and none are stored for NFE "
                                  f"{self.nfe}; run 'idff tune-schedule RUN --nfe {self.nfe}' or "
                                  "choose grid 'uniform' or 'power'.")
            try:
                time_grid(self.steps(), "custom", self.rho, self.times)
            except ValueError as e:
                raise ConfigError(str(e)) from e

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "sampling") -> SamplingConfig:
        """Build from a run config's ``sampling`` section; unknown keys are refused.

        Raises:
            ConfigError: an unknown key (naming the closest valid one) or a bad value.
        """
        names = [f.name for f in dataclasses.fields(cls) if f.name != "home"]
        for k in d:
            if k not in names:
                raise ConfigError(unknown_key_message(k, where, names))
        d = dict(d)
        if d.get("solver") in ADAPTIVE:  # stored by older versions beside an adaptive solver
            d["nfe"] = None
        return cls(**d)

    @classmethod
    def from_run(cls, config: Mapping[str, Any], **overrides: Any) -> SamplingConfig:
        """The run's sampling config: its method and σ, its stored ``sampling`` section,
        then ``overrides`` (``None`` values are ignored, so unset CLI options pass through).

        Raises:
            ConfigError: an unknown key in the stored section or in ``overrides``.
        """
        method = config.get("method", "idff")
        obj = config.get("objective", {})
        if "sigma" not in obj:
            raise ConfigError("the run config's objective section has no 'sigma' (the path "
                              "noise); add it, e.g. \"sigma\": 0.2 for IDFF, 0.0 for OT-CFM.")
        stored = dict(config.get("sampling") or {})
        base = cls.from_dict({**stored, "method": method, "sigma": float(obj["sigma"])})
        if base.budgets and base.nfe in base.budgets:  # the stored NFE has a chosen sampler
            base = base.replace(nfe=base.nfe)
        return base.replace(**overrides)

    def to_dict(self) -> dict[str, Any]:
        """The settings in use, with method and σ (not the per-budget table)."""
        d = dataclasses.asdict(self)
        d.pop("budgets")
        d.pop("home")
        return d

    def knobs(self) -> dict[str, Any]:
        """The settings in use, as a run stores them under ``"sampling"`` (method and σ are
        the run's own; the per-budget table is kept apart, under ``"budgets"``)."""
        d = self.to_dict()
        d.pop("method")
        d.pop("sigma")
        return d

    def replace(self, **changes: Any) -> SamplingConfig:
        """A copy with ``changes`` applied; ``None`` values mean "keep" (unset CLI options).

        Raises:
            ConfigError: an unknown option name or a bad value.
        """
        names = {f.name for f in dataclasses.fields(self)} - {"home"}
        for k in changes:
            if k not in names:
                raise ConfigError(unknown_key_message(k, "sampling", names))
        given = {k: v for k, v in changes.items() if v is not None}
        kept = dict(given)
        table = kept.get("budgets", self.budgets) or {}
        if "budgets" in kept:  # a new table: the settings it applies on are the current ones
            kept.setdefault("home", None)
        elif self.home is not None and ("nfe" in kept or kept.keys() & set(SAMPLER_KNOBS)):
            # leave the applied entry: start again from the stored settings
            kept = {**self.home, **kept, "home": None}
        if "nfe" in given and not given.keys() & set(SAMPLER_KNOBS) and \
                given["nfe"] in table:  # the sampler chosen for this budget
            kept = {**kept, **table[given["nfe"]], "home": self._stored()}
        if kept.get("grid") == "custom" and kept.get("times") is None and "times" not in given:
            entry = table.get(kept.get("nfe", self.nfe), {})  # the grid tuned for this NFE
            if entry.get("grid") == "custom" and entry.get("times") is not None:
                kept["times"] = entry["times"]
        if kept.get("solver") in ADAPTIVE:
            kept.setdefault("nfe", None)
            if "grid" not in kept and self.grid != "uniform":
                kept.update(grid="uniform", times=None)
        elif "solver" in kept and self.nfe is None and "nfe" not in kept:
            kept["nfe"] = 10
        if kept.get("grid") not in (None, "custom") and "times" not in given:
            kept["times"] = None  # another grid drops the custom times
        out = dataclasses.replace(self, **kept)
        check_set_aside(out, given, SAMPLER_KNOBS, self._stored())  # before _refuse_unused
        out._refuse_unused(given)
        return out

    def __repr__(self) -> str:  # shows the stored settings a named option starts from
        return config_repr(self)

    def _refuse_unused(self, given: Mapping[str, Any]) -> None:
        refuse_unused(self, given)

    def describe(self) -> str:
        """One line naming the sampler in use, e.g. ``"rk2 (alpha 0.25), power grid (rho 1.5),
        stored for NFE 4"``: what a sampling command reports beside its output."""
        solver = self.effective_solver() if not self.adaptive else self.solver
        alpha = solver_class(solver).param == "alpha"
        parts = [solver + (f" (alpha {self.alpha:g})" if alpha else "")]
        if not self.adaptive:
            rho = grid_class(self.grid).param == "rho"
            parts.append(f"{self.grid} grid" + (f" (rho {self.rho:g})" if rho else ""))
        if self.method == "idff":
            noise = (f", gamma {self.gamma:g}" if self.field == "pf" and self.gamma else
                     f", s {self.s:g}" + (", SDE" if self.sde else "")
                     if self.field == "published" else "")
            parts.append(f"{self.field} field{noise}")
        if self.home is not None:
            parts.append(f"stored for NFE {self.nfe}")
        return ", ".join(parts)

    # -- what it builds -------------------------------------------------------------------

    @property
    def adaptive(self) -> bool:
        return self.solver in ADAPTIVE

    def effective_solver(self) -> str:
        """The solver actually run: one evaluation allows only a first-order step."""
        return effective_solver(self.solver, self.nfe)

    def field_for(self, net: nn.Module, cond: Tensor | None = None) -> Field:
        """The field that samples ``net`` (docs/METHOD.md, "Fields")."""
        if self.method == "idff":
            sigma = resolve_sigma(self.sigma, net, "the sampling config (sigma=...)")
            # each field gets its own noise knobs; a stored value of the other field's (kept
            # when only the field was switched) is not its to use
            noise = {"pf": {"gamma": self.gamma},
                     "published": {"s": self.s, "sde": self.sde}}.get(self.field, {})
            return IDFFField(net, kind=self.field, sigma=sigma, cond=cond, **noise)
        return CFMField(net, cond=cond)

    def steps(self, singular_at_one: bool | None = None) -> int | None:
        """Solver steps that spend at most ``nfe`` evaluations (``None``: adaptive)."""
        if self.adaptive:
            return None
        if singular_at_one is None:
            singular_at_one = self.method == "idff"
        return steps_for_nfe(self.nfe, self.effective_solver(), singular_at_one)

    def integrate(
        self,
        net: nn.Module,
        x0: Tensor,
        cond: Tensor | None = None,
        generator: torch.Generator | None = None,
        return_trajectory: bool = False,
        wrap: Callable[[Field], Any] | None = None,
    ) -> SampleResult:
        """Solve from ``x0`` with this config; ``wrap`` may wrap the field (e.g. progress).

        Runs on the thread count of :mod:`idff.threads` (one thread for a small network on
        the CPU, unless a command line chose another).
        """
        with using_threads(net, x0.device):
            return self._integrate(net, x0, cond, generator, return_trajectory, wrap)

    def _integrate(self, net, x0, cond, generator, return_trajectory, wrap) -> SampleResult:
        f = self.field_for(net, cond)
        steps = self.steps(f.singular_at_one)
        g = wrap(f) if wrap is not None else f
        if steps is None:
            return integrate(g, x0, solver=self.solver, return_trajectory=return_trajectory)
        solver = self.effective_solver()
        # only what this solver and grid use (one evaluation turns rk2 into Euler)
        used = {**({"rho": self.rho} if self.grid == "power" else {}),
                **({"times": self.times} if self.grid == "custom" else {}),
                **({"alpha": self.alpha} if solver_class(solver).param == "alpha" else {})}
        return integrate(g, x0, steps=steps, solver=solver, generator=generator,
                         return_trajectory=return_trajectory, grid=self.grid, **used)


def cli_options() -> list[tuple[str, type, Any]]:
    """``(name, type, field)`` of every option a sampling command offers (not method/σ,
    which belong to the trained run): the command-line layer builds its options from this."""
    out = []
    for f in dataclasses.fields(SamplingConfig):
        if "help" in f.metadata:
            out.append((f.name, {"bool": bool, "int | None": int, "float": float}.get(
                str(f.type), str), f))
    return out
