"""Document → the same document with Chinese line-breaking hints for print (PDF only); which
marks a pair of adjacent ones squeezes (``squeezed``: PDF and EPUB).

Pango breaks lines by UAX #14, which glues “ and ” to both neighbours (class QU), breaks inside
"Q-Star" after the hyphen and between a number and its unit, and knows nothing of a paragraph's
last line. These rules add invisible characters that only steer line breaking (they have no
glyph, so neither the page nor ``pdftotext`` shows them):

- U+200B ZERO WIDTH SPACE, a break opportunity, before an opening mark that follows Chinese text
  and after a closing mark that Chinese text follows (clreq: those are where Chinese lines break);
- a space that WeChat left next to a full-width mark ("。” 这番言论") is dropped;
- U+00AD SOFT HYPHEN, a hyphenation point (pyphen's English patterns), in Latin words of
  ``HYPHENATE_MIN`` lower-case letters or more (or a capital and one fewer), so that an English
  line fills its measure instead of stretching its spaces (a break there draws a hyphen that is
  not text: weasy_cjk gives it an empty /ActualText). A capitalised word — in Chinese text
  nearly always a name (Anthropic, Transformer) — weasy_cjk breaks only when its line would
  otherwise spread more than ``NAME_BREAK_EM`` between its Chinese characters;
- U+200B after every character of a URL, which may then break anywhere (no hyphen);
- U+2060 WORD JOINER, no break, inside Latin hyphenated compounds, between a number and the
  Chinese unit after it, and before the last character of every paragraph, quote and table cell,
  so that a last line never holds one lone character. Headings and the title keep their last
  phrase together (up to ``PHRASE_MAX`` characters), else their last two characters.

``plain`` removes the hints again (bookmarks, running heads and PDF metadata are plain text).
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from types import SimpleNamespace

from . import model

ZWSP, WJ, SHY = "\u200b", "\u2060", "\u00ad"
HINTS = ZWSP + WJ + SHY
_NO_HINTS = str.maketrans("", "", HINTS)
HYPHENATE_MIN = 6         # a lower-case Latin word this long or longer gets hyphenation points
_SEP = "\x00"             # joins text nodes while their tail is glued (XML text never holds it)
PHRASE_MAX = 8            # a heading's last phrase up to this long stays on one line

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_OPENING = "“‘（《「『【〔〈"
_CLOSING = "”’）》」』】〕〉"
_STOPS = "，。、；：？！…—"
_CJK_TEXT = f"{_HAN}{_STOPS}{_OPENING}{_CLOSING}\u3000-\u303f\uff00-\uffef"


@lru_cache(maxsize=1)
def _rx() -> SimpleNamespace:
    """The PDF's patterns, compiled on first use: an EPUB (``squeezed`` only) never needs them, and
    their Chinese character classes take ~9 ms to compile."""
    return SimpleNamespace(
        before_opening=re.compile(f"(?<=[{_HAN}{_STOPS}{_CLOSING}])(?=[{_OPENING}])"),
        after_closing=re.compile(f"(?<=[{_CLOSING}])(?=[{_HAN}{_OPENING}])"),
        # WeChat artefacts: a space kept after a full-width mark or before one ("。” 这番言论")
        space_at_mark=re.compile(f"(?<=[{_STOPS}{_CLOSING}{_OPENING}])[ \u00a0]+(?=[{_HAN}{_OPENING}])"
                                 f"|(?<=[{_HAN}])[ \u00a0]+(?=[{_STOPS}{_CLOSING}])"),
        compound=re.compile(r"(?<=[A-Za-z0-9])-(?=[A-Za-z0-9])"),
        number_unit=re.compile(f"(?<=[0-9%])( ?)(?=[{_HAN}])"),
        url=re.compile(r"(?:https?://|www\.)[!#-'*-;=?-~]+[A-Za-z0-9/]"),
        # a lower-case or capitalised English word (not OpenAI, GPT, iPhone: names and acronyms stay
        # whole; weasy_cjk breaks a capitalised one only when its line would be loose without)
        word=re.compile(f"(?<![A-Za-z0-9_\\-.@/{SHY}])[A-Z]?[a-z]{{{HYPHENATE_MIN},}}(?![A-Za-z0-9_@])"),
        ligature_shy=re.compile(f"(?<=f){SHY}(?=[fil])"),
        phrase=re.compile(f"[^{_STOPS}]+[{_STOPS}{_CLOSING}]*|[{_STOPS}{_CLOSING}]+"),
        wide=re.compile(f"[{_CJK_TEXT}\u2018-\u201d]"),
        core=re.compile(f"[{_HAN}A-Za-z0-9]"),
        phrase_end=re.compile(f"[ \u3000{_STOPS}{_OPENING}{_CLOSING}]"),
    )


# Punctuation squeezing (clreq 3.1.6): of two adjacent full-width marks one gives up its blank
# half — a closing mark or stop before an opening mark ("”“", "。“") or before another closing
# mark or stop ("”，", "）。", "。”"), and the second of two opening marks ("“《").
OPENING = _OPENING
SQUEEZABLE = "，。、；：？！" + _CLOSING
_CLOSING_STOPS = "，。、；：" + _CLOSING               # ？！ are not squeezed before another mark
_PAIRS = re.compile(f"(?=([{OPENING}{SQUEEZABLE}])[{ZWSP}{WJ}]*([{OPENING}{SQUEEZABLE}]))")   # "”。“": 2 pairs


def squeezed(text: str) -> list[int]:
    """Indexes of the marks in `text` set half-width: of two adjacent full-width marks (hints
    between them aside), the first when it is a closing mark or stop, else the second when both
    are opening marks. The PDF sets them with halt (weasy_cjk), the EPUB in a span.halt."""
    out = []
    for m in _PAIRS.finditer(text):
        a, b = m[1], m[2]
        if a in SQUEEZABLE and b in OPENING or a in _CLOSING_STOPS and b in SQUEEZABLE:
            out.append(m.start(1))
        elif a in OPENING and b in OPENING:
            out.append(m.start(2))
    return out


def plain(text: str) -> str:
    """Text without the hints."""
    return text.translate(_NO_HINTS) if text else text


@lru_cache(maxsize=4096)
def hyphenate(word: str) -> str:
    """`word` with soft hyphens where English breaks it (at least 2 letters before, 3 after);
    none inside ff/fi/fl, which the fonts set as one ligature glyph (a hyphen point inside one
    lost its letters in the PDF text: "Geoffrey" came back as "Georey")."""
    return _rx().ligature_shy.sub("", _hyphenator().inserted(word, hyphen=SHY))


@lru_cache(maxsize=1)
def _hyphenator():
    import pyphen

    path = pyphen.LANGUAGES[pyphen.language_fallback("en_US")]
    if path not in pyphen.hdcache:
        patterns = _patterns_on_demand(pyphen, path)
        if patterns is not None:   # pyphen's own HyphDict, filled lazily (its parse takes ~50 ms)
            hyph_dict = object.__new__(pyphen.HyphDict)
            hyph_dict.patterns, hyph_dict.cache = patterns, {}
            hyph_dict.maxlen = max(map(len, patterns))
            pyphen.hdcache[path] = hyph_dict
    return pyphen.Pyphen(lang="en_US", left=2, right=3)


class _OnDemand(dict):
    """pyphen's pattern table (letters → (offset, values)) with each pattern parsed when a word
    first looks it up: of ~11,000 English patterns a book's words touch a few hundred. Holds the
    same entries as pyphen's own parse: the last pattern with a non-zero value for each letters."""

    def __init__(self, raw: dict[str, str], parse):
        super().__init__(raw)
        self._parse = parse

    def get(self, key, default=None):
        value = dict.get(self, key)
        if isinstance(value, str):
            tags, values = zip(*[(string, int(i or "0")) for i, string in self._parse(value)])
            start, end = 0, len(values)
            while not values[start]:
                start += 1
            while not values[end - 1]:
                end -= 1
            value = start, values[start:end]
            self[key] = value
        return default if value is None else value


def _patterns_on_demand(pyphen, path) -> _OnDemand | None:
    """The dictionary's patterns indexed by their letters, parsed on first use; None when the file
    uses what only pyphen's full parser reads (^^hh escapes, non-standard hyphenation; anywhere
    in the file, comments included: pyphen's parse then makes the same table, only slower).

    The file is decoded three times instead of testing and translating ~11,000 lines one by one:
    as written, without its digits (each line's letters) and without its zeros (a line that then
    differs from its letters has a non-zero value). Digits are ASCII in every encoding the
    dictionaries use (UTF-8, ISO 8859, cp1251), so they are deleted from the bytes."""
    with path.open("rb") as fd:
        encoding = fd.readline().decode().strip()
        encoding = "cp1251" if encoding.lower() == "microsoft-cp1251" else encoding
        data = fd.read()
    if b"/" in data or b"^^" in data:
        return None

    def lines(text: bytes) -> list[str]:
        return text.decode(encoding).split("\n")

    raw = {letters.strip(): line.strip()
           for line, letters, without_zeros in zip(lines(data), lines(data.translate(None, b"0123456789")),
                                                   lines(data.translate(None, b"0")))
           if without_zeros != letters and not line.lstrip().startswith(pyphen.ignored)}
    return _OnDemand(raw, pyphen.parse)


def hint(text: str) -> str:
    """Break opportunities around quotation marks and brackets, in URLs and long English words;
    compounds and numbers glued; a space next to a full-width mark dropped."""
    url = _rx().url
    if url.search(text):
        parts = url.split(text)
        urls = [ZWSP.join(m[0]) for m in url.finditer(text)]
        return "".join(_hint(part) + (urls[i] if i < len(urls) else "") for i, part in enumerate(parts))
    return _hint(text)


def _hint(text: str) -> str:
    rx = _rx()
    text = rx.word.sub(lambda m: hyphenate(m[0]), text)
    text = rx.space_at_mark.sub("", text)
    text = rx.before_opening.sub(ZWSP, text)
    text = rx.after_closing.sub(ZWSP, text)
    text = rx.compound.sub("-" + WJ, text)
    return rx.number_unit.sub(lambda m: m.group(1) + WJ, text)


def glue_tail(text: str, keep: int = 2) -> str:
    """Join the last `keep` core characters (Chinese, Latin letters, digits) of `text` so that a
    line break cannot separate them; the marks after them stay with them anyway (kinsoku)."""
    cores = [m.start() for m in _rx().core.finditer(text)]
    if len(cores) < 2:
        return text
    first = cores[-min(keep, len(cores))]
    head, tail = text[:first + 1], text[first + 1:]
    glued = "".join(ch if ch in HINTS or ch == _SEP else WJ + ch for ch in tail)
    return head + glued.replace(WJ + WJ, WJ)


def heading_tail(text: str) -> str:
    """A heading or title: its last phrase together when short, else its last two characters."""
    body = plain(text).rstrip(_STOPS + _CLOSING + " ")
    rx = _rx()
    ends = [m.end() for m in rx.phrase_end.finditer(body)]
    last_phrase = body[ends[-1]:] if ends else body
    count = len(rx.core.findall(last_phrase))
    keep = count if 2 <= count <= PHRASE_MAX and ends else 2
    return glue_tail(text, keep)


def glue_phrases(text: str, max_em: float) -> str:
    """A title or heading: each phrase (up to and with its stop: ，。：？！…) no wider than
    `max_em` of its ems kept on one line, so that the title breaks between phrases ("……逼疯人！/OpenAI 七年元老
    离职首发声：/……") instead of inside a word ("离职首/发声"); a longer phrase may break inside.
    Its last two characters stay together in any case."""
    out = []
    for phrase in _rx().phrase.findall(text):
        bare = plain(phrase)
        if _width(bare) <= max_em:
            phrase = WJ.join(bare)
        out.append(phrase)
    return glue_tail("".join(out))


def _width(text: str) -> float:
    """Estimated width in ems at the text's own size: a Chinese character or full-width mark 1,
    a space 0.3, anything else (Latin letters, digits) 0.6."""
    wide = _rx().wide
    return sum(1.0 if wide.match(ch) else 0.3 if ch.isspace() else 0.6 for ch in text)


def running_head(text: str, limit: int) -> str:
    """`text` for a running head: whole when it fits `limit` characters, else cut at its last phrase
    boundary within the limit (a mark, else a space), else cut with "…"."""
    text = re.sub(r"\s+", " ", plain(text)).strip()
    if len(text) <= limit:
        return text
    head = text[:limit + 1]
    phrase_end = _rx().phrase_end
    cuts = ([m.end() for m in phrase_end.finditer(head) if m.end() >= limit // 3 and m[0] != " "]
            or [m.end() for m in phrase_end.finditer(head) if m.end() >= limit // 3])
    if not cuts:
        return text[:limit - 1].rstrip() + "…"
    return text[:cuts[-1]].rstrip(" ，、；：—…" + _OPENING)


# ---------------------------------------------------------------- over inlines and the document
def _map_text(inlines: tuple, fn) -> tuple:
    out = []
    for node in inlines:
        if isinstance(node, model.Text):
            node = replace(node, text=fn(node.text))
        elif isinstance(node, (model.Strong, model.Emphasis, model.Link)):
            node = replace(node, children=_map_text(node.children, fn))
        out.append(node)
    return tuple(out)


def _glue_inlines(inlines: tuple, tail=glue_tail) -> tuple:
    """`tail` applied across the last text nodes of a run of inlines (the last characters may sit
    in different nodes: "……**重要**。")."""
    leaves: list[list] = []

    def collect(nodes, path):
        for i, node in enumerate(nodes):
            if isinstance(node, model.Text):
                leaves.append([path + (i,), node.text])
            elif isinstance(node, (model.Strong, model.Emphasis, model.Link)):
                collect(node.children, path + (i,))
            elif not isinstance(node, model.LineBreak):
                leaves.append([path + (i,), None])   # code, images: a boundary
    collect(inlines, ())
    # the trailing run of text leaves, joined with a separator that cannot occur in text
    run: list = []
    for leaf in reversed(leaves):
        if leaf[1] is None:
            break
        run.insert(0, leaf)
    if not run:
        return inlines
    glued = tail(_SEP.join(t for _, t in run)).split(_SEP)
    if len(glued) != len(run):
        return inlines
    new = {tuple(p): t for (p, _), t in zip(run, glued)}

    def rebuild(nodes, path):
        out = []
        for i, node in enumerate(nodes):
            key = path + (i,)
            if key in new:
                node = replace(node, text=new[key])
            elif isinstance(node, (model.Strong, model.Emphasis, model.Link)):
                node = replace(node, children=tuple(rebuild(node.children, key)))
            out.append(node)
        return out
    return tuple(rebuild(inlines, ()))


def _inlines(inlines: tuple, tail=glue_tail) -> tuple:
    return _glue_inlines(_map_text(inlines, hint), tail)


def _block(block):
    if isinstance(block, model.Paragraph):
        return replace(block, children=_inlines(block.children))
    if isinstance(block, model.Heading):
        return replace(block, children=_inlines(block.children, heading_tail))
    if isinstance(block, (model.DialogueTurn, model.BlockQuote)):
        return replace(block, blocks=tuple(_block(b) for b in block.blocks))
    if isinstance(block, model.ListBlock):
        return replace(block, items=tuple(tuple(_block(b) for b in item) for item in block.items))
    if isinstance(block, model.Table):
        return replace(block, header=tuple(_inlines(c) for c in block.header),
                       rows=tuple(tuple(_inlines(c) for c in row) for row in block.rows))
    return block


def prepare(doc: model.Document, title_em: float | None = None,
            heading_em: float | None = None) -> model.Document:
    """The document with line-breaking hints in every text the PDF sets as running text;
    `title_em`, `heading_em`: how many of their own ems fit on a line of the title and of a
    section heading (their phrases are kept whole: glue_phrases)."""
    def blocks(bs):
        return tuple(_block(b) for b in bs)

    def heading(text, em):
        return glue_phrases(hint(text), em) if em else heading_tail(hint(text))
    sections = tuple(replace(s, title=heading(s.title, heading_em), blocks=blocks(s.blocks))
                     for s in doc.sections)
    quotes = tuple(replace(q, children=_inlines(q.children)) for q in doc.quotes)
    meta = replace(doc.meta, title=heading(doc.meta.title, title_em))
    return doc.replace(meta=meta, lead=blocks(doc.lead), sections=sections, quotes=quotes,
                       quotes_title=heading_tail(doc.quotes_title), colophon=blocks(doc.colophon))
