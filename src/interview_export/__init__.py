"""interview-export: Markdown interviews → EPUB 3 books and print-ready PDFs.

The public Python API lives in :mod:`interview_export.api` and is re-exported here lazily
(importing the package stays cheap: WeasyPrint loads only when a PDF is made)::

    import interview_export
    results = interview_export.convert(["a.md", "b.md"], formats=("epub", "pdf"), out_dir="books")
"""

from __future__ import annotations

from .version import __version__

__all__ = ["convert", "load", "to_epub", "to_pdf", "Options", "__version__"]


def __getattr__(name: str):
    if name == "Options":
        from interview_export.options import Options

        return Options
    if name in {"convert", "load", "to_epub", "to_pdf"}:
        from interview_export import api

        return getattr(api, name)
    raise AttributeError(f"module 'interview_export' has no attribute {name!r}")
