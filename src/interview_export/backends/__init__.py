"""Output formats → their backend modules: one module per format, listed in ``BACKENDS``.

Each backend turns one :class:`~interview_export.prepare.PreparedBook` into book bytes plus its
own warnings (``build_with_warnings``); ``api`` reaches them only through this dict.
"""

from __future__ import annotations

from typing import Callable

from . import epub, pdf

#: format → backend: PreparedBook → (book bytes, the backend's own warnings)
BACKENDS: dict[str, Callable[..., tuple[bytes, list[str]]]] = {
    "epub": epub.build_with_warnings,
    "pdf": pdf.build_with_warnings,
}
