"""The Kolmogorov commands end to end on the tiny data set."""

import json

from click.testing import CliRunner

from idff.cli.main import cli


def test_data_train_forecast_and_benchmark(tmp_path):
    root = str(tmp_path / "data")
    r = CliRunner()
    res = r.invoke(cli, ["kolmogorov-data", "--size", "tiny", "--data-root", root])
    assert res.exit_code == 0, res.output
    run = str(tmp_path / "run")
    res = r.invoke(cli, ["train", "kolmogorov", "--size", "tiny", "--data-root", root,
                         "--steps", "2", "--horizon", "3", "--batch-size", "4",
                         "--channel-mult", "1,2", "--out", run])
    assert res.exit_code == 0, res.output
    again = ["train", "kolmogorov", "--size", "tiny", "--data-root", root, "--steps", "3",
             "--horizon", "3", "--batch-size", "4", "--channel-mult", "1,2", "--out", run]
    res = r.invoke(cli, again)
    assert res.exit_code == 2 and "--resume" in res.output
    res = r.invoke(cli, again + ["--resume"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "fc"
    res = r.invoke(cli, ["forecast", run, "--horizon", "3", "--members", "2", "--nfe", "1",
                         "--out", str(out)])
    assert res.exit_code == 0, res.output
    scores = json.loads((out / "metrics.json").read_text())
    assert set(scores) == {"idff", "persistence", "climatology"}
    assert scores["idff"]["nfe_per_lead"] == 1 and len(scores["idff"]["per_lead"]) == 3
    res = r.invoke(cli, ["forecast", run, "--horizon", "3", "--members", "2", "--nfe", "1",
                         "--split", "val", "--no-baselines", "--out", str(tmp_path / "fc_val")])
    assert res.exit_code == 0, res.output
    val = json.loads((tmp_path / "fc_val" / "metrics.json").read_text())
    from idff.kolmogorov.data import load_split

    n_val = load_split(tmp_path / "data" / "tiny", "val").shape[0]
    n_test = load_split(tmp_path / "data" / "tiny", "test").shape[0]
    assert val["idff"]["forecasts"] * n_test == scores["idff"]["forecasts"] * n_val
    bench = ["kolmogorov-benchmark", "--size", "tiny", "--data-root", root, "--steps", "2",
             "--horizon", "3", "--batch-size", "4", "--channel-mult", "1,2", "--members", "2",
             "--starts", "1", "--forecasters", "idff,mse", "--long-frames", "5",
             "--runs", str(tmp_path / "runs"),
             "--out", str(tmp_path / "results")]
    res = r.invoke(cli, bench)
    assert res.exit_code == 0, res.output
    res = r.invoke(cli, bench)  # trained runs and cached scores are reused
    assert res.exit_code == 0 and res.output.count("reusing it") == 2, res.output
    m = json.loads((tmp_path / "results" / "metrics.json").read_text())
    assert list(m["scores"]) == ["idff", "mse", "persistence", "climatology", "physics"]
    # IDFF's grid was chosen on the validation trajectories among the default candidates,
    # and the test forecast used it; the one-member UNet has nothing to choose
    sel = m["scores"]["idff"]["selection"]
    assert list(sel["candidates"]) == ["uniform", "power:0.7", "power:1.5"]
    grid = m["scores"]["idff"]["sampling"]["grid"]
    assert grid == sel["chosen"].partition(":")[0]
    assert "selection" not in m["scores"]["mse"]
    assert "chosen on the validation" in (tmp_path / "results" / "table.md").read_text()
    assert (tmp_path / "runs" / "scores" / "idff.val.power_0.7.json").is_file()
    # long free rollouts of both learned forecasters, and the truth's own floor
    assert list(m["long_rollouts"]) == ["idff", "mse", "truth"]
    assert m["long_rollouts"]["idff"]["windows"][0]["frames"] == [1, 5]
    assert len(m["long_rollouts"]["mse"]["enstrophy"]) == 5
    for f in ("table.md", "per_lead.csv", "scores.png", "calibration.png", "forecast.png",
              "long_rollout.png"):
        assert (tmp_path / "results" / f).is_file()
    res = r.invoke(cli, ["kolmogorov-benchmark", "--size", "tiny", "--data-root",
                         str(tmp_path / "none"), "--forecasters", "idff"])
    assert res.exit_code == 2 and "idff kolmogorov-data" in res.output
    res = r.invoke(cli, ["train", "kolmogorov", "--forecaster", "otcfm", "--sigma", "0.5",
                         "--out", str(tmp_path / "never")])
    assert res.exit_code == 2 and "has none" in res.output
    assert not (tmp_path / "never").exists()
    res = r.invoke(cli, ["train", "kolmogorov", "--forecaster", "mse", "--nfe", "5",
                         "--out", str(tmp_path / "never")])
    assert res.exit_code == 2 and "--nfe 5 would change nothing" in res.output, res.output
    assert not (tmp_path / "never").exists()
    res = r.invoke(cli, ["kolmogorov-benchmark", "--forecasters", "unet"])
    assert res.exit_code == 2 and "unknown forecaster 'unet'" in res.output
    res = r.invoke(cli, bench + ["--grids", "uniform,power:-1"])
    assert res.exit_code == 2 and "power exponent" in res.output
    res = r.invoke(cli, bench + ["--grids", ","])
    assert res.exit_code == 2 and "--grids needs" in res.output


def test_default_grid_candidates_match_the_library():
    from idff.cli.task_bench import kolmogorov_benchmark
    from idff.kolmogorov.benchmark import SELECT_GRIDS

    opt = next(p for p in kolmogorov_benchmark.params if p.name == "grids")
    assert tuple(opt.default.split(",")) == SELECT_GRIDS
