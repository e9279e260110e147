"""Helpers shared by the CLI modules: the one place user errors become CLI messages."""

from __future__ import annotations

import errno
import math
import re

import click

from idff.errors import TrainingInterrupted, UserError, check_device

__all__ = ["CLIError", "USER_ERRORS", "fail", "to_cli_error", "device_option", "warn",
           "typed", "option_words",
           "is_environment_error", "MAX_NFE", "check_memory", "check_init_from",
           "check_nfe_solver", "warmup_for", "sampling_options", "pop_sampling", "CommaList",
           "POSITIVE_INT", "NONNEG_INT", "POSITIVE_FLOAT", "NONNEG_FLOAT", "UNIT_INTERVAL",
           "DATA_HELP"]

#: exceptions that describe a bad input (a path, an option, a file's content), not a bug.
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    FloatingPointError,
)


class CLIError(click.ClickException):
    """A one-line ``Error: ...`` on stderr and exit code 2 (130/143 after an interrupt)."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(" ".join(str(message).split()))
        self.exit_code = exit_code


#: errnos of the environment, not of a bug: no permission, a read-only or full disk, quota
ENV_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})


def is_environment_error(e: BaseException) -> bool:
    """Whether ``e`` comes from the machine (disk, permissions, memory), not from a bug."""
    return (isinstance(e, OSError) and e.errno in ENV_ERRNOS) or is_out_of_memory(e)


def is_out_of_memory(e: BaseException) -> bool:
    """An allocation that failed: ``MemoryError``, torch's CPU allocator or CUDA OOM."""
    if isinstance(e, MemoryError):
        return True
    if not isinstance(e, RuntimeError):
        return False
    text = str(e)
    return type(e).__name__ == "OutOfMemoryError" or any(
        k in text for k in ("DefaultCPUAllocator: can't allocate memory", "not enough memory",
                            "CUDA out of memory", "MPS backend out of memory"))


def to_cli_error(e: BaseException) -> CLIError:
    """The CLI form of a user error (see :data:`USER_ERRORS`) or of an environment error
    (:func:`is_environment_error`)."""
    if isinstance(e, TrainingInterrupted):
        return CLIError(e.cli, exit_code=128 + int(e.signum))
    msg = getattr(e, "cli", None) or str(e)
    if is_out_of_memory(e):
        wanted = re.search(r"tried to allocate (\d+) bytes", str(e))
        size = f" (asked for {int(wanted.group(1)) / 2**30:,.1f} GiB)" if wanted else ""
        msg = (f"out of memory{size}; lower --n, --batch-size or --members, or use a machine "
               "with more memory. Files already written are complete.")
    elif isinstance(e, OSError) and e.errno == errno.ENOSPC:
        where = f" writing {e.filename}" if e.filename else ""
        msg = (f"no space left on the disk{where}; free some space and rerun. Files already "
               "written are complete (each is written to a temporary name, then renamed), and "
               "a run's last checkpoint is intact.")
    elif isinstance(e, OSError) and e.errno in ENV_ERRNOS:
        where = e.filename or "the output"
        msg = (f"cannot write {where} ({e.strerror or 'not permitted'}); choose a writable "
               "--out.")
    elif isinstance(e, OSError) and e.filename is not None and e.strerror:
        msg = f"{e.filename}: {e.strerror}."
    return CLIError(msg or type(e).__name__)


def fail(e: Exception) -> None:
    """Turn a user-facing error into a clean CLI message (exit code 2, no traceback)."""
    raise to_cli_error(e) from e


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr."""
    click.echo("warning: " + " ".join(message.split()), err=True)


def typed(*names: str) -> list[str]:
    """The parameters among ``names`` that were given on the command line (a default or an
    environment variable does not count), in the order asked."""
    ctx = click.get_current_context()
    return [n for n in names
            if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE]


def option_words(names) -> str:
    """``--option`` words of the current command's parameters ``names``, comma-separated."""
    words = {p.name: p.opts[0] for p in click.get_current_context().command.params}
    return ", ".join(words.get(n, n) for n in names)


def check_nfe_solver(nfe: int | None, solver: str | None, option: str = "--nfe") -> None:
    """Refuse ``--nfe`` given together with an adaptive solver, which picks its own steps."""
    from idff.sampling.registry import budget_refusal, solver_names

    ctx = click.get_current_context(silent=True)
    given = ctx is not None and ctx.get_parameter_source("nfe") not in (
        click.core.ParameterSource.DEFAULT, None)
    if solver in solver_names(adaptive=True) and nfe is not None and given:
        raise UserError(budget_refusal(solver, f"{option} {nfe}"))


def grid_list(text: str, option: str = "--grids", required: bool = False) -> tuple[str, ...]:
    """Comma-separated time grids (``uniform``, ``power:RHO``, ``logsnr``, ``custom``), each
    checked by the registry's :func:`idff.sampling.registry.parse_grid`; ``required``: refuse
    an empty list."""
    from idff.sampling.registry import parse_grid

    grids = tuple(g.strip() for g in text.split(",") if g.strip())
    if required and not grids:
        raise UserError(f"{option} needs at least one grid, e.g. {option} uniform.")
    for g in grids:
        try:
            parse_grid(g)
        except ValueError as e:
            raise UserError(f"{option}: {e}") from None
    return grids


def warmup_for(out: str, steps: int, default: int = 200) -> int:
    """Warm-up steps: ``min(default, steps)`` for a new run; the recorded value on resume.

    Extending ``--steps`` of a short run would otherwise change its warm-up, and with it
    the learning-rate schedule the saved optimizer state belongs to.
    """
    import json
    from pathlib import Path

    cfg = Path(out) / "config.json"
    if (Path(out) / "state.pt").is_file() and cfg.is_file():
        try:
            return int(json.loads(cfg.read_text())["train"]["warmup"])
        except (ValueError, KeyError, TypeError):
            pass  # an unreadable config is reported by the resume check
    return min(default, steps)


def _check_device(ctx, param, value):
    if value is None:
        return value
    try:
        return check_device(value)
    except UserError as e:
        raise click.BadParameter(str(e).replace("--device ", "", 1), ctx, param) from None


def device_option(f=None, *, help: str = "Where the network runs: cpu, cuda, cuda:1, mps."):
    """``--device`` for every command that runs a network; a device this machine does not
    have is refused before anything runs."""
    def decorate(fn):
        return click.option("--device", default="cpu", callback=_check_device, help=help)(fn)

    return decorate(f) if f is not None else decorate


def run_dir_options(fn=None, *, out_default: str | None = None):
    """``--out``, ``--resume`` and ``--init-from`` of every training command: a run folder is
    owned by its run (``idff.training.checkpoint.claim_run_dir``). ``out_default``: the help
    text of a default folder, which makes ``--out`` optional."""
    if fn is None:
        return lambda f: run_dir_options(f, out_default=out_default)
    fn = click.option("--init-from", type=click.Path(), default=None,
                      help="Start from the weights of this run (same network), e.g. a shipped "
                           "or exported run, training into a new --out.")(fn)
    fn = click.option("--resume", is_flag=True,
                      help="Continue the run in --out where it stopped (its settings must be "
                           "the same).")(fn)
    return click.option("--out", type=click.Path(file_okay=False), default=None,
                        required=out_default is None,
                        help="Run directory (a new one, or the run to continue with "
                             f"--resume{'; default: ' + out_default if out_default else ''})."
                        )(fn)


def check_init_from(init_from: str | None, resume: bool) -> None:
    """``--init-from`` starts a new run; it cannot be combined with ``--resume``."""
    if init_from is not None and resume:
        raise UserError("--init-from starts a new run from another run's weights; --resume "
                        "continues the run in --out. Give one of them.")


#: the largest ``--nfe`` a command accepts: beyond it a sampling run would take days
MAX_NFE = 1_000_000


def check_memory(nbytes: float, option: str) -> None:
    """Refuse a request whose result alone would not fit in this machine's memory."""
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if nbytes > total:
        raise UserError(f"{option} asks for about {nbytes / 2**30:,.0f} GiB of samples, more "
                        f"than this machine's {total / 2**30:,.0f} GiB of memory; lower "
                        f"{option.split()[0]}.")


class _FiniteRange(click.FloatRange):
    """A float range that also refuses ``nan`` and ``inf``."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


#: option types: counts and sizes are >= 1, seeds >= 0, rates and tolerances > 0.
POSITIVE_INT = click.IntRange(min=1)
NONNEG_INT = click.IntRange(min=0)
POSITIVE_FLOAT = _FiniteRange(min=0, min_open=True)
NONNEG_FLOAT = _FiniteRange(min=0)
UNIT_INTERVAL = _FiniteRange(min=0, max=1, min_open=True, max_open=True)


#: --seed of the sampling commands: the same command repeats its samples, unlike Python
#: --data-root of the image commands (train PRESET, dump-real)
DATA_HELP = (
    "Folder holding the dataset: cifar10 → ROOT/cifar-10-batches-py/; celeba64 → "
    "ROOT/celeba/img_align_celeba/; celebahq256 / lsun_* → an LMDB folder (data.mdb); "
    "imagenet64 → train_data_batch_*.npz; fashion_mnist → IDX files (default: the Debian "
    "package dataset-fashion-mnist)."
)

SEED_HELP = ("Seed of the source noise (default 0: rerunning the command gives the same "
             "samples; Python's run.sample draws fresh noise unless given seed=).")


def sampling_options(f=None, *, exclude: tuple[str, ...] = ()):
    """The sampling options (``--nfe``, ``--solver``, ``--field``, ``--gamma``, ``--s``,
    ``--sde/--ode``), one per field of :class:`idff.sampling.SamplingConfig`.

    Every option defaults to ``None``: "the run's setting". Collect them in the command
    with :func:`pop_sampling` and pass them as overrides.
    """
    from idff.sampling import cli_options

    def decorate(fn):
        for name, typ, fld in reversed(cli_options()):
            if name in exclude:
                continue
            help_ = fld.metadata["help"] + " Default: the run's."
            if typ is bool:
                off = fld.metadata.get("off") or f"no-{name}"
                opt = click.option(f"--{name}/--{off}", default=None, help=help_)
            elif name in ("solver", "grid"):  # the registry's names and spellings
                from idff.cli.sampler_spec import GridSpec, SolverSpec

                opt = click.option(f"--{name}", type=SolverSpec() if name == "solver" else
                                   GridSpec(), default=None, help=help_)
            elif fld.metadata.get("choices"):
                opt = click.option(f"--{name}", type=click.Choice(fld.metadata["choices"]),
                                   default=None, help=help_)
            elif typ is int:
                opt = click.option(f"--{name}", type=click.IntRange(1, MAX_NFE), default=None,
                                   help=help_)
            else:  # a power grid's exponent is > 0, as in tune-schedule
                opt = click.option(f"--{name}", type=POSITIVE_FLOAT if name == "rho" else
                                   NONNEG_FLOAT, default=None, help=help_)
            fn = opt(fn)
        return fn

    return decorate(f) if f is not None else decorate


def pop_sampling(kwargs: dict) -> dict:
    """Remove the :func:`sampling_options` from a command's ``kwargs``; return the given ones."""
    from idff.cli.sampler_spec import split_specs
    from idff.sampling import cli_options

    names = [n for n, _, _ in cli_options()]
    out = split_specs({n: kwargs.pop(n) for n in names if n in kwargs})
    check_nfe_solver(out.get("nfe"), out.get("solver"))
    return {k: v for k, v in out.items() if v is not None}


class CommaList(click.ParamType):
    """A comma-separated list of values of one type, e.g. ``--nfe 2,4,10``.

    Lists of numbers are written this way in every command; names (``--label``,
    ``--trajectory``, ``--set``) are repeated options instead.
    """

    name = "list"

    def __init__(self, item: click.ParamType):
        self.item = item

    def convert(self, value, param, ctx):
        if isinstance(value, (tuple, list)):
            return tuple(value)
        parts = [p.strip() for p in str(value).split(",") if p.strip()]
        if not parts:
            self.fail(f"{value!r} is empty; give values separated by commas, e.g. 2,4.",
                      param, ctx)
        return tuple(self.item.convert(p, param, ctx) for p in parts)
