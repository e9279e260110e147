"""Public helpers a newcomer reaches for: a grid of image samples, the runs that load by
name, what ``idff generate`` records, and what ``--seed`` means on the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import idff
from idff.cli.main import cli
from idff.errors import ConfigError, UserError
from idff.runs import SHIPPED, run_folders


def test_save_grid_is_public_and_refuses_what_is_not_an_image(tmp_path):
    assert "save_grid" in idff.__all__ and "(N, C, H, W)" in idff.save_grid.__doc__
    res = idff.load("fashion_mnist/idff").sample(4, nfe=2, seed=0)
    path = idff.save_grid(res, tmp_path / "grid.png")  # a SampleResult, as run.sample gives
    assert Image.open(path).size == (2 * 28 + 3 * 2, 2 * 28 + 3 * 2)  # 2 × 2, 2-pixel padding
    one = idff.save_grid(res.x[0].numpy(), tmp_path / "one.png", nrow=1)  # one image, NumPy
    assert Image.open(one).size == (28, 28)  # one image: no padding
    with pytest.raises(ConfigError, match=r"shape \(5, 2\).*toy samples \(N, D\) are points"):
        idff.save_grid(torch.randn(5, 2), tmp_path / "toy.png")
    with pytest.raises(ConfigError, match="ending in .png"):
        idff.save_grid(res.x, tmp_path / "grid.jpg")
    with pytest.raises(ConfigError, match="nrow must be an integer >= 1"):
        idff.save_grid(res.x, tmp_path / "grid.png", nrow=0)
    with pytest.raises(UserError, match="is a file, not a folder"):
        idff.save_grid(res.x, tmp_path / "grid.png" / "inner.png")


def test_shipped_runs_lists_what_loads_by_name(tmp_path, monkeypatch):
    assert "shipped_runs" in idff.__all__ and idff.shipped_runs.__doc__
    monkeypatch.delenv("IDFF_CHECKPOINTS", raising=False)
    monkeypatch.chdir(tmp_path)  # no folder of that name here: the installed runs are listed
    runs = idff.shipped_runs()
    assert list(runs) == list(SHIPPED)
    assert all((p / "config.json").is_file() and p.is_absolute() for p in runs.values())
    mine = tmp_path / "cache" / "mine" / "toy"
    mine.mkdir(parents=True)
    (mine / "config.json").write_text("{}")
    monkeypatch.setenv("IDFF_CHECKPOINTS", str(tmp_path / "cache"))
    assert idff.shipped_runs()["mine/toy"] == mine.resolve()


def test_generate_records_the_run_it_loaded_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "gen"
    res = CliRunner().invoke(cli, ["generate", "fashion_mnist/idff", "--n", "1", "--nfe", "1",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    record = json.loads((out / "generate.json").read_text())
    installed = next(d / "fashion_mnist" / "idff" for d in run_folders()
                     if (d / "fashion_mnist" / "idff" / "config.json").is_file())
    assert record["ckpt"] == str(installed.resolve())
    assert record["name"] == "fashion_mnist/idff"
    assert not record["ckpt"].startswith(str(tmp_path))  # not <cwd>/fashion_mnist/idff
    # a folder written by an older version (which recorded <cwd>/NAME) still resumes
    old = {k: v for k, v in record.items() if k != "name"}
    old["ckpt"] = str(tmp_path / "fashion_mnist" / "idff")
    (out / "generate.json").write_text(json.dumps(old))
    again = CliRunner().invoke(cli, ["generate", "fashion_mnist/idff", "--n", "2", "--nfe", "1",
                                     "--out", str(out)])
    assert again.exit_code == 0 and "(1 written now)" in again.output, again.output
    # a run given by path records that path, and no name
    path_out = tmp_path / "by_path"
    run_dir = installed.parent / "otcfm"
    res = CliRunner().invoke(cli, ["generate", str(run_dir), "--n", "1", "--nfe", "1",
                                   "--out", str(path_out)])
    assert res.exit_code == 0, res.output
    rec = json.loads((path_out / "generate.json").read_text())
    assert rec["ckpt"] == str(run_dir.resolve()) and "name" not in rec


@pytest.mark.parametrize("command", ["sample", "generate"])
def test_seed_help_says_the_command_repeats_while_python_draws_fresh_noise(command):
    text = " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())
    assert "default 0: rerunning the command gives the same samples" in text
    assert "run.sample draws fresh noise unless given seed=" in text


def test_pngs_of_generate_match_save_grid_range(tmp_path):
    """save_grid maps [-1, 1] to 0..255 as generate does (white is 1, black is -1)."""
    x = torch.tensor([-1.0, 1.0]).view(1, 1, 1, 2).expand(1, 3, 1, 2).contiguous()
    p = idff.save_grid(x, tmp_path / "bw.png", nrow=1)
    px = np.asarray(Image.open(p))[0, :, 0]
    assert px.tolist() == [0, 255]
