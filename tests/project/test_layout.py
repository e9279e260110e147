"""The package layout: one package per task, none importing another, and the shared
forecasting package importing none of them (read from the source with ``ast``: imports at
module level and inside functions, and ``importlib.import_module`` strings); and tests/
mirrors the package, each test file in a folder named after the part of idff it tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "idff"
TESTS = Path(__file__).resolve().parents[1]

#: test folders named after no package or module: the core math (the modules at the top of
#: idff: path, coupling, objective, ...) and the checks of the whole repository
TEST_FOLDERS = ("core", "project")

#: the task packages (a name counts once it exists as a package)
TASKS = ("idff.sst", "idff.kolmogorov", "idff.md", "idff.lorenz", "idff.images", "idff.toy")

#: the first docstring line of a module kept at an old path, re-exporting its new home
MOVED = "this path stays for one release"


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(path: Path, tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``tree``, relative ones resolved."""
    here = _module(path)
    base = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = base.split(".")
                pkg = pkg[:len(pkg) - node.level + 1]
                mod = ".".join(pkg + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
            found += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def _task(module: str, tasks: tuple[str, ...]) -> str | None:
    return next((t for t in tasks if module == t or module.startswith(t + ".")), None)


def _tasks() -> tuple[str, ...]:
    return tuple(t for t in TASKS if (SRC / t.replace(".", "/") / "__init__.py").is_file())


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        yield path, text, ast.parse(text)


def _cross_task_imports(files, tasks) -> list[str]:
    bad = []
    for path, _, tree in files:
        own = _task(_module(path), tasks)
        if own is None:
            continue
        for line, mod in _imported(path, tree):
            other = _task(mod, tasks)
            if other is not None and other != own:
                bad.append(f"{path.relative_to(SRC)}:{line} ({own}) imports {mod}")
    return bad


def test_the_task_packages_exist():
    assert {"idff.sst", "idff.kolmogorov", "idff.md"} <= set(_tasks())


def test_no_task_package_imports_another():
    bad = _cross_task_imports(_modules(), _tasks())
    assert not bad, "a task package imports another task package:\n" + "\n".join(bad)


def test_the_shared_forecasting_package_imports_no_task():
    tasks = _tasks()
    bad = []
    for path, _, tree in _modules():
        if not _module(path).startswith("idff.timeseries"):
            continue
        if MOVED in (ast.get_docstring(tree) or "").splitlines()[0]:
            continue  # an old path that re-exports a task's module
        bad += [f"{path.relative_to(SRC)}:{line} imports {mod}"
                for line, mod in _imported(path, tree) if _task(mod, tasks)]
    assert not bad, "\n".join(bad)


def test_the_task_and_forecasting_modules_are_at_most_450_lines():
    tasks = _tasks() + ("idff.timeseries",)
    long = [f"{p.relative_to(SRC)}: {len(t.splitlines())}" for p, t, _ in _modules()
            if _task(_module(p), tasks) and len(t.splitlines()) > 450]
    assert not long, long


@pytest.mark.parametrize("code", [
    "from idff.kolmogorov.data import SIZES\n",
    "def f():\n    from idff import kolmogorov\n",
    "def f():\n    import idff.kolmogorov.solver as s\n",
    "from ..kolmogorov import solver\n",
    "import importlib\nimportlib.import_module('idff.kolmogorov.train')\n",
])
def test_the_check_catches_an_import_of_another_task(code):
    path = SRC / "idff" / "sst" / "probe.py"  # never written: only its name is used
    files = [(path, code, ast.parse(code))]
    assert len(_cross_task_imports(files, ("idff.sst", "idff.kolmogorov"))) >= 1
    ok = "from idff.sst.data import Box\nfrom idff.timeseries.gridded import UNET_DEFAULTS\n"
    assert not _cross_task_imports([(path, ok, ast.parse(ok))], ("idff.sst", "idff.kolmogorov"))


def _misplaced(test_files: list[Path]) -> list[str]:
    """The test files (relative to tests/) not in a folder named after a package or module of
    idff (nested as in the package), nor in one of ``TEST_FOLDERS``; and the folders that are
    no package (pytest then imports two ``test_data.py`` under one name)."""
    bad = []
    for rel in test_files:
        folders = rel.parts[:-1]
        if not folders:
            bad.append(f"{rel}: at the top of tests/")
            continue
        if not all((TESTS.joinpath(*folders[:i + 1]) / "__init__.py").is_file()
                   for i in range(len(folders))):
            bad.append(f"{rel}: a folder without __init__.py")
        if folders[0] in TEST_FOLDERS and len(folders) == 1:
            continue
        where = PACKAGE
        for i, name in enumerate(folders):
            if (where / name / "__init__.py").is_file():
                where = where / name
            elif i == len(folders) - 1 and (where / f"{name}.py").is_file():
                break
            else:
                bad.append(f"{rel}: {'/'.join(folders[:i + 1])} is no package or module of idff")
                break
    return bad


def test_every_test_file_sits_in_a_folder_named_after_a_part_of_the_package():
    files = sorted(p.relative_to(TESTS) for p in TESTS.rglob("test_*.py"))
    assert len(files) > 50
    bad = _misplaced(files)
    assert not bad, "\n".join(bad)


def test_the_check_catches_a_misplaced_test_file():
    wrong = [Path("test_sampler.py"), Path("helpers/test_sampler.py"),
             Path("sampling/nothing/test_grids.py"), Path("project/sampling/test_x.py")]
    assert all(_misplaced([w]) for w in wrong)
    right = [Path("sampling/test_sampler.py"), Path("project/test_docs.py"),
             Path("core/test_objective.py")]
    assert not _misplaced(right)


def test_every_module_is_at_most_450_lines():
    long = [f"{p.relative_to(SRC)}: {len(t.splitlines())}" for p, t, _ in _modules()
            if len(t.splitlines()) > 450]
    assert not long, long


def _graph(files) -> dict[str, set[str]]:
    """Module -> the idff modules it imports: at module level, inside functions, and by a
    string naming a module (``importlib.import_module(TABLE[name])``). A module's own
    parent packages are left out: Python imports them first whatever the module does."""
    files = list(files)
    names = {_module(p) for p, _, _ in files}

    def nearest(mod: str) -> str | None:
        while mod and mod not in names:
            mod = mod.rpartition(".")[0]
        return mod or None

    graph: dict[str, set[str]] = {}
    for path, _, tree in files:
        here = _module(path)
        found = {nearest(m) for _, m in _imported(path, tree) if m.startswith("idff")}
        found |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
                  and isinstance(n.value, str) and n.value in names}
        graph[here] = {m for m in found
                       if m and m != here and not here.startswith(m + ".")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_not_even_through_lazy_imports_or_module_names():
    assert not _cycles(_graph(_modules()))


def test_the_circle_check_catches_a_lazy_import_back():
    graph = {"idff.a": {"idff.b"}, "idff.b": {"idff.c"}, "idff.c": {"idff.a"}, "idff.d": set()}
    assert _cycles(graph) == [["idff.a", "idff.b", "idff.c"]]
