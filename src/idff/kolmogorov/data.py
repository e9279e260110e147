"""Kolmogorov-flow forecasting data: simulated trajectories of coarse-grained vorticity.

Each trajectory starts from a random band-limited vorticity, is integrated on the fine grid
(:class:`~idff.kolmogorov.solver.KolmogorovFlow`) for a warm-up, then recorded every
``frame_dt`` time units as the ``factor × factor`` block average of the vorticity; the
coarse state does not fix the fine scales, so its future is uncertain (docs/METHOD.md,
"Kolmogorov flow").

Data are written once to ``root/<size>/``: one float32 ``<split>.npy`` of shape
``(trajectories, frames, H, W)`` per split, and ``manifest.json`` (parameters, seed, sha256
of every file, generation time). Splits are generated in chunks of trajectories whose seeds
depend only on ``(seed, split, chunk)``, each chunk saved atomically, so an interrupted run
resumes where it stopped and gives the same arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from idff.errors import ConfigError, DataError
from idff.io import atomic_write, atomic_write_json
from idff.kolmogorov.solver import (
    KolmogorovFlow,
    KolmogorovParams,
    block_average,
    random_vorticity,
    upsample_consistent,
)
from idff.timeseries.gridded import make_cond_channels

__all__ = ["KolmogorovDataSpec", "SIZES", "default_root", "generate", "load_split",
           "load_manifest", "KolmogorovWindows"]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class KolmogorovDataSpec:
    """What a data set is; its fields go to the manifest.

    Attributes:
        n: fine grid points per side; ``factor``: block size of the coarse target.
        train, val, test: trajectories per split; ``frames``: frames per trajectory.
        frame_dt: time between frames; ``warmup``: time simulated before the first frame.
        dt: solver step (``None``: the solver default for ``n``).
        chunk: trajectories simulated together (and saved as one resumable part).
        seed: seed of the initial conditions.
    """

    n: int = 64
    factor: int = 2
    train: int = 256
    val: int = 32
    test: int = 64
    frames: int = 200
    frame_dt: float = 0.2
    warmup: float = 10.0
    dt: float | None = None
    chunk: int = 64
    seed: int = 0

    @property
    def coarse(self) -> int:
        return self.n // self.factor

    def params(self) -> KolmogorovParams:
        return KolmogorovParams(n=self.n, dt=self.dt)


#: named sizes: ``tiny`` for tests, ``cpu`` the benchmark, ``gpu`` the 256² → 64² set
SIZES: dict[str, KolmogorovDataSpec] = {
    "tiny": KolmogorovDataSpec(n=32, factor=2, train=4, val=2, test=2, frames=24, warmup=1.0,
                               dt=0.02, chunk=4),
    "cpu": KolmogorovDataSpec(),
    "gpu": KolmogorovDataSpec(n=256, factor=4, train=1024, val=128, test=256, chunk=128),
}


def default_root() -> Path:
    """``$IDFF_DATA/kolmogorov`` or ``~/.cache/idff/kolmogorov`` (never inside the repo)."""
    base = os.environ.get("IDFF_DATA")
    return Path(base) / "kolmogorov" if base else Path.home() / ".cache" / "idff" / "kolmogorov"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _save_npy(arr: np.ndarray, path: Path) -> None:
    atomic_write(path, lambda f: np.save(f, arr))


def _simulate_chunk(spec: KolmogorovDataSpec, split: str, chunk: int, count: int,
                    dtype: torch.dtype, device: str | torch.device = "cpu",
                    ) -> tuple[np.ndarray, float]:
    """``count`` trajectories ``(count, frames, H, W)`` and the mean squared fine-scale
    residual (fine field minus the consistent upsampling of its coarse state)."""
    seed = spec.seed * 1000 + SPLITS.index(split) * 100 + chunk
    g = torch.Generator().manual_seed(seed)
    flow = KolmogorovFlow(spec.params(), dtype=dtype, device=device)
    w = flow.to_spectral(random_vorticity(count, spec.n, generator=g, dtype=dtype).to(device))
    w = flow.advance(w, spec.warmup)
    out = np.empty((count, spec.frames, spec.coarse, spec.coarse), dtype=np.float32)
    resid = 0.0
    for k in range(spec.frames):
        if k:
            w = flow.advance(w, spec.frame_dt)
        fine = flow.to_grid(w)
        coarse = block_average(fine, spec.factor)
        out[:, k] = coarse.float().cpu().numpy()
        resid += float((fine - upsample_consistent(coarse, spec.factor)).pow(2).mean())
    return out, resid / spec.frames


def generate(spec: KolmogorovDataSpec, root: str | Path, size: str = "custom",
             dtype: torch.dtype = torch.float32, echo=print,
             device: str | torch.device = "cpu") -> Path:
    """Simulate (or finish simulating) the data set ``spec`` into ``root/size``.

    Returns:
        The folder holding ``train.npy``, ``val.npy``, ``test.npy`` and ``manifest.json``.

    Raises:
        ConfigError: the folder holds a data set with other parameters.
    """
    folder = Path(root) / size
    folder.mkdir(parents=True, exist_ok=True)
    want = {**asdict(spec), "dt": spec.params().step_size(), "dtype": str(dtype)}
    plan = folder / "plan.json"
    if plan.is_file() and json.loads(plan.read_text()) != want:
        raise ConfigError(f"{folder} holds a Kolmogorov data set with other parameters; pass "
                          "another --data-root or --size, or delete that folder.")
    atomic_write_json(want, plan, indent=2)
    manifest_path = folder / "manifest.json"
    if manifest_path.is_file():
        return folder
    physics = KolmogorovParams(n=spec.n, dt=spec.dt).as_dict()
    for split in SPLITS:
        final = folder / f"{split}.npy"
        if final.is_file():
            continue
        total, parts = getattr(spec, split), []
        for c, start in enumerate(range(0, total, spec.chunk)):
            count = min(spec.chunk, total - start)
            part = folder / f"{split}.part{c:03d}.npy"
            meta = folder / f"{split}.part{c:03d}.json"
            if not (part.is_file() and meta.is_file()):
                echo(f"simulating {split} trajectories {start}..{start + count - 1}")
                t0 = time.perf_counter()
                arr, r = _simulate_chunk(spec, split, c, count, dtype, device)
                _save_npy(arr, part)
                atomic_write_json({"residual_ms": r, "seconds": time.perf_counter() - t0}, meta)
            parts.append(part)
        _save_npy(np.concatenate([np.load(p) for p in parts]), final)
        for p in parts:
            p.unlink()
    metas = {s: [json.loads(m.read_text()) for m in sorted(folder.glob(f"{s}.part*.json"))]
             for s in SPLITS}
    train = np.load(folder / "train.npy", mmap_mode="r")
    resid = [m["residual_ms"] for m in metas["train"]]
    manifest = {
        "spec": asdict(spec), "size": size, "physics": physics, "dtype": "float32",
        "simulated_dtype": str(dtype),
        "shape": {s: list(np.load(folder / f"{s}.npy", mmap_mode="r").shape) for s in SPLITS},
        "sha256": {f"{s}.npy": _sha256(folder / f"{s}.npy") for s in SPLITS},
        "stats": {"mean": float(train.mean()), "std": float(train.std())},
        # rms of the fine field minus the consistent upsampling of its coarse state (train)
        "fine_residual_sd": float(np.sqrt(np.mean(resid))) if resid else None,
        "simulation_seconds": {s: sum(m["seconds"] for m in metas[s]) for s in SPLITS},
    }
    atomic_write_json(manifest, manifest_path, indent=2)
    for m in folder.glob("*.part*.json"):
        m.unlink()
    return folder


def load_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a generated data set.

    Raises:
        DataError: no data set there.
    """
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise DataError(f"no Kolmogorov data set in {folder}; generate it first with "
                        "`idff kolmogorov-data --size SIZE` (same --data-root).")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, RecursionError):  # a truncated or damaged file
        manifest = None
    if not (isinstance(manifest, dict) and isinstance(manifest.get("sha256"), dict)
            and isinstance(manifest.get("stats"), dict)):
        raise DataError(f"{path} is damaged (truncated or edited); delete it and rerun "
                        f"`idff kolmogorov-data --size {Path(folder).name}` (same --data-root), "
                        "which rebuilds it from the split files.")
    return manifest


def load_split(folder: str | Path, split: str, verify: bool = True) -> np.ndarray:
    """A split ``(trajectories, frames, H, W)`` (float32), checked by its manifest's sha256
    (a truncated or changed file would otherwise train or score silently, or fail in numpy).

    Raises:
        DataError: missing data or a checksum mismatch, naming the files to delete.
    """
    manifest = load_manifest(folder)
    path = Path(folder) / f"{split}.npy"
    if not path.is_file():
        raise DataError(f"{path} is missing; delete {path.parent / 'manifest.json'} and rerun "
                        f"`idff kolmogorov-data --size {path.parent.name}` to simulate it again.")
    if verify and _sha256(path) != manifest["sha256"].get(f"{split}.npy"):
        raise DataError(f"{path} does not match the sha256 in its manifest (truncated or "
                        f"changed); delete {path} and {path.parent / 'manifest.json'} and rerun "
                        f"`idff kolmogorov-data --size {path.parent.name}` (same --data-root) to "
                        "simulate that split again.")
    return np.load(path)


class KolmogorovWindows:
    """Training pairs for one-step forecasting of normalised frames (the batches of
    :class:`~idff.sst.data.SSTWindows`, over trajectories instead of patches).

    A sample is a trajectory, a start ``k0`` and a lead ``ℓ ∈ [1, horizon]``; with
    ``k = k0 + ℓ``: ``x0`` = frame ``k−1``, ``x1`` = frame ``k`` and
    ``cond = [frames k−1, …, k−context; frame k0; ℓ/horizon]``.
    """

    def __init__(self, data: np.ndarray, horizon: int, context: int = 1, batch_size: int = 32,
                 seed: int = 0):
        if horizon < 1 or context < 1:
            raise ConfigError(f"horizon and context must be >= 1 (got {horizon}, {context}).")
        if data.ndim != 4 or data.shape[1] < context + horizon:
            raise ConfigError(f"need data (trajectories, frames >= {context + horizon}, H, W); "
                              f"got {data.shape}. Generate longer trajectories.")
        self.make_cond = make_cond_channels
        self.data = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
        self.horizon, self.context, self.batch_size = horizon, context, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x0, x1, cond)`` for ``n`` random items."""
        trajs, frames = self.data.shape[:2]
        g = self.generator
        p = torch.randint(0, trajs, (n,), generator=g)
        lead = torch.randint(1, self.horizon + 1, (n,), generator=g)
        # target k in [context - 1 + lead, frames)
        lo = self.context - 1 + lead
        k = lo + (torch.rand(n, generator=g) * (frames - lo)).long()
        x1 = self.data[p, k][:, None]
        x0 = self.data[p, k - 1][:, None]
        prev = [self.data[p, k - 1 - c][:, None] for c in range(self.context)]
        return x0, x1, self.make_cond(prev, self.data[p, k - lead][:, None], lead, self.horizon)

    def __iter__(self):
        while True:
            x0, x1, cond = self.sample(self.batch_size)
            yield x1, {"x0": x0, "cond": cond}
