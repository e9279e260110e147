"""The README and docs/ hold together: the README stays short, every relative link and anchor
resolves, docs/cli.md is what the commands' --help prints, and every ``idff`` command they
show names commands and options that exist (the Python blocks run in test_readme.py)."""

from __future__ import annotations

import re
import runpy
import shlex
from pathlib import Path

import click
import pytest

from idff.cli.main import cli

ROOT = Path(__file__).parents[1]
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
