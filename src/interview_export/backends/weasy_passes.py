"""WeasyPrint 70's page re-layouts for target counters → one pass fewer (the TOC page, same pages).

The TOC's page numbers are ``target-counter(attr(href url), page)``. WeasyPrint 70 lays out the
TOC page before the pages it points to, so it makes that page again once they are known — and it
makes it three times in all: the second time with the numbers of the first (``0``), because it
refreshes a page's counter-based content only *after* laying the page out (``make_page``, its
"step 2": the page's counter values differ from those it cached, so it parses the content again
and marks the page changed), and between the first and second pass the page's counter values
gained the document's page count (``pages``), so the second pass changes them once more.

:func:`install` wraps ``remake_page``: a page made once already gets that same refresh *before* it
is laid out again, with the counter values it ended with last time (the page count included,
which ``layout_document`` has by then written into them). That pass then lays out the final
numbers, its own refresh after the layout finds nothing changed, and the third pass is not needed.
When the page does come out differently (other counter values), the refresh after the layout
happens as before and WeasyPrint goes on as it always does. Measured on the seed (A4): the TOC
page is made twice instead of three times (~17 ms of ~0.75 s of rendering); the PDF is
byte-identical.

Installed only on the WeasyPrint version whose functions it was checked against (digests below).
"""

from __future__ import annotations

import copy
import logging
import threading

from ..compat import unpinned

log = logging.getLogger("interview_export.pdf")

#: sha256 of the WeasyPrint functions this relies on, at compat.WEASYPRINT_PINNED
SOURCE_DIGESTS = {
    "remake_page": "1ff09b2dffa17839c03aec1150866068066c43e76a5cace0ea298e68909c6d31",
    "make_page": "656f183328e8b1b56311a342621442056c067422958dcaf6730acdfb6c7b8971",
    "make_all_pages": "b5e4034894841caa9581fa5d33338c71a7d8948be65618d358ab4b946f367edb",
    "layout_document": "a5cbf437e99caf7293e7ed2289278048bca734f7ead2e947b4e24e4a3a536dbc",
}
_lock = threading.Lock()


def install() -> bool:
    """Refresh a page's counter-based content before it is made again (once per process); False
    when the installed WeasyPrint is not the one this was checked against."""
    with _lock:
        from weasyprint import layout
        from weasyprint.layout import page

        stock = page.remake_page
        if hasattr(stock, "__wrapped__"):
            return True
        problem = unpinned(SOURCE_DIGESTS, lambda: {
            "remake_page": stock, "make_page": page.make_page, "make_all_pages": page.make_all_pages,
            "layout_document": layout.layout_document})
        if problem:
            log.debug("page re-layouts as WeasyPrint makes them: %s", problem)
            return False

        def remake_page(index, context, root_box, html):
            made = getattr(context, "ie_made_pages", None)
            if made is None:
                made = context.ie_made_pages = set()
            elif index in made:
                refresh_counters(context, index)
            made.add(index)
            return stock(index, context, root_box, html)

        setattr(remake_page, "__wrapped__", stock)   # source_digest pins WeasyPrint's own (inspect.unwrap)
        page.remake_page = remake_page
        return True


def refresh_counters(context, index: int) -> int:
    """Before page `index` is made again: its content that uses page-based counters parsed again
    with the counter values the page ended with last time, as ``make_page`` would after laying it
    out (the targets' pages are those cached by now). How many contents were refreshed."""
    page_maker = context.page_maker
    if index + 1 >= len(page_maker):
        return 0
    values = page_maker[index + 1][3][1]      # the page state after this page: its counters
    refreshed = 0
    for (_, css_token), item in context.target_collector.counter_lookup_items.items():
        if (css_token != "content" or item.page_maker_index != index or item.pending
                or item.cached_page_counter_values == values
                or not any(values.get(name) is not None for name in item.missing_counters)):
            continue
        item.cached_page_counter_values = copy.deepcopy(values)
        item.parse_again(values)
        refreshed += 1
    return refreshed
