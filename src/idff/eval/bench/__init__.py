"""Quality versus NFE for IDFF, OT-CFM and I-CFM runs, with sampling time and a fair noise choice.

A benchmark entry is a method's trained run seen through *samplers*: callables

    sampler(n, nfe, solver, seed) -> samples (N, ...) or a SampleResult

(``nfe=None`` with an adaptive ``solver`` such as ``"dopri5"``; ``solver=None`` means the
run's default fixed-step solver). An entry holds one sampler per sampling-noise candidate
(e.g. IDFF's ``γ ∈ {0, 0.5, 1}``); at each NFE budget the candidate with the best quality on
the **validation** reference is chosen, and only that one is scored on the **evaluation**
reference, with fresh seeds. Candidates may also differ in solver and time grid
(:func:`entry_from_run` with ``solvers`` and ``grids``). Quality is a :class:`Quality`
(MMD/W2 for vectors, a Fréchet distance in classifier or Inception features for images).

Run directories of every kind are adapted alike: :func:`idff.load` rebuilds the run and its
kind's ``sample`` (registered with :func:`idff.runs.register_kind`, looked up by
:func:`idff.runs.get_kind`) draws the samples.

- :mod:`idff.eval.bench.records`: :class:`BenchEntry`, :class:`BenchRow`, the sampler type;
- :mod:`idff.eval.bench.quality`: :class:`Quality` and its toy and image references;
- :mod:`idff.eval.bench.samplers`: samplers from a loaded run, solver and grid specs;
- :mod:`idff.eval.bench.entries`: :func:`entry_from_run`;
- :mod:`idff.eval.bench.runner`: :func:`run_benchmark`;
- :mod:`idff.eval.bench.journal`: the resumable journal of finished cells;
- :mod:`idff.eval.bench.store`: the chosen samplers written into the runs;
- :mod:`idff.eval.bench.report`: CSV and Markdown tables;
- :mod:`idff.eval.bench.plot`: the quality-vs-NFE figure.
"""

# ``X as X``: public names kept outside ``__all__`` (parse_grid, parse_solver, with_solver,
# target_check, HIGHER_IS_BETTER)
from idff.eval.bench.entries import entry_from_run
from idff.eval.bench.plot import plot_quality_vs_nfe
from idff.eval.bench.quality import ImageQuality, Quality, ToyQuality, fashion_mnist_quality
from idff.eval.bench.records import NFE_GRID, BenchEntry, BenchRow, Sampler
from idff.eval.bench.report import read_csv, write_csv, write_markdown
from idff.eval.bench.report import target_check as target_check
from idff.eval.bench.runner import HIGHER_IS_BETTER as HIGHER_IS_BETTER
from idff.eval.bench.runner import run_benchmark
from idff.eval.bench.samplers import parse_grid as parse_grid
from idff.eval.bench.samplers import parse_solver as parse_solver
from idff.eval.bench.samplers import run_sampler, sampler_settings, stored_sampler
from idff.eval.bench.samplers import with_solver as with_solver
from idff.eval.bench.store import store_budgets, store_choices

__all__ = [
    "NFE_GRID",
    "Sampler",
    "BenchEntry",
    "Quality",
    "ToyQuality",
    "ImageQuality",
    "fashion_mnist_quality",
    "BenchRow",
    "run_sampler",
    "sampler_settings",
    "entry_from_run",
    "stored_sampler",
    "store_budgets",
    "store_choices",
    "run_benchmark",
    "write_csv",
    "read_csv",
    "write_markdown",
    "plot_quality_vs_nfe",
]
