"""Correct and fast by default: the EMA warm-up and the CPU thread policy."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import idff
from idff.errors import ConfigError
from idff.threads import SMALL_NETWORK, choose_threads, threads_for, using_threads
from idff.training.ema import EMA


def _first_weight(n_updates: int, decay: float, warmup: bool) -> float:
    """The share of the first update's weights in the average after ``n_updates``."""
    net = nn.Linear(1, 1, bias=False)
    ema = EMA(net, decay, warmup=warmup)
    with torch.no_grad():
        net.weight.fill_(1.0)
        ema.update_parameters(net)
        net.weight.fill_(0.0)
        for _ in range(n_updates - 1):
            ema.update_parameters(net)
    return float(ema.module.weight.detach())


def test_ema_warmup_follows_its_closed_form():
    net = nn.Linear(1, 1, bias=False)
    ema = EMA(net, 0.999, warmup=True)
    values = [3.0, -1.0, 2.0, 5.0, 0.5]
    want = None
    with torch.no_grad():
        for n, v in enumerate(values):
            d = min(0.999, (1 + n) / (10 + n))
            net.weight.fill_(v)
            ema.update_parameters(net)
            want = v if want is None else d * want + (1 - d) * v
            assert float(ema.module.weight.detach()) == pytest.approx(want, rel=1e-6)


def test_a_short_run_is_not_its_initialisation():
    # without the warm-up, 0.999^1999 = 13.5 % of a 2000-step average is the first weights
    assert _first_weight(2000, 0.999, warmup=False) == pytest.approx(0.999 ** 1999, rel=1e-4)
    assert _first_weight(2000, 0.999, warmup=True) < 1e-6
    # the image recipe's 0.9999 after 4,621 steps: 63 % initialisation without the warm-up
    assert _first_weight(4621, 0.9999, warmup=False) > 0.6
    assert _first_weight(4621, 0.9999, warmup=True) < 1e-6


def test_new_runs_warm_up_and_old_runs_resume_without_it(tmp_path):
    from idff.toy.config import toy_run_config
    from idff.toy.train import train_toy
    from idff.training import TrainConfig

    assert TrainConfig().ema_warmup is True
    cfg = toy_run_config("idff", "moons", hidden=16, depth=2, batch_size=32)

    def train(out, steps, **kw):
        tc = TrainConfig(steps=steps, lr=1e-3, warmup=2, ema_decay=0.9, ckpt_every=5, **kw)
        return train_toy(cfg, out, tc, progress=False, resume=(out / "state.pt").exists())

    ref = train(tmp_path / "ref", 10, ema_warmup=False)
    # a run written before the warm-up existed: its config has no train.ema_warmup
    old = tmp_path / "old"
    train(old, 5, ema_warmup=False)
    conf = json.loads((old / "config.json").read_text())
    del conf["train"]["ema_warmup"]
    (old / "config.json").write_text(json.dumps(conf))
    resumed = train(old, 10)  # the default (warm-up on) is not applied to the old run
    for a, b in zip(ref.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert json.loads((old / "config.json").read_text())["train"]["ema_warmup"] is False
    new = train(tmp_path / "new", 10)
    assert json.loads((tmp_path / "new" / "config.json").read_text())["train"]["ema_warmup"]
    assert any(not torch.equal(a, b) for a, b in
               zip(ref.state_dict().values(), new.state_dict().values(), strict=True))


def test_ema_warmup_must_be_a_bool():
    from idff.training import TrainConfig

    with pytest.raises(ConfigError, match="train.ema_warmup must be true or false"):
        TrainConfig(ema_warmup="yes")


# -- threads ----------------------------------------------------------------------------


def test_thread_policy_small_networks_take_one_thread():
    small = nn.Linear(10, 10)
    big = nn.Linear(SMALL_NETWORK // 1000 + 1, 1000, bias=False)  # just over the limit
    torch.set_num_threads(2)
    assert threads_for(small, "cpu") == 1
    assert threads_for(big, "cpu") == 2
    assert threads_for(small, "cpu", threads=2) == 2
    assert threads_for(small, "cuda") == 2  # the policy is for the CPU only
    with using_threads(small, "cpu") as n:
        assert n == 1 and torch.get_num_threads() == 1
        with using_threads(small, "cpu"):
            assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with using_threads(small, "cpu", threads=2):
        with using_threads(small, "cpu"):  # an explicit count holds inside
            assert torch.get_num_threads() == 2
    choose_threads(2)
    try:
        assert threads_for(small, "cpu") == 2  # --threads wins over the policy
    finally:
        choose_threads(None)
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ConfigError, match="threads must be an integer >= 1"):
            threads_for(small, "cpu", threads=bad)


def test_train_run_and_sample_use_the_policy_or_the_given_threads(tmp_path):
    torch.set_num_threads(2)
    seen: set[int] = set()
    run = idff.train_run(idff.toy_config("idff", "moons", hidden=16, depth=2),
                         tmp_path / "r", {"steps": 4, "log_every": 1}, progress=False,
                         on_log=lambda step, m: seen.add(torch.get_num_threads()))
    assert seen == {1} and torch.get_num_threads() == 2
    seen.clear()
    idff.train_run(idff.toy_config("idff", "moons", hidden=16, depth=2), tmp_path / "r2",
                   {"steps": 2, "log_every": 1}, progress=False, threads=2,
                   on_log=lambda step, m: seen.add(torch.get_num_threads()))
    assert seen == {2}
    with pytest.raises(ConfigError, match="threads must be an integer >= 1"):
        idff.train_run(idff.toy_config("idff", "moons"), tmp_path / "r3", threads=0)
    calls: set[int] = set()
    hook = run.model.register_forward_pre_hook(lambda m, a: calls.add(torch.get_num_threads()))
    for threads, want in ((None, {1}), (2, {2})):
        calls.clear()
        run.sample(8, nfe=2, seed=0, threads=threads)
        assert calls == want
        assert torch.get_num_threads() == 2
    hook.remove()


def test_every_computing_command_takes_threads():
    from idff.cli.main import cli
    from idff.cli.threads import NO_COMPUTE

    def walk(group, prefix=""):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from walk(cmd, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", name, cmd

    missing = [path for path, name, cmd in walk(cli)
               if name not in NO_COMPUTE and not any(p.name == "threads" for p in cmd.params)]
    assert not missing
    res = CliRunner().invoke(cli, ["sample", "x", "--threads", "0"])
    assert res.exit_code == 2 and "--threads" in res.output
