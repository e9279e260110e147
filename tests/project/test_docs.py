"""The README and docs/ hold together: the README stays short, every relative link and anchor
resolves, docs/cli.md is what the commands' --help prints, every ``idff`` command they
show names commands and options that exist, and every command of their bash blocks runs as
written or carries its time budget (docs/layout.md, "Commands in the docs"; the Python blocks
run in test_readme.py)."""

from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from idff.cli.main import cli

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").rglob("*.md"))
PAGES = [README, *DOCS]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_readme_fits_on_a_few_screens():
    n = len(README.read_text().splitlines())
    assert n < 250, f"README.md has {n} lines; move detail to docs/ (the README links it)"


def test_docs_cli_md_is_what_every_command_help_prints():
    script = runpy.run_path(str(ROOT / "scripts" / "cli_docs.py"), run_name="cli_docs")
    page = ROOT / "docs" / "cli.md"
    assert page.exists() and page.read_text() == script["render"](), (
        f"docs/cli.md is out of date with the commands' --help; regenerate it: {script['COMMAND']}")


def test_every_command_has_its_section_in_docs_cli_md():
    text = (ROOT / "docs" / "cli.md").read_text()
    for path in ("idff sample", "idff bench nfe", "idff train toy", "idff forecast"):
        assert f"\n## {path}\n" in text


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def broken_links(page: Path) -> list[str]:
    """The page's relative links whose file, or heading anchor in a .md file, is missing."""
    broken = []
    for target in _links(page):
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading with anchor #{anchor})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_relative_link_points_to_an_existing_file(page):
    broken = broken_links(page)
    assert not broken, f"{_rel(page)}: broken links: " + "; ".join(broken)


def test_the_link_check_catches_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "b.md").write_text("# B page\n\n## Some `code` here\n")
    page = tmp_path / "a.md"
    page.write_text("[ok](b.md#some-code-here) [gone](c.md) [no anchor](b.md#nowhere) "
                    "[web](https://example.org/x.md)\n")
    assert broken_links(page) == ["c.md (no such file)",
                                  "b.md#nowhere (no heading with anchor #nowhere)"]


def test_the_readme_links_every_docs_page_and_each_links_back():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in _links(README)}
    missing = [_rel(p) for p in DOCS if p.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"
    for page in DOCS:
        back = {(page.parent / t.partition("#")[0]).resolve() for t in _links(page)}
        assert README.resolve() in back, f"{_rel(page)} does not link back to README.md"


# -- the idff commands the pages show --------------------------------------------------------

#: marks of a usage pattern rather than a command as written
PATTERN = ("[", "\\|", "...", "…")
#: where a shell command ends
ENDS = {"&&", "||", ";", "|", ">", ">>", "2>&1"}


def _bash_commands(page: Path) -> list[str]:
    """``idff`` commands in the page's bash blocks, continuation lines joined."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            out += _idff_segments(line)
    return out


def _idff_segments(line: str) -> list[str]:
    tokens = shlex.split(line, comments=True)
    segments, current = [], []
    for tok in tokens + [";"]:
        if tok in ENDS:
            while current and re.match(r"^\w+=", current[0]):  # FOO=bar idff ...
                current.pop(0)
            if current[:1] == ["idff"]:
                segments.append(" ".join(shlex.quote(t) for t in current))
            current = []
        else:
            current.append(tok)
    return segments


def _inline_commands(text: str) -> list[str]:
    spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    last = (" ".join(s.split("&&")[-1].split()) for s in spans)  # cp ... && idff ...
    return [s for s in last if s.startswith("idff ")]


def _resolve(tokens: list[str]) -> tuple[click.Command, list[str], str]:
    """The command the tokens name and the tokens left for it (a group where the command is
    a placeholder such as PRESET or COMMAND)."""
    cmd, rest, path = cli, tokens[1:], "idff"
    while isinstance(cmd, click.Group) and rest and not rest[0].startswith("-"):
        if rest[0].isupper():
            return cmd, rest[1:], f"{path} {rest[0]}"
        sub = cmd.get_command(click.Context(cmd), rest[0])
        assert sub is not None, f"{path} has no command {rest[0]!r}"
        cmd, rest, path = sub, rest[1:], f"{path} {rest[0]}"
    return cmd, rest, path


def _options(cmd: click.Command) -> set[str]:
    """Its options; for a group named without its command, those of any of its commands."""
    own = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help", "-h"}
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(click.Context(cmd)):
            own |= _options(cmd.get_command(click.Context(cmd), name))
    return own


def check_names(command: str) -> None:
    """The command exists and every --option it shows is one of its options."""
    tokens = command.replace("[", " ").replace("]", " ").split()
    cmd, rest, path = _resolve(tokens)
    unknown = [t.split("=")[0] for t in rest
               if t.startswith("--") and t.split("=")[0] not in _options(cmd)]
    assert not unknown, f"`{command}`: {path} has no option {', '.join(unknown)}"


def check_as_written(command: str) -> None:
    """The command parses as written: known options with their values, required ones given."""
    tokens = shlex.split(command)
    cmd, rest, path = _resolve(tokens)
    assert not isinstance(cmd, click.Group), f"`{command}`: {path} needs a command"
    ctx = click.Context(cmd, info_name=path, resilient_parsing=True)
    try:
        opts, _, _ = cmd.make_parser(ctx).parse_args(list(rest))
    except click.UsageError as e:
        pytest.fail(f"`{command}`: {e.format_message()}")
    missing = [p.opts[0] if isinstance(p, click.Option) else p.name.upper()
               for p in cmd.params if p.required and opts.get(p.name) in (None, ())]
    assert not missing, f"`{command}`: {path} needs {', '.join(missing)}"


def _readme_table_commands() -> list[str]:
    """The first column of the README's command table: each is a command or a usage line."""
    rows = [r for r in README.read_text().splitlines() if r.startswith("| `idff")]
    assert rows, "the README's command table is gone"
    return [c for r in rows for c in _inline_commands(r.split(" | ")[0] + " |")]


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_commands_in_bash_blocks_parse_as_written(page):
    for command in _bash_commands(page):
        check_as_written(command)


def test_the_readme_command_table_gives_complete_commands():
    commands = _readme_table_commands()
    assert any(c.startswith("idff bench nfe") and "--store" in c for c in commands)
    for command in commands:
        check_names(command)
        if "--" in command and not any(m in command for m in PATTERN):
            check_as_written(command)


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_commands_mentioned_inline_name_real_commands_and_options(page):
    for command in _inline_commands(page.read_text()):
        check_names(command)


def test_the_checks_catch_a_missing_required_option_and_an_unknown_one():
    with pytest.raises(AssertionError, match="needs --out"):
        check_as_written("idff bench nfe RUN --nfe 2,4 --solvers midpoint --store")
    with pytest.raises(AssertionError, match="no option --bogus"):
        check_names("idff sample RUN --bogus 3")
    with pytest.raises(AssertionError, match="has no command 'smaple'"):
        check_names("idff smaple RUN")


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_the_scripts_the_pages_run_exist(page):
    scripts = re.findall(r"(?:bash|python)\s+((?:benchmarks|scripts|examples)/[\w./-]+\.(?:sh|py))",
                         page.read_text())
    missing = sorted({s for s in scripts if not (ROOT / s).exists()})
    assert not missing, f"{_rel(page)} runs scripts that do not exist: {missing}"


# -- every command of the bash blocks runs as written, or carries its budget ------------------

#: the budget mark: the first words of a command's trailing comment (docs/layout.md)
BUDGET = re.compile(r"^budget: (\d+(?:\.\d+)?) (s|min|h), (\d+) threads?(?:;|$)")
SECONDS = {"s": 1, "min": 60, "h": 3600}
#: ``idff`` commands that are long whatever their options (train, simulate, benchmark, ...)
LONG_IDFF = {"train", "demo", "sst-demo", "bench", "fid", "distill", "tune-schedule",
             "kolmogorov-data", "kolmogorov-benchmark", "md-simulate", "md-benchmark"}
#: benchmark scripts that only write up stored results: short
WRITE_UPS = {"benchmarks/sst_readme.py", "benchmarks/md_readme.py", "benchmarks/fmnist_seeds.py"}
#: repository folders a short command may read, linked into its working folder
LINKED = ("checkpoints",)
#: stored outputs of the long commands, copied into its working folder (it may rewrite them)
COPIED = ("results", "benchmarks/results")
#: folders of scripts, linked file by file into its working folder
SCRIPTS = ("benchmarks", "scripts", "examples")
#: the longest budget of a command the test runs (seconds, one thread)
SHORT = 60
#: seconds one short command may take here (it promises under a minute)
TIMEOUT = 120


@dataclass(frozen=True)
class Command:
    """One command of a bash block: its text as written (continuation lines included), its
    trailing comment, and the variable assignments written above it in the same block."""

    page: Path
    line: int
    text: str
    comment: str
    setup: tuple[str, ...]

    @property
    def tokens(self) -> list[str]:
        return shlex.split(self.text.replace("\\\n", " "), comments=True)

    @property
    def program(self) -> list[str]:
        """The tokens from the program on (leading ``FOO=bar`` assignments dropped)."""
        tokens = self.tokens
        while tokens and re.match(r"^\w+=", tokens[0]):
            tokens = tokens[1:]
        return tokens

    @property
    def budget(self) -> tuple[float, int] | None:
        """(seconds, threads) of its budget mark; None without one."""
        m = BUDGET.match(self.comment)
        return None if m is None else (float(m[1]) * SECONDS[m[2]], int(m[3]))

    def __str__(self) -> str:
        page = _rel(self.page) if self.page.is_relative_to(ROOT) else self.page.name
        return f"{page}:{self.line}: `{' '.join(self.text.split())}`"


def _comment(line: str) -> tuple[str, str]:
    """The line's code and its trailing comment (a ``#`` outside quotes after a blank)."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def bash_blocks(page: Path) -> list[list[Command]]:
    """The commands of each bash block of the page, in order."""
    text = page.read_text()
    blocks = []
    for m in re.finditer(r"```bash\n(.*?)```", text, re.S):
        first = text.count("\n", 0, m.start()) + 2
        commands, setup, lines, start = [], [], [], 0
        for i, line in enumerate(m[1].splitlines()):
            if not lines and (not line.strip() or line.lstrip().startswith("#")):
                continue
            start = start if lines else first + i
            lines.append(line)
            if line.endswith("\\"):
                continue
            command = Command(page, start, "\n".join(lines), _comment(line)[1], tuple(setup))
            lines = []
            if all(re.match(r"^\w+=", t) for t in command.tokens):
                setup.append(command.text)  # CLS=...: used by the commands below it
            else:
                commands.append(command)
        assert not lines, f"{_rel(page)}: a bash block ends in a continuation line"
        blocks.append(commands)
    return blocks


def is_long(command: Command) -> bool:
    """Whether the command needs a budget mark: training, simulation, benchmarks, scoring
    many samples, installs."""
    args = command.program
    prog = Path(args[0]).name if args else ""
    first = args[1] if len(args) > 1 else ""
    if prog == "idff":
        if first == "generate":
            n = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--n"), "50000")
            return int(n) > 5000
        return first in LONG_IDFF
    if prog == "bash":
        return first.startswith(("benchmarks/", "scripts/"))
    if prog.startswith("python"):
        return first.startswith("benchmarks/") and first not in WRITE_UPS
    return False


BLOCKS = [(page, block) for page in PAGES for block in bash_blocks(page)]
COMMANDS = [c for _, block in BLOCKS for c in block]


def test_the_pages_show_commands_in_bash_blocks():
    assert len(COMMANDS) > 10 and any(c.budget is None for c in COMMANDS)


def test_the_budget_mark_parses():
    def mark(comment):
        return Command(README, 1, "idff train toy", comment, ()).budget

    assert mark("budget: 35 min, 1 thread") == (2100, 1)
    assert mark("budget: 1.5 h, 2 threads; resumable") == (5400, 2)
    assert mark("budget: 40 s, 1 thread") == (40, 1)
    for wrong in ("~35 min", "budget: 35 mins, 1 thread", "budget: 35 min", "note; budget: 1 h, "
                  "1 thread", "budget: 1 h, 1 threads and more"):
        assert mark(wrong) is None, wrong


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_budget_mark_parses(page):
    marks = [c for block in bash_blocks(page) for c in block if "budget:" in c.comment]
    wrong = [str(c) for c in marks if c.budget is None]
    assert not wrong, ("budget marks that do not read `# budget: N s|min|h, K thread(s)`: "
                       + "; ".join(wrong))


def test_the_long_rule():
    def long(text):
        return is_long(Command(README, 1, text, "", ()))

    assert long("idff train toy --method idff --dataset moons --out runs/x")
    assert long("OMP_NUM_THREADS=1 idff sst-demo --steps 500")
    assert long("idff generate RUN --out x") and not long("idff generate RUN --n 64 --out x")
    assert long("SRC=runs bash benchmarks/fmnist_fewstep.sh") and long("bash scripts/test.sh")
    assert long(".venv/bin/python benchmarks/toy_nfe.py --steps 5000")
    assert not long("python benchmarks/sst_readme.py results/sst")
    assert not long("idff sample runs/x --nfe 4 --n 16 --out x.png")


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_long_command_carries_its_budget(page):
    unmarked = [str(c) for block in bash_blocks(page) for c in block
                if is_long(c) and c.budget is None]
    assert not unmarked, ("long commands without `# budget: N min, K thread(s)` "
                          "(docs/layout.md): " + "; ".join(unmarked))


def _workdir(tmp: Path) -> tuple[Path, dict[str, str]]:
    """An empty working folder with links to the folders the commands read and copies of the
    stored results, and the environment that runs this checkout's ``idff`` and ``python``."""
    work = tmp / "work"
    work.mkdir(parents=True)
    for name in LINKED:
        if (ROOT / name).exists():
            (work / name).symlink_to(ROOT / name, target_is_directory=True)
    for name in SCRIPTS:
        if (ROOT / name).is_dir():
            (work / name).mkdir()
            for entry in (ROOT / name).iterdir():
                if f"{name}/{entry.name}" not in COPIED and entry.name != "__pycache__":
                    (work / name / entry.name).symlink_to(entry)
    for name in COPIED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, work / name)
    if sys.prefix != sys.base_prefix:  # commands that name .venv/bin/...
        (work / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    bin_ = tmp / "bin"
    bin_.mkdir()
    for name, args in (("python", ""), ("idff", ' -c "import sys; from idff.cli import main; '
                                                "sys.argv[0] = 'idff'; sys.exit(main())\"")):
        (bin_ / name).write_text(f'#!/bin/sh\nexec "{sys.executable}"{args} "$@"\n')
        (bin_ / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "IDFF_CHECKPOINTS": str(work / "checkpoints"), "IDFF_DATA": str(tmp / "data")}
    return work, env


def _run(command: Command, work: Path, env: dict[str, str]) -> tuple[int, str]:
    """Its exit code and output, run by bash as written after the block's assignments above
    it; killed with everything it started after TIMEOUT seconds."""
    proc = subprocess.Popen(["bash", "-c", "\n".join([*command.setup, command.text])], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{command} ran past {TIMEOUT} s: mark its budget (docs/layout.md)")
    return proc.returncode, out


def _changed_since(t0: float) -> list[str]:
    """The repository's files under the linked folders changed since ``t0``."""
    skip = tuple(ROOT / name for name in COPIED)
    return [str(p) for name in (*LINKED, *SCRIPTS) if (ROOT / name).exists()
            for p in (ROOT / name).rglob("*")
            if p.stat().st_mtime > t0 and "__pycache__" not in p.parts
            and not any(p.is_relative_to(s) for s in skip)]


def runs_here(command: Command) -> bool:
    """Whether the test runs it: no budget, or one of at most a minute on one thread."""
    return command.budget is None or (command.budget[0] <= SHORT and command.budget[1] == 1)


def run_block(block: list[Command], tmp: Path) -> Path:
    """Run the block's short commands in order in one working folder (a command reads what
    one above it wrote there, or the stored results of a long one above it); the folder."""
    work, env = _workdir(tmp)
    t0 = time.time()
    for command in filter(runs_here, block):
        code, out = _run(command, work, env)
        assert code == 0, f"{command} exited with {code}:\n{out[-3000:]}"
    changed = _changed_since(t0)
    assert not changed, f"{block[0].page.name} wrote into the repository: {changed}"
    return work


RUN_BLOCKS = [(page, block) for page, block in BLOCKS if any(map(runs_here, block))]


@pytest.mark.parametrize("page, block", RUN_BLOCKS,
                         ids=[f"{_rel(p)}:{b[0].line}" for p, b in RUN_BLOCKS])
def test_every_short_command_runs_as_written(page, block, tmp_path):
    run_block(block, tmp_path)


def test_the_runner_runs_a_block_in_order_and_reports_a_failure(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\n"
                    "idff train toy --method otcfm --dataset moons --steps 20 --hidden 16 \\\n"
                    "  --out runs/x    # budget: 20 s, 1 thread\n"
                    "idff train toy --dataset moons --out runs/y    # budget: 1 min, 1 thread\n"
                    "idff bench nfe runs/y --nfe 2 --out runs/z    # budget: 5 min, 1 thread\n"
                    "idff sample runs/x --nfe 2 --n 8 --out runs/x.npy\n"
                    "```\n\n```bash\nN=3\ntest $N = 4\n```\n")
    ok, fails = bash_blocks(page)
    assert [runs_here(c) for c in ok] == [True, True, False, True] and fails[0].setup == ("N=3",)
    work = run_block([ok[0], ok[3]], tmp_path / "ok")
    assert (work / "runs" / "x.npy").is_file() and not (ROOT / "runs" / "x.npy").exists()
    with pytest.raises(AssertionError, match="exited with 1"):
        run_block(fails, tmp_path / "fails")
