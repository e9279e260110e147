"""A small Fashion-MNIST CNN whose penultimate features define a Fréchet distance.

The standard Inception weights are not always at hand (and cost ~0.6 s per image on a
CPU); a classifier trained once on Fashion-MNIST gives features that are cheap and
sensitive to the data. The distance in its features is *not* FID and is never called so:
it is reported as ``FD-FMNIST-CNN`` together with the checkpoint's SHA-256.

Images enter the network as ``(B, 1, 28, 28)`` floats in ``[0, 1]``.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "FEATURE_NAME",
    "DEFAULT_CLASSIFIER",
    "FashionCNN",
    "ClassifierTrainConfig",
    "train_classifier",
    "accuracy",
    "sha256_file",
    "save_classifier",
    "load_classifier",
]

#: the name under which distances in this network's features are reported.
FEATURE_NAME = "FD-FMNIST-CNN"

#: where ``idff train-classifier`` writes the weights (kept out of git).
DEFAULT_CLASSIFIER = Path("cache/eval/fmnist_cnn.pt")

_MEAN, _STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel statistics


class FashionCNN(nn.Module):
    """Two conv blocks and a hidden layer: ``(B, 1, 28, 28) -> (B, 10)`` logits.

    :meth:`features` returns the ``feature_dim``-wide penultimate activations used for
    the Fréchet distance.
    """

    def __init__(self, width: int = 32, feature_dim: int = 128, dropout: float = 0.3):
        super().__init__()
        self.width, self.feature_dim = width, feature_dim
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.fc = nn.Linear(2 * width * 7 * 7, feature_dim)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(feature_dim, 10)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(
                f"the Fashion-MNIST classifier expects images of shape (B, 1, 28, 28) in [0, 1], "
                f"got {tuple(x.shape)}."
            )

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations ``(B, feature_dim)`` of images ``(B, 1, 28, 28)`` in [0, 1]."""
        self._check(x)
        h = (x - _MEAN) / _STD
        h = F.max_pool2d(F.relu(self.conv1(h)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return F.relu(self.fc(h.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.drop(self.features(x)))


@dataclass
class ClassifierTrainConfig:
    """Optimisation of the classifier (Adam, cosine decay, random horizontal flips)."""

    epochs: int = 4
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    width: int = 32
    feature_dim: int = 128
    seed: int = 0
    max_minutes: float = 10.0


def _to_float(images: np.ndarray | Tensor) -> Tensor:
    x = torch.as_tensor(np.asarray(images))
    if x.dim() == 3:
        x = x[:, None]
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


@torch.no_grad()
def accuracy(model: FashionCNN, images: np.ndarray | Tensor, labels: np.ndarray | Tensor,
             batch_size: int = 1000) -> float:
    """Top-1 accuracy on uint8 ``(N, 28, 28)`` or float ``(N, 1, 28, 28)`` images."""
    model.eval()
    x, y = _to_float(images), torch.as_tensor(np.asarray(labels))
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        correct += (model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
    return correct / x.shape[0]


def train_classifier(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    config: ClassifierTrainConfig,
    progress: bool = True,
) -> tuple[FashionCNN, dict[str, Any]]:
    """Train :class:`FashionCNN` on uint8 images ``(N, 28, 28)``.

    Training stops after the epoch in which the process's CPU time passes ``max_minutes``
    (CPU time, so that a busy shared machine does not cut the schedule short).

    Returns:
        The model (eval mode) and a log dict (epochs run, final train loss, wall and CPU
        seconds).
    """
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    x, y = _to_float(train_images), torch.as_tensor(np.asarray(train_labels))
    model = FashionCNN(config.width, config.feature_dim)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = (x.shape[0] + config.batch_size - 1) // config.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.15
    )
    g = torch.Generator().manual_seed(config.seed)
    start, cpu0, epochs_run, loss = time.perf_counter(), time.process_time(), 0, float("nan")
    for epoch in range(config.epochs):
        model.train()
        perm = torch.randperm(x.shape[0], generator=g)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}",
                   disable=not progress)
        for b in bar:
            idx = perm[b * config.batch_size:(b + 1) * config.batch_size]
            xb = x[idx]
            flip = torch.rand(xb.shape[0], generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            loss_t = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss_t.backward()
            opt.step()
            sched.step()
            loss = loss_t.item()
            if b % 50 == 0:
                bar.set_postfix(loss=f"{loss:.3f}")
        epochs_run += 1
        if (time.process_time() - cpu0) / 60 > config.max_minutes:
            break
    model.eval()
    return model, {"epochs_run": epochs_run, "final_loss": loss,
                   "seconds": time.perf_counter() - start,
                   "cpu_seconds": time.process_time() - cpu0}


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_classifier(model: FashionCNN, path: str | os.PathLike, meta: dict[str, Any]) -> str:
    """Write the weights (``state_dict`` + JSON-able ``meta``) atomically; return the SHA-256.

    A ``<path>.json`` sidecar records the hash and ``meta`` (accuracy, training settings).
    """
    from idff.io import atomic_save, atomic_write_json

    path = Path(path)
    arch = {"width": model.width, "feature_dim": model.feature_dim}
    atomic_save({"model": model.state_dict(), "arch": arch}, path)
    digest = sha256_file(path)
    record = {"sha256": digest, "feature_name": FEATURE_NAME, "arch": arch, **meta}
    atomic_write_json(record, path.with_suffix(".json"), indent=2, sort_keys=True)
    return digest


def load_classifier(
    path: str | os.PathLike = DEFAULT_CLASSIFIER, expected_sha256: str | None = None
) -> tuple[FashionCNN, str]:
    """Load the classifier and return it (eval mode) with its SHA-256.

    Raises:
        FileNotFoundError: no file; it says which command trains one.
        ValueError: the hash differs from ``expected_sha256`` (another checkpoint).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no Fashion-MNIST classifier at {path}; train it once with "
            f"`idff train-classifier --out {path}` (about 10 minutes on 2 CPU cores) or pass "
            "--classifier PATH."
        )
    digest = sha256_file(path)
    if expected_sha256 and digest != expected_sha256.lower():
        raise ValueError(
            f"classifier {path} has SHA-256 {digest[:16]}…, expected {expected_sha256[:16]}…; "
            "distances in its features are not comparable to the reported ones. Use the "
            "checkpoint the results were made with, or drop the expected hash."
        )
    from idff.errors import UserError, load_error_reason

    not_ours = (f"{path} is not a classifier written by `idff train-classifier`; train one "
                f"with `idff train-classifier --out {path}` or pass another --classifier.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickled code, truncated or foreign files
        raise UserError(f"{not_ours} ({load_error_reason(e)})") from e
    if not isinstance(state, dict) or "model" not in state or "arch" not in state:
        raise UserError(not_ours)
    try:
        model = FashionCNN(**state["arch"])
        model.load_state_dict(state["model"])
    except (TypeError, RuntimeError) as e:
        raise UserError(f"{not_ours} ({type(e).__name__}: {str(e)[:120]})") from e
    return model.eval(), digest


def train_config_dict(config: ClassifierTrainConfig) -> dict[str, Any]:
    """The JSON-able training settings (stored beside the weights)."""
    return asdict(config)
