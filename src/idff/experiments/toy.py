"""Moved to idff.toy; this path stays for one release."""

from idff.toy.config import METHOD_DEFAULTS, toy_run_config
from idff.toy.evaluate import EvalRow, evaluate_nfe, true_floor
from idff.toy.kind import KIND, TOY_DATA_KEYS, TOY_KEYS, load_toy_model
from idff.toy.sample import sample_model
from idff.toy.train import ToyStream, train_toy

__all__ = ["METHOD_DEFAULTS", "toy_run_config", "train_toy", "load_toy_model", "sample_model",
           "evaluate_nfe", "true_floor", "ToyStream", "EvalRow", "TOY_KEYS", "TOY_DATA_KEYS",
           "KIND"]
