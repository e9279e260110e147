"""A lower bound of the memory one training step of a small (MLP) network needs.

A batch far beyond the machine's memory would otherwise be killed by the kernel with
nothing printed, after the run folder was claimed; it is refused in one line up front.
"""

from __future__ import annotations

import os
from typing import Any

from idff.errors import UserError

__all__ = ["step_bytes", "check_step_memory"]


def step_bytes(config: dict[str, Any]) -> float:
    """Bytes one step of an MLP run holds at least: activations and their gradients
    (float32), and the ``B × B`` float64 cost matrix of the exact OT coupling."""
    model, objective = config.get("model", {}), config.get("objective", {})
    b = int(config.get("data", {}).get("batch_size", 0))
    dim, hidden = int(model.get("dim", 2)), int(model.get("hidden", 256))
    depth = int(model.get("depth", 3))
    total = 4.0 * b * (6 * dim + 4 * hidden * depth)
    if objective.get("coupling") == "ot":
        total += 8.0 * b * b
    return total


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_step_memory(config: dict[str, Any]) -> None:
    """Refuse a batch whose training step alone would not fit in this machine's memory.

    Raises:
        UserError: naming the batch size, the estimate and the memory there is.
    """
    if config.get("model", {}).get("backbone") != "mlp":
        return
    need, total = step_bytes(config), physical_memory()
    if total is None or need <= total:
        return
    b = int(config["data"]["batch_size"])
    ot = " and its B×B OT plan" if config.get("objective", {}).get("coupling") == "ot" else ""
    what = (f"needs at least {need / 2**30:,.0f} GiB for one training step (activations, "
            f"gradients{ot}), more than this machine's {total / 2**30:,.0f} GiB")
    raise UserError(f"batch_size={b:,} {what}; lower batch_size.",
                    cli=f"--batch-size {b:,} {what}; lower --batch-size.")
