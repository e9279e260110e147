"""``idff train``: the group and one training command per task (``toy``, every image preset,
``sst``, ``md``, ``kolmogorov``), each in its own module here."""

from __future__ import annotations

import click

from idff.cli.train.images import preset_commands
from idff.cli.train.kolmogorov import train_kolmogorov_cmd
from idff.cli.train.md import train_md_cmd
from idff.cli.train.sst import train_sst_cmd
from idff.cli.train.toy import train_toy_cmd

__all__ = ["train"]


@click.group()
def train() -> None:
    """Train a model (toy, image preset, or time series)."""


for _command in (train_toy_cmd, *preset_commands(), train_sst_cmd, train_md_cmd,
                 train_kolmogorov_cmd):
    train.add_command(_command)
