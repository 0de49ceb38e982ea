"""The import graph of ``dqlstm``, ``partitioner`` and ``backends``: no cycles, layers point down.

Layers, lowest first: ``backends`` (QPUs, pool, pure circuit helpers) <-
``partitioner`` (cut planning) <- ``dqlstm`` (models, engines, training). So:

* ``partitioner`` and ``backends`` never import ``dqlstm``;
* ``backends`` never imports ``partitioner``;
* ``dqlstm.models`` never imports ``backends`` (models run on the exact engine;
  QPUs are wired in by the layers above);
* no module imports itself through a chain of other modules (a cycle);
* no module imports another module's ``_private`` name (share it under a public
  name, in the module that fits, instead).

The graph is read with :mod:`ast`, so it sees every ``import`` statement at any
nesting level: inside functions, ``try`` blocks and ``if TYPE_CHECKING:``.
Function-level (lazy) imports count for the cycle check too: deferring an import
only hides a cycle from the interpreter; the two modules still depend on each
other, and neither can be understood, tested or moved without the other.
``TYPE_CHECKING`` imports count for the same reason (and ``backends/__init__.py``
lists its lazily loaded names there, so the graph sees what its ``__getattr__``
loads). Imports through ``importlib`` are invisible here.

An edge goes to the module actually imported: ``from pkg import name`` is an
edge to ``pkg.name`` when that is a submodule, else to ``pkg`` (its
``__init__``); ``import a.b.c`` and ``from a.b.c import x`` are edges to
``a.b.c``. Parent packages that Python runs on the way are not edges (else
every package ``__init__`` that imports its submodules would be a cycle).

Violations that exist today in modules this test's author does not own are
listed in :data:`KNOWN`; the test fails on any violation not listed there and on
any listed one that is gone, so the list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dqlstm", "partitioner", "backends")

# Violations owned elsewhere, to be fixed there; empty this as they go.
# Cycles are named by their modules (sorted), layer breaks by importer -> imported,
# private imports by importer -> module.name.
KNOWN: set[str] = set()


def module_files() -> dict[str, Path]:
    """Module name -> file, for every ``.py`` file of the three packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _deepest_known(name: str, known: dict[str, Path]) -> str | None:
    # "import a.b.c" where a.b.c is not ours (or not a module): the deepest prefix that is
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        prefix = ".".join(parts[:k])
        if prefix in known:
            return prefix
    return None


def _from_base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """Absolute name of the ``X`` in ``from X import ...`` (resolves ``.``, ``..``)."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def _imports(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Modules of the three packages that ``module`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _deepest_known(alias.name, known)
                if target is not None:
                    yield target
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(module, is_package, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if sub in known else _deepest_known(base, known)
                if target is not None:
                    yield target


def private_imports() -> dict[str, set[str]]:
    """Module -> the ``module._name`` it imports from other modules of the three packages."""
    known = module_files()
    out: dict[str, set[str]] = {}
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = _from_base(module, is_package, node)
            if _deepest_known(base, known) is None:
                continue
            for alias in node.names:
                name = alias.name
                private = name.startswith("_") and not name.startswith("__")
                if private and f"{base}.{name}" not in known:  # a private submodule is a module edge
                    out.setdefault(module, set()).add(f"{base}.{name}")
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the three packages it imports (self-imports dropped)."""
    known = module_files()
    return {m: set(_imports(m, p, known)) - {m} for m, p in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        # recursive: the graph is a few hundred modules deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(comp, graph) for comp in components]


def _cycle_in(comp: set[str], graph: dict[str, set[str]]) -> list[str]:
    # shortest cycle through the component's first module (BFS), to show in the message
    start = min(comp)
    parent: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    path = [v]
                    while parent[path[-1]] is not None:
                        path.append(parent[path[-1]])
                    return path[::-1] + [start]
                if w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle in strongly connected component {sorted(comp)}")


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


LAYER_RULES = [
    # (importer package, imported package, why)
    ("partitioner", "dqlstm", "the planner sits below the models"),
    ("backends", "dqlstm", "the QPU layer sits below the models"),
    ("backends", "partitioner", "the QPU layer sits below the planner"),
    ("dqlstm.models", "backends", "models run on the exact engine, QPUs are wired in above them"),
]


def violations(graph: dict[str, set[str]], private: dict[str, set[str]]) -> dict[str, str]:
    """Violation key (as in :data:`KNOWN`) -> message."""
    found = {}
    for importer, names in sorted(private.items()):
        for name in sorted(names):
            found[f"private: {importer} -> {name}"] = (
                f"{importer} imports the private name {name}; make it public where it belongs"
            )
    for cycle in cycles(graph):
        key = "cycle: " + ", ".join(sorted(set(cycle)))
        found[key] = "import cycle " + " -> ".join(cycle)
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            for low, high, why in LAYER_RULES:
                if _in(importer, low) and _in(target, high):
                    found[f"layer: {importer} -> {target}"] = (
                        f"{importer} imports {target}: {low} must not import {high} ({why})"
                    )
    return found


def test_graph_sees_the_packages():
    # guards the checks below against silently reading nothing
    graph = import_graph()
    assert {"dqlstm", "partitioner", "backends", "backends.circuits", "partitioner.planner"} <= set(graph)
    assert "backends.circuits" in graph["partitioner.costs"]  # absolute import
    assert "partitioner.passes" in graph["partitioner.segments"]  # relative import
    assert "partitioner.costs" in graph["partitioner.segments"]  # function-level import
    assert "backends.aer" in graph["backends"]  # TYPE_CHECKING import


def test_resolution_of_import_forms(tmp_path):
    known = {name: tmp_path / "x.py" for name in ("p", "p.a", "p.b", "p.sub", "p.sub.c")}
    src = (
        "import p.a\n"
        "from p import b, helper\n"
        "from . import c\n"
        "from .. import a as aa\n"
        "from ..b import thing\n"
        "import os.path\n"
        "def f():\n"
        "    from p.sub.c import y\n"
    )
    path = tmp_path / "d.py"
    path.write_text(src)
    got = set(_imports("p.sub.d", path, known))
    assert got == {"p.a", "p.b", "p", "p.sub.c"}
    init = tmp_path / "__init__.py"
    init.write_text("from .c import x\nfrom . import nothing_here\n")
    assert set(_imports("p.sub", init, known)) == {"p.sub.c", "p.sub"}


def test_cycle_finder():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_new_violations():
    found = violations(import_graph(), private_imports())
    new = {k: m for k, m in found.items() if k not in KNOWN}
    assert not new, "import graph violations:\n" + "\n".join(sorted(new.values()))


def test_known_violations_still_exist():
    found = violations(import_graph(), private_imports())
    gone = sorted(KNOWN - set(found))
    assert not gone, "fixed, remove from KNOWN in tests/test_import_graph.py:\n" + "\n".join(gone)


@pytest.mark.parametrize("module", ["backends", "backends.circuits"])
def test_circuit_helpers_import_cheaply(module):
    # the planner and the engine import these; Aer and IBM Runtime must not come along
    import subprocess
    import sys

    code = (
        f"import sys, {module}\n"
        "heavy = [m for m in ('qiskit_aer', 'qiskit_ibm_runtime', 'dqlstm', 'partitioner') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_backends_names_load_on_first_use():
    import backends

    assert set(backends.__all__) <= set(dir(backends))
    for name in backends.__all__:
        assert getattr(backends, name).__name__ == name
    assert backends.pool.__name__ == "backends.pool"  # submodules stay attributes
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        backends.nothing_here  # noqa: B018
