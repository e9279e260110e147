"""Faults and bad inputs: doctored files never run code, user errors are one line (exit 2),
resume cannot silently change a run, interrupts save, packaging facts hold."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from idff.cli.main import cli
from tests.cli_checks import one_line_error as _one_line_error
from tests.cli_checks import train_tiny_idff


class _Evil:
    """Unpickling this writes ``self.marker``: proof that a loader ran the file's code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _evil_torch_file(path: Path, marker: Path, payload: dict | None = None) -> Path:
    torch.save({**(payload or {}), "x": _Evil(marker)}, path)
    return path


def _evil_pickle(path: Path, marker: Path, payload: dict | None = None) -> Path:
    with open(path, "wb") as f:
        pickle.dump({**(payload or {}), "x": _Evil(marker)}, f, protocol=2)
    return path


def test_marker_pickle_really_runs_code_when_unpickled(tmp_path):
    """The doctored files used below are live: plain unpickling writes the marker."""
    marker = tmp_path / "marker"
    with open(_evil_pickle(tmp_path / "e.pkl", marker), "rb") as f:
        pickle.load(f)
    assert marker.is_file()


def test_doctored_inception_weights_never_run(tmp_path, monkeypatch):
    pytest.importorskip("pytorch_fid")
    from idff.eval import fid as F

    marker = tmp_path / "marker"
    evil = _evil_torch_file(tmp_path / F.INCEPTION_FILE, marker)
    with pytest.raises(ValueError, match="cannot read Inception weights"):
        F.inception_extractor(evil)
    # the same file in torch's hub cache and through the environment variable
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    _evil_torch_file(tmp_path / "checkpoints" / F.INCEPTION_FILE, marker)
    with pytest.raises(ValueError, match="cannot read Inception weights"):
        F.inception_extractor()
    monkeypatch.setenv(F.INCEPTION_ENV, str(evil))
    a = tmp_path / "imgs"
    a.mkdir()
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(a / f"{i}.png")
    res = CliRunner().invoke(cli, ["fid", str(a), str(a)])
    assert res.exit_code == 2 and "cannot read Inception weights" in res.output
    assert "Traceback" not in res.output
    assert not marker.exists()


def test_doctored_snapshot_state_and_classifier_never_run(tmp_path):
    from idff.eval.classifier import load_classifier
    from idff.training.checkpoint import RunError, load_run, load_state

    marker = tmp_path / "marker"
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"kind": "toy"}))
    _evil_torch_file(run / "snapshot.pt", marker, {"model": {}, "step": 1})
    _evil_torch_file(run / "state.pt", marker, {"step": 1})
    with pytest.raises(RunError, match="cannot read checkpoint"):
        load_run(run)
    with pytest.raises(RunError, match="cannot read checkpoint"):
        load_state(run)
    res = CliRunner().invoke(cli, ["sample", str(run), "--out", str(tmp_path / "s.npy")])
    assert res.exit_code == 2 and "cannot read checkpoint" in res.output
    clf = _evil_torch_file(tmp_path / "clf.pt", marker, {"model": {}, "arch": {}})
    with pytest.raises(ValueError, match="not a classifier written by"):
        load_classifier(clf)
    a = tmp_path / "imgs"
    a.mkdir()
    res = CliRunner().invoke(cli, ["fid", str(a), str(a), "--features", "classifier",
                                   "--classifier", str(clf)])
    assert res.exit_code == 2 and "not a classifier written by" in res.output
    assert "Traceback" not in res.output
    assert not marker.exists()


def test_doctored_published_image_checkpoint_never_runs(tmp_path):
    pytest.importorskip("torchvision")
    from idff.images.kind import load_image_model
    from idff.training.checkpoint import RunError

    marker = tmp_path / "marker"
    evil = _evil_torch_file(tmp_path / "ckpt.pt", marker, {"ema_model": {}})
    with pytest.raises(RunError):
        load_image_model(evil)
    assert not marker.exists()


def test_doctored_md_pickle_and_cifar_batch_never_run(tmp_path):
    from idff.data.safe_pickle import UnsafePickleError, safe_load
    from idff.images.datasets import load_cifar10
    from idff.md.data import load_published_pickle

    marker = tmp_path / "marker"
    evil = _evil_pickle(tmp_path / "md.pkl", marker,
                        {"angles": np.zeros((10, 2)), "sim_length": 10})
    with pytest.raises(UnsafePickleError, match="exec"):
        load_published_pickle(evil)
    res = CliRunner().invoke(cli, ["train", "md", "--source", "pickle", "--pickle", str(evil),
                                   "--steps", "1", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "could run code" in res.output, res.output
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        _evil_pickle(folder / name, marker, {"data": np.zeros((1, 3072), np.uint8),
                                             "labels": [0]})
    with pytest.raises(UnsafePickleError):
        load_cifar10(tmp_path / "cifar")
    with pytest.raises(UnsafePickleError):
        safe_load(evil)
    assert not marker.exists()
    # plain data still loads
    ok = tmp_path / "ok.pkl"
    with open(ok, "wb") as f:
        pickle.dump({"angles": np.arange(20.0).reshape(10, 2), "sim_length": 8}, f)
    angles, n = load_published_pickle(ok)
    assert n == 8 and angles.shape == (8, 2) and angles[1, 1] == 3.0


def test_non_pickle_md_file_is_one_line(tmp_path):
    bad = tmp_path / "notes.pkl"
    bad.write_text("these are not angles\n")
    res = CliRunner().invoke(cli, ["train", "md", "--source", "pickle", "--pickle", str(bad),
                                   "--steps", "1", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "not a readable pickle" in res.output
    assert "Traceback" not in res.output


# ---------------------------------------------------------------- one-line user errors


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    return train_tiny_idff(tmp_path_factory.mktemp("toy") / "run")


@pytest.fixture(scope="module")
def sst_like_run(tmp_path_factory, toy_run):
    """A run directory whose config says it is an SST run (for commands that take toys)."""
    import shutil

    out = tmp_path_factory.mktemp("sst") / "run"
    shutil.copytree(toy_run, out)
    cfg = json.loads((out / "config.json").read_text())
    cfg["kind"] = "sst"
    (out / "config.json").write_text(json.dumps(cfg))
    return out


BAD_SAMPLE = [
    (["--n", "-5"], ["'--n'", "-5"]),
    (["--n", "0"], ["'--n'", "x>=1"]),
    (["--nfe", "0"], ["'--nfe'"]),
    (["--gamma", "nan"], ["'--gamma'", "finite"]),
    (["--gamma", "-1"], ["'--gamma'"]),
    (["--solver", "dopri5", "--nfe", "4"], ["--nfe 4", "adaptive", "dopri5"]),
    (["--out", "{tmp}/x.txt"], ["--out", ".npy"]),
    (["--out", "{tmp}/afile/x.npy"], ["afile is a file, not a folder"]),
]


@pytest.mark.parametrize("args,needles", BAD_SAMPLE)
def test_sample_bad_inputs_are_one_line(tmp_path, toy_run, args, needles):
    (tmp_path / "afile").write_text("x")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "s.npy")]
    res = CliRunner().invoke(cli, ["sample", str(toy_run), *args])
    _one_line_error(res, *needles)
    assert not (tmp_path / "s.npy").exists()


def test_sample_adaptive_without_nfe_still_runs(tmp_path, toy_run):
    res = CliRunner().invoke(cli, ["sample", str(toy_run), "--solver", "dopri5", "--n", "8",
                                   "--out", str(tmp_path / "s.npy")])
    assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "s.npy").shape == (8, 2)


@pytest.mark.parametrize("cmd,needles", [
    (["nll", "{run}", "--t-end", "-0.5"], ["'--t-end'", "0<x<1"]),
    (["nll", "{run}", "--t-end", "1.5"], ["'--t-end'"]),
    (["nll", "{sst}"], ["'sst' run; idff nll scores toy and image runs"]),
    (["sample", "{sst}", "--out", "{tmp}/x.npy"], ["'sst' run", "idff forecast"]),
    (["train", "toy", "--hidden", "0", "--out", "{tmp}/r"], ["'--hidden'"]),
    (["train", "toy", "--depth", "0", "--out", "{tmp}/r"], ["'--depth'"]),
    (["train", "toy", "--lr", "abc", "--out", "{tmp}/r"], ["'--lr'", "abc"]),
    (["train", "toy", "--lr", "inf", "--out", "{tmp}/r"], ["'--lr'"]),
    (["train", "toy", "--steps", "0", "--out", "{tmp}/r"], ["'--steps'"]),
    (["train", "toy", "--ckpt-every", "0", "--out", "{tmp}/r"], ["'--ckpt-every'"]),
    (["train", "toy", "--out", "{tmp}/afile"], ["afile"]),
    (["forecast", "{run}", "--horizon", "0", "--out", "{tmp}/f"], ["'--horizon'"]),
    (["forecast", "{run}", "--members", "0", "--out", "{tmp}/f"], ["'--members'"]),
    (["forecast", "{run}", "--max-forecasts", "0", "--out", "{tmp}/f"], ["'--max-forecasts'"]),
    (["md-eval", "{run}", "--members", "0"], ["'--members'"]),
    (["md-eval", "{run}", "--nfe", "-1"], ["'--nfe'"]),
    (["generate", "{run}", "--n", "0", "--out", "{tmp}/g"], ["'--n'"]),
    (["fid", "{tmp}", "{tmp}", "--n", "0"], ["'--n'"]),
    (["train", "fashion_mnist", "--dry-run", "--threads", "0"], ["'--threads'"]),
])
def test_bad_options_are_one_line(tmp_path, toy_run, sst_like_run, cmd, needles):
    (tmp_path / "afile").write_text("x")
    subs = {"{run}": str(toy_run), "{sst}": str(sst_like_run), "{tmp}": str(tmp_path)}
    args = []
    for a in cmd:
        for k, v in subs.items():
            a = a.replace(k, v)
        args.append(a)
    _one_line_error(CliRunner().invoke(cli, args), *needles)


@pytest.mark.parametrize("override,needles", [
    ("objective.sigmaa=0.3", ["objective.sigmaa", "did you mean 'objective.sigma'"]),
    ("train.lrr=1e-4", ["train.lrr", "did you mean 'train.lr'"]),
    ("objectiv.sigma=0.3", ["objectiv", "did you mean 'objective'"]),
    ("model.num_channels=abc", ["model.num_channels must be an integer", '"abc"']),
    ("train.lr=abc", ["train.lr must be a number", '"abc"']),
    ("train.tensorboard=3", ["train.tensorboard must be true or false"]),
    ("model.channel_mult=2", ["model.channel_mult must be a list"]),
])
def test_set_overrides_are_strict(override, needles):
    res = CliRunner().invoke(cli, ["train", "fashion_mnist", "--dry-run", "--set", override])
    _one_line_error(res, *needles)


def test_strict_overrides_accept_every_key_the_code_reads():
    from idff.presets import PRESETS, apply_overrides

    for over in ("train.weight_decay=0.01", "train.precision=\"bf16\"", "data.download=true",
                 "model.use_scale_shift_norm=true", "objective.coupling=\"independent\"",
                 "sampling.gamma=0.5", "train.max_minutes=3", "train.lr=1"):
        cfg = apply_overrides(PRESETS["cifar10"], [over])
        section, key = over.split("=")[0].split(".")
        assert key in cfg[section]


def _save(path: Path, arr) -> Path:
    np.save(path, arr)
    return path


@pytest.mark.parametrize("make,needles", [
    (lambda p: _save(p, np.ones((8, 2)) * (1 + 1j)), ["complex"]),
    (lambda p: _save(p, np.full((8, 2), 1e300)), ["float32"]),
    (lambda p: _save(p, np.full((8, 2), 1e30)), ["Standardise"]),
    (lambda p: _save(p, np.array([["a", "b"], ["c", "d"]])), ["not numbers"]),
    (lambda p: _save(p, np.array([[0.0, np.nan], [1.0, 2.0]])), ["NaN"]),
    (lambda p: _save(p, np.zeros(5)), ["shape (5,)"]),
    (lambda p: _save(p, np.array([{"a": 1}, {"b": 2}], dtype=object)), ["not a plain .npy"]),
    (lambda p: (np.savez(p.with_suffix(".npz"), x=np.zeros((8, 2))),
                p.with_suffix(".npz").rename(p))[1], [".npz archive"]),
    (lambda p: (p.write_text("1,2\n3,4\n"), p)[1], ["not a plain .npy"]),
])
def test_bad_data_files_are_one_line(tmp_path, make, needles):
    path = make(tmp_path / "data.npy")
    res = CliRunner().invoke(cli, ["train", "toy", "--data", str(path), "--steps", "2",
                                   "--hidden", "8", "--out", str(tmp_path / "r")])
    _one_line_error(res, "data.npy", *needles)
    assert not (tmp_path / "r" / "state.pt").exists()


def test_training_blowup_is_one_line(tmp_path, monkeypatch):
    """A loss that turns non-finite stops training with one line (it names the fix)."""
    res = CliRunner().invoke(cli, ["train", "toy", "--lr", "1e30", "--steps", "50", "--hidden",
                                   "8", "--out", str(tmp_path / "r")])
    if res.exit_code == 0:  # the blow-up did not happen on this platform's arithmetic
        pytest.skip("lr 1e30 stayed finite")
    _one_line_error(res, "not finite")


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    from idff.eval import classifier as C

    path = tmp_path_factory.mktemp("clf") / "clf.pt"
    torch.manual_seed(0)
    C.save_classifier(C.FashionCNN(width=4, feature_dim=16), path, {"test_accuracy": 0.0})
    return path


def _pngs(folder: Path, n: int, seed: int = 0) -> Path:
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_fid_bad_inputs_are_one_line(tmp_path, clf):
    a = _pngs(tmp_path / "a", 40)
    b = _pngs(tmp_path / "b", 40, seed=1)
    (b / "7.png").write_bytes(b"\x89PNG broken")
    base = ["fid", str(a), str(b), "--features", "classifier", "--classifier", str(clf),
            "--cache-dir", str(tmp_path / "cache")]
    _one_line_error(CliRunner().invoke(cli, base), "cannot read image", "7.png")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 8)
    _one_line_error(CliRunner().invoke(cli, base[:5] + ["--classifier", str(garbage)]),
                    "not a classifier written by")
    pytest.importorskip("pytorch_fid")
    _one_line_error(CliRunner().invoke(cli, ["fid", str(a), str(a), "--inception", str(garbage)]),
                    "cannot read Inception weights", "garbage.pt")
    _one_line_error(CliRunner().invoke(cli, base + ["--save-stats", str(a / "0.png" / "s.npz")]),
                    "--save-stats", "is a file")


def test_fid_of_few_images_warns(tmp_path, clf):
    a = _pngs(tmp_path / "a", 3)
    b = _pngs(tmp_path / "b", 40, seed=1)
    res = CliRunner().invoke(cli, ["fid", str(a), str(b), "--features", "classifier",
                                   "--classifier", str(clf), "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "A has 3 images" in warnings[0] and "16 feature" in warnings[0]


def test_internal_errors_keep_their_traceback(tmp_path, toy_run, monkeypatch):
    """Only user errors are turned into one line; a bug surfaces as itself."""
    import idff.toy.kind as K

    def boom(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(K, "sample_model", boom)  # what the toy kind samples with
    res = CliRunner().invoke(cli, ["sample", str(toy_run), "--out", str(tmp_path / "s.npy")])
    assert res.exit_code == 1 and isinstance(res.exception, ZeroDivisionError)


def test_progress_field_counts_every_network_evaluation(toy_run):
    """The sampling progress bar advances by exactly the NFE the sampler reports, and
    wrapping the field changes no sample."""
    from idff.progress import ProgressField
    from idff.sampler import integrate
    from idff.sampling import SamplingConfig
    from idff.toy.kind import load_toy_model
    from idff.toy.sample import sample_model

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    model, cfg = load_toy_model(toy_run)
    for solver, steps in (("heun", 7), ("midpoint", 5), ("dopri5", None)):
        bar = Bar()
        f = SamplingConfig(sigma=0.2).field_for(model)
        x0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
        kw = {} if steps is None else {"steps": steps}
        res = integrate(ProgressField(f, bar), x0, solver=solver, **kw)
        plain = integrate(SamplingConfig(sigma=0.2).field_for(model), x0, solver=solver, **kw)
        assert bar.n == res.nfe > 0 and torch.equal(res.x, plain.x)
    quiet = sample_model(model, cfg, 32, nfe=6, seed=3)
    shown = sample_model(model, cfg, 32, nfe=6, seed=3, progress=True)
    assert torch.equal(quiet.x, shown.x) and quiet.nfe == shown.nfe == 6


def test_nll_scores_runs_trained_on_a_data_file(tmp_path):
    data = _save(tmp_path / "d.npy", np.random.default_rng(0).normal(size=(64, 3)))
    out = tmp_path / "r"
    res = CliRunner().invoke(cli, ["train", "toy", "--data", str(data), "--steps", "3",
                                   "--hidden", "8", "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["nll", str(out), "--n", "16"])
    assert res.exit_code == 0, res.output
    assert "16 points of the training file" in res.output and "bits/dim" in res.output


# ---------------------------------------------------------------- resume that cannot lie

TOY = ["train", "toy", "--hidden", "8", "--depth", "2", "--batch-size", "32"]


def _train(out: Path, *extra: str, steps: int = 20):
    return CliRunner().invoke(cli, [*TOY, "--steps", str(steps), "--out", str(out), *extra])


@pytest.mark.parametrize("extra,changed", [
    (["--dataset", "moons"], "data.dataset"),
    (["--sigma", "0.5"], "objective.sigma"),
    (["--parametrization", "skip"], "model.parametrization"),
    (["--lr", "0.01"], "train.lr"),
    (["--data", "{data}"], "data.file"),
])
def test_resume_with_other_settings_is_refused(tmp_path, extra, changed):
    data = _save(tmp_path / "d.npy", np.random.default_rng(0).normal(size=(64, 2)))
    out = tmp_path / "run"
    assert _train(out, steps=10).exit_code == 0
    before = {p: (out / p).read_bytes()
              for p in ("config.json", "snapshot.safetensors", "state.pt")}
    extra = [str(data) if a == "{data}" else a for a in extra]
    res = _train(out, "--resume", *extra, steps=30)
    _one_line_error(res, str(out), "other settings", changed)
    assert {p: (out / p).read_bytes() for p in before} == before  # nothing rewritten


def _tiny_image_run(tmp_path):
    """Train a 2-step Fashion-MNIST run on 8 fake images in tmp_path/run; return its args."""
    pytest.importorskip("torchcfm")
    from tests.images.test_common import tiny, write_fashion_mnist

    root = write_fashion_mnist(tmp_path / "fm", n=8)
    args = ["train", "fashion_mnist", "--data-root", str(root), "--steps", "2", "--out",
            str(tmp_path / "run"), "--no-tensorboard"]
    for o in tiny(28):
        args += ["--set", o]
    assert CliRunner().invoke(cli, args).exit_code == 0
    return args


def test_image_resume_with_other_settings_is_refused(tmp_path):
    args = _tiny_image_run(tmp_path)
    res = CliRunner().invoke(cli, args + ["--resume", "--steps", "4",
                                          "--set", "objective.sigma=0.5"])
    _one_line_error(res, "other settings", "objective.sigma: 0.05 -> 0.5")
    res = CliRunner().invoke(cli, args + ["--resume", "--steps", "3"])
    assert res.exit_code == 0 and "step 3" in res.output, res.output


def test_extending_steps_resumes_and_logs_each_step_once(tmp_path):
    out = tmp_path / "run"
    assert _train(out, "--ckpt-every", "100", steps=200).exit_code == 0
    # a kill after logging step 300 but before its checkpoint leaves a log ahead of state.pt
    with open(out / "log.jsonl", "a") as f:
        f.write(json.dumps({"step": 300, "loss": 1.0}) + "\n" + '{"step": 4')
    res = _train(out, "--ckpt-every", "100", "--resume", steps=400)
    assert res.exit_code == 0, res.output
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [100, 200, 300, 400]
    assert json.loads((out / "config.json").read_text())["train"]["warmup"] == 200


def test_state_missing_an_entry_is_a_clear_error(tmp_path):
    out = tmp_path / "run"
    assert _train(out, steps=5).exit_code == 0
    state = torch.load(out / "state.pt", weights_only=True)
    del state["optim"]
    torch.save(state, out / "state.pt")
    _one_line_error(_train(out, "--resume", steps=10), "state.pt lacks optim")


def test_stale_temporary_files_are_removed(tmp_path):
    out = tmp_path / "run"
    assert _train(out, steps=5).exit_code == 0
    stale = [out / ".state.pt.abc123.tmp", out / ".snapshot.pt.x.tmp"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    keep = out / ".notes.tmp"
    keep.write_text("not ours")
    assert _train(out, "--resume", steps=10).exit_code == 0
    assert not any(p.exists() for p in stale) and keep.exists()


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_saves_a_checkpoint_and_resume_is_exact(tmp_path, sig):
    """SIGINT/SIGTERM save and exit cleanly; rerunning finishes with the same weights as a
    run that was never interrupted."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from idff.training.checkpoint import load_run, load_state

    steps = 1500
    args = [*TOY, "--steps", str(steps), "--ckpt-every", "100000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = [sys.executable, "-c", "from idff.cli import main; main()"]
    out = tmp_path / "interrupted"
    proc = subprocess.Popen([*run, *args, "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "log.jsonl").is_file() or not (out / "log.jsonl").read_text():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + getattr(signal, sig), err
    assert "Traceback" not in err and "checkpoint saved" in err
    assert "Rerun the same command with --resume" in err  # the command that does resume
    step = load_state(out)["step"]
    assert 100 <= step < steps, step  # saved where it stopped, not at a checkpoint interval
    if sig == "SIGTERM":
        return  # the exact continuation is checked once, after SIGINT
    # the rerun and the uninterrupted reference run in this process (same thread count)
    assert CliRunner().invoke(cli, [*args, "--out", str(out), "--resume"]).exit_code == 0
    assert CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "straight")]).exit_code == 0
    _, a, n_a = load_run(out)
    _, b, n_b = load_run(tmp_path / "straight")
    assert n_a == n_b == steps
    assert all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- packaging

ROOT = Path(__file__).resolve().parents[2]
#: import name -> distribution name, where they differ
DIST = {"ot": "pot", "PIL": "pillow", "sklearn": "scikit-learn", "pytorch_fid": "pytorch-fid",
        "netCDF4": "netcdf4"}
#: declared but needed without an import statement: xarray's netCDF reader; tensorboard
#: (imported as torch.utils.tensorboard); test and build tools.
NOT_IMPORTED = {"netcdf4", "tensorboard", "pytest", "ruff", "build", "properscoring", "pandas",
                "pdoc"}


def _declared() -> set[str]:
    import re

    tomllib = pytest.importorskip("tomllib")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        reqs += [r for r in extra if not r.startswith("idff")]
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in reqs}


def _imported() -> set[str]:
    import ast
    import sys

    names = set()
    for path in (ROOT / "src" / "idff").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    third = {n for n in names if n not in sys.stdlib_module_names and n not in ("idff",)}
    return {DIST.get(n, n).lower() for n in third}


def test_dependencies_are_declared_exactly_as_imported():
    declared, imported = _declared(), _imported()
    assert imported - declared == set(), "imported but not declared"
    assert declared - imported - NOT_IMPORTED == set(), "declared but never imported"


def test_one_version_and_typed_package():
    import idff

    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and 'attr = "idff.__version__"' in text
    assert "\nversion =" not in text.split("[tool.setuptools.dynamic]")[0]
    assert (ROOT / "src" / "idff" / "py.typed").is_file()
    assert f"## {idff.__version__}" in (ROOT / "CHANGELOG.md").read_text()
    res = CliRunner().invoke(cli, ["--version"])
    assert res.exit_code == 0 and idff.__version__ in res.output


def test_huge_nfe_warns_and_outputs_below_files_are_refused_everywhere(tmp_path, toy_run):
    res = CliRunner().invoke(cli, ["sample", str(toy_run), "--nfe", "10001", "--solver",
                                   "euler", "--n", "2", "--out", str(tmp_path / "s.npy")])
    assert res.exit_code == 0, res.output
    assert "warning: --nfe 10001 means 10001 network evaluations" in res.output
    assert "NFE 10001" in res.output
    (tmp_path / "f").write_text("x")
    below = str(tmp_path / "f" / "sub")
    for cmd in (["md-eval", str(toy_run), "--out", below],
                ["bench", "nfe", str(toy_run), "--out", below],
                ["bench", "merge", str(toy_run), "--out", below],
                ["train-classifier", "--out", below + ".pt"],
                ["dump-real", "fashion_mnist", "--out", below],
                ["sst-demo", "--out", below],
                ["train", "sst", "--out", below],
                ["train", "md", "--out", below]):
        _one_line_error(CliRunner().invoke(cli, cmd), "is a file, not a folder")


def test_generate_removes_its_stale_temporary_pngs(tmp_path, monkeypatch):
    _tiny_image_run(tmp_path)
    out = tmp_path / "gen"
    out.mkdir()
    mine, theirs, other = out / ".000002.png.tmp", out / ".000003.png.tmp", out / ".notes.tmp"
    for p in (mine, theirs, other):
        p.write_bytes(b"half a png")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")  # rank 0 owns even indices
    res = CliRunner().invoke(cli, ["generate", str(tmp_path / "run"), "--n", "2", "--nfe", "2",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert not mine.exists() and theirs.exists() and other.exists()
    assert (out / "000000.png").is_file() and not (out / "000001.png").exists()


def test_nll_scores_image_runs_in_bits_per_dim(tmp_path):
    _tiny_image_run(tmp_path)
    res = CliRunner().invoke(cli, ["nll", str(tmp_path / "run"), "--n", "2", "--atol", "1e-2",
                                   "--rtol", "1e-2"])
    assert res.exit_code == 0, res.output
    line = [x.strip() for x in res.output.splitlines() if x.strip().startswith("NLL")][0]
    assert "2 test images (uniform dequantisation, 256 levels)" in line
    assert "estimator hutchinson" in line
    bpd = float(line.split("(")[1].split(" bits/dim")[0])
    assert math.isfinite(bpd) and bpd > 0


@pytest.mark.parametrize("args,needles", [
    (["--nfe", "abc"], ["--nfe takes integers >= 1", "'abc'"]),
    (["--nfe", "1,0"], ["--nfe takes", "'0'"]),
    (["--gammas", "-1"], ["--gammas takes finite numbers >= 0", "'-1'"]),
    (["--gammas", "0,nan"], ["--gammas", "'nan'"]),
])
def test_bench_lists_are_checked(tmp_path, toy_run, args, needles):
    res = CliRunner().invoke(cli, ["bench", "nfe", str(toy_run), *args, "--out",
                                   str(tmp_path / "b")])
    _one_line_error(res, *needles)


def test_exported_run_loads_without_pickle_and_samples_identically(tmp_path, toy_run,
                                                                   monkeypatch):
    out = tmp_path / "shared"
    res = CliRunner().invoke(cli, ["export", str(toy_run), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "snapshot.safetensors"]
    a = CliRunner().invoke(cli, ["sample", str(toy_run), "--n", "50", "--nfe", "4",
                                 "--out", str(tmp_path / "a.npy")])
    assert a.exit_code == 0, a.output

    def no_pickle(*args, **kw):
        raise AssertionError("an exported run must load without torch.load")

    monkeypatch.setattr(torch, "load", no_pickle)
    b = CliRunner().invoke(cli, ["sample", str(out), "--n", "50", "--nfe", "4",
                                 "--out", str(tmp_path / "b.npy")])
    assert b.exit_code == 0, b.output
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    _one_line_error(CliRunner().invoke(cli, ["export", str(toy_run), "--out", str(out)]),
                    "already holds a run")
    (out / "snapshot.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!")
    _one_line_error(CliRunner().invoke(cli, ["sample", str(out), "--out",
                                             str(tmp_path / "c.npy")]), "cannot read")


def test_device_option_on_every_command_that_runs_a_trained_network():
    from idff.presets import PRESETS

    paths = [["sample"], ["nll"], ["fid"], ["generate"], ["forecast"], ["md-eval"],
             ["train", "toy"], ["train", "sst"], ["train", "md"]]
    paths += [["train", p] for p in PRESETS]
    for path in paths:
        cmd = cli
        for name in path:
            cmd = cmd.commands[name]
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        assert "--device" in opts, path
    res = CliRunner().invoke(cli, ["md-eval", "nope", "--device", "cpu"])
    _one_line_error(res, "nope")


def test_cfm_run_resumes_across_idff_only_defaults(tmp_path):
    """Keys a CFM network never reads (the IDFF heads' parametrization, σ, weighting) may
    change between the run and its resume; the CFM settings themselves may not."""
    import json

    from idff.errors import UserError
    from idff.training.checkpoint import CONFIG, check_resume_config

    old = {"model": {"method": "cfm", "parametrization": "skip"},
           "objective": {"name": "otcfm", "coupling": "ot"}}
    (tmp_path / CONFIG).write_text(json.dumps(old))
    new = {"model": {"method": "cfm", "parametrization": "velocity", "sigma": 0.2},
           "objective": {"name": "otcfm", "sigma": 0.0, "coupling": "ot",
                         "flow_weighting": "cfm"}}
    check_resume_config(tmp_path, new)
    new["objective"]["coupling"] = "independent"
    with pytest.raises(UserError, match="objective.coupling"):
        check_resume_config(tmp_path, new)
    idff_old = {"model": {"method": "idff", "parametrization": "skip"}}
    (tmp_path / CONFIG).write_text(json.dumps(idff_old))
    with pytest.raises(UserError, match="model.parametrization"):
        check_resume_config(tmp_path, {"model": {"method": "idff", "parametrization": "velocity"}})


def test_resume_may_change_precision_but_not_the_objective(tmp_path):
    """An fp32 run (the image presets' old default, and the CPU's) resumes under the bf16
    preset default; a change of what the weights mean is still refused."""
    import json

    from idff.errors import UserError
    from idff.training.checkpoint import CONFIG, check_resume_config

    old = {"model": {"method": "idff"}, "objective": {"sigma": 0.05},
           "train": {"precision": "fp32", "lr": 2e-4}}
    (tmp_path / CONFIG).write_text(json.dumps(old))
    check_resume_config(tmp_path, {**old, "train": {"precision": "bf16", "lr": 2e-4}})
    with pytest.raises(UserError, match="train.lr"):
        check_resume_config(tmp_path, {**old, "train": {"precision": "bf16", "lr": 1e-4}})


def test_resume_of_a_run_saved_before_a_sampling_setting_existed(tmp_path):
    """A sampling setting the run's config does not record (it predates the setting) matches
    its default on resume; another value is still a change of settings."""
    import json

    from idff.errors import UserError
    from idff.training.checkpoint import CONFIG, check_resume_config

    old = {"model": {"method": "idff"}, "sampling": {"nfe": 4, "solver": "midpoint"}}
    (tmp_path / CONFIG).write_text(json.dumps(old))
    new = {"model": {"method": "idff"},
           "sampling": {"nfe": 4, "solver": "midpoint", "grid": "uniform", "rho": 2.0,
                        "times": None}}
    check_resume_config(tmp_path, new)
    new["sampling"]["grid"] = "power"
    with pytest.raises(UserError, match="sampling.grid"):
        check_resume_config(tmp_path, new)
