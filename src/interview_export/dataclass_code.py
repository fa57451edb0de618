"""dataclasses' generated methods → compiled once per Python bytecode version, kept in the engine cache.

In Python 3.11, ``@dataclass`` makes each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__`` … by ``exec``-ing generated source: one parse and compile per method, ~230 while an
EPUB run starts (20–35 ms, a tenth of the run, and the parser's memory). :func:`install` gives the
dataclasses module an ``exec`` of its own that looks the generated text up in a table of code objects
(marshal, as a ``.pyc`` holds them) and compiles only a text it does not have, as ``exec`` would
(file name ``<string>``, no ``__future__`` flags inherited): the classes come out the same. A table
that gained texts is written back at exit (atexit, which the CLI's exit runs too) to the file it was
read from.

The table is a :class:`~.code_table.CodeTable` (``dataclasses-<cache tag>.bin``, the engine cache's
rules; a file of another bytecode version, or one that does not decode to texts and code objects, is
ignored and rewritten).
"""

from __future__ import annotations

import builtins
import sys

from .code_table import CodeTable

TYPE_CHECKING = False      # not typing's: importing the package stays cheap (mypy reads the block below)
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any


def _magic() -> bytes:
    import importlib.util

    return importlib.util.MAGIC_NUMBER


_CODE = type(_magic.__code__)
TABLE = CodeTable("dataclasses", _magic, lambda text, code: type(text) is str and type(code) is _CODE)


def install() -> None:
    """Route the dataclasses module's ``exec`` through the table: now if it is imported, else as soon
    as it is (importing the package imports nothing more; nothing is read before a class is made)."""
    module = sys.modules.get("dataclasses")
    if module is not None:
        module.exec = _exec     # type: ignore[attr-defined]  # a module global shadows the builtin
    elif not any(isinstance(finder, _WhenImported) for finder in sys.meta_path):
        sys.meta_path.insert(0, _WhenImported())


class _WhenImported:
    """A finder for ``dataclasses`` only: the usual spec, whose loader then installs :func:`_exec`."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        """The spec the other finders give, its module hooked once executed (None for other names)."""
        if name != "dataclasses":
            return None
        sys.meta_path.remove(self)
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            module.exec = _exec

        spec.loader.exec_module = exec_module    # type: ignore[method-assign]  # this spec's loader only
        return spec


def _exec(source: Any, globals: dict | None = None, locals: dict | None = None) -> None:
    if not isinstance(source, str):
        return builtins.exec(source, globals, locals)
    return builtins.exec(_code(source), globals, locals)


def _code(source: str) -> CodeType:
    """The code of a generated text: from the table, else compiled as exec would (and kept)."""
    return TABLE.get(source, lambda: compile(source, "<string>", "exec", dont_inherit=True))
