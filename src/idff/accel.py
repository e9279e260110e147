"""Running a network faster without changing what it computes: ``torch.compile`` and the
``channels_last`` memory format (used by ``--compile`` on ``train``, ``generate`` and
``bench nfe``)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["channels_last_if_useful", "compile_network"]


def channels_last_if_useful(model: nn.Module, device: str | torch.device) -> nn.Module:
    """``model`` with its 4-D weights stored ``channels_last`` on CUDA (cuDNN's fast layout
    for convolutions under autocast); unchanged on other devices or without convolutions."""
    if torch.device(device).type == "cuda" and any(p.dim() == 4 for p in model.parameters()):
        return model.to(memory_format=torch.channels_last)
    return model


def compile_network(model: nn.Module, device: str | torch.device) -> nn.Module:
    """``torch.compile`` of ``model`` moved to ``device`` (``channels_last`` on CUDA).

    The compiled module shares its parameters with ``model``; the first calls (and each
    new input shape) take compile time.
    """
    model = channels_last_if_useful(model.to(device), device)
    return torch.compile(model)
