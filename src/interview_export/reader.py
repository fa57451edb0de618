"""Markdown bytes or text → model.Document, built from markdown-it tokens (never via HTML).

Decisions (tested in tests/test_reader.py):
- Input is UTF-8 with or without BOM (CRLF and CR become LF); UTF-16 with a BOM is accepted;
  otherwise GB18030/GBK is tried and, when the result reads as Chinese, used with a warning.
  Anything else raises ``InputError`` naming the file and the byte offset.
- Characters XML forbids (C0 controls except tab/newline, U+FFFE/U+FFFF, lone surrogates) are
  removed with a warning naming the line.
- An empty (or blank) file is allowed: the document is empty and carries a warning.
- Raw HTML is text unless ``Options.allow_html`` (then ``<br>`` is a line break and other
  tags are dropped, keeping their text).
- The first H1 is the title; every top-level ``##`` (and any later ``#``) starts a Section.
  Text before the first section is the lead. A document without ``##`` keeps its body in
  the lead; the ``single-section`` transform then turns it into one untitled section.
- A soft line break joins without a space when both sides are wide (CJK) characters or one
  side is CJK punctuation, else it becomes one space. Lines that each consist of a single
  emphasised run (credit lines) keep their breaks as ``LineBreak``.
- Block nesting is capped at ``MAX_NESTING`` levels by markdown-it (deeper content is
  dropped with a warning); inline formatting deeper than ``MAX_INLINE_DEPTH`` is flattened
  (text kept, with a warning); the token walk itself is iterative.
- Emphasis follows CommonMark plus the CJK-friendly delimiter amendment (``**小林：**我`` is
  bold); ``~~strike~~`` is not an extension we enable, so it stays literal text.
- A paragraph that holds only an image is a ``Figure`` (see ``caption_for``); an image alone
  on one line of a longer paragraph is split out as its own Figure.
"""

from __future__ import annotations

import dataclasses
import html
import re
import sys
import types
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import isMdAsciiPunct, isPunctChar, isWhiteSpace
from markdown_it.rules_inline.state_inline import Scanned, StateInline
from markdown_it.token import Token

from . import meta as metadata
from .errors import InputError
from .model import (
    BlockQuote,
    Code,
    CodeBlock,
    Document,
    Emphasis,
    Figure,
    Heading,
    InlineImage,
    LineBreak,
    Link,
    ListBlock,
    Meta,
    Paragraph,
    Section,
    Strong,
    Table,
    Text,
    ThematicBreak,
    document_text,
    plain_text,
)
from .options import Options
from .util import XML_FORBIDDEN, detect_language, is_wide

MAX_NESTING = 100
MAX_INLINE_DEPTH = 50
_BR = re.compile(r"^<br\s*/?>$", re.I)
_TAG = re.compile(r"<[^>]*>")


# ---------------------------------------------------------------- entry points
def read_path(path: str | Path, options: Options = Options()) -> Document:
    """Read a Markdown file (or ``"-"`` for stdin), its sidecar metadata, and run the transforms."""
    if str(path) == "-":
        return read_bytes(sys.stdin.buffer.read(), "<stdin>", options)
    p = Path(path)
    return read_bytes(read_file(p), str(p), options, sidecar=sidecar_of(p), fallback_title=p.stem)


def read_file(p: Path) -> bytes:
    """The bytes of an input file; InputError (missing, a folder, unreadable) names it."""
    if p.is_dir():
        raise InputError("is a directory, not a Markdown file", path=str(p))
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", path=str(p)) from None
    except PermissionError:
        raise InputError("permission denied", path=str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", path=str(p)) from None


def sidecar_of(p: Path) -> tuple[dict, list[str]] | None:
    """The ``NAME.metadata.yaml`` beside an input, read → (mapping, warnings); None when there is none."""
    sidecar_path = metadata.find_sidecar(p)
    return None if sidecar_path is None else metadata.load_sidecar(sidecar_path)


def read_bytes(data: bytes, name: str, options: Options = Options(), *,
               sidecar: tuple[dict, list[str]] | None = None, fallback_title: str = "") -> Document:
    """Markdown file bytes (+ its sidecar, already read) → Document with the transforms run."""
    text, warnings = decode(data, name)
    mapping = None
    if sidecar is not None:
        mapping, more = sidecar
        warnings += more
    return _read(text, name, options, mapping, warnings, fallback_title=fallback_title)


def read_text(text: str, *, name: str = "<string>", options: Options = Options(),
              sidecar: dict | None = None) -> Document:
    """Read Markdown already decoded to ``str`` and run the transforms."""
    return _read(text, name, options, sidecar, [])


def parse_text(text: str, *, name: str = "<string>", options: Options = Options(),
               sidecar: dict | None = None) -> Document:
    """Markdown → Document without running the transforms (for tests and tools)."""
    return _read(text, name, options, sidecar, [], transform=False)


def _read(text: str, name: str, options: Options, sidecar: dict | None, warnings: list[str], *,
          fallback_title: str = "", transform: bool = True) -> Document:
    text, more = clean_text(text, name)
    warnings = list(warnings) + more
    front, text, more = metadata.split_front_matter(text, name)
    warnings += more
    text, stash = stash_data_uris(text)
    builder = _Builder(name, stash)
    env: dict = {}
    blocks = builder.blocks(parser(options.allow_html).parse(text, env))
    warnings += builder.warnings
    warnings += [f"{name}:{line}: a table of about {cells:,} cells left out (more than {MAX_TABLE_CELLS:,})"
                 for line, cells in env.get("tables_left_out", ())]
    title, lead, sections = assemble(blocks)
    if not text.strip():
        warnings.append(f"{name}: empty document")
    meta = metadata.merge(Meta(), {"title": title or fallback_title}, metadata.meta_fields(sidecar),
                          metadata.meta_fields(front), metadata.cli_fields(options.metadata))
    meta, more = clean_meta(meta, name)
    warnings += more
    doc = Document(meta=meta, lead=tuple(lead), sections=tuple(sections), warnings=tuple(warnings), name=name)
    if not meta.language:
        doc = doc.replace(meta=metadata.merge(meta, {"language": detect_language(document_text(doc))}))
    if transform:
        from .transforms import apply_transforms
        doc = apply_transforms(doc, options)
    return doc


# ---------------------------------------------------------------- bytes → text
def decode(data: bytes, name: str) -> tuple[str, list[str]]:
    """File bytes → (text, warnings); raises InputError with the byte offset of the first bad byte."""
    offset = 0
    if data.startswith(b"\xef\xbb\xbf"):
        data, offset = data[3:], 3
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), []
        except UnicodeDecodeError as exc:
            raise InputError(f"undecodable UTF-16 at byte offset {exc.start}", path=name) from None
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    # Text that was valid UTF-8 with CJK up to the bad byte is broken UTF-8, not GBK.
    utf8_before = sum(1 for ch in data[:first_bad].decode("utf-8") if ord(ch) > 0x7F)
    if not offset and utf8_before < 3:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            text = None
        if text is not None and _reads_as_chinese(text):
            return text, [f"{name}: not UTF-8; decoded as GB18030/GBK (save it as UTF-8 to silence this)"]
    raise InputError(f"undecodable bytes at byte offset {first_bad + offset} "
                     f"(0x{data[first_bad]:02X}): not UTF-8 or GB18030 text", path=name)


def _reads_as_chinese(text: str) -> bool:
    """GB18030 decodes most byte soup: accept it only when the result is clearly Chinese text."""
    wide = [ch for ch in text if ord(ch) > 0x7F]
    if not wide or any(0xE000 <= ord(ch) <= 0xF8FF for ch in wide):
        return False
    cjk = sum(1 for ch in wide if 0x3000 <= ord(ch) <= 0x9FFF or 0xFF00 <= ord(ch) <= 0xFFEF)
    letters = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return cjk >= 4 and cjk >= 0.9 * len(wide) and cjk * 4 >= letters


def clean_text(text: str, name: str) -> tuple[str, list[str]]:
    """Normalise line ends, drop a BOM and the characters XML forbids (with a warning per line)."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not XML_FORBIDDEN.search(text):
        return text, []
    warnings: list[str] = []
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        bad = XML_FORBIDDEN.findall(line)
        if bad:
            if len(warnings) < 20:
                codes = ", ".join(sorted({f"U+{ord(c):04X}" for c in bad}))
                warnings.append(f"{name}:{number}: removed {len(bad)} character(s) XML forbids ({codes})")
            lines[number - 1] = XML_FORBIDDEN.sub("", line)
    if len(warnings) == 20:
        warnings.append(f"{name}: more lines had characters XML forbids (removed)")
    return "\n".join(lines), warnings


def clean_meta(meta: Meta, name: str) -> tuple[Meta, list[str]]:
    """Metadata values (YAML escapes like "\\x01", --metadata) without the characters XML forbids."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(meta):
        value = getattr(meta, f.name)
        if isinstance(value, str) and XML_FORBIDDEN.search(value):
            changes[f.name] = XML_FORBIDDEN.sub("", value)
        elif isinstance(value, tuple) and any(isinstance(v, str) and XML_FORBIDDEN.search(v) for v in value):
            changes[f.name] = tuple(XML_FORBIDDEN.sub("", v) if isinstance(v, str) else v for v in value)
    if not changes:
        return meta, []
    return dataclasses.replace(meta, **changes), [f"{name}: metadata {', '.join(changes)}: removed characters XML forbids"]


class _CJKStateInline(StateInline):
    """CommonMark's delimiter rules with the CJK-friendly amendment: a wide (CJK) character next to
    ``**`` counts like punctuation, so ``**小林：**我`` and ``我**“重点”**`` are emphasis as writers mean."""

    def scanDelims(self, start: int, canSplitWord: bool) -> Scanned:
        pos, maximum, marker = start, self.posMax, self.src[start]
        last = self.src[start - 1] if start > 0 else " "
        while pos < maximum and self.src[pos] == marker:
            pos += 1
        following = self.src[pos] if pos < maximum else " "
        last_punct = isMdAsciiPunct(ord(last)) or isPunctChar(last)
        next_punct = isMdAsciiPunct(ord(following)) or isPunctChar(following)
        last_space, next_space = isWhiteSpace(ord(last)), isWhiteSpace(ord(following))
        left = not (next_space or (next_punct and not (last_space or last_punct or is_wide(last))))
        right = not (last_space or (last_punct and not (next_space or next_punct or is_wide(following))))
        can_open = left and (canSplitWord or not right or last_punct)
        can_close = right and (canSplitWord or not left or next_punct)
        return Scanned(can_open, can_close, pos - start)


def _cjk_inline_parse(self, src, md, env, tokens):
    state = _CJKStateInline(src, md, env, tokens)
    self.tokenize(state)
    for rule in self.ruler2.getRules(""):
        rule(state)
    return state.tokens


def _capped_block_tokenize(self, state, start_line: int, end_line: int) -> None:
    """markdown-it's block tokenizer, except that a container nested too deep skips only its own
    lines (its first line and those indented under it), not the rest of the document."""
    if state.level < state.md.options.maxNesting:
        return type(self).tokenize(self, state, start_line, end_line)
    line = start_line + 1
    while line < end_line and (state.isEmpty(line) or state.sCount[line] >= state.blkIndent):
        line += 1
    state.line = line


MAX_TABLE_CELLS = 50_000   # far past any article; an empty 300×3000 table made 2.7M tokens (~0.9 GB)


def _bounded_table(rule):
    """markdown-it's table rule, except that a table of more than MAX_TABLE_CELLS cells (counted
    as its ``|`` before any token is made) becomes one paragraph saying so, with a warning."""

    def table(state, start_line: int, end_line: int, silent: bool) -> bool:
        if not rule(state, start_line, end_line, True):
            return False
        line, cells = start_line, 0
        while line < end_line and not state.isEmpty(line):
            cells += state.src.count("|", state.bMarks[line] + state.tShift[line], state.eMarks[line])
            line += 1
            if cells > MAX_TABLE_CELLS and silent:
                return True
        if cells <= MAX_TABLE_CELLS:
            return rule(state, start_line, end_line, silent)
        state.env.setdefault("tables_left_out", []).append((start_line + 1, cells))
        state.push("paragraph_open", "p", 1).map = [start_line, line]
        note = state.push("inline", "", 0)
        note.content, note.map, note.children = f"〔表格过大，已省略：约 {cells:,} 个单元格〕", [start_line, line], []
        state.push("paragraph_close", "p", -1)
        state.line = line
        return True

    return table


@cache
def parser(allow_html: bool = False) -> MarkdownIt:
    """The one markdown-it parser: CommonMark + tables, CJK-friendly emphasis; raw HTML is text unless allowed."""
    md = MarkdownIt("commonmark", {"html": allow_html, "maxNesting": MAX_NESTING}).enable("table")
    # our rules on this parser instance (markdown-it-py's extension points are its instances)
    md.inline.parse = types.MethodType(_cjk_inline_parse, md.inline)  # type: ignore[method-assign]
    md.block.tokenize = types.MethodType(_capped_block_tokenize, md.block)  # type: ignore[method-assign]
    table_rule = next(r for r in md.block.ruler.__rules__ if r.name == "table")
    md.block.ruler.at("table", _bounded_table(table_rule.fn), {"alt": table_rule.alt})
    percent_encode = md.normalizeLink

    def normalize_link(url: str) -> str:  # data: URIs of MBs need no percent-encoding (and it is slow)
        return url if url[:5].lower() == "data:" else percent_encode(url)

    md.normalizeLink = normalize_link  # type: ignore[method-assign]
    return md


# ---------------------------------------------------------------- tokens → blocks
class _Soft:
    """A soft line break until its neighbours are known."""

    __slots__ = ("line",)

    def __init__(self, line: int):
        self.line = line


_CONTAINERS = {"blockquote_open", "bullet_list_open", "ordered_list_open", "list_item_open"}
_CLOSERS = {"blockquote_close", "bullet_list_close", "ordered_list_close", "list_item_close"}


class _Builder:
    """Walks the flat token stream with an explicit stack (no recursion, any depth)."""

    def __init__(self, name: str, stash: dict[str, str] | None = None):
        self.name = name
        self.stash = stash or {}
        self.warnings: list[str] = []

    def line(self, tok: Token) -> int:
        return tok.map[0] + 1 if tok.map else 0

    def blocks(self, tokens: list[Token]) -> list:
        stack: list[tuple[Token | None, list]] = [(None, [])]
        warned_depth = False
        i = 0
        while i < len(tokens):
            tok, out = tokens[i], stack[-1][1]
            kind = tok.type
            # markdown-it drops what a container opened at the last allowed level would hold
            if kind in _CONTAINERS and tok.level >= MAX_NESTING - 1 and not warned_depth:
                warned_depth = True
                self.warnings.append(f"{self.name}:{self.line(tok)}: nested more than {MAX_NESTING} levels deep; "
                                     "the innermost content was dropped")
            if kind in ("paragraph_open", "heading_open"):
                line = self.line(tok)
                inlines = self.raw_inlines(tokens[i + 1], line) if i + 1 < len(tokens) else []
                if kind == "heading_open":
                    out.append(Heading(int(tok.tag[1:]), tuple(_resolve(inlines, top=True)), line))
                else:
                    out.extend(paragraph_blocks(inlines, line))
                i += 3
                continue
            if kind in _CONTAINERS:
                stack.append((tok, []))
            elif kind in _CLOSERS and len(stack) > 1:
                opener, children = stack.pop()
                assert opener is not None   # the bottom of the stack is never popped
                parent = stack[-1][1]
                if kind == "list_item_close":
                    parent.append(tuple(children))
                elif kind == "blockquote_close":
                    parent.append(BlockQuote(tuple(children), self.line(opener)))
                else:
                    start = int(opener.attrs.get("start", 1) or 1) if kind == "ordered_list_close" else 1
                    parent.append(ListBlock(kind == "ordered_list_close", tuple(children), start, self.line(opener)))
            elif kind in ("fence", "code_block"):
                language = tok.info.split()[0] if tok.info.strip() else ""
                out.append(CodeBlock(tok.content.removesuffix("\n"), language, self.line(tok)))
            elif kind == "hr":
                out.append(ThematicBreak(self.line(tok)))
            elif kind == "table_open":
                end = next(j for j in range(i, len(tokens)) if tokens[j].type == "table_close")
                out.append(self.table(tokens[i:end + 1]))
                i = end + 1
                continue
            elif kind == "html_block":
                # tags dropped, entities decoded (&amp; is "&" in the book, as in a paragraph)
                text = XML_FORBIDDEN.sub("", html.unescape(_TAG.sub("", tok.content))).strip()
                if text:
                    out.append(Paragraph((Text(text, self.line(tok)),), self.line(tok)))
            i += 1
        while len(stack) > 1:  # unbalanced stream (should not happen): keep what we have
            _, children = stack.pop()
            stack[-1][1].extend(c for c in children if not isinstance(c, tuple))
        return stack[0][1]

    def table(self, tokens: list[Token]) -> Table:
        header: list = []
        rows: list[list] = []
        aligns: list[str] = []
        row: list | None = None
        in_head = False
        line = self.line(tokens[0])
        for i, tok in enumerate(tokens):
            if tok.type == "thead_open":
                in_head = True
            elif tok.type == "thead_close":
                in_head = False
            elif tok.type == "tr_open":
                row = []
            elif tok.type == "tr_close" and row is not None:
                if in_head:
                    header = row
                else:
                    rows.append(row)
                row = None
            elif tok.type in ("th_open", "td_open") and row is not None:
                style = str(tok.attrs.get("style", ""))
                if in_head:
                    aligns.append(style.split(":", 1)[1] if style.startswith("text-align:") else "")
                cell_line = self.line(tokens[i + 1]) or line
                row.append(self.inlines(tokens[i + 1], cell_line) if tokens[i + 1].type == "inline" else ())
        return Table(tuple(header), tuple(tuple(r) for r in rows), tuple(aligns), line)  # type: ignore[arg-type]

    def inlines(self, tok: Token, line: int) -> tuple:
        """An ``inline`` token → inline nodes; soft breaks resolved, adjacent texts merged."""
        return tuple(_resolve(self.raw_inlines(tok, line), top=True))

    def raw_inlines(self, tok: Token, line: int) -> list:
        """An ``inline`` token → inline nodes, top-level soft breaks still as markers."""
        stack: list[tuple[Token | None, list, int]] = [(None, [], line)]
        for child in tok.children or []:
            kind, out = child.type, stack[-1][1]
            if kind == "text":
                out.append(Text(child.content, line))
            elif kind == "code_inline":
                out.append(Code(child.content, line))
            elif kind == "softbreak":
                out.append(_Soft(line))
                line += 1
            elif kind == "hardbreak":
                out.append(LineBreak(line))
                line += 1
            elif kind == "image":
                src = str(child.attrs.get("src", ""))
                out.append(InlineImage(self.stash.get(src, src), _alt_text(child),
                                       str(child.attrs.get("title") or ""), line))
            elif kind in ("em_open", "strong_open", "link_open"):
                # beyond MAX_INLINE_DEPTH the formatting is dropped (its text kept) so that the
                # model stays shallow enough for recursive renderers
                stack.append((child if len(stack) <= MAX_INLINE_DEPTH else None, [], line))
                if len(stack) == MAX_INLINE_DEPTH + 2:
                    self.warnings.append(f"{self.name}:{line}: inline formatting nested more than "
                                         f"{MAX_INLINE_DEPTH} levels deep; the inner formatting was dropped")
            elif kind in ("em_close", "strong_close", "link_close") and len(stack) > 1:
                opener, children, start = stack.pop()
                if opener is None:
                    stack[-1][1].extend(children)
                else:
                    stack[-1][1].append(_container(opener, _resolve(children), start, self.stash))
            elif kind == "html_inline":
                if _BR.match(child.content.strip()):
                    out.append(LineBreak(line))
            elif child.content:
                out.append(Text(child.content, line))
        while len(stack) > 1:
            opener, children, start = stack.pop()
            if opener is None:
                stack[-1][1].extend(children)
            else:
                stack[-1][1].append(_container(opener, _resolve(children), start, self.stash))
        return stack[0][1]


def _container(opener: Token, children: list, line: int, stash: dict[str, str] | None = None):
    if opener.type == "em_open":
        return Emphasis(tuple(children), line)
    if opener.type == "strong_open":
        return Strong(tuple(children), line)
    href = str(opener.attrs.get("href", ""))
    return Link((stash or {}).get(href, href), tuple(children), str(opener.attrs.get("title") or ""), line)


# markdown-it scans link destinations one character at a time in Python: a 3 MB data: URI
# takes seconds. Inline-link data: URIs of the image types markdown-it accepts are swapped
# for short keys before parsing and restored when the model is built.
_DATA_URI = re.compile(r"(?<=\]\()(\s*)(data:image/(?:gif|png|jpeg|webp);[^\s)]{200,})(?=[\s)])", re.I)
_STASH_KEY = "ie-stashed-data-uri-"


def stash_data_uris(text: str) -> tuple[str, dict[str, str]]:
    """Long ``](data:image/…)`` destinations → short keys; returns (text, {key: uri})."""
    if "data:" not in text or _STASH_KEY in text:
        return text, {}
    stash: dict[str, str] = {}

    def swap(m: re.Match) -> str:
        key = f"{_STASH_KEY}{len(stash)}"
        stash[key] = m[2]
        return m[1] + key

    return _DATA_URI.sub(swap, text), stash


def _alt_text(image: Token) -> str:
    parts = []
    for tok in image.children or []:
        if tok.type in ("text", "code_inline"):
            parts.append(tok.content)
        elif tok.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts).strip()


def _cjk_punct(ch: str) -> bool:
    return is_wide(ch) and unicodedata.category(ch)[0] == "P"


def _soft_joiner(before: str, after: str) -> str:
    a, b = before[-1:], after[:1]
    if not a or not b or (is_wide(a) and is_wide(b)) or _cjk_punct(a) or _cjk_punct(b):
        return ""
    return " "


def _resolve(children: list, top: bool = False) -> list:
    """Turn soft-break markers into "" / " " / LineBreak and merge neighbouring Text nodes."""
    if any(isinstance(c, _Soft) for c in children):
        if top and _credit_lines(children):
            children = [LineBreak(c.line) if isinstance(c, _Soft) else c for c in children]
        else:
            resolved = []
            for k, c in enumerate(children):
                if isinstance(c, _Soft):
                    before = plain_text([children[k - 1]]) if k and not isinstance(children[k - 1], _Soft) else ""
                    after = plain_text([children[k + 1]]) if k + 1 < len(children) else ""
                    joiner = _soft_joiner(before, after)
                    if joiner:
                        resolved.append(Text(joiner, c.line))
                else:
                    resolved.append(c)
            children = resolved
    merged: list = []
    for c in children:
        if isinstance(c, Text) and merged and isinstance(merged[-1], Text):
            merged[-1] = Text(merged[-1].text + c.text, merged[-1].line)
        elif not (isinstance(c, Text) and not c.text):
            merged.append(c)
    return merged


def _credit_lines(children: list) -> bool:
    """Each line of the paragraph is a single *emphasised* or **strong** run."""
    lines: list[list] = [[]]
    for c in children:
        if isinstance(c, _Soft):
            lines.append([])
        elif not (isinstance(c, Text) and not c.text.strip()):
            lines[-1].append(c)
    return len(lines) > 1 and all(len(ln) == 1 and isinstance(ln[0], (Emphasis, Strong)) for ln in lines)


# ---------------------------------------------------------------- figures
_GENERIC_ALT = re.compile(
    r"^(?:封面图?|题图|头图|配图|插图|图片?|图示|截图|示意图|二维码|image|img|picture|pic|photo|figure|fig|"
    r"cover|qr ?code|screenshot|banner|logo)[\s_\-.]*\d*$", re.I)
_FILE_ALT = re.compile(r"^[\w\-. ]+\.(?:png|jpe?g|gif|webp|svg|bmp|tiff?|avif)$", re.I)


def caption_for(alt: str, title: str = "") -> str:
    """The caption a figure shows: its title, else its alt text, unless that is only a label.

    Not a caption: empty text, generic labels (封面图, 配图, 二维码, 图片 3, image, cover, …),
    short labels ending in 图 (访谈配图, 章节图: at most 4 characters), and file names.
    """
    for text in (title.strip(), alt.strip()):
        if not text or _GENERIC_ALT.match(text) or _FILE_ALT.match(text):
            continue
        if len(text) <= 4 and text.endswith("图"):
            continue
        return text
    return ""


def paragraph_blocks(raw: list, line: int) -> list:
    """A paragraph's inlines → [Paragraph] or [Figure], or, when an image sits alone on one of
    several lines (``![a](b)`` directly above ``**主持人**：…``) or ends the paragraph, Figures and
    Paragraphs split there."""
    lines: list[list] = [[]]
    for node in raw:
        if isinstance(node, (_Soft, LineBreak)):
            lines.append([])
        lines[-1].append(node)
    # an image that ends the paragraph ("…文字。![截图](a.png)") is a figure, not a 1.5-em icon
    tail = [n for n in lines[-1] if not (isinstance(n, Text) and not n.text.strip())
            and not isinstance(n, (_Soft, LineBreak))]
    if len(tail) > 1 and isinstance(tail[-1], InlineImage):
        cut = lines[-1].index(tail[-1])
        lines[-1:] = [lines[-1][:cut], [tail[-1]]]
    image_line = [as_figure([n for n in ln if not isinstance(n, (_Soft, LineBreak))], line) for ln in lines]
    if len(lines) == 1 or not any(image_line):
        inlines = tuple(_resolve(raw, top=True))
        return [as_figure(inlines, line) or Paragraph(inlines, line)]
    out: list = []
    pending: list = []
    for ln, figure in zip(lines, image_line):
        start = next((n.line for n in ln if not isinstance(n, (_Soft, LineBreak))), line)
        if figure is not None:
            if pending:
                out.append(Paragraph(tuple(_resolve(pending, top=True)), pending[0].line))
            out.append(dataclasses.replace(figure, line=start))
            pending = []
        else:
            content = ln if pending else [n for n in ln if not isinstance(n, (_Soft, LineBreak))]
            pending += content
    if pending:
        out.append(Paragraph(tuple(_resolve(pending, top=True)), pending[0].line))
    return out


def as_figure(inlines, line: int) -> Figure | None:
    """A paragraph that holds only one image (spaces aside) → Figure."""
    content = [c for c in inlines if not (isinstance(c, Text) and not c.text.strip())]
    if len(content) != 1 or not isinstance(content[0], InlineImage):
        return None
    img = content[0]
    return Figure(img.src, img.alt, caption_for(img.alt, img.title), img.title, line)


# ---------------------------------------------------------------- blocks → title, lead, sections
_NUMBERED = re.compile(r"^(\d{1,3})\s*(?:[.．](?!\d)|[、:：)）|｜]|\s)\s*(?![年月日号%％个岁万亿])(\S.*)$")
_CN_NUMBERED = re.compile(r"^第\s*([一二三四五六七八九十百零〇两\d]+)\s*(?:部分|章|节|篇|幕|问|回|讲|季|part)"
                          r"\s*[:：、.．|｜]?\s*(.*)$", re.I)
_CN_LIST = re.compile(r"^([一二三四五六七八九十]{1,3})、\s*(\S.*)$")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _cn_number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


def split_number(title: str) -> tuple[int | None, str]:
    """``3 标题`` / ``3. 标题`` / ``01｜标题`` / ``第三部分：标题`` / ``三、标题`` → (3, "标题")."""
    title = title.strip()
    m = _NUMBERED.match(title)
    if m:
        return int(m[1]), m[2].strip()
    m = _CN_NUMBERED.match(title) or _CN_LIST.match(title)
    if m:
        number = _cn_number(m[1])
        if number is not None:
            return number, m[2].strip() or title
    return None, title


def assemble(blocks: list) -> tuple[str, list, list[Section]]:
    """Top-level blocks → (title from the first H1, lead blocks, sections split at ## / later #)."""
    title = ""
    lead: list = []
    sections: list[Section] = []
    current: tuple[Heading, list] | None = None
    for block in blocks:
        if isinstance(block, Heading) and block.level <= 2:
            if block.level == 1 and not title and current is None:
                title = plain_text(block.children).strip()
                continue
            if current is not None:
                sections.append(_section(len(sections) + 1, *current))
            current = (block, [])
        elif current is not None:
            current[1].append(block)
        else:
            lead.append(block)
    if current is not None:
        sections.append(_section(len(sections) + 1, *current))
    return title, lead, sections


def _section(index: int, heading: Heading, blocks: list) -> Section:
    number, title = split_number(plain_text(heading.children))
    return Section(f"sec-{index}", title, tuple(blocks), number, heading.line)
