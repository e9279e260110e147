"""Image sets on disk: ``idff generate`` (N PNGs from a run, resumable, one seed per image)
and ``idff dump-real`` (a preset's real images as PNGs, the reference side of FID)."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from idff.errors import UserError
from idff.images.kind import load_image_model
from idff.images.sample import check_conditioning, sample_images
from idff.sampling import SamplingConfig

__all__ = ["dump_real_images", "generate_images"]


def _writable_dir(out: str | os.PathLike) -> Path:
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"cannot create output folder {out} ({e}); choose a writable "
                              "--out.") from e
    if not os.access(out, os.W_OK):
        raise PermissionError(f"cannot write to {out}; choose a writable --out.")
    return out


def _save_png_atomic(img_uint8: Tensor, path: Path) -> None:
    from PIL import Image

    from idff.io import atomic_write

    arr = img_uint8.permute(1, 2, 0).numpy()
    im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    atomic_write(path, lambda f: im.save(f, format="PNG"))


def generate_images(
    ckpt: str | os.PathLike,
    n: int,
    out: str | os.PathLike,
    sampling: SamplingConfig | None = None,
    *,
    batch_size: int = 256,
    seed: int = 0,
    label: int | None = None,
    guidance: float = 1.0,
    device: str = "cpu",
    progress: bool = True,
    compile: bool = False,
    **overrides: Any,
) -> int:
    """Write images ``OUT/000000.png`` … for indices ``0 ≤ i < n``; return how many were new.

    Files already present are kept, so rerunning after an interruption finishes the set,
    and every image depends only on ``(seed, i)`` and the sampling settings — not on the
    batch size or on the number of processes. Under ``torchrun`` rank ``r`` of ``W`` writes
    the indices ``i ≡ r (mod W)``. ``sampling`` defaults to the checkpoint's; ``overrides``
    (``nfe=``, ``solver=``, ...) change it. The settings are recorded in
    ``OUT/generate.json``; resuming with different settings is refused. ``compile``:
    ``torch.compile`` the network (:func:`idff.accel.compile_network`).
    """
    from tqdm.auto import tqdm

    from idff.images.generate_plan import check_disk_room, pending
    from idff.images.generate_record import source_record, upgrade_record
    from idff.images.pixels import from_model_range

    if n < 0 or batch_size < 1:
        raise ValueError(f"need n >= 0 and batch_size >= 1, got n={n}, batch_size={batch_size}.")
    out = _writable_dir(out)
    model, cfg = load_image_model(ckpt)
    if compile:
        from idff.accel import compile_network

        model = compile_network(model, device)
    sampling = (sampling or SamplingConfig.from_run(cfg)).replace(**overrides)
    # refused before anything is written: a refused run leaves no record behind
    check_conditioning(cfg, guidance, None if label is None else torch.tensor([label]))
    settings = {**source_record(ckpt), "step": cfg.get("step"),
                **sampling.knobs(), "seed": seed, "label": label, "guidance": guidance}
    record = out / "generate.json"
    foreign = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    if foreign and not record.is_file():  # generate.json is written before any image
        few = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                        else "")
        raise UserError(f"{out} holds files that idff generate did not write ({few}; no "
                        "generate.json), which would be counted as generated images; choose an "
                        "empty or new output folder.",
                        cli=f"--out {out} holds files that idff generate did not write ({few}; "
                            "no generate.json), which would be counted as generated images; "
                            "choose an empty or new --out.")
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    count, todo = pending(out, n, rank, world)  # lazy: a huge n starts at once
    check_disk_room(out, count, cfg)
    if record.is_file():
        old = upgrade_record(json.loads(record.read_text()), ckpt, settings)
        if old != settings:
            changed = sorted(k for k in settings if old.get(k) != settings[k])
            raise ValueError(f"{out} holds images generated with other settings "
                             f"({', '.join(changed)} differ); use a new --out.")
    else:
        from idff.io import atomic_write_json

        atomic_write_json(settings, record, indent=2)
    bar = tqdm(total=count, disable=not progress, desc="generate", dynamic_ncols=True)
    while idx := list(itertools.islice(todo, batch_size)):
        labels = None if label is None else torch.full((len(idx),), label, dtype=torch.long)
        x, _ = sample_images(model, cfg, len(idx), sampling, seed=seed, indices=idx,
                             batch_size=len(idx), labels=labels, guidance=guidance,
                             device=device)
        imgs = from_model_range(x)
        for i, img in zip(idx, imgs):
            _save_png_atomic(img, out / f"{i:06d}.png")
        bar.update(len(idx))
    bar.close()
    return count


def dump_real_images(cfg: dict[str, Any], out: str | os.PathLike, n: int | None = None,
                     train: bool = True, progress: bool = True) -> int:
    """Write a preset's real images (no augmentation) as ``OUT/000000.png`` …; return the count."""
    from tqdm.auto import tqdm

    from idff.images.datasets import build_dataset
    from idff.images.dump_record import claim_dump_folder, dump_settings
    from idff.images.pixels import from_model_range

    out = _writable_dir(out)
    ds = build_dataset(cfg["data"], train=train)  # a missing data set leaves no record
    claim_dump_folder(out, dump_settings(cfg, train))
    total = len(ds) if n is None else min(n, len(ds))
    for i in tqdm(range(total), disable=not progress, desc="dump-real", dynamic_ncols=True):
        path = out / f"{i:06d}.png"
        if not path.is_file():
            _save_png_atomic(from_model_range(ds[i][0]), path)
    return total


