"""pagesize: option strings → geometry and @page CSS."""

from __future__ import annotations

import re

import pytest

from interview_export.errors import UsageError
from interview_export.pagesize import PT_PER_MM, geometry, parse_length, parse_page_size


@pytest.mark.parametrize("text, expected", [
    ("A4", ("A4", 210, 297)), ("a5", ("A5", 148, 210)), ("B5", ("B5", 176, 250)),
    ("Letter", ("Letter", 215.9, 279.4)), ("16开", ("16开", 185, 260)), ("16k", ("16开", 185, 260)),
    ("32开", ("32开", 130, 184)), ("32K", ("32开", 130, 184)), ("", ("A4", 210, 297)),
    ("150x220", ("150×220mm", 150, 220)), ("150×220mm", ("150×220mm", 150, 220)),
    (" 120.5 X 180 ", ("120.5×180mm", 120.5, 180)),
])
def test_page_size_presets_and_custom(text, expected):
    assert parse_page_size(text) == expected


@pytest.mark.parametrize("bad", ["A3x", "huge", "10x10", "150x5000", "150-220", "0x0"])
def test_bad_page_sizes_are_usage_errors(bad):
    with pytest.raises(UsageError, match="page size"):
        parse_page_size(bad)


@pytest.mark.parametrize("text, mm", [("3mm", 3), ("3", 3), ("0.3cm", 3), ("0.125in", 3.175),
                                      ("", 0), ("9pt", 9 * 25.4 / 72)])
def test_lengths(text, mm):
    assert parse_length(text) == pytest.approx(mm)


@pytest.mark.parametrize("bad", ["3 px", "-3mm", "abc", "50mm"])
def test_bad_lengths(bad):
    with pytest.raises(UsageError, match="bleed"):
        parse_length(bad)


@pytest.mark.parametrize("size", ["A4", "A5", "B5", "Letter", "16开", "32开", "150x220"])
def test_text_block_is_a_whole_number_of_characters(size):
    geo = geometry(size)
    em_mm = geo.font_size / PT_PER_MM
    # wide enough for `chars` ems (never a hair less) but not for one more
    assert geo.chars_per_line * em_mm <= geo.text_width < geo.chars_per_line * em_mm + 0.05
    assert 25 <= geo.chars_per_line <= 45
    # margins proportional to the page, the binding (inner) margin the wider one
    assert geo.inner > geo.outer > 0.08 * geo.width
    assert geo.bottom > geo.top > 0.07 * geo.height


def test_duplex_css_mirrors_margins_and_simplex_does_not():
    geo = geometry("A5")
    css = geo.css()
    assert "size: 148mm 210mm;" in css
    assert "@page :left" in css and "@page :right" in css
    left = re.search(r"@page :left \{ margin-left: ([\d.]+)mm; margin-right: ([\d.]+)mm;", css)
    right = re.search(r"@page :right \{ margin-left: ([\d.]+)mm; margin-right: ([\d.]+)mm;", css)
    assert float(left[1]) == pytest.approx(geo.outer) and float(left[2]) == pytest.approx(geo.inner)
    assert float(right[1]) == pytest.approx(geo.inner) and float(right[2]) == pytest.approx(geo.outer)
    simplex = geometry("A5", duplex=False)
    assert simplex.inner == pytest.approx(simplex.outer, abs=0.02)
    assert "@page :left" not in simplex.css()


def test_bleed_and_crop_marks():
    css = geometry("A4", "3mm", True).css()
    assert "bleed: 3mm;" in css and "marks: crop cross;" in css
    assert "marks" not in geometry("A4").css() and "bleed" not in geometry("A4").css()
