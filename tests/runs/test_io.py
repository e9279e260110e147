"""Atomic writes: the target is either the old file or the complete new one."""

from __future__ import annotations

import json
import os

import pytest
import torch

from idff.io import atomic_save, atomic_write, atomic_write_json, atomic_write_text


def test_atomic_writers_round_trip(tmp_path):
    atomic_save({"w": torch.arange(3)}, tmp_path / "a" / "x.pt")
    assert torch.equal(torch.load(tmp_path / "a" / "x.pt", weights_only=True)["w"],
                       torch.arange(3))
    atomic_write_text("σ = 0.1\n", tmp_path / "t.txt")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "σ = 0.1\n"
    atomic_write_json({"a": 1}, tmp_path / "j.json", indent=2)
    assert json.loads((tmp_path / "j.json").read_text()) == {"a": 1}
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "j.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "j.json", "t.txt"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"old")

    def dies(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, dies)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.bin"]
