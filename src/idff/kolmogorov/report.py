"""Tables and figures of Kolmogorov-flow forecasts: per-lead score tables, the validation
choice of sampler, long free rollouts, and the score, calibration, field and rollout
figures. Shared by ``idff forecast RUN`` and ``idff kolmogorov-benchmark``
(:mod:`idff.kolmogorov.benchmark`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from idff.io import atomic_savefig
from idff.kolmogorov.scores import SPECTRUM_LEADS

__all__ = ["tables", "selection_table", "long_table", "plot_scores", "plot_calibration",
           "plot_fields", "plot_long"]


#: leads shown in the README tables (T = 0.2, 0.4, 1.0, 2.0, 3.2 for frames every 0.2)
TABLE_LEADS = (1, 2, 5, 10, 16)


def selection_table(scores: dict[str, dict[str, Any]]) -> str:
    """Markdown: the validation candidates of every forecaster that chose its sampling."""
    rows = [(name, s["selection"]) for name, s in scores.items() if "selection" in s]
    if not rows:
        return ""
    lo, hi = rows[0][1]["band"]
    out = [f"**sampler chosen on the validation trajectories** (calibrated: spread-skill in "
           f"[{lo}, {hi}] at every lead; then the lowest mean CRPS)", "",
           "| forecaster | grid | spread-skill (min–max) | mean CRPS | calibrated | chosen |",
           "|---|---|---:|---:|:---:|:---:|"]
    for name, sel in rows:
        for label, c in sel["candidates"].items():
            out.append(f"| {name} | {label} | {c['ssr_min']:.2f}–{c['ssr_max']:.2f} | "
                       f"{c['crps_mean']:.3f} | {'yes' if c['calibrated'] else 'no'} | "
                       f"{'**yes**' if label == sel['chosen'] else ''} |")
    return "\n".join(out) + "\n"


def tables(scores: dict[str, dict[str, Any]], frame_dt: float,
           leads: tuple[int, ...] = TABLE_LEADS) -> str:
    """Markdown tables of CRPS, ensemble-mean RMSE and spread-skill at ``leads``, and the
    time the ensemble-mean correlation stays ≥ 0.8."""
    horizon = min(len(s["per_lead"]) for s in scores.values())
    leads = tuple(k for k in leads if k <= horizon)
    head = "| forecaster | " + " | ".join(f"T = {k * frame_dt:.1f}" for k in leads) + " |"
    sep = "|---|" + "---:|" * len(leads)
    out = []
    members = max(s["members"] for s in scores.values())
    for key, title, fmt in (("crps", "CRPS (data sd units)", "{:.3f}"),
                            ("rmse", "ensemble-mean RMSE (data sd units)", "{:.3f}"),
                            ("ssr", "spread-skill ratio", "{:.2f}"),
                            ("outside", "truth outside the ensemble (fraction of cells; "
                                        f"calibrated {members} members: "
                                        f"{2 / (members + 1):.2f})", "{:.2f}")):
        out += [f"**{title}**", "", head, sep]
        for name, s in scores.items():
            vals = [s["per_lead"][k - 1].get(key, float("nan")) for k in leads]
            if key in ("ssr", "outside") and s["members"] == 1:
                cells = ["–"] * len(leads)
            else:
                cells = [fmt.format(v) for v in vals]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    out += ["| forecaster | members | NFE / lead | correlation ≥ 0.8 until | s / forecast | "
            "train steps | train min |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in scores.items():
        t = s.get("train", {})
        until = (f"≥ {s['corr_time']:.1f}" if s["corr_never_below"] else f"{s['corr_time']:.1f}")
        out.append(f"| {name} | {s['members']} | {s['nfe_per_lead']} | {until} | "
                   f"{s['seconds_per_forecast']:.2f} | {t.get('steps', '–')} | "
                   + (f"{t['minutes']:.1f}" if "minutes" in t else "–") + " |")
    return "\n".join(out) + "\n"


def long_table(long: dict[str, dict[str, Any]]) -> str:
    """Markdown: the long free rollouts' statistics against the test set, per window."""
    out = ["**long free rollouts against the test set's statistics** (enstrophy ratio: 1 is "
           "right; spectrum: mean |log E(k)/E_test(k)|, k ≤ 10; W1: of the cell values, "
           "data sd units; `truth`: the true continuations, the sampling floor)", "",
           "| forecaster | T | enstrophy ratio | spectrum log-error | W1 |",
           "|---|---|---:|---:|---:|"]
    for name, s in long.items():
        if "diverged" in s:
            out.append(f"| {name} | – | diverged | – | – |")
            continue
        for w in s["windows"]:
            t0, t1 = w["time"]
            out.append(f"| {name} | {t0:g}–{t1:g} | {w['enstrophy_ratio']:.2f} | "
                       f"{w['spectrum_log_error']:.2f} | {w['w1']:.3f} |")
    return "\n".join(out) + "\n"


def plot_long(long: dict[str, dict[str, Any]], frame_dt: float, path: str | Path) -> None:
    """Enstrophy ratio against time and the last window's energy spectra, per forecaster."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ref = None
    for name, s in long.items():
        if "diverged" in s:
            continue
        z = np.asarray(s["enstrophy"])
        style = {"color": "k", "lw": 2} if name == "truth" else {}
        a1.plot(frame_dt * np.arange(1, len(z) + 1), z, label=name, **style)
        e = np.asarray(s["spectrum"])
        a2.loglog(np.arange(1, len(e)), e[1:], label=name, **style)
        ref = np.asarray(s["spectrum_reference"])
    if ref is not None:
        a2.loglog(np.arange(1, len(ref)), ref[1:], "k--", lw=1, label="test set")
    a1.axhline(1.0, color="k", lw=0.5)
    a1.set(xlabel="time", ylabel="enstrophy / test set's", title="free rollouts")
    a2.set(xlabel="wavenumber k", ylabel="E(k)", title="energy spectrum, last window")
    a1.legend(fontsize=7)
    a2.legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def plot_scores(scores: dict[str, dict[str, Any]], path: str | Path) -> None:
    """CRPS, RMSE and spread-skill ratio against lead time, one line per forecaster."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for i, (name, s) in enumerate(scores.items()):
        t = [r["time"] for r in s["per_lead"]]
        for ax, key in zip(axes, ("crps", "rmse", "ssr")):
            if key == "ssr" and s["members"] == 1:
                continue  # no spread; the colour stays with the forecaster
            ax.plot(t, [r[key] for r in s["per_lead"]], marker=".", label=name, color=f"C{i}")
    for ax, title in zip(axes, ("CRPS", "ensemble-mean RMSE", "spread-skill ratio")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("lead time")
    axes[2].axhline(1.0, color="k", lw=0.6, ls="--")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def plot_calibration(scores: dict[str, dict[str, Any]], frame_dt: float,
                     path: str | Path) -> None:
    """Top: rank histograms (frequency × (M + 1): 1 is flat, calibrated) of every ensemble
    forecaster; bottom: energy spectra of its members against the truth's, at
    :data:`SPECTRUM_LEADS`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    leads = [k for k in SPECTRUM_LEADS
             if any(str(k) in s.get("spectra", {}) for s in scores.values())]
    if not leads:
        return
    fig, axes = plt.subplots(2, len(leads), figsize=(3.6 * len(leads), 6.2), squeeze=False)
    for j, k in enumerate(leads):
        top, bottom = axes[0, j], axes[1, j]
        truth_drawn = False
        for i, (name, s) in enumerate(scores.items()):
            row = s["per_lead"][k - 1] if len(s["per_lead"]) >= k else {}
            if row.get("ranks"):
                h = np.asarray(row["ranks"]) * len(row["ranks"])
                top.plot(np.linspace(0, 1, len(h)), h, marker=".", color=f"C{i}", label=name)
            spec = s.get("spectra", {}).get(str(k))
            if spec:
                kk = np.arange(1, len(spec["members"]))
                if not truth_drawn:
                    bottom.loglog(kk, spec["truth"][1:], color="k", lw=2, label="truth")
                    truth_drawn = True
                bottom.loglog(kk, spec["members"][1:], color=f"C{i}", label=name)
        top.axhline(1.0, color="k", lw=0.6, ls="--")
        top.set_title(f"rank histogram, T = {k * frame_dt:.1f}", fontsize=9)
        top.set_xlabel("rank of the truth / M")
        bottom.set_title(f"energy spectrum, T = {k * frame_dt:.1f}", fontsize=9)
        bottom.set_xlabel("wavenumber k")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def plot_fields(fields: dict[str, np.ndarray], frame_dt: float, path: str | Path,
                leads: tuple[int, ...] = (1, 5, 10, 16)) -> None:
    """Rows of vorticity fields (truth, ensemble means, members) at a few leads.

    Args:
        fields: row name -> ``(K, H, W)`` fields of one forecast.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k_max = min(f.shape[0] for f in fields.values())
    leads = tuple(k for k in leads if k <= k_max)
    vmax = float(np.abs(fields["truth"]).max())
    fig, axes = plt.subplots(len(fields), len(leads), squeeze=False,
                             figsize=(1.9 * len(leads) + 0.8, 1.8 * len(fields)),
                             constrained_layout=True)
    for i, (name, f) in enumerate(fields.items()):
        for j, k in enumerate(leads):
            ax = axes[i, j]
            im = ax.imshow(f[k - 1], origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"T = {k * frame_dt:.1f}", fontsize=8)
            if j == 0:
                ax.set_ylabel(name, fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.7, label="vorticity (data sd)")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
