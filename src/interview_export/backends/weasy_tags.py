"""WeasyPrint 70's tagged-PDF pass → the pages' references made once, not once per tagged element (same bytes).

``add_tags`` (weasyprint/pdf/tags.py) gives every structure element it makes its page as
``pdf.page_references[page_number]``, and pydyf's ``page_references`` is a property that builds
the tuple of every page's reference each time it is read: the seed book (18 pages) reads it 1,644
times, ~4.5 ms of 30,000 small strings, and a longer book pays pages × elements. No page is added
during the pass (``add_tags`` adds structure objects only), so :func:`install` lets the PDF keep
that tuple for the time of ``add_tags`` and forgets it afterwards: the same references, the same
bytes.

Installed only on the WeasyPrint and pydyf whose functions it was checked against (digests below).
"""

from __future__ import annotations

import functools
import logging
import threading

from ..compat import unpinned

log = logging.getLogger("interview_export.pdf")

#: sha256 of the functions relied on: the tagging pass adds no page; the property reads the pages
SOURCE_DIGESTS = {
    "add_tags": "f0e74575b0bafaf36458eaac27874e3b80457fba3694058153da514a68933f22",
    "_build_box_tree": "f716251a83e7096e9cae972b63e633aab21c664d200582166dd0d5096780f9c4",
    "PDF.page_references": "060bf90aad55931bc24c3575a52af9478a89916aa307e5323142663841cb7798",
}
_lock = threading.Lock()


def install() -> bool:
    """Wrap WeasyPrint's ``add_tags`` (once per process); False when WeasyPrint or pydyf is not the
    one this was checked against (then every read builds the tuple again, as always)."""
    with _lock:
        import pydyf
        from weasyprint import pdf
        from weasyprint.pdf import tags

        stock = pdf.add_tags
        if getattr(stock, "__wrapped__", None) is not None:
            return True
        problem = unpinned(SOURCE_DIGESTS, lambda: {
            "add_tags": stock, "_build_box_tree": tags._build_box_tree,
            "PDF.page_references": pydyf.PDF.page_references.fget})
        if problem:
            log.debug("page references made by pydyf on each read: %s", problem)
            return False

        @functools.wraps(stock)
        def add_tags(pdf_, document, pdf_version, page_streams):
            cls = type(pdf_)
            pdf_.__class__ = _pages_kept(cls)  # type: ignore[arg-type]
            try:
                return stock(pdf_, document, pdf_version, page_streams)
            finally:
                pdf_.__class__ = cls
                pdf_.__dict__.pop("page_references", None)

        pdf.add_tags = add_tags
        return True


@functools.lru_cache(maxsize=None)
def _pages_kept(cls: type) -> type:
    return type(cls.__name__, (cls,), {"page_references": functools.cached_property(cls.page_references.fget),  # type: ignore[attr-defined]
                                       "__module__": cls.__module__})
