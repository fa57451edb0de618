"""WeasyPrint 70's line justification and block splitting → what Chinese print needs.

WeasyPrint 70 justifies a line only by widening U+0020 (``layout.inline.justify_line``), so a
line of Chinese with no space stays ragged and a line with one Latin phrase puts all its slack
into that phrase's spaces. This wrapper replaces that one step: a line holding CJK text gets its
slack spread evenly over every CJK character, CJK mark and space (Latin letters, digits, dashes
and ellipses keep their natural spacing), as browsers do for ``text-justify: inter-character``.
The slack is Pango letter-spacing on those characters, so nothing is inserted into the text: what
a reader copies or ``pdftotext`` extracts is the source text. The same hook sets a full-width
mark that an opening mark follows ("”“", "：“") half-width with the fonts' ``halt`` feature, in
layout and drawing alike (clreq's punctuation squeezing). And a block with a side rule (a block
quote) that a page break splits ends with its last line: WeasyPrint stretches every split block
to the foot of the page (css-break-3 box splitting), which ran the rule on into blank space; here
a split block ends with its content (our books draw no backgrounds that would show the difference).
A figure that fits on its page neither whole nor drawn smaller waits for the next page while the
blocks after it fill this one (``defer_figure``: a page float, as a book designer places one),
instead of leaving the page half empty before it.

Pango puts half of a character's letter-spacing before its glyph and half after, and drops the
outer half at both ends of a layout (WeasyPrint lays out each text box as one line), so a box
whose characters carry weights w₀…wₙ grows by s·(Σw − w₀/2 − wₙ/2) for a spacing of s.

The patch is installed only on the WeasyPrint version it was written against
(``compat.WEASYPRINT_PINNED``); ``tests/test_typeset.py`` fails when WeasyPrint's patched functions change, so an upgrade is
checked by hand instead of silently mis-setting text. On any other version WeasyPrint's own
justification stays in place.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import threading

from . import linebreak
from .compat import unpinned

log = logging.getLogger("interview_export.pdf")

#: sha256 of the source of the WeasyPrint functions this module replaces or relies on, at
#: compat.WEASYPRINT_PINNED
SOURCE_DIGESTS = {
    "text_align": "e953d41b87ccfc30405f83f6cc3c73918ef4638662794db4f834b1d788d6ed67",
    "justify_line": "f83b21ff8793ba6b6dfc5fe8e10e4ab6cd6e02b17de02da97200902166148a81",
    "add_word_spacing": "879516e71f1b80fa1833aee877e1a34c851248c5fd871d6c855c58f07358d418",
    "Layout.set_text": "fe23ca9937dbf5205bda422f9c01103f301ef2c511228842632ea86e853274f7",
    "Layout.reactivate": "0b89ee097104b71376c179f48a98858708b07169dc0212c393263a1a831607c9",
    "block_container_layout": "65842ca53a8391ebad539e7ff642eec2f429e981df4396590c37c7b0a0e524dc",
    "split_text_box": "8c564329599ef23fac6cc8c403768e9e51638226d87a8b2de69c49c9c5f408c8",
    "trailing_whitespace_size": "cd005b8042a652f9072d7190546439113280315f9a5b865b432c6e015b333b1d",
    "Stream.show_text": "3e008af86f62f42c382b8d75f85a92022008f8254db58a9d8f58f137ee7bcc40",
    "draw_first_line": "1bb8eae6d88e71b17096a034656f3be17da8f1f513c78536c1c38d971927638b",   # writes the TJ strings show_text reads
    "split_first_line": "39ad1016863ca34de0bea4c9fcffb46da7e27813c87dd82b7011bfa19fe5504f",  # a soft-hyphen break: text "…\u00ad‐"
    # what a layout made and deactivated holds (drawing_layout makes one without Pango)
    "Layout.__init__": "c17d3975d808536ebc7993a0e4b1af9c12147700775423709b4feb99a87c1ae2",
    "Layout.setup": "fb227a55094f41d42fbd57f180d8b7a9a1e741969ec8ddb3fd5cd80920257442",
    "Layout.deactivate": "bfec3ec8406e1c82a91f9570103eb5ecbc5a20c1339ff26bb0f4eafb03189f0b",
    "create_layout": "6587192cc0ab3ffad7bb1902654c7f26dd28910f760804bcf67cbf7b986660b0",
}
#: in a line holding CJK text a Latin space widens at most this much (the rest goes between the
#: Chinese characters), so that "Claude Code" never opens a hole
MAX_SPACE_STRETCH_EM = 0.12
#: a line that would need more than this between each two characters is left ragged
MAX_CHAR_STRETCH_EM = 0.3
#: a capitalised word (a name: Anthropic, Transformer) at a line end breaks at its hyphenation
#: point only when moving it whole to the next line would spread more than this between the
#: Chinese characters of the line
NAME_BREAK_EM = 0.2

#: a figure that does not fit below the text on its page may be drawn down to this share of its
#: size to stay there; a wide one (a screenshot) no narrower than this share of the text width
#: (print.css: figure.wide img { min-width: 55% })
MIN_FIGURE_SCALE = 0.6
WIDE_MIN_WIDTH = 0.55
#: a figure that fits on its page neither whole nor drawn smaller, with at least this share of
#: the text block left empty below the text, waits for the next page: the text after it fills
#: this one first (``defer_figure``); a smaller gap before a figure is left as it is
DEFER_MIN_ROOM = 0.25
#: …past at most this many sibling blocks (turns, paragraphs) before it gives up
DEFER_MAX_BLOCKS = 8
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}

NONE, CHAR, SPACE = 0, 1, 2
_SPACES = " \u00a0\u2005"      # U+2005: the Chinese–Latin gap (render.py), capped like a space
# Characters that take a share of the slack: CJK ideographs, kana, hangul, CJK and full-width
# punctuation, the curly quotes Chinese text uses and U+3000.
_STRETCH = re.compile("[\u2018-\u201d\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf"
                      "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
                      "\U00020000-\U0002ffff]")
_CJK = re.compile("[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
                  "\uff00-\uffef\U00020000-\U0002ffff]")
_ZERO_WIDTH = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_NO_ZERO_WIDTH = str.maketrans("", "", _ZERO_WIDTH)
_GAPS = "\u2005"                        # render.py's Chinese–Latin gap, which may end a line

# Punctuation squeezing (linebreak.squeezed: which mark of an adjacent pair), with the fonts'
# OpenType `halt` (kept in our subsets), in layout and drawing alike; an opening mark that starts
# a line (not a paragraph) loses its blank half too (``split_text_box`` below).
_OPENING = linebreak.OPENING
_SQUEEZABLE = linebreak.SQUEEZABLE

_installed = False
_originals: dict[str, object] = {}     # WeasyPrint's own functions, once replaced
_lock = threading.Lock()
_line_start = threading.local()       # .on: the text being laid out starts a line (not a paragraph)


@contextlib.contextmanager
def line_start(on: bool):
    """While active, layouts whose text starts with an opening mark set it half-width."""
    before = getattr(_line_start, "on", False)
    _line_start.on = on
    try:
        yield
    finally:
        _line_start.on = before


def classes(text: str, every_char: bool = False) -> list[int]:
    """Per character: CHAR (takes slack), SPACE (takes slack up to a cap) or NONE (Latin letters,
    digits, — … and zero-width characters). `every_char`: a line with neither CJK nor spaces
    (a long URL) spreads its slack over all its visible characters."""
    if every_char:
        return [NONE if ch in _ZERO_WIDTH else CHAR for ch in text]
    return [SPACE if ch in _SPACES else CHAR if _STRETCH.match(ch) else NONE for ch in text]


def growth(cls: list[int], kind: int) -> float:
    """How many spacings of `kind` a Pango line of characters of classes `cls` grows by (Pango
    puts half of each character's letter-spacing on either side and drops the two outer halves)."""
    if not cls:
        return 0.0
    return sum(c == kind for c in cls) - (cls[0] == kind) / 2 - (cls[-1] == kind) / 2


def spacing_runs(text: str, cls: list[int], units: dict[int, int]) -> list[tuple[int, int, int]]:
    """(start, end, spacing): each run of characters whose class takes the same letter-spacing
    (`units` by class; NONE takes none), as UTF-8 byte offsets in `text`. One Pango attribute per
    run gives the attribute list one per character gave: Pango merges adjoining equal attributes."""
    runs: list[tuple[int, int, int]] = []
    start = 0
    for value, chars in itertools.groupby(zip(text, cls), key=lambda pair: units.get(pair[1])):
        end = start + len("".join(ch for ch, _ in chars).encode())
        if value is not None:
            runs.append((start, end, value))
        start = end
    return runs


def spacings(extra: float, chars: float, spaces: float, em: float) -> tuple[float, float] | None:
    """(per CJK character, per space) so that the line grows by `extra`; None: leave it ragged."""
    if extra <= 0 or chars + spaces <= 0:
        return None
    even = extra / (chars + spaces)
    cap = MAX_SPACE_STRETCH_EM * em
    if even <= cap or chars <= 0:
        per_char, per_space = even, even
    else:
        per_char, per_space = (extra - cap * spaces) / chars, cap
    if chars and per_char > MAX_CHAR_STRETCH_EM * em:
        return None
    return per_char, per_space


def check_version() -> str | None:
    """None when the installed WeasyPrint is the one this module was written for, else why not."""
    def current() -> dict:
        from weasyprint.draw import text as draw_text
        from weasyprint.layout import block, inline
        from weasyprint.pdf.stream import Stream
        from weasyprint.text.line_break import Layout, create_layout, split_first_line

        now = {"block_container_layout": block.block_container_layout,
               "text_align": inline.text_align, "justify_line": inline.justify_line,
               "add_word_spacing": inline.add_word_spacing, "Layout.set_text": Layout.set_text,
               "Layout.reactivate": Layout.reactivate, "split_text_box": inline.split_text_box,
               "Stream.show_text": Stream.show_text, "draw_first_line": draw_text.draw_first_line,
               "trailing_whitespace_size": inline.trailing_whitespace_size,
               "split_first_line": split_first_line, "Layout.__init__": Layout.__init__,
               "Layout.setup": Layout.setup, "Layout.deactivate": Layout.deactivate,
               "create_layout": create_layout}
        return {name: _originals.get(name, obj) for name, obj in now.items()}

    return unpinned(SOURCE_DIGESTS, current)


# In a TJ string WeasyPrint writes (``draw/text.py``): <glyph ids in hex> and numbers, the pen
# moved back by that many thousandths of an em. Moved back more than 0.15 em, a glyph's box
# overlaps the next one (poppler cuts words at 0.2 em of overlap).
_TJ_TOKEN = re.compile(r"<([0-9a-fA-F]*)>|(-?[\d.]+(?:e[-+]?\d+)?)")
_OVERLAP = re.compile(r">(?:1[5-9]\d|[2-9]\d\d)(?:\.\d+)?<")


def _chunks(hexes: str, size: int) -> list[str]:
    return [hexes[i:i + size] for i in range(0, len(hexes), size)]


def overlap_runs(string: str, width: int = 4) -> list[tuple[str, str]]:
    """A TJ string cut into ("plain", …) and ("overlap", …) pieces: an overlap piece is a run of
    glyphs each drawn over the one before it (pen moved back 150+ thousandths of an em)."""
    tokens: list[tuple[str, str]] = []
    for m in _TJ_TOKEN.finditer(string):
        if m[1] is not None:
            tokens += [("g", g) for g in _chunks(m[1], width)]
        elif tokens and tokens[-1][0] == "n":      # "500<>0.0": one move of their sum
            tokens[-1] = ("n", f"{float(tokens[-1][1]) + float(m[2]):g}")
        else:
            tokens.append(("n", m[2]))
    grouped = [False] * len(tokens)
    for i in range(len(tokens) - 2):
        (a, _), (b, value), (c, _) = tokens[i:i + 3]
        if a == "g" and b == "n" and c == "g" and float(value) >= 150:
            grouped[i] = grouped[i + 1] = grouped[i + 2] = True
    out: list[tuple[str, list]] = []
    for token, in_group in zip(tokens, grouped):
        kind = "overlap" if in_group else "plain"
        if not out or out[-1][0] != kind:
            out.append((kind, []))
        out[-1][1].append(token)
    return [(kind, _tj(toks)) for kind, toks in out]


def _tj(tokens: list[tuple[str, str]]) -> str:
    """Tokens back into a TJ string: consecutive glyphs in one <…>, numbers apart."""
    out: list[str] = []
    for kind, value in tokens:
        if kind == "g" and out and out[-1].endswith(">"):
            out[-1] = out[-1][:-1] + value + ">"
        else:
            out.append(f"<{value}>" if kind == "g" else value)
    return " ".join(out)


def glyph_count(string: str, width: int = 4) -> int:
    """How many glyphs a TJ string draws."""
    return sum(len(m[1]) // width for m in _TJ_TOKEN.finditer(string) if m[1] is not None)


def cut_at_glyph(string: str, index: int, width: int = 4) -> tuple[str, str]:
    """A TJ string cut before its glyph number `index` (from 0): what comes before it (its
    positioning numbers included) and that glyph with everything after it."""
    tokens: list[tuple[str, str]] = []
    for m in _TJ_TOKEN.finditer(string):
        tokens += [("g", g) for g in _chunks(m[1], width)] if m[1] is not None else [("n", m[2])]
    glyphs = [i for i, (kind, _) in enumerate(tokens) if kind == "g"]
    at = glyphs[index] if index < len(glyphs) else len(tokens)
    return _tj(tokens[:at]), _tj(tokens[at:])


_BROKEN_NAME = re.compile(f"(?<![A-Za-z{linebreak.SHY}])[A-Z][a-z{linebreak.SHY}]*{linebreak.SHY}$")


def broken_name(line: str, hyphen: str) -> int | None:
    """Where the capitalised word that a line broke at one of its soft hyphens starts (the line's
    text as WeasyPrint lays it out: "…Trans\u00ad‐"), or None when it broke elsewhere."""
    if not line.endswith(linebreak.SHY + hyphen):
        return None
    found = _BROKEN_NAME.search(line[:-len(hyphen)])
    return found.start() if found else None


def looseness(text: str, slack: float, em: float) -> float:
    """The widest spacing (in em) justify_line would give a line of `text` that is `slack` short
    of its measure; inf: it would leave the line ragged."""
    if slack <= 0:
        return 0.0
    cls = classes(text)
    found = spacings(slack, growth(cls, CHAR), growth(cls, SPACE), em)
    return float("inf") if found is None else max(found) / em


def drawing_layout(context, box):
    """A layout of a text box's text for WeasyPrint to draw it with (``draw_text`` sets it up
    again: ``reactivate``), as ``create_layout(…, max_width=None, justification_spacing=0)`` and
    ``deactivate()`` leave it — made without setting up a Pango layout only to free it again.
    The text is the box's own unless ``Layout.set_text`` would change it (a line break, a lone
    space with word-spacing); a decorated box needs the font's metrics from Pango."""
    from weasyprint.text.line_break import Layout, create_layout

    text, style = box.text, box.style
    if "\n" in text or text == " " or style["text_decoration_line"] != "none":
        layout = create_layout(text, style, context, max_width=None, justification_spacing=0)
        layout.deactivate()
        return layout
    layout = Layout.__new__(Layout)
    layout.justification_spacing, layout.max_width, layout.text = 0, None, text
    layout.first_line_direction = 0
    layout.ascent = layout.underline_position = layout.strikethrough_position = None
    return layout


def actual_text(text: str) -> bytes:
    """A marked-content property list giving `text` as the /ActualText (UTF-16BE with a BOM)."""
    return b"<</ActualText <feff" + text.encode("utf-16-be").hex().encode() + b">>>"


def _current_font(stream):
    """The WeasyPrint Font object of the stream's current font, or None."""
    current = getattr(stream, "_current_font", None)
    if not current:
        return None
    fonts = getattr(stream, "_fonts", {})
    return next((f for f in fonts.values() if f.hash == current[0]), None)


def install() -> bool:
    """Replace WeasyPrint's justification step (once per process); False when not supported."""
    global _installed
    with _lock:
        if _installed:
            return True
        problem = check_version()
        if problem:
            log.debug("Chinese justification off: %s", problem)
            return False
        _patch()
        _installed = True
        return True


def _patch() -> None:
    from math import inf

    from weasyprint.css.properties import Dimension
    from weasyprint.draw import text as draw_text
    from weasyprint.formatting_structure import boxes
    from weasyprint.layout import block, inline
    from weasyprint.pdf.stream import Stream
    from weasyprint.text.ffi import TO_UNITS, ffi, pango
    from weasyprint.text.fonts import font_features
    from weasyprint.text.line_break import Layout, create_layout, first_line_metrics, line_size

    stock_justify = inline.justify_line
    stock_set_text = Layout.set_text

    def text_boxes(box):
        if isinstance(box, boxes.TextBox):
            yield box
        elif isinstance(box, (boxes.LineBox, boxes.InlineBox)):
            for child in box.children:
                if child.is_in_normal_flow():
                    yield from text_boxes(child)

    def regained(context, box) -> float:
        """A mark squeezed for the opening mark after it that the line break then moved to the
        next line is drawn full width again (the box's text no longer holds that opening mark):
        the width it takes back at the end of the line."""
        text = box.text.rstrip(_ZERO_WIDTH)
        if not text or text[-1] not in _SQUEEZABLE:
            return 0.0
        with line_start(getattr(box.pango_layout, "cjk_line_start", False)):
            probe = create_layout(box.text, box.style, context, None, 0)   # keeps its line alive
        first, _ = probe.get_first_line()
        width, _ = line_size(first, box.style)
        return min(max(0.0, width - box.width), 0.6 * box.style["font_size"])

    def justify_line(context, line, extra_width):
        texts = list(text_boxes(line))
        has_cjk = any(_CJK.search(b.text) for b in texts)
        every_char = not has_cjk and not any(c in b.text for b in texts for c in _SPACES)
        if not has_cjk and not every_char:
            return stock_justify(context, line, extra_width)
        fixed = {id(texts[-1]): regained(context, texts[-1])}
        extra_width -= fixed[id(texts[-1])]
        plan = {id(b): classes(b.text, every_char) for b in texts}
        chars = sum(growth(c, CHAR) for c in plan.values())
        spaces = sum(growth(c, SPACE) for c in plan.values())
        found = spacings(extra_width, chars, spaces, line.style["font_size"])
        if found is None and fixed[id(texts[-1])]:
            found = (0.0, 0.0)
        if found is not None:
            spread(context, line, found, plan, 0.0, fixed)
        return None

    def spread(context, box, spacing, plan, x_advance, fixed):
        """Like WeasyPrint's add_word_spacing, with per-character spacing (Pango letter-spacing)
        and a fixed growth for some boxes (`fixed`: a line-end mark drawn full width again)."""
        if isinstance(box, boxes.TextBox):
            box.position_x += x_advance
            cls = plan.get(id(box))
            extra = (spacing[0] * growth(cls, CHAR) + spacing[1] * growth(cls, SPACE)) if cls else 0.0
            extra += fixed.get(id(box), 0.0)
            if extra:
                layout = drawing_layout(context, box)
                layout.cjk_spacing = ((0.0, *spacing), cls)
                layout.cjk_line_start = getattr(box.pango_layout, "cjk_line_start", False)
                box.pango_layout = layout
                box.width += extra
                x_advance += extra
        elif isinstance(box, (boxes.LineBox, boxes.InlineBox)):
            box.position_x += x_advance
            before = x_advance
            children = box.children[::-1] if box.style["direction"] == "rtl" else box.children
            for child in children:
                if child.is_in_normal_flow():
                    x_advance = spread(context, child, spacing, plan, x_advance, fixed)
            box.width += x_advance - before
        else:   # an atomic inline (image, inline-block) moves with the text
            box.translate(x_advance, 0)
        return x_advance

    def halt_features(style) -> bytes:
        """The element's own font features (what WeasyPrint set for the whole text) plus halt."""
        features = font_features(
            style["font_kerning"], style["font_variant_ligatures"], style["font_variant_position"],
            style["font_variant_caps"], style["font_variant_numeric"],
            style["font_variant_alternates"], style["font_variant_east_asian"],
            style["font_feature_settings"])
        features["halt"] = 1
        return ",".join(f"{key} {value}" for key, value in features.items()).encode()

    def set_text(self, text, justify=False):
        stock_set_text(self, text, justify)
        squeeze = linebreak.squeezed(self.text)
        if self.text and self.text[0] in _OPENING:
            if getattr(_line_start, "on", False):
                self.cjk_line_start = True   # kept when WeasyPrint re-creates the layout to draw it
            if getattr(self, "cjk_line_start", False) and squeeze[:1] != [0]:
                squeeze.insert(0, 0)
        plan = getattr(self, "cjk_spacing", None)
        spacing = bool(justify and plan and self.text == text)
        if not (squeeze or spacing):
            return
        attr_list = pango.pango_layout_get_attributes(self.layout)
        if attr_list == ffi.NULL:
            attr_list = ffi.gc(pango.pango_attr_list_new(), pango.pango_attr_list_unref)
        if squeeze:   # in layout and in drawing alike, so that the widths agree
            features = halt_features(self.style)
            for i in squeeze:
                start = len(self.text[:i].encode())
                attr = pango.pango_attr_font_features_new(features)
                attr.start_index, attr.end_index = start, start + len(self.text[i].encode())
                pango.pango_attr_list_change(attr_list, attr)
        if spacing:
            assert plan is not None   # spacing is only set with a plan
            amounts, cls = plan
            base = self.style["letter_spacing"]
            base = 0 if base == "normal" else base
            units = {kind: int((base + amounts[kind]) * TO_UNITS) for kind in (CHAR, SPACE)}
            for start, end, value in spacing_runs(text, cls, units):
                attr = pango.pango_attr_letter_spacing_new(value)
                attr.start_index, attr.end_index = start, end
                pango.pango_attr_list_change(attr_list, attr)
        pango.pango_layout_set_attributes(self.layout, attr_list)

    stock_split = inline.split_text_box

    def split_text_box(context, box, available_width, skip, is_line_start=True):
        """An opening mark that starts a line (the rest of a text box the line above broke)
        is set half-width, like one before another opening mark (clreq 3.1.6.3); a paragraph's
        first line keeps its full-width mark."""
        with line_start(bool(skip) and is_line_start):
            return stock_split(context, box, available_width, skip, is_line_start)

    def whole_names(text, style, context, max_width, justification_spacing, is_line_start=True,
                    minimum=False):
        """A line that broke inside a capitalised word (a name: "An‐/thropic") is tried again
        with no hyphenation points; that line is kept unless it needs more than NAME_BREAK_EM
        between its characters (and more than the broken line), or overflows."""
        result = split_first_line(text, style, context, max_width, justification_spacing,
                                  is_line_start, minimum)
        if minimum or not max_width or broken_name(result[0].text, style["hyphenate_character"]) is None:
            return result
        kept = [i for i, ch in enumerate(text) if ch != linebreak.SHY]
        whole = "".join(text[i] for i in kept)
        other = split_first_line(whole, style, context, max_width, justification_spacing,
                                 is_line_start, minimum)
        layout, _, resume, width = other[:4]
        if resume is None or width > max_width:
            return result
        em = style["font_size"]
        broken = looseness(result[0].text, max_width - result[3], em)
        if looseness(layout.text, max_width - width, em) > max(broken, NAME_BREAK_EM):
            return result
        # the line's end and the next line's start, as byte offsets in `text` (with its SHYs)
        end, at = (len(whole.encode()[:offset].decode()) for offset in (other[1], resume))
        length = len(text[:kept[end - 1] + 1].encode()) if end else 0
        return (layout, length, len(text[:kept[at]].encode()) if at < len(kept) else None, *other[3:])

    stock_show_text = Stream.show_text

    def show_text(self, string):
        """Marks drawn closer than their boxes (a squeezed mark keeps its full-width box in the
        PDF font, so it overlaps the next glyph by half an em) go into a marked-content span
        with their text as /ActualText: text extraction (poppler, Acrobat) then reads the pair
        as one piece of text over their joint width instead of cutting the line there."""
        if getattr(self, "cjk_hyphen_at", None) is not None:
            string = show_hyphen(self, string, _current_font(self))
            if string is None:
                return None
        if not _OVERLAP.search(string):
            return stock_show_text(self, string)
        font = _current_font(self)
        if font is None:
            return stock_show_text(self, string)
        for kind, part in overlap_runs(string, 2 if font.bitmap else 4):
            if kind == "plain":
                stock_show_text(self, part)
                continue
            ids = [int(g, 16) for g in re.findall(r"<([0-9a-f]+)>", part) for g in _chunks(g, 2 if font.bitmap else 4)]
            text = "".join(font.to_unicode.get(g, "") for g in ids)
            text = text.translate(_NO_ZERO_WIDTH)
            if not text:
                stock_show_text(self, part)
                continue
            self.begin_marked_content("Span", actual_text(text))
            stock_show_text(self, part)
            self.end_marked_content()

    stock_draw_first_line = draw_text.draw_first_line

    def drawn_glyphs(textbox) -> int:
        """How many glyphs draw_first_line writes for the box's line (Pango's empty glyphs,
        such as the one for a soft hyphen, it writes as a move only)."""
        first, _ = textbox.pango_layout.get_first_line()
        count, run = 0, first.runs[0]
        while run != ffi.NULL:
            glyphs = run.data.glyphs
            count += sum(glyphs.glyphs[i].glyph != pango.PANGO_GLYPH_EMPTY for i in range(glyphs.num_glyphs))
            run = run.next
        return count

    def draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix):
        """A line that broke at a soft hyphen (linebreak's hyphenation points) ends in the
        hyphen WeasyPrint adds to draw it (the box's text is "…An\u00ad‐"). The source has no
        hyphen there, so show_text draws that last glyph inside a span with an empty
        /ActualText: extraction (poppler) gives "An⏎thropic", as the source reads, and the
        hyphen is still drawn."""
        hyphen = linebreak.SHY + textbox.style["hyphenate_character"]
        if (text_overflow == "ellipsis" or block_ellipsis != "none" or textbox.style["direction"] != "ltr"
                or not textbox.pango_layout.text.endswith(hyphen)):
            return stock_draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix)
        stream.cjk_hyphen_at = drawn_glyphs(textbox) - 1
        try:
            return stock_draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix)
        finally:
            stream.cjk_hyphen_at = None

    def show_hyphen(self, string, font) -> str | None:
        """Draws the pending hyphen (the glyph ``cjk_hyphen_at`` glyphs on) in an empty
        /ActualText span and what comes before it, then None; a string without it is returned."""
        at = getattr(self, "cjk_hyphen_at", None)
        if at is None or font is None:
            return string
        width = 2 if font.bitmap else 4
        count = glyph_count(string, width)
        if at >= count:
            self.cjk_hyphen_at = at - count
            return string
        self.cjk_hyphen_at = None
        head, tail = cut_at_glyph(string, at, width)
        if head:
            show_text(self, head)
        self.begin_marked_content("Span", actual_text(""))
        stock_show_text(self, tail)
        self.end_marked_content()
        return None

    stock_trailing = inline.trailing_whitespace_size

    def trailing_whitespace_size(context, box):
        """WeasyPrint lets only trailing U+0020 hang past the line's end; Pango lets any space
        hang, so a line that broke after render.py's Chinese–Latin gap (U+2005) measured its
        gap in and seemed to overflow, and WeasyPrint went back into the inline box before it
        ("…训练模/型。”这番言论印证了有关 OpenAI": a line 16 em short). The gap hangs too."""
        size = stock_trailing(context, box)
        last = box
        while isinstance(last, (boxes.InlineBox, boxes.LineBox)) and last.children:
            last = last.children[-1]
        if size or not isinstance(last, boxes.TextBox):
            return size
        text = last.text.rstrip(_ZERO_WIDTH)
        gap = text[len(text.rstrip(_GAPS)):]
        if not gap or last.style["white_space"] not in ("normal", "nowrap", "pre-line"):
            return 0
        layout = create_layout(gap, last.style, context, None, 0)   # keeps its line alive
        first, _ = layout.get_first_line()
        return line_size(first, last.style)[0]

    stock_first_line = inline.split_first_line

    def split_first_line(text, style, context, max_width, justification_spacing,
                         is_line_start=True, minimum=False):
        """WeasyPrint has Pango break lines without drawing hyphens (it adds its own
        hyphenate-character), so Pango may end a line at a soft hyphen with less room left than
        the hyphen takes. WeasyPrint then tries only the line's earlier soft hyphens and takes
        the first one whatever its width: "但 Trans-" alone on a line, 20 em short (seed, A5),
        where "…尽管 Trans-" overflowed by the hyphen. Here such a line breaks where Pango breaks when
        it keeps room for the hyphen (at a soft hyphen, a gap or between Chinese characters)."""
        result = stock_first_line(text, style, context, max_width, justification_spacing,
                                  is_line_start, minimum)
        resume = result[2]
        if resume is None or max_width is None or linebreak.SHY not in text:
            return result
        encoded = text.encode()
        if not encoded[:resume].decode().endswith(linebreak.SHY):
            return result
        layout = create_layout(text, style, context, max_width, justification_spacing)
        _, pango_break = layout.get_first_line()
        if pango_break is None or pango_break <= resume:
            return result                     # the soft hyphen is Pango's own break: it fitted
        hyphen = style["hyphenate_character"]
        probe = create_layout(hyphen, style, context, None, 0)
        narrower = max_width - line_size(probe.get_first_line()[0], style)[0]
        layout = create_layout(text, style, context, narrower, justification_spacing)
        first, index = layout.get_first_line()
        if index is None or index <= resume:
            return result
        space_collapse = style["white_space"] in ("normal", "nowrap", "pre-line")
        line = encoded[:index].decode()
        if not line.endswith(linebreak.SHY):
            return first_line_metrics(first, text, layout, index, space_collapse, style)
        layout = create_layout(line + hyphen, style, context, max_width, justification_spacing)
        first, rest = layout.get_first_line()
        if rest is not None or line_size(first, style)[0] > max_width:
            return result
        return first_line_metrics(first, text, layout, index, space_collapse, style, True, hyphen)

    stock_block = block.block_container_layout

    def rewind(box, args, margins, top) -> None:
        """Before a box is laid out again: its parent's adjoining margins (``args[2]``, which a
        layout extends in place) and its own position as they were given."""
        args[2][:] = margins
        box.position_y = top

    def fit_figure(context, box, bottom_space, skip_stack, page_is_empty, args, kwargs):
        """A figure that does not fit below the text on this page, drawn smaller so that it
        does (down to MIN_FIGURE_SCALE, and a wide one, a screenshot, no narrower than
        WIDE_MIN_WIDTH of the text): the page is not left half empty before it. None: it
        does not fit even so (it goes to the next page at its size, as before)."""
        margins, top = list(args[2]), box.position_y

        def run(space):
            rewind(box, args, margins, top)
            return stock_block(context, box, space, skip_stack, page_is_empty, *args, **kwargs)
        full = run(-inf)[0]
        images = [b for b in full.descendants() if isinstance(b, boxes.ReplacedBox)] if full else []
        if len(images) != 1 or not images[0].height:
            return None
        image = images[0]
        overflow = full.content_box_y() + full.height - (context.page_bottom - bottom_space)
        height = image.height - overflow - 1.0
        scale = height / image.height
        wide = "wide" in (box.element.get("class") or "").split() if box.element is not None else False
        if scale < MIN_FIGURE_SCALE or (wide and image.width * scale < WIDE_MIN_WIDTH * full.width):
            return None
        style = image.style
        before = style["max_height"]
        style["max_height"] = Dimension(height, "px")
        try:
            result = run(bottom_space)
        finally:
            style["max_height"] = before
        return result if result[0] is not None and result[1] is None else None

    def is_figure(child) -> bool:
        return (child.element_tag == "figure" and child.element is not None
                and "figure" in (child.element.get("class") or "").split())

    def announces(child) -> bool:
        """The block ends with a colon: it announces what follows ("如下图：")."""
        text = "".join(child.element.itertext()).strip() if child.element is not None else ""
        return text.endswith(("：", ":"))

    def break_index(result, start: int) -> int | None:
        """Where this page's part of the box stops: the child index the next page resumes at
        (its value says whether that child is split), or None when the box ended."""
        if result[0] is None:
            return start
        return None if result[1] is None else next(iter(result[1]))

    def defer_figure(context, box, bottom_space, skip_stack, page_is_empty, args, kwargs, result):
        """A figure that goes to the next page although the page has room left, moved after the
        blocks that follow it (one at a time) until one of them fills the page, so that the page
        is not left half empty before it: it then opens the next page, or follows the block the
        page break splits. The text keeps its order; only the figure (with its caption) moves.
        None when that does not help (the box's children are then as they were)."""
        children = box.children
        start = next(iter(skip_stack)) if skip_stack else 0
        at = break_index(result, start)
        if at is None:
            return None
        index = at
        while index < len(children) and children[index].element_tag in _HEADINGS:
            index += 1                     # a heading pushed along with the figure (break-after: avoid)
        if (index >= len(children) or not is_figure(children[index])
                or (index > 0 and announces(children[index - 1]))):
            return None
        new_box = result[0]
        reached = new_box.position_y + new_box.margin_height() if new_box is not None else box.position_y
        top_of_page = getattr(context, "page_top", None)
        room = context.page_bottom - bottom_space - reached
        if top_of_page is None or room < DEFER_MIN_ROOM * (context.page_bottom - top_of_page):
            return None
        margins, top = list(args[2]), box.position_y
        figure, order = children[index], list(children)
        placed = None                      # the last order whose blocks before the figure all fit

        def run(children_order):
            box.children = children_order
            rewind(box, args, margins, top)
            return stock_block(context, box, bottom_space, skip_stack, page_is_empty, *args, **kwargs)
        for moved in range(1, DEFER_MAX_BLOCKS + 1):
            after = index + moved          # the figure's place, after the block now before it
            if after >= len(order) or order[after].element_tag in _HEADINGS or is_figure(order[after]):
                break
            rest = [c for c in order if c is not figure]
            tried = run(rest[:after] + [figure] + rest[after:])
            stop = break_index(tried, start)
            if tried[0] is not None and (stop is None or stop > after
                                         or (stop == after - 1 and tried[1][stop] is not None)):
                return tried               # the block before the figure is split, or the figure fits
            if tried[0] is None or stop != after:
                break                      # that block did not start on this page
            placed = list(box.children)    # it fits whole, the figure still goes over: one more
            if after + 1 >= len(order):
                return tried               # the figure ends the box: it opens the next page
        if placed is None:
            box.children = order
            rewind(box, args, margins, top)
            return None
        return run(placed)                 # the blocks that fit, then the figure opens the next page

    def restore_order(box, skip_stack) -> None:
        """A box laid out again from before its deferred figure (WeasyPrint re-making a page, a
        parent trying another break) gets its source order back and decides anew."""
        source = getattr(box, "_source_order", None)
        if source is None:
            return
        moved = next(i for i, (a, b) in enumerate(zip(source, box.children)) if a is not b)
        if (next(iter(skip_stack)) if skip_stack else 0) < moved:
            box.children = source
            del box._source_order

    def block_container_layout(context, box, bottom_space, skip_stack, page_is_empty, *args, **kwargs):
        margins, top = list(args[2]) if len(args) > 2 else None, box.position_y
        if box.is_for_root_element:
            context.page_top = top         # each page's layout starts with the root at its top
        restore_order(box, skip_stack)
        result = stock_block(context, box, bottom_space, skip_stack, page_is_empty, *args, **kwargs)
        new_box, resume_at = result[0], result[1]
        if ((new_box is None or resume_at is not None) and not page_is_empty and skip_stack is None
                and margins is not None and is_figure(box)):
            rewind(box, args, margins, top)
            fitted = fit_figure(context, box, bottom_space, skip_stack, page_is_empty, args, kwargs)
            if fitted is not None:
                return fitted
            rewind(box, args, margins, top)
            result = stock_block(context, box, bottom_space, skip_stack, page_is_empty, *args, **kwargs)
            new_box, resume_at = result[0], result[1]
        if ((new_box is None or resume_at is not None) and not page_is_empty and margins is not None
                and isinstance(box, boxes.BlockBox)):
            original = list(box.children)
            deferred = defer_figure(context, box, bottom_space, skip_stack, page_is_empty, args, kwargs, result)
            if deferred is not None:
                if not hasattr(box, "_source_order"):
                    box._source_order = original
                result = deferred
                new_box, resume_at = result[0], result[1]
        if new_box is not None and resume_at is not None:
            flow = [child for child in new_box.children if child.is_in_normal_flow()]
            if flow:   # end the split box (and its rule) with its last line, not the page
                bottom = flow[-1].position_y + flow[-1].margin_height()
                new_box.height = min(new_box.height, max(0, bottom - new_box.content_box_y()))
        return result

    inline.trailing_whitespace_size = trailing_whitespace_size
    inline.split_first_line = whole_names
    _originals.update({"trailing_whitespace_size": stock_trailing, "justify_line": stock_justify, "Layout.set_text": stock_set_text,
                       "block_container_layout": stock_block, "split_text_box": stock_split,
                       "Stream.show_text": stock_show_text, "draw_first_line": stock_draw_first_line,
                       "split_first_line": stock_first_line})
    draw_text.draw_first_line = draw_first_line
    Stream.show_text = show_text
    inline.split_text_box = split_text_box
    block.block_container_layout = block_container_layout
    inline.justify_line = justify_line
    Layout.set_text = set_text
