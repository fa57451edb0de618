"""Output formats → their backend modules: one module per format, listed in ``BACKENDS``.

Each backend turns one :class:`~interview_export.prepare.PreparedBook` into book bytes plus its
own warnings (``build_with_warnings``); ``api`` reaches them only through this dict.
"""

from __future__ import annotations

import importlib
from typing import Callable


def _on_first_use(module: str) -> Callable[..., tuple[bytes, list[str]]]:
    """`module`'s build_with_warnings, imported when first called: an EPUB run never loads the PDF
    backend (its line-breaking and typesetting modules compile large regexes at import, ~20 ms)."""
    def build_with_warnings(*args, **kwargs) -> tuple[bytes, list[str]]:
        return importlib.import_module(f"{__name__}.{module}").build_with_warnings(*args, **kwargs)
    return build_with_warnings


#: format → backend: PreparedBook → (book bytes, the backend's own warnings)
BACKENDS: dict[str, Callable[..., tuple[bytes, list[str]]]] = {
    "epub": _on_first_use("epub"),
    "pdf": _on_first_use("pdf"),
}
