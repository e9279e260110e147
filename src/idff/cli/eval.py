"""CLI for evaluation: ``idff fid``, ``idff train-classifier``, ``idff nll``, ``idff bench nfe``."""

from __future__ import annotations

import click


def _fail(e: Exception) -> None:
    raise click.ClickException(str(e)) from e


def register(cli: click.Group, train: click.Group) -> None:
    cli.add_command(train_classifier_cmd)


@click.command("train-classifier")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder with the Fashion-MNIST IDX files (default: $IDFF_FASHION_MNIST or "
                   "/usr/share/datasets/fashion-mnist).")
@click.option("--out", type=click.Path(dir_okay=False), default="cache/eval/fmnist_cnn.pt",
              help="Weights file (a .json sidecar records its SHA-256 and accuracy).")
@click.option("--epochs", type=int, default=4)
@click.option("--batch-size", type=int, default=128)
@click.option("--lr", type=float, default=2e-3)
@click.option("--max-minutes", type=float, default=10.0,
              help="Stop after the epoch that passes this.")
@click.option("--seed", type=int, default=0)
@click.option("--threads", type=int, default=1, help="torch CPU threads.")
def train_classifier_cmd(data_root, out, epochs, batch_size, lr, max_minutes, seed, threads):
    """Train the Fashion-MNIST CNN whose features define the FD-FMNIST-CNN distance."""
    import torch

    from idff.eval.classifier import (
        ClassifierTrainConfig,
        accuracy,
        save_classifier,
        train_classifier,
        train_config_dict,
    )
    from idff.eval.idx import find_fashion_mnist, load_fashion_mnist

    torch.set_num_threads(threads)
    try:
        folder = find_fashion_mnist(data_root)
        xtr, ytr = load_fashion_mnist("train", folder)
        xte, yte = load_fashion_mnist("test", folder)
    except (FileNotFoundError, ValueError) as e:
        _fail(e)
    cfg = ClassifierTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                max_minutes=max_minutes)
    model, log = train_classifier(xtr, ytr, cfg)
    acc = accuracy(model, xte, yte)
    meta = {"test_accuracy": acc, "train": train_config_dict(cfg), "log": log,
            "data": {"root": str(folder), "train": len(ytr), "test": len(yte)}}
    digest = save_classifier(model, out, meta)
    click.echo(f"test accuracy {acc:.4f} (10k test images), {log['epochs_run']} epochs, "
               f"{log['seconds']:.0f}s; wrote {out} sha256={digest}")
