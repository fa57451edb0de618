"""PreparedBook → EPUB 3 bytes (ebooklib builds the package; we fix the zip for determinism).

One XHTML file per part from its renderer (``EpubRenderer``, a subclass of render.py's: cover, title
page, nav, lead, sections, quotes, colophon), nav.xhtml + toc.ncx in spine order, landmarks, Dublin Core + accessibility metadata, embedded font
subsets and the media bag's images. Same input and options → byte-identical output: fixed zip
timestamps and order, ``mimetype`` first and stored, ``dcterms:modified`` from the prepared
book's date (SOURCE_DATE_EPOCH, else the document date), identifier = uuid5 of the content.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from typing import TYPE_CHECKING

from .. import compat, linebreak, model, render
from ..cover import begin_cover
from ..errors import ExportError, RenderError
from ..model import Document
from ..prepare import PreparedBook
from ..resources import read_style

if TYPE_CHECKING:   # _build imports it once the cover's pixels are under way
    from ebooklib import epub as eb

log = logging.getLogger("interview_export.epub")

ZIP_MIN_EPOCH = 315532800             # 1980-01-01: the earliest time a zip entry can hold
CONTENT_NS = uuid.UUID("6f1c2a8e-41b7-5d3e-9a0c-7e2f4b9d1c55")   # uuid5 namespace for book ids
STYLES = ("styles/fonts.css", "styles/base.css", "styles/epub.css")
A11Y_SUMMARY = ("结构化的电子书：目录与阅读顺序与原文一致，对话按说话人标注，图片附有替代文字。"
                "Structured e-book: navigable table of contents, reading order as in the article, "
                "dialogue turns marked by speaker, images with text alternatives.")


# ---------------------------------------------------------------- small helpers
def content_identifier(doc: Document) -> str:
    """urn:uuid: derived from the document's content (same text and metadata → same id)."""
    data = model.to_dict(doc.replace(warnings=(), name=""))
    digest = hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
    return f"urn:uuid:{uuid.uuid5(CONTENT_NS, digest)}"


# Stored, not deflated: images that are compressed already, and CFF font subsets (.otf), whose
# outlines are compact: deflating the seed's three (820 KB) saves 15 % (128 KB) for 28 ms, a tenth
# of the whole conversion. TrueType subsets (.ttf: glyf outlines) shrink more and stay deflated.
STORED = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".otf")


def deterministic_zip(entries: list[tuple[str, bytes]], epoch: int) -> bytes:
    """EPUB OCF zip: mimetype first and stored, every entry with the same fixed timestamp."""
    stamp = dt.datetime.fromtimestamp(max(epoch, ZIP_MIN_EPOCH), dt.timezone.utc).timetuple()[:6]
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        ordered = [("mimetype", b"application/epub+zip")] + [e for e in entries if e[0] != "mimetype"]
        seen: set[str] = set()
        for name, data in ordered:
            if name in seen:
                continue
            seen.add(name)
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            if name == "mimetype" or name.lower().endswith(STORED):
                info.compress_type = zipfile.ZIP_STORED
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
            # level 6, not 9: 9 saves ~0.1 % (fonts barely compress) for 25 % more time
            zf.writestr(info, data, compresslevel=6 if info.compress_type == zipfile.ZIP_DEFLATED else None)
    return out.getvalue()


# ---------------------------------------------------------------- fonts
def _embedded_fonts(book: PreparedBook) -> tuple[list, str]:
    """(embedded subsets, @font-face CSS) — degrades to no fonts if fonts.py fails."""
    if not book.options.embed_fonts:
        return [], ""
    try:
        from .. import fonts as fontmod
        embedded = fontmod.subset_fonts(book.fonts, book.text, fontmod.faces_in_use(book.options))
        css = fontmod.font_face_css(embedded, lambda filename: "../" + filename)
        return embedded, css
    except ExportError:
        raise
    except (ImportError, AttributeError, OSError) as exc:   # fonts stage missing or broken
        log.warning("fonts unavailable, EPUB without embedded fonts: %s", exc)
        return [], ""


def _cover_fonts(fontset) -> tuple:
    """(bold sans, regular sans) font files for the generated cover, from the font set if any."""
    if fontset is None:
        return None, None
    try:
        bold = fontset.face("sans", 700) or fontset.face("serif", 700)
        regular = fontset.face("sans", 400) or bold
        return ((bold.path, bold.index) if bold else None, (regular.path, regular.index) if regular else None)
    except AttributeError:
        return None, None


# ---------------------------------------------------------------- the e-book's renderer
class EpubRenderer(render.HTMLRenderer):
    """The e-book renderer: one XHTML file per part (the toc links to files), and the article's
    own wide banner above the title when the cover is another picture."""

    def href_for(self, part_id: str) -> str:
        """The part's XHTML file name (each part is its own file in the EPUB)."""
        return self.part_files[part_id]

    def text(self, text: str) -> str:
        """Running text, the squeezed mark of each pair of adjacent full-width marks ("”，", "”“")
        in a span.halt (epub.css: the fonts' halt where the reading system applies font
        features, left to text-spacing-trim where it has that)."""
        marks = linebreak.squeezed(text)
        if not marks:
            return render.escape(text)
        out, at = [], 0
        for i in marks:
            out.append(f'{render.escape(text[at:i])}<span class="halt">{render.escape(text[i])}</span>')
            at = i + 1
        return "".join(out) + render.escape(text[at:])

    def banner(self, doc: Document, cover_src: str | None) -> str:
        """The article's own banner image for the title page, when the cover is another picture."""
        asset = self.asset(doc.meta.cover) if doc.meta.cover else None
        if asset is not None and asset.ok and asset.filename != cover_src:
            return asset.filename   # a wide banner: the generated cover shows it, so does the title page
        return ""


# ---------------------------------------------------------------- build
def build(book: PreparedBook) -> bytes:
    """The EPUB 3 file of the prepared book as bytes (nothing is written to disk)."""
    return build_with_warnings(book)[0]


def build_with_warnings(book: PreparedBook) -> tuple[bytes, list[str]]:
    """The EPUB bytes and the warnings of this build (none of its own so far: the shared ones,
    such as an ignored SOURCE_DATE_EPOCH, are the prepared book's)."""
    return deterministic_zip(_entries(book), book.epoch), []


def build_files(book: PreparedBook) -> dict[str, bytes]:
    """The files of the same EPUB by path, never zipped (the live preview serves them as they are)."""
    return dict(_entries(book))


def _entries(book: PreparedBook) -> list[tuple[str, bytes]]:
    try:
        return _build(book)
    except ExportError:
        raise
    except (ValueError, TypeError, KeyError, OSError) as exc:
        raise RenderError(f"EPUB build failed: {exc}", path=book.doc.name or None) from exc


def _build(book_in: PreparedBook) -> list[tuple[str, bytes]]:
    doc, media, options, epoch, lang = book_in.doc, book_in.media, book_in.options, book_in.epoch, book_in.language
    title = book_in.title

    bold, regular = _cover_fonts(book_in.fonts)
    # The cover's text is drawn here first, then its banner is scaled in and the JPEG encoded in a
    # thread while the font subsets are cut here: Pillow does that pixel work in long calls without
    # the GIL. (Drawn whole in the thread, each of the text's many short FreeType calls waited for
    # the GIL that HarfBuzz's subsetter and our Python hold: the thread took twice as long.)
    # The fonts' error, if any, comes first, as it did when the two ran one after the other.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ie-cover") as pool:
        try:
            finishing = pool.submit(begin_cover(doc, media, options, font=bold, regular_font=regular,
                                                given=book_in.cover, title=title))
        except Exception:
            _embedded_fonts(book_in)
            raise
        # ebooklib and lxml are imported beside the pixel work, not before it starts (the
        # cover's thread is the last to finish)
        from ebooklib import epub as eb

        embedded, font_css = _embedded_fonts(book_in)
        cover = finishing.result()

    renderer = EpubRenderer(media, options, lang=lang)
    parts = renderer.render_parts(doc, cover.filename if cover else None)

    book = eb.EpubBook()
    book.metadata = {}
    book.set_identifier(content_identifier(doc))
    book.set_title(title)
    book.set_language(lang)
    _add_metadata(book, doc, media, epoch)
    if options.vertical:
        book.set_direction("rtl")

    # styles
    user_css = [(f"styles/user-{i}.css", sheet.text.encode("utf-8"))
                for i, sheet in enumerate(book_in.user_css, start=1)]
    stylesheets = [*STYLES, *(name for name, _ in user_css)]
    book.add_item(eb.EpubItem(uid="css-fonts", file_name=STYLES[0], media_type="text/css",
                              content=(font_css or "/* no embedded fonts */\n").encode("utf-8")))
    book.add_item(eb.EpubItem(uid="css-base", file_name=STYLES[1], media_type="text/css",
                              content=read_style("base.css").encode("utf-8")))
    book.add_item(eb.EpubItem(uid="css-epub", file_name=STYLES[2], media_type="text/css",
                              content=read_style("epub.css").encode("utf-8")))
    for i, (name, data) in enumerate(user_css, start=1):
        book.add_item(eb.EpubItem(uid=f"css-user-{i}", file_name=name, media_type="text/css", content=data))

    # content documents, one per part
    html_class = "vertical" if options.vertical else ""
    items: dict[str, eb.EpubItem] = {}
    nav_bytes = b""
    for part in parts:
        body = part.body
        if part.kind == "toc":
            body += _landmarks(parts)
        xhtml = render.xhtml_document(body, title=part.title, lang=lang, stylesheets=tuple(stylesheets),
                                      html_class=html_class, body_class=f"part-{part.kind}").encode("utf-8")
        if part.kind == "toc":
            item = eb.EpubNav(uid="nav", file_name=part.filename, title=part.title)
            nav_bytes = xhtml
        else:
            item = eb.EpubItem(uid=f"x-{part.id}", file_name=part.filename,
                               media_type="application/xhtml+xml", content=xhtml)
        items[part.id] = item
        book.add_item(item)

    # images actually referenced by the content (the renderer knows them), fonts, cover
    referenced = renderer.images
    if cover is not None:
        book.add_item(_cover_item(cover))
        book.add_metadata(None, "meta", "", {"name": "cover", "content": "cover-image"})
    if media is not None:
        for asset in media.files():
            if asset.filename in referenced and not (cover and cover.filename == asset.filename):
                book.add_item(eb.EpubImage(uid=f"img-{_slug(asset.filename)}", file_name=asset.filename,
                                           media_type=asset.media_type, content=asset.data))
    for font in embedded:
        book.add_item(eb.EpubItem(uid=f"font-{_slug(font.filename)}", file_name=font.filename,
                                  media_type=font.media_type, content=font.data))
    ncx = eb.EpubNcx()
    book.add_item(ncx)

    # spine = reading order = NCX play order
    book.spine = [items[p.id] for p in parts]
    book.toc = [eb.Link(p.filename, p.title, f"np-{p.id}") for p in parts]
    book.guide = _guide(parts)

    return compat.epub_entries(book, nav_bytes, {"mtime": dt.datetime.fromtimestamp(epoch, dt.timezone.utc),
                                                 "play_order": {"enabled": True, "start_from": 1},
                                                 "epub3_landmark": False, "epub3_pages": False})


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def _cover_item(cover) -> eb.EpubItem:
    from ebooklib import epub as eb

    item = eb.EpubCover(uid="cover-image", file_name=cover.filename)
    item.media_type = cover.media_type
    item.content = cover.data
    return item


def _guide(parts: list[render.Part]) -> list[dict]:
    """EPUB 2 guide (and the same three landmarks in nav.xhtml): cover, toc, start of the text."""
    guide = []
    by_kind: dict[str, render.Part] = {}
    for p in parts:
        by_kind.setdefault(p.kind, p)
    if "cover" in by_kind:
        guide.append({"href": by_kind["cover"].filename, "title": by_kind["cover"].title, "type": "cover"})
    guide.append({"href": by_kind["toc"].filename, "title": by_kind["toc"].title, "type": "toc"})
    start = next((p for p in parts if p.kind in ("lead", "section", "quotes", "colophon")), None)
    if start is not None:
        guide.append({"href": start.filename, "title": start.title, "type": "text"})
    return guide


def _landmarks(parts: list[render.Part]) -> str:
    types = {"cover": "cover", "toc": "toc", "text": "bodymatter"}
    items = "".join(f'<li><a epub:type="{types[g["type"]]}" href="{render.escape(g["href"])}">'
                    f'{render.escape(g["title"])}</a></li>' for g in _guide(parts))
    return f'<nav epub:type="landmarks" id="landmarks" hidden="hidden"><ol>{items}</ol></nav>'


def _add_metadata(book: eb.EpubBook, doc: Document, media, epoch: int) -> None:
    m = doc.meta
    for n, (person, role) in enumerate(model.creators(m), start=1):
        book.add_author(person, role=role, uid=f"creator-{n}")
    if m.source:
        book.add_metadata("DC", "publisher", m.source)
    if m.date:
        book.add_metadata("DC", "date", m.date)
    if m.url and render.safe_href(m.url):  # a javascript:/file: "URL" is shown as text, never recorded as a link
        book.add_metadata("DC", "source", m.url)
    for tag in m.tags:
        if tag.strip():
            book.add_metadata("DC", "subject", tag.strip())
    if m.description:
        book.add_metadata("DC", "description", m.description)
    if m.subtitle:
        book.add_metadata("DC", "title", m.subtitle, {"id": "subtitle"})
        book.add_metadata(None, "meta", "subtitle", {"refines": "#subtitle", "property": "title-type"})
    has_images = media is not None and any(True for _ in media.files())
    modes = ["textual", "visual"] if has_images else ["textual"]
    for mode in modes:
        book.add_metadata(None, "meta", mode, {"property": "schema:accessMode"})
    book.add_metadata(None, "meta", "textual", {"property": "schema:accessModeSufficient"})
    features = ["tableOfContents", "readingOrder", "structuralNavigation", "displayTransformability"]
    if has_images:
        features.append("alternativeText")
    for feature in features:
        book.add_metadata(None, "meta", feature, {"property": "schema:accessibilityFeature"})
    book.add_metadata(None, "meta", "none", {"property": "schema:accessibilityHazard"})
    book.add_metadata(None, "meta", A11Y_SUMMARY, {"property": "schema:accessibilitySummary"})
    book.add_metadata(None, "meta", "", {"name": "generator", "content": "interview-export"})
