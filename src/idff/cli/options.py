"""The command line's one vocabulary: each option that more than one command takes is
declared here once, with its type and its meaning, and commands name it.

``@option("seed")`` gives a command ``--seed`` as every other command has it; a command may
set its own ``default`` and a ``help`` that says what the value does *there* (never another
type: ``tests/cli/test_vocabulary.py`` walks every command and checks). The training
options come from the fields of :class:`~idff.training.TrainConfig` (their types and
checks), with each task's defaults: :func:`train_options`.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import click

from idff.cli.common import MAX_NFE, NONNEG_FLOAT, NONNEG_INT, POSITIVE_FLOAT, POSITIVE_INT

__all__ = ["VOCABULARY", "option", "train_options", "train_config", "TRAIN_OPTIONS"]

#: name -> click.option settings; ``help`` is the default help text
VOCABULARY: dict[str, dict[str, Any]] = {
    "seed": dict(type=NONNEG_INT, default=0, help="Random seed (an integer >= 0)."),
    "n": dict(type=POSITIVE_INT, help="Number of samples."),
    "nfe": dict(type=click.IntRange(1, MAX_NFE), default=None,
                help="Network evaluations per sample (per frame or lead for time series)."),
    "batch-size": dict(type=POSITIVE_INT, help="Samples per batch."),
    "steps": dict(type=POSITIVE_INT, help="Training steps (train.steps)."),
    "lr": dict(type=POSITIVE_FLOAT, help="Learning rate (train.lr)."),
    "threads": dict(type=POSITIVE_INT, default=None, help="torch CPU threads."),
    "sigma": dict(type=NONNEG_FLOAT, default=None, help="Path noise σ (objective.sigma)."),
    "members": dict(type=POSITIVE_INT, help="Ensemble size."),
    "horizon": dict(type=POSITIVE_INT, help="Longest lead the model is trained for."),
    "ckpt-every": dict(type=POSITIVE_INT,
                       help="Steps between checkpoints (Ctrl-C and SIGTERM also save one)."),
    "max-minutes": dict(type=POSITIVE_FLOAT, default=None, help="Stop (and save) after this."),
    "num-channels": dict(type=POSITIVE_INT, default=32, help="UNet width (a multiple of 32)."),
    "hidden": dict(type=POSITIVE_INT, default=256, help="Width of the MLP's hidden layers."),
    "depth": dict(type=POSITIVE_INT, default=3, help="Hidden layers of the MLP."),
    "data-root": dict(type=click.Path(file_okay=False), default=None,
                      help="Folder holding the data set."),
    "compile": dict(is_flag=True, help="torch.compile the network (compiling takes a while "
                                       "first; pays off for long runs)."),
    "dry-run": dict(is_flag=True, help="Check everything, run nothing long, write nothing."),
    "run-label": dict(multiple=True, help="One label per run (default: its method)."),
    "grids": dict(default="uniform",
                  help="Comma-separated time grids to choose from (uniform, power:RHO, "
                       "logsnr, custom)."),
    "n-eval": dict(type=POSITIVE_INT, default=2000, help="Samples per evaluated cell."),
    "lag": dict(type=POSITIVE_INT, default=2, help="τ in frames: frame k → frame k+τ."),
    "history": dict(type=NONNEG_INT, default=1, help="Earlier frames in the conditioning."),
    "context": dict(type=POSITIVE_INT, default=1, help="Previous frames in the conditioning."),
    "channel-mult": dict(default="1,2,2", help="UNet levels, e.g. 1,2,2."),
    "gamma": dict(type=NONNEG_FLOAT, help="IDFF sampling noise (0: the ODE)."),
    "runs": dict(type=click.Path(file_okay=False), help="Folder of the trained runs."),
    # --out is where a command writes: a folder, a file or a prefix of several files
    "out-dir": dict(flag="--out", type=click.Path(file_okay=False), help="Output folder."),
    "out-file": dict(flag="--out", type=click.Path(dir_okay=False), help="Output file."),
    "out-prefix": dict(flag="--out", type=click.Path(), help="Output prefix."),
}


def option(name: str, *decls: str, **changes: Any):
    """The vocabulary's ``--name`` (``decls``: extra spellings or the parameter name, as
    ``click.option`` takes them); ``changes``: this command's ``default``, ``help``,
    ``required``... (not another type)."""
    if name not in VOCABULARY:
        raise KeyError(f"--{name} is not in the CLI vocabulary; add it to "
                       "idff.cli.options.VOCABULARY.")
    if "type" in changes:
        raise TypeError(f"--{name} has one type in every command; do not change it.")
    spec = {**VOCABULARY[name], **changes}
    return click.option(spec.pop("flag", f"--{name}"), *decls, **spec)


#: the TrainConfig fields a training command offers, with their option names
TRAIN_OPTIONS = {"steps": "steps", "lr": "lr", "seed": "seed", "ckpt_every": "ckpt-every"}


def train_options(defaults: dict[str, Any], only: tuple[str, ...] = tuple(TRAIN_OPTIONS)):
    """``--steps``, ``--lr``, ``--seed``, ``--ckpt-every`` (or the fields in ``only``): the
    :class:`~idff.training.TrainConfig` fields a training command sets, defaulting to the
    task's ``defaults`` (``TRAIN_DEFAULTS`` of its config module), else to TrainConfig's."""
    from idff.training.config import TrainConfig

    known = {f.name: f for f in fields(TrainConfig)}
    for k in only:
        if k not in known or k not in TRAIN_OPTIONS:  # a renamed field is renamed here too
            raise KeyError(f"{k!r} is not a training option (TrainConfig field in "
                           "TRAIN_OPTIONS).")

    def decorate(fn):
        for k in reversed(only):
            fn = option(TRAIN_OPTIONS[k], default=defaults.get(k, known[k].default))(fn)
        return fn

    return decorate


def train_config(defaults: dict[str, Any], out: str, **given: Any):
    """The :class:`~idff.training.TrainConfig` of a training command: the task's
    ``defaults`` changed by the options ``given`` (``None``: not given), with the warm-up of
    :func:`~idff.cli.common.warmup_for` (a resumed run keeps its recorded one)."""
    from idff.cli.common import warmup_for
    from idff.training.config import TrainConfig

    settings = {**defaults, **{k: v for k, v in given.items() if v is not None}}
    settings["warmup"] = warmup_for(out, settings["steps"], settings.get("warmup", 200))
    return TrainConfig(**settings)
