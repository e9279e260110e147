"""One vocabulary: an option name has one type and one meaning in every command, every
command that takes a run calls it RUN and takes a folder, a file or a shipped name, and a
renamed option keeps its old spelling for one release, with a warning."""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from idff.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]

#: the few names allowed more than one type, each with its reason
ALLOWED = {
    ("--nfe", "bench nfe"): "a sweep: comma-separated budgets, with 'adaptive'",
    ("--nfe", "md-benchmark"): "a sweep: comma-separated budgets",
    ("--nfe", "distill"): "the budgets the student serves: comma-separated, one sampler each",
    ("--sigma", "md-benchmark"): "a sweep: comma-separated σ, one IDFF run each",
    ("--n", "diagnose"): "a per-bin spread needs at least two targets",
}


def _commands(cmd=cli, path=()):
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), cmd


def _type(t: click.ParamType):
    """What a type means: its class, its bounds, its items (lists), its choices."""
    bounds = (t.min, t.max, t.min_open, t.max_open) if isinstance(
        t, (click.IntRange, click.FloatRange)) else None
    item = _type(t.item) if hasattr(t, "item") else None
    return type(t).__name__, bounds, item


def _signature(p: click.Option):
    callback = getattr(p.callback, "__qualname__", None)
    return _type(p.type), p.multiple, p.is_flag, callback


def test_every_option_name_has_one_type_everywhere():
    uses: dict[str, dict] = defaultdict(lambda: defaultdict(list))
    for path, cmd in _commands():
        for p in cmd.params:
            if not isinstance(p, click.Option) or p.hidden or (p.opts[0], path) in ALLOWED:
                continue
            for name in p.opts + p.secondary_opts:
                uses[name][_signature(p)].append(path)
    clashes = [f"{name}: " + "; ".join(f"{sig} in {', '.join(paths)}"
                                       for sig, paths in sigs.items())
               for name, sigs in sorted(uses.items()) if len(sigs) > 1]
    assert not clashes, "\n".join(clashes)
    # the table names only exceptions that exist
    seen = {(p.opts[0], path) for path, cmd in _commands() for p in cmd.params
            if isinstance(p, click.Option)}
    assert set(ALLOWED) <= seen, set(ALLOWED) - seen


def test_the_named_options_mean_one_thing():
    by_name = defaultdict(list)
    for path, cmd in _commands():
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden:
                by_name[p.opts[0]].append((path, p))
    for path, p in by_name["--seed"]:
        assert isinstance(p.type, click.IntRange) and p.type.min == 0, path
    for path, p in by_name["--sigma"]:
        if ("--sigma", path) not in ALLOWED:  # σ = 0 is the deterministic path everywhere
            assert p.type.min == 0 and not p.type.min_open, path
    for path, p in by_name["--device"]:  # the shared option: a missing GPU is refused early
        assert p.callback is not None and p.callback.__name__ == "_check_device", path
    # a class label (generate) is not a run label (bench nfe, diagnose: --run-label)
    assert [path for path, _ in by_name["--label"]] == ["generate"]
    assert {path for path, _ in by_name["--run-label"]} == {"bench nfe", "diagnose"}
    assert "--batch" not in by_name  # --batch-size everywhere
    for path, p in by_name["--out"]:
        if path.startswith("train "):  # one declaration of a training run's folder
            assert "(a new one, or the run to continue with --resume" in p.help, path


def test_every_run_argument_is_called_run_and_takes_a_shipped_name():
    from idff.cli.vocabulary import RunPath

    runs = {path: p for path, cmd in _commands() for p in cmd.params
            if isinstance(p, click.Argument) and p.name in ("run", "runs", "ckpt")}
    assert {"sample", "generate", "forecast", "nll", "export", "tune-schedule", "bench nfe",
            "md-eval", "diagnose"} <= set(runs)
    for path, p in runs.items():
        assert p.metavar == ("RUN" if p.nargs == 1 else "RUN..."), (path, p.metavar)
        assert isinstance(p.type, RunPath), path
    usage = CliRunner().invoke(cli, ["generate", "--help"]).output
    assert "generate [OPTIONS] RUN\n" in usage and "CKPT" not in usage


@pytest.fixture
def named(toy_run, tmp_path, monkeypatch):
    """``toys/idff``: the toy run found by name, as a shipped run is."""
    shelf = tmp_path / "shelf"
    shutil.copytree(toy_run, shelf / "toys" / "idff")
    monkeypatch.setenv("IDFF_CHECKPOINTS", str(shelf))
    monkeypatch.chdir(tmp_path)
    return shelf / "toys" / "idff"


def _ok(res):
    assert res.exit_code == 0, (res.output, res.exception)
    return res.output


def _one_line_error(res, *needles):
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    for n in needles:
        assert n in errors[0], (n, errors[0])


TUNE = ["--nfe", "3", "--solver", "euler", "--n", "4", "--n-held", "2", "--iters", "1",
        "--teacher-nfe", "4"]


def test_export_bench_and_tune_schedule_take_a_shipped_name(named, tmp_path):
    r = CliRunner()
    _ok(r.invoke(cli, ["export", "toys/idff", "--out", str(tmp_path / "copy")]))
    assert (tmp_path / "copy" / "snapshot.safetensors").is_file()
    out = _ok(r.invoke(cli, ["bench", "nfe", "toys/idff", "--nfe", "2", "--n-eval", "16",
                             "--n-val", "16", "--gammas", "0", "--out", str(tmp_path / "b")]))
    assert (tmp_path / "b.csv").is_file(), out
    _ok(r.invoke(cli, ["tune-schedule", "toys/idff", *TUNE, "--dry-run"]))
    _ok(r.invoke(cli, ["diagnose", "toys/idff", "--n", "4", "--bins", "2",
                       "--out", str(tmp_path / "d")]))
    # writing into a run found by name is refused: it would change the shipped reference
    before = (named / "config.json").read_text()
    _one_line_error(r.invoke(cli, ["tune-schedule", "toys/idff", *TUNE]),
                    "toys/idff is a shipped run", "idff export toys/idff --out my_run")
    _one_line_error(r.invoke(cli, ["bench", "nfe", "toys/idff", "--nfe", "2", "--solvers",
                                   "euler", "--store", "--out", str(tmp_path / "s")]),
                    "bench nfe --store does not rewrite")
    assert (named / "config.json").read_text() == before


def _warned(res, old, new):
    """One deprecation line, on stderr, naming the new spelling."""
    lines = [x for x in res.stderr.splitlines() if f"{old} is renamed {new}" in x]
    assert len(lines) == 1 and lines[0].startswith("warning:"), res.output
    assert "renamed" not in res.stdout


def test_old_spellings_work_with_a_warning(toy_run, tmp_path):
    r = CliRunner()
    res = r.invoke(cli, ["tune-schedule", str(toy_run), *TUNE, "--batch", "2", "--dry-run"])
    _ok(res)
    _warned(res, "--batch", "--batch-size")
    res = r.invoke(cli, ["bench", "nfe", str(toy_run), "--label", "mine", "--nfe", "2",
                         "--n-eval", "16", "--n-val", "16", "--gammas", "0",
                         "--out", str(tmp_path / "b")])
    _ok(res)
    _warned(res, "--label", "--run-label")
    assert "| mine |" in (tmp_path / "b.md").read_text()
    # both spellings at once: one of them is a mistake
    _one_line_error(r.invoke(cli, ["tune-schedule", str(toy_run), *TUNE, "--batch", "2",
                                   "--batch-size", "3", "--dry-run"]),
                    "--batch is the old spelling of --batch-size")
    res = r.invoke(cli, ["diagnose", str(toy_run), str(toy_run), "--label", "a",
                         "--out", str(tmp_path / "d")])
    _warned(res, "--label", "--run-label")
    _one_line_error(res, "give one --run-label per run")
    assert "--batch " not in r.invoke(cli, ["tune-schedule", "--help"]).output


def test_every_renamed_option_is_in_the_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    unreleased = text.split("## Unreleased", 1)[1].split("\n## ", 1)[0]
    section = unreleased.split("### Renamed (old spelling accepted until the next release)",
                               1)[1].split("\n### ", 1)[0]
    aliases = {(path, p.opts[0], p.renamed_to) for path, cmd in _commands()
               for p in cmd.params if getattr(p, "renamed_to", None)}
    assert {("tune-schedule", "--batch", "--batch-size"), ("bench nfe", "--label",
            "--run-label"), ("diagnose", "--label", "--run-label")} <= aliases
    for path, old, new in aliases:
        assert re.search(rf"`{re.escape(old)}` → `{re.escape(new)}`", section), (path, old)
        assert f"`idff {path}`" in section, path


def test_sigma_zero_in_kolmogorov_is_refused_by_the_forecaster(tmp_path):
    # σ >= 0 as everywhere; IDFF's own need of σ > 0 is the forecaster's one-line refusal
    res = CliRunner().invoke(cli, ["train", "kolmogorov", "--sigma", "0", "--size", "tiny",
                                   "--data-root", str(tmp_path / "none"),
                                   "--out", str(tmp_path / "r")])
    _one_line_error(res, "--sigma must be > 0 for IDFF")


def test_options_are_declared_once_not_per_command():
    """Shared options come from idff.cli.options (the vocabulary and TrainConfig's fields);
    the hand-written declarations left are each command's own."""
    count = sum(len(re.findall(r"\bclick\.option\(", p.read_text()))
                for p in (ROOT / "src" / "idff").rglob("*.py"))
    assert count <= 150, f"{count} hand-written click.option declarations in src/ (at most 150)"
    from idff.cli.options import VOCABULARY

    used = {p.opts[0] for _, cmd in _commands() for p in cmd.params
            if isinstance(p, click.Option)}
    unused = [n for n, spec in VOCABULARY.items() if spec.get("flag", f"--{n}") not in used]
    assert not unused, f"vocabulary entries no command takes: {unused}"


def test_the_vocabulary_refuses_another_type_and_an_unknown_name():
    from idff.cli.options import option

    with pytest.raises(TypeError, match="one type in every command"):
        option("seed", type=int)
    with pytest.raises(KeyError, match="not in the CLI vocabulary"):
        option("seeed")
