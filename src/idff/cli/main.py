"""The ``idff`` command group: one-line errors, and the commands, one module each (the
``train`` group in :mod:`idff.cli.train`)."""

from __future__ import annotations

import click

from idff import __version__
from idff.cli.common import USER_ERRORS, CLIError, is_environment_error, to_cli_error
from idff.errors import TrainingInterrupted


class _Group(click.Group):
    """Top-level group: user errors and errors of the environment (disk full, no permission,
    out of memory) from any command become one line and exit code 2; Ctrl-C exits 130."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (TrainingInterrupted, *USER_ERRORS) as e:
            raise to_cli_error(e) from e
        except KeyboardInterrupt:
            raise CLIError("interrupted (Ctrl-C). Files already written are complete (each is "
                           "written to a temporary name, then renamed); rerun the command to "
                           "finish it (training: with --resume).", exit_code=130) from None
        except (OSError, RuntimeError, MemoryError) as e:
            if is_environment_error(e):
                raise to_cli_error(e) from e
            raise


@click.group(cls=_Group,
             context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="idff")
def cli() -> None:
    """IDFF: Implicit Dynamical Flow Fusion — train, sample and benchmark."""


def _register() -> None:
    from idff.cli import (
        bench,
        data,
        demo,
        diagnose,
        distill,
        export,
        forecast,
        generate,
        md_eval,
        sample,
        schedule,
        task_bench,
    )
    from idff.cli import eval as eval_cli
    from idff.cli.threads import add_threads_option
    from idff.cli.train import train

    for command in (train, sample.sample, generate.generate, generate.dump_real,
                    forecast.forecast, demo.demo, demo.sst_demo, data.kolmogorov_data,
                    data.md_simulate, md_eval.md_eval, task_bench.md_benchmark,
                    task_bench.kolmogorov_benchmark, eval_cli.train_classifier_cmd,
                    eval_cli.fid_cmd, eval_cli.nll_cmd, bench.bench, diagnose.diagnose,
                    export.export, schedule.tune_schedule, distill.distill):
        cli.add_command(command)
    add_threads_option(cli)


_register()


def main() -> None:
    cli()
