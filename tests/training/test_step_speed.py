"""The training step does not wait for the device; OT costs in float32 pick the same plans."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from idff.coupling import cost_matrix, couple, ot_plan
from idff.methods import make_objective
from idff.models import build_model
from idff.presets import apply_overrides, get_preset
from idff.training import TrainConfig, Trainer
from idff.training.ema import EMA
from tests.images.test_common import _one_thread, tiny  # noqa: F401  (autouse fixture)

READS = ("item", "__float__", "__bool__", "__int__", "tolist")


def _image_trainer(tmp_path, data, **train):
    cfg = apply_overrides(get_preset("fashion_mnist"), tiny(8))
    assert cfg["objective"]["coupling"] == "ot"  # the step measured is the preset's own
    model = build_model(cfg["model"])
    conf = TrainConfig(**{"warmup": 1, "ckpt_every": 1000, **train})
    return Trainer(model, make_objective(cfg["objective"]), data, conf, tmp_path / "run",
                   progress=False)


def test_non_logging_steps_read_nothing_from_the_device(tmp_path, monkeypatch):
    """Between two logging steps no tensor is turned into a Python value (on a GPU each
    such read would wait for the device)."""
    counts = {"n": 0}
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _original=original, **kw):
            counts["n"] += 1
            return _original(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, counted)
    g = torch.Generator().manual_seed(0)
    batches = [torch.rand(4, 1, 8, 8, generator=g) * 2 - 1 for _ in range(4)]
    at_fetch = []

    def data():
        for x in batches:
            at_fetch.append(counts["n"])
            yield x, None

    class Data:
        def __iter__(self):
            return data()

    trainer = _image_trainer(tmp_path, Data(), steps=9, log_every=4)
    trainer.fit()
    per_step = np.diff(at_fetch)  # reads during step k = fetch k+1 - fetch k (k = 1..8)
    logging = {4, 8}
    quiet = [int(per_step[k - 1]) for k in range(1, 9) if k not in logging]
    assert quiet == [0] * 6
    assert all(per_step[k - 1] > 0 for k in logging)  # the logging steps do read


def test_a_nan_between_logging_steps_stops_at_the_next_check(tmp_path):
    """A loss that turns NaN at step 4 is caught at step 5 (a logging step), reported as
    step 4, and the checkpoint of step 3 stays the last one written."""
    from idff.training.checkpoint import load_state

    x = torch.rand(4, 1, 8, 8) * 2 - 1
    trainer = _image_trainer(tmp_path, [(x, None)] * 8, steps=8, log_every=5, ckpt_every=3)
    calls = []

    def nan_at_step_4(module, args, output):
        calls.append(1)
        return output * float("nan") if len(calls) == 4 else output

    trainer.model.backbone.register_forward_hook(nan_at_step_4)
    msg = r"step 4: the IDFF loss is not finite \(nan\).*last good checkpoint \(step 3\)"
    with pytest.raises(FloatingPointError, match=msg):
        trainer.fit()
    assert trainer.step == 5 and load_state(tmp_path / "run")["step"] == 3


def test_ema_matches_averaged_model_exactly():
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ref = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    ema = EMA(net, 0.9)
    for _ in range(4):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net(torch.randn(5, 3))  # moves the BatchNorm running statistics
        ref.update_parameters(net)
        ema.update_parameters(net)
    for a, b in zip(ref.state_dict().values(), ema.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def _plan64(x0, x1):
    import ot

    a, b = x0.flatten(1).double(), x1.flatten(1).double()
    cost = torch.cdist(a, b).pow(2).numpy()
    n = len(cost)
    return ot.emd(np.full(n, 1 / n), np.full(n, 1 / n), cost), cost


@pytest.mark.parametrize("shape", [(64, 2), (128, 1, 28, 28), (128, 3, 32, 32)])
def test_float32_costs_choose_the_float64_plan(shape):
    """On typical batches (Gaussian sources, images in [-1, 1]) the plan from float32
    costs is the float64 one, or (at a tie) one of equal float64 cost."""
    same = 0
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        x0 = torch.randn(shape, generator=g)
        x1 = torch.rand(shape, generator=g) * 2 - 1
        plan32 = ot_plan(x0, x1)
        plan64, cost = _plan64(x0, x1)
        assert np.isclose((plan32 * cost).sum(), (plan64 * cost).sum(), rtol=1e-9, atol=0)
        same += np.array_equal(plan32 > 0, plan64 > 0)
    assert same >= 2


def test_cost_matrix_is_float32_and_ignores_autocast():
    x0, x1 = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        c = cost_matrix(x0, x1)
    want = ((x0.flatten(1)[:, None] - x1.flatten(1)[None]) ** 2).sum(-1)
    assert c.dtype == torch.float32 and c.shape == (6, 6)
    torch.testing.assert_close(c, want, rtol=1e-5, atol=1e-4)
    # each target keeps its place and draws a distinct source
    a, b = couple(x0, x1, "ot", generator=torch.Generator().manual_seed(0))
    assert torch.equal(b, x1)
    assert sorted(int((x0 == r).all(dim=(1, 2, 3)).nonzero()) for r in a) == list(range(6))


def test_in_memory_batches_are_indexed_whole_and_flipped_per_epoch(monkeypatch):
    """NumpyImages sets are served without per-sample Python; flips are batched, fair and
    the same after a resume."""
    from idff.images.batches import ImageBatches
    from idff.images.datasets import NumpyImages
    from idff.images.pixels import to_model_range

    def per_sample(self, i):
        raise AssertionError("per-sample __getitem__ in the hot path")

    monkeypatch.setattr(NumpyImages, "__getitem__", per_sample)
    n, bs = 64, 8
    imgs = torch.randint(0, 256, (n, 1, 3, 4), dtype=torch.uint8)
    ds = NumpyImages(imgs, torch.arange(n))
    a = ImageBatches(ds, bs, class_cond=True, seed=3, hflip=True)
    batches = list(a)
    flipped = 0
    for x, y in batches:
        plain, mirrored = to_model_range(imgs[y]), to_model_range(imgs[y]).flip(-1)
        same = (x == plain).flatten(1).all(1)
        flip = (x == mirrored).flatten(1).all(1)
        assert bool((same | flip).all())
        flipped += int((flip & ~same).sum())
    assert 16 <= flipped <= 48  # Binomial(64, 1/2): 99.9 % of draws
    b = ImageBatches(ds, bs, class_cond=True, seed=3, hflip=True)
    it = iter(b)
    next(it), next(it)
    c = ImageBatches(ds, bs, class_cond=True, seed=3, hflip=True)
    c.load_state_dict(b.state_dict())
    for (xc, yc), (xa, ya) in zip(c, batches[2:], strict=True):
        assert torch.equal(xc, xa) and torch.equal(yc, ya)
    second = list(a)  # the next epoch: another order and other flips
    assert not torch.equal(torch.cat([x for x, _ in second]), torch.cat([x for x, _ in batches]))


def test_compile_option_reaches_the_network_on_every_command(tmp_path, monkeypatch):
    """``--compile`` on ``train``, ``generate`` and ``bench nfe`` compiles the network (here
    torch.compile is replaced by a recorder: compiling takes minutes on a small CPU)."""
    from click.testing import CliRunner

    from idff.cli.main import cli
    from idff.eval.bench import entry_from_run
    from tests.images.test_common import hide_system_fashion_mnist, write_fashion_mnist

    hide_system_fashion_mnist(monkeypatch, tmp_path)
    compiled = []

    def record(model, **kw):
        compiled.append(type(model).__name__)
        return model

    monkeypatch.setattr(torch, "compile", record)
    root = write_fashion_mnist(tmp_path / "fm", n=8)
    args = ["train", "fashion_mnist", "--data-root", str(root), "--steps", "2", "--out",
            str(tmp_path / "run"), "--no-tensorboard", "--compile"]
    for o in tiny(28):
        args += ["--set", o]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert compiled == ["TwoHead"]
    res = CliRunner().invoke(cli, ["generate", str(tmp_path / "run"), "--n", "2", "--nfe", "2",
                                   "--out", str(tmp_path / "png"), "--compile"])
    assert res.exit_code == 0, res.output
    assert len(compiled) == 2 and len(list((tmp_path / "png").glob("*.png"))) == 2
    entry_from_run(tmp_path / "run", gammas=(0.0,), compile=True)
    assert len(compiled) == 3
    res = CliRunner().invoke(cli, ["bench", "nfe", "--help"])
    assert "--compile" in res.output


@pytest.mark.skipif(
    not __import__("os").environ.get("IDFF_TEST_COMPILE"),
    reason="torch.compile (inductor) of the tiny UNet takes about 3 minutes on a 2-core CPU; "
           "set IDFF_TEST_COMPILE=1 to run it",
)
def test_compiled_step_gives_the_eager_loss(tmp_path):
    """Two training steps with ``compile=True`` give the eager run's losses."""
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    losses = []
    for compile_ in (False, True):
        torch.manual_seed(0)
        cfg = apply_overrides(get_preset("fashion_mnist"), tiny(8))
        model = build_model(cfg["model"])
        trainer = Trainer(model, make_objective(cfg["objective"]), [], TrainConfig(warmup=1),
                          tmp_path / str(compile_), progress=False, compile=compile_)
        torch.manual_seed(1)
        losses.append([float(trainer.train_step(x, None)["loss"]) for _ in range(2)])
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-4, atol=1e-5)
