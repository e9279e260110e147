"""One and two network calls on Fashion-MNIST: the shipped batch-128 teachers (IDFF and
OT-CFM) distilled by x1head and by reflow on the same cached teacher pairs, scored by
FD-FMNIST-CNN against the teachers at NFE 100 and 4.

Three stages, each resumable (rerun the same command after an interruption):

    python benchmarks/fmnist_distill.py train   # 4 students; pairs made once per teacher
    python benchmarks/fmnist_distill.py eval    # idff bench nfe per student, --store
    python benchmarks/fmnist_distill.py table   # results/eval/fmnist_students.md and .png
    python benchmarks/fmnist_distill.py ship    # checkpoints/fashion_mnist/T-b128-student

``train`` makes each teacher T's 16,384 pairs once (its stored sampler at NFE 6) in
``runs/students/pairs-T``, then runs ``idff distill fashion_mnist/T-b128 --out
runs/students/T-M --method M --pairs 16384 --pair-nfe 6 --steps 800 --pairs-from
runs/students/pairs-T`` for each method M, so both methods train on the very same pairs. ``eval``
scores each student at NFE 1 and 2 with the protocol of the teachers' stored cells
(2000 samples, 500 per validation candidate, seed 0), choosing among Euler and midpoint on
the validation reference and storing the choice in the student, and the teacher's own
one call alike (IDFF: its x̂1 head at t = 0; OT-CFM: one Euler step). ``table`` sets them
beside the teachers' NFE-100 and NFE-4 cells, measured earlier with the same protocol.
``ship`` copies, for each teacher, the student with the lower validation FD at NFE 1
(weights, config and its stored samplers; not its pairs) to ``checkpoints/``, where
``idff.load("fashion_mnist/idff-b128-student")`` finds it. One torch thread throughout.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "results" / "eval"
CLASSIFIER = ROOT / "checkpoints" / "fashion_mnist" / "classifier" / "fmnist_cnn.pt"
CLASSIFIER_SHA = "461f769f7193fb4dbaa2bb43ddbeddff3498b9f5000ca4774c63ab6de80dedc5"
TEACHERS = {"idff": "fashion_mnist/idff-b128", "otcfm": "fashion_mnist/otcfm-b128"}
LABEL = {"idff": "IDFF", "otcfm": "OT-CFM"}
#: the teachers' cells, measured with the same protocol (docs/results/images.md)
TEACHER_CELLS = {"idff": {100: "fmnist_b128_s0_idff_100.csv", 4: "fmnist_fewstep_b128_s0_idff.csv",
                          2: "fmnist_fewstep_b128_s0_idff.csv"},
                 "otcfm": {100: "fmnist_b128_s0_otcfm_100.csv",
                           4: "fmnist_fewstep_b128_s0_otcfm.csv",
                           2: "fmnist_fewstep_b128_s0_otcfm.csv"}}
METHODS = ("x1head", "reflow")
#: the idff command of this interpreter's environment (on PATH or beside the interpreter)
IDFF = shutil.which("idff") or str(Path(sys.executable).with_name("idff"))
TARGET = {1: 1.3, 2: 1.1}


def student_dir(runs: Path, teacher: str, method: str) -> Path:
    return runs / f"{teacher}-{method}"


def train(args) -> None:
    import idff
    from idff.distill.pairs import make_pairs

    for teacher, name in TEACHERS.items():
        source = args.runs / f"pairs-{teacher}"
        make_pairs(idff.load(name), source, args.pairs, args.pair_nfe, None, 0, echo=print)
        for method in METHODS:
            out = student_dir(args.runs, teacher, method)
            idff.distill(name, out, method, pairs=args.pairs, pair_nfe=args.pair_nfe,
                         steps=args.steps, seed=0, resume=(out / "config.json").is_file(),
                         pairs_from=source,
                         echo=lambda line, o=out: print(f"{o.name}: {line}", flush=True))


def _bench(run: str, label: str, x1_field: bool, out: str, store: bool) -> None:
    """``idff bench nfe`` at NFE 1 and 2 with the teachers' protocol (Euler or midpoint,
    chosen on the validation reference)."""
    cmd = [IDFF, "bench", "nfe", run, "--run-label", label, "--nfe", "1,2",
           "--solvers", "euler,midpoint", "--n-eval", "2000", "--n-val", "500",
           "--features", "classifier", "--classifier", str(CLASSIFIER),
           "--classifier-sha256", CLASSIFIER_SHA, "--threads", "1", "--out", str(EVAL / out)]
    if x1_field:  # the score-free ODE whose one Euler step from t = 0 is x̂1(0, x0)
        cmd += ["--field", "x1", "--gammas", "0"]
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd + (["--store"] if store else []), check=True)


def evaluate(args) -> None:
    for teacher in args.teachers:
        # the teacher's own one call: IDFF's x̂1 head at t = 0, one Euler step of OT-CFM
        _bench(TEACHERS[teacher], f"{LABEL[teacher]} teacher", teacher == "idff",
               f"fmnist_teacher_{teacher}_few", store=False)
        for method in METHODS:
            _bench(str(student_dir(args.runs, teacher, method)),
                   f"{LABEL[teacher]} {method}", teacher == "idff",
                   f"fmnist_student_{teacher}_{method}", store=True)


def _cells(path: Path) -> dict[int, dict[str, str]]:
    with open(path, newline="") as f:
        return {int(r["nfe_budget"]): r for r in csv.DictReader(f) if r["nfe_budget"].isdigit()}


def _fmt(r: dict[str, str]) -> str:
    return (f"{float(r['value']):.1f} [{float(r['FD-FMNIST-CNN_lo']):.1f}, "
            f"{float(r['FD-FMNIST-CNN_hi']):.1f}]")


def table(args) -> None:
    lines = ["| teacher | sampler | NFE 1 | NFE 2 | NFE 4 | NFE 100 | NFE 1 / teacher NFE 100 "
             "| NFE 2 / teacher NFE 100 | precision / recall at NFE 1 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    costs = []
    for teacher in TEACHERS:
        ref = {n: _cells(EVAL / f)[n] for n, f in TEACHER_CELLS[teacher].items()}
        base = float(ref[100]["value"])
        one = _cells(EVAL / f"fmnist_teacher_{teacher}_few.csv")[1]
        lines.append(f"| {LABEL[teacher]} | teacher ({one['noise']} at NFE 1; stored samplers) | "
                     f"{_fmt(one)} | {_fmt(ref[2])} | "
                     f"{_fmt(ref[4])} | {_fmt(ref[100])} | | {float(ref[2]['value']) / base:.2f} "
                     "| |")
        for method in METHODS:
            rows = _cells(EVAL / f"fmnist_student_{teacher}_{method}.csv")
            r1, r2 = rows[1], rows[2]
            ratio = [float(r["value"]) / base for r in (r1, r2)]
            met = ["met" if q <= TARGET[n] else "not met" for n, q in zip((1, 2), ratio)]
            lines.append(f"| {LABEL[teacher]} | {method} student ({r1['noise']}; {r2['noise']}) | "
                         f"{_fmt(r1)} | {_fmt(r2)} | | | {ratio[0]:.2f} ({met[0]}) | "
                         f"{ratio[1]:.2f} ({met[1]}) | {float(r1['precision']):.2f} / "
                         f"{float(r1['recall']):.2f} |")
            c = json.loads((student_dir(args.runs, teacher, method) / "costs.json").read_text())
            costs.append(f"| {LABEL[teacher]} | {method} | {c['teacher_evals']:,} | "
                         f"{c['student_steps']:,} ({c['step_share']:.0%}) | "
                         f"{c['seconds_train'] / 60:.0f} |")
    text = "\n".join(lines + ["", "| teacher | method | teacher calls for the pairs | student "
                              "steps (share of the teacher's) | training minutes |",
                              "|---|---|---:|---:|---:|", *costs]) + "\n"
    (EVAL / "fmnist_students.md").write_text(text)
    print(text)
    figure(args.runs, EVAL / "fmnist_students.png")


def figure(runs: Path, path: Path, n: int = 8) -> None:
    """One row per sampler, the same 8 noises in every row."""
    import idff

    x0 = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    rows, names = [], []
    for teacher, name in TEACHERS.items():
        t = idff.load(name)
        rows += [t.sample(n, x0=x0, nfe=100, solver="midpoint", seed=0, threads=1).x,
                 t.sample(n, x0=x0, nfe=2, seed=0, threads=1).x]
        names += [f"{LABEL[teacher]} teacher NFE 100", f"{LABEL[teacher]} teacher NFE 2"]
        for method in METHODS:
            s = idff.load(student_dir(runs, teacher, method))
            for k in (1, 2):
                rows.append(s.sample(n, x0=x0, nfe=k, seed=0, threads=1).x)
                names.append(f"{LABEL[teacher]} {method} NFE {k}")
    idff.save_grid(torch.cat(rows), path, nrow=n)
    path.with_suffix(".txt").write_text("rows, top to bottom:\n" + "\n".join(names) + "\n")


def _val_fd(teacher: str, method: str, nfe: int) -> float:
    """The best validation FD of the student's candidates at ``nfe``."""
    path = EVAL / f"fmnist_student_{teacher}_{method}.val.csv"
    with open(path, newline="") as f:
        vals = [float(r["val_FD-FMNIST-CNN"]) for r in csv.DictReader(f)
                if r["nfe_budget"] == str(nfe) and r["val_FD-FMNIST-CNN"]]
    return min(vals)


def ship(args) -> None:
    import idff

    for teacher, name in TEACHERS.items():
        best = min(METHODS, key=lambda m: _val_fd(teacher, m, 1))
        dest = Path.cwd() / "checkpoints" / f"{name}-student"
        if dest.exists():
            print(f"{dest} is shipped already ({best} is the choice); remove it to ship again.")
            continue
        student = idff.load(student_dir(args.runs, teacher, best))
        cfg = student.config
        cfg["distill"]["teacher"].update(run=name, name=name)  # found by name, not by path
        cfg["init_from"] = {**cfg["init_from"], "run": name}
        student.save(dest)
        print(f"shipped {best} student of {name} to {dest} "
              f"(validation FD at NFE 1: {_val_fd(teacher, best, 1):.1f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["train", "eval", "table", "ship"])
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "students")
    ap.add_argument("--pairs", type=int, default=16384)
    ap.add_argument("--pair-nfe", type=int, default=6)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--teachers", type=lambda s: s.split(","), default=list(TEACHERS),
                    help="eval: the teachers whose students to score (e.g. idff; two "
                         "processes can split the work).")
    args = ap.parse_args()
    torch.set_num_threads(1)
    {"train": train, "eval": evaluate, "table": table, "ship": ship}[args.stage](args)


if __name__ == "__main__":
    sys.exit(main())
