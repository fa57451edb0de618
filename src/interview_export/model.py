"""Markdown article → plain data: the document model that every backend renders.

Frozen dataclasses, stdlib only, no I/O. Every node remembers the 1-based source
line it came from (``line``; 0 when generated). The sets of block and inline node
types are closed: renderers have one method per type.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from typing import Iterator, Literal, Union

Role = Literal["host", "guest"]


# ---------------------------------------------------------------- inlines
@dataclass(frozen=True)
class Text:
    """Plain text."""

    text: str
    line: int = 0


@dataclass(frozen=True)
class Strong:
    """Bold (**…**) inlines."""

    children: tuple["Inline", ...]
    line: int = 0


@dataclass(frozen=True)
class Emphasis:
    """Emphasised (*…*) inlines."""

    children: tuple["Inline", ...]
    line: int = 0


@dataclass(frozen=True)
class Link:
    """A hyperlink around inlines."""

    href: str
    children: tuple["Inline", ...]
    title: str = ""
    line: int = 0


@dataclass(frozen=True)
class Code:
    """Inline code."""

    text: str
    line: int = 0


@dataclass(frozen=True)
class LineBreak:
    """A hard line break inside a paragraph."""

    line: int = 0


@dataclass(frozen=True)
class InlineImage:
    """An image inside a run of text (a paragraph with only an image is a Figure)."""

    src: str
    alt: str = ""
    title: str = ""
    line: int = 0


Inline = Union[Text, Strong, Emphasis, Link, Code, LineBreak, InlineImage]


# ---------------------------------------------------------------- blocks
@dataclass(frozen=True)
class Paragraph:
    """A paragraph of inlines."""

    children: tuple[Inline, ...]
    line: int = 0


@dataclass(frozen=True)
class Heading:
    """A heading below section level (### and deeper inside a section)."""

    level: int
    children: tuple[Inline, ...]
    line: int = 0


@dataclass(frozen=True)
class DialogueTurn:
    """One speaker's turn: the label's name, host/guest role and every block it spans.

    ``title`` is a bracketed title written with this label (``**名字**（CTO）：``), ``timestamp`` a
    time written before or after the label (``[04:12]``, ``00:00:08``); ``continued`` marks the same
    speaker going on after a heading that interrupted the turn (one turn, two blocks). A turn with
    no blocks is a question written as its section's title (``## 问：…``): renderers show nothing.
    """

    speaker: str
    role: Role
    blocks: tuple["Block", ...]
    line: int = 0
    title: str = ""
    timestamp: str = ""
    continued: bool = False


@dataclass(frozen=True)
class BlockQuote:
    """A block quote (> …) and the blocks inside it."""

    blocks: tuple["Block", ...]
    line: int = 0


@dataclass(frozen=True)
class Figure:
    """A paragraph that holds only an image; caption only when the alt text is a real caption."""

    src: str
    alt: str = ""
    caption: str = ""
    title: str = ""
    line: int = 0


@dataclass(frozen=True)
class ListBlock:
    """An ordered or bullet list: each item a tuple of blocks."""

    ordered: bool
    items: tuple[tuple["Block", ...], ...]
    start: int = 1
    line: int = 0


@dataclass(frozen=True)
class CodeBlock:
    """A fenced or indented code block."""

    code: str
    language: str = ""
    line: int = 0


Align = Literal["", "left", "center", "right"]


@dataclass(frozen=True)
class Table:
    """A table: header cells, body rows, column alignments."""

    header: tuple[tuple[Inline, ...], ...]
    rows: tuple[tuple[tuple[Inline, ...], ...], ...]
    aligns: tuple[Align, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class ThematicBreak:
    """A thematic break (---) inside the text."""

    line: int = 0


Block = Union[Paragraph, Heading, DialogueTurn, BlockQuote, Figure, ListBlock, CodeBlock, Table, ThematicBreak]


# ---------------------------------------------------------------- document
@dataclass(frozen=True)
class Meta:
    """The article's metadata: title, source, people, date, URL, language, cover, speakers."""

    title: str = ""
    subtitle: str = ""
    short_title: str = ""     # front matter: for running heads (else the title cut at a phrase)
    source: str = ""          # publication / platform, e.g. "InfoQ 公众号"
    author: str = ""
    translator: str = ""      # 编译 / 翻译 / 整理 (compiler or translator)
    date: str = ""            # ISO YYYY-MM-DD when known
    url: str = ""             # original article URL
    language: str = ""        # BCP 47, e.g. "zh-CN"
    tags: tuple[str, ...] = ()
    description: str = ""
    cover: str = ""           # image source of the cover candidate
    speakers: tuple[str, ...] = ()   # declared in front matter; empty → detected
    hosts: tuple[str, ...] = ()      # declared host names from front matter
    quotes_section: str = ""         # front matter: title of the quotes section ("none" = no quotes page)


@dataclass(frozen=True)
class Speaker:
    """One speaker of the conversation: the name turns carry, role, title and the other labels used."""

    name: str
    role: Role
    title: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dialogue:
    """What the dialogue detector decided: the labelling scheme, the speakers, and its doubts."""

    scheme: str = ""                    # e.g. "bold-colon-outside", "question-heading+bold-colon-inside"
    speakers: tuple[Speaker, ...] = ()
    warnings: tuple[str, ...] = ()      # "evidence is thin", "two labelling schemes compete", …

    @property
    def hosts(self) -> tuple[str, ...]:
        """The speakers who host (ask the questions)."""
        return tuple(s.name for s in self.speakers if s.role == "host")


@dataclass(frozen=True)
class Section:
    """A top-level (##) part of the article: stable id, number if the heading is numbered."""

    id: str
    title: str
    blocks: tuple[Block, ...]
    number: int | None = None
    line: int = 0


@dataclass(frozen=True)
class Quote:
    """One entry of the closing quotes page."""

    children: tuple[Inline, ...]
    attribution: str = ""
    line: int = 0


@dataclass(frozen=True)
class Document:
    """The whole article: metadata, lead, sections, quotes page, colophon and reading warnings."""

    meta: Meta = field(default_factory=Meta)
    lead: tuple[Block, ...] = ()
    sections: tuple[Section, ...] = ()
    quotes: tuple[Quote, ...] = ()
    quotes_title: str = ""
    colophon: tuple[Block, ...] = ()
    warnings: tuple[str, ...] = ()
    name: str = ""                    # the input as named in warnings: a path, "<stdin>" or "<string>"
    dialogue: Dialogue = field(default_factory=Dialogue)

    def replace(self, **changes) -> "Document":
        """A copy with some fields changed (dataclasses.replace)."""
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------- helpers
@functools.cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names (None: not a dataclass), looked up once per class."""
    return tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def to_dict(node) -> object:
    """Plain JSON-able form of any node (with a "type" key), for golden tests and --json."""
    if isinstance(node, (tuple, list)):
        return [to_dict(x) for x in node]
    if isinstance(node, (str, int, float, type(None))):
        return node
    names = _field_names(type(node))  # type: ignore[arg-type]  # typeshed: a class is Hashable
    if names is None:
        return node
    out: dict[str, object] = {"type": type(node).__name__}
    for name in names:
        out[name] = to_dict(getattr(node, name))
    return out


def plain_text(inlines: tuple[Inline, ...] | list[Inline]) -> str:
    """The visible text of a run of inlines (images give their alt text)."""
    parts: list[str] = []
    for node in inlines:
        if isinstance(node, (Text, Code)):
            parts.append(node.text)
        elif isinstance(node, (Strong, Emphasis, Link)):
            parts.append(plain_text(node.children))
        elif isinstance(node, LineBreak):
            parts.append("\n")
        elif isinstance(node, InlineImage):
            parts.append(node.alt)
    return "".join(parts)


def child_blocks(block: Block) -> tuple[Block, ...]:
    """The blocks directly inside a block (list items flattened)."""
    if isinstance(block, (DialogueTurn, BlockQuote)):
        return block.blocks
    if isinstance(block, ListBlock):
        return tuple(b for item in block.items for b in item)
    return ()


def walk_blocks(blocks) -> Iterator[Block]:
    """Every block, depth first, iteratively (no recursion limit on deep nesting)."""
    stack = list(reversed(tuple(blocks)))
    while stack:
        block = stack.pop()
        yield block
        stack.extend(reversed(child_blocks(block)))


def block_inlines(block: Block) -> tuple[Inline, ...]:
    """The inline runs a block holds directly (tables: all cells)."""
    if isinstance(block, (Paragraph, Heading)):
        return block.children
    if isinstance(block, Table):
        return tuple(x for row in (block.header, *block.rows) for cell in row for x in cell)
    return ()


def walk_inlines(inlines) -> Iterator[Inline]:
    """Every inline node, depth first, including those inside strong/emphasis/links."""
    stack = list(reversed(tuple(inlines)))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (Strong, Emphasis, Link)):
            stack.extend(reversed(node.children))


def all_blocks(doc: Document) -> Iterator[Block]:
    """Every block of the document: lead, sections, colophon (not the quotes)."""
    yield from walk_blocks(doc.lead)
    for section in doc.sections:
        yield from walk_blocks(section.blocks)
    yield from walk_blocks(doc.colophon)


# image formats a book carries as they are (an EPUB reader and Kindle show them) → (media type,
# extension): what images.normalise keeps or makes, what media names and types them by
KEPT_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "GIF": ("image/gif", "gif")}


def image_refs(doc: Document) -> list[tuple[str, str, int]]:
    """(src, alt, line) of every image in reading order, cover included, duplicates kept."""
    refs: list[tuple[str, str, int]] = []
    if doc.meta.cover:
        refs.append((doc.meta.cover, "cover", 0))
    for block in all_blocks(doc):
        if isinstance(block, Figure):
            refs.append((block.src, block.alt, block.line))
        for inline in walk_inlines(block_inlines(block)):
            if isinstance(inline, InlineImage):
                refs.append((inline.src, inline.alt, inline.line))
    for quote in doc.quotes:
        for inline in walk_inlines(quote.children):
            if isinstance(inline, InlineImage):
                refs.append((inline.src, inline.alt, inline.line))
    return refs


def document_text(doc: Document) -> str:
    """All visible text of the document (for font coverage and subsetting)."""
    m = doc.meta
    parts = [m.title, m.subtitle, m.source, m.author, m.translator, m.date, m.url, m.description,
             " ".join(m.tags), doc.quotes_title]
    for block in all_blocks(doc):
        if isinstance(block, DialogueTurn):
            parts.append(block.speaker + block.title + block.timestamp)
        elif isinstance(block, Figure):
            parts.append(block.alt + block.caption)
        elif isinstance(block, CodeBlock):
            parts.append(block.code)
        parts.append(plain_text(block_inlines(block)))
    for section in doc.sections:
        parts.append(section.title)
    for quote in doc.quotes:
        parts.append(plain_text(quote.children) + quote.attribution)
    return "\n".join(parts)


def split_names(value: str) -> list[str]:
    """The people one metadata field names: "甲、乙 / C & D" → ["甲", "乙", "C", "D"]."""
    return [p.strip() for p in re.split(r"[、,，/;；]|\s+&\s+", value or "") if p.strip()]


def creators(meta: Meta) -> list[tuple[str, str]]:
    """The book's people as (name, MARC role), one rule for every backend: "aut" = the named author,
    else the source publication (reading systems show only "aut" as the author); "trl" = the
    translator/compiler (编译), never an author."""
    return [(name, role) for value, role in ((meta.author or meta.source, "aut"), (meta.translator, "trl"))
            for name in split_names(value)]


def turns(doc: Document) -> list[DialogueTurn]:
    """Every DialogueTurn block (a turn continued after a heading is two blocks)."""
    return [b for b in all_blocks(doc) if isinstance(b, DialogueTurn)]


def turn_count(doc: Document) -> int:
    """Turns as a reader counts them: a speaker going on after a heading is still one turn."""
    return sum(1 for t in turns(doc) if not t.continued)
