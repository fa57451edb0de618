"""WeasyPrint 70's C declarations → a cffi FFI made from type tables parsed once per user, not per process.

``weasyprint/text/ffi.py`` declares what it calls in Pango, HarfBuzz and fontconfig with
``ffi = cffi.FFI(); ffi.cdef(<16 KB of C>)``: cffi imports pycparser and parses that text in every
process, and while rendering it parses, in Python, each new C type string WeasyPrint names
(``ffi.new('PangoRectangle *')`` …). cffi's *out-of-line ABI mode* does the parsing once:
``cffi.recompiler.make_py_source`` turns the declarations into type tables, and
``_cffi_backend.FFI(name, **tables)`` is an FFI whose ``new``, ``cast``, ``dlopen`` and library
lookups parse C types in C, with no pycparser in the process.

The tables live in the user's cache folder (``util.engine_cache_dir("engine")``, one file per sha256
of the cdef text and cffi version) like ``__pycache__``: the first import with no tables parses as WeasyPrint does and writes
them; every later one runs WeasyPrint's own ``text/ffi.py`` with ``cffi.FFI()`` answered by
:class:`_Pending`, whose ``cdef(text)`` takes the tables made from that very text. After the module
has run, its ``ffi`` is the FFI itself (the libraries were opened from it), so every ``from .ffi
import ffi`` in WeasyPrint gets that. Same declarations, same calls, same PDF bytes.

Used only for WeasyPrint :data:`~interview_export.compat.WEASYPRINT_PINNED` with the ``text/ffi.py``
pinned below, while weasy_speed skips the library search (Linux, sonames open: there cffi's
``dlopen`` of a name is the C ``dlopen`` this FFI does). Any difference (version, file, cdef text,
cffi version, a damaged file) or a cache that cannot be read or written, that others can write
(``util.foreign_folder``), or a tables file that is not a regular file of ours alone
(``util.read_own_file``): WeasyPrint's own import, as before, logged at debug.
``INTERVIEW_EXPORT_ENGINE_CACHE=0`` turns it off (nothing read or written).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import logging
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from ..compat import WEASYPRINT_PINNED

log = logging.getLogger("interview_export.pdf")

MODULE = "weasyprint.text.ffi"
#: sha256 of weasyprint/text/ffi.py at WEASYPRINT_PINNED: one cdef call, libraries opened by name
#: (an upgrade is checked by hand)
SOURCE_DIGEST = "530e83118f7841d2791678ece23d5e43a7a24150ee1ea64bb4ba70c70b3eb5da"
TABLES_NAME = "_weasyprint_ffi"                 # the name cffi gives the FFI (its error messages)
MAGIC = b"interview-export cffi tables 1\n"
TABLE_KEYS = frozenset({"_version", "_types", "_globals", "_struct_unions", "_enums", "_typenames",
                        "_includes"})


def finder(searching_skipped: bool) -> _FfiImport | None:
    """The meta-path finder that gives ``weasyprint.text.ffi`` an FFI made from the cached tables,
    for the time of WeasyPrint's import (weasy_speed); None when they are not to be used:
    `searching_skipped` says whether weasy_speed skips the library search."""
    from ..util import ENGINE_CACHE_SWITCH, engine_cache_dir

    reason = "" if searching_skipped else "the library search is not skipped"
    if engine_cache_dir("engine") is None:
        reason = f"{ENGINE_CACHE_SWITCH}=0"
    if reason:
        log.debug("WeasyPrint's C declarations parsed by cffi: %s", reason)
    return None if reason or MODULE in sys.modules else _FfiImport()


def tables_path(root: Path, text: str) -> Path:
    """The file of the tables for cdef `text` under the cffi installed."""
    import _cffi_backend

    return root / f"ffi-{_digest(text)[:32]}-cffi-{_cffi_backend.__version__}.bin"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- the import of weasyprint/text/ffi.py
class _FfiImport:
    """A meta-path finder for ``weasyprint.text.ffi`` alone: Python's own spec for it, run by
    :class:`_Loader` when the file is the pinned one; anything else is left to the other finders."""

    def __init__(self) -> None:
        self.asked = False

    def find_spec(self, name, path=None, target=None):
        if name != MODULE or self.asked:
            return None
        self.asked = True
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.origin is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return None
        reason = _unpinned(spec.origin)
        if reason:
            log.debug("WeasyPrint's C declarations parsed by cffi: %s", reason)
            return None
        spec.loader = _Loader(spec.loader.name, spec.loader.path)
        return spec


def _unpinned(path: str) -> str:
    """"" when the WeasyPrint being imported is the pinned one and `path` its ``text/ffi.py``."""
    version = getattr(sys.modules.get("weasyprint"), "__version__", None)
    if version != WEASYPRINT_PINNED:
        return f"WeasyPrint {version} (written for {WEASYPRINT_PINNED})"
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as exc:
        return f"{path} unreadable: {exc}"
    if hashlib.sha256(source).hexdigest() != SOURCE_DIGEST:
        return "WeasyPrint's text/ffi.py changed"
    return ""


class _Differs(Exception):
    """WeasyPrint's ``text/ffi.py`` asked the FFI for what the tables cannot give."""


class _Loader(importlib.machinery.SourceFileLoader):
    """Runs ``text/ffi.py`` as Python would, with its ``cffi.FFI()`` answered by a :class:`_Pending`;
    then its ``ffi`` is the FFI that :class:`_Pending` settled on. Tables missing: written once run."""

    def exec_module(self, module) -> None:
        import cffi

        from ..util import engine_cache_dir

        root = engine_cache_dir("engine")
        if root is None:    # switched off since the finder was made
            super().exec_module(module)
            return
        stock, before = cffi.FFI, dict(vars(module))
        pending = _Pending(stock, root)

        def answer(*args, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__")
            if args or kwargs or pending.handed or caller != MODULE:
                return stock(*args, **kwargs)
            pending.handed = True
            return pending

        cffi.FFI = answer
        try:
            super().exec_module(module)
        except _Differs as exc:       # start again, the way WeasyPrint does
            log.debug("WeasyPrint's C declarations parsed by cffi: it asked for %s", exc)
            cffi.FFI = stock
            vars(module).clear()
            vars(module).update(before)
            super().exec_module(module)
            return
        finally:
            cffi.FFI = stock
        ffi = pending.settled()
        for name, value in list(vars(module).items()):
            if value is pending:
                setattr(module, name, ffi)
        if pending.text is not None and not pending.prebuilt:
            write_tables(pending.root, pending.text)


class _Pending:
    """What ``cffi.FFI()`` gives ``text/ffi.py`` while it runs: ``cdef(text)`` settles on the FFI made
    from the cached tables of `text`, or (none) on cffi's own FFI, which parses it; everything else
    is the settled FFI's."""

    def __init__(self, stock, root: Path) -> None:
        self.stock, self.root = stock, root
        self.ffi: Any = None
        self.text: str | None = None
        self.handed = self.prebuilt = False

    def settled(self):
        if self.ffi is None:
            self.ffi = self.stock()
        return self.ffi

    def cdef(self, text, *args, **kwargs) -> None:
        if self.ffi is None and isinstance(text, str) and not args and not kwargs:
            self.text = text
            self.ffi = load_tables(self.root, text)
            self.prebuilt = self.ffi is not None
            if self.prebuilt:
                return
        if self.prebuilt:
            raise _Differs("a second cdef")
        self.settled().cdef(text, *args, **kwargs)

    def dlopen(self, name, flags=0):
        """The FFI's ``dlopen``; with the tables, as cffi's own while find_library answers None: a name
        with no dot or slash is not opened (cffi tries it only through find_library)."""
        if self.prebuilt and isinstance(name, str) and not any(c in name for c in "./" + os.sep):
            raise OSError(f"cannot load library {name!r}: not searched for")
        return self.settled().dlopen(name, flags)

    def __getattr__(self, attr: str):
        try:
            return getattr(self.settled(), attr)
        except AttributeError:
            if self.prebuilt:
                raise _Differs(f"ffi.{attr}") from None
            raise


# ---------------------------------------------------------------- the tables: made, written, read
def make_tables(text: str) -> dict[str, Any]:
    """cdef `text` → the arguments of ``_cffi_backend.FFI`` that cffi's out-of-line ABI mode writes
    into its generated module (parsed here with cffi's parser, read back as literals)."""
    import ast
    import io

    import cffi
    from cffi import recompiler

    builder = cffi.FFI()
    builder.cdef(text)
    out = io.StringIO()
    recompiler.make_py_source(builder, TABLES_NAME, out)
    calls = [node.value for node in ast.parse(out.getvalue()).body
             if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)]
    if len(calls) != 1 or [ast.literal_eval(a) for a in calls[0].args] != [TABLES_NAME]:
        raise ValueError("cffi's generated module is not one _cffi_backend.FFI(...) call")
    tables = {str(kw.arg): ast.literal_eval(kw.value) for kw in calls[0].keywords}
    if not set(tables) <= TABLE_KEYS:
        raise ValueError(f"cffi's generated module has {sorted(set(tables) - TABLE_KEYS)}")
    return tables


def encode_tables(text: str, tables: dict[str, Any]) -> bytes:
    """The cache file: a magic line, the sha256 of the body, the body (marshal: data only)."""
    import _cffi_backend

    body = marshal.dumps({"cdef": _digest(text), "cffi": _cffi_backend.__version__, "tables": tables})
    return MAGIC + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n" + body


def decode_tables(data: bytes, text: str) -> dict[str, Any] | str:
    """The tables a cache file holds for cdef `text` under the cffi installed, or why not."""
    import _cffi_backend

    if not data.startswith(MAGIC):
        return "not a tables file"
    head, _, body = data[len(MAGIC):].partition(b"\n")
    if head != hashlib.sha256(body).hexdigest().encode("ascii"):
        return "damaged"
    try:
        found = marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return "damaged"
    if not isinstance(found, dict) or not isinstance(found.get("tables"), dict):
        return "damaged"
    if found.get("cdef") != _digest(text):
        return "made from another cdef text"
    if found.get("cffi") != _cffi_backend.__version__:
        return f"made by cffi {found.get('cffi')}"
    if not set(found["tables"]) <= TABLE_KEYS:
        return "damaged"
    return found["tables"]


def load_tables(root: Path, text: str):
    """The FFI made from the cached tables of cdef `text`, or None (no file yet, or unusable: logged)."""
    import _cffi_backend

    from ..util import foreign_folder, read_own_file

    path = tables_path(root, text)
    refused = foreign_folder(root) if root.exists() else ""
    if refused:
        log.debug("WeasyPrint's C declarations parsed by cffi: %s not read: %s", path, refused)
        return None
    try:
        data = read_own_file(path)
    except FileNotFoundError:
        log.debug("WeasyPrint's C declarations parsed by cffi: no tables yet in %s", root)
        return None
    except OSError as exc:
        log.debug("WeasyPrint's C declarations parsed by cffi: %s unreadable: %s", path, exc)
        return None
    tables = decode_tables(data, text)
    if isinstance(tables, str):
        log.debug("WeasyPrint's C declarations parsed by cffi: %s %s", path, tables)
        return None
    try:
        return _cffi_backend.FFI(TABLES_NAME, **tables)
    except Exception as exc:    # an out-of-line version this cffi does not know, bad tables
        log.debug("WeasyPrint's C declarations parsed by cffi: %s refused: %s", path, exc)
        return None


def write_tables(root: Path, text: str) -> bool:
    """Make the tables of cdef `text` and write them under `root` (atomically); False, logged at
    debug, when they cannot be made or written (the next import parses again). A folder that
    cannot be written is found before cffi parses anything."""
    from ..util import foreign_folder, replace_atomically

    path = tables_path(root, text)
    try:
        refused = foreign_folder(root, make=True)
        if refused:
            raise PermissionError(refused)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(f"{root} is not writable")
        replace_atomically(path, encode_tables(text, make_tables(text)), prefix=".tmp-", suffix=".bin")
    except Exception as exc:
        log.debug("cffi tables of WeasyPrint's C declarations not written to %s: %s", path, exc)
        return False
    log.debug("cffi tables of WeasyPrint's C declarations written to %s", path)
    return True
