"""--css files → checked, inert stylesheet text: read once, no ``@import`` and no ``url()`` left.

Both backends use the text this module gives (the EPUB packs it, the PDF hands it to WeasyPrint),
so a stylesheet that is missing, not UTF-8 or reaching for a file or a server is the same
error or warning in both.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

_URL_FUNCTIONS = {"url", "src", "image", "image-set", "-webkit-image-set", "cross-fade", "element"}
_SHOWN_REMOVALS = 3          # the warning names this many of the removed references


@dataclass(frozen=True)
class UserSheet:
    """One --css file: where it came from and its text, cleaned."""

    path: str          # as given (the PDF names the sheet by it; messages quote it)
    text: str
    removed: tuple[str, ...] = ()    # the @import rules and url()/image() values taken out


def read_user_css(paths: tuple[str | os.PathLike[str], ...]) -> tuple[tuple[UserSheet, ...], list[str]]:
    """Every --css file read and cleaned → (sheets, one warning per sheet that lost something).
    UsageError naming the file when one is missing, unreadable or not UTF-8."""
    sheets, warnings = [], []
    for path in paths:
        text = read_stylesheet(path)
        cleaned, removed = clean_css(text)
        sheet = UserSheet(str(path), cleaned, tuple(removed))
        sheets.append(sheet)
        if removed:
            shown = ", ".join(removed[:_SHOWN_REMOVALS]) + (", …" if len(removed) > _SHOWN_REMOVALS else "")
            warnings.append(f"stylesheet {path}: {len(removed)} url()/@import refused (a book holds every "
                            f"resource itself): {shown}")
    return tuple(sheets), warnings


def read_stylesheet(path: str | os.PathLike[str]) -> str:
    """A user stylesheet (--css) as text (UTF-8, a BOM dropped); UsageError naming the file when it
    is missing, unreadable or not UTF-8 — the same error for the EPUB and the PDF."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"stylesheet {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"stylesheet {path}: not UTF-8 text (byte offset {exc.start})") from None


def clean_css(text: str) -> tuple[str, list[str]]:
    """(the stylesheet without any ``@import``/``@namespace`` rule and with every ``url()``/
    ``image-set()`` value replaced by ``none``, what was removed). Unchanged text when nothing was."""
    if not re.search(r"url|@import|image|src|cross-fade|element|\\", text, re.I):
        return text, []
    import tinycss2

    removed: list[str] = []

    def clean(nodes: list) -> list:
        out = []
        for node in nodes:
            kind = getattr(node, "type", "")
            if kind == "url" or (kind == "function" and node.lower_name in _URL_FUNCTIONS):
                removed.append(_shown(node))
                out.append(tinycss2.ast.IdentToken(node.source_line, node.source_column, "none"))
                continue
            if kind == "at-rule" and node.lower_at_keyword in ("import", "namespace"):
                removed.append(_shown(node))
                continue
            for attr in ("prelude", "content", "arguments"):
                value = getattr(node, attr, None)
                if isinstance(value, list):
                    setattr(node, attr, clean(value))
            out.append(node)
        return out

    rules = clean(tinycss2.parse_stylesheet(text, skip_comments=False, skip_whitespace=False))
    if not removed:
        return text, []
    return (f"/* interview-export: {len(removed)} url()/@import removed (an EPUB holds every resource itself) */\n"
            + tinycss2.serialize(rules)), removed


def _shown(node) -> str:
    """A removed reference as the warning quotes it: one line, at most 80 characters."""
    import tinycss2

    text = " ".join(tinycss2.serialize([node]).split())
    return text if len(text) <= 80 else text[:79] + "…"
