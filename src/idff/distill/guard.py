"""Which budgets a distilled student can honour (read by :meth:`idff.runs.Run.sample`).

A ``reflow`` student is a straightened flow: any fixed-step budget samples it. An
``x1head`` student was trained only at the times of its stored samplers (``k/N`` for its
budgets ``N``), so another budget, or an adaptive solver, would evaluate it where it never
learned anything; that is refused, naming the budgets it has.
"""

from __future__ import annotations

from typing import Any

from idff.errors import ConfigError

__all__ = ["student_budgets", "check_student_nfe"]


def student_budgets(config: dict[str, Any]) -> tuple[int, ...] | None:
    """The only budgets the run can honour, or ``None`` when any budget will do."""
    record = config.get("distill")
    if not isinstance(record, dict) or record.get("method") != "x1head":
        return None
    return tuple(int(n) for n in record.get("nfe", (1,)))


def check_student_nfe(config: dict[str, Any], nfe: int | None, solver: str | None,
                      adaptive: bool = False) -> None:
    """Refuse a budget (or an adaptive solver) an ``x1head`` student cannot honour.

    Raises:
        ConfigError: naming the budgets it has and its teacher (for more calls).
    """
    have = student_budgets(config)
    if have is None:
        return
    teacher = (config.get("distill") or {}).get("teacher", {}).get("run", "its teacher")
    listed = " or ".join(str(n) for n in have)
    if adaptive or nfe is None:
        raise ConfigError(
            f"this student (distilled by x1head) samples in {listed} calls at fixed times; "
            f"the adaptive solver {solver!r} cannot honour that. Give nfe={have[0]} without a "
            f"solver, or sample its teacher {teacher} adaptively.",
            cli=f"this student (distilled by x1head) samples in {listed} calls at fixed times; "
                f"the adaptive solver {solver!r} cannot honour that. Give --nfe {have[0]} "
                f"without --solver, or sample its teacher {teacher} adaptively.")
    if nfe not in have:
        raise ConfigError(
            f"this student (distilled by x1head) was trained for {listed} network calls, not "
            f"nfe={nfe}; ask for nfe={listed.replace(' or ', ' or nfe=')}, or sample its "
            f"teacher {teacher} for more calls (a reflow student takes any budget).",
            cli=f"this student (distilled by x1head) was trained for {listed} network calls, "
                f"not --nfe {nfe}; give --nfe {listed.replace(' or ', ' or --nfe ')}, or sample "
                f"its teacher {teacher} for more calls (a reflow student takes any budget).")
