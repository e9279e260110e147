"""The training stream of image runs: :class:`ImageBatches` (whole epochs of batches, kept on
the device when the set fits, resumable mid-epoch) and :func:`build_image_data` (a preset's
data section to that stream, sharded over DDP ranks)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from idff.errors import DataError
from idff.images.datasets import NumpyImages, build_dataset
from idff.images.pixels import to_model_range

__all__ = ["ImageBatches", "build_image_data"]


class ImageBatches:
    """Iterable of ``(x1, cond)`` batches over an image dataset, for the trainer.

    ``cond`` is the label batch when ``class_cond`` is set, else ``None``. With DDP it draws
    this rank's shard (``DistributedSampler``) and reshuffles each epoch. Its position
    (epoch, batch) is part of the trainer's resume state, so a resumed run sees the same
    batches as an uninterrupted one.

    Batches come out on ``device``. A :class:`NumpyImages` set is indexed a batch at a time
    (its ``uint8`` images are copied to the device once when they take less than a quarter
    of its free memory); other sets are read by ``num_workers`` ``DataLoader`` workers (0:
    in this process) into pinned memory when the device is a GPU. With ``hflip`` each
    image is mirrored with probability 1/2, decided per epoch from ``seed`` (so the flips
    too are the same after a resume).
    """

    def __init__(self, dataset: Dataset, batch_size: int, class_cond: bool = False,
                 num_workers: int = 0, seed: int = 0, rank: int = 0, world_size: int = 1,
                 hflip: bool = False, device: str | torch.device = "cpu"):
        from torch.utils.data.distributed import DistributedSampler

        if len(dataset) < batch_size * world_size:
            raise DataError(
                f"the dataset has {len(dataset)} images, fewer than one global batch "
                f"({batch_size} × {world_size} processes); lower the batch size."
            )
        self.dataset, self.batch_size = dataset, batch_size
        self.sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank,
                                          shuffle=True, seed=seed, drop_last=True)
        self.class_cond, self.num_workers, self.seed = class_cond, num_workers, seed
        self.rank, self.hflip, self.device = rank, hflip, torch.device(device)
        self.epoch, self.pos = 0, 0
        self._held: tuple[Tensor, Tensor] | None = None

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])

    def _epoch_plan(self) -> tuple[Tensor, Tensor | None]:
        """This epoch's sample order (this rank's shard) and flip decisions."""
        self.sampler.set_epoch(self.epoch)
        order = torch.tensor(list(self.sampler), dtype=torch.long)
        if not self.hflip:
            return order, None
        g = torch.Generator().manual_seed(
            (self.seed * 1_000_003 + self.epoch * 1009 + self.rank) % 2**63)
        return order, torch.rand(len(order), generator=g) < 0.5

    def _in_memory(self) -> tuple[Tensor, Tensor]:
        """The images and labels of a :class:`NumpyImages` set, where they are indexed."""
        if self._held is None:
            images, labels = self.dataset.images, self.dataset.labels  # type: ignore[attr-defined]
            if self.device.type == "cuda":
                free, _ = torch.cuda.mem_get_info(self.device)
                where = self.device if images.nbytes < free // 4 else torch.device("cpu")
                images, labels = images.to(where), labels.to(where)
            self._held = (images, labels)
        return self._held

    def _batches(self, order: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """uint8 or float image batches and labels, from ``order`` (whole batches only)."""
        bs = self.batch_size
        if isinstance(self.dataset, NumpyImages) and self.dataset.transform is None:
            images, labels = self._in_memory()
            order = order.to(images.device)
            for lo in range(0, len(order) - bs + 1, bs):
                idx = order[lo : lo + bs]
                yield images[idx], labels[idx]
            return
        # a private generator: creating the loader must not draw from the global RNG, whose
        # state is part of the resume state
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        yield from DataLoader(self.dataset, batch_size=bs, sampler=order.tolist(),
                              drop_last=True, num_workers=self.num_workers, generator=gen,
                              pin_memory=self.device.type == "cuda")

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor | None]]:
        if self.pos >= len(self):
            self.epoch, self.pos = self.epoch + 1, 0
        order, flips = self._epoch_plan()
        start = self.pos * self.batch_size
        order = order[start : len(self) * self.batch_size]
        if flips is not None:
            flips = flips[start : len(self) * self.batch_size].to(self.device)
        for k, (x, y) in enumerate(self._batches(order)):
            x = x.to(self.device, non_blocking=True)
            if x.dtype == torch.uint8:
                x = to_model_range(x)
            if flips is not None:
                f = flips[k * self.batch_size : (k + 1) * self.batch_size]
                x = torch.where(f[:, None, None, None], x.flip(-1), x)
            self.pos += 1
            yield x, (y.to(self.device, non_blocking=True) if self.class_cond else None)
        self.epoch, self.pos = self.epoch + 1, 0


def build_image_data(cfg: dict[str, Any], batch_size: int, rank: int = 0, world_size: int = 1,
                     seed: int = 0, train: bool = True,
                     device: str | torch.device = "cpu") -> ImageBatches:
    """Dataset + augmentation + sharded loader from a preset's data config.

    Checks that the images have the ``channels`` and ``image_size`` the config promises.
    ``data.num_workers`` (folder and LMDB sets) defaults to 0 on the CPU and to up to 8
    workers when ``device`` is a GPU.
    """
    ds = build_dataset(cfg, train=train)
    x, _ = ds[0]
    want = (int(cfg.get("channels", x.shape[0])), int(cfg.get("image_size", x.shape[-1])))
    if x.shape[0] != want[0] or x.shape[-1] != want[1] or x.shape[-2] != want[1]:
        raise DataError(
            f"dataset {cfg.get('dataset')!r} gives images {tuple(x.shape)}, but the config "
            f"expects ({want[0]}, {want[1]}, {want[1]}); fix channels / image_size."
        )
    device = torch.device(device)
    workers = cfg.get("num_workers")
    if workers is None:
        workers = min(8, os.cpu_count() or 1) if device.type == "cuda" else 0
    return ImageBatches(ds, batch_size, class_cond=bool(cfg.get("class_cond", False)),
                        num_workers=int(workers), seed=seed, rank=rank, world_size=world_size,
                        hflip=bool(cfg.get("hflip", False)), device=device)
