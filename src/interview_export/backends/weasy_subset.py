"""WeasyPrint 70's HarfBuzz subset input arrays → made without cffi parsing a C type per length (same subsets).

``Font._harfbuzz_subset`` (weasyprint/pdf/fonts.py) hands HarfBuzz its glyph ids in arrays made with
``ffi.new(f'hb_codepoint_t[{n}]', values)``: three per embedded font. cffi caches a C type by its
text, and every new length is a new text, which cffi parses with pycparser: ~2 ms each, six for the
seed book (its three faces keep 544/836/552 glyphs and up to glyph 1182/1183, plus the 11 dropped
tables), ~12 ms of a ~1.2 s run, and again in a batch worker for each book's own lengths.
:func:`install` gives that module an ``ffi`` that makes such an array as ``ffi.new('hb_codepoint_t[]',
values)`` — one type, parsed once — when `values` has exactly ``n`` items: the same C array (same
element type, length and values), so HarfBuzz cuts the same subset. Everything else goes to
WeasyPrint's ``ffi`` as it is. Only cffi's own ``FFI`` parses in Python: the FFI that
:mod:`.weasy_ffi` makes from cached tables parses a C type in C (20 lengths: ~0.4 ms), so it is
left as it is.

Installed only on the WeasyPrint version whose function it was checked against (digest below).
"""

from __future__ import annotations

import logging
import re
import threading

from ..compat import unpinned

log = logging.getLogger("interview_export.pdf")

#: sha256 of the WeasyPrint function whose arrays are made here (an upgrade is checked by hand)
SOURCE_DIGESTS = {"Font._harfbuzz_subset": "f80805663ede8080a3e1ffff831e20c74bd25fa3b8e4410334ba807158dc685f"}
_SIZED = re.compile(r"hb_codepoint_t\[(\d+)\]")
_lock = threading.Lock()


class SubsetFFI:
    """WeasyPrint's cffi ``FFI`` for weasyprint/pdf/fonts.py: ``new`` makes a sized
    ``hb_codepoint_t`` array from the unsized type; all else is the FFI's own."""

    def __init__(self, ffi) -> None:
        self.ffi = ffi

    def new(self, cdecl, init=None):
        """``ffi.new``; a sized ``hb_codepoint_t`` array given as many values is made unsized."""
        sized = _SIZED.fullmatch(cdecl) if isinstance(cdecl, str) and init is not None else None
        if sized is not None and len(init) == int(sized[1]):
            return self.ffi.new("hb_codepoint_t[]", init)
        return self.ffi.new(cdecl, init)

    def __getattr__(self, name):
        return getattr(self.ffi, name)


def install() -> bool:
    """Give weasyprint/pdf/fonts.py the :class:`SubsetFFI` when its ``ffi`` is cffi's own (once per
    process); False when the installed WeasyPrint is not the one this was checked against (then
    cffi parses, as always)."""
    with _lock:
        import cffi
        from weasyprint.pdf import fonts

        if isinstance(fonts.ffi, SubsetFFI):
            return True
        problem = unpinned(SOURCE_DIGESTS, lambda: {"Font._harfbuzz_subset": fonts.Font._harfbuzz_subset})
        if problem:
            log.debug("HarfBuzz subset arrays made by WeasyPrint: %s", problem)
            return False
        if isinstance(fonts.ffi, cffi.FFI):     # weasy_ffi's FFI parses C types in C: nothing to save
            fonts.ffi = SubsetFFI(fonts.ffi)
        return True
