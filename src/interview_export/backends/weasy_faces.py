"""The book's @font-face rules → loaded when WeasyPrint first needs a font, after the cascade (same pages).

A PDF run renders in ``overlap.py``'s process, which gets the job (HTML, stylesheets) first and the
font subsets after: this process cuts them (~40 ms for the seed) while that one parses the HTML.
Since the HTML is built by expat (``weasy_html``, ~2 ms), the renderer waited for the subsets
(~35 ms) at the font sheet, before the cascade and the box tree (~50 ms), which need no font.
:func:`later` keeps the loading of a sheet made of ``@font-face`` rules only (:func:`only_font_faces`,
so the cascade never reads it) until the first call in WeasyPrint that reaches Pango: the layout
(``layout_document``) or, earlier, a length in ``ex``/``ch``/``ic``/``cap``/``lh`` units or a
``vertical-align`` percentage computed during the cascade (``css.units``' and
``css.computed_values``' ``strut`` and ``character_ratio``). Fontconfig knows the same faces before
Pango is first asked, so the pages come out the same; the faces are loaded in the same order.

Installed only on the WeasyPrint version whose functions it was checked against (digests below).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from typing import Callable, Iterator

from ..compat import unpinned

log = logging.getLogger("interview_export.pdf")

#: sha256 of the WeasyPrint functions this relies on: _render runs the cascade and the box tree
#: before layout_document; the units and vertical-align reach Pango only through strut and
#: character_ratio
SOURCE_DIGESTS = {
    "Document._render": "ebaceeb0fa8e79aaeb199a269e2748e2b36f6d95e98b7089e0dbc963bbca54d8",
    "to_pixels": "d4c682c60e1aef6e19417d156d97f71be96c862ee49ad12d265628fdf2a4a79d",
    "vertical_align": "5b7bfa40eb4a08c3ffc46d22b95fb0bbcff6be7c64eb95de8626ad0ba219e806",
}
_lock = threading.Lock()
_pending = threading.local()     # .load: what loads this thread's faces, until it is called


@contextlib.contextmanager
def later(load: Callable[[], object]) -> Iterator[None]:
    """While active, `load` runs once, just before the first thing in this thread that needs a
    font (:func:`install` must have returned True)."""
    _pending.load = load
    try:
        yield
    finally:
        _pending.__dict__.pop("load", None)


def _load_pending() -> None:
    load = _pending.__dict__.pop("load", None)
    if load is not None:
        load()


def only_font_faces(text: str) -> bool:
    """Whether the stylesheet `text` holds ``@font-face`` rules and nothing else."""
    import tinycss2

    rules = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    return all(rule.type == "at-rule" and rule.lower_at_keyword == "font-face" for rule in rules)


def declares_faces(text: str) -> bool:
    """Whether the stylesheet `text` has an ``@font-face`` rule anywhere, its name read as tinycss2
    (WeasyPrint) reads it: in any case and with CSS escapes (``@font\\-face``, ``@\\66ont-face``).
    Conservative: the words in a comment or a string count too unless an escape sends the text to
    tinycss2."""
    if "@font-face" in text.lower():
        return True
    if "\\" not in text:    # unescaped, an at-keyword is spelled out as it is read
        return False
    import tinycss2

    stack = [tinycss2.parse_component_value_list(text, skip_comments=True)]
    while stack:     # nested blocks walked with a stack, not recursion: any depth of user CSS
        for token in stack.pop():
            if token.type == "at-keyword" and token.lower_value == "font-face":
                return True
            inner = getattr(token, "content", None) or getattr(token, "arguments", None)
            if isinstance(inner, list):
                stack.append(inner)
    return False


def install() -> bool:
    """Have WeasyPrint run a pending :func:`later` load before its first font use (once per
    process); False when the installed WeasyPrint is not the one this was checked against."""
    with _lock:
        from weasyprint import document
        from weasyprint.css import computed_values, units

        if hasattr(document.layout_document, "__wrapped__"):
            return True
        problem = unpinned(SOURCE_DIGESTS, lambda: {"Document._render": document.Document._render,
                                                   "to_pixels": units.to_pixels,
                                                   "vertical_align": computed_values.vertical_align})
        if problem:
            log.debug("@font-face loaded before the cascade: %s", problem)
            return False
        for module, name in ((document, "layout_document"), (units, "strut"), (units, "character_ratio"),
                             (computed_values, "strut")):
            setattr(module, name, _loading_first(getattr(module, name)))
        return True


def _loading_first(function):
    @functools.wraps(function)
    def call(*args, **kwargs):
        _load_pending()
        return function(*args, **kwargs)
    return call
