"""Every Python block of the README and of docs/ runs as written and prints what it shows.

``pycon`` blocks (``>>>`` prompts) are doctests: their printed output is compared, so a
stale σ, range or shape in the docs fails here. ``python`` blocks are executed. The blocks
of one file share one namespace, in order, inside a temporary folder. Training lengths are
shortened (:data:`FAST`) so the suite stays fast; nothing else is changed.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
#: text replaced before running: the step counts of training examples (not in the README,
#: whose example asserts the quality of a 2,000-step run)
FAST = {'{"steps": 2000}': '{"steps": 60}', "range(2000)": "range(60)"}


def _documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def _blocks(path: Path) -> list[tuple[str, str]]:
    return re.findall(r"```(python|pycon)\n(.*?)```", path.read_text(), re.S)


#: the files with Python blocks; the API tour and the README's example must stay among them
WITH_CODE = [p for p in _documents() if _blocks(p)]


def test_the_python_blocks_are_where_they_should_be_and_the_shortened_ones_exist():
    names = {p.relative_to(ROOT).as_posix() for p in WITH_CODE}
    assert {"README.md", "docs/api.md"} <= names, names
    assert any(lang == "pycon" for lang, _ in _blocks(README))
    api = _blocks(ROOT / "docs" / "api.md")
    assert len(api) >= 3 and any(lang == "pycon" for lang, _ in api)
    joined = "\n".join(code for p in WITH_CODE for _, code in _blocks(p))
    for old in FAST:
        assert old in joined, f"{old} is no longer in the README or docs/; update FAST"


@pytest.mark.parametrize("path", WITH_CODE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_python_block_runs_and_prints_what_it_shows(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    name = path.relative_to(ROOT).as_posix()
    globs: dict = {"__name__": "readme"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for k, (lang, code) in enumerate(_blocks(path)):
        for old, new in FAST.items() if path != README else ():
            code = code.replace(old, new)
        if lang == "python":
            exec(compile(code, f"{name} block {k}", "exec"), globs)
            continue
        test = parser.get_doctest(code, globs, f"{name} block {k}", str(path), 0)
        result = runner.run(test, clear_globs=False)
        globs.update(test.globs)
        if result.failed:
            pytest.fail(f"{name} block {k}: {result.failed} example(s) print something else "
                        f"than {name} shows (see the output above)")
