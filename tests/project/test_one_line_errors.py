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
from tests.cli_checks import one_line_error as _one_line_error
from tests.cli_checks import train_tiny_idff


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    return train_tiny_idff(tmp_path_factory.mktemp("toy") / "run")


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

    shipped = sorted(Path(__file__).resolve().parents[2].glob("checkpoints/*/*/config.json"))
    assert shipped
    for path in shipped:
        assert read_config(path)["model"]


def test_python_configs_of_the_wrong_shape_are_refused_before_training(tmp_path):
    import idff

    cfg = idff.toy_config("idff", "moons", hidden=8)
    with pytest.raises(ConfigError, match=r"'model' must be a JSON object.*a string"):
        idff.train_run({**cfg, "model": "mlp"}, tmp_path / "a", {"steps": 1}, progress=False)
    bad = json.loads(json.dumps(cfg))
    bad["model"]["hidden"] = "a"
    with pytest.raises(ConfigError, match=r"'model.hidden' must be an integer.*\"a\""):
        idff.train_run(bad, tmp_path / "b", {"steps": 1}, progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# ------------------------------------------------------------ Python: networks and data

class _TupleNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 4)

    def forward(self, t, x, cond=None):
        y = self.lin(torch.cat([x, t.reshape(-1, 1).to(x)], 1))
        return y, y


def test_a_backbone_returning_a_tuple_is_named():
    from idff import IDFFObjective, SamplingConfig
    from idff.models import TwoHead

    model = TwoHead(_TupleNet(), parametrization="velocity", sigma=0.2)
    with pytest.raises(ConfigError, match="returned a tuple, not a tensor"):
        IDFFObjective()(model, torch.randn(8, 2))
    with pytest.raises(ConfigError, match="returned a tuple, not a tensor"):
        SamplingConfig(nfe=2, solver="euler").integrate(model, torch.randn(8, 2))


def test_integer_training_data_is_named(tmp_path):
    import idff
    from idff import CFMObjective, IDFFObjective
    from idff.models import TwoHead
    from idff.models.mlp import MLP

    model = TwoHead(MLP(dim=2, out_dim=4, hidden=8), sigma=0.2)
    ints = torch.randint(0, 5, (8, 2))
    with pytest.raises(ValueError, match=r"x1 is a torch.int64 tensor.*x1.float\(\)"):
        IDFFObjective()(model, ints)
    with pytest.raises(ValueError, match=r"x1 is a torch.int64 tensor"):
        CFMObjective()(MLP(dim=2, out_dim=2, hidden=8), ints)

    def stream(cfg):
        while True:
            yield torch.randint(0, 5, (16, 2)), None

    idff.register_kind("int-data", stream=stream)
    cfg = {**idff.toy_config("idff", "moons", hidden=8), "kind": "int-data"}
    with pytest.raises(ValueError, match="floating-point tensor"):
        idff.train_run(cfg, tmp_path / "run", {"steps": 2}, progress=False)


# ------------------------------------------------------------ sampling and tuning

def test_sample_gamma_beyond_any_diffusion_is_one_line(tmp_path, toy_run):
    import idff

    res = CliRunner().invoke(cli, ["sample", str(toy_run), "--gamma", "1e308", "--solver",
                                   "euler", "--out", str(tmp_path / "s.npy")])
    _one_line_error(res, "gamma=1e+308", "gamma <= 10000")
    with pytest.raises(ConfigError, match="gamma <= 10000"):
        idff.load(toy_run).sample(4, nfe=2, solver="euler", gamma=1e308)
    assert idff.load(toy_run).sample(4, nfe=2, solver="euler", gamma=2.0).x.isfinite().all()


def test_tune_schedule_of_a_one_step_grid_is_refused_before_the_teacher(toy_run):
    res = CliRunner().invoke(cli, ["tune-schedule", str(toy_run), "--nfe", "2",
                                   "--solver", "midpoint", "--dry-run"])
    _one_line_error(res, "--nfe 2", "grid of 1 step", "--nfe 4")
    assert "teacher" not in res.output


def test_bench_published_noise_beyond_two_is_one_line(tmp_path, toy_run):
    res = CliRunner().invoke(cli, ["bench", "nfe", str(toy_run), "--field", "published",
                                   "--gammas", "3", "--nfe", "2",
                                   "--out", str(tmp_path / "b")])
    _one_line_error(res, "--gammas 3", "<= 2")
    assert not list(tmp_path.iterdir())


def test_bench_plot_of_only_failed_cells_is_written(tmp_path):
    import math

    from idff.eval import bench as B

    fields = {f: None for f in B.BenchRow.__dataclass_fields__}
    fields.update(label="idff", metric="mmd", nfe_budget="2", nfe=-1, value=math.nan,
                  seconds_per_1k=math.nan)
    B.plot_quality_vs_nfe([B.BenchRow(**fields)], tmp_path / "p.png", floor=-0.001)
    assert (tmp_path / "p.png").stat().st_size > 0


# ------------------------------------------------------------ diagnose

def test_diagnose_out_below_a_file_is_one_line(tmp_path, toy_run):
    (tmp_path / "afile").write_text("x")
    res = CliRunner().invoke(cli, ["diagnose", str(toy_run), "--n", "10", "--bins", "2",
                                   "--out", str(tmp_path / "afile" / "d")])
    _one_line_error(res, "afile is a file, not a folder", "--out")


def test_diagnose_scores_a_run_trained_on_a_data_file(tmp_path):
    import numpy as np

    data = tmp_path / "pts.npy"
    np.save(data, np.random.default_rng(0).normal(size=(200, 2)).astype("float32"))
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["train", "toy", "--data", str(data), "--hidden", "8",
                                   "--steps", "3", "--out", str(run)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["diagnose", str(run), "--n", "20", "--bins", "2",
                                   "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert "rows of that file" in res.output and (tmp_path / "d.md").is_file()


# ------------------------------------------------------------ network sizes

@pytest.mark.parametrize("cmd", [["train", "kolmogorov"], ["train", "sst"],
                                 ["kolmogorov-benchmark", "--runs", "{tmp}/r"]])
def test_unet_width_groupnorm_cannot_split_is_refused_up_front(tmp_path, cmd):
    from idff.models.unet import UNet

    cmd = [c.replace("{tmp}", str(tmp_path)) for c in cmd]
    res = CliRunner().invoke(cli, [*cmd, "--num-channels", "20", "--steps", "1",
                                   "--out", str(tmp_path / "o")])
    _one_line_error(res, "--num-channels 20", "multiple of 32", "32, 64, 96")
    with pytest.raises(ConfigError, match="model.num_channels 20.*multiple of 32"):
        UNet(1, 16, num_channels=20, channel_mult=(1, 2))


def test_toy_batch_beyond_memory_is_refused_up_front(tmp_path):
    import idff

    res = CliRunner().invoke(cli, ["train", "toy", "--batch-size", "2000000000", "--steps",
                                   "1", "--out", str(tmp_path / "run")])
    _one_line_error(res, "--batch-size 2,000,000,000", "GiB", "lower --batch-size")
    assert not (tmp_path / "run").exists()
    with pytest.raises(UserError, match="batch_size=1,000,000 needs at least"):
        idff.train_run(idff.toy_config("idff", "moons"), tmp_path / "py",
                       {"steps": 1, "batch_size": 10**6}, progress=False)
    assert not (tmp_path / "py").exists()


# ------------------------------------------------------------ resume state, disk

def _train_toy(out, *extra):
    return CliRunner().invoke(cli, ["train", "toy", "--hidden", "8", "--depth", "2",
                                    "--batch-size", "32", "--ckpt-every", "3", "--out",
                                    str(out), *extra])


@pytest.mark.parametrize("rng", [torch.zeros(10, dtype=torch.uint8), "abc", None,
                                 torch.zeros(5056, dtype=torch.uint8)])
def test_doctored_rng_in_the_resume_state_is_one_line(tmp_path, rng):
    out = tmp_path / "run"
    assert _train_toy(out, "--steps", "3").exit_code == 0
    state = torch.load(out / "state.pt", weights_only=True)
    state["rng"] = rng
    torch.save(state, out / "state.pt")
    _one_line_error(_train_toy(out, "--steps", "6", "--resume"), "state.pt", "'rng' entry",
                    "not a torch RNG state")


def test_disk_full_inside_torch_save_is_one_line_and_keeps_the_checkpoint(tmp_path,
                                                                           monkeypatch):
    """torch's zip writer turns a short write into a RuntimeError ('unexpected pos')."""
    import os
    from types import SimpleNamespace

    from idff.training.checkpoint import load_state

    out = tmp_path / "run"
    assert _train_toy(out, "--steps", "3").exit_code == 0
    good = (out / "state.pt").read_bytes()
    real_save = torch.save

    def short_write(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 58048 "
                           "vs 57936")

    monkeypatch.setattr(torch, "save", short_write)
    monkeypatch.setattr(os, "statvfs", lambda p: SimpleNamespace(f_bavail=0, f_frsize=4096))
    msg = _one_line_error(_train_toy(out, "--steps", "6", "--resume"), "no space left",
                          "state.pt", "last checkpoint is intact")
    assert "enforce" not in msg
    monkeypatch.undo()
    assert (out / "state.pt").read_bytes() == good and load_state(out)["step"] == 3
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------ damaged data

def _png_bomb(path: Path, side: int = 30_000) -> Path:
    """A 600-byte PNG that declares side × side pixels (over PIL's limit)."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * (side + 1) * 16))
                     + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_in_a_folder_data_set_is_one_line(tmp_path):
    import numpy as np
    from PIL import Image

    from idff.errors import DataError
    from idff.eval.fid import iter_image_batches
    from idff.images.lmdb_images import decode_image

    root = tmp_path / "imgs" / "a"
    root.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / f"{i}.png")
    bomb = _png_bomb(root / "9.png")
    sets = ["model.num_channels=32", "model.num_res_blocks=1", "model.channel_mult=[1,2]",
            "model.attention_resolutions=", "model.num_head_channels=-1", "data.image_size=8",
            "model.image_size=8", "data.dataset=folder", "train.batch_size=5",
            "train.sample_every=0"]
    res = CliRunner().invoke(cli, ["train", "celeba64", "--data-root", str(tmp_path / "imgs"),
                                   *[a for s in sets for a in ("--set", s)], "--steps", "1",
                                   "--out", str(tmp_path / "run")])
    _one_line_error(res, "9.png", "too large to decode safely", "remove it")
    with pytest.raises(UserError, match="9.png"):
        list(iter_image_batches([bomb]))
    with pytest.raises(DataError, match="too large to decode safely"):
        decode_image(bomb.read_bytes())


@pytest.fixture()
def kolmogorov_tiny(tmp_path):
    from idff.kolmogorov.data import SIZES, generate

    root = tmp_path / "kolmo"
    generate(SIZES["tiny"], root, "tiny", echo=lambda *_: None)
    return root


def _train_kolmogorov(root, out):
    return CliRunner().invoke(cli, ["train", "kolmogorov", "--size", "tiny", "--data-root",
                                    str(root), "--steps", "1", "--batch-size", "2",
                                    "--horizon", "2", "--out", str(out)])


def test_truncated_kolmogorov_split_is_named_and_regenerates(tmp_path, kolmogorov_tiny):
    folder = kolmogorov_tiny / "tiny"
    good = (folder / "train.npy").read_bytes()
    (folder / "train.npy").write_bytes(good[: len(good) // 2])
    _one_line_error(_train_kolmogorov(kolmogorov_tiny, tmp_path / "run"), "train.npy",
                    "sha256", "delete", "manifest.json", "idff kolmogorov-data --size tiny")
    # the fix the message names rebuilds the same file
    (folder / "train.npy").unlink()
    (folder / "manifest.json").unlink()
    res = CliRunner().invoke(cli, ["kolmogorov-data", "--size", "tiny", "--data-root",
                                   str(kolmogorov_tiny)])
    assert res.exit_code == 0, res.output
    assert (folder / "train.npy").read_bytes() == good


@pytest.mark.parametrize("damage", ["truncate", "array"])
def test_damaged_kolmogorov_manifest_is_named(tmp_path, kolmogorov_tiny, damage):
    path = kolmogorov_tiny / "tiny" / "manifest.json"
    text = path.read_text()
    path.write_text(text[:300] if damage == "truncate" else "[]")
    _one_line_error(_train_kolmogorov(kolmogorov_tiny, tmp_path / "run"), "manifest.json",
                    "damaged", "delete it", "idff kolmogorov-data --size tiny")


def test_damaged_md_torsion_cache_names_the_file_to_delete(tmp_path):
    import numpy as np

    from idff.errors import DataError
    from idff.md.simulate import SimulationSettings, simulate

    s = SimulationSettings(n_traj=1)
    d = tmp_path / f"alanine-{s.key()}"
    d.mkdir()
    np.savez(d / "torsions.npz", angles=np.zeros((1, 50, 2)), names=np.array(["phi", "psi"]),
             energies=np.zeros((1, 50)))
    blob = (d / "torsions.npz").read_bytes()
    flipped = blob[:200] + bytes(b ^ 0xFF for b in blob[200:250]) + blob[250:]
    for cut in (blob[: len(blob) // 2], flipped):
        (d / "torsions.npz").write_bytes(cut)
        with pytest.raises(DataError, match=r"torsions.npz is not readable.*delete it"):
            simulate(s, tmp_path, progress=False)


# ------------------------------------------------------------ generate

def test_generate_of_an_absurd_n_is_refused_at_once(tmp_path, monkeypatch):
    from idff.images import generate_plan

    out = tmp_path / "gen"
    res = CliRunner().invoke(cli, ["generate", "fashion_mnist/idff", "--n", "100000000000",
                                   "--nfe", "2", "--out", str(out)])
    _one_line_error(res, "--n asks for 100,000,000,000 images", "GiB free", "lower --n")
    # nothing written (the folder the refused command made is removed again)
    assert not out.exists() or not [p for p in out.iterdir() if p.suffix in (".png", ".json")]
    # the folder is listed once, whatever n is; the indices to write come lazily
    out.mkdir(exist_ok=True)
    (out / "000002.png").write_bytes(b"x")
    (out / "000005.png").write_bytes(b"x")
    count, todo = generate_plan.pending(out, 10**12)
    assert count == 10**12 - 2 and [next(todo) for _ in range(4)] == [0, 1, 3, 4]
    count, todo = generate_plan.pending(out, 10, rank=1, world=2)
    assert count == 4 and list(todo) == [1, 3, 7, 9]
