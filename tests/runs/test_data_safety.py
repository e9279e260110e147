"""Nothing a user has is lost: one writer per run folder, config.json from the start, a new
run never shares a folder with other files, the demo owns only what it made and publishes
finished runs only, outputs are replaced whole or not at all, and a benchmark never
touches a run's own files."""

from __future__ import annotations

import errno
import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from idff.errors import TrainingInterrupted, UserError
from tests.cli_checks import TOY, train_toy_cli
from tests.cli_checks import files as _files
from tests.cli_checks import one_line_error as _one_line_error
from tests.cli_checks import run as _run


def _toy(out: Path, *extra, steps: int = 3):
    return train_toy_cli(out, *extra, steps=steps)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    return _toy(tmp_path_factory.mktemp("toy") / "run")


@contextmanager
def _other_writer(folder: Path, name: str = ".lock"):
    """Another process's lock on ``folder``: an open file description of its own, as a
    second ``idff`` process would hold."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"pid 4242: idff train toy --out somewhere\n")
    try:
        yield
    finally:
        os.close(fd)


# ------------------------------------------------------------------ one writer per folder


def test_a_second_writer_of_a_run_folder_is_refused(tmp_path, toy_run):
    from idff.toy.config import toy_run_config
    from idff.train_api import train_run
    from idff.training import TrainConfig

    out = tmp_path / "run"
    with _other_writer(out):
        _one_line_error(_run([*TOY, "--steps", 2, "--out", out]),
                        "being written by another idff command", "pid 4242", "another --out")
        assert [p.name for p in out.iterdir()] == [".lock"]  # nothing written
        cfg = toy_run_config("idff", "checkerboard", hidden=8, depth=2, batch_size=32)
        with pytest.raises(UserError, match="being written by another process"):
            train_run(cfg, out, TrainConfig(steps=2, warmup=1), progress=False)
    _toy(out, steps=2)  # the writer is gone: the folder is free again
    assert not (out / ".lock").exists()

    # every other command that writes a run folder or its outputs
    run = _toy(tmp_path / "tuned", steps=2)
    with _other_writer(run):
        _one_line_error(_run(["tune-schedule", run, "--nfe", 3, "--iters", 1, "--n", 4,
                              "--n-held", 2, "--teacher-nfe", 4]), "being written")
        _one_line_error(_run([*TOY, "--steps", 4, "--out", run, "--resume"]), "being written")
        _one_line_error(_run(["bench", "nfe", run, "--nfe", 2, "--n-eval", 16, "--n-val", 16,
                              "--solvers", "euler", "--store", "--out", tmp_path / "b"]),
                        "being written")
    with _other_writer(tmp_path / "exp"):
        _one_line_error(_run(["export", toy_run, "--out", tmp_path / "exp"]), "being written")
    with _other_writer(tmp_path, ".b.lock"):
        _one_line_error(_run(["bench", "nfe", toy_run, "--nfe", 2, "--n-eval", 16, "--n-val",
                              16, "--out", tmp_path / "b"]), "being written")
    with _other_writer(tmp_path / "demo"):
        _one_line_error(_run(["demo", "--steps", 2, "--out", tmp_path / "demo"]),
                        "being written")


def test_generate_holds_its_output_folder(tmp_path, monkeypatch):
    import idff.cli.generate as C

    out = tmp_path / "gen"
    with _other_writer(out):
        _one_line_error(_run(["generate", tmp_path / "nothing.pt", "--n", 2, "--out", out]),
                        "being written")
    seen = []
    monkeypatch.setattr(C, "_remove_stale_pngs", lambda o: seen.append((o / ".lock").exists()))
    _run(["generate", tmp_path / "nothing.pt", "--n", 2, "--out", out])
    assert seen == [True]  # held while the command works


def test_a_lock_left_by_a_killed_command_does_not_block(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text("pid 1: idff train toy (killed with -9)\n")
    _toy(out, steps=2)
    assert (out / "state.pt").is_file()


def test_config_json_is_written_when_training_starts(tmp_path):
    from idff.toy.config import toy_run_config
    from idff.train_api import train_run
    from idff.training import TrainConfig

    cfg = toy_run_config("idff", "checkerboard", hidden=8, depth=2, batch_size=32)
    out = tmp_path / "run"
    seen = []

    def on_log(step, metrics):  # before the first checkpoint
        seen.append(((out / "config.json").is_file(), (out / "state.pt").is_file()))
        raise KeyboardInterrupt  # stop as a kill would, with no checkpoint saved

    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, out, TrainConfig(steps=5, warmup=1, log_every=1, ckpt_every=100),
                  progress=False, on_log=on_log)
    assert seen == [(True, False)]
    assert json.loads((out / "config.json").read_text())["method"] == "idff"
    # a run stopped before its first checkpoint: started again with --resume, not silently
    _one_line_error(_run([*TOY, "--steps", 2, "--out", out]), "saved no checkpoint",
                    "--resume")
    _toy(out, "--resume", steps=2)
    assert torch.load(out / "state.pt", weights_only=True)["step"] == 2


# ------------------------------------------------------------- no folder of other files


def test_training_refuses_a_folder_of_the_users_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "log.jsonl").write_text('{"note": "my own experiment log"}\n')
    (out / "notes.txt").write_text("keep me\n")
    before = _files(out)
    for extra in ([], ["--resume"]):
        _one_line_error(_run([*TOY, "--steps", 2, "--out", out, *extra]),
                        "holds files that no idff run wrote", "log.jsonl", "notes.txt",
                        "new or empty --out")
    _one_line_error(_run(["train", "md", "--source", "lorenz", "--steps", 1, "--out", out]),
                    "no idff run wrote")
    assert _files(out) == before


# ------------------------------------------------------------------------------ bench --out


def test_bench_never_touches_a_runs_own_files(tmp_path, toy_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(toy_run, run)
    before = _files(run)
    args = ["bench", "nfe", run, "--nfe", 2, "--n-eval", 16, "--n-val", 16]
    for extra in (["--fresh"], []):
        _one_line_error(_run([*args, "--out", run / "log", *extra]), "log.jsonl",
                        "training log", "--out")
    assert _files(run) == before
    # a file of the same name that is not a bench journal is not deleted by --fresh either
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"step": 1, "loss": 0.5}\n')
    _one_line_error(_run([*args, "--out", tmp_path / "mine", "--fresh"]),
                    "not a journal of 'idff bench nfe'")
    assert mine.read_text() == '{"step": 1, "loss": 0.5}\n'
    # a journal of bench itself (torn last line included) is still reused
    res = _run([*args, "--out", tmp_path / "b"])
    assert res.exit_code == 0, res.output
    with open(tmp_path / "b.jsonl", "a") as f:
        f.write('{"key": "cut sh')
    res = _run([*args, "--out", tmp_path / "b"])
    assert res.exit_code == 0 and "reused" in res.output, res.output


# ------------------------------------------------------------------ whole files or none


@pytest.mark.parametrize("suffix", [".npy", ".png"])
def test_sample_on_a_full_disk_keeps_the_previous_file(tmp_path, toy_run, monkeypatch,
                                                       suffix):
    import idff.io

    prev = tmp_path / f"prev{suffix}"
    assert _run(["sample", toy_run, "--n", 8, "--nfe", 2, "--out", prev]).exit_code == 0
    good = prev.read_bytes()
    real = idff.io.os.fdopen

    class Full:  # a file that takes some bytes, then finds the disk full
        def __init__(self, f):
            self.f = f

        def write(self, b):
            self.f.write(bytes(b)[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, k):
            return getattr(self.f, k)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

    monkeypatch.setattr(idff.io.os, "fdopen", lambda fd, mode: Full(real(fd, mode)))
    _one_line_error(_run(["sample", toy_run, "--n", 8, "--nfe", 2, "--seed", 1, "--out",
                          prev]), "no space left", "complete")
    monkeypatch.undo()
    assert prev.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == [prev.name]  # no temporary left


def test_figures_and_tables_are_written_atomically(tmp_path, monkeypatch):
    import idff.io
    from idff.sampler import SampleResult
    from idff.toy.plots import plot_samples_and_trajectories

    path = tmp_path / "fig.png"
    path.write_bytes(b"old figure")

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(idff.io.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        plot_samples_and_trajectories({"x": SampleResult(x=torch.zeros(4, 2), nfe=1)}, path)
    assert path.read_bytes() == b"old figure" and len(list(tmp_path.iterdir())) == 1
    pytest.importorskip("torchvision")
    from idff.eval.bench import BenchRow, write_csv
    from idff.images.grid import write_grid as save_grid

    table = tmp_path / "table.csv"
    table.write_text("old table\n")
    writers = [lambda: save_grid(torch.zeros(4, 1, 8, 8), path),
               lambda: write_csv([BenchRow("IDFF", "idff", "2", 2, "euler", "", "MMD", 0.1,
                                           1.0, 16)], table)]
    for write in writers:
        with pytest.raises(KeyboardInterrupt):
            write()
    assert path.read_bytes() == b"old figure" and table.read_text() == "old table\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "table.csv"]
    _ = np


# ------------------------------------------------------------------------------- the demo


DEMO = ["demo", "--steps", 3, "--n-eval", 32, "--figure-nfe", 2]


def test_demo_never_writes_over_a_users_run(tmp_path, toy_run):
    import shutil

    out = tmp_path / "d"
    out.mkdir()
    shutil.copytree(toy_run, out / "idff")
    before = _files(out / "idff")
    _one_line_error(_run([*DEMO, "--out", out]), "did not make", "idff", "another --out")
    assert _files(out / "idff") == before
    # inside a folder the demo made, a run it did not make is not its either
    mine = tmp_path / "d2"
    assert _run([*DEMO, "--out", mine]).exit_code == 0
    shutil.rmtree(mine / "otcfm")
    shutil.copytree(toy_run, mine / "otcfm")
    before = _files(mine / "otcfm")
    _one_line_error(_run([*DEMO, "--out", mine]), "did not make", "otcfm")
    assert _files(mine / "otcfm") == before


def test_demo_cache_is_keyed_by_every_setting(tmp_path):
    out = tmp_path / "d"
    res = _run([*DEMO, "--out", out])
    assert res.exit_code == 0 and res.output.count("training ") == 3, res.output
    res = _run([*DEMO, "--out", out])  # the same settings: reused
    assert res.exit_code == 0 and "training " not in res.output, res.output
    w0 = (out / "idff" / "snapshot.safetensors").read_bytes()
    res = _run([*DEMO, "--seed", 1, "--out", out])  # another seed: trained again
    assert res.exit_code == 0 and res.output.count("training ") == 3, res.output
    assert (out / "idff" / "snapshot.safetensors").read_bytes() != w0
    assert json.loads((out / "idff" / ".idff-demo.json").read_text())["settings"]["train"][
        "seed"] == 1


def test_an_interrupted_demo_continues_and_never_publishes_a_partial_model(tmp_path,
                                                                          monkeypatch):
    import signal

    import idff.toy.kind as T
    from idff.training import Trainer

    out = tmp_path / "d"
    real = Trainer.train_micro_steps

    def step(self, micro):  # Ctrl-C during OT-CFM's second step
        m = real(self, micro)
        if self.run_dir.name == "otcfm" and self.step == 2:
            self._signal = signal.SIGINT
        return m

    monkeypatch.setattr(Trainer, "train_micro_steps", step)
    res = _run(["demo", "--steps", 6, "--n-eval", 32, "--figure-nfe", 2, "--out", out])
    msg = _one_line_error(res, "interrupted at step 2 of 6 of OT-CFM",
                          "rerun the same idff demo command", code=130)
    assert "--resume" not in msg
    assert not (out / "table.md").exists()
    monkeypatch.undo()
    with pytest.raises(TrainingInterrupted):  # Python words in Python
        monkeypatch.setattr(Trainer, "train_micro_steps", step)
        from idff.toy.demo import run_demo

        run_demo("checkerboard", 6, 1, 32, 2, tmp_path / "py", echo=lambda s: None)
    monkeypatch.undo()
    res = _run(["demo", "--steps", 6, "--n-eval", 32, "--figure-nfe", 2, "--out", out])
    assert res.exit_code == 0, res.output
    assert "continuing OT-CFM" in res.output and "training IDFF" not in res.output
    for m in ("idff", "otcfm", "icfm"):
        assert T.load_toy_model(out / m)[1]["step"] == 6
    assert (out / "table.md").is_file()


def test_pipelines_that_continue_their_runs_never_suggest_resume(tmp_path, monkeypatch):
    """sst-demo and the benchmarks train with resume="auto" and have no --resume."""
    import signal

    from idff.toy.config import toy_run_config
    from idff.toy.train import train_toy
    from idff.training import TrainConfig, Trainer

    real = Trainer.train_micro_steps

    def step(self, micro):
        m = real(self, micro)
        self._signal = signal.SIGINT
        return m

    monkeypatch.setattr(Trainer, "train_micro_steps", step)
    cfg = toy_run_config("idff", "checkerboard", hidden=8, depth=2, batch_size=32)
    for resume, says in (("auto", "Rerun the same command to continue"),
                         (False, "Rerun the same command with --resume")):
        with pytest.raises(TrainingInterrupted) as e:
            train_toy(cfg, tmp_path / str(resume), TrainConfig(steps=4, warmup=1),
                      progress=False, resume=resume)
        assert says in e.value.cli


def test_two_processes_into_one_folder_and_a_kill_9(tmp_path):
    """The issue's case for real: a second training into the folder another process is
    training into is refused; after that process is killed with -9 its lock is gone and
    --resume starts the run again."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    first = subprocess.Popen([sys.executable, "-c", "from idff.cli.main import main; main()",
                              *TOY, "--steps", "1000000", "--ckpt-every", "1000000", "--out",
                              str(out)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "config.json").is_file():  # written when training starts
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        _one_line_error(_run([*TOY, "--steps", 2, "--out", out]), "being written",
                        f"pid {first.pid}")
        assert not (out / "state.pt").exists()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert (out / ".lock").exists()  # left behind by the kill, and harmless
    _toy(out, "--resume", steps=2)
    assert torch.load(out / "state.pt", weights_only=True)["step"] == 2
