"""Checks of loaded weights and resume states that a shape check cannot see.

A network whose weights hold NaN or inf samples NaN (black images, NaN arrays) without any
error, and a resume state with a negative step would restart the learning-rate schedule
and the step count in the past; both are refused when the file is loaded.
"""

from __future__ import annotations

from typing import Any

import torch

from idff.errors import UserError

__all__ = ["check_finite_weights", "check_state_step"]


def check_finite_weights(state: dict[str, Any], source: str) -> None:
    """Refuse a state dict with a NaN or infinite entry in a floating-point tensor.

    Raises:
        UserError: naming ``source``, how many tensors are affected and the first of them.
    """
    bad = [k for k, v in state.items()
           if torch.is_tensor(v) and (v.is_floating_point() or v.is_complex())
           and not bool(torch.isfinite(v).all())]
    if bad:
        first = bad[0]
        kind = "NaN" if bool(torch.isnan(state[first]).any()) else "infinite"
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise UserError(f"{source} holds non-finite weights ({kind} values in {first}{more}); "
                        "the training that wrote them diverged, so every sample would be NaN. "
                        "Use an earlier checkpoint, or retrain (a lower learning rate or "
                        "grad_clip keeps training finite).")


def check_state_step(step: Any, source: str) -> int:
    """The step of a resume state, refused unless it is an integer >= 0.

    Raises:
        UserError: naming ``source`` and the value found.
    """
    if torch.is_tensor(step) and step.numel() == 1 and not step.is_floating_point():
        step = int(step)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise UserError(f"{source} records step {step!r}, not an integer >= 0: the file is "
                        "damaged or was not written by idff. Resume from an earlier copy, or "
                        "remove state.pt to keep only the snapshot (training then starts "
                        "again from step 0).")
    return step
