"""PreparedBook → print-ready PDF bytes (one HTML document through WeasyPrint).

Its own subclass of the shared renderer (``PdfRenderer``) gives the parts; this module wraps
them in one HTML document (ids for the TOC's ``target-counter``, titles for bookmarks and running
heads), adds the print stylesheets (base.css, print.css, the page geometry, @font-face, the user's
``--css`` files) and renders it with a URL fetcher that serves only the media bag and the fonts.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import compat, linebreak, model, render
from ..errors import RenderError, UsageError
from ..options import PDF_VARIANTS
from ..pagesize import PT_PER_MM, PageGeometry, geometry
from ..prepare import PreparedBook
from ..resources import fonts_dir, read_style
from ..util import is_wide
from . import weasy_faces, weasy_html, weasy_passes, weasy_speed, weasy_subset, weasy_tags

log = logging.getLogger("interview_export.pdf")

#: Every URL WeasyPrint may fetch starts here. ``.invalid`` can never resolve (RFC 2606), and the
#: fetcher below never touches the network anyway: it answers from memory or refuses.
BASE_URL = "https://interview-export.invalid/"
DOCUMENT_URL = BASE_URL + "book.html"
OWN_SHEETS = ("fonts", "base.css", "print.css", "page")
HEAD_MAX_CHARS = 24                              # running heads longer than this are shortened
TITLE_SIZE_EM = 1.9                              # h1.book-title in print.css
HEADING_SIZE_EM = 1.35                           # h2.section-title in base.css


# ---------------------------------------------------------------- WeasyPrint's log → ours
class _WeasyLogRouter(logging.Handler):
    """Forwards WeasyPrint's records to our logger (never to the user's console directly) and
    collects the messages of the build running in this thread."""

    local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break the build
            message = str(record.msg)
        log.debug("WeasyPrint: %s", message)       # build_with_warnings reports the warnings once
        sink = getattr(self.local, "messages", None)
        if sink is not None and record.levelno >= logging.WARNING:
            sink.append(message)


def _install_log_router() -> None:
    weasy_log = logging.getLogger("weasyprint")
    if not any(isinstance(h, _WeasyLogRouter) for h in weasy_log.handlers):
        weasy_log.addHandler(_WeasyLogRouter())
    weasy_log.propagate = False                    # its records reach the user only through ours
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


# ---------------------------------------------------------------- the only door WeasyPrint has
class Served:
    """The book's own resources by URL: all WeasyPrint may fetch (made without WeasyPrint)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, Any]] = {}   # url → (media type, bytes or what makes them)

    def add(self, path: str, media_type: str, data) -> str:
        """Serve `data` (bytes, or a callable giving bytes on first use) at BASE_URL + path."""
        url = BASE_URL + path.lstrip("/")
        self.entries[url] = (media_type, data)
        return url

    def get(self, url: str) -> tuple[str, Any] | None:
        """(media type, bytes) served at `url` (without its #fragment), None for anything else;
        raises what making them raised."""
        key = url.split("#", 1)[0]
        entry = self.entries.get(key)
        if entry is not None and callable(entry[1]):
            entry = self.entries[key] = (entry[0], entry[1]())
        if entry is not None and isinstance(entry[1], Exception):
            raise entry[1]
        return entry

    def split(self) -> tuple["Served", dict[str, tuple[str, Any]]]:
        """→ (the resources ready now, as bytes; {url: entry} of those still to be made): what
        another process can be sent at once, and what it waits for (``overlap.py``)."""
        ready, later = Served(), dict[str, tuple[str, Any]]()
        for url, entry in self.entries.items():
            (later if callable(entry[1]) else ready.entries)[url] = entry
        return ready, later


def made(later: dict[str, tuple[str, Any]]) -> dict[str, tuple[str, Any]]:
    """Each entry's callable called → its bytes, or the error it raised (which Served.get raises)."""
    out: dict[str, tuple[str, Any]] = {}
    for url, (media_type, make) in later.items():
        try:
            out[url] = (media_type, make())
        except Exception as exc:
            out[url] = (media_type, exc)
    return out


def _fetcher_class():
    import ssl

    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class BookFetcher(URLFetcher):
        """Serves the book's own resources from memory; refuses every other URL (no network, no
        file:, no data:), so raw HTML or a user stylesheet cannot read ``/etc/passwd``."""

        def __init__(self, served: Served | None = None):
            # no protocol allowed, no redirects; a bare TLS context (no CA certificates loaded:
            # nothing is ever opened, and loading them costs ~20 ms where urllib does it eagerly)
            super().__init__(timeout=1, ssl_context=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
                             allowed_protocols=(), allow_redirects=False)
            self.served = Served() if served is None else served
            self.refused: list[str] = []

        def open(self, url, data=None, timeout=None):
            """urllib's way out: closed (fetch() serves the book's resources without it)."""
            raise PermissionError(f"not a resource of this book (refused): {_short(str(url))}")

        def fetch(self, url, headers=None):
            entry = self.served.get(url)
            if entry is None:
                self.refused.append(url)
                raise PermissionError(f"not a resource of this book (refused): {_short(url)}")
            media_type, data = entry
            return URLFetcherResponse(url.split("#", 1)[0], body=data, headers={"Content-Type": media_type})

    return BookFetcher


def serve_media(media=None) -> Served:
    """Each ok image of the bag (its ``pdf_data``) served at BASE_URL + its filename."""
    served = Served()
    if media is not None:
        for asset in media.assets.values():
            if asset.ok and asset.filename and (asset.pdf_data or asset.data):
                served.add(asset.filename, asset.pdf_media_type or asset.media_type,
                           asset.pdf_data or asset.data)
    return served


def make_fetcher(served: Served | None = None):
    """A fetcher serving `served` (nothing when None): it refuses every other URL."""
    return _fetcher_class()(served)


def _short(url: str, limit: int = 120) -> str:
    return url if len(url) <= limit else url[:limit] + "…"


# ---------------------------------------------------------------- metadata
def _head(book: PreparedBook) -> str:
    m, date = book.doc.meta, book.date
    esc = render.escape
    stamp = date.strftime("%Y-%m-%dT%H:%M:%SZ")
    # PDF Author = the EPUB's dc:creator role "aut" (model.creators); the translator is no author
    people = [name for name, role in model.creators(m) if role == "aut"]
    subject = m.description or m.subtitle or m.source
    metas = [f'<meta name="author" content="{esc(p)}"/>' for p in people]
    if subject:
        metas.append(f'<meta name="description" content="{esc(subject)}"/>')
    if m.tags:
        metas.append(f'<meta name="keywords" content="{esc(", ".join(t.replace(",", " ") for t in m.tags))}"/>')
    metas.append('<meta name="generator" content="interview-export"/>')
    metas.append(f'<meta name="dcterms.created" content="{stamp}"/>')
    metas.append(f'<meta name="dcterms.modified" content="{stamp}"/>')
    return f'<head><meta charset="utf-8"/><title>{esc(book.title)}</title>{"".join(metas)}</head>'


# ---------------------------------------------------------------- HTML assembly
def _css_string(text: str) -> str:
    """A CSS string literal (quotes, backslashes and line breaks escaped)."""
    text = re.sub(r"\s+", " ", text).strip()
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# A space between Chinese and Latin text. WeasyPrint justifies only by stretching U+0020, so in
# print these spaces become U+2005, a fixed quarter-em gap that never stretches (set from the
# "IE Gap" font, fonts/IEGap.ttf). A plain character, not a <span>: every extra inline box makes
# WeasyPrint lay out and paint the line in more pieces (measured: the seed's 265 gaps as spans
# cost ~0.5 s of its ~2.5 s of layout).
_CJK_CLASS = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0002ffff"
_PRINT_GAP = "\u2005"


@functools.cache
def _cjk_space() -> re.Pattern[str]:
    """A space next to Chinese (the PDF's line-breaking hints U+200B/U+2060, linebreak.py, may stand
    between them), compiled on first use: not in the process that only renders (overlap.py forks
    it after importing this module, and these character classes are slow to compile)."""
    return re.compile(f" (?=[\u200b\u2060]?[{_CJK_CLASS}])|(?<=[{_CJK_CLASS}]) |(?<=[{_CJK_CLASS}][\u200b\u2060]) ")


class PdfRenderer(render.HTMLRenderer):
    """The print renderer: one HTML document (the toc links to #anchors), fixed Chinese–Latin gaps,
    run-in speaker labels, the cover image under the title block."""

    def __init__(self, book: PreparedBook, served: Served | None = None):
        super().__init__(book.media, book.options, lang=book.language)
        self.book = book
        self.served = served     # the --cover image is served by it when one is given

    def text(self, text: str) -> str:
        """Text with its Chinese–Latin spaces as fixed quarter-em gaps (U+2005), which never stretch."""
        return _cjk_space().sub(_PRINT_GAP, render.escape(text))

    def render_turn_body(self, node: model.DialogueTurn) -> str:
        """Paper sets the speaker label run-in: "主持人：今天……" on the turn's first line.

        The label goes into the turn's first paragraph as a span; a turn that opens with something
        else than a paragraph keeps its block label. (A floated label would do the same, but floats
        defeat ``break-after: avoid`` in WeasyPrint: headings were left alone at the foot of a page.)
        """
        blocks = [self.render(b) for b in node.blocks]
        first = next((i for i, html_ in enumerate(blocks) if html_), None)
        label = render.speaker_label_html(node)
        if first is None or not isinstance(node.blocks[first], model.Paragraph):
            return f'<p class="speaker">{label}</p><div class="utterance">{"".join(blocks)}</div>'
        # the colon is text, not a ::after: one box less per turn for WeasyPrint to lay out and paint
        blocks[first] = (f'<p class="turn-first"><span class="speaker">{label}{self.labels["speaker_colon"]}'
                         f'</span>{blocks[first][len("<p>"):]}')
        return f'<div class="utterance">{"".join(blocks)}</div>'

    def render_meta(self, doc: model.Document, banner: str = "") -> str:
        """The title page, with the --cover image (or the article's banner) below the source box."""
        return super().render_meta(doc, banner) + self.title_cover()

    def title_cover(self) -> str:
        """The cover image under the title block: --cover PATH (the prepared book's), else the
        article's cover unless the body already shows it; nothing with --no-cover."""
        book = self.book
        if book.options.no_cover:
            return ""
        if book.cover is not None:
            filename = book.cover.filename
            if self.served is not None:
                self.served.add(filename, book.cover.media_type, book.cover.data)
        else:
            src = book.doc.meta.cover
            asset = self.asset(src) if src else None
            if asset is None or not asset.ok:
                return ""
            if any(isinstance(b, model.Figure) and b.src == src for b in model.all_blocks(book.doc)):
                return ""
            filename = asset.filename
        return (f'<figure class="title-cover"><img src="{self.image_src(filename)}"'
                f' alt="{render.escape(self.labels["cover"])}"/></figure>')


def assemble_html(book: PreparedBook, served: Served | None = None) -> str:
    """One HTML document: every part in reading order, each in a wrapper that carries the id the
    TOC links to and the title the bookmarks and running heads use. The --cover image is added to
    `served` (the book's own resources) when one is given."""
    doc, options, lang = book.doc, book.options, book.language
    geo = geometry(options.page_size)
    # ems per line of the title and of a section heading; their phrases up to 92 % of that stay whole
    line_em = 0.92 * geo.text_width * PT_PER_MM / geo.font_size
    prepared = linebreak.prepare(doc, line_em / TITLE_SIZE_EM, line_em / HEADING_SIZE_EM)
    parts = PdfRenderer(book, served).render_parts(prepared)
    chunks = []
    for part in parts:
        if part.kind == "cover":
            continue
        # the id goes on the wrapper only when the renderer did not already put it in the body
        own_id = "" if part.anchored else f' id="{render.escape(part.id)}"'
        title = linebreak.plain(part.title)
        chunks.append(f'<div class="pdf-part part-{part.kind}"{own_id}'
                      f' data-title="{render.escape(title)}"'
                      f' data-head="{render.escape(linebreak.running_head(title, HEAD_MAX_CHARS))}">{part.body}</div>')
    esc = render.escape(lang)
    return (f'<!DOCTYPE html>\n<html lang="{esc}" xml:lang="{esc}">{_head(book)}'
            f'<body class="pdf">{"".join(chunks)}</body></html>')


def page_css(geo: PageGeometry, doc: model.Document) -> str:
    """The geometry's @page rules, the running heads and folios, and print sizes that depend on it."""
    title = _css_string(doc.meta.short_title.strip()
                        or linebreak.running_head(doc.meta.title or render.labels_of(doc)["title_page"],
                                                  HEAD_MAX_CHARS))
    content_height = geo.height - geo.top - geo.bottom
    heads = [geo.css()]
    # a margin box of width auto makes WeasyPrint measure its min- and max-content width on every
    # page (for a Chinese head: a trial line break at every character); a fixed width skips that
    w = f"width: {geo.text_width:.2f}mm;"
    if geo.duplex:  # heads and folios on the outer corners of each spread
        heads.append(f"@page :left {{ @top-left {{ content: {title}; {w} }}"
                     f" @bottom-left {{ content: counter(page); {w} }} }}")
        heads.append(f"@page :right {{ @top-right {{ content: string(part-head, start); {w} }}"
                     f" @bottom-right {{ content: counter(page); {w} }} }}")
    else:
        heads.append(f"@page {{ @top-center {{ content: string(part-head, start); {w} }}"
                     f" @bottom-center {{ content: counter(page); {w} }} }}")
    # one image never takes more than ~45 % of the text block, so it cannot strand a mostly
    # empty page behind it
    heads.append(f"figure.figure img {{ max-height: {content_height * 0.45:.1f}mm; }}")
    heads.append(f"figure.title-cover img {{ max-height: {content_height * 0.35:.1f}mm; }}")
    heads.append(quotes_css(geo, doc))
    return "\n".join(heads) + "\n"


# the quotes page, in body ems (print.css): title block, text size range, gaps, side padding
QUOTES_TITLE_EMS = 7.0
QUOTES_SIZES = (1.4, 1.35, 1.3, 1.25, 1.2)
QUOTES_LINE_HEIGHT = 1.6
QUOTES_GAP, QUOTES_MAX_GAP = 1.2, 3.2
QUOTES_PADDING_EMS = 2.6
QUOTES_FILL = 0.95         # of the text block: room for what the estimate cannot see


def _quote_ems(quote: model.Quote, size: float, line_chars: float) -> float:
    """Estimated height of one quote in body ems at text size `size`."""
    text = model.plain_text(quote.children)
    # a Chinese character or mark 1, a space 0.25 (render.py's U+2005), a Latin letter 0.5, less
    # half a mark for each squeezed pair (linebreak.squeezed), plus the closing mark (1.5× size)
    units = sum(1.0 if is_wide(ch) else 0.25 if ch.isspace() else 0.5 for ch in text)
    units += 0.75 - 0.5 * len(linebreak.squeezed(text))
    lines = max(1, math.ceil(units / max(1.0, (line_chars - QUOTES_PADDING_EMS) / size)))
    return lines * size * QUOTES_LINE_HEIGHT + QUOTES_GAP + (2.0 if quote.attribution else 0.0)


def _split(heights: list[float], pages: int) -> list[int]:
    """1-based index of the first quote of each page: the split whose fullest page (the title on
    the first) is the least full, so that the pages are as even as the quotes allow."""
    n = len(heights)
    prefix = [0.0]
    for height in heights:
        prefix.append(prefix[-1] + height)

    def used(first: int, end: int) -> float:          # quotes first…end-1 (0-based) on one page
        return prefix[end] - prefix[first] + (QUOTES_TITLE_EMS if first == 0 else 0.0)

    @functools.lru_cache(maxsize=None)
    def best(first: int, left: int) -> tuple[float, tuple[int, ...]]:
        if left == 1 or n - first <= 1:
            return used(first, n), (first,)
        return min((max(used(first, cut), best(cut, left - 1)[0]), (first, *best(cut, left - 1)[1]))
                   for cut in range(first + 1, n - left + 2))
    return [start + 1 for start in best(0, max(1, min(pages, n)))[1]]


def quotes_css(geo: PageGeometry, doc: model.Document) -> str:
    """The quotes page fitted to this paper: on as few pages as hold the quotes at the smallest
    text size, the largest size at which they still fit there, split evenly between the pages
    (never one or two left-over quotes on a page of their own), the spare room shared out
    between the quotes so that each page is filled."""
    if not doc.quotes:
        return ""
    room = (geo.height - geo.top - geo.bottom) / (geo.font_size / PT_PER_MM) * QUOTES_FILL
    for pages in range(1, len(doc.quotes) + 1):
        for size in QUOTES_SIZES:
            heights = [_quote_ems(q, size, geo.chars_per_line) for q in doc.quotes]
            starts = _split(heights, pages)
            ends = starts[1:] + [len(heights) + 1]
            used = [QUOTES_TITLE_EMS * (a == 1) + sum(heights[a - 1:b - 1]) for a, b in zip(starts, ends)]
            if max(used) <= room:
                break
        else:
            continue
        break
    spare = min((room - u) / (b - a) for u, a, b in zip(used, starts, ends))
    gap = min(QUOTES_MAX_GAP, QUOTES_GAP + max(0.0, spare))
    rules = "".join(f"section.quotes-page blockquote.quote:nth-of-type({i}) {{ break-before: page; }}\n"
                    for i in starts[1:])
    return (f"p.quote-text {{ font-size: {size}em; }}\n{rules}"
            f"blockquote.quote {{ margin-bottom: {gap:.2f}em; }}")


def _user_css(book: PreparedBook) -> list[tuple[str, str]]:
    return [(sheet.text, Path(sheet.path).as_posix()) for sheet in book.user_css]


# ---------------------------------------------------------------- build
# WeasyPrint's layout time and memory grow with the whole document (measured: a 5,000-section or
# 10 MB article ran > 10 min at 2–3 GB). Past these sizes we stop at once with a clear error
# instead; the EPUB backend has no such limit. Article-sized books are 100× below them.
MAX_PDF_CHARACTERS = 1_500_000
MAX_PDF_SECTIONS = 2_000
# Characters are not the whole cost: an empty 300×3000 table (907 KB) grew to 11.9 GB, 200k hard
# breaks or empty list items ran for minutes. ``layout_cost`` counts what WeasyPrint makes boxes
# of; past this many the PDF is refused before WeasyPrint starts. One unit is 0.3–1 ms of WeasyPrint
# on an idle 2-core machine (2026-12-06: the seed ×16, 10,774 units, 249 pages, 10.9 s and 298 MB;
# ×32, 21,590 units, 495 pages, 23.1 s and 524 MB; 5,000 empty list items, 15,004 units, 7.7 s;
# 3,000 nested emphasis runs, 24,041 units, 6.7 s) and up to 2 ms on a loaded one, so the limit keeps
# any input near half a minute and under a GB while a 500-page book of ordinary text still gets its
# PDF; the largest real article in the corpus costs ~1,100, the seed 623.
MAX_LAYOUT_COST = 25_000


def _unbroken(inlines) -> int:
    """Σ n² over runs of n inline elements with no break opportunity between them (``**a**a**a…``):
    WeasyPrint tries to split such a run at every element, so their cost grows with the square."""
    total = run = 0
    for node in inlines:
        text = node.text if isinstance(node, (model.Text, model.Code)) else (
            "\n" if isinstance(node, model.LineBreak) else model.plain_text(getattr(node, "children", ())))
        if any(ch.isspace() or ch >= "\u2e80" for ch in text):
            total, run = total + run * run, 0
        else:
            run += 1
    return total + run * run


def layout_cost(doc: model.Document) -> int:
    """About how many layout boxes the PDF needs: blocks, list items (item + marker), table cells
    and rows, inline elements (links: anchor + box), hard breaks (each starts a line), lines of
    text (one per ~80 characters), headings (bookmarks, TOC entries) and unbreakable runs of
    inline elements (quadratic)."""
    cost = 0
    for block in model.all_blocks(doc):
        cost += 1 + 2 * isinstance(block, model.Heading)
        cells = [c for row in (block.header, *block.rows) for c in row] if isinstance(block, model.Table) \
            else [model.block_inlines(block)]
        cost += sum(_unbroken(cell) for cell in cells) // 500
        if isinstance(block, model.ListBlock):
            cost += 3 * len(block.items)
        elif isinstance(block, model.Table):
            width = max([len(block.header), *(len(r) for r in block.rows)] or [0])
            cost += (len(block.rows) + 1) * (2 * width + 1)
        elif isinstance(block, model.CodeBlock):
            cost += block.code.count("\n") + len(block.code) // 40
        chars = 0
        for inline in model.walk_inlines(model.block_inlines(block)):
            if isinstance(inline, (model.Text, model.Code)):
                chars += len(inline.text)
                cost += 1
            else:
                cost += 2
        cost += chars // 80
    return cost + 3 * len(doc.sections)


def check_size(doc: model.Document) -> None:
    """Raise RenderError when the document is too large for a bounded WeasyPrint run."""
    if len(doc.sections) > MAX_PDF_SECTIONS:
        raise RenderError(f"too large for PDF: {len(doc.sections):,} sections (limit "
                          f"{MAX_PDF_SECTIONS:,}); make an EPUB or split the article", path=doc.name or None)
    chars = len(model.document_text(doc))
    if chars > MAX_PDF_CHARACTERS:
        raise RenderError(f"too large for PDF: {chars:,} characters (limit {MAX_PDF_CHARACTERS:,}); "
                          "make an EPUB or split the article", path=doc.name or None)
    cost = layout_cost(doc)
    if cost > MAX_LAYOUT_COST:
        raise RenderError(f"too complex for PDF: about {cost:,} layout boxes (limit {MAX_LAYOUT_COST:,}: "
                          "tables, list items, links, line breaks and headings count); make an EPUB or "
                          "split the article", path=doc.name or None)


#: our stylesheets that are the same for every book and fetch nothing while parsed (no @import,
#: no @font-face): parsed once per process instead of once per book (~18 ms a book in a batch)
SHARED_SHEETS = ("base.css", "print.css")


@functools.lru_cache(maxsize=8)
def _shared_sheet(text: str):
    """One of SHARED_SHEETS as a WeasyPrint stylesheet (WeasyPrint only reads a parsed stylesheet
    while it renders, so one serves every book); an empty fetcher refuses anything it would load."""
    from weasyprint import CSS

    return CSS(string=text, base_url=BASE_URL, url_fetcher=make_fetcher())


def build(book: PreparedBook) -> bytes:
    """The book as PDF bytes; WeasyPrint's warnings go to the ``interview_export.pdf`` logger."""
    return build_with_warnings(book)[0]


def build_with_warnings(book: PreparedBook) -> tuple[bytes, list[str]]:
    """The PDF bytes and the warnings of this build (refused URLs, CSS problems)."""
    data, messages = render_job(make_job(book))
    return data, book_warnings(book, messages)


@dataclass
class PdfJob:
    """One book as WeasyPrint takes it: HTML, stylesheets, resources. Made without WeasyPrint, so
    that another process can render it (``overlap.py``)."""

    html: str
    sheets: list[tuple[str, str]]     # (CSS text, name), in cascade order
    served: Served
    variant: str                      # --pdf-variant, checked
    name: str                         # the document's name, for the error


def make_job(book: PreparedBook) -> PdfJob:
    """The book's final HTML, stylesheets and resources (RenderError when too large for a PDF)."""
    doc, media, options = book.doc, book.media, book.options
    check_size(doc)
    variant = (options.pdf_variant or "").strip().lower()
    if variant and variant not in PDF_VARIANTS:
        raise UsageError(f"PDF variant {options.pdf_variant!r}: expected one of {', '.join(PDF_VARIANTS)}")
    geo = geometry(options.page_size, options.bleed, options.crop_marks,
                   duplex=options.duplex)
    served = serve_media(media)
    font_css = _font_css(book, served)
    html = assemble_html(book, served)
    sheets = [(font_css, "fonts"), (read_style("base.css"), "base.css"),
              (read_style("print.css"), "print.css"), (page_css(geo, doc), "page"),
              *_user_css(book)]
    return PdfJob(html, sheets, served, variant, doc.name)


def warm_up() -> None:
    """What every render needs first and no book decides, made ready (``overlap.py`` has it done on
    the other CPU while the book is prepared): WeasyPrint imported, our changes to it installed,
    Pango and fontconfig set up, our shared stylesheets parsed."""
    _engine_ready()
    from weasyprint.text.fonts import FontConfiguration

    FontConfiguration()   # the first one pays for setting up Pango's font map (~15 ms); later ones ~3 ms
    for name in SHARED_SHEETS:
        _shared_sheet(read_style(name))


def _engine_ready() -> None:
    from .. import weasy_cjk  # here, not at import: the process preparing a book never uses it

    weasy_speed.import_weasyprint()
    _install_log_router()
    weasy_cjk.install()
    weasy_speed.install()
    weasy_passes.install()
    weasy_subset.install()
    weasy_tags.install()
    weasy_html.install()
    weasy_faces.install()


def render_job(job: PdfJob) -> tuple[bytes, list[str]]:
    """WeasyPrint renders the job → the PDF bytes and WeasyPrint's messages about the user's
    stylesheets and the document (each once)."""
    _engine_ready()
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    fetcher = make_fetcher(job.served)
    variant = job.variant
    messages: list[str] = []
    font_config = None
    try:
        # the HTML first: it needs no resource (overlap.py sends the font subsets after the job);
        # what WeasyPrint says about it goes after what it says about the user's sheets, as ever
        said_on_html: list[str] = []
        _WeasyLogRouter.local.messages = said_on_html
        document = weasy_html.html_document(job.html, base_url=DOCUMENT_URL, url_fetcher=fetcher,
                                            media_type="print")   # the tree built by expat (same tree)
        _WeasyLogRouter.local.messages = None
        font_config = FontConfiguration()
        # our @font-face sheet is loaded when the layout starts: the cascade and the box tree
        # do not wait for the font subsets (weasy_faces)
        faces = _faces_later(job.sheets)
        stylesheets = []
        for text, name in job.sheets:
            # our own sheets use properties WeasyPrint ignores (for EPUB readers): debug only;
            # from the first user sheet on, WeasyPrint's complaints are the user's warnings
            if name not in OWN_SHEETS:
                _WeasyLogRouter.local.messages = messages
            if name in SHARED_SHEETS:
                stylesheets.append(_shared_sheet(text))
            elif text and text is not faces:
                stylesheets.append(CSS(string=text, base_url=BASE_URL, url_fetcher=fetcher,
                                       font_config=font_config))
        messages += said_on_html
        _WeasyLogRouter.local.messages = messages

        def load_faces() -> None:   # our own sheet: what WeasyPrint says of it is debug only, as before
            said, _WeasyLogRouter.local.messages = _WeasyLogRouter.local.messages, None
            try:
                CSS(string=faces, base_url=BASE_URL, url_fetcher=fetcher, font_config=font_config)
            finally:
                _WeasyLogRouter.local.messages = said

        with weasy_faces.later(load_faces) if faces else contextlib.nullcontext():
            pdf = document.write_pdf(
                stylesheets=stylesheets, font_config=font_config, **_output_intent(variant),
                pdf_variant=variant or None, pdf_tags=True,
                pdf_identifier=True,          # md5 of the content: stable across identical builds
                finisher=weasy_speed.finish_pdf,   # …hashed without serialising it all again; zlib level 6
                custom_metadata=False, presentational_hints=False,
                uncompressed_pdf=False)
    except UsageError:
        raise
    except Exception as exc:  # WeasyPrint, Pango or pydyf failing is a render error, not a crash
        raise RenderError(f"PDF rendering failed: {type(exc).__name__}: {exc}", path=job.name or None) from exc
    finally:
        _WeasyLogRouter.local.messages = None
        if font_config is not None:
            compat.remove_font_files(font_config)   # else one /tmp/weasyprint-* per PDF stays
    return pdf, list(dict.fromkeys(messages))


def _faces_later(sheets: list[tuple[str, str]]) -> str | None:
    """The text of our "fonts" sheet when its faces can be loaded once the cascade is done
    (``weasy_faces``: the renderer does not wait for the subsets before it): @font-face rules
    only, and no other sheet declaring faces (they would be loaded before ours)."""
    texts = dict((name, text) for text, name in sheets)
    faces = texts.get("fonts")
    if (not faces or any(weasy_faces.declares_faces(text) for text, name in sheets if name != "fonts")
            or not weasy_faces.install() or not weasy_faces.only_font_faces(faces)):
        return None
    return faces


def book_warnings(book: PreparedBook, messages: list[str]) -> list[str]:
    """WeasyPrint's messages → the build's warnings, in our words and logged (read after the
    render: the font set by then knows every character a backend found uncovered)."""
    doc = book.doc
    warnings = [_describe(m, doc) for m in _in_our_words(messages, book.fonts)]
    if book.options.vertical:  # WeasyPrint has no writing-mode: say so instead of failing
        warnings.insert(0, _describe("vertical writing is not supported by the PDF engine "
                                     "(WeasyPrint has no writing-mode); the PDF is set horizontally", doc))
    for w in warnings:
        log.warning("%s", w)
    return warnings


def _output_intent(variant: str) -> dict:
    """PDF/A needs an sRGB output intent. WeasyPrint's own (output_intent="srgb") leaves the ICC
    file open (a ResourceWarning); the same profile from memory does not."""
    if not variant.startswith("pdf/a"):
        return {}
    from importlib.resources import files

    from weasyprint.css import ColorProfile

    icc = (files("weasyprint.pdf") / "sRGB2014.icc").read_bytes()
    profile = ColorProfile(io.BytesIO(icc), "sRGB2014.icc", "relative-colorimetric", (["r"], ["g"], ["b"]))
    return {"color_profiles": {"ie-srgb": profile}, "output_intent": "ie-srgb"}


def _font_css(book: PreparedBook, served: Served) -> str:
    """@font-face rules for our faces, each in `served` as a per-book subset."""
    fonts, options = book.fonts, book.options
    from .. import fonts as fonts_mod

    extra = render.generated_text(book.doc, options)

    def url_for(filename: str) -> str:
        media_type = "font/otf" if filename.endswith(".otf") else "font/ttf"
        return served.add(filename, media_type, lambda: fonts.file_bytes(filename, extra))

    # WeasyPrint loads every declared face, so only those our stylesheets use are declared
    return (fonts_mod.font_face_css(fonts, url_for, fonts_mod.faces_in_use(options))
            + _gap_font_css(served, fonts_mod))


def _gap_font_css(served: Served, fonts_mod) -> str:
    """The "IE Gap" family for the Chinese–Latin gaps render.py writes as U+2005."""
    path = fonts_dir() / fonts_mod.GAP_FONT
    if not path.is_file():  # pragma: no cover - a broken installation: the gap falls back
        return ""
    url = served.add("fonts/gap.ttf", "font/ttf", path.read_bytes)
    return f'@font-face {{\n  font-family: "{fonts_mod.GAP_FAMILY}";\n  src: url("{url}") format("truetype");\n}}\n'


_NOTDEF = re.compile(r'\.notdef glyph rendered for Unicode string unsupported by fonts: ".*" \(U\+([0-9A-F]+)\)',
                     re.S)


def _in_our_words(messages: list[str], fonts) -> list[str]:
    """WeasyPrint's ".notdef glyph rendered …" lines: dropped for characters the font check already
    named (one problem, one line), the others said once, in our words."""
    from ..fonts import describe_chars

    named = set(getattr(fonts, "missing", None) or ())
    kept, boxes = [], []
    for message in messages:
        match = _NOTDEF.fullmatch(message)
        if match is None:
            kept.append(message)
        elif int(match[1], 16) not in named:
            boxes.append(int(match[1], 16))
    if boxes:
        kept.append(f"no font has {describe_chars(set(boxes))}: printed as an empty box")
    return kept


def _describe(message: str, doc: model.Document) -> str:
    where = doc.name or "<document>"
    return f"{where}: PDF: {message}"
