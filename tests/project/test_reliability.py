"""Nothing lost, nothing silently ignored: a run folder belongs to its run, options that
would change nothing are refused, and errors of the environment (device, disk, memory,
interrupts) are one line with the data left safe."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from idff.cli.main import cli
from idff.errors import ConfigError, UserError
from tests.cli_checks import TOY, train_toy_cli
from tests.cli_checks import files as _files
from tests.cli_checks import one_line_error as _one_line_error
from tests.cli_checks import run as _run


def _toy(out: Path, *extra, steps: int = 5):
    return train_toy_cli(out, *extra, steps=steps)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    return _toy(tmp_path_factory.mktemp("toy") / "run")


@pytest.fixture(scope="module")
def cfm_run(tmp_path_factory):
    return _toy(tmp_path_factory.mktemp("cfm") / "run", "--method", "otcfm")


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A 2-step Fashion-MNIST run on 8 fake images; returns (run, the training args)."""
    pytest.importorskip("torchcfm")
    from tests.images.test_common import tiny, write_fashion_mnist

    tmp = tmp_path_factory.mktemp("img")
    root = write_fashion_mnist(tmp / "fm", n=8)
    args = ["train", "fashion_mnist", "--data-root", str(root), "--steps", "2", "--out",
            str(tmp / "run"), "--no-tensorboard"]
    for o in tiny(28):
        args += ["--set", o]
    res = _run(args)
    assert res.exit_code == 0, res.output
    return tmp / "run", args


def _copy(run: Path, to: Path, drop: tuple[str, ...] = ()) -> Path:
    shutil.copytree(run, to)
    for name in drop:
        (to / name).unlink()
    return to


# ---------------------------------------------------------------- a run folder is owned


def test_training_into_a_run_without_resume_is_refused(tmp_path, toy_run):
    run = _copy(toy_run, tmp_path / "run")
    before = _files(run)
    _one_line_error(_run([*TOY, "--steps", 7, "--out", run]), "already holds a run",
                    "--resume", "another --out")
    assert _files(run) == before
    res = _run([*TOY, "--steps", 7, "--out", run, "--resume"])
    assert res.exit_code == 0, res.output
    assert torch.load(run / "state.pt", weights_only=True)["step"] == 7


def test_weights_only_run_is_never_overwritten(tmp_path, toy_run):
    """A shipped-style run (config + snapshot, no state.pt) cannot be continued, and a new
    run into its folder is refused: fine-tune from it with --init-from instead."""
    run = _copy(toy_run, tmp_path / "run", drop=("state.pt",))
    before = _files(run)
    for extra in ([], ["--resume"]):
        _one_line_error(_run([*TOY, "--steps", 2, "--out", run, *extra]), "no state.pt",
                        "cannot be continued", "--init-from", "another --out")
    assert _files(run) == before
    _one_line_error(_run([*TOY, "--steps", 2, "--out", tmp_path / "empty", "--resume"]),
                    "nothing to resume", "drop --resume")
    assert not (tmp_path / "empty").exists()


def test_weights_only_image_run_is_never_overwritten(tmp_path, image_run):
    run, args = image_run
    copy = _copy(run, tmp_path / "shipped", drop=("state.pt",))
    before = _files(copy)
    out = args.index("--out") + 1
    img = args[:out] + [str(copy)] + args[out + 1:]
    _one_line_error(_run(img), "no state.pt", "--init-from")
    _one_line_error(_run(img + ["--resume"]), "cannot be continued", "--init-from")
    # another kind of run into the image run's folder
    _one_line_error(_run([*TOY, "--steps", 2, "--out", copy]), "holds a trained model")
    assert _files(copy) == before


def test_training_into_an_exported_run_is_refused(tmp_path, toy_run):
    pytest.importorskip("safetensors")
    exported = tmp_path / "exported"
    assert _run(["export", toy_run, "--out", exported]).exit_code == 0
    before = _files(exported)
    _one_line_error(_run([*TOY, "--steps", 2, "--out", exported]), "snapshot.safetensors")
    assert _files(exported) == before and not (exported / "snapshot.pt").exists()


def test_md_and_sst_training_respect_the_run_folder(tmp_path, toy_run):
    run = _copy(toy_run, tmp_path / "run")
    before = _files(run)
    _one_line_error(_run(["train", "md", "--source", "lorenz", "--steps", 1, "--out", run]),
                    "already holds a run", "--resume")
    _one_line_error(_run(["train", "sst", "--steps", 1, "--out", run]),
                    "already holds a run", "--resume")
    assert _files(run) == before


def test_python_training_api_owns_the_folder_in_python_words(tmp_path):
    from idff.toy.config import toy_run_config
    from idff.train_api import train_run
    from idff.training import TrainConfig

    cfg = toy_run_config("idff", "checkerboard", hidden=8, depth=2, batch_size=32)
    out = tmp_path / "run"
    train_run(json.loads(json.dumps(cfg)), out, TrainConfig(steps=2, warmup=1), progress=False)
    with pytest.raises(UserError) as e:
        train_run(json.loads(json.dumps(cfg)), out, TrainConfig(steps=4, warmup=1),
                  progress=False)
    assert "resume=True" in str(e.value) and "--resume" not in str(e.value)
    assert "--resume" in e.value.cli  # the command line says it in its own words
    train_run(json.loads(json.dumps(cfg)), out, TrainConfig(steps=4, warmup=1),
              progress=False, resume=True)
    assert torch.load(out / "state.pt", weights_only=True)["step"] == 4
    (out / "state.pt").unlink()
    with pytest.raises(UserError, match="init_from=") as e:
        train_run(json.loads(json.dumps(cfg)), out, TrainConfig(steps=6, warmup=1),
                  progress=False, resume=True)
    assert "--init-from" not in str(e.value)


def test_init_from_fine_tunes_a_weights_only_run_into_a_new_folder(tmp_path, toy_run):
    from idff.models import build_model
    from idff.toy.kind import load_toy_model
    from idff.training.checkpoint import init_from_run, load_run

    shipped = _copy(toy_run, tmp_path / "shipped", drop=("state.pt",))
    cfg, ema, step = load_run(shipped)
    model = build_model(cfg["model"])
    record: dict = {}
    init_from_run(model, record, shipped)
    assert all(torch.equal(model.state_dict()[k], ema[k]) for k in ema)
    assert record["init_from"] == {"run": str(shipped.resolve()), "step": step}

    new = _toy(tmp_path / "new", "--init-from", shipped, steps=3)
    saved = json.loads((new / "config.json").read_text())
    assert saved["init_from"]["step"] == step and load_toy_model(new)[1]["step"] == 3
    # resuming the fine-tuned run keeps its record and needs no --init-from
    _toy(new, "--resume", steps=4)
    assert json.loads((new / "config.json").read_text())["init_from"] == saved["init_from"]
    _one_line_error(_run([*TOY, "--steps", 3, "--out", tmp_path / "x", "--init-from", shipped,
                          "--resume"]), "--init-from", "--resume")
    _one_line_error(_run([*TOY, "--hidden", "16", "--steps", 3, "--out", tmp_path / "y",
                          "--init-from", shipped]), "does not fit")


def test_image_init_from_a_weights_only_run(tmp_path, image_run):
    run, args = image_run
    shipped = _copy(run, tmp_path / "shipped", drop=("state.pt",))
    out = args.index("--out") + 1
    res = _run(args[:out] + [str(tmp_path / "tuned")] + args[out + 1:]
               + ["--init-from", str(shipped), "--steps", "1"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert cfg["init_from"] == {"run": str(shipped.resolve()), "step": 2}


def test_md_init_from_a_weights_only_run(tmp_path):
    base = ["train", "md", "--source", "lorenz", "--steps", 2, "--hidden", 8, "--depth", 2,
            "--batch-size", 16]
    assert _run([*base, "--out", tmp_path / "a"]).exit_code == 0
    shipped = _copy(tmp_path / "a", tmp_path / "shipped", drop=("state.pt",))
    res = _run([*base, "--out", tmp_path / "b", "--init-from", shipped])
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    assert cfg["init_from"] == {"run": str(shipped.resolve()), "step": 2}
    opts = {o for p in cli.commands["train"].commands["sst"].params for o in p.opts}
    assert "--init-from" in opts


def test_lower_steps_on_resume_is_refused(tmp_path, toy_run):
    run = _copy(toy_run, tmp_path / "run")
    before = _files(run)
    _one_line_error(_run([*TOY, "--steps", 2, "--out", run, "--resume"]), "at step 5",
                    "--steps 2 is lower", "--steps 5 or more")
    assert _files(run) == before


def test_generate_refuses_a_folder_it_did_not_write(tmp_path, image_run):
    run, _ = image_run
    real = tmp_path / "real"
    real.mkdir()
    for i in range(3):
        (real / f"{i:06d}.png").write_bytes(b"a real image")
    before = _files(real)
    _one_line_error(_run(["generate", run, "--n", 5, "--nfe", 2, "--out", real]),
                    "did not write", "000000.png", "no generate.json")
    assert _files(real) == before
    res = _run(["generate", run, "--n", 2, "--nfe", 2, "--out", tmp_path / "gen"])
    assert res.exit_code == 0, res.output
    res = _run(["generate", run, "--n", 3, "--nfe", 2, "--out", tmp_path / "gen"])
    assert res.exit_code == 0 and "(1 written now)" in res.output, res.output


# ---------------------------------------------------------------- every option applies


@pytest.mark.parametrize("args,needles", [
    (["--field", "published"], ["--field published", "otcfm", "drop them"]),
    (["--gamma", "0.5"], ["--gamma 0.5", "velocity"]),
    (["--s", "0.3"], ["--s 0.3"]),
    (["--sde"], ["--sde"]),
])
def test_idff_only_sampling_options_on_a_cfm_run_are_refused(tmp_path, cfm_run, args, needles):
    _one_line_error(_run(["sample", cfm_run, *args, "--n", 4, "--out", tmp_path / "s.npy"]),
                    "would change nothing", *needles)
    assert not (tmp_path / "s.npy").exists()


@pytest.mark.parametrize("args,needles", [
    (["--s", "0.3"], ["--s 0.3", "add --field published"]),
    (["--sde"], ["--sde", "add --field published"]),
    (["--field", "published", "--gamma", "0.5"], ["--gamma 0.5", "add --field pf"]),
])
def test_options_of_the_other_idff_field_are_refused(tmp_path, toy_run, args, needles):
    _one_line_error(_run(["sample", toy_run, *args, "--n", 4, "--out", tmp_path / "s.npy"]),
                    "would change nothing", *needles)


def test_applicable_options_still_apply_and_python_words_are_used(tmp_path, toy_run):
    from idff.errors import ConfigError
    from idff.sampling import SamplingConfig

    for args in (["--gamma", "0.5", "--solver", "euler"], ["--field", "published", "--s", "0.2",
                                                          "--sde", "--solver", "euler"]):
        res = _run(["sample", toy_run, *args, "--n", 4, "--out", tmp_path / "s.npy"])
        assert res.exit_code == 0, res.output
    with pytest.raises(ConfigError) as e:
        SamplingConfig(method="otcfm", sigma=0.0).replace(gamma=0.5)
    assert "gamma=0.5" in str(e.value) and "--gamma" not in str(e.value)
    assert SamplingConfig(method="otcfm", sigma=0.0).replace(gamma=0.0).gamma == 0.0


def test_guidance_on_an_unconditional_run_is_refused(tmp_path, image_run):
    run, _ = image_run
    _one_line_error(_run(["generate", run, "--n", 2, "--nfe", 2, "--guidance", 3, "--out",
                          tmp_path / "g"]), "--guidance 3", "not class-conditional")
    assert not (tmp_path / "g" / "000000.png").exists()


def test_sigma_is_honoured_by_every_train_command(tmp_path):
    out = tmp_path / "lorenz"
    base = ["train", "md", "--source", "lorenz", "--steps", 2, "--hidden", 8, "--depth", 2,
            "--batch-size", 16, "--out", out]
    res = _run([*base, "--sigma", 0.5])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["objective"]["sigma"] == 0.5
    before = _files(out)
    _one_line_error(_run([*base, "--sigma", 0.3, "--steps", 3, "--resume"]),
                    "objective.sigma: 0.5 -> 0.3")
    assert _files(out) == before
    _toy(tmp_path / "icfm", "--method", "icfm", "--sigma", "0.3", steps=2)
    assert json.loads((tmp_path / "icfm" / "config.json").read_text())["objective"][
        "sigma"] == 0.3
    for cmd in (["train", "sst"], ["train", "fashion_mnist"]):
        opts = {o for p in cli.commands["train"].commands[cmd[1]].params for o in p.opts}
        assert "--sigma" in opts, cmd


@pytest.mark.parametrize("override,needles", [
    ("train.steps=0", ["train.steps must be an integer >= 1", "0"]),
    ("train.lr=0", ["train.lr must be a finite number > 0"]),
    ("train.batch_size=0", ["train.batch_size must be an integer >= 1"]),
    ("sampling.solver=\"rk99\"", ["unknown solver 'rk99'"]),
    ("sampling.nfe=0", ["sampling nfe must be an integer >= 1"]),
    ("model.num_channels=0", ["model.num_channels must be an integer >= 1"]),
])
def test_invalid_settings_fail_before_training(tmp_path, override, needles):
    out = tmp_path / "r"
    _one_line_error(_run(["train", "fashion_mnist", "--dry-run", "--set", override]), *needles)
    _one_line_error(_run(["train", "fashion_mnist", "--set", override, "--out", out]), *needles)
    assert not out.exists()


# ---------------------------------------------------------------- the environment


def test_absurd_budgets_are_refused(tmp_path, toy_run):
    _one_line_error(_run(["sample", toy_run, "--nfe", 10**12, "--n", 5, "--out",
                          tmp_path / "s.npy"]), "'--nfe'", "1<=x<=1000000")
    _one_line_error(_run(["sample", toy_run, "--n", 10**11, "--out", tmp_path / "s.npy"]),
                    "--n 100000000000", "GiB", "lower --n")
    assert not (tmp_path / "s.npy").exists()
    _one_line_error(_run(["bench", "nfe", toy_run, "--nfe", f"2,{10**12}", "--out",
                          tmp_path / "b"]), "--nfe takes", "at most 1,000,000")


def _no_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")


@pytest.mark.parametrize("cmd", [
    ["sample", "{run}", "--out", "{tmp}/s.npy"],
    ["generate", "{run}", "--n", "2", "--out", "{tmp}/g"],
    ["forecast", "{run}", "--out", "{tmp}/f"],
    ["md-eval", "{run}"],
    ["nll", "{run}"],
    ["train", "toy", "--out", "{tmp}/r"],
    ["train", "md", "--source", "lorenz", "--out", "{tmp}/r"],
    ["train", "sst", "--out", "{tmp}/r"],
    ["train", "fashion_mnist", "--dry-run"],
])
@pytest.mark.parametrize("device,needles", [
    ("cuda", ["no CUDA GPU", "--device cpu"]),
    ("cuda:7", ["cuda:7"]),
    ("bogus", ["'bogus' is not a device"]),
])
def test_devices_this_machine_lacks_are_one_line_everywhere(tmp_path, toy_run, cmd, device,
                                                            needles):
    if device.startswith("cuda"):
        _no_gpu()
    args = [a.replace("{run}", str(toy_run)).replace("{tmp}", str(tmp_path)) for a in cmd]
    _one_line_error(_run([*args, "--device", device]), "'--device'", *needles)
    assert not (tmp_path / "r").exists() and not (tmp_path / "s.npy").exists()


def test_python_training_checks_the_device(tmp_path):
    _no_gpu()
    from idff.toy.config import toy_run_config
    from idff.train_api import train_run
    from idff.training import TrainConfig

    cfg = toy_run_config("idff", "checkerboard", hidden=8, depth=2, batch_size=32)
    with pytest.raises(UserError, match="no CUDA GPU"):
        train_run(cfg, tmp_path / "r", TrainConfig(steps=1), device="cuda")


@pytest.mark.parametrize("device,needle", [("cuda", "no CUDA GPU"),
                                            ("bogus", "'bogus' is not a device")])
def test_python_sampling_checks_the_device(toy_run, device, needle):
    if device.startswith("cuda"):
        _no_gpu()
    import idff

    run = idff.load(toy_run)
    with pytest.raises(UserError, match=needle):
        run.sample(2, nfe=2, seed=0, device=device)
    with pytest.raises(UserError, match=needle):
        run.to(device)
    assert str(run.device) == "cpu"  # a refused move leaves the run where it was
    from idff.sampling import SamplingConfig

    with pytest.raises(ConfigError, match="sampling is a config for method 'otcfm', but this "
                                          "run is 'idff'"):
        run.sample(2, nfe=2, sampling=SamplingConfig(method="otcfm"))
    assert run.sample(2, nfe=2, seed=0).x.shape[0] == 2


def test_toy_training_refuses_options_it_would_ignore(tmp_path):
    np.save(tmp_path / "d.npy", np.random.default_rng(0).normal(size=(64, 2)).astype("f4"))
    _one_line_error(_run(["train", "toy", "--dataset", "moons", "--data", tmp_path / "d.npy",
                          "--steps", "1", "--out", tmp_path / "r"]),
                    "--dataset moons and --data", "drop one")
    _one_line_error(_run(["train", "toy", "--method", "otcfm", "--parametrization", "x1",
                          "--steps", "1", "--out", tmp_path / "r"]),
                    "--parametrization x1", "an otcfm run", "--method idff")
    assert not (tmp_path / "r").exists()
    import idff

    with pytest.raises(ConfigError, match="parametrization='skip' chooses IDFF's two heads"):
        idff.toy_config("icfm", parametrization="skip")
    assert idff.toy_config("idff")["model"]["parametrization"] == "velocity"
    assert "parametrization" not in idff.toy_config("otcfm")["model"]
    _one_line_error(_run(["train", "sst", "--patch-size", "30", "--steps", "1", "--out",
                          tmp_path / "r"]), "--patch-size 30 would change nothing", "--corners")
    assert not (tmp_path / "r").exists()
    _one_line_error(_run(["train", "md", "--source", "lorenz", "--temperature", "350",
                          "--n-traj", "2", "--out", tmp_path / "r"]),
                    "--n-traj, --temperature would change nothing with --source lorenz")
    _one_line_error(_run(["train", "md", "--source", "pickle", "--pickle", tmp_path / "d.npy",
                          "--trajectory", tmp_path / "a.dcd", "--out", tmp_path / "r"]),
                    "--trajectory would change nothing with --source pickle")
    _one_line_error(_run(["md-simulate", "--pdb", tmp_path / "d.npy", "--system",
                          "tetrapeptide"]), "--pdb and --system both name the structure")
    assert not (tmp_path / "r").exists()


def _fail_with(errno_: int, text: str):
    def fail(*args, **kwargs):
        raise OSError(errno_, text, "somewhere")

    return fail


def test_read_only_output_is_one_line(tmp_path, toy_run, monkeypatch):
    import idff.io

    monkeypatch.setattr(idff.io.os, "replace", _fail_with(errno.EROFS, "Read-only file system"))
    _one_line_error(_run([*TOY, "--steps", 2, "--out", tmp_path / "r"]),
                    "cannot write", "Read-only file system", "writable --out")
    monkeypatch.setattr(np, "save", _fail_with(errno.EACCES, "Permission denied"))
    _one_line_error(_run(["sample", toy_run, "--n", 4, "--out", tmp_path / "s.npy"]),
                    "cannot write", "Permission denied")


def test_disk_full_during_training_is_one_line_and_keeps_the_checkpoint(tmp_path,
                                                                      monkeypatch):
    import idff.io
    from idff.training.checkpoint import load_run, load_state

    out = _toy(tmp_path / "run", "--ckpt-every", "3", steps=3)
    good = _files(out)
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: (
        real_save(obj, f, *a, **k), _fail_with(errno.ENOSPC, "No space left on device")())[0])
    msg = _one_line_error(_run([*TOY, "--steps", 9, "--ckpt-every", 3, "--out", out,
                                "--resume"]), "no space left", "last checkpoint is intact")
    assert "Errno" not in msg
    monkeypatch.undo()
    assert load_state(out)["step"] == 3 and load_run(out)[2] == 3
    assert (out / "snapshot.safetensors").read_bytes() == good["snapshot.safetensors"]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    _ = idff.io


def test_disk_full_and_interrupt_in_generate(tmp_path, image_run, monkeypatch):
    import idff.images.sets as I

    run, _ = image_run
    out = tmp_path / "gen"
    assert _run(["generate", run, "--n", 2, "--nfe", 2, "--out", out]).exit_code == 0
    kept = _files(out)
    real = I._save_png_atomic

    def full(img, path):
        if path.name == "000003.png":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(img, path)

    monkeypatch.setattr(I, "_save_png_atomic", full)
    _one_line_error(_run(["generate", run, "--n", 5, "--nfe", 2, "--batch-size", 1,
                          "--out", out]), "no space left", "000003.png")
    assert {k: v for k, v in _files(out).items() if k in kept} == kept
    assert (out / "000002.png").is_file() and not (out / "000003.png").exists()

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(I, "sample_images", interrupted)
    _one_line_error(_run(["generate", run, "--n", 5, "--nfe", 2, "--out", out]),
                    "interrupted", code=130)


def test_out_of_memory_is_one_line(tmp_path, toy_run, monkeypatch):
    import idff.toy.kind as K

    def oom(*a, **k):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: "
                           "can't allocate memory: you tried to allocate 8589934592 bytes.")

    monkeypatch.setattr(K, "sample_model", oom)  # what the toy kind samples with
    _one_line_error(_run(["sample", toy_run, "--out", tmp_path / "s.npy"]), "out of memory",
                    "8.0 GiB", "lower --n")


def test_md_cache_without_angles_is_one_line(tmp_path):
    from idff.md.simulate import SimulationSettings

    d = tmp_path / "cache" / f"alanine-{SimulationSettings().key()}"
    d.mkdir(parents=True)
    np.savez(d / "torsions.npz", names=np.array(["phi", "psi"]), energies=np.zeros(3))
    _one_line_error(_run(["md-simulate", "--cache", tmp_path / "cache"]), "torsions.npz",
                    "lacks 'angles'", "delete it")


# ---------------------------------------------------------------- messages


def test_published_checkpoint_errors_do_not_quote_torch(tmp_path):
    from fractions import Fraction  # a plain object, but not a tensor: weights_only refuses it

    from idff.images.published import load_published
    from idff.training.checkpoint import RunError

    torch.save({"ema_model": Fraction(1, 2)}, tmp_path / "ckpt.pt")
    with pytest.raises(RunError) as e:
        load_published(tmp_path / "ckpt.pt")
    assert "will likely succeed" not in str(e.value) and "weights_only" not in str(e.value)
    assert "not a plain tensor file" in str(e.value)


def test_sst_box_larger_than_the_grid_names_the_right_bound():
    xr = pytest.importorskip("xarray")
    from idff.sst.data import Box, cut_patches

    da = xr.DataArray(np.zeros((4, 5, 6), np.float32), dims=("time", "lat", "lon"),
                      coords={"lat": np.arange(5.0), "lon": np.arange(6.0)})
    with pytest.raises(ValueError) as e:
        cut_patches(da, [Box(0, 0, 9999, 9999)])
    assert "h <= 5 and w <= 6" in str(e.value) and "-" not in str(e.value).split("choose")[1]


def test_bench_nfe_refuses_md_runs(tmp_path, toy_run):
    md = _copy(toy_run, tmp_path / "md")
    cfg = json.loads((md / "config.json").read_text())
    cfg["kind"] = "md"
    (md / "config.json").write_text(json.dumps(cfg))
    msg = _one_line_error(_run(["bench", "nfe", md, "--nfe", "2", "--out", tmp_path / "b"]),
                          "'md' run", "idff md-eval")
    assert "None" not in msg


def test_dry_run_fails_on_corrupt_data_and_passes_on_missing_data(tmp_path):
    root = tmp_path / "imagenet"
    root.mkdir()
    (root / "train_data_batch_1.npz").write_bytes(b"not an npz")
    _one_line_error(_run(["train", "imagenet64", "--dry-run", "--data-root", root]),
                    "train_data_batch_1.npz", "Downsampled-ImageNet")
    res = _run(["train", "imagenet64", "--dry-run", "--data-root", tmp_path / "none"])
    assert res.exit_code == 0 and "NOT FOUND" in res.output, res.output


def test_stale_log_temporary_is_removed(tmp_path, toy_run):
    run = _copy(toy_run, tmp_path / "run")
    stale = run / ".log.jsonl.0badc0de.tmp"
    stale.write_text('{"step": 1')
    _toy(run, "--resume", steps=6)
    assert not stale.exists()


def test_interrupt_messages_name_the_command_that_resumes():
    import signal

    from idff.cli.common import to_cli_error
    from idff.errors import TrainingInterrupted

    e = TrainingInterrupted(40, "runs/x", signal.SIGINT)
    assert "resume=True" in str(e) and "--resume" not in str(e)
    err = to_cli_error(e)
    assert err.exit_code == 130 and "Rerun the same command with --resume" in err.message


def test_snapshots_are_safetensors_and_an_old_run_keeps_its_format(tmp_path):
    """New runs write snapshot.safetensors; a run that has a snapshot.pt (started before
    safetensors was the default) goes on writing it: never two weight formats in a folder."""
    import torch

    from idff.training.checkpoint import load_run, save_snapshot

    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2)}
    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir(), old.mkdir()
    save_snapshot(new, state, {"kind": "toy"}, step=5)
    assert sorted(p.name for p in new.iterdir()) == ["config.json", "snapshot.safetensors"]
    torch.save({"model": state, "step": 1}, old / "snapshot.pt")
    save_snapshot(old, {k: v + 1 for k, v in state.items()}, {"kind": "toy"}, step=7)
    assert sorted(p.name for p in old.iterdir()) == ["config.json", "snapshot.pt"]
    for folder, step, shift in ((new, 5, 0), (old, 7, 1)):
        _, weights, got = load_run(folder)
        assert got == step
        for k, v in state.items():
            assert torch.equal(weights[k], v + shift)
