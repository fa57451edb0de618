"""Private corners of the libraries we use → one module, each one checked by tests/test_compat.py.

Everything here leans on something a library does not promise to keep (a name with an underscore,
an import-time detail). ``PROBES`` checks each of them against the installed version, and
tests/test_compat.py runs the probes and exercises every wrapper, so an upgrade that moves one
fails a test instead of silently dropping a guard or a speed-up. The rest of the package uses only
public APIs. (Our WeasyPrint and pydyf patches — weasy_cjk and backends/weasy_speed, weasy_passes,
weasy_subset, weasy_tags — guard themselves with digests of the source they replace or rely on:
``source_digest`` here, tests/test_weasy_guard.py; backends/weasy_ffi pins text/ffi.py's file.)
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable


class CompatError(RuntimeError):
    """A library no longer has the private attribute or behaviour a wrapper here relies on."""


def _require(owner: object, name: str, what: str) -> Any:
    value = getattr(owner, name, None)
    if value is None:
        raise CompatError(f"{what} no longer has {name}: update interview_export/compat.py")
    return value


def _require_params(func: Callable, names: tuple[str, ...], what: str) -> None:
    params = tuple(inspect.signature(func).parameters)
    if params[: len(names)] != names:
        raise CompatError(f"{what} now takes {params}, not {names}: update interview_export/compat.py")


# ---------------------------------------------------------------- concurrent.futures: the worker processes
def pool_processes(pool: Any) -> list:
    """The worker processes of a started ``ProcessPoolExecutor`` (``pool._processes``: the
    executor has no public way to reach them, and Ctrl-C and time-outs must stop them)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def _probe_pool_processes() -> None:
    from concurrent.futures import ProcessPoolExecutor

    if "self._processes = {}" not in inspect.getsource(ProcessPoolExecutor.__init__):
        raise CompatError("ProcessPoolExecutor no longer keeps its workers in _processes:"
                          " update interview_export/compat.py (pool_processes)")


# ---------------------------------------------------------------- interpreter exit without the teardown
def finish_interpreter() -> None:
    """What the interpreter does first at exit — wait for non-daemon threads
    (``threading._shutdown``), run the atexit handlers (``atexit._run_exitfuncs``) — without the
    module teardown that follows (the caller then flushes and ``os._exit``s)."""
    import atexit
    import threading

    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    _require(atexit, "_run_exitfuncs", "atexit")()


def _probe_exit() -> None:
    import atexit
    import threading

    for owner, name in ((threading, "_shutdown"), (atexit, "_run_exitfuncs")):
        if not callable(_require(owner, name, owner.__name__)):
            raise CompatError(f"{owner.__name__}.{name} is not callable: update interview_export/compat.py")


# ---------------------------------------------------------------- ebooklib: the writer without its zip
EBOOKLIB_WRITER_STEPS = ("_write_container", "_write_opf", "_write_items")


def epub_entries(book: Any, nav: bytes, options: dict) -> list[tuple[str, bytes]]:
    """An ``ebooklib.epub.EpubBook`` → its package files as (name, bytes), in ebooklib's order, with
    `nav` as the navigation document and ``xml:lang`` on the OPF package. ebooklib's public
    ``write_epub`` writes a zip with the current time in it; we zip deterministically ourselves, so
    this runs its private steps (``_write_container``/``_write_opf``/``_write_items``) into a
    collector and overrides ``_get_nav`` and ``_write_opf_file``."""
    writer = _writer_class()(book, nav, options)
    writer.process()
    return writer.write()


def _writer_class():
    from ebooklib import epub as eb

    class Collector:
        """Stands in for ebooklib's ZipFile: remembers what it writes, in order."""

        def __init__(self) -> None:
            self.entries: list[tuple[str, bytes]] = []

        def writestr(self, name, data, compress_type=None):
            self.entries.append((name, data.encode("utf-8") if isinstance(data, str) else bytes(data)))

    class Writer(eb.EpubWriter):
        """ebooklib's writer with our nav document and no zip of its own."""

        def __init__(self, book, nav: bytes, options: dict):
            super().__init__("", book, options)
            self.nav = nav
            self.out = Collector()

        def _get_nav(self, item):
            return self.nav

        def _write_opf_file(self, root):
            # the package's own language (Ace: "language must be specified (xml:lang in OPF package)")
            root.set("{http://www.w3.org/XML/1998/namespace}lang", self.book.language)
            super()._write_opf_file(root)

        def write(self):
            for step in EBOOKLIB_WRITER_STEPS:
                getattr(self, step)()
            return self.out.entries

    return Writer


def _probe_ebooklib() -> None:
    from ebooklib import epub as eb

    for name in EBOOKLIB_WRITER_STEPS:
        _require_params(_require(eb.EpubWriter, name, "ebooklib.epub.EpubWriter"), ("self",),
                        f"EpubWriter.{name}")
    _require_params(_require(eb.EpubWriter, "_get_nav", "ebooklib.epub.EpubWriter"), ("self", "item"),
                    "EpubWriter._get_nav")
    _require_params(_require(eb.EpubWriter, "_write_opf_file", "ebooklib.epub.EpubWriter"), ("self", "root"),
                    "EpubWriter._write_opf_file")
    if "self.out.writestr(" not in inspect.getsource(eb.EpubWriter._write_items):
        raise CompatError("ebooklib's EpubWriter no longer writes through self.out.writestr:"
                          " update interview_export/compat.py (epub_entries)")


# ---------------------------------------------------------------- WeasyPrint: the source our patches pin
#: the WeasyPrint every patch of ours (weasy_cjk, weasy_speed, weasy_passes, weasy_subset, weasy_tags)
#: was read against; their SOURCE_DIGESTS pin its functions (an upgrade is checked by hand)
WEASYPRINT_PINNED = "70.0"


def unpinned(pins: dict[str, str], current: Callable[[], dict[str, Any]]) -> str | None:
    """None when WeasyPrint is :data:`WEASYPRINT_PINNED` and each function `current()` names (it is
    called only then: it may import modules another version lacks) has the source digest `pins`
    gives it; else why not, for the patch's log line."""
    import weasyprint

    if weasyprint.__version__ != WEASYPRINT_PINNED:
        return f"WeasyPrint {weasyprint.__version__} (written for {WEASYPRINT_PINNED})"
    changed = [name for name, obj in current().items() if obj is None or source_digest(obj) != pins.get(name)]
    return f"WeasyPrint's {', '.join(changed)} changed" if changed else None


def source_digest(obj) -> str:
    """sha256 of a function's or class's source: what the SOURCE_DIGESTS of our WeasyPrint
    patches (and weasy_speed's PYDYF_DIGESTS) pin, the functions they replace or rely on. The same
    digest as of ``inspect.getsource`` (tests/test_weasy_guard.py checks every pinned function),
    taken for a function straight from its file's lines: ``getsource`` tokenizes each one, about
    ten times the cost, in every PDF process."""
    import hashlib

    obj = inspect.unwrap(obj)
    code = getattr(obj, "__code__", None)
    if code is None:
        return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()
    lines = _source_lines(code.co_filename)
    return hashlib.sha256(b"".join(lines[code.co_firstlineno - 1:_last_line(code)])).hexdigest()


@functools.lru_cache(maxsize=None)
def _source_lines(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        return f.read().splitlines(keepends=True)


def _last_line(code) -> int:
    """The last source line of `code` or of any code nested in it."""
    nested = [_last_line(const) for const in code.co_consts if hasattr(const, "co_lines")]
    return max([line or 0 for *_, line in code.co_lines()] + nested)


# ---------------------------------------------------------------- WeasyPrint: a font configuration's files
def remove_font_files(font_config: Any) -> None:
    """Delete the folder where a WeasyPrint ``FontConfiguration`` wrote its @font-face files
    (``_folder``, a ``/tmp/weasyprint-*`` of ~0.8 MB for a book). Its ``__del__`` would, but a
    process that leaves through ``os._exit`` with the cyclic collector off never runs it: one such
    folder stayed behind per PDF. Call it once the PDF is written (the files are read then)."""
    import shutil

    folder = getattr(font_config, "_folder", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        font_config._folder = None


def _probe_font_folder() -> None:
    from weasyprint.text.fonts import FontConfiguration

    if "_folder" not in vars(FontConfiguration) or "self._folder" not in inspect.getsource(
            FontConfiguration.add_font_face):
        raise CompatError("WeasyPrint's FontConfiguration no longer writes its fonts to _folder:"
                          " update interview_export/compat.py (remove_font_files)")


#: name → a check that raises CompatError when the installed library moved what we rely on
PROBES: dict[str, Callable[[], None]] = {
    "ProcessPoolExecutor workers": _probe_pool_processes,
    "interpreter exit steps": _probe_exit,
    "ebooklib writer steps": _probe_ebooklib,
    "WeasyPrint font folder": _probe_font_folder,
}
