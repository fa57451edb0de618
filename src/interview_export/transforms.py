"""Document → Document: the ordered, named, pure domain rules (header, cover, colophon, quotes, dialogue, …).

Each transform is ``func(doc, options) -> doc`` and can be switched off by name with
``Options.disabled_transforms``. Order matters: the colophon is cut off before the closing
quotes section is recognised, and quotation marks are paired last.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable

from . import meta as metadata
from .dialogue import detect_dialogue
from .errors import UsageError
from .hanzi import convert_script, set_quote_style
from .model import (
    BlockQuote,
    DialogueTurn,
    Document,
    Emphasis,
    Figure,
    Heading,
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
    plain_text,
)
from .options import Options
from .util import is_wide

Transform = Callable[[Document, Options], Document]


# ---------------------------------------------------------------- header → meta
def _credit_lines(block) -> dict[str, object] | None:
    """A paragraph made only of credit lines (``**作者：**小周``, ``发布日期：…``, ``编译 | X``) → its fields."""
    if not isinstance(block, Paragraph):
        return None
    found: dict[str, object] = {}
    for line in plain_text(block.children).split("\n"):
        fields = metadata.header_line(line) if len(line) <= 120 else None
        if fields is None:
            return None
        for key, value in fields.items():
            found.setdefault(key, value)
    return found or None


def lift_header(doc: Document, options: Options) -> Document:
    """The source box at the top of the lead (来源/原文链接/编译/date) and leading credit lines → Meta.

    Credit lines are paragraphs of ``作者：`` / ``发布日期：`` / ``编译 | X`` lines (bold or not);
    they are read and leave the body.

    Only blocks before the first ordinary paragraph are looked at; lifted values fill fields that
    the sidecar, front matter and --metadata left empty (the document has the lowest priority).
    """
    lead = list(doc.lead)
    found: dict[str, object] = {}
    keep = []
    body_started = False
    for block in lead:
        if not body_started and isinstance(block, BlockQuote) and not found:
            text = _blocks_text(block.blocks)
            if metadata.is_header_text(text):
                found.update(metadata.parse_header(text))
                continue
        if not body_started and isinstance(block, Paragraph):
            fields = _credit_lines(block)
            if fields:
                for key, value in fields.items():
                    found.setdefault(key, value)
                continue
            body_started = True
        keep.append(block)
    if not found:
        return doc
    return doc.replace(meta=metadata.fill_missing(doc.meta, found), lead=tuple(keep))


def _blocks_text(blocks) -> str:
    lines = []
    for block in blocks:
        if isinstance(block, (Paragraph, Heading)):
            lines.append(plain_text(block.children))
        elif isinstance(block, BlockQuote):
            lines.append(_blocks_text(block.blocks))
    return "\n".join(lines)


# ---------------------------------------------------------------- cover
def pick_cover(doc: Document, options: Options) -> Document:
    """The first image in the lead is the cover candidate: its Figure leaves the lead, its src → meta.cover.

    A cover declared in metadata wins; the first lead figure is then removed only if it is that image.
    In a document without sections (all lead) only an image before any text counts; QR codes
    and adverts (see ``_is_credit``) are skipped.
    """
    for i, block in enumerate(doc.lead):
        if not doc.sections and not isinstance(block, (Figure, ThematicBreak)):
            return doc
        if isinstance(block, Figure) and not _is_credit(block):  # a QR code or an advert is no cover
            if doc.meta.cover and doc.meta.cover != block.src:
                return doc
            meta = metadata.merge(doc.meta, {"cover": block.src})
            return doc.replace(meta=meta, lead=doc.lead[:i] + doc.lead[i + 1:])
    return doc


# ---------------------------------------------------------------- colophon
_CREDIT_WORDS = re.compile(r"来源|出处|作者|编辑|责编|校对|翻译|编译|整理|排版|策划|声明|版权|转载|原文|链接|参考|"
                           r"source|credit|copyright|editor", re.I)
_AD_IMAGE = re.compile(r"二维码|qr|扫码|关注|公众号|广告|推广|advert|follow|subscribe", re.I)


def _is_credit(block) -> bool:
    if isinstance(block, Figure):
        return bool(_AD_IMAGE.search(block.alt) or _AD_IMAGE.search(block.caption))
    if isinstance(block, Paragraph):
        visible = [c for c in block.children if not (isinstance(c, Text) and not c.text.strip())
                   and not isinstance(c, LineBreak)]
        if visible and all(isinstance(c, Emphasis) for c in visible):
            return True
        return bool(_CREDIT_WORDS.match(plain_text(block.children).strip(" *_"))) and len(plain_text(block.children)) < 200
    return False


def _split_lines(block):
    """A paragraph of credit lines joined by LineBreaks → one Paragraph per line."""
    if not isinstance(block, Paragraph) or not any(isinstance(c, LineBreak) for c in block.children):
        return [block]
    out: list = []
    current: list = []
    for c in block.children:
        if isinstance(c, LineBreak):
            if current:
                out.append(Paragraph(tuple(current), current[0].line))
            current = []
        else:
            current.append(c)
    if current:
        out.append(Paragraph(tuple(current), current[0].line))
    return out


def cut_colophon(doc: Document, options: Options) -> Document:
    """Credit lines after the last rule of the document (and a trailing QR/advert image) → Document.colophon.

    After the last ThematicBreak every block must be a credit (an all-italic paragraph, a line that
    starts with 来源/图片来源/编辑/…, or a QR/advert image); without such a rule only trailing
    credits are taken from the end.
    """
    in_sections = bool(doc.sections)
    blocks = list(doc.sections[-1].blocks if in_sections else doc.lead)
    rules = [i for i, b in enumerate(blocks) if isinstance(b, ThematicBreak)]
    tail_start = rules[-1] + 1 if rules else len(blocks)
    tail = blocks[tail_start:]
    if tail and all(_is_credit(b) for b in tail):
        body, colophon = blocks[: tail_start - 1], tail
    else:
        cut = len(blocks)
        while cut > 0 and _is_credit(blocks[cut - 1]):
            cut -= 1
        body, colophon = blocks[:cut], blocks[cut:]
    if not colophon:
        return doc
    colophon = [p for b in colophon for p in _split_lines(b)]
    if in_sections:
        last = doc.sections[-1]
        sections = doc.sections[:-1] + (Section(last.id, last.title, tuple(body), last.number, last.line),)
        return doc.replace(sections=sections, colophon=doc.colophon + tuple(colophon))
    return doc.replace(lead=tuple(body), colophon=doc.colophon + tuple(colophon))


# ---------------------------------------------------------------- quotes page
_QUOTES_TITLE = re.compile(r"金句|语录|摘录|名言|妙语|quotes?|quotations?|highlights?", re.I)
_ATTRIBUTION = re.compile(r"\s*(?:——|—|--|――|─)\s*([^—\n。！？!?，,；;\"“”‘’]{1,30}?)\s*$")


def _quotes_index(doc: Document) -> int | None:
    wanted = doc.meta.quotes_section.strip()
    if wanted:
        if wanted.lower() in ("none", "false", "no", "off"):
            return None
        return next((i for i, s in enumerate(doc.sections) if wanted in (s.title, f"{s.number} {s.title}")
                     or wanted in s.title), None)
    if not doc.sections:
        return None
    last = doc.sections[-1]
    content = [b for b in last.blocks if not isinstance(b, ThematicBreak)]
    if _QUOTES_TITLE.search(last.title) or (content and all(isinstance(b, BlockQuote) for b in content)):
        return len(doc.sections) - 1
    return None


def split_attribution(inlines: tuple) -> tuple[tuple, str]:
    """Inlines ending in ``——Name`` / ``—— Name`` / ``-- Name`` → (inlines without it, "Name")."""
    children = list(inlines)
    while children and (isinstance(children[-1], LineBreak)
                        or (isinstance(children[-1], Text) and not children[-1].text.strip())):
        children.pop()
    if not children:
        return (), ""
    last = children[-1]
    if isinstance(last, (Emphasis, Strong)):
        m = _ATTRIBUTION.fullmatch(plain_text(last.children))
        if m and len(children) > 1:
            return _strip_tail(children[:-1]), m[1]
    if isinstance(last, Text):
        m = _ATTRIBUTION.search(last.text)
        if m and (m.start() > 0 or len(children) > 1):
            head = children[:-1] + ([Text(last.text[: m.start()], last.line)] if m.start() else [])
            return _strip_tail(head), m[1]
    return tuple(children), ""


def _strip_tail(children: list) -> tuple:
    while children and (isinstance(children[-1], LineBreak)
                        or (isinstance(children[-1], Text) and not children[-1].text.strip())):
        children.pop()
    if children and isinstance(children[-1], Text):
        children[-1] = Text(children[-1].text.rstrip(), children[-1].line)
    return tuple(children)


def make_quotes_page(doc: Document, options: Options) -> Document:
    """The closing quotes section (title like 金句/语录/Quotes, or only blockquotes) → Document.quotes.

    Each paragraph inside its blockquotes is one Quote (other paragraphs of a titled section too);
    a trailing ``——Name`` becomes the attribution, and a paragraph that is only ``——Name``
    attributes the quote before it. Front matter ``quotes_section:`` names the section or says "none".
    """
    index = _quotes_index(doc)
    if index is None:
        return doc
    section = doc.sections[index]
    warnings = list(doc.warnings)
    paragraphs: list[Paragraph] = []
    for block in section.blocks:
        if isinstance(block, (BlockQuote, ListBlock)):
            for inner in _flatten((block,)):   # a heading inside a quote is a quote too; nothing goes silently
                if isinstance(inner, (Paragraph, Heading)):
                    paragraphs.append(Paragraph(inner.children, inner.line))
                elif not isinstance(inner, ThematicBreak):
                    warnings.append(f"{doc.name}:{inner.line}: {type(inner).__name__} in the quotes section dropped")
        elif isinstance(block, Paragraph):
            paragraphs.append(block)
        elif not isinstance(block, ThematicBreak):
            warnings.append(f"{doc.name}:{block.line}: {type(block).__name__} in the quotes section dropped")
    quotes: list[Quote] = []
    for para in paragraphs:
        text, who = split_attribution(para.children)
        if not text and who and quotes:
            quotes[-1] = Quote(quotes[-1].children, who, quotes[-1].line)
            continue
        only = _ATTRIBUTION.fullmatch(plain_text(para.children))
        if only and quotes and not quotes[-1].attribution:
            quotes[-1] = Quote(quotes[-1].children, only[1], quotes[-1].line)
            continue
        quotes.append(Quote(text, who, para.line))
    sections = doc.sections[:index] + doc.sections[index + 1:]
    return doc.replace(sections=sections, quotes=doc.quotes + tuple(quotes), quotes_title=section.title,
                       warnings=tuple(warnings))


def _flatten(blocks):
    stack = list(reversed(tuple(blocks)))
    while stack:
        block = stack.pop()
        if isinstance(block, BlockQuote):
            stack.extend(reversed(block.blocks))
        elif isinstance(block, ListBlock):
            stack.extend(reversed([b for item in block.items for b in item]))
        else:
            yield block


# ---------------------------------------------------------------- tidy-ups
def trim_rules(doc: Document, options: Options) -> Document:
    """Thematic breaks at the start or end of the lead and of each section (and doubled ones) go."""
    def trim(blocks):
        out: list = []
        for b in blocks:
            if isinstance(b, ThematicBreak) and (not out or isinstance(out[-1], ThematicBreak)):
                continue
            out.append(b)
        while out and isinstance(out[-1], ThematicBreak):
            out.pop()
        return tuple(out)

    sections = tuple(Section(s.id, s.title, trim(s.blocks), s.number, s.line) for s in doc.sections)
    return doc.replace(lead=trim(doc.lead), sections=sections)


def single_section(doc: Document, options: Options) -> Document:
    """A document without ## headings: its body becomes one untitled section ``sec-1`` (renderers need one)."""
    if doc.sections or not doc.lead:
        return doc
    line = doc.lead[0].line
    return doc.replace(lead=(), sections=(Section("sec-1", "", doc.lead, None, line),))


_SEP = "\x00"  # never in the text: the reader removes NUL


def _neighbour(text: str, at: int, step: int) -> str:
    """The nearest character before (step -1) or after (step 1) ``at``, across piece separators."""
    i = at + step
    while 0 <= i < len(text) and text[i] == _SEP:
        i += step
    return text[i] if 0 <= i < len(text) else ""


def pair_strings(texts: list[str], mark: str, opening: str, closing: str) -> tuple[list[str], bool]:
    """Pair ``mark`` across the text pieces of one paragraph → (new pieces, True if left unpaired).

    Only pairs that enclose or touch CJK text change; an odd count changes nothing. For ``'``
    an apostrophe between two ASCII letters or digits (it's) is not a quotation mark.
    """
    joined = _SEP.join(texts)
    at = [i for i, ch in enumerate(joined) if ch == mark and not (
        mark == "'" and 0 < i < len(joined) - 1 and joined[i - 1].isascii() and joined[i - 1].isalnum()
        and joined[i + 1].isascii() and joined[i + 1].isalnum())]
    if not at:
        return texts, False
    if len(at) % 2:
        return texts, True
    chars = list(joined)
    for a, b in zip(at[::2], at[1::2]):
        before, after = _neighbour(joined, a, -1), _neighbour(joined, b, 1)
        if any(is_wide(ch) for ch in joined[a + 1:b]) or is_wide(before) or is_wide(after):
            chars[a], chars[b] = opening, closing
    return "".join(chars).split(_SEP), False


def _texts(inlines) -> list[str]:
    out = []
    for node in inlines:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, (Strong, Emphasis, Link)):
            out += _texts(node.children)
    return out


def _replace_texts(inlines, texts) -> tuple:
    out: list = []
    for node in inlines:
        if isinstance(node, Text):
            out.append(Text(next(texts), node.line))
        elif isinstance(node, (Strong, Emphasis, Link)):
            out.append(dataclasses.replace(node, children=_replace_texts(node.children, texts)))
        else:
            out.append(node)
    return tuple(out)


def pair_inlines(inlines) -> tuple[tuple, bool]:
    """One paragraph's inlines with " and ' paired (code spans untouched) → (inlines, unpaired?)."""
    texts = _texts(inlines)
    texts, odd_double = pair_strings(texts, '"', "“", "”")
    texts, odd_single = pair_strings(texts, "'", "‘", "’")
    return _replace_texts(inlines, iter(texts)), odd_double or odd_single


def pair_title(title: str) -> str:
    """A title with its straight " and ' paired into curly marks, as in a paragraph."""
    return pair_inlines((Text(title),))[0][0].text if title else title


def pair_quote_marks(doc: Document, options: Options) -> Document:
    """Straight " and ' around Chinese text → “…” and ‘…’, per paragraph (odd counts left alone, with a warning)."""
    warnings = list(doc.warnings)

    def run(inlines, line):
        new, odd = pair_inlines(inlines)
        if odd and any(is_wide(ch) for ch in plain_text(inlines)):
            warnings.append(f"{doc.name}:{line}: odd number of straight quotation marks; left unchanged")
        return new

    def blocks(items) -> tuple:
        out = []
        for b in items:
            if isinstance(b, (Paragraph, Heading)):
                b = dataclasses.replace(b, children=run(b.children, b.line))
            elif isinstance(b, (BlockQuote, DialogueTurn)):
                b = dataclasses.replace(b, blocks=blocks(b.blocks))
            elif isinstance(b, ListBlock):
                b = dataclasses.replace(b, items=tuple(blocks(item) for item in b.items))
            elif isinstance(b, Table):
                b = dataclasses.replace(b, header=tuple(run(c, b.line) for c in b.header),
                                        rows=tuple(tuple(run(c, b.line) for c in row) for row in b.rows))
            elif isinstance(b, Figure):
                b = dataclasses.replace(b, caption=pair_title(b.caption))
            out.append(b)
        return tuple(out)

    sections = tuple(dataclasses.replace(s, title=pair_title(s.title), blocks=blocks(s.blocks)) for s in doc.sections)
    quotes = tuple(dataclasses.replace(q, children=run(q.children, q.line)) for q in doc.quotes)
    meta = dataclasses.replace(doc.meta, title=pair_title(doc.meta.title), subtitle=pair_title(doc.meta.subtitle))
    return doc.replace(meta=meta, lead=blocks(doc.lead), sections=sections, quotes=quotes,
                       quotes_title=pair_title(doc.quotes_title), colophon=blocks(doc.colophon),
                       warnings=tuple(warnings))


TRANSFORMS: list[tuple[str, Transform]] = [
    ("header", lift_header),
    ("cover", pick_cover),
    ("colophon", cut_colophon),
    ("quotes", make_quotes_page),
    ("dialogue", detect_dialogue),
    ("trim-rules", trim_rules),
    ("single-section", single_section),
    ("quote-marks", pair_quote_marks),
    ("convert", convert_script),
    ("quote-style", set_quote_style),
]
TRANSFORM_NAMES = tuple(name for name, _ in TRANSFORMS)


def apply_transforms(doc: Document, options: Options = Options()) -> Document:
    """Run every transform not listed in ``options.disabled_transforms``, in order."""
    unknown = set(options.disabled_transforms) - set(TRANSFORM_NAMES)
    if unknown:
        raise UsageError(f"unknown transform(s) {', '.join(sorted(unknown))}; known: {', '.join(TRANSFORM_NAMES)}")
    for name, func in TRANSFORMS:
        if name not in options.disabled_transforms:
            doc = func(doc, options)
    return doc
