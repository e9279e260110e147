"""Fréchet distances between image sets: FID (pytorch-fid's Inception) and any feature net.

For features ``f`` of two image sets with means ``μ₁, μ₂`` and covariances ``Σ₁, Σ₂``,

    FD = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2})

computed in float64 (covariances with the ``N − 1`` normaliser, as ``numpy.cov``). It is
*FID* only with the pool3 features of the TF-Inception network
``pt_inception-2015-12-05-6726825d.pth`` that the ``pytorch-fid`` package (Seitzer)
ports; here that package builds the network (``use_fid_inception=True``, bilinear resize to
299×299, inputs in ``[0, 1]``, grey images repeated to RGB as PIL's ``convert("RGB")``
does). Statistics are stored as ``.npz`` with pytorch-fid's keys ``mu`` and ``sigma``.

Images enter extractors as float tensors ``(B, C, H, W)`` in ``[0, 1]``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "INCEPTION_FILE",
    "INCEPTION_ENV",
    "IMAGE_EXTENSIONS",
    "FeatureExtractor",
    "FeatureStats",
    "frechet_distance",
    "find_inception_weights",
    "inception_extractor",
    "classifier_extractor",
    "list_images",
    "iter_image_batches",
    "iter_tensor_batches",
    "feature_stats",
    "folder_stats",
    "load_stats",
]

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_ENV = "IDFF_INCEPTION_WEIGHTS"
IMAGE_EXTENSIONS = ("bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp")


@dataclass
class FeatureExtractor:
    """A feature network with the protocol facts reported beside every distance.

    Attributes:
        fn: ``images (B, C, H, W) in [0, 1] -> features (B, D)``.
        name: the metric's name (``"FID"`` only for the standard Inception features).
        image_mode: PIL mode images are read in (``"RGB"`` or ``"L"``).
        protocol: how features are computed (package, weights, resizing), as text.
        ident: identifies the weights (e.g. a SHA-256), part of the stats cache key.
    """

    fn: Callable[[Tensor], Tensor]
    name: str
    image_mode: str = "RGB"
    protocol: str = ""
    ident: str = ""

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        return self.fn(images)


@dataclass
class FeatureStats:
    """Mean ``(D,)`` and covariance ``(D, D)`` (float64) of ``n`` feature vectors."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``.npz`` with pytorch-fid's keys ``mu``/``sigma`` plus ``n`` and ``meta``."""
        from idff.io import atomic_write

        atomic_write(path, lambda f: np.savez(f, mu=self.mu, sigma=self.sigma, n=self.n,
                                              meta=json.dumps(self.meta)))


def load_stats(path: str | os.PathLike) -> FeatureStats:
    """Read statistics saved by :meth:`FeatureStats.save` or by pytorch-fid (``mu``, ``sigma``)."""
    path = Path(path)
    try:
        with np.load(path) as f:
            mu, sigma = f["mu"].astype(np.float64), f["sigma"].astype(np.float64)
            n = int(f["n"]) if "n" in f else -1
            meta = json.loads(str(f["meta"])) if "meta" in f else {}
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(
            f"cannot read statistics from {path} ({e}); a stats file is an .npz with arrays "
            "'mu' (D,) and 'sigma' (D, D), as written by `idff fid --save-stats` or pytorch-fid."
        ) from e
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{path}: mu {mu.shape} and sigma {sigma.shape} do not match.")
    return FeatureStats(mu, sigma, n, meta)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """Fréchet distance between ``N(μ₁, Σ₁)`` and ``N(μ₂, Σ₂)`` in float64.

    ``Tr((Σ₁Σ₂)^{1/2})`` is evaluated as the sum of square roots of the eigenvalues of the
    symmetric PSD matrix ``Σ₁^{1/2} Σ₂ Σ₁^{1/2}``, which stays real where a general
    matrix square root picks up imaginary round-off.

    Args:
        mu1, mu2: means ``(D,)``; sigma1, sigma2: covariances ``(D, D)``.
    """
    mu1, mu2 = (np.atleast_1d(np.asarray(m, np.float64)) for m in (mu1, mu2))
    s1, s2 = (np.atleast_2d(np.asarray(s, np.float64)) for s in (sigma1, sigma2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.shape[0],) * 2:
        raise ValueError(
            f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs "
            f"{s2.shape}; both sets must use the same feature network."
        )
    r1 = _sqrt_psd(s1)
    eig = np.linalg.eigvalsh(r1 @ s2 @ r1)
    tr_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


# ---------------------------------------------------------------------------- extractors


def find_inception_weights(path: str | os.PathLike | None = None) -> Path | None:
    """Local Inception weights: ``path``, ``$IDFF_INCEPTION_WEIGHTS``, or torch's hub cache."""
    if path:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"Inception weights {p} do not exist (given by --inception).")
        return p
    env = os.environ.get(INCEPTION_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise FileNotFoundError(f"${INCEPTION_ENV}={env} does not point to a file.")
        return p
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    return cached if cached.is_file() else None


def _missing_weights_message(err: Exception) -> str:
    hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    return (
        f"FID needs the Inception weights {INCEPTION_FILE}, which are not on this machine and "
        f"could not be downloaded ({type(err).__name__}: {err}). Copy the file from a machine "
        f"with internet (https://github.com/mseitzer/pytorch-fid/releases/download/"
        f"fid_weights/{INCEPTION_FILE}) to {hub}, or anywhere and pass --inception PATH or "
        f"set {INCEPTION_ENV}=PATH. Without them, use --features classifier (a Fréchet "
        "distance in Fashion-MNIST classifier features, not FID)."
    )


#: leading hex digits of the SHA-256 of pytorch-fid's weights (torch hub's check_hash rule).
INCEPTION_SHA256_PREFIX = "6726825d"
INCEPTION_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                 + INCEPTION_FILE)


def load_inception_state(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read Inception weights as a plain ``state_dict`` (``weights_only=True``: no code runs).

    Raises:
        ValueError (:class:`~idff.errors.UserError`): the file is not a readable state dict.
    """
    from idff.errors import UserError, load_error_reason

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickled code, truncated or foreign files
        raise UserError(
            f"cannot read Inception weights from {path} ({load_error_reason(e)}); "
            f"--inception must be pytorch-fid's {INCEPTION_FILE} (a plain state dict)."
        ) from e
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(f"{path} is not a state dict of tensors; --inception must be "
                        f"pytorch-fid's {INCEPTION_FILE}.")
    return state


def build_fid_inception(state: dict[str, Tensor]) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3`` (pool3 block, FID variant) filled with ``state``.

    pytorch-fid builds the FID network (``fid_inception_v3``: torchvision's Inception with
    the ``FIDInception*`` blocks) and fetches its weights through ``torch.hub``, which
    unpickles with ``weights_only=False``; here that fetch is replaced by ``state``, read
    beforehand with ``weights_only=True``.
    """
    from pytorch_fid import inception as pf

    from idff.errors import UserError

    original = pf.load_state_dict_from_url
    pf.load_state_dict_from_url = lambda *a, **k: state
    try:
        return pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    except (RuntimeError, KeyError) as e:  # keys or shapes do not fit
        raise UserError(f"the Inception weights do not fit pytorch-fid's network "
                        f"({str(e)[:200]}); use pytorch-fid's {INCEPTION_FILE}.") from e
    finally:
        pf.load_state_dict_from_url = original


def _download_inception() -> Path:
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    hub.mkdir(parents=True, exist_ok=True)
    dst = hub / INCEPTION_FILE
    torch.hub.download_url_to_file(INCEPTION_URL, str(dst), hash_prefix=INCEPTION_SHA256_PREFIX,
                                   progress=True)
    return dst


def inception_extractor(weights: str | os.PathLike | None = None,
                        device: str | torch.device = "cpu") -> FeatureExtractor:
    """pytorch-fid's InceptionV3 (pool3, 2048-d) with the standard FID weights.

    The weights are looked up locally (:func:`find_inception_weights`); when absent, they
    are downloaded to torch's hub cache (SHA-256 checked), and failing that a
    ``FileNotFoundError`` says where to put the file. The file is always read with
    ``weights_only=True`` (:func:`load_inception_state`); weights whose SHA-256 does not
    start with ``6726825d`` are used with a warning (the distance is then not FID).
    """
    import warnings

    try:
        import pytorch_fid  # noqa: F401
    except ImportError as e:
        raise ImportError("FID needs pytorch-fid: pip install 'idff[fid]'.") from e
    local = find_inception_weights(weights)
    if local is None:
        try:
            local = _download_inception()
        except (OSError, RuntimeError) as e:  # URLError is an OSError; hash mismatch
            raise FileNotFoundError(_missing_weights_message(e)) from e
    net = build_fid_inception(load_inception_state(local))
    if not _file_digest(local).startswith(INCEPTION_SHA256_PREFIX):
        warnings.warn(f"{local} is not pytorch-fid's {INCEPTION_FILE} (SHA-256 differs); the "
                      "distance is not comparable to published FIDs.", stacklevel=2)
    net = net.eval().to(device)
    ident = _file_digest(local) if local is not None else INCEPTION_FILE

    def fn(x: Tensor) -> Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        return net(x.to(device))[0].flatten(1).cpu()

    try:
        import importlib.metadata as md

        version = md.version("pytorch-fid")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        version = "?"
    return FeatureExtractor(
        fn, "FID", "RGB",
        f"pytorch-fid {version} InceptionV3 pool3 (2048-d), {INCEPTION_FILE}, "
        "bilinear resize to 299, grey repeated to RGB",
        ident,
    )


def classifier_extractor(path: str | os.PathLike | None = None,
                         expected_sha256: str | None = None,
                         device: str | torch.device = "cpu") -> FeatureExtractor:
    """Penultimate features of the Fashion-MNIST CNN (:mod:`idff.eval.classifier`)."""
    from idff.eval.classifier import DEFAULT_CLASSIFIER, FEATURE_NAME, load_classifier

    model, digest = load_classifier(path or DEFAULT_CLASSIFIER, expected_sha256)
    model = model.to(device)

    def fn(x: Tensor) -> Tensor:
        if x.shape[1] == 3:
            x = x.mean(1, keepdim=True)
        return model.features(x.to(device)).cpu()

    return FeatureExtractor(
        fn, FEATURE_NAME, "L",
        f"Fashion-MNIST CNN penultimate features ({model.feature_dim}-d), sha256 {digest[:12]}",
        digest,
    )


def _file_digest(path: Path) -> str:
    from idff.eval.classifier import sha256_file

    return sha256_file(path)


# ---------------------------------------------------------------------------- image sources


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder`` (pytorch-fid's extensions), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of images.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower().lstrip(".") in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(
            f"{folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}); write samples there "
            "first, or pass an .npz statistics file or a run directory."
        )
    return files


def iter_image_batches(files: list[Path], mode: str = "RGB", batch_size: int = 50,
                       limit: int | None = None) -> Iterator[Tensor]:
    """Batches ``(B, C, H, W)`` in ``[0, 1]`` of image files (PIL ``convert(mode)``, /255)."""
    from PIL import Image

    files = files[:limit] if limit else files
    shape = None
    for i in range(0, len(files), batch_size):
        arrs = []
        for p in files[i:i + batch_size]:
            try:
                with Image.open(p) as im:
                    a = np.asarray(im.convert(mode), dtype=np.uint8)
            except (OSError, SyntaxError, ValueError,  # PIL's errors for broken files
                    Image.DecompressionBombError) as e:
                from idff.errors import UserError

                raise UserError(f"cannot read image {p} ({type(e).__name__}: {str(e)[:100]}); "
                                "remove or replace the file.") from e
            a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
            if shape is None:
                shape = a.shape
            elif a.shape != shape:
                raise ValueError(
                    f"{p} has shape {a.shape} but earlier images have {shape}; all images "
                    "of a set must have the same size."
                )
            arrs.append(a)
        yield torch.from_numpy(np.stack(arrs)).float() / 255.0


def iter_tensor_batches(images: Tensor, batch_size: int = 500) -> Iterator[Tensor]:
    """Batches of an image tensor ``(N, C, H, W)`` already in ``[0, 1]``."""
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}.")
    for i in range(0, images.shape[0], batch_size):
        yield images[i:i + batch_size]


def feature_stats(batches: Iterable[Tensor], extractor: FeatureExtractor,
                  progress: bool = False, total: int | None = None) -> FeatureStats:
    """Mean and covariance (``N − 1`` normaliser) of the features of all batches, in float64.

    Sums are accumulated around the first batch's mean, so memory stays ``O(D²)`` and
    the covariance does not lose precision to a large mean.
    """
    from tqdm.auto import tqdm

    n, shift, s1, s2 = 0, None, None, None
    bar = tqdm(total=total, desc=f"{extractor.name} features", unit="img", disable=not progress)
    try:
        for batch in batches:
            if batch.dim() != 4:
                raise ValueError(
                    f"image batches must be (B, C, H, W), got {tuple(batch.shape)}.")
            f = extractor(batch).double().cpu().numpy()
            if not np.isfinite(f).all():
                raise ValueError(
                    "features contain NaN or inf; check that images are finite in [0, 1].")
            if shift is None:
                shift = f.mean(0)
                s1, s2 = np.zeros_like(shift), np.zeros((f.shape[1], f.shape[1]))
            c = f - shift
            s1 += c.sum(0)
            s2 += c.T @ c
            n += f.shape[0]
            bar.update(f.shape[0])
    finally:
        bar.close()
    if n < 2:
        raise ValueError(f"a Fréchet distance needs at least 2 images per set, got {n}.")
    mean_c = s1 / n
    sigma = (s2 - n * np.outer(mean_c, mean_c)) / (n - 1)
    meta = {"feature": extractor.name, "protocol": extractor.protocol, "extractor": extractor.ident}
    return FeatureStats(shift + mean_c, sigma, n, meta)


def _folder_key(files: list[Path], extractor: FeatureExtractor, limit: int | None) -> str:
    h = hashlib.sha256()
    h.update(f"{extractor.name}|{extractor.ident}|{extractor.image_mode}|{limit}".encode())
    for p in files:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def folder_stats(folder: str | os.PathLike, extractor: FeatureExtractor,
                 cache_dir: str | os.PathLike | None = "cache/eval/stats",
                 limit: int | None = None, batch_size: int = 50,
                 progress: bool = True) -> FeatureStats:
    """Statistics of an image folder, cached as ``.npz`` keyed by files and extractor."""
    files = list_images(folder)
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"{Path(folder).name}-{_folder_key(files, extractor, limit)}.npz"
        if cache.is_file():
            return load_stats(cache)
    n = min(len(files), limit) if limit else len(files)
    stats = feature_stats(iter_image_batches(files, extractor.image_mode, batch_size, limit),
                          extractor, progress, total=n)
    stats.meta["source"] = str(folder)
    if cache is not None:
        stats.save(cache)
    return stats
