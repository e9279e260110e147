"""Copy a trained run's EMA snapshot and config into a small shippable folder, with the
sampling settings that the benchmark chose on the validation reference at a given NFE as
the folder's defaults (``config.json`` → ``sample``), so that

    idff sample checkpoints/fashion_mnist/idff --nfe 10 --n 64 --out grid.png

samples the way the benchmark scored it.

    python benchmarks/ship_checkpoint.py runs/fmnist-idff checkpoints/fashion_mnist/idff \
        --bench results/eval/fmnist_idff.csv --nfe 10
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from idff.eval.bench import read_csv
from idff.run_config import upgrade_config


def chosen_sampling(bench_csv: Path, nfe: int) -> dict:
    """``{"solver": ..., "gamma"/"s": ...}`` of the candidate chosen at budget ``nfe``."""
    rows = [r for r in read_csv(bench_csv) if r.nfe_budget == str(nfe)]
    if not rows:
        raise SystemExit(f"{bench_csv} has no row for NFE {nfe}.")
    noise = rows[0].noise
    out: dict = {"nfe": nfe}
    for part in noise.split():
        if "=" in part:
            k, v = part.split("=")
            out[k] = float(v)
        elif part != "-":
            out["solver"] = part
    if "s" in out:
        out["field"] = "published"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--bench", type=Path, required=True, help="the run's benchmark CSV")
    ap.add_argument("--nfe", type=int, default=10)
    args = ap.parse_args()
    cfg = upgrade_config(json.loads((args.run / "config.json").read_text()))
    cfg.setdefault("sampling", {}).update(chosen_sampling(args.bench, args.nfe))
    args.out.mkdir(parents=True, exist_ok=True)
    snaps = [p for p in args.run.iterdir() if p.name.startswith("snapshot.")]
    if not snaps:
        raise SystemExit(f"{args.run} has no snapshot file.")
    for p in snaps:
        shutil.copy2(p, args.out / p.name)
    (args.out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    print(f"wrote {args.out}: {', '.join(p.name for p in snaps)}, config.json "
          f"(sampling: {cfg['sampling']})")


if __name__ == "__main__":
    main()
