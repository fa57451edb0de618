"""Page-size option strings → page geometry and the CSS @page rules that print it.

Presets: A4 (default), A5, B5 (ISO), Letter, 16开 (185×260 mm), 32开 (130×184 mm), or
``WIDTHxHEIGHT`` in millimetres (``150x220``, ``150×220mm``). Margins are proportional to the page,
and the text block is a whole number of body characters wide so that lines of Chinese text end
flush (WeasyPrint only justifies by stretching spaces, which CJK text hardly has).

Duplex is the default: facing pages, a wider inner (binding) margin, running heads and folios on
the outer corners. ``duplex=False`` gives symmetric margins and centred heads/folios.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import UsageError

#: Trim sizes in millimetres (width, height). Keys are lower-case lookup names.
PRESETS: dict[str, tuple[str, float, float]] = {
    "a4": ("A4", 210.0, 297.0),
    "a5": ("A5", 148.0, 210.0),
    "b5": ("B5", 176.0, 250.0),
    "letter": ("Letter", 215.9, 279.4),
    "16开": ("16开", 185.0, 260.0),
    "16k": ("16开", 185.0, 260.0),
    "16kai": ("16开", 185.0, 260.0),
    "32开": ("32开", 130.0, 184.0),
    "32k": ("32开", 130.0, 184.0),
    "32kai": ("32开", 130.0, 184.0),
}

_CUSTOM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[x×X*]\s*(\d+(?:\.\d+)?)\s*(mm)?\s*$")
_LENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mm|cm|in|pt)?\s*$", re.IGNORECASE)
_MM_PER = {"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72}
PT_PER_MM = 72 / 25.4

MIN_SIDE_MM, MAX_SIDE_MM = 70.0, 1200.0
MAX_BLEED_MM = 20.0


@dataclass(frozen=True)
class PageGeometry:
    """Everything the print CSS needs to know about the paper, in millimetres and points."""

    name: str
    width: float            # trim size, mm
    height: float
    top: float              # margins, mm
    bottom: float
    inner: float
    outer: float
    font_size: float        # body text, pt
    chars_per_line: int
    bleed: float = 0.0      # mm
    crop_marks: bool = False
    duplex: bool = True

    @property
    def text_width(self) -> float:
        """The width of the text block in mm (page width minus both margins)."""
        return self.width - self.inner - self.outer

    def css(self) -> str:
        """The @page rules for this geometry (size, margins, bleed, marks, body font size)."""
        size = f"size: {_mm(self.width)} {_mm(self.height)};"
        extras = ""
        if self.bleed:
            extras += f" bleed: {_mm(self.bleed)};"
        if self.crop_marks:
            extras += " marks: crop cross;"   # bleed: auto → 6pt of room for the marks
        v = f"margin-top: {_mm(self.top)}; margin-bottom: {_mm(self.bottom)};"
        if self.duplex:
            sides = (f"@page :left {{ margin-left: {_mm(self.outer)}; margin-right: {_mm(self.inner)}; }}\n"
                     f"@page :right {{ margin-left: {_mm(self.inner)}; margin-right: {_mm(self.outer)}; }}\n")
        else:
            sides = ""
        return (f"@page {{ {size}{extras} {v} margin-left: {_mm(self.inner)}; "
                f"margin-right: {_mm(self.outer)}; }}\n{sides}"
                f":root {{ font-size: {self.font_size:g}pt; }}\n")


def _mm(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + "mm"


def parse_page_size(text: str) -> tuple[str, float, float]:
    """``"A4"``, ``"16开"``, ``"150x220"`` → (display name, width mm, height mm)."""
    key = (text or "A4").strip().lower().replace(" ", "")
    if key in PRESETS:
        return PRESETS[key]
    match = _CUSTOM.match(key)
    if not match:
        names = "A4, A5, B5, Letter, 16开, 32开"
        raise UsageError(f"page size {text!r}: expected one of {names} or WIDTHxHEIGHT in mm (e.g. 150x220)")
    width, height = float(match[1]), float(match[2])
    for side in (width, height):
        if not MIN_SIDE_MM <= side <= MAX_SIDE_MM:
            raise UsageError(f"page size {text!r}: sides must be between {MIN_SIDE_MM:g} and {MAX_SIDE_MM:g} mm")
    return f"{width:g}×{height:g}mm", width, height


def parse_length(text: str, *, what: str = "bleed") -> float:
    """``"3mm"``, ``"0.125in"``, ``"3"`` (mm) → millimetres; ``""`` → 0."""
    if not text or not text.strip():
        return 0.0
    match = _LENGTH.match(text)
    if not match:
        raise UsageError(f"{what} {text!r}: expected a length such as 3mm, 0.3cm, 0.125in or 9pt")
    value = float(match[1]) * _MM_PER[(match[2] or "mm").lower()]
    if value > MAX_BLEED_MM:
        raise UsageError(f"{what} {text!r}: more than {MAX_BLEED_MM:g} mm")
    return value


def body_font_size(width: float) -> float:
    """Body text size in pt for a trim width in mm (五号 10.5pt for 16开/B5, a little more on A4)."""
    if width >= 200:
        return 11.0
    if width >= 170:
        return 10.5
    if width >= 140:
        return 10.0
    return 9.5


def geometry(page_size: str = "A4", bleed: str = "", crop_marks: bool = False,
             duplex: bool = True) -> PageGeometry:
    """Margins proportional to the page; the text block a whole number of characters wide."""
    name, width, height = parse_page_size(page_size)
    font = body_font_size(width)
    inner0, outer0 = width * 0.115, width * 0.095
    if not duplex:
        inner0 = outer0 = (inner0 + outer0) / 2
    em_mm = font / PT_PER_MM
    chars = max(10, math.floor((width - inner0 - outer0) / em_mm))
    slack = (width - inner0 - outer0) - chars * em_mm   # give the remainder back to the margins
    inner = inner0 + slack * (inner0 / (inner0 + outer0))
    outer = width - chars * em_mm - inner
    # round the margins down so the text block is never a hair narrower than `chars` ems
    inner, outer = math.floor(inner * 100) / 100, math.floor(outer * 100) / 100
    return PageGeometry(
        name=name, width=width, height=height,
        top=round(height * 0.08, 2), bottom=round(height * 0.09, 2),
        inner=inner, outer=outer, font_size=font, chars_per_line=chars,
        bleed=parse_length(bleed), crop_marks=crop_marks, duplex=duplex)
