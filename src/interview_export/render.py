"""Document model → XHTML fragments: the one HTML renderer the EPUB and PDF renderers subclass.

Every model node type has exactly one method here (``render_<snake_name>``). ``render_parts`` gives
a list of ``Part`` objects, one per reading unit (cover, title page, table of contents, lead, each
section, quotes page, colophon); every ``Part.body`` is a well-formed XHTML fragment. Each backend
has its own subclass (like markdown-it-py's one renderer per output) that overrides the few hooks
where the formats differ — ``text``, ``href_for``, ``banner``, ``render_turn_body``,
``render_meta`` — and wraps the parts with ``xhtml_document`` (EPUB: one file per part) or
concatenates them (PDF: one HTML file). The renderer records what it wrote that a backend needs:
the image files it referenced (``images``) and the part ids it put in a body (``Part.anchored``).

Safety: all text and attribute values are escaped (characters XML forbids are dropped); only
``http:``, ``https:`` and ``mailto:`` links survive, any other link becomes its plain text.
CSS class names are the contract with ``styles/`` (listed at the top of styles/base.css).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Literal

from . import model
from .labels import QUOTE_STYLES, labels_for, quote_style
from .model import (
    BlockQuote,
    Code,
    CodeBlock,
    DialogueTurn,
    Document,
    Emphasis,
    Figure,
    Heading,
    InlineImage,
    LineBreak,
    Link,
    ListBlock,
    Paragraph,
    Quote,
    Section,
    Strong,
    Table,
    Text,
    ThematicBreak,
)
from .options import Options
from .util import XML_FORBIDDEN, detect_language, is_cjk

PartKind = Literal["cover", "titlepage", "toc", "lead", "section", "quotes", "colophon"]

# The generated labels of a Simplified Chinese book (labels.py has every language's table; the
# renderer uses the book's own).
LABELS = labels_for("zh-Hans")
ATTRIBUTION_DASH = "\u2014\u2014"            # ——
SAFE_SCHEMES = ("http://", "https://", "mailto:")

_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def escape(text: str) -> str:
    """Text or attribute value → XML-safe text (also drops characters XML 1.0 forbids)."""
    text = XML_FORBIDDEN.sub("", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


_BIDI_CLOSER = {"\u202a": "\u202c", "\u202b": "\u202c", "\u202d": "\u202c", "\u202e": "\u202c",
                "\u2066": "\u2069", "\u2067": "\u2069", "\u2068": "\u2069"}
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")


def speaker_label_html(turn: DialogueTurn) -> str:
    """The label's inside: a small timestamp, the name, the title in brackets (full-width beside Chinese)."""
    html_ = escape(close_bidi(turn.speaker))
    if turn.title:
        wide = any(is_cjk(ch) for ch in turn.speaker + turn.title)
        open_, close = ("（", "）") if wide else (" (", ")")
        html_ += f'<span class="speaker-title">{open_}{escape(close_bidi(turn.title))}{close}</span>'
    if turn.timestamp:
        stamp = turn.timestamp.strip("[]()（） ")
        html_ = f'<span class="timestamp">{escape(stamp)}</span> ' + html_
    return html_


def close_bidi(text: str) -> str:
    """User text with its unclosed bidi embeddings, overrides and isolates closed at its end (its own
    controls are kept), so that an RLO in a name or title cannot reorder the labels that follow."""
    if not _BIDI_CONTROL.search(text):
        return text
    stack: list[str] = []
    for ch in text:
        if ch in _BIDI_CLOSER:
            stack.append(_BIDI_CLOSER[ch])
        elif ch == "\u202c" and stack and stack[-1] == "\u202c":
            stack.pop()
        elif ch == "\u2069" and "\u2069" in stack:
            while stack.pop() != "\u2069":
                pass
    return text + "".join(reversed(stack))


def safe_href(href: str) -> str | None:
    """The href if its scheme is allowed (http, https, mailto), else None."""
    cleaned = "".join(ch for ch in href.strip() if not unicodedata.category(ch).startswith("C"))
    lowered = cleaned.lower()
    if any(lowered.startswith(s) for s in SAFE_SCHEMES) and len(cleaned) > len("mailto:"):
        return cleaned
    return None


def document_language(doc: Document) -> str:
    """The book's BCP 47 language: the metadata's (the reader fills it in with util.detect_language
    when the document names none), else that guess over the text, else zh-CN."""
    return doc.meta.language.strip() or detect_language(model.document_text(doc)) or "zh-CN"


def labels_of(doc: Document):
    """The generated labels in the book's language (目录 / 目錄 / Contents …)."""
    return labels_for(document_language(doc))


def quote_marks(doc: Document, options: Options) -> tuple[str, str]:
    """The decorative opening and closing marks of the quotes page: “ ” or 「 」."""
    return QUOTE_STYLES[quote_style(document_language(doc), options.quotes)][:2]


def short_url(url: str, limit: int = 96, labels=LABELS) -> str:
    """A URL for small print: data: URIs are summarised, very long URLs shortened in the middle."""
    if url.lower().startswith("data:"):
        head = url.split(",", 1)[0]
        return f"{head[:48]},… ({labels['embedded_image']})"
    if len(url) <= limit:
        return url
    return url[: limit - 20] + "…" + url[-19:]


def section_label(section: Section) -> str:
    """A section's visible title with its number, e.g. "3 Google 的回归"."""
    return close_bidi(f"{section.number} {section.title}" if section.number is not None else section.title)


@dataclass(frozen=True)
class Part:
    """One reading unit: EPUB writes each to its own XHTML file, PDF concatenates them."""

    kind: PartKind
    id: str
    filename: str
    title: str          # plain text for nav/NCX; sections: "3 Title" when numbered
    body: str
    number: int | None = None   # the section number, when the section heading has one
    anchored: bool = False      # the body carries ``id`` itself (a wrapper must not repeat it)


class HTMLRenderer:
    """Model nodes → XHTML strings, one method per node type; the parts of one HTML document."""

    def __init__(self, media=None, options: Options = Options(), *, lang: str = "zh-CN"):
        self.media = media
        self.options = options
        self.labels = labels_for(lang)
        self.quote_marks = QUOTE_STYLES[quote_style(lang, options.quotes)][:2]
        self.images: set[str] = set()        # every image file an <img src> names, in any part
        self.ids: set[str] = set()           # the ids anchor() wrote in the part being rendered
        self.part_files: dict[str, str] = {}  # part id → its file (render_parts fills it)
        self._dispatch: dict[type, Callable[[Any], str]] = {
            Text: self.render_text, Strong: self.render_strong, Emphasis: self.render_emphasis,
            Link: self.render_link, Code: self.render_code, LineBreak: self.render_line_break,
            InlineImage: self.render_inline_image, Paragraph: self.render_paragraph,
            Heading: self.render_heading, DialogueTurn: self.render_dialogue_turn,
            BlockQuote: self.render_block_quote, Figure: self.render_figure,
            ListBlock: self.render_list_block, CodeBlock: self.render_code_block,
            Table: self.render_table, ThematicBreak: self.render_thematic_break,
        }

    # ------------------------------------------------------------ dispatch
    def render(self, node) -> str:
        """Any model node → XHTML (through the method for its type)."""
        try:
            method = self._dispatch[type(node)]
        except KeyError:
            raise TypeError(f"no renderer for {type(node).__name__}") from None
        return method(node)

    def inlines(self, nodes) -> str:
        """Inline nodes → XHTML, concatenated."""
        return "".join(self.render(n) for n in nodes)

    def blocks(self, nodes) -> str:
        """Block nodes → XHTML, concatenated."""
        return "".join(self.render(n) for n in nodes)

    def asset(self, src: str):
        """The media bag's asset for an image source (None without a bag)."""
        return self.media.get(src) if self.media is not None else None

    # ------------------------------------------------------------ hooks the backends' renderers override
    def text(self, text: str) -> str:
        """Running text of the document → XHTML text."""
        return escape(text)

    def href_for(self, part_id: str) -> str:
        """The href that reaches a part: here an anchor in the same document."""
        return f"#{part_id}"

    def banner(self, doc: Document, cover_src: str | None) -> str:
        """The image file the title page shows above the title, or "" (here: none)."""
        return ""

    def image_src(self, filename: str) -> str:
        """An ``src`` attribute's value for an image file of the book; remembered in ``images``."""
        self.images.add(filename)
        return escape(filename)

    def anchor(self, id_: str) -> str:
        """An ``id`` attribute (with its leading space); remembered in ``ids``."""
        self.ids.add(id_)
        return f' id="{escape(id_)}"'

    # ------------------------------------------------------------ inlines
    def render_text(self, node: Text) -> str:
        """Text → escaped XHTML through the ``text`` hook (the PDF's renderer sets Chinese–Latin spaces as fixed gaps)."""
        return self.text(node.text)

    def render_strong(self, node: Strong) -> str:
        """<strong>."""
        return f"<strong>{self.inlines(node.children)}</strong>"

    def render_emphasis(self, node: Emphasis) -> str:
        """<em>."""
        return f"<em>{self.inlines(node.children)}</em>"

    def render_link(self, node: Link) -> str:
        """<a> for http/https/mailto links; any other link is its plain text."""
        href = safe_href(node.href)
        inner = self.inlines(node.children)
        if href is None:
            return inner
        title = f' title="{escape(node.title)}"' if node.title else ""
        return f'<a href="{escape(href)}"{title}>{inner}</a>'

    def render_code(self, node: Code) -> str:
        """<code>."""
        return f"<code>{escape(node.text)}</code>"

    def render_line_break(self, node: LineBreak) -> str:
        """<br/>."""
        return "<br/>"

    def render_inline_image(self, node: InlineImage) -> str:
        """<img class="inline-image">, or a bracketed placeholder with the URL when the image is missing."""
        asset = self.asset(node.src)
        if asset is not None and asset.ok:
            return f'<img class="inline-image" src="{self.image_src(asset.filename)}" alt="{escape(node.alt)}"/>'
        alt = node.alt or self.labels["missing_image"]
        return (f'<span class="placeholder inline-placeholder">[{escape(alt)}]'
                f' <small class="placeholder-url">{escape(short_url(node.src, labels=self.labels))}</small></span>')

    # ------------------------------------------------------------ blocks
    def render_paragraph(self, node: Paragraph) -> str:
        """<p>."""
        return f"<p>{self.inlines(node.children)}</p>"

    def render_heading(self, node: Heading) -> str:
        """<h3>…<h6> (h1 is the book's title, h2 a section's)."""
        level = min(max(node.level, 3), 6)  # h1: book title, h2: sections
        return f"<h{level}>{self.inlines(node.children)}</h{level}>"

    def render_dialogue_turn(self, node: DialogueTurn) -> str:
        """section.turn.host|guest: the speaker label, then the utterance."""
        if not node.blocks:        # a question written as the section title: the heading shows it
            return ""
        role = "host" if node.role == "host" else "guest"
        speaker = escape(close_bidi(node.speaker))
        continued = " continued" if node.continued else ""
        return (f'<section class="turn {role}{continued}" data-speaker="{speaker}">'
                f'{self.render_turn_body(node)}</section>')

    def render_turn_body(self, node: DialogueTurn) -> str:
        """The speaker label as a block of its own (right for reflowing e-books), then the utterance."""
        return (f'<p class="speaker">{speaker_label_html(node)}</p>'
                f'<div class="utterance">{self.blocks(node.blocks)}</div>')

    def render_block_quote(self, node: BlockQuote) -> str:
        """<blockquote>."""
        return f"<blockquote>{self.blocks(node.blocks)}</blockquote>"

    def render_figure(self, node: Figure) -> str:
        """figure.figure.wide|tall with its caption, or div.figure.placeholder when the image is missing."""
        asset = self.asset(node.src)
        caption = f"<figcaption>{escape(node.caption)}</figcaption>" if node.caption else ""
        if asset is not None and asset.ok:
            size = ""
            if getattr(asset, "width", 0) and getattr(asset, "height", 0):
                size = f' width="{int(asset.width)}" height="{int(asset.height)}"'
            shape = "wide" if size and asset.width >= asset.height else "tall"
            return (f'<figure class="figure {shape}"><img src="{self.image_src(asset.filename)}"'
                    f' alt="{escape(node.alt)}"{size}/>{caption}</figure>')
        alt = node.alt or self.labels["missing_image"]
        caption = f'<p class="placeholder-caption">{escape(node.caption)}</p>' \
            if node.caption and node.caption != alt else ""
        return (f'<div class="figure placeholder" role="img" aria-label="{escape(alt)}">'
                f'<p class="placeholder-alt">{escape(alt)}</p>{caption}'
                f'<p class="placeholder-url">{escape(short_url(node.src, labels=self.labels))}</p></div>')

    def render_list_block(self, node: ListBlock) -> str:
        """<ol>/<ul> (nothing for a list without items)."""
        tag = "ol" if node.ordered else "ul"
        start = f' start="{int(node.start)}"' if node.ordered and node.start != 1 else ""
        items = "".join(f"<li>{self.blocks(item)}</li>" for item in node.items)
        return f"<{tag}{start}>{items}</{tag}>" if items else ""

    def render_code_block(self, node: CodeBlock) -> str:
        """<pre><code> with a language-* class when the fence names one."""
        lang = f' class="language-{escape(node.language)}"' if _NCNAME.match(node.language or "") else ""
        return f"<pre><code{lang}>{escape(node.code)}</code></pre>"

    def render_table(self, node: Table) -> str:
        """div.table-wrap around the table, cells aligned by class."""
        def cell(tag: str, inlines, i: int) -> str:
            align = node.aligns[i] if i < len(node.aligns) else ""
            cls = f' class="align-{align}"' if align else ""
            return f"<{tag}{cls}>{self.inlines(inlines)}</{tag}>"

        head = "".join(cell("th", c, i) for i, c in enumerate(node.header))
        rows = "".join("<tr>" + "".join(cell("td", c, i) for i, c in enumerate(r)) + "</tr>"
                       for r in node.rows)
        thead = f"<thead><tr>{head}</tr></thead>" if head else ""
        tbody = f"<tbody>{rows}</tbody>" if rows else ""
        if not thead and not tbody:
            return ""
        return f'<div class="table-wrap"><table>{thead}{tbody}</table></div>'

    def render_thematic_break(self, node: ThematicBreak) -> str:
        """hr.break."""
        return '<hr class="break"/>'

    # ------------------------------------------------------------ document-level nodes
    def render_section(self, section: Section, anchor: str) -> str:
        """section.chapter: the numbered heading, then the blocks."""
        number = ""
        if section.number is not None:
            number = f'<span class="section-number">{int(section.number)}</span> '
        return (f'<section class="chapter"{self.anchor(anchor)} epub:type="chapter" role="doc-chapter">'
                f'<h2 class="section-title">{number}<span class="section-title-text">'
                f'{escape(close_bidi(section.title))}</span></h2>{self.blocks(section.blocks)}</section>')

    def render_quote(self, quote: Quote) -> str:
        """blockquote.quote of the quotes page: marks, the text, the attribution."""
        open_mark, close_mark = self.quote_marks
        attribution = ""
        if quote.attribution:
            attribution = (f'<p class="quote-attribution">{ATTRIBUTION_DASH}'
                           f'{escape(close_bidi(quote.attribution))}</p>')
        text = model.plain_text(quote.children)
        closers = close_bidi(text)[len(text):]   # the closing mark stays where it belongs
        return (f'<blockquote class="quote"><p class="quote-text">'
                f'<span class="quote-mark quote-open" aria-hidden="true">{open_mark}</span>'
                f'{self.inlines(strip_quote_marks(quote.children))}{closers}'
                f'<span class="quote-mark quote-close" aria-hidden="true">{close_mark}</span>'
                f'</p>{attribution}</blockquote>')

    def render_meta(self, doc: Document, banner: str = "") -> str:
        """The title page: the article's banner image (EPUB), title, subtitle and the source box."""
        m = doc.meta
        rows = []
        if m.source:
            rows.append(("source", escape(close_bidi(m.source))))
        if m.translator:
            rows.append(("translator", escape(close_bidi(m.translator))))
        if m.author:
            rows.append(("author", escape(close_bidi(m.author))))
        if m.date:
            rows.append(("date", escape(close_bidi(m.date))))
        href = safe_href(m.url) if m.url else None
        if href:
            rows.append(("url", f'<a href="{escape(href)}">{escape(short_url(m.url, 200))}</a>'))
        elif m.url:
            rows.append(("url", escape(close_bidi(m.url))))
        box = "".join(f'<p class="source-row {key}"><span class="source-label">{self.labels[key]}</span>'
                      f'<span class="source-value">{value}</span></p>' for key, value in rows)
        subtitle = f'<p class="subtitle">{escape(close_bidi(m.subtitle))}</p>' if m.subtitle else ""
        box_html = f'<div class="source-box">{box}</div>' if box else ""
        banner_html = ""
        if banner:
            banner_html = (f'<figure class="figure banner"><img src="{self.image_src(banner)}"'
                           f' alt="{escape(self.labels["cover"])}"/></figure>')
        return (f'<section class="title-page" epub:type="titlepage">{banner_html}'
                f'<h1 class="book-title">{escape(close_bidi(m.title))}</h1>{subtitle}{box_html}</section>')

    def render_toc(self, parts: list[Part]) -> str:
        """nav.toc: an entry per body part (lead, sections, quotes)."""
        items = []
        listed = [p for p in parts if p.kind in ("lead", "section", "quotes")]
        for part in listed or parts:   # a book without body text still lists its colophon (<ol> needs an <li>)
            items.append(f'<li class="toc-{part.kind}"><a href="{escape(self.href_for(part.id))}">'
                         f"{self._toc_label(part)}</a></li>")
        return (f'<nav class="toc" epub:type="toc"{self.anchor("toc")} role="doc-toc">'
                f'<h1 class="toc-title">{escape(self.labels["toc"])}</h1><ol>{"".join(items)}</ol></nav>')

    def _toc_label(self, part: Part) -> str:
        prefix = f"{part.number} "
        if part.number is not None and part.title.startswith(prefix):
            return (f'<span class="section-number">{part.number}</span> '
                    f'<span class="toc-text">{escape(part.title[len(prefix):])}</span>')
        return f'<span class="toc-text">{escape(part.title)}</span>'

    def render_colophon(self, doc: Document) -> str:
        """section.colophon: the notes, then title, source, dates, link and tags."""
        m = doc.meta
        lines = []
        if m.title:
            lines.append(f'<p class="colophon-title">{escape(close_bidi(m.title))}</p>')
        for key, value in (("source", m.source), ("translator", m.translator),
                           ("author", m.author), ("date", m.date)):
            if value:
                lines.append(f'<p><span class="source-label">{self.labels[key]}</span>{escape(close_bidi(value))}</p>')
        href = safe_href(m.url) if m.url else None
        if href:
            lines.append(f'<p><span class="source-label">{self.labels["url"]}</span>'
                         f'<a href="{escape(href)}">{escape(short_url(m.url, 200))}</a></p>')
        if m.tags:
            lines.append(f'<p><span class="source-label">{self.labels["tags"]}</span>'
                         f'{escape(" · ".join(m.tags))}</p>')
        lines.append(f'<p class="made-with">{escape(self.labels["made_with"])}</p>')
        notes = f'<div class="colophon-notes">{self.blocks(doc.colophon)}</div>' if doc.colophon else ""
        return (f'<section class="colophon" epub:type="colophon" role="doc-colophon">'
                f'<h2 class="colophon-heading">{escape(self.labels["colophon"])}</h2>{notes}'
                f'<div class="colophon-meta">{"".join(lines)}</div></section>')

    def render_cover(self, src: str, title: str) -> str:
        """section.cover: the cover image."""
        return (f'<section class="cover" epub:type="cover"><img class="cover-image" src="{self.image_src(src)}"'
                f' alt="{escape(self.labels["cover"])}{self.labels["speaker_colon"]}{escape(title)}"/></section>')

    def render_lead(self, doc: Document) -> str:
        """section.lead: the text before the first section."""
        return f'<section class="lead" epub:type="preamble">{self.blocks(doc.lead)}</section>'

    def render_quotes_page(self, doc: Document) -> str:
        """section.quotes-page: its title and every quote."""
        title = doc.quotes_title or self.labels["quotes"]
        quotes = "".join(self.render_quote(q) for q in doc.quotes)
        return (f'<section class="quotes-page"{self.anchor("quotes")}>'
                f'<h2 class="quotes-title">{escape(title)}</h2>{quotes}</section>')


    # ------------------------------------------------------------ the book
    def render_parts(self, doc: Document, cover_src: str | None = None) -> list[Part]:
        """The document as reading units, in reading order (= spine order = NCX play order).

        ``cover_src`` is the href of a cover image; without it there is no cover part. The toc part
        links to the parts that follow it through ``href_for``."""
        labels, part = self.labels, self._part
        parts: list[Part] = []
        title = doc.meta.title or labels["title_page"]
        if cover_src and not self.options.no_cover:
            parts.append(part("cover", "cover", labels["cover"], lambda: self.render_cover(cover_src, title)))
        parts.append(part("titlepage", "titlepage", title,
                          lambda: self.render_meta(doc, self.banner(doc, cover_src))))
        body_parts: list[Part] = []
        if doc.lead:
            body_parts.append(part("lead", "lead", labels["lead"], lambda: self.render_lead(doc)))
        used: set[str] = set()
        for i, section in enumerate(doc.sections, start=1):
            anchor = section.id if _NCNAME.match(section.id or "") and section.id not in used else f"sec-{i:02d}"
            used.add(anchor)
            # an untitled section (a document without ##) still needs text in the nav (EPUBCheck RSC-005)
            body_parts.append(part("section", anchor, section_label(section) or labels["body"],
                                   lambda: self.render_section(section, anchor), section.number, index=i))
        if doc.quotes:
            body_parts.append(part("quotes", "quotes", doc.quotes_title or labels["quotes"],
                                   lambda: self.render_quotes_page(doc)))
        body_parts.append(part("colophon", "colophon", labels["colophon"], lambda: self.render_colophon(doc)))
        self.part_files = {p.id: p.filename for p in body_parts}
        parts.append(part("toc", "toc", labels["toc"], lambda: self.render_toc(body_parts)))
        parts.extend(body_parts)
        return parts

    def _part(self, kind: PartKind, id_: str, title: str, body: Callable[[], str], number: int | None = None, *,
              index: int = 0) -> Part:
        """A part rendered by ``body()``; ``anchored`` when the body gave itself the part's id (``anchor``)."""
        self.ids.clear()
        return Part(kind, id_, part_filename(kind, index), title, body(), number, anchored=id_ in self.ids)


def strip_quote_marks(children: tuple) -> tuple:
    """Drop quotation marks that wrap a whole quote (the quotes page draws its own)."""
    if not children:
        return children
    first, last = children[0], children[-1]
    opening, closing = "\"“「『'‘", "\"”」』'’"
    if not (isinstance(first, Text) and isinstance(last, Text)):
        return children
    head, tail = first.text.lstrip(), last.text.rstrip()
    if not (head and tail and head[0] in opening and tail[-1] in closing):
        return children
    if len(children) == 1:
        stripped: tuple = (Text(head[1:-1], first.line),) if len(head) > 1 else children
    else:
        stripped = (Text(head[1:], first.line), *children[1:-1], Text(tail[:-1], last.line))
    inner = model.plain_text(stripped)
    # only when the outer pair belongs together: “A”和“B” keeps its marks
    pairs = (("“", "”"), ("「", "」"), ("『", "』"), ("‘", "’"))
    if '"' in inner or not all(_balanced(inner, a, b) for a, b in pairs):
        return children
    return stripped


def _balanced(text: str, opening: str, closing: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == opening) - (ch == closing)
        if depth < 0:
            return False
    return depth == 0


def part_filename(kind: str, index: int = 0) -> str:
    """The XHTML file name of a part kind (sections numbered: section-01.xhtml …)."""
    return {"cover": "cover.xhtml", "titlepage": "titlepage.xhtml", "toc": "nav.xhtml",
            "lead": "lead.xhtml", "quotes": "quotes.xhtml", "colophon": "colophon.xhtml",
            }.get(kind) or f"section-{index:02d}.xhtml"


def render_parts(doc: Document, media, options: Options = Options(), *,
                 renderer: type[HTMLRenderer] = HTMLRenderer, cover_src: str | None = None) -> list[Part]:
    """The document as reading units through a new `renderer` (the base one: a single HTML document)."""
    return renderer(media, options, lang=document_language(doc)).render_parts(doc, cover_src)


def generated_text(doc: Document, options: Options = Options()) -> str:
    """Every string the renderer adds on its own (labels, numbers, marks) — for font subsets."""
    numbers = " ".join(str(s.number) for s in doc.sections if s.number is not None)
    return " ".join([*labels_of(doc).values(), *quote_marks(doc, options), ATTRIBUTION_DASH,
                     "：·…[]()0123456789", numbers, document_language(doc)])


def book_text(doc: Document, options: Options = Options()) -> str:
    """Everything a reader can see: the document's text and every generated label. Fonts are
    resolved over this, so that no uncovered label character is found only after the warnings
    were handed out."""
    return model.document_text(doc) + "\n" + generated_text(doc, options)


def xhtml_document(body: str, *, title: str, lang: str, stylesheets: tuple[str, ...] = (),
                   html_class: str = "", body_class: str = "") -> str:
    """A complete XHTML5 document (XML declaration, lang and xml:lang) around a body fragment."""
    links = "".join(f'<link rel="stylesheet" type="text/css" href="{escape(h)}"/>' for h in stylesheets)
    hcls = f' class="{escape(html_class)}"' if html_class else ""
    bcls = f' class="{escape(body_class)}"' if body_class else ""
    lang = escape(lang)
    return ('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
            f'<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"'
            f' lang="{lang}" xml:lang="{lang}"{hcls}>\n'
            f'<head><meta charset="utf-8"/><title>{escape(title)}</title>{links}</head>\n'
            f"<body{bcls}>{body}</body>\n</html>\n")
