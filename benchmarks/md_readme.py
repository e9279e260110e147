"""The alanine-dipeptide results README from what ``idff md-benchmark`` wrote.

Reads ``RESULTS/metrics.json`` (every number and setting of the run) and writes
``RESULTS/README.md``: setup, the tables against the held-out reference, populations and
rates, Lorenz-63 and the timings.

    idff md-benchmark --out results/md
    python benchmarks/md_readme.py results/md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from idff.md.report import KINETIC_COLUMNS, LORENZ_COLUMNS, MD_COLUMNS, metric_table


def readme(m: dict[str, Any], results: str = "results/md") -> str:
    """The README text of one ``metrics.json`` (``results``: its folder, for the command)."""
    s = m["settings"]
    rows, lorenz_rows, timings = m["rows"], m.get("lorenz"), m["timings"]
    lag, history, steps, n_rollouts = m["lag"], m["history"], m["steps"], m["rollouts"]
    # files written before these keys existed: the split is n_traj - 2 / 1 / 1
    n_train = m.get("train_trajectories", s["n_traj"] - 2)
    frames = m.get("reference_frames", round(s["length_ns"] * 1000 / s["frame_ps"]))
    lines = [
        "# Alanine dipeptide: IDFF vs I-CFM vs the MD noise floor",
        "",
        "Numbers from `idff md-benchmark`, written up by `benchmarks/md_readme.py`. Reproduce "
        "with:",
        "",
        "```bash",
        m.get("command") or "idff md-benchmark",
        f"python benchmarks/md_readme.py {results}",
        "```",
        "",
        "## Setup",
        "",
        f"- Data: {s['n_traj']} independent OpenMM trajectories of {s['length_ns']:g} ns "
        f"(amber99sbildn + OBC implicit solvent, no cutoff, H-bond constraints, Langevin "
        f"{s['temperature_k']:g} K, {s['friction_per_ps']:g}/ps, "
        f"{s['timestep_fs']:g} fs, {s['platform']} platform), a frame every "
        f"{s['frame_ps']:g} ps; φ/ψ from mdtraj. {n_train} trajectories train, one "
        f"held-out run ({frames} frames) is the reference, a second held-out run is the noise "
        "floor.",
        f"- Model: frame k → frame k+τ with τ = {lag} frames ({lag * s['frame_ps']:g} ps), "
        f"states as (sin, cos) of φ, ψ; conditioned on the current frame and {history} earlier "
        "frame(s). The same MLP (3×256) for both methods, IDFF flow weight 2, "
        f"{steps} AdamW steps (batch 256, lr 1e-3, EMA 0.999). σ is the path noise in "
        "(sin, cos) units: IDFF σ_t = σ√(t(1−t)); I-CFM starts at x_k + σε.",
        f"- Sampling: {n_rollouts} rollouts from the reference's first frames, each as long as "
        "the reference, with the stated number of counted network evaluations per generated "
        "frame. IDFF: exact probability-flow drift plus diffusion γσ, γ = 1 "
        "(Euler–Maruyama; the deterministic ODE would make every rollout the same). "
        "I-CFM: midpoint. Metrics: mean ± sd over rollouts.",
        "- CC is the circular correlation; RMSE/MAE use wrapped differences (degrees); JS "
        "divergences (bits) of 36×36 Ramachandran and 72-bin 1D histograms; basins: "
        "C7ax/αL = 0° ≤ φ < 120°, else αR = −120° ≤ ψ < 50°, else C7eq/C5; rates count "
        "core-to-core transitions per ns spent in the source basin; τ = integrated "
        "autocorrelation time of e^{iθ}.",
        "",
        "## Against the held-out reference",
        "",
        metric_table(rows, MD_COLUMNS),
        "",
        "## Populations, rates, autocorrelation times",
        "",
        metric_table(rows, KINETIC_COLUMNS),
        "",
        "![Ramachandran](ramachandran.png)",
        "",
        "![torsions](torsions.png)",
        "",
    ]
    if lorenz_rows:
        lines += [
            "## Lorenz-63, same pipeline",
            "",
            "20,000 training states (dt = 0.02, standardised), 50 forecasts of 3 Lyapunov "
            "times (LT) from a held-out trajectory, and one free rollout of 5,000 steps whose "
            "invariant measure is compared with the held-out trajectory (floor: a second true "
            "trajectory). IDFF (σ = 0.1, ddim update) and CFM (σ = 0, midpoint) sampled "
            "deterministically. Error = "
            "RMS of the standardised state; valid time = lead time until it exceeds 0.5.",
            "",
            metric_table(lorenz_rows, LORENZ_COLUMNS),
            "",
            "![Lorenz](lorenz.png)",
            "",
        ]
    lines += ["## Timings (s, 2 shared CPU cores)", "",
              ", ".join(f"{k}: {v:.0f}" for k, v in timings.items()), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="?", default="results/md",
                    help="The --out folder of idff md-benchmark (default: results/md).")
    ap.add_argument("--out", type=Path, default=None,
                    help="README file to write (default: RESULTS/README.md).")
    args = ap.parse_args(argv)
    metrics = Path(args.results) / "metrics.json"
    if not metrics.is_file():
        ap.error(f"{metrics} does not exist; run idff md-benchmark --out {args.results} first.")
    text = readme(json.loads(metrics.read_text()), str(args.results))
    out = args.out or Path(args.results) / "README.md"
    out.write_text(text)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
