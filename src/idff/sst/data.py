"""Sea-surface temperature (SST) fields: NOAA OISSTv2 loading, patches, splits, windows.

The forecasting protocol of DYffusion (Rühling Cachay et al., 2023), used by the IDFF
paper: daily OISSTv2 fields are cut into square patches (60×60 grid cells), normalised,
split by years (train up to 2018, validation 2019, test 2020) and turned into training
pairs ``(x0 = frame k-1, x1 = frame k)`` whose conditioning is the previous frame(s), the
last observed frame of the forecast and the lead time.

Layout conventions: a field cube is ``(P, T, H, W)`` (patches, times, lat, lon); a frame
given to a network is ``(C, H, W)`` with ``C = 1``. Land cells are NaN in the files; they
form the land mask ``(P, H, W)`` (``True`` = ocean) and are set to 0 after normalisation.

Normalisation (``"global"`` or ``"patch"``): ``z = (sst - μ)/s`` with ``μ, s`` the mean
and standard deviation over ocean cells of the training times, pooled over all patches
(``global``) or per patch (``patch``).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from idff.timeseries.gridded import make_cond_channels

__all__ = [
    "OISST_URL",
    "Box",
    "SSTCube",
    "open_sst",
    "download_oisst",
    "cut_patches",
    "year_split",
    "normalise",
    "SSTWindows",
    "eofs_example_path",
]

#: NOAA PSL daily OISSTv2 (0.25°), one file ``sst.day.mean.YYYY.nc`` per year.
OISST_URL = "https://downloads.psl.noaa.gov/Datasets/noaa.oisst.v2.highres/sst.day.mean.{year}.nc"

_LAT = ("lat", "latitude")
_LON = ("lon", "longitude")
NORMALISATIONS = ("global", "patch")


def _offline_help(where: str) -> str:
    return (
        f"put NOAA OISSTv2 daily files named sst.day.mean.YYYY.nc (one per year, e.g. "
        f"{OISST_URL.format(year=2020)}) in {where}, or pass the path of any netCDF file "
        "with a 'sst' variable on (time, lat, lon)."
    )


def download_oisst(years: Sequence[int], root: str | os.PathLike) -> list[Path]:
    """Download the yearly OISSTv2 files into ``root`` (skips files already there).

    Raises:
        RuntimeError: when offline, naming the files to place by hand.
    """
    import shutil
    import urllib.error
    import urllib.request

    from idff.io import atomic_write

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for year in years:
        dest = root / f"sst.day.mean.{year}.nc"
        if not dest.is_file():
            url = OISST_URL.format(year=year)

            def fetch(f, url=url) -> None:
                with urllib.request.urlopen(url) as r:  # noqa: S310 (fixed https URL)
                    shutil.copyfileobj(r, f)

            try:
                atomic_write(dest, fetch)
            except (urllib.error.URLError, OSError) as e:
                raise RuntimeError(
                    f"cannot download {url} ({e}); this machine seems offline. "
                    + _offline_help(str(root))
                ) from e
        out.append(dest)
    return out


def _files(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    if isinstance(path, (list, tuple)):
        files = [str(p) for p in path]
    elif os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(str(path), "*.nc")))
        if not files:
            raise FileNotFoundError(f"no .nc files in {path}; " + _offline_help(str(path)))
    else:
        files = [str(path)]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError(f"SST file not found: {missing[0]}; " + _offline_help(
            os.path.dirname(missing[0]) or "."))
    return files


def _coord(ds, names: Sequence[str], what: str, path: str) -> str:
    for n in names:
        if n in ds.coords or n in ds.dims:
            return n
    raise ValueError(
        f"{path} has no {what} coordinate (looked for {', '.join(names)}; found "
        f"{', '.join(map(str, ds.coords)) or 'none'}); rename it, e.g. "
        f"ds.rename({{'y': '{names[0]}'}})."
    )


def open_sst(path: str | os.PathLike | Sequence[str | os.PathLike], var: str = "sst"):
    """Open SST netCDF file(s) as one ``xarray.DataArray`` with dims ``(time, lat, lon)``.

    Accepts the OISSTv2 schemas (PSL yearly ``sst.day.mean.YYYY.nc`` and NCEI daily files
    with a singleton ``zlev`` axis), a folder of such files, or a list of paths. Files are
    concatenated along time and sorted. ``latitude``/``longitude`` are renamed to
    ``lat``/``lon``; latitudes are made ascending.
    """
    import xarray as xr

    arrays = []
    for f in _files(path):
        try:
            ds = xr.open_dataset(f)
        except Exception as e:  # noqa: BLE001 (foreign or corrupt files)
            raise ValueError(f"cannot read {f} as netCDF ({type(e).__name__}: {e}).") from e
        if var not in ds.data_vars:
            raise ValueError(
                f"{f} has no variable {var!r} (variables: {', '.join(map(str, ds.data_vars))}); "
                "pass var=... with the SST variable's name."
            )
        if "time" not in ds.dims:
            raise ValueError(f"{f} has no 'time' dimension; SST files need (time, lat, lon).")
        lat, lon = _coord(ds, _LAT, "latitude", f), _coord(ds, _LON, "longitude", f)
        da = ds[var].rename({lat: "lat", lon: "lon"})
        extra = [d for d in da.dims if d not in ("time", "lat", "lon")]
        for d in extra:
            if da.sizes[d] != 1:
                raise ValueError(
                    f"{f}: variable {var!r} has an extra dimension {d!r} of size {da.sizes[d]}; "
                    "select one level first (e.g. da.isel(zlev=0))."
                )
        da = da.squeeze(extra, drop=True) if extra else da
        arrays.append(da.transpose("time", "lat", "lon").load())
    da = xr.concat(arrays, dim="time") if len(arrays) > 1 else arrays[0]
    da = da.sortby("time").sortby("lat")
    return da.astype("float32")


@dataclass(frozen=True)
class Box:
    """A patch of the grid in index space: rows ``[i0, i0+h)`` (lat), cols ``[j0, j0+w)`` (lon)."""

    i0: int
    j0: int
    h: int = 60
    w: int = 60

    @classmethod
    def at(cls, da, lat: float, lon: float, h: int = 60, w: int = 60) -> Box:
        """The patch whose south-west corner is the first grid point at or above ``(lat, lon)``."""
        lats, lons = np.asarray(da["lat"]), np.asarray(da["lon"])
        i0, j0 = int(np.searchsorted(lats, lat)), int(np.searchsorted(lons, lon))
        return cls(i0, j0, h, w)


@dataclass
class SSTCube:
    """Patched SST fields with their land mask, times and normalisation.

    Attributes:
        data: ``(P, T, H, W)`` float32; NaN on land until :func:`normalise` zeros it.
        mask: ``(P, H, W)`` bool, ``True`` on ocean.
        times: ``(T,)`` numpy datetime64.
        boxes: the patch boxes.
        stats: normalisation ``{"kind", "mean", "std"}`` (lists per patch or one value).
    """

    data: np.ndarray
    mask: np.ndarray
    times: np.ndarray
    boxes: list[Box]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def years(self) -> np.ndarray:
        return self.times.astype("datetime64[Y]").astype(int) + 1970

    def select(self, idx: np.ndarray) -> SSTCube:
        """The same patches at time indices ``idx``."""
        return SSTCube(self.data[:, idx], self.mask, self.times[idx], self.boxes, self.stats)

    def denormalise(self, z: np.ndarray | Tensor, patch: np.ndarray | None = None):
        """Map normalised fields back to SST units; ``patch`` gives each row's patch index."""
        if not self.stats:
            return z
        mean, std = np.asarray(self.stats["mean"]), np.asarray(self.stats["std"])
        if self.stats["kind"] == "patch":
            if patch is None:
                raise ValueError("per-patch normalisation: pass the patch index of each row.")
            mean, std = mean[patch], std[patch]
            shape = (-1,) + (1,) * (np.ndim(z) - 1)
            mean, std = mean.reshape(shape), std.reshape(shape)
        return z * std + mean


def cut_patches(da, boxes: Sequence[Box] | None = None) -> SSTCube:
    """Cut ``boxes`` (default: the whole grid) from a ``(time, lat, lon)`` array.

    Cells that are NaN at every time are land; the mask is ``True`` elsewhere. Ocean
    cells missing at some times (sea ice) are filled with that cell's mean over time.

    Raises:
        ValueError: for a box outside the grid or a patch with no ocean cell.
    """
    values = np.asarray(da.values, dtype=np.float32)
    t, n_lat, n_lon = values.shape
    if boxes is None:
        boxes = [Box(0, 0, n_lat, n_lon)]
    data, masks = [], []
    for b in boxes:
        if b.h < 1 or b.w < 1:
            raise ValueError(f"patch {b} has an empty size; use h, w >= 1.")
        if b.i0 < 0 or b.j0 < 0 or b.i0 + b.h > n_lat or b.j0 + b.w > n_lon:
            if b.h > n_lat or b.w > n_lon:
                raise ValueError(
                    f"patch {b} is larger than the {n_lat}×{n_lon} (lat×lon) grid; choose "
                    f"h <= {n_lat} and w <= {n_lon}."
                )
            raise ValueError(
                f"patch {b} lies outside the {n_lat}×{n_lon} (lat×lon) grid; choose "
                f"0 <= i0 <= {n_lat - b.h} and 0 <= j0 <= {n_lon - b.w}, or a smaller patch."
            )
        p = values[:, b.i0 : b.i0 + b.h, b.j0 : b.j0 + b.w].copy()
        ocean = ~np.isnan(p).all(axis=0)
        if not ocean.any():
            raise ValueError(
                f"patch {b} is all land (no finite SST value); move the box over the ocean."
            )
        gaps = np.isnan(p) & ocean
        if gaps.any():
            fill = np.nanmean(np.where(ocean, p, np.nan), axis=0)
            p = np.where(gaps, fill[None], p)
        data.append(p)
        masks.append(ocean)
    return SSTCube(np.stack(data), np.stack(masks), np.asarray(da["time"].values), list(boxes))


def year_split(
    cube: SSTCube,
    train: tuple[int | None, int | None] = (None, 2018),
    val: tuple[int | None, int | None] | None = (2019, 2019),
    test: tuple[int | None, int | None] | None = (2020, 2020),
) -> dict[str, np.ndarray]:
    """Time indices of each split, by inclusive year ranges (``None`` = open end).

    Raises:
        ValueError: when a split is empty or splits overlap.
    """
    years = cube.years
    out: dict[str, np.ndarray] = {}
    for name, rng in (("train", train), ("val", val), ("test", test)):
        if rng is None:
            continue
        lo, hi = rng
        sel = np.ones_like(years, dtype=bool)
        if lo is not None:
            sel &= years >= lo
        if hi is not None:
            sel &= years <= hi
        idx = np.flatnonzero(sel)
        if idx.size == 0:
            raise ValueError(
                f"the {name} split {lo}–{hi} contains no time step (data covers "
                f"{years.min()}–{years.max()}); adjust the split years."
            )
        out[name] = idx
    names = list(out)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            if np.intersect1d(out[names[a]], out[names[b]]).size:
                raise ValueError(f"the {names[a]} and {names[b]} splits overlap; fix the years.")
    return out


def normalise(cube: SSTCube, train_idx: np.ndarray, kind: str = "global",
              stats: dict[str, Any] | None = None) -> SSTCube:
    """Z-score the cube with statistics of the training times (ocean cells only).

    Args:
        cube: patched fields.
        train_idx: time indices the statistics are computed on.
        kind: ``"global"`` (one ``μ, s``) or ``"patch"`` (one per patch).
        stats: reuse saved statistics (``{"kind", "mean", "std"}``) instead of computing.

    Returns a new cube whose land cells are 0 and whose ``stats`` record ``μ, s``.
    """
    if stats is not None:
        kind = stats["kind"]
    if kind not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {kind!r}; choose 'global' or 'patch'.")
    tr = cube.data[:, train_idx]
    m = np.broadcast_to(cube.mask[:, None], tr.shape)
    n = len(cube.boxes)
    if stats is not None:
        if len(np.atleast_1d(stats["mean"])) not in (1, n):
            raise ValueError(
                f"the saved statistics are for {len(stats['mean'])} patches, not {n}; use the "
                "patch boxes the model was trained with."
            )
        mu = np.broadcast_to(np.asarray(stats["mean"], dtype=float), (n,))
        sd = np.broadcast_to(np.asarray(stats["std"], dtype=float), (n,))
    elif kind == "global":
        vals = tr[m]
        mean, std = float(vals.mean()), float(vals.std())
        mu, sd = np.full(len(cube.boxes), mean), np.full(len(cube.boxes), std)
        stats = {"kind": kind, "mean": mean, "std": std}
    else:
        mu = np.array([tr[p][m[p]].mean() for p in range(tr.shape[0])])
        sd = np.array([tr[p][m[p]].std() for p in range(tr.shape[0])])
        stats = {"kind": kind, "mean": mu.tolist(), "std": sd.tolist()}
    if (sd <= 0).any():
        raise ValueError("an SST patch is constant over the training years; its std is 0.")
    z = (cube.data - mu[:, None, None, None]) / sd[:, None, None, None]
    z = np.where(cube.mask[:, None], z, 0.0).astype(np.float32)
    return SSTCube(z, cube.mask, cube.times, cube.boxes, stats)


class SSTWindows:
    """Training pairs for one-step forecasting with lead-time conditioning.

    A sample is a patch ``p``, a forecast start ``k0`` (the last observed frame) and a
    lead ``ℓ ∈ [1, horizon]``; with ``k = k0 + ℓ`` it yields

        x0 = frame k-1,  x1 = frame k,
        cond = [frames k-1, ..., k-context; frame k0; ℓ/horizon]   (context + 2 channels)

    where every frame is ``(1, H, W)`` and ``ℓ/horizon`` is a constant channel. At test
    time the rollout fills the first ``context`` channels with its own predictions.

    Args:
        cube: a normalised :class:`SSTCube` restricted to one split.
        horizon: the longest lead ``K``.
        context: number of previous frames in ``cond``.
        batch_size: batch size of :meth:`__iter__`.
        seed: seed of the batch draws.
    """

    def __init__(self, cube: SSTCube, horizon: int = 7, context: int = 1,
                 batch_size: int = 32, seed: int = 0):
        if horizon < 1 or context < 1:
            raise ValueError(f"horizon and context must be >= 1 (got {horizon}, {context}).")
        t = cube.data.shape[1]
        if t < context + 1:
            raise ValueError(
                f"the split has {t} time steps but a training pair needs context+1 = "
                f"{context + 1}; use a longer split or a smaller context."
            )
        self.cube, self.horizon, self.context = cube, horizon, context
        self.batch_size = batch_size
        self.data = torch.from_numpy(np.ascontiguousarray(cube.data))
        # (p, k, lead): target k in [context, t), start k0 = k - lead >= context - 1
        items = [(p, k, lead) for p in range(self.data.shape[0]) for k in range(context, t)
                 for lead in range(1, horizon + 1) if k - lead >= context - 1]
        self.items = torch.tensor(items, dtype=torch.long)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.items)

    def sample(self, idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(x0, x1, cond)`` for item indices ``idx`` (shapes ``(B,1,H,W)``, ``(B,C',H,W)``)."""
        p, k, lead = self.items[idx].unbind(1)
        x1 = self.data[p, k][:, None]
        x0 = self.data[p, k - 1][:, None]
        prev = [self.data[p, k - 1 - c][:, None] for c in range(self.context)]
        cond = make_cond_channels(prev, self.data[p, k - lead][:, None], lead, self.horizon)
        return x0, x1, cond

    def __iter__(self):
        while True:
            idx = torch.randint(0, len(self.items), (self.batch_size,), generator=self.generator)
            x0, x1, cond = self.sample(idx)
            yield x1, {"x0": x0, "cond": cond}


def eofs_example_path() -> Path:
    """The NOAA SST anomaly file shipped in the ``eofs`` package (50 winters × 18 × 30)."""
    try:
        import eofs
    except ImportError as e:
        raise ImportError(
            "the SST demo data ships in the 'eofs' package; install it with "
            "`pip install eofs` (or `pip install idff[timeseries]`)."
        ) from e
    path = Path(eofs.__file__).parent / "examples" / "example_data" / "sst_ndjfm_anom.nc"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed eofs package; reinstall it.")
    return path
