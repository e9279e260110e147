"""Inputs that used to end in a traceback (or a hang) end in one ``Error:`` line naming the
input and the fix, from the command line and from Python alike."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from idff.cli.main import cli
from idff.errors import ConfigError, UserError


def _one_line_error(res, *needles: str) -> str:
    """Exit code 2, one ``Error:`` line holding every needle, and no traceback."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    errors = ["Error:" + line.split("Error:", 1)[1] for line in res.output.splitlines()
              if "Error:" in line]
    assert len(errors) == 1, res.output
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    from idff.experiments.toy import toy_run_config, train_toy
    from idff.training import TrainConfig

    out = tmp_path_factory.mktemp("toy") / "run"
    train_toy(toy_run_config("idff", "checkerboard", hidden=8, depth=2), out,
              TrainConfig(steps=3, warmup=1, ckpt_every=3), progress=False)
    return out


# ------------------------------------------------------------ hand-edited config.json

def _set(cfg, dotted, value):
    *parents, last = dotted.split(".")
    for p in parents:
        cfg = cfg[p]
    cfg[last] = value


EDITS = [
    ("objective.sigma", "0.2", ["'objective.sigma'", "a number", '"0.2"']),
    ("model.sigma", "0.2", ["'model.sigma'", "a number"]),
    ("model.hidden", "8", ["'model.hidden'", "an integer", '"8"']),
    ("model.hidden", 8.5, ["'model.hidden'", "an integer", "8.5"]),
    ("model.hidden", True, ["'model.hidden'", "an integer", "true"]),
    ("model.depth", {"a": {"b": [1]}}, ["'model.depth'", "an integer"]),
    ("model", None, ["'model'", "JSON object", "null"]),
    ("model", "mlp", ["'model'", "JSON object", "a string"]),
]
RAW = [
    ("[1, 2, 3]", "utf-8", ["holds an array", "JSON object"]),
    ("null", "utf-8", ["holds null"]),
    ("[" * 100_000 + "]" * 100_000, "utf-8", ["nested too deeply"]),
    (None, "utf-16", ["UTF-16", "save it as UTF-8"]),
]


def _edited(tmp_path, toy_run, edit=None, raw=None, enc="utf-8"):
    run = tmp_path / "run"
    shutil.copytree(toy_run, run)
    cfg = json.loads((run / "config.json").read_text())
    if edit == "drop-model":
        del cfg["model"]
    elif edit is not None:
        _set(cfg, *edit)
    text = json.dumps(cfg) if raw is None else raw
    (run / "config.json").write_bytes(text.encode(enc))
    return run


CASES = ([(e[:2], None, "utf-8", e[2]) for e in EDITS]
         + [("drop-model", None, "utf-8", ["no 'model' section"])]
         + [(None, r, enc, needles) for r, enc, needles in RAW])


@pytest.mark.parametrize("edit,raw,enc,needles", CASES)
def test_hand_edited_config_is_one_line_from_cli_and_python(tmp_path, toy_run, edit, raw,
                                                            enc, needles):
    import idff

    run = _edited(tmp_path, toy_run, edit, raw, enc)
    res = CliRunner().invoke(cli, ["sample", str(run), "--n", "4",
                                   "--out", str(tmp_path / "s.npy")])
    _one_line_error(res, "config.json", *needles)
    with pytest.raises(ConfigError, match="config.json"):
        idff.load(run)
    assert not (tmp_path / "s.npy").exists()


def test_shipped_run_configs_pass_the_check():
    from idff.config_schema import read_config

    shipped = sorted(Path(__file__).resolve().parents[1].glob("checkpoints/*/*/config.json"))
    assert shipped
    for path in shipped:
        assert read_config(path)["model"]
