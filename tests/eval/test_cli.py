"""The evaluation commands: train-classifier, fid, nll, bench nfe (small data on disk)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from idff.cli.main import cli
from idff.eval import classifier as C
from idff.eval import fid as F
from tests.eval.test_classifier import make_fashion_root, synthetic_fashion


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "clf.pt"
    torch.manual_seed(0)
    C.save_classifier(C.FashionCNN(width=4, feature_dim=16), path, {"test_accuracy": 0.0})
    return path


def _pngs(folder, images):
    folder.mkdir()
    for i, im in enumerate(images):
        Image.fromarray(im).save(folder / f"{i:03d}.png")
    return folder


def test_train_classifier_command(tmp_path):
    root = make_fashion_root(tmp_path / "fm", 256, 64)
    out = tmp_path / "c.pt"
    res = CliRunner().invoke(cli, ["train-classifier", "--data-root", str(root), "--out", str(out),
                                   "--epochs", "1", "--batch-size", "64"])
    assert res.exit_code == 0, res.output
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["sha256"] == C.sha256_file(out) and side["sha256"] in res.output
    assert 0 <= side["test_accuracy"] <= 1 and side["data"]["test"] == 64


def test_train_classifier_missing_data(tmp_path):
    res = CliRunner().invoke(cli, ["train-classifier", "--data-root", str(tmp_path)])
    assert res.exit_code != 0 and "apt-get install -y dataset-fashion-mnist" in res.output


def test_fid_command_classifier_features_folders_and_npz(tmp_path, clf):
    a = _pngs(tmp_path / "a", synthetic_fashion(40, 0)[0])
    b = _pngs(tmp_path / "b", synthetic_fashion(40, 1)[0][:, ::-1].copy())
    stats = tmp_path / "a.npz"
    args = ["fid", str(a), str(b), "--features", "classifier", "--classifier", str(clf),
            "--cache-dir", str(tmp_path / "cache"), "--save-stats", str(stats)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "FD-FMNIST-CNN = " in res.output and "FID" not in res.output
    assert "40 images" in res.output and "sha256" in res.output
    value = float(res.output.split("FD-FMNIST-CNN = ")[1].split()[0])
    assert value > 0
    ext = F.classifier_extractor(clf)
    sa, sb = (F.folder_stats(p, ext, None, progress=False) for p in (a, b))
    assert value == pytest.approx(F.frechet_distance(sa.mu, sa.sigma, sb.mu, sb.sigma), abs=1e-4)
    # the saved .npz stands in for folder A
    res2 = CliRunner().invoke(cli, ["fid", str(stats), str(b), "--features", "classifier",
                                    "--classifier", str(clf), "--cache-dir", str(tmp_path / "c2")])
    assert res2.exit_code == 0, res2.output
    assert float(res2.output.split("= ")[1].split()[0]) == pytest.approx(value, abs=1e-4)


def test_fid_command_errors(tmp_path, clf, monkeypatch):
    import urllib.error


    a = _pngs(tmp_path / "a", np.zeros((3, 28, 28), np.uint8))
    res = CliRunner().invoke(cli, ["fid", str(tmp_path / "nope"), str(a), "--features",
                                   "classifier", "--classifier", str(clf)])
    assert res.exit_code != 0 and "neither an image folder" in res.output
    res = CliRunner().invoke(cli, ["fid", str(a), str(a), "--features", "classifier",
                                   "--classifier", str(tmp_path / "none.pt")])
    assert res.exit_code != 0 and "idff train-classifier" in res.output
    monkeypatch.delenv(F.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*a, **k):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    res = CliRunner().invoke(cli, ["fid", str(a), str(a)])
    assert res.exit_code != 0 and F.INCEPTION_FILE in res.output and F.INCEPTION_ENV in res.output


def test_nll_command(toy_run):
    res = CliRunner().invoke(cli, ["nll", str(toy_run), "--n", "50"])
    assert res.exit_code == 0, res.output
    assert "bits/dim" in res.output and "estimator exact" in res.output
    res = CliRunner().invoke(cli, ["nll", str(toy_run) + "-missing"])
    assert res.exit_code != 0 and "run directory" in res.output


def test_bench_nfe_command(tmp_path, toy_run):
    out = tmp_path / "res" / "bench"
    res = CliRunner().invoke(cli, ["bench", "nfe", str(toy_run), "--nfe", "1,2", "--n-eval",
                                   "100", "--n-val", "50", "--gammas", "0,0.5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for suffix in (".csv", ".md", ".png", ".val.csv"):
        assert out.with_suffix(suffix).is_file(), suffix
    md = out.with_suffix(".md").read_text()
    assert "Protocol:" in md and "moons" in md and "| NFE 2 |" in md
    bad = CliRunner().invoke(cli, ["bench", "nfe", str(toy_run), "--nfe", "0", "--out", str(out)])
    assert bad.exit_code != 0 and "integers >= 1" in bad.output
    bad = CliRunner().invoke(cli, ["bench", "nfe", str(toy_run), "--run-label", "a",
                                   "--run-label", "b", "--out", str(out)])
    assert bad.exit_code != 0 and "one --run-label per run" in bad.output


@pytest.mark.parametrize("extra,needle", [
    (["--ref-val", "100"], "--ref-val would change nothing: toy runs"),
    (["--features", "classifier", "--classifier", "c.pt"],
     "--features, --classifier would change nothing"),
    (["--data-root", "somewhere"], "--data-root would change nothing"),
])
def test_bench_nfe_refuses_image_options_for_toy_runs(tmp_path, toy_run, extra, needle):
    out = tmp_path / "b"
    res = CliRunner().invoke(cli, ["bench", "nfe", str(toy_run), "--nfe", "2", "--n-eval", "50",
                                   "--n-val", "50", "--out", str(out), *extra])
    assert res.exit_code == 2 and needle in res.output, res.output
    assert not out.with_suffix(".csv").exists()


def test_bench_nfe_refuses_gammas_for_a_noise_free_field(tmp_path, toy_run):
    args = ["bench", "nfe", str(toy_run), "--field", "x1", "--nfe", "2", "--n-eval", "50",
            "--n-val", "50", "--out", str(tmp_path / "b")]
    res = CliRunner().invoke(cli, args + ["--gammas", "0,1"])
    assert res.exit_code == 2 and "--gammas 0,1 would change nothing: the x1 field" in res.output
    assert CliRunner().invoke(cli, args).exit_code == 0  # the default candidates are fine


def test_feature_options_of_the_other_extractor_are_refused(tmp_path, clf):
    a = _pngs(tmp_path / "a", synthetic_fashion(8, 0)[0])
    res = CliRunner().invoke(cli, ["fid", str(a), str(a), "--features", "classifier",
                                   "--classifier", str(clf), "--inception", str(clf)])
    assert res.exit_code == 2 and "--inception would change nothing with --features " \
        "classifier" in res.output, res.output
    res = CliRunner().invoke(cli, ["fid", str(a), str(a), "--classifier", str(clf),
                                   "--classifier-sha256", "0" * 64])
    assert res.exit_code == 2 and "--classifier and --classifier-sha256 would change nothing " \
        "with --features inception; drop them" in res.output, res.output


def test_grid_lists_are_checked_alike_by_every_command(tmp_path):
    from idff.cli.common import grid_list

    assert grid_list(" uniform, power:1.5 ,") == ("uniform", "power:1.5")
    assert grid_list("") == ()
    r = CliRunner()
    res = r.invoke(cli, ["bench", "nfe", str(tmp_path), "--grids", "power:-1", "--solvers",
                         "midpoint", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--grids: grid 'power:-1'" in res.output
    res = r.invoke(cli, ["md-benchmark", "--grids", ",", "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "--grids needs at least one grid" in res.output
