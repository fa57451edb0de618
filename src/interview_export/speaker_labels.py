"""A block → the speaker label it may open with (name, title, timestamp, form, the words after it).

This module only *reads*: every way people write a label down is recognised here, whether or not
the document turns out to be a dialogue. ``dialogue.py`` weighs the labels of a whole document and
decides which of them are speakers.

Forms (``Label.form``), as they are named in ``inspect``'s ``dialogue.scheme``:

- ``bold-colon-outside``  ``**名字**：…``, ``**名字** ：…``, ``**名字**（CTO）：…``, ``**Name**: …``
- ``bold-colon-inside``   ``**名字：**…``, ``**名字（CTO）：**…``, ``**Name:** …``
- ``bold-question``       the whole question in bold with its label: ``**Q：为什么？**``, ``**Q1: Why?**``
- ``plain``               ``名字：…``, ``Name: …``, ``Adam Jonas (AJ): …``, ``答：…``
- ``heading``             a heading that opens with a label: ``### 名字：``, ``#### 问：…？``
- ``quoted``              a quoted question ``> **@user**: …`` (answered by a later ``A:``)

A label with nothing after it (``**适兕**：``, ``Aaron van Wirdum: 00:00:08``) has ``alone`` set:
its words are in the next paragraph(s). A time before or after the label is kept in ``timestamp``.
Numbered questions (``Q1``, ``Q3-follow-up``, ``Q8 follow-up``) are all speaker ``Q``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import BlockQuote, Heading, Inline, InlineImage, Paragraph, Strong, Text, plain_text

# A time as transcripts write it: 04:12, 1:02:03, [04:12], (00:00:08), ranges "[39:59] to [40:18]".
_TIME = r"[\[(（]?\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?[\])）]?"
TIMESTAMP_PATTERN = rf"{_TIME}(?:\s*(?:to|-|–|~|～|至|到)\s*{_TIME})?"   # a part of other patterns
_LEADING_TIME = re.compile(rf"^\s*({TIMESTAMP_PATTERN})\s*")
_COLONS = ("：", ":")
# Characters no name contains: sentence punctuation, quotes, book-title marks.
_NOT_NAME = re.compile(r"[，。！？；、,!?;“”\"《》…|｜=<>\[\]{}（）()]|\.\s|\s{2}|^\W*$")
_TITLE = re.compile(r"^(?P<name>.*?)\s*[（(](?P<bracket>[^（）()]{1,40})[）)]$")
_INITIALS = re.compile(r"^[A-Z]{1,4}$")
_NUMBERED = re.compile(r"^(?P<base>Q|A|问|問|答)\s*\d{0,3}(?:\s*[-–—]?\s*(?:follow[-\s]?up|追问|追問|续|續))?$", re.I)
_PLAIN = re.compile(r"^\s*(?P<core>[^：:\n]{1,40}?)\s*[：:]\s*")
_PSEUDO_HEADING = re.compile(r"^\s*#{1,6}\s*")   # "###问：" without the space CommonMark needs
_URL_START = re.compile(r"^\s*(//|https?://|www\.)", re.I)


@dataclass(frozen=True)
class Label:
    """A possible speaker label at the start of one block."""

    name: str                          # the bare name: "Q" for Q1, "Adam Jonas" for "Adam Jonas (AJ)"
    form: str                          # see the module docstring
    rest: tuple[Inline, ...] = ()      # the words after the label in the same block
    title: str = ""                    # "CTO" from "名字（CTO）", "AJ" from "Adam Jonas (AJ)"
    alias: str = ""                    # the title when it could be initials: "AJ" (the detector decides)
    timestamp: str = ""
    written: str = ""                  # the label as written, without colon: "Q3-follow-up"
    line: int = 0

    @property
    def alone(self) -> bool:
        """Nothing follows the label in its block: the words are in the next paragraph(s)."""
        return not plain_text(self.rest).strip() and not any(isinstance(c, InlineImage) for c in self.rest)

    @property
    def text(self) -> str:
        """The words after the label in its block, as plain text."""
        return plain_text(self.rest).strip()


def is_name(name: str) -> bool:
    """Could this be what a speaker is called? Short, no sentence punctuation, not a URL or a number."""
    name = name.strip()
    if not name or _NOT_NAME.search(name) or _URL_START.match(name) or name.isdigit():
        return False
    wide = sum(1 for ch in name if ord(ch) > 0x2E7F)
    if wide:
        return len(name) <= 16
    return len(name) <= 32 and len(name.split()) <= 4 and (name.startswith("@") or not any(ch.isdigit() for ch in name))


def split_name(core: str) -> tuple[str, str, str, str] | None:
    """``名字（CTO）`` / ``Adam Jonas (AJ)`` / ``Q3-follow-up`` → (name, title, alias, written), or None."""
    core = core.strip()
    written = core
    title = alias = ""
    m = _TITLE.match(core)
    if m and m["name"].strip():
        core, title = m["name"].strip(), m["bracket"].strip()
        if _INITIALS.match(title):      # "(AJ)" may be the short label used later, or a title like "(CTO)"
            alias = title
    numbered = _NUMBERED.match(core)
    if numbered:
        base = numbered["base"]
        core = base.upper() if base.isascii() else base
    if not is_name(core):
        return None
    return core, title, alias, written


def _take_time(rest) -> tuple[str, list]:
    """A timestamp at the start of ``rest`` → (timestamp, rest without it)."""
    rest = list(rest)
    if rest and isinstance(rest[0], Text):
        m = _LEADING_TIME.match(rest[0].text)
        if m:
            remainder = rest[0].text[m.end():]
            return m[1], ([Text(remainder, rest[0].line)] if remainder else []) + rest[1:]
    return "", rest


def _strip_start(rest: list) -> tuple:
    """Drop the blank start of the words after a label."""
    while rest and isinstance(rest[0], Text) and not rest[0].text.strip():
        rest = rest[1:]
    if rest and isinstance(rest[0], Text):
        rest = [Text(rest[0].text.lstrip(), rest[0].line)] + list(rest[1:])
    return tuple(rest)


def _from_bold(strong: Strong, after: list) -> tuple[str, str, list] | None:
    """``**X：**…`` / ``**X**：…`` / ``**X：question**`` → (core, form, rest)."""
    label = plain_text(strong.children)
    stripped = label.rstrip()
    if stripped.endswith(_COLONS) and len(stripped) > 1:
        return stripped[:-1], "bold-colon-inside", after
    if after and isinstance(after[0], Text):
        m = re.match(r"^\s*(?:[（(](?P<title>[^（）()]{1,40})[）)])?\s*[：:]", after[0].text)
        if m:
            core = label.strip() + (f"（{m['title']}）" if m["title"] else "")
            remainder = after[0].text[m.end():]
            return core, "bold-colon-outside", ([Text(remainder, after[0].line)] if remainder else []) + after[1:]
    first = strong.children[0] if strong.children else None
    if isinstance(first, Text):
        at = min((i for i in (first.text.find("："), first.text.find(":")) if i > 0), default=-1)
        if at > 0 and first.text[at + 1:].strip() and not _URL_START.match(first.text[at + 1:]):
            inner = (Text(first.text[at + 1:].lstrip(), first.line),) + strong.children[1:]
            return first.text[:at], "bold-question", [Strong(inner, strong.line)] + after
    return None


def _from_inlines(inlines: tuple) -> tuple[str, str, list, str] | None:
    """Inlines that open with a label → (core, form, rest, timestamp before the label)."""
    children = list(inlines)
    before, children = _take_time(children)
    if children and isinstance(children[0], Text) and _PSEUDO_HEADING.match(children[0].text):
        children[0] = Text(_PSEUDO_HEADING.sub("", children[0].text, count=1), children[0].line)
    while children and isinstance(children[0], Text) and not children[0].text.strip():
        children.pop(0)
    if not children:
        return None
    head = children[0]
    if isinstance(head, Strong):
        if any(isinstance(c, InlineImage) for c in head.children):
            return None
        found = _from_bold(head, children[1:])
        return (*found, before) if found else None
    if isinstance(head, Text):
        m = _PLAIN.match(head.text)
        if not m:
            return None
        remainder = head.text[m.end():]
        if remainder.startswith("//"):   # "https://…" is no label
            return None
        rest = ([Text(remainder, head.line)] if remainder else []) + children[1:]
        return m["core"], "plain", rest, before
    return None


def read_label(block) -> Label | None:
    """The label ``block`` opens with (paragraph, heading or quoted question), or None."""
    if isinstance(block, BlockQuote):
        first = block.blocks[0] if block.blocks else None
        inner = read_label(first) if isinstance(first, Paragraph) else None
        if inner is None or inner.form == "plain" and not inner.name.startswith("@"):
            return None
        return Label(inner.name, "quoted", inner.rest, inner.title, inner.alias, inner.timestamp, inner.written,
                     block.line)
    if not isinstance(block, (Paragraph, Heading)):
        return None
    found = _from_inlines(block.children)
    if found is None:
        return None
    core, form, rest, before = found
    parts = split_name(core)
    if parts is None:
        return None
    name, title, alias, written = parts
    after, rest = _take_time(_strip_start(list(rest)))
    if isinstance(block, Heading):
        form = "heading"
        if rest and isinstance(rest[-1], Text):   # "#### 问：…？####": a closing run CommonMark kept as text
            rest[-1] = Text(re.sub(r"\s*#+\s*$", "", rest[-1].text), rest[-1].line)
    return Label(name, form, _strip_start(list(rest)), title, alias, before or after, written, block.line)


def rest_paragraph(label: Label, line: int) -> tuple[Paragraph, ...]:
    """The words after a label as the turn's first paragraph (none when the label stands alone)."""
    return (Paragraph(label.rest, line),) if not label.alone else ()
