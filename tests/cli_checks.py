"""What the command-line tests check again and again: one ``Error:`` line, files unchanged."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from idff.cli.main import cli


def run(args):
    """``idff ARGS`` in-process (every argument as a string)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(res, *needles: str, code: int = 2) -> str:
    """Exit ``code``, exactly one ``Error:`` line holding every needle, no traceback.

    Progress bars share stderr with the message (a terminal overwrites them with ``\\r``), so
    the line is found wherever it starts. Returns the line.
    """
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    errors = ["Error:" + line.split("Error:", 1)[1] for line in res.output.splitlines()
              if "Error:" in line]
    assert len(errors) == 1, res.output
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


def files(folder: Path) -> dict[str, bytes]:
    """The bytes of every file directly in ``folder``, by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


#: a toy training command small enough for any test
TOY = ["train", "toy", "--hidden", "8", "--depth", "2", "--batch-size", "32"]


def train_toy_cli(out: Path, *extra, steps: int = 3) -> Path:
    """``idff train toy`` of a tiny network into ``out`` (must succeed)."""
    res = run([*TOY, "--steps", steps, "--out", out, *extra])
    assert res.exit_code == 0, res.output
    return out


def train_tiny_idff(out: Path) -> Path:
    """A 3-step IDFF checkerboard run in Python (no command line)."""
    from idff.toy.config import toy_run_config
    from idff.toy.train import train_toy
    from idff.training import TrainConfig

    train_toy(toy_run_config("idff", "checkerboard", hidden=8, depth=2), out,
              TrainConfig(steps=3, warmup=1, ckpt_every=3), progress=False)
    return out
