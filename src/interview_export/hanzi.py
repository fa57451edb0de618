"""Document → the same document in the other Chinese script (OpenCC) and with the chosen quotation marks.

`--convert s2t|s2tw|s2twp|s2hk|t2s|tw2s|hk2s` converts the text a reader sees — body, headings,
captions, alt text, quotes, metadata — and never code, URLs, image sources or the speaker names the
user pinned in front matter (`speakers:`/`host:`). The book's language follows the conversion
(zh-TW, zh-HK, zh-Hant, zh-CN). Then the quotation marks follow the book: 「」『』 for Traditional
Chinese, “”‘’ otherwise, or what `--quotes curly|corner` asks for.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import TYPE_CHECKING, Callable

from .errors import UsageError
from .labels import QUOTE_STYLE_NAMES, QUOTE_STYLES, is_traditional, quote_style
from .model import (
    BlockQuote,
    DialogueTurn,
    Document,
    Emphasis,
    Figure,
    Heading,
    InlineImage,
    Link,
    ListBlock,
    Paragraph,
    Strong,
    Table,
    Text,
)

if TYPE_CHECKING:   # options.py builds its --convert/--quotes rows from this module's tables
    from .options import Options

# conversion → the language tag of the result ("" = keep a tag of the same script, else the default)
CONVERSIONS = {"s2t": "zh-Hant", "s2tw": "zh-TW", "s2twp": "zh-TW", "s2hk": "zh-HK",
               "t2s": "zh-CN", "tw2s": "zh-CN", "hk2s": "zh-CN"}
_REGION_NEUTRAL = {"s2t", "t2s", "tw2s", "hk2s"}

# Frequent characters written differently in the two scripts (这/這 …), to recognise the script of
# an input. Characters that are also ordinary Traditional characters (后, 里, 干, 只 …) are left out.
SIMPLIFIED_ONLY = ("这个们来为国说时会对过种经学现当没动还进样开从实军无长机关点业将两间问应战头体见"
                   "产话给门儿东声员论处义认条气题别变总电数报结务场计资许统区队决马书则听达强难权设"
                   "记类据边张该规万觉术领确传师观")
TRADITIONAL_ONLY = ("這個們來為爲國說時會對過種經學現當沒動還進樣開從實軍無長機關點業將兩間問應戰頭體見"
                    "產話給門兒東聲員論處義認條氣題別變總電數報結務場計資許統區隊決馬書則聽達強難權設"
                    "記類據邊張該規萬覺術領確傳師觀")


def check_conversion(name: str) -> str:
    """The conversion name, or UsageError listing the valid ones."""
    if name and name not in CONVERSIONS:
        raise UsageError(f"unknown conversion {name!r} (choose from {', '.join(CONVERSIONS)})")
    return name


def check_quotes(name: str) -> str:
    """A --quotes value checked against the known styles ("" = the language's default); UsageError otherwise."""
    if name and name not in QUOTE_STYLE_NAMES:
        raise UsageError(f"unknown quote style {name!r} (choose from {', '.join(QUOTE_STYLE_NAMES)})")
    return name


def is_traditional_text(text: str) -> bool:
    """Is this Chinese text written in Traditional characters? (counts script-specific characters)"""
    simplified = sum(text.count(ch) for ch in SIMPLIFIED_ONLY)
    traditional = sum(text.count(ch) for ch in TRADITIONAL_ONLY)
    return traditional >= 3 and traditional > 2 * simplified


@cache
def converter(name: str) -> Callable[[str], str]:
    """OpenCC's converter for one conversion (its dictionaries load once per process)."""
    import opencc  # only books that ask for a conversion pay for loading it

    return opencc.OpenCC(f"{check_conversion(name)}.json").convert


def converted_language(conversion: str, current: str) -> str:
    """The language tag after `conversion`: its region, or the current tag when that already has
    the target script and the conversion names no region (s2t keeps zh-HK; t2s keeps zh-SG)."""
    target = CONVERSIONS[conversion]
    if conversion in _REGION_NEUTRAL and current.lower().startswith("zh") \
            and is_traditional(current) == is_traditional(target):
        return current
    return target


# ---------------------------------------------------------------- walking the text a reader sees
def map_text(doc: Document, f: Callable[[str], str], *, keep_speakers: frozenset[str] = frozenset(),
             meta: bool = True) -> Document:
    """`doc` with `f` applied to every visible text (inline text, link titles, alt text, captions,
    headings, speakers not in `keep_speakers`, quotes, and with `meta` the metadata's words);
    code, URLs and image sources are never touched."""

    def inline(node):
        if isinstance(node, Text):
            return dataclasses.replace(node, text=f(node.text))
        if isinstance(node, (Strong, Emphasis)):
            return dataclasses.replace(node, children=inlines(node.children))
        if isinstance(node, Link):
            return dataclasses.replace(node, children=inlines(node.children), title=f(node.title))
        if isinstance(node, InlineImage):
            return dataclasses.replace(node, alt=f(node.alt), title=f(node.title))
        return node   # Code, LineBreak

    def inlines(nodes) -> tuple:
        return tuple(inline(n) for n in nodes)

    def name(speaker: str) -> str:
        return speaker if speaker in keep_speakers else f(speaker)

    def block(node):
        if isinstance(node, (Paragraph, Heading)):
            return dataclasses.replace(node, children=inlines(node.children))
        if isinstance(node, DialogueTurn):
            return dataclasses.replace(node, speaker=name(node.speaker), title=f(node.title), blocks=blocks(node.blocks))
        if isinstance(node, BlockQuote):
            return dataclasses.replace(node, blocks=blocks(node.blocks))
        if isinstance(node, ListBlock):
            return dataclasses.replace(node, items=tuple(blocks(item) for item in node.items))
        if isinstance(node, Table):
            return dataclasses.replace(node, header=tuple(inlines(c) for c in node.header),
                                       rows=tuple(tuple(inlines(c) for c in row) for row in node.rows))
        if isinstance(node, Figure):
            return dataclasses.replace(node, alt=f(node.alt), caption=f(node.caption), title=f(node.title))
        return node   # CodeBlock, ThematicBreak

    def blocks(nodes) -> tuple:
        return tuple(block(b) for b in nodes)

    m = doc.meta
    if meta:
        m = dataclasses.replace(m, title=f(m.title), subtitle=f(m.subtitle), description=f(m.description),
                                source=f(m.source), author=f(m.author), translator=f(m.translator),
                                tags=tuple(f(t) for t in m.tags))
    sections = tuple(dataclasses.replace(s, title=f(s.title), blocks=blocks(s.blocks)) for s in doc.sections)
    quotes = tuple(dataclasses.replace(q, children=inlines(q.children), attribution=f(q.attribution))
                   for q in doc.quotes)
    speakers = tuple(dataclasses.replace(sp, name=name(sp.name), title=f(sp.title)) for sp in doc.dialogue.speakers)
    return doc.replace(meta=m, lead=blocks(doc.lead), sections=sections, quotes=quotes,
                       quotes_title=f(doc.quotes_title), colophon=blocks(doc.colophon),
                       dialogue=dataclasses.replace(doc.dialogue, speakers=speakers))


# ---------------------------------------------------------------- the two transforms
def convert_script(doc: Document, options: Options) -> Document:
    """Simplified ↔ Traditional with OpenCC (options.convert); the language tag follows."""
    if not options.convert:
        return doc
    convert = converter(options.convert)
    pinned = frozenset(doc.meta.speakers) | frozenset(doc.meta.hosts)
    doc = map_text(doc, lambda s: convert(s) if s else s, keep_speakers=pinned)
    language = converted_language(options.convert, doc.meta.language)
    return doc.replace(meta=dataclasses.replace(doc.meta, language=language))


def _restyle(text: str, table: dict[str, str]) -> str:
    if not any(ch in table for ch in text):
        return text
    out = []
    for i, ch in enumerate(text):
        apostrophe = ch == "\u2019" and 0 < i < len(text) - 1 and text[i - 1].isascii() \
            and text[i - 1].isalnum() and text[i + 1].isascii() and text[i + 1].isalnum()
        out.append(ch if apostrophe else table.get(ch, ch))
    return "".join(out)


def set_quote_style(doc: Document, options: Options) -> Document:
    """Quotation marks in the book's convention: 「」『』 (corner) or “”‘’ (curly). Without
    --quotes, Traditional books get corner marks, books converted to Simplified curly ones, and the
    others keep what the author wrote."""
    choice = check_quotes(options.quotes)
    style = quote_style(doc.meta.language, choice)
    to_simplified = bool(options.convert) and not is_traditional(CONVERSIONS[check_conversion(options.convert)])
    if not choice and style == "curly" and not to_simplified:
        return doc
    other = QUOTE_STYLES["curly" if style == "corner" else "corner"]
    table = dict(zip(other, QUOTE_STYLES[style]))
    return map_text(doc, lambda s: _restyle(s, table), meta=True)
