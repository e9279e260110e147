"""Every Python block of the README runs as written and prints what it shows.

``pycon`` blocks (``>>>`` prompts) are doctests: their printed output is compared, so a
stale σ, range or shape in the README fails here. ``python`` blocks are executed. Blocks
share one namespace, in order, inside a temporary folder. Training lengths are shortened
(:data:`FAST`) so the suite stays fast; nothing else is changed.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
#: text replaced before running: the step counts of training examples
FAST = {'{"steps": 2000}': '{"steps": 60}', "range(2000)": "range(60)"}


def _blocks() -> list[tuple[str, str]]:
    text = README.read_text()
    return re.findall(r"```(python|pycon)\n(.*?)```", text, re.S)


def test_readme_has_python_blocks_and_the_shortened_ones_exist():
    blocks = _blocks()
    assert len(blocks) >= 3 and any(lang == "pycon" for lang, _ in blocks)
    joined = "\n".join(code for _, code in blocks)
    for old in FAST:
        assert old in joined, f"{old} is no longer in the README; update FAST"


def test_every_readme_python_block_runs_and_prints_what_it_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    globs: dict = {"__name__": "readme"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for k, (lang, code) in enumerate(_blocks()):
        for old, new in FAST.items():
            code = code.replace(old, new)
        if lang == "python":
            exec(compile(code, f"README.md block {k}", "exec"), globs)
            continue
        test = parser.get_doctest(code, globs, f"README.md block {k}", str(README), 0)
        result = runner.run(test, clear_globs=False)
        globs.update(test.globs)
        if result.failed:
            pytest.fail(f"README.md block {k}: {result.failed} example(s) print something else "
                        "than the README shows (see the output above)")
