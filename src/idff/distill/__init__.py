"""A second stage that turns a trained flow into a one- or two-call generator
(docs/METHOD.md, "One and two calls: distilled students").

``idff.distill(teacher, out, method="reflow" | "x1head")`` writes an ordinary run folder
(the teacher's kind and network, its own stored samplers at NFE 1 and 2) and returns it as
a :class:`~idff.runs.Run`; ``idff distill`` is the same on the command line.
"""

from idff.distill.objective import DISTILL_METHODS, DistillObjective, grid_times

__all__ = ["distill", "DISTILL_METHODS", "DistillObjective", "grid_times"]


def distill(*args, **kwargs):
    """See :func:`idff.distill.student.distill`."""
    from idff.distill.student import distill as _distill

    return _distill(*args, **kwargs)
