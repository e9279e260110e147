"""Teacher pairs ``(x0, x1 = teacher's sample from x0)``: made once, in chunks, cached in
the student's folder (``pairs/``) and counted.

Each chunk is written atomically, so an interrupted run keeps every finished chunk and
the next one starts where it stopped. ``pairs/manifest.json`` records what the pairs are
(teacher, sampler, count, seed); a cache made with other settings is refused, not mixed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from idff.errors import UserError
from idff.io import atomic_save, atomic_write_json

__all__ = ["PAIRS_DIR", "make_pairs", "source_shape"]

PAIRS_DIR = "pairs"


def source_shape(teacher) -> tuple[int, ...]:
    """The shape of one sample of ``teacher`` (a :class:`~idff.runs.Run`)."""
    model = teacher.config.get("model") or {}
    if teacher.kind == "toy" and isinstance(model.get("dim"), int):
        return (int(model["dim"]),)
    probe = teacher.sample(1, nfe=1, solver="euler", seed=0, clamp=False)
    return tuple(probe.x.shape[1:])


def _chunk_path(folder: Path, i: int) -> Path:
    return folder / f"chunk_{i:05d}.pt"


def _read_chunk(path: Path, m: int, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """A finished chunk, or ``None`` when it is missing or damaged (then it is made again)."""
    if not path.is_file():
        return None
    try:
        c = torch.load(path, map_location="cpu", weights_only=True)
        ok = (isinstance(c, dict) and tuple(c["x0"].shape) == (m, *shape)
              and c["x1"].shape == c["x0"].shape and torch.isfinite(c["x1"]).all())
        return c if ok else None
    except Exception:  # a torn or foreign file is a cache miss
        return None


def make_pairs(teacher, out: str | Path, n: int, nfe: int, solver: str | None, seed: int,
               chunk: int = 2048, device: str = "cpu", echo=None,
               reuse: str | Path | None = None,
               ) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """The ``n`` cached pairs of ``teacher`` in ``out/pairs`` (made where missing).

    Args:
        teacher: the teacher :class:`~idff.runs.Run`.
        nfe, solver: the teacher's sampler (``solver=None``: its stored one at ``nfe``).
        seed: the source noise of chunk ``i`` is drawn from ``seed`` and ``i``.
        echo: called with a line of progress per chunk made.
        reuse: another student's folder whose cached pairs (made with the same settings) are
            copied instead of made again, so two methods train on the very same pairs.

    Returns:
        ``(x0, x1, info)``; ``info`` holds ``teacher_nfe`` (calls per pair),
        ``teacher_evals`` (network evaluations per sample, summed over all pairs),
        ``made`` (pairs made now) and ``seconds`` (spent making them).

    Raises:
        UserError: ``out/pairs`` (or ``reuse``'s pairs) hold pairs made with other settings.
    """
    folder = Path(out) / PAIRS_DIR
    shape = source_shape(teacher)
    manifest = {"teacher": str(teacher.path), "n": n, "nfe": nfe, "solver": solver,
                "seed": seed, "chunk": chunk, "shape": list(shape)}
    mpath = folder / "manifest.json"
    if mpath.is_file():
        try:
            old = json.loads(mpath.read_text())
        except ValueError:
            old = None
        if old != manifest:
            raise UserError(f"{folder} holds teacher pairs made with other settings ({old}); "
                            "the student must be distilled with the settings that made them: "
                            "choose another --out, or delete that folder to make new pairs.")
    source = _reuse_folder(reuse, manifest) if reuse is not None else None
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(manifest, mpath, indent=2, sort_keys=True)
    x0s, x1s, per_pair, made, t0 = [], [], None, 0, time.perf_counter()
    for i, start in enumerate(range(0, n, chunk)):
        m = min(chunk, n - start)
        path = _chunk_path(folder, i)
        c = _read_chunk(path, m, shape)
        if c is None and source is not None:
            c = _read_chunk(_chunk_path(source, i), m, shape)
            if c is not None:
                atomic_save(c, path)
        if c is None:
            g = torch.Generator().manual_seed(1_000_003 * seed + i)
            x0 = torch.randn((m, *shape), generator=g)
            res = teacher.sample(m, x0=x0, nfe=nfe, solver=solver, seed=seed + i,
                                 device=device)
            c = {"x0": x0, "x1": res.x.detach().cpu().float(),
                 "nfe": torch.tensor(int(res.nfe))}
            atomic_save(c, path)
            made += m
            if echo is not None:
                echo(f"pairs {start + m}/{n} (teacher NFE {int(res.nfe)} per pair)")
        per_pair = int(c["nfe"]) if per_pair is None else per_pair
        x0s.append(c["x0"])
        x1s.append(c["x1"])
    info = {"teacher_nfe": per_pair, "teacher_evals": int(per_pair) * n, "made": made,
            "seconds": time.perf_counter() - t0}
    return torch.cat(x0s), torch.cat(x1s), info


def _reuse_folder(reuse: str | Path, manifest: dict[str, Any]) -> Path:
    """``reuse``'s pairs folder, checked to hold pairs made with ``manifest``'s settings."""
    source = Path(reuse) / PAIRS_DIR
    try:
        old = json.loads((source / "manifest.json").read_text())
    except (OSError, ValueError):
        raise UserError(f"{reuse} holds no cached teacher pairs ({source}/manifest.json is "
                        "missing or unreadable); pass the --out folder of an earlier 'idff "
                        "distill', or leave --pairs-from out to make the pairs.") from None
    if old != manifest:
        diff = sorted(k for k in manifest if old.get(k) != manifest[k])
        raise UserError(f"the pairs in {source} were made with other settings "
                        f"({', '.join(f'{k}={old.get(k)!r}' for k in diff)}; this student needs "
                        f"{', '.join(f'{k}={manifest[k]!r}' for k in diff)}); distil with the "
                        "same teacher and pair settings, or leave --pairs-from out.")
    return source


class PairStream:
    """Random minibatches ``(x1, x0)`` of the pairs, drawn with torch's global generator
    (which the trainer saves and restores, so a resumed run sees the same batches)."""

    def __init__(self, x0: Tensor, x1: Tensor, batch_size: int):
        self.x0, self.x1, self.batch_size = x0, x1, int(batch_size)

    def __iter__(self):
        n = self.x0.shape[0]
        while True:
            idx = torch.randint(0, n, (self.batch_size,))
            yield self.x1[idx], self.x0[idx]
