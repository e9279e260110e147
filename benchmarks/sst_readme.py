"""The SST results README from what ``idff sst-demo`` wrote.

Reads ``RESULTS/setup.json`` (data, split, budget and command) and ``RESULTS/table.md``
(the scores) and writes ``RESULTS/README.md``.

    idff sst-demo --results results/sst
    python benchmarks/sst_readme.py results/sst
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def readme(setup: dict[str, Any], table: str, results: str = "results/sst") -> str:
    """The README text of one ``setup.json`` and its ``table.md``."""
    s = setup
    horizon, nfe = s["horizon"], s["nfe_per_lead"]
    return f"""# SST forecasting: pipeline demonstration on the eofs SST anomalies

Data: NOAA SST anomalies shipped in the `eofs` package (`sst_ndjfm_anom.nc`): one
November–March mean anomaly field per winter, {s['winters']} winters
({s['first_year']}–{s['last_year']}), {s['grid'][0]}×{s['grid'][1]} grid (5°, tropical
and North Pacific), {s['land_cells']} land cells masked. Train: winters up to
{s['last_train_year']}; test: winters from {s['first_test_year']}.
A forecast starts at the last observed winter and rolls out {horizon} winters; starts are
the {s['starts']} winters whose {horizon} targets are all test winters. Scores are averaged
over leads 1–{horizon}, over ocean cells, in the data's units (anomaly, K). This is a
demonstration that the pipeline runs end to end on real SST data on a CPU, not the
paper's OISSTv2 benchmark: the "time step" here is one year, and the training set has only
{s['train_pairs']} consecutive pairs.

Command:

    {s['command'] or 'idff sst-demo'}
    python benchmarks/sst_readme.py {results}

{table.strip()}

- IDFF: x0 = previous winter, x1 = next winter; conditioned on the previous winter, the
  last observed winter and the lead; σ = 0.2, flow weight 2; ensembles from the
  marginal-preserving SDE (`pf` field, γ = 1), Euler–Maruyama with {nfe} steps
  per lead.
- OT-CFM: same UNet and conditioning, Gaussian noise → next winter with exact minibatch OT
  pairing, Euler with {nfe} steps per lead, members from the noise.
- Persistence: the last observed winter (one member; CRPS = MAE, no spread).
- Climatology: the training winters as members (spread-skill near 1 by construction).
- NFE is counted by wrapping the network; s / forecast is the wall time of one
  {s['members']}-member, {horizon}-lead forecast on this shared 2-core machine.

Per-lead scores: `per_lead.csv`; all numbers: `metrics.json`; figure: `forecast.png`
(truth, ensemble means and one IDFF member per lead, for the first test start).
"""


#: everything from this line on in an existing README is kept: notes written by hand
NOTES = "<!-- notes below are written by hand; benchmarks/sst_readme.py keeps them -->"


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="?", default="results/sst",
                    help="The --results folder of idff sst-demo (default: results/sst).")
    ap.add_argument("--out", type=Path, default=None,
                    help="README file to write (default: RESULTS/README.md).")
    args = ap.parse_args(argv)
    folder = Path(args.results)
    missing = [n for n in ("setup.json", "table.md") if not (folder / n).is_file()]
    if missing:
        ap.error(f"{folder} lacks {', '.join(missing)}; run idff sst-demo --results {folder} "
                 "first.")
    text = readme(json.loads((folder / "setup.json").read_text()),
                  (folder / "table.md").read_text(), str(args.results))
    out = args.out or folder / "README.md"
    old = out.read_text() if out.is_file() else ""
    if NOTES in old:  # the notes written by hand below the mark are kept
        text = text.rstrip("\n") + "\n\n" + old[old.index(NOTES):]
    out.write_text(text)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
