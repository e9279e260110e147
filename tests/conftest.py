import pytest
import torch


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A small trained IDFF toy run (moons, 20 steps); modules may define their own."""
    from idff.toy.config import toy_run_config
    from idff.toy.train import train_toy
    from idff.training import TrainConfig

    run = tmp_path_factory.mktemp("toy") / "idff"
    cfg = toy_run_config("idff", "moons", hidden=32, depth=2, batch_size=64)
    train_toy(cfg, run, TrainConfig(steps=20, lr=1e-3, warmup=5, ema_decay=0.9, ckpt_every=20),
              progress=False)
    return run
