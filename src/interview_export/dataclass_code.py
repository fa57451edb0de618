"""dataclasses' generated methods → compiled once per Python bytecode version, kept in the engine cache.

In Python 3.11, ``@dataclass`` makes each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__`` … by ``exec``-ing generated source: one parse and compile per method, ~230 while an
EPUB run starts (20–35 ms, a tenth of the run, and the parser's memory). :func:`install` gives the
dataclasses module an ``exec`` of its own that looks the generated text up in a table of code objects
(marshal, as a ``.pyc`` holds them) and compiles only a text it does not have, as ``exec`` would
(file name ``<string>``, no ``__future__`` flags inherited): the classes come out the same. A table
that gained texts is written back at exit (atexit, which the CLI's exit runs too) to the file it was
read from.

The table is ``dataclasses-<cache tag>.bin`` in ``util.engine_cache_dir("engine")``, under the rules of
that folder: INTERVIEW_EXPORT_ENGINE_CACHE=0 neither reads nor writes it, and a folder that is not the
user's or that others can write is not read (its code would run). A file of another bytecode version
(magic number), or one that does not decode to texts and code objects, is ignored and rewritten.
"""

from __future__ import annotations

import _thread
import builtins
import marshal
import os
import sys

TYPE_CHECKING = False      # not typing's: importing the package stays cheap (mypy reads the block below)
if TYPE_CHECKING:
    from pathlib import Path
    from types import CodeType
    from typing import Any

MAX_TEXTS = 4000        # more than this (many versions of our classes): only this process's texts are kept
_lock = _thread.RLock()                       # reentrant: reading the table imports modules
_table: dict[str, CodeType] | None = None     # generated text → its code; read on first use
_where: Path | None = None                    # the file it was read from (and is written back to)
_used: set[str] = set()                       # the texts this process made classes from
_gained = 0                                   # texts compiled here (not in the table read)


def _fresh_lock() -> None:
    """In a forked child: a lock another thread of the parent held at the fork would never be let go."""
    global _lock
    _lock = _thread.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock)


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
    code = _code(source)
    return builtins.exec(code, globals, locals)


def _code(source: str) -> CodeType:
    """The code of a generated text: from the table, else compiled (and the table to be written)."""
    global _table, _where, _gained
    with _lock:
        if _table is None:
            _table = {}               # a class made while the table is read is compiled, not looked up
            _where = table_path()
            _table.update(_read(_where))
        _used.add(source)
        code = _table.get(source)
        if code is None:
            code = compile(source, "<string>", "exec", dont_inherit=True)
            _table[source] = code
            _gained += 1
            if _gained == 1:
                import atexit

                atexit.register(_write)
    return code


def table_path() -> Path | None:
    """Where the table of this Python's bytecode version lives (None: the engine cache is off)."""
    from .util import engine_cache_dir

    root = engine_cache_dir("engine")
    return None if root is None else root / f"dataclasses-{sys.implementation.cache_tag}.bin"


def _magic() -> bytes:
    import importlib.util

    return importlib.util.MAGIC_NUMBER


def _read(path: Path | None) -> dict[str, CodeType]:
    """The table stored at `path`, or {} (none yet, unreadable, untrusted folder, not a regular file of
    ours that only we can write, another version, damaged)."""
    from .util import foreign_folder, read_own_file

    if path is None or foreign_folder(path.parent):
        return {}
    try:
        data = read_own_file(path)
    except OSError:
        return {}
    magic = _magic()
    if not data.startswith(magic):
        return {}
    try:
        table = marshal.loads(data[len(magic):])
    except (EOFError, ValueError, TypeError):
        return {}
    code_type = type(_read.__code__)
    if not isinstance(table, dict) or not all(
            type(k) is str and type(v) is code_type for k, v in table.items()):
        return {}
    return table


def _write() -> None:
    """Write the table back (atomically) when this process compiled texts it did not have; best effort."""
    from .util import foreign_folder, replace_atomically

    path = _where
    if path is None or not _gained or _table is None:
        return
    with _lock:
        keep = _table if len(_table) <= MAX_TEXTS else {t: _table[t] for t in _used}
        data = _magic() + marshal.dumps(keep)
    try:
        if foreign_folder(path.parent, make=True):
            return
        replace_atomically(path, data, prefix=".tmp-", suffix=".bin")
    except OSError:
        pass
