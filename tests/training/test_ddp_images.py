"""Two-process DDP (gloo, CPU) through the same code path as single-process training."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from idff.images.config import image_run_config, per_rank_batch
from tests.images.test_common import tiny, write_folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, cfg: dict, run_dir: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from idff.images.train import train_images

    trainer = train_images(cfg, run_dir, progress=False)
    torch.save({"model": trainer.model.state_dict(), "ema": trainer.ema.module.state_dict(),
                "step": trainer.step, "world": trainer.dist.world_size},
               os.path.join(out, f"rank{rank}.pt"))
    trainer.dist.close()


@pytest.mark.slow
def test_two_gloo_processes_keep_identical_replicas(tmp_path):
    root = write_folder(tmp_path / "imgs", n=12)
    cfg = image_run_config("celeba64", tiny(8) + ["data.dataset=folder", "train.steps=3"],
                           str(root))
    run_dir = tmp_path / "run"
    mp.spawn(_worker, args=(2, _free_port(), cfg, str(run_dir), str(tmp_path)), nprocs=2,
             join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["step"] == r1["step"] == 3 and r0["world"] == 2
    for key in ("model", "ema"):
        for name, value in r0[key].items():
            torch.testing.assert_close(r1[key][name], value, rtol=0, atol=0)
    torch.manual_seed(0)  # rank 0 seed: DDP broadcasts its initial weights
    from idff.models import build_model

    init = build_model(cfg["model"]).state_dict()
    assert any(not torch.equal(init[k], r0["model"][k]) for k in init)
    from idff.training.checkpoint import load_run

    _, weights, step = load_run(run_dir)
    assert step == 3 and (run_dir / "log.jsonl").is_file()
    for name, value in weights.items():
        torch.testing.assert_close(value, r0["ema"][name], rtol=0, atol=0)


def test_global_batch_must_split_over_processes():
    cfg = image_run_config("cifar10", ["train.batch_size=6", "train.grad_accum=2"])
    assert per_rank_batch(cfg, 1) == 3
    with pytest.raises(ValueError, match="not divisible by processes × grad_accum = 2 × 2"):
        per_rank_batch(cfg, 2)
