"""Output formats → their backend modules: one module per format, listed in ``BACKENDS``.

Each backend turns one :class:`~interview_export.prepare.PreparedBook` into book bytes plus its
own warnings (``build_with_warnings``); ``api`` reaches them only through this dict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..model import Document
    from ..options import Options
    from ..prepare import PreparedBook


# Each backend module is imported on its first build, so an EPUB run never loads the PDF backend
# (its line-breaking and typesetting modules compile large regexes at import, ~20 ms). Plain
# imports, so that a reader (or a tool) can follow the call from api into the backend.
class _Epub:
    """The EPUB backend, with the ``warm`` that pipeline.build_books calls before the fonts."""

    def __call__(self, book: PreparedBook) -> tuple[bytes, list[str]]:
        from . import epub

        return epub.build_with_warnings(book)

    def warm(self, doc: Document, media: Any, options: Options) -> None:
        """Once the media are in, before the fonts: the generated cover's page filled in a thread."""
        from ..cover import warm_page

        warm_page(doc, media, options)


_epub = _Epub()


def _pdf(book: PreparedBook) -> tuple[bytes, list[str]]:
    from . import pdf

    return pdf.build_with_warnings(book)


#: format → backend: PreparedBook → (book bytes, the backend's own warnings)
BACKENDS: dict[str, Callable[[PreparedBook], tuple[bytes, list[str]]]] = {"epub": _epub, "pdf": _pdf}
