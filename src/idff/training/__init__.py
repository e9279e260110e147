"""Training: one loop for toys, images and time series, with EMA and resumable checkpoints."""

from idff.training.checkpoint import atomic_save, load_run, save_snapshot
from idff.training.config import TrainConfig
from idff.training.trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "atomic_save", "load_run", "save_snapshot"]
