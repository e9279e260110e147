"""CLI for learned time grids: ``idff tune-schedule``."""

from __future__ import annotations

import click

from idff.cli.common import POSITIVE_FLOAT, POSITIVE_INT, device_option
from idff.cli.options import option
from idff.cli.sampler_spec import SolverSpec
from idff.cli.vocabulary import refuse_shipped, renamed, run_argument
from idff.threads import choose_threads


@click.command("tune-schedule")
@run_argument()
@option("nfe", required=True,
        help="The budget the grid is for.")
@click.option("--solver", type=SolverSpec(plain=True), default=None,
              help="An ODE solver that runs on a grid (euler, midpoint, heun, ab2-ab4, dpm2m, "
                   "dpm3m, unipc2, unipc3). Default: the run's.")
@click.option("--teacher-nfe", type=POSITIVE_INT, default=100,
              help="Budget of the teacher solve: the run's solver (midpoint unless it is a "
                   "higher-order ODE solver) on the uniform grid.")
@option("n", "n_train", default=256, help="Training noises.")
@click.option("--n-held", type=POSITIVE_INT, default=64,
              help="Held-out noises that report the error before and after.")
@click.option("--iters", type=POSITIVE_INT, default=60, help="Adam iterations.")
@renamed("--batch", "--batch-size")
@option("batch-size", default=32, help="Noises per iteration.")
@option("lr", default=0.05, help="Adam learning rate.")
@click.option("--rho", type=POSITIVE_FLOAT, default=2.0,
              help="The starting grid: power with this exponent.")
@option("seed", default=0)
@option("threads", default=1, help="torch CPU threads.")
@option("dry-run", help="Fit and report, but do not store the grid.")
@device_option
def tune_schedule(run, nfe, solver, teacher_nfe, n_train, n_held, iters, batch_size, lr, rho,
                  seed, threads, dry_run, device):
    """Fit the step times of an NFE budget to a many-call teacher and store them in RUN.

    The N-call solve from each noise is pulled towards the teacher's endpoint from the same
    noise (docs/METHOD.md, "Few-step solvers"). The grid and the solver are written to the
    run's config.json as the sampler of that NFE ("sampling" -> "budgets" -> N), so 'idff
    sample', 'generate' and 'bench nfe' (--grids custom) use them at that NFE; the run's
    other budgets keep their samplers.
    """
    from pathlib import Path

    import torch

    from idff.errors import ConfigError, UserError
    from idff.eval.bench.store import store_budgets
    from idff.runlock import hold_for_command
    from idff.runs import load
    from idff.sampling.integrate import integrate
    from idff.sampling.registry import solver_class, solver_names
    from idff.schedule import tune_grid

    choose_threads(threads)
    cfg_path = Path(run) / "config.json"
    if not cfg_path.is_file():
        raise UserError(f"{run} is not a run folder (no config.json); tune-schedule stores the "
                        "grid in a run's config, so pass an 'idff train' --out folder.")
    if not dry_run:  # it rewrites the run's config.json, which training rewrites too
        refuse_shipped([run], "tune-schedule (without --dry-run)")
        hold_for_command(run, option="RUN")
    r = load(run)
    base = r.sampling.replace(grid="uniform", times=None)
    solver = solver or base.solver
    tunable = solver_names(on_grid=True, two_heads=False)  # ODE solvers on any grid
    if solver not in tunable:
        raise ConfigError(f"--solver {solver!r} cannot be tuned; choose an ODE solver that "
                          f"runs on a grid: {', '.join(tunable)}.")
    s = base.replace(solver=solver, nfe=nfe, gamma=0.0 if base.method == "idff" else None)
    if s.field_for(r.model).diffusion(0.5) > 0:
        raise ConfigError("the run samples with diffusion; tune the grid of its ODE (--gamma 0 "
                          "or --ode) instead.")
    steps = s.steps(s.field_for(r.model).singular_at_one)
    if steps < 2:  # checked before the teacher solve, which can take minutes
        raise UserError(f"--nfe {nfe} gives {s.effective_solver()} a grid of {steps} step, "
                        "which has no free time to fit; give a budget of at least two steps "
                        f"(e.g. --nfe {2 * nfe}).")
    shape = r.sample(1, nfe=1, solver="euler", grid="uniform", device=device).x.shape[1:]
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n_train + n_held, *shape, generator=g).to(device)
    model = r.model.to(device)
    # the run's own solver teaches when it is a second-order (or better) grid ODE solver
    # without a parameter of its own; else midpoint
    cls = solver_class(base.solver)
    teacher_solver = base.solver if base.solver in tunable and cls.order >= 2 and \
        cls.param is None else "midpoint"
    teacher_cfg = s.replace(solver=teacher_solver, nfe=teacher_nfe)
    click.echo(f"teacher: {teacher_cfg.solver}, NFE {teacher_nfe}, {len(x0)} noises ...")
    parts = [teacher_cfg.integrate(model, xb).x for xb in x0.split(256)]
    teacher = torch.cat(parts)
    field = s.field_for(model)
    res = tune_grid(field, x0[:n_train], teacher[:n_train], steps, s.effective_solver(),
                    x0[n_train:], teacher[n_train:], iters=iters, batch=batch_size, lr=lr,
                    init_rho=rho, seed=seed, echo=click.echo)
    check = integrate(field, x0[n_train:n_train + 1], solver=s.effective_solver(), nfe=nfe,
                      grid="custom", times=res.times)
    click.echo(f"{s.effective_solver()} NFE {check.nfe} (counted): mean squared error to the "
               f"teacher on {n_held} held-out noises {res.init_error:.5g} (power grid, rho "
               f"{rho:g}) -> {res.error:.5g} (tuned)")
    click.echo("times: " + ", ".join(f"{t:.5f}" for t in res.times))
    if dry_run:
        return
    entry = {"solver": s.solver, "grid": "custom", "times": [float(t) for t in res.times],
             **({"gamma": 0.0} if s.method == "idff" and s.field == "pf" else {})}
    store_budgets(run, {nfe: entry})
    click.echo(f"stored in {cfg_path} as the sampler for NFE {nfe} (sampling.budgets: solver "
               f"{s.solver}, grid custom): 'idff sample {run} --nfe {nfe}' uses it")
