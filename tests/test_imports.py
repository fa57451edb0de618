"""The package's import graph (read with ast, every import, lazy ones inside functions too) has no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "interview_export"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` — imports for type checkers only, never run."""
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"))


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node that can run (module level or inside a function)."""
    for node in ast.iter_child_nodes(tree):
        if _type_checking_only(node):
            yield from (n for child in node.orelse for n in _imports_in(child))
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _imports(node)


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """module → the package's modules it imports ("from . import x" names module x when x is one)."""
    paths = {module_name(p, src): p for p in src.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in paths else target)
        graph[name] = {m for m in found if m in paths and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 30 and "interview_export.backends.pdf" in graph   # it did read the package
    assert cycles(graph) == []


def test_api_batch_and_cli_import_in_one_direction():
    """cli → api → batch / dask_batch → pipeline: the lower never imports the higher."""
    graph = import_graph()
    below = {"interview_export.pipeline": {"interview_export.api", "interview_export.batch",
                                           "interview_export.dask_batch", "interview_export.cli"},
             "interview_export.batch": {"interview_export.api", "interview_export.dask_batch",
                                        "interview_export.cli"},
             "interview_export.api": {"interview_export.cli"}}
    for module, higher in below.items():
        assert not graph[module] & higher, (module, graph[module] & higher)


@pytest.mark.parametrize("source, expected", [
    ({"a": "from . import b\n", "b": "def f():\n    from .a import x\n"}, [["p.a", "p.b"]]),
    ({"a": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n", "b": "from . import a\n"}, []),
    ({"a": "import p.b\n", "b": "from .c import y\n", "c": "from p import a\n"}, [["p.a", "p.b", "p.c"]]),
])
def test_the_checker_sees_lazy_and_absolute_imports_and_skips_type_only_ones(tmp_path, source, expected):
    package = tmp_path / "p"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    for name, text in source.items():
        (package / f"{name}.py").write_text(text, encoding="utf-8")
    assert cycles(import_graph(package)) == expected
