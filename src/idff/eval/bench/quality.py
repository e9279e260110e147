"""How samples are scored against a validation and an evaluation reference: :class:`Quality`,
MMD/W2 for 2D toys (:class:`ToyQuality`) and a Fréchet distance in a feature network for
images (:class:`ImageQuality`, with the Fashion-MNIST references of
:func:`fashion_mnist_quality`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from idff.eval.fid import (
    FeatureExtractor,
    FeatureStats,
    frechet_distance,
    iter_tensor_batches,
)
from idff.io import atomic_write

__all__ = ["Quality", "ToyQuality", "ImageQuality", "fashion_mnist_quality"]


class Quality:
    """Scores samples against a ``"val"`` or ``"eval"`` reference; lower is better.

    Subclasses set ``name`` (the primary metric), ``protocol`` (text reported beside every
    number) and implement :meth:`score` returning ``{metric: value}`` with ``name`` in it.
    """

    name: str = ""
    protocol: str = ""

    def score(self, samples: Tensor, split: str) -> dict[str, float]:
        raise NotImplementedError

    def floor(self) -> dict[str, float]:
        """The metric between the two references (what a perfect sampler would get)."""
        return {}


class ToyQuality(Quality):
    """MMD (primary), exact W2, a small-bandwidth MMD (``mmd_fine``, kernel variances 0.001
    and 0.01: sensitive to blur across the checkerboard's gaps) and, for checkerboard and
    8 Gaussians, the share of samples on the support (``in_support``) against fresh draws.

    The validation and evaluation references are independent draws with disjoint seeds.
    """

    name = "mmd"

    def __init__(self, dataset: str, n: int = 2000, seed: int = 0):
        from idff.toy.data import sample_toy

        self.dataset = dataset
        self.refs = {
            "val": sample_toy(dataset, n, torch.Generator().manual_seed(30_000 + seed)),
            "eval": sample_toy(dataset, n, torch.Generator().manual_seed(10_000 + seed)),
        }
        self.protocol = (f"{dataset}: MMD² (RBF mixture) and exact W2 vs {n} fresh points; "
                         f"validation reference seed {30_000 + seed}, evaluation {10_000 + seed}")

    def score(self, samples: Tensor, split: str) -> dict[str, float]:
        from idff.metrics import mmd, wasserstein
        from idff.toy.data import support_fraction

        ref = self.refs[split]
        out = {"mmd": mmd(samples, ref), "w2": wasserstein(samples, ref, 2),
               "mmd_fine": mmd(samples, ref, bandwidths=(0.001, 0.01))}
        if self.dataset in ("checkerboard", "8gaussians"):
            out["in_support"] = support_fraction(self.dataset, samples)
        return out

    def floor(self) -> dict[str, float]:
        return self.score(self.refs["val"], "eval")


class ImageQuality(Quality):
    """Fréchet distance in a feature network against cached reference statistics.

    On the evaluation reference it also reports a 95 % bootstrap interval of the distance
    (``<name>_lo``, ``<name>_hi``, over resamples of the generated set) and, when reference
    features are given, k-NN ``precision`` and ``recall`` against as many reference
    images as there are samples (:mod:`idff.eval.distribution`).

    Args:
        extractor: the feature network (its ``name`` is the metric: ``"FID"`` or
            ``"FD-FMNIST-CNN"``).
        refs: ``{"val": FeatureStats, "eval": FeatureStats}``.
        value_range: range of the sampler's images, mapped linearly to ``[0, 1]``.
        protocol: how the references were made (split, count).
        eval_features: optional ``(N, D)`` features of the evaluation reference images.
        n_boot: bootstrap resamples for the interval (0: none).
    """

    def __init__(self, extractor: FeatureExtractor, refs: dict[str, FeatureStats],
                 value_range: tuple[float, float] = (-1.0, 1.0), protocol: str = "",
                 eval_features: np.ndarray | None = None, n_boot: int = 200):
        if set(refs) != {"val", "eval"}:
            raise ValueError("ImageQuality needs reference statistics for 'val' and 'eval'.")
        self.extractor, self.refs, self.value_range = extractor, refs, value_range
        self.eval_features, self.n_boot = eval_features, int(n_boot)
        self.name = extractor.name
        extra = (f"; 95 % bootstrap interval over {n_boot} resamples of the samples"
                 if n_boot else "")
        if eval_features is not None:
            extra += "; k-NN (k = 3) precision/recall vs as many evaluation images as samples"
        self.protocol = f"{extractor.name}: {extractor.protocol}; {protocol}{extra}".strip("; ")

    def to_unit(self, x: Tensor) -> Tensor:
        lo, hi = self.value_range
        return ((x.float() - lo) / (hi - lo)).clamp(0, 1)

    def features(self, samples: Tensor) -> np.ndarray:
        return torch.cat([self.extractor(b) for b in iter_tensor_batches(self.to_unit(samples))]
                         ).double().numpy()

    def score(self, samples: Tensor, split: str) -> dict[str, float]:
        from idff.eval.distribution import frechet_bootstrap, knn_precision_recall

        feats = self.features(samples)
        ref = self.refs[split]
        if split != "eval" or not self.n_boot:
            return {self.name: frechet_distance(feats.mean(0), np.cov(feats, rowvar=False),
                                                ref.mu, ref.sigma)}
        value, lo, hi = frechet_bootstrap(feats, ref.mu, ref.sigma, self.n_boot)
        out = {self.name: value, f"{self.name}_lo": lo, f"{self.name}_hi": hi}
        if self.eval_features is not None:
            n = min(len(feats), len(self.eval_features))
            out.update(knn_precision_recall(self.eval_features[:n], feats[:n]))
        return out

    def floor(self) -> dict[str, float]:
        a, b = self.refs["val"], self.refs["eval"]
        return {self.name: frechet_distance(a.mu, a.sigma, b.mu, b.sigma)}



def fashion_mnist_quality(
    extractor: FeatureExtractor,
    root: str | Path | None = None,
    n_val: int = 10_000,
    n_eval: int = 10_000,
    cache_dir: str | Path | None = "cache/eval/stats",
    seed: int = 0,
) -> ImageQuality:
    """Fashion-MNIST references: validation = ``n_val`` training images (a fixed random
    subset), evaluation = the first ``n_eval`` test images. Statistics cached as ``.npz``."""
    from idff.eval.fid import load_stats
    from idff.images.fashion_mnist import load_fashion_mnist

    refs, eval_features = {}, None
    for split, data_split, n in (("val", "train", n_val), ("eval", "test", n_eval)):
        key = f"fmnist-{data_split}-{n}-s{seed}-{extractor.name}-{extractor.ident[:16]}.npz"
        path = Path(cache_dir) / key if cache_dir is not None else None
        feat_path = None if path is None else path.with_suffix(".features.npy")
        if path is not None and path.is_file() and (split == "val" or feat_path.is_file()):
            refs[split] = load_stats(path)
            if split == "eval":
                eval_features = np.load(feat_path)
            continue
        images, _ = load_fashion_mnist(data_split, root)
        if n > len(images):
            raise ValueError(f"asked for {n} {data_split} images, the split has {len(images)}.")
        if data_split == "train":
            idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
            images = images[idx.numpy()]
        else:
            images = images[:n]
        x = torch.from_numpy(np.ascontiguousarray(images))[:, None].float() / 255.0
        feats = torch.cat([extractor(b) for b in iter_tensor_batches(x)]).double().numpy()
        refs[split] = FeatureStats(feats.mean(0), np.cov(feats, rowvar=False), len(feats),
                                   {"split": data_split, "n": n})
        if split == "eval":
            eval_features = feats.astype(np.float32)
        if path is not None:
            refs[split].save(path)
            if split == "eval":
                atomic_write(feat_path, lambda f, a=eval_features: np.save(f, a))
    protocol = (f"validation reference {n_val} Fashion-MNIST train images (seed {seed}), "
                f"evaluation reference {n_eval} test images")
    return ImageQuality(extractor, refs, (-1.0, 1.0), protocol, eval_features)
