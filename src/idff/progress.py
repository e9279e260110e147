"""Progress bars for loops a user waits on (sampling, likelihood): tqdm, shown after 2 s."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

__all__ = ["progress_bar", "ProgressField"]

_COUNTED = ("drift", "endpoint", "ddim_step")


def progress_bar(total: int | None, desc: str, unit: str = "NFE", enable: bool = True) -> tqdm:
    """A tqdm bar that appears only when the loop takes more than two seconds."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not enable, delay=2.0,
                dynamic_ncols=True, leave=False)


class ProgressField:
    """A field that advances ``bar`` by each network evaluation it makes.

    Everything else (``diffusion``, ``singular_at_one``, ``nfe``, ...) is the wrapped
    field's, so :func:`idff.sampler.integrate` sees the same field and counts the same NFE.
    """

    def __init__(self, field: Any, bar: tqdm):
        self._field, self._bar, self._seen = field, bar, 0

    def _tick(self) -> None:
        n = self._field.nfe
        if n > self._seen:
            self._bar.update(n - self._seen)
        self._seen = n

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._field, name)
        if name == "reset":
            def reset(*a, **k):
                self._seen = 0
                return attr(*a, **k)

            return reset
        if name in _COUNTED:
            def counted(*a, **k):
                out = attr(*a, **k)
                self._tick()
                return out

            return counted
        return attr
