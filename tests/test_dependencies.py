"""pyproject.toml ↔ src/: every third-party package the code imports is declared, and every declared
run-time dependency is imported somewhere (no unused one)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "interview_export"


def _name(requirement: str) -> str:
    """'PyYAML>=6.0,<7' → 'pyyaml' (PEP 503 normalised)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement)[0]).lower()


def imported_modules() -> set[str]:
    """Top-level names of every absolute import in src/, at any depth (lazy imports included)."""
    found = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"interview_export", "__future__"}


def test_imports_and_declared_dependencies_match():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    required = {_name(r) for r in project["dependencies"]}
    optional = {_name(r) for extra in project.get("optional-dependencies", {}).values() for r in extra}
    owners = packages_distributions()
    used = {}
    for module in imported_modules():
        # an optional package that is not installed here is known by its own name (dask → dask)
        used[module] = {_name(d) for d in owners.get(module, [module])}
    undeclared = {m: d for m, d in used.items() if not d & (required | optional)}
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    unused = required - set().union(*used.values())
    assert not unused, f"declared in pyproject.toml but never imported by src/: {sorted(unused)}"
