"""OISSTv2 loading, patching, year splits, normalisation, windows and clear errors.

The files are written in the OISSTv2 schema (time, lat, lon, ``sst`` in °C, land as NaN,
one ``sst.day.mean.YYYY.nc`` file per year) with values from a known formula.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

xr = pytest.importorskip("xarray")

from idff.sst.data import (  # noqa: E402
    Box,
    SSTWindows,
    cut_patches,
    download_oisst,
    normalise,
    open_sst,
    year_split,
)
from idff.sst.forecast import forecast_starts  # noqa: E402

LAT = np.array([-1.125, -0.875, -0.625, -0.375, -0.125, 0.125])
LON = np.array([180.125, 180.375, 180.625, 180.875, 181.125, 181.375, 181.625, 181.875])
TIMES = pd.date_range("2018-12-20", "2020-01-15", freq="D")


def formula(t: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The SST of day index ``t`` at grid row ``i`` (ascending lat), column ``j``."""
    return 20.0 + 0.5 * i + 0.1 * j + 0.01 * t


def land() -> np.ndarray:
    """Land cells: the first two columns of the two southern rows."""
    m = np.zeros((len(LAT), len(LON)), dtype=bool)
    m[:2, :2] = True
    return m


def field() -> np.ndarray:
    t, i, j = np.meshgrid(np.arange(len(TIMES)), np.arange(len(LAT)), np.arange(len(LON)),
                          indexing="ij")
    sst = formula(t, i, j).astype(np.float32)
    sst[:, land()] = np.nan
    return sst


def write_oisst(folder, descending_lat: bool = False, **rename) -> None:
    """One file per year, PSL layout; optionally flip latitudes or rename variables."""
    sst = field()
    lat = LAT
    if descending_lat:
        sst, lat = sst[:, ::-1], LAT[::-1]
    ds = xr.Dataset(
        {"sst": (("time", "lat", "lon"), sst, {"units": "degC", "long_name": "Daily SST"})},
        coords={"time": TIMES, "lat": lat, "lon": LON},
    ).rename(rename)
    folder.mkdir(parents=True, exist_ok=True)
    for year in (2018, 2019, 2020):
        part = ds.sel(time=str(year))
        part.to_netcdf(folder / f"sst.day.mean.{year}.nc",
                       encoding={v: {"_FillValue": -9.96921e36} for v in part.data_vars})


@pytest.fixture
def oisst_dir(tmp_path):
    write_oisst(tmp_path / "oisst")
    return tmp_path / "oisst"


def test_open_concatenates_yearly_files_and_keeps_land_nan(oisst_dir):
    da = open_sst(oisst_dir)
    assert da.dims == ("time", "lat", "lon")
    assert da.shape == (len(TIMES), len(LAT), len(LON))
    np.testing.assert_allclose(da.values, field(), rtol=0, atol=1e-5)
    assert np.isnan(da.values[:, land()]).all()


def test_descending_latitudes_and_ncei_zlev_are_normalised(tmp_path):
    write_oisst(tmp_path / "a", descending_lat=True)
    np.testing.assert_allclose(open_sst(tmp_path / "a").values, field(), atol=1e-5)
    ds = xr.open_dataset(tmp_path / "a" / "sst.day.mean.2019.nc").load()
    ds = ds.rename({"lat": "latitude"}).expand_dims(zlev=[0.0], axis=1)
    ds.to_netcdf(tmp_path / "ncei.nc")
    da = open_sst(tmp_path / "ncei.nc")
    assert da.dims == ("time", "lat", "lon") and da.shape == (365, len(LAT), len(LON))


def test_patches_split_and_global_normalisation(oisst_dir):
    da = open_sst(oisst_dir)
    cube = cut_patches(da, [Box(0, 0, 4, 4), Box(2, 4, 4, 4)])
    assert cube.data.shape == (2, len(TIMES), 4, 4)
    np.testing.assert_array_equal(cube.mask[0], ~land()[:4, :4])
    assert cube.mask[1].all()
    splits = year_split(cube)
    assert [len(splits[k]) for k in ("train", "val", "test")] == [12, 365, 15]
    z = normalise(cube, splits["train"], "global")
    # expected statistics straight from the formula, over ocean cells of December 2018
    t, i, j = np.meshgrid(np.arange(12), np.arange(6), np.arange(8), indexing="ij")
    v = formula(t, i, j)
    ocean = np.stack([np.pad(~land()[:4, :4], ((0, 2), (0, 4))),
                      np.pad(np.ones((4, 4), bool), ((2, 0), (4, 0)))])
    vals = np.concatenate([v[:, ocean[0]].ravel(), v[:, ocean[1]].ravel()])
    assert z.stats["mean"] == pytest.approx(vals.mean(), rel=1e-5)
    assert z.stats["std"] == pytest.approx(vals.std(), rel=1e-4)
    expected = (formula(100, 3, 6) - vals.mean()) / vals.std()
    assert z.data[1, 100, 1, 2] == pytest.approx(expected, rel=1e-4)
    assert (z.data[0][:, ~z.mask[0]] == 0).all()
    np.testing.assert_allclose(z.denormalise(z.data[1, 100]), cube.data[1, 100], atol=1e-4)


def test_patch_normalisation_and_saved_stats(oisst_dir):
    cube = cut_patches(open_sst(oisst_dir), [Box(0, 0, 4, 4), Box(2, 4, 4, 4)])
    tr = year_split(cube)["train"]
    z = normalise(cube, tr, "patch")
    for p in range(2):
        vals = z.data[p][tr][:, z.mask[p]]
        assert vals.mean() == pytest.approx(0.0, abs=1e-4)
        assert vals.std() == pytest.approx(1.0, abs=1e-3)
    again = normalise(cube, tr[:3], stats=z.stats)
    np.testing.assert_allclose(again.data, z.data)
    with pytest.raises(ValueError, match="statistics are for 2 patches, not 1"):
        normalise(cut_patches(open_sst(oisst_dir), [Box(0, 0, 4, 4)]), tr, stats=z.stats)


def test_windows_yield_previous_frame_start_and_lead(oisst_dir):
    cube = cut_patches(open_sst(oisst_dir), [Box(2, 4, 4, 4)])
    win = SSTWindows(cube.select(np.arange(40)), horizon=3, context=2, batch_size=5)
    # target k >= context; start k - lead >= context - 1 (its own context is observed)
    assert len(win) == sum(min(3, k - 1) for k in range(2, 40))
    idx = torch.arange(len(win))
    x0, x1, cond = win.sample(idx)
    assert x1.shape == (len(win), 1, 4, 4) and cond.shape == (len(win), 4, 4, 4)
    p, k, lead = win.items.unbind(1)
    d = torch.from_numpy(cube.data)
    torch.testing.assert_close(x1[:, 0], d[0, k])
    torch.testing.assert_close(x0[:, 0], d[0, k - 1])
    torch.testing.assert_close(cond[:, 0], d[0, k - 1])
    torch.testing.assert_close(cond[:, 1], d[0, k - 2])
    torch.testing.assert_close(cond[:, 2], d[0, k - lead])
    torch.testing.assert_close(cond[:, 3, 0, 0], lead.float() / 3)
    assert int(lead.min()) == 1 and int(lead.max()) == 3
    x1b, extra = next(iter(win))
    assert x1b.shape == (5, 1, 4, 4) and set(extra) == {"x0", "cond"}


@pytest.mark.parametrize(
    "rename,match",
    [({"sst": "temp"}, "no variable 'sst'"), ({"lat": "y"}, "no latitude coordinate")],
)
def test_missing_variable_or_coordinate(tmp_path, rename, match):
    write_oisst(tmp_path / "bad", **rename)
    with pytest.raises(ValueError, match=match):
        open_sst(tmp_path / "bad")


def test_bad_boxes_and_all_land(oisst_dir):
    da = open_sst(oisst_dir)
    with pytest.raises(ValueError, match="outside the 6×8"):
        cut_patches(da, [Box(4, 0, 4, 4)])
    with pytest.raises(ValueError, match="all land"):
        cut_patches(da, [Box(0, 0, 2, 2)])


def test_missing_files_and_offline_download(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="sst.day.mean.YYYY.nc"):
        open_sst(tmp_path / "nowhere.nc")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .nc files"):
        open_sst(tmp_path / "empty")
    import urllib.error
    import urllib.request

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match="offline.*sst.day.mean.YYYY.nc"):
        download_oisst([2020], tmp_path / "dl")
    assert not list((tmp_path / "dl").iterdir())


def test_split_errors_and_horizon_longer_than_test(oisst_dir):
    cube = cut_patches(open_sst(oisst_dir))
    with pytest.raises(ValueError, match="contains no time step"):
        year_split(cube, train=(None, 2010), val=None, test=None)
    with pytest.raises(ValueError, match="overlap"):
        year_split(cube, train=(None, 2019), val=(2019, 2019), test=None)
    splits = year_split(cube)
    starts = forecast_starts(len(TIMES), splits["test"], horizon=7)
    # starts from the last 2019 day up to 2020-01-08, so that all 7 targets are in 2020
    assert starts[0] == splits["test"][0] - 1 and starts[-1] == len(TIMES) - 8
    with pytest.raises(ValueError, match="horizon 20 is longer than the test data"):
        forecast_starts(len(TIMES), splits["test"], horizon=20)
