"""WeasyPrint 70's fixed costs → skipped where our books never need them (same pages, same bytes).

Found with ``benchmarks/profile_phases.py`` (seed → A4 PDF, ~1.2 s of CPU in all):

- **Library probing at import** (~0.13 s CPU, ~0.2 s wall per process): ``weasyprint/text/ffi.py``
  tries six names per C library and the first ones have no dot, so cffi hands them to
  ``ctypes.util.find_library``, which on Linux runs ``ldconfig -p`` and then gcc and ld for each:
  54 child processes before the first line of a book. On Linux, when the sonames WeasyPrint names
  itself (``libpango-1.0.so.0`` …) open directly, the lookup is skipped during that import and
  WeasyPrint opens those same files by soname (its later names in each list).
- **WeasyPrint's C declarations parsed in every process** (pycparser's import and 16 KB of C, then
  each C type named while rendering): during the import, :mod:`.weasy_ffi` gives
  ``weasyprint/text/ffi.py`` an FFI made from cffi tables cached per user, on the same condition.
- **fontTools' subsetter and variable-font instancer** (~75 ms of import): WeasyPrint imports them
  at start-up but calls them only when HarfBuzz cannot subset a font (it subsets with
  HarfBuzz-subset ≥ 4.1) or for a variable or colour font; our faces are static OpenType cut by
  HarfBuzz already. They are imported on first use instead.
- **The presentational-hints stylesheet parsed at import** (~9 ms): ``weasyprint/html.py`` parses
  three user-agent stylesheets when imported; ``html5_ph.css`` serves only
  ``presentational_hints=True``, which our books never ask for. It is parsed when first read
  instead (the object is WeasyPrint's ``CSS`` throughout: :func:`_hints_sheet_deferred`).
- **The PDF serialised twice** (~0.05 s): with ``pdf_identifier`` pydyf serialises every object —
  zlib level 9 on every stream — once to write it and once more to hash the whole file for its
  ``/ID``. :func:`remember_serialised` (a ``write_pdf`` finisher) keeps each object's bytes from the
  first time, also those of the object stream ``PDF.write`` makes itself (on the pydyf checked);
  the file and its ``/ID`` come out byte-identical. :func:`finish_pdf` (the finisher we use) also
  deflates the streams at zlib level 6 instead of pydyf's 9: half the zlib time (seed 45 → 21 ms,
  on the render's critical path) for 0.4 % of the file; every stream inflates to the same bytes.
- **Every PNG decoded and encoded again** (a fifth of a warm-cache batch's CPU: screenshots):
  WeasyPrint turns a PNG into PDF image data by decoding it and saving the pixels as a new PNG
  (Pillow, zlib level 6) to take its IDAT chunks. A plain PNG — 8-bit grey or RGB, not interlaced,
  no transparency chunk — already is that data; :func:`install` hands its IDAT over instead. The
  media stage writes the PDF renditions it makes at that same level 6, so their image streams
  are byte for byte what WeasyPrint would have made.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import struct
import sys
import threading
import types
import zlib
from typing import Iterator

from ..compat import WEASYPRINT_PINNED, source_digest, unpinned
from . import weasy_ffi

log = logging.getLogger("interview_export.pdf")

#: sha256 of the WeasyPrint functions install() relies on, at compat.WEASYPRINT_PINNED (an upgrade is checked by hand)
SOURCE_DIGESTS = {
    "RasterImage.get_x_object": "1f590111444639aa3547375a7fbddc6056f34fe64546c8550dc0ab36ea2b2408",
    "RasterImage._get_png_data": "da00cfefb979545130b958c5437c8ac62be7dfe939261f9a8196a8a6c5e899c2",
}
PYDYF = "0.13.0"
#: sha256 of pydyf's functions at PYDYF: PDF.write (remember_serialised relies on how it adds its
#: own objects) and Stream.data (what _stream_data does at another zlib level)
PYDYF_DIGESTS = {"PDF.write": "242cd38f92ecd33f831159f8eb560487bf2e18d746ff8a7666954f2a8d519ba0",
                 "Stream.data": "bdc2bc513f286de7b7a7220a43e6085daa6ed0056d9c04e3c9b5abe40f3ecf81"}
#: zlib level of our PDFs' streams: pydyf's 9 costs ~2× the CPU of 6 (seed: 45 → 21 ms) for 0.4 %
#: of the file (see finish_pdf)
DEFLATE_LEVEL = 6
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_installed = False
_lock = threading.Lock()
_import_lock = threading.Lock()
_parse_lock = threading.Lock()

#: The sonames WeasyPrint 70 tries among its names for each library it needs (text/ffi.py)
SONAMES = ("libgobject-2.0.so.0", "libpango-1.0.so.0", "libharfbuzz.so.0", "libfontconfig.so.1",
           "libpangoft2-1.0.so.0")
#: Modules WeasyPrint imports at start-up and uses only for fonts HarfBuzz cannot handle:
#: (is a package, the names WeasyPrint imports from it)
DEFERRED = {"fontTools.subset": (True, ()),
            "fontTools.varLib.instancer": (False, ("instantiateVariableFont",))}


def import_weasyprint() -> types.ModuleType:
    """``import weasyprint``, without the library probing and the unused fontTools modules.
    Thread-safe: one thread imports, with the patches above in place for that time only (two
    threads entering them at once would leave ``find_library`` patched); another thread waits
    and gets the finished module."""
    if "weasyprint" not in sys.modules:
        with _import_lock:
            if "weasyprint" not in sys.modules:
                with _no_library_search() as skipped, _first_in_meta_path(weasy_ffi.finder(skipped)), \
                        _deferred_modules(), _hints_sheet_deferred():
                    import weasyprint
    import weasyprint  # waits while another thread is still importing it

    return weasyprint


@contextlib.contextmanager
def _no_library_search() -> Iterator[bool]:
    """``ctypes.util.find_library`` answers None for the time of the import; yields whether it does."""
    if not sys.platform.startswith("linux") or not _sonames_open():
        yield False                # elsewhere, or libraries only find_library knows: as WeasyPrint does
        return
    import ctypes.util

    search = ctypes.util.find_library
    ctypes.util.find_library = _not_searched
    try:
        yield True
    finally:
        ctypes.util.find_library = search


def _not_searched(name: str) -> None:
    return None


def _sonames_open() -> bool:
    import ctypes

    try:
        for soname in SONAMES:
            ctypes.CDLL(soname)
    except OSError:
        return False
    return True


class _Deferred(types.ModuleType):
    """Stands in for a module in ``sys.modules`` until something reads from it; then the real
    module is imported (and takes its place) and answers."""

    # only names missing here arrive (``__spec__`` stays None: the import system reads it, and
    # it asks a plain module for ``__path__`` on every ``from … import``)
    def __getattr__(self, attr: str):
        if attr == "__path__" and not self._package:
            raise AttributeError(attr)
        return getattr(self._real(), attr)

    def _real(self) -> types.ModuleType:
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        return importlib.import_module(name)


def _forwarder(stub: _Deferred, attr: str):
    def call(*args, **kwargs):
        return getattr(stub._real(), attr)(*args, **kwargs)
    call.__name__ = call.__qualname__ = attr
    return call


@contextlib.contextmanager
def _deferred_modules() -> Iterator[None]:
    for name, (package, names) in DEFERRED.items():
        if name in sys.modules or importlib.util.find_spec(name.split(".")[0]) is None:
            continue
        stub = _Deferred(name, "imported on first use (interview_export.backends.weasy_speed)")
        stub._package = package  # type: ignore[attr-defined]
        for attr in names:
            setattr(stub, attr, _forwarder(stub, attr))
        sys.modules[name] = stub
    yield


@contextlib.contextmanager
def _first_in_meta_path(finder) -> Iterator[None]:
    """`finder` (None: nothing) asked before the others about each module imported meanwhile."""
    if finder is None:
        yield
        return
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


@contextlib.contextmanager
def _hints_sheet_deferred() -> Iterator[None]:
    """For the time of WeasyPrint's import (compat.WEASYPRINT_PINNED only), ``CSS(string=html.PH)`` — the
    presentational-hints sheet, which ``weasyprint/html.py`` parses at import — makes a stylesheet
    that parses itself when first read; every other ``CSS()`` is made as always."""
    finder = _HtmlImport()
    try:
        with _first_in_meta_path(finder):
            yield
    finally:
        if finder.css is not None:
            finder.css.__init__ = finder.init  # type: ignore[misc]


class _HtmlImport:
    """A meta-path finder that finds nothing: it only sees ``weasyprint.html`` about to be imported
    (``weasyprint.CSS`` exists by then) and wraps ``CSS.__init__`` until the import is over."""

    css: type | None = None
    init = None

    def find_spec(self, name, path=None, target=None):
        weasyprint = sys.modules.get("weasyprint")
        css = getattr(weasyprint, "CSS", None)
        if (name == "weasyprint.html" and self.css is None and isinstance(css, type)
                and getattr(weasyprint, "__version__", None) == WEASYPRINT_PINNED):
            self.css, self.init = css, css.__dict__["__init__"]
            css.__init__ = _parse_hints_later(css, self.init)  # type: ignore[misc]
        return None


def _parse_hints_later(css: type, init):
    class Deferred(css):
        """The stylesheet, parsed when something first reads it (then a plain ``CSS`` again)."""

        def __getattr__(self, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            with _parse_lock:
                if type(self) is Deferred:
                    init(self, **self.__dict__["_deferred"])
                    del self.__dict__["_deferred"]
                    self.__class__ = css
            return getattr(self, attr)

    def deferring(self, *args, **kwargs):
        html = sys.modules.get("weasyprint.html")
        if args or list(kwargs) != ["string"] or kwargs["string"] is not getattr(html, "PH", None):
            return init(self, *args, **kwargs)
        self.__class__ = Deferred
        self._deferred = kwargs
        return None

    return deferring


def finish_pdf(document, pdf) -> None:
    """Our ``write_pdf`` finisher: :func:`remember_serialised`, with the streams deflated at
    :data:`DEFLATE_LEVEL` instead of pydyf's 9. Measured on the seed and the 4 corpus books of
    bytes.sh: level 9 → 6 is 44.6 → 21.0 ms of zlib for the seed (the object stream 12.7 → 2.9 ms,
    the three CFF fonts 20 → 12 ms) and +3.1 kB on 774 kB; 8 and 7 keep most of the cost, 5 … 1
    save ≤ 9 ms more for +1.5 … 24 kB. Same content: every stream inflates to the same bytes."""
    remember_serialised(document, pdf, level=DEFLATE_LEVEL)


def remember_serialised(document, pdf, *, level: int | None = None) -> None:
    """A ``write_pdf`` finisher: every object of `pdf` keeps its serialised bytes once made, so the
    ``/ID`` hash reuses what was written instead of serialising and compressing everything again.
    On the pydyf checked (:func:`pydyf_checked`) the objects ``PDF.write`` makes and adds itself
    do too: the object stream gathering all dictionaries (~13 ms of zlib level 9 for the seed) was
    still compressed twice. With `level` (and the ``Stream.data`` checked) the streams are
    deflated at that zlib level, not pydyf's 9."""
    if level is not None and not pydyf_checked("Stream.data"):
        level = None
    for obj in pdf.objects:
        if obj.free != "f":
            _remember(obj, level)
    if pydyf_checked("PDF.write"):
        add = pdf.add_object

        def added(obj) -> None:     # PDF.write: the info dictionary, object and xref streams
            add(obj)
            _remember(obj, level)

        pdf.add_object = added


def _remember(obj, level: int | None) -> None:
    if isinstance(getattr(type(obj), "data", None), property):
        obj.__class__ = _remembering(type(obj), level)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=None)
def pydyf_checked(name: str = "PDF.write") -> bool:
    """Whether pydyf is the version whose function `name` was read (``PYDYF_DIGESTS``): its
    ``PDF.write`` adds the object and xref streams complete and changes no object after adding it;
    its ``Stream.data`` is :func:`_stream_data` at level 9."""
    import pydyf

    owner, attr = name.split(".")
    function = getattr(getattr(pydyf, owner, None), attr, None)
    function = getattr(function, "fget", function)
    found = source_digest(function) if function is not None else None
    if pydyf.__version__ != PYDYF or found != PYDYF_DIGESTS.get(name):
        log.debug("pydyf's %s used as it is: version %s, digest %s", name, pydyf.__version__, found)
        return False
    return True


@functools.lru_cache(maxsize=None)
def _remembering(cls: type, level: int | None = None) -> type:
    import pydyf

    if level is not None and issubclass(cls, pydyf.Stream) and cls.data.fget is pydyf.Stream.data.fget:  # type: ignore[attr-defined]
        data = functools.partial(_stream_data, level=level)
    else:
        data = cls.data.fget  # type: ignore[attr-defined]
    remembering = type(cls.__name__, (cls,), {"__module__": cls.__module__})
    kept = functools.cached_property(data)
    kept.__set_name__(remembering, "data")   # not by type(): Python 3.11 turns a Ctrl-C there into RuntimeError
    remembering.data = kept  # type: ignore[attr-defined]
    return remembering


def _stream_data(stream, level: int) -> bytes:
    """pydyf 0.13.0's ``Stream.data`` with the zlib `level` given instead of 9."""
    import pydyf

    content = b"\n".join(pydyf._to_bytes(item) for item in stream.stream)
    extra = pydyf.Dictionary(stream.extra.copy())
    if stream.compress:
        extra["Filter"] = "/FlateDecode"
        deflate = zlib.compressobj(level=level)
        content = deflate.compress(content) + deflate.flush()
    extra["Length"] = len(content)
    return b"\n".join((extra.data, b"stream", content, b"endstream"))


# ---------------------------------------------------------------- PNG image data handed over
def install() -> bool:
    """Let WeasyPrint take a plain PNG's IDAT as it is (once per process); False when the installed
    WeasyPrint is not the one this was checked against (then it re-encodes, as always)."""
    global _installed
    with _lock:
        if _installed:
            return True
        from weasyprint.images import RasterImage

        stock = RasterImage.__dict__.get("_get_png_data")
        problem = unpinned(SOURCE_DIGESTS, lambda: {"RasterImage.get_x_object": RasterImage.get_x_object,
                                                   "RasterImage._get_png_data": getattr(stock, "__func__", None)})
        if problem:
            log.debug("PNG image data re-encoded by WeasyPrint: %s", problem)
            return False
        encode = stock.__func__

        def png_data(pillow_image) -> bytes:
            plain = idat_of_plain_png(pillow_image)
            return encode(pillow_image) if plain is None else plain

        RasterImage._get_png_data = staticmethod(png_data)
        _installed = True
        return True


def idat_of_plain_png(pillow_image) -> bytes | None:
    """The IDAT data of the PNG file `pillow_image` was opened from when it is what WeasyPrint
    would write for those pixels (8-bit grey or RGB, not interlaced, no tRNS); else None."""
    fp = getattr(pillow_image, "fp", None)
    if pillow_image.format != "PNG" or fp is None or pillow_image.mode not in ("L", "RGB"):
        return None
    at = fp.tell()
    try:
        fp.seek(0)
        data = fp.read()
    finally:
        fp.seek(at)
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    depth, color, interlace = data[24], data[25], data[28]
    if depth != 8 or color != {"L": 0, "RGB": 2}[pillow_image.mode] or interlace:
        return None
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"tRNS":
            return None
        if kind == b"IDAT":
            chunks.append(data[pos + 8:pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + length
    return b"".join(chunks) or None
