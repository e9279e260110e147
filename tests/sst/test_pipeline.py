"""SST pipeline: training with the shared trainer, rollout forecasts, baselines, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("xarray")
pytest.importorskip("torchcfm")

from click.testing import CliRunner  # noqa: E402

from idff.cli.main import cli  # noqa: E402
from idff.coupling import transport_cost  # noqa: E402
from idff.models import SSTNet, build_model  # noqa: E402
from idff.sst.data import Box, cut_patches, open_sst, year_split  # noqa: E402
from idff.sst.forecast import (  # noqa: E402
    climatology_forecast,
    persistence_forecast,
    sst_forecast,
)
from idff.timeseries.objective import SSTObjective, ot_assign_sources  # noqa: E402
from tests.sst.test_data import write_oisst  # noqa: E402

TINY = ["--num-channels", "32", "--channel-mult", "1,2", "--batch-size", "4"]


@pytest.fixture
def oisst_dir(tmp_path):
    write_oisst(tmp_path / "oisst")
    return tmp_path / "oisst"


def test_ot_assign_sources_is_a_cost_reducing_permutation():
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(16, 1, 3, 3, generator=g), torch.randn(16, 1, 3, 3, generator=g) + 2
    y0 = ot_assign_sources(x0, x1)
    assert sorted(y0.flatten(1)[:, 0].tolist()) == sorted(x0.flatten(1)[:, 0].tolist())
    assert transport_cost(y0, x1) <= transport_cost(x0, x1)


def test_sstnet_pads_and_crops():
    inner = build_model({"backbone": "unet", "method": "idff", "in_channels": 1,
                         "image_size": [6, 8], "cond_channels": 2, "num_channels": 32,
                         "num_res_blocks": 1, "channel_mult": [1, 2],
                         "attention_resolutions": "", "num_head_channels": -1})
    net = SSTNet(inner, (5, 7), (6, 8)).eval()
    x1_hat, score = net(torch.rand(3), torch.randn(3, 1, 5, 7), torch.randn(3, 2, 5, 7))
    assert x1_hat.shape == score.shape == (3, 1, 5, 7)
    with pytest.raises(ValueError, match="built for 5×7 fields"):
        net(torch.rand(3), torch.randn(3, 1, 6, 8), torch.randn(3, 2, 6, 8))
    with pytest.raises(ValueError, match="smaller than the field"):
        SSTNet(inner, (7, 9), (6, 8))


def test_objective_rejects_ot_for_idff_and_bad_batches():
    with pytest.raises(ValueError, match="use coupling='independent'"):
        SSTObjective({"name": "idff", "coupling": "ot"})
    obj = SSTObjective({"name": "otcfm"})
    with pytest.raises(ValueError, match="'x0': previous frame"):
        obj(torch.nn.Identity(), torch.zeros(2, 1, 2, 2), torch.zeros(2, 3, 2, 2))


def test_baselines(oisst_dir):
    cube = cut_patches(open_sst(oisst_dir), [Box(2, 4, 4, 4)])
    splits = year_split(cube)
    starts = np.array([380, 383])
    p = persistence_forecast(cube, starts, 3)
    assert p.ens.shape == (3, 1, 2, 1, 4, 4)
    for k in range(3):
        torch.testing.assert_close(p.ens[k, 0, :, 0], torch.from_numpy(cube.data[0, starts]))
        torch.testing.assert_close(p.truth[k, :, 0], torch.from_numpy(cube.data[0, starts + k + 1]))
    c = climatology_forecast(cube, splits["train"], starts, 3, members=5)
    # 12 training days (Dec 20–31 2018); the ±15-day window around early January holds them all
    assert c.ens.shape == (3, 5, 2, 1, 4, 4)
    train_vals = set(np.round(cube.data[0, splits["train"], 0, 0], 4).tolist())
    assert set(np.round(c.ens[:, :, :, 0, 0, 0].numpy().ravel(), 4).tolist()) <= train_vals


@pytest.mark.slow
def test_train_forecast_cli_end_to_end(oisst_dir, tmp_path):
    run = tmp_path / "run"
    runner = CliRunner()
    args = ["train", "sst", "--data", str(oisst_dir), "--boxes", "0,0,5,7;1,1,5,7",
            "--normalisation", "patch", "--horizon", "3", "--steps", "2",
            "--nfe", "2", "--out", str(run), *TINY]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["pad_to"] == [6, 8] and cfg["data"]["stats"]["kind"] == "patch"
    # resume: asking for 3 steps continues from the saved step 2
    res = runner.invoke(cli, args[:-len(TINY) - 2] + ["--out", str(run), *TINY]
                        + ["--steps", "3", "--resume"])
    assert res.exit_code == 0, res.output
    assert json.loads((run / "log.jsonl").read_text().splitlines()[-1])["step"] == 3
    out = tmp_path / "fc"
    res = runner.invoke(cli, ["forecast", str(run), "--horizon", "3", "--members", "4",
                              "--max-forecasts", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"idff", "persistence", "climatology"}
    assert metrics["idff"]["extra"]["nfe_per_lead"] == 2
    assert metrics["idff"]["extra"]["nfe_total"] == 6
    assert metrics["idff"]["extra"]["forecasts"] == 4  # 2 starts × 2 patches
    assert len(metrics["idff"]["per_lead"]) == 3 and metrics["idff"]["members"] == 4
    assert (out / "forecast.png").stat().st_size > 0
    assert (out / "per_lead.csv").read_text().count("\n") == 1 + 3 * 3
    res = runner.invoke(cli, ["forecast", str(run), "--horizon", "4", "--members", "2",
                              "--out", str(out)])
    assert res.exit_code != 0 and "trained for leads up to 3" in res.output


def test_forecast_members_differ_and_otcfm_trains(oisst_dir, tmp_path):
    from idff.sst.config import load_sst_data, sst_run_config
    from idff.sst.train import load_sst_model, train_sst
    from idff.training import TrainConfig

    data = {"path": str(oisst_dir), "boxes": [[2, 4, 4, 4]], "normalisation": "global",
            "train": [None, 2018], "val": None, "test": [2019, None]}
    model = {"num_channels": 32, "channel_mult": [1]}
    for method in ("idff", "otcfm"):
        cfg = sst_run_config(method, data, model, horizon=2, batch_size=4,
                             sampling={"nfe": 2})
        train_sst(cfg, tmp_path / method, TrainConfig(steps=1, warmup=1), progress=False)
        net, cfg = load_sst_model(tmp_path / method)
        cube, _ = load_sst_data(cfg["data"])
        fc = sst_forecast(net, cfg, cube, np.array([100, 200]), 2, members=3, seed=1)
        assert fc.ens.shape == (2, 3, 2, 1, 4, 4) and fc.nfe_per_step == [2, 2]
        assert fc.ens.std(1).mean() > 0  # members are distinct draws


def test_forecast_chunks_match_one_batch(oisst_dir, tmp_path):
    from idff.sst.config import load_sst_data, sst_run_config
    from idff.sst.train import load_sst_model, train_sst
    from idff.training import TrainConfig

    data = {"path": str(oisst_dir), "boxes": [[2, 4, 4, 4], [0, 2, 4, 4]],
            "train": [None, 2018], "val": None, "test": [2019, None]}
    cfg = sst_run_config("idff", data, {"num_channels": 32, "channel_mult": [1]}, horizon=2,
                         batch_size=4, sampling={"nfe": 2})
    train_sst(cfg, tmp_path / "r", TrainConfig(steps=1, warmup=1), progress=False)
    net, cfg = load_sst_model(tmp_path / "r")
    cube, _ = load_sst_data(cfg["data"])
    starts = np.array([50, 60, 70])
    whole = sst_forecast(net, cfg, cube, starts, 2, members=2, gamma=0.0)
    chunked = sst_forecast(net, cfg, cube, starts, 2, members=2, gamma=0.0, max_rows=4)
    order = np.lexsort((chunked.starts, chunked.patches))
    assert sorted(zip(whole.patches, whole.starts)) == sorted(zip(chunked.patches, chunked.starts))
    ref = np.lexsort((whole.starts, whole.patches))
    torch.testing.assert_close(chunked.ens[:, :, order], whole.ens[:, :, ref], atol=1e-5, rtol=0)
    torch.testing.assert_close(chunked.truth[:, order], whole.truth[:, ref])
    torch.testing.assert_close(chunked.mask[order], whole.mask[ref])


class ShiftByOne(torch.nn.Module):
    """Two heads whose deterministic flow adds 1 to the state per lead; records ``cond``."""

    def __init__(self):
        super().__init__()
        self.conds = []

    def forward(self, t, x, cond=None):
        self.conds.append(cond.clone())
        tt = t.reshape(-1, 1, 1, 1)
        return x + (1 - tt), torch.zeros_like(x)


def test_forecast_feeds_back_predictions_as_context(oisst_dir):
    cube = cut_patches(open_sst(oisst_dir), [Box(2, 4, 4, 4)])
    cfg = {"method": "idff", "horizon": 3, "context": 2, "objective": {"sigma": 0.2},
           "sampling": {"nfe": 1, "solver": "euler", "gamma": 0.0}}
    net = ShiftByOne()
    fc = sst_forecast(net, cfg, cube, np.array([10]), 3, members=2)
    d = torch.from_numpy(cube.data[0])
    c1, c2, c3 = net.conds  # one call per lead (Euler, one step)
    torch.testing.assert_close(c1[:, 0], d[10].expand(2, 4, 4))  # previous = observed k0
    torch.testing.assert_close(c1[:, 1], d[9].expand(2, 4, 4))  # and k0 - 1
    torch.testing.assert_close(c2[:, 0], d[10].expand(2, 4, 4) + 1)  # own prediction
    torch.testing.assert_close(c2[:, 1], d[10].expand(2, 4, 4))
    torch.testing.assert_close(c3[:, 1], d[10].expand(2, 4, 4) + 1)
    for k, c in enumerate((c1, c2, c3), start=1):
        torch.testing.assert_close(c[:, 2], d[10].expand(2, 4, 4))  # last observed frame
        assert torch.allclose(c[:, 3], torch.tensor(k / 3))  # lead channel
    torch.testing.assert_close(fc.ens[:, 0, 0, 0], torch.stack([d[10] + k for k in (1, 2, 3)]))


def test_large_grid_needs_boxes(oisst_dir, monkeypatch):
    import idff.sst.config as sst

    monkeypatch.setattr(sst, "MAX_WHOLE_GRID", 7)  # the test grid is 6×8
    data = {"path": str(oisst_dir), "train": [None, 2018], "val": None, "test": [2019, None]}
    with pytest.raises(ValueError, match="too large to model whole.*--boxes"):
        sst.load_sst_data(data)
    cube, _ = sst.load_sst_data({**data, "boxes": [[0, 2, 6, 6]]})
    assert cube.data.shape[-2:] == (6, 6)


def test_patches_by_corner_in_degrees(oisst_dir):
    from idff.cli.train.sst import parse_corners
    from idff.sst.config import load_sst_data

    data = {"path": str(oisst_dir), "corners": [[-0.7, 180.5], [-1.2, 180.0]], "patch_size": 4,
            "train": [None, 2018], "val": None, "test": [2019, None]}
    cube, _ = load_sst_data(data)
    # first grid point at or above (-0.7, 180.5): row 2 (-0.625), column 2 (180.625)
    assert cube.boxes == [Box(2, 2, 4, 4), Box(0, 0, 4, 4)]
    with pytest.raises(ValueError, match="outside the 6×8"):
        load_sst_data({**data, "corners": [[0.0, 180.0]]})
    assert parse_corners("10,200;-20.5,180") == [[10.0, 200.0], [-20.5, 180.0]]
    with pytest.raises(Exception, match="a corner is 'lat,lon'"):
        parse_corners("10;20")


def test_forecast_with_the_published_field(oisst_dir):
    cube = cut_patches(open_sst(oisst_dir), [Box(2, 4, 4, 4)])
    cfg = {"method": "idff", "horizon": 2, "context": 1, "objective": {"sigma": 0.2},
           "sampling": {"nfe": 4, "solver": "euler", "gamma": 0.0}}
    # published ODE with s = 0 is the plain flow: the stub's endpoint x + 1 is reached
    fc = sst_forecast(ShiftByOne(), cfg, cube, np.array([10]), 2, members=2,
                      field="published", s=0.0)
    d = torch.from_numpy(cube.data[0])
    torch.testing.assert_close(fc.ens[:, 0, 0, 0], torch.stack([d[10] + 1, d[10] + 2]))
    assert fc.nfe_per_step == [4, 4]
    noisy = sst_forecast(ShiftByOne(), cfg, cube, np.array([10]), 2, members=3,
                         field="published", s=0.4, sde=True)
    assert noisy.ens.std(1).mean() > 0
    with pytest.raises(ValueError, match="published field is undefined"):
        sst_forecast(ShiftByOne(), cfg, cube, np.array([10]), 2, members=1,
                     field="published", s=3.0)
