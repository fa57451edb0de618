"""EPUB and PDF decide alike: fonts over every generated label, --cover, the author, the book's date."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from interview_export import api, fonts, render
from interview_export.errors import ImageError
from interview_export.options import Options
from interview_export.reader import read_text

from helpers import latin_font

needs_poppler = pytest.mark.skipif(shutil.which("pdfinfo") is None or shutil.which("pdfimages") is None,
                                   reason="poppler-utils is needed to read the PDF")

BOOK = """---
title: A Talk About Paper
source: Example Weekly
translator: Tina
date: 2024-05-06
---

# A Talk About Paper

Why paper still matters.

## 1 Start

Plain English words, nothing else.

## 2 End

The last words.
"""


def convert(tmp_path: Path, options: Options | None = None, formats=("epub", "pdf")) -> api.ConversionResult:
    """BOOK → talk.epub/talk.pdf in tmp_path, in this process (monkeypatches apply)."""
    source = tmp_path / "talk.md"
    source.write_text(BOOK, encoding="utf-8")
    targets = {fmt: tmp_path / f"talk.{fmt}" for fmt in formats}
    return api.convert_file(str(source), targets, options or Options(offline=True, use_cache=False))


def pdf_info(path: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", "-isodates", str(path)], check=True, capture_output=True, text=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def opf(path: Path) -> ET.Element:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".opf"))
        return ET.fromstring(zf.read(name))


NS = {"opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}


def epub_creators(path: Path) -> dict[str, str]:
    """{name: MARC role} of the EPUB's dc:creator entries."""
    meta = opf(path).find("opf:metadata", NS)
    roles = {m.get("refines", "").lstrip("#"): m.text for m in meta.iterfind("opf:meta", NS)
             if m.get("property") == "role"}
    return {c.text: roles.get(c.get("id")) for c in meta.iterfind("dc:creator", NS)}


# ---------------------------------------------------------------- fonts
@pytest.mark.parametrize("fmt", ["epub", "pdf"])
def test_generated_labels_no_font_covers_are_in_the_result_warnings(tmp_path, monkeypatch, fmt):
    """An English book set in a Latin-only font: its text is covered, but some characters the
    renderer adds itself (labels, quote marks, ：·…) are not. Those must be reported (they were
    lost: the fonts were resolved over the text alone, and the EPUB found the gaps only after the
    warnings had been copied into the result)."""
    font = latin_font(tmp_path / "latin.ttf")
    monkeypatch.setattr(fonts, "_system_candidates", lambda: ())   # no system fallback face
    options = Options(offline=True, use_cache=False, font_serif=str(font), font_sans=str(font))
    result = convert(tmp_path, options, (fmt,))
    assert result.ok, result.error
    doc = read_text(BOOK, name="talk.md")
    uncovered = sorted(fonts.visible_chars(render.generated_text(doc, options)) - fonts.face_unicodes(str(font)))
    assert uncovered, "the test needs generated characters outside ASCII"
    reported = [w for w in result.warnings if "no font covers" in w]
    assert len(reported) == 1, result.warnings
    assert all(f"U+{cp:04X}" in reported[0] for cp in uncovered[:10]), (uncovered, reported)
    assert "U+0050" not in reported[0]                      # P: the text itself is covered


# ---------------------------------------------------------------- cover
@needs_poppler
def test_pdf_takes_the_cover_option_and_no_cover_wins(tmp_path):
    cover = tmp_path / "cover.png"
    Image.new("RGB", (300, 450), (30, 90, 160)).save(cover)
    result = convert(tmp_path, Options(offline=True, use_cache=False, cover=cover), ("pdf",))
    assert result.ok, result.error
    listed = subprocess.run(["pdfimages", "-list", str(tmp_path / "talk.pdf")], check=True,
                            capture_output=True, text=True).stdout.splitlines()[2:]
    assert [(int(f[0]), int(f[3]), int(f[4])) for f in map(str.split, listed)] == [(1, 300, 450)]

    result = convert(tmp_path, Options(offline=True, use_cache=False, cover=cover, no_cover=True), ("pdf",))
    assert result.ok, result.error
    assert subprocess.run(["pdfimages", "-list", str(tmp_path / "talk.pdf")], check=True,
                          capture_output=True, text=True).stdout.splitlines()[2:] == []


@pytest.mark.parametrize("fmt", ["epub", "pdf"])
def test_a_cover_that_is_not_an_image_fails_both_formats_alike(tmp_path, fmt):
    bad = tmp_path / "cover.png"
    bad.write_bytes(b"not an image at all")
    result = convert(tmp_path, Options(offline=True, use_cache=False, cover=bad), (fmt,))
    assert result.error_type == ImageError.__name__ and "cannot use as cover" in result.error
    assert not (tmp_path / f"talk.{fmt}").exists()


# ---------------------------------------------------------------- user stylesheets
@pytest.mark.parametrize("fmt", ["epub", "pdf"])
@pytest.mark.parametrize("kind", ["missing", "folder", "binary"])
def test_an_unusable_stylesheet_is_the_same_usage_error_in_both_formats(tmp_path, fmt, kind):
    css = tmp_path / "user.css"
    if kind == "folder":
        css.mkdir()
    elif kind == "binary":
        css.write_bytes(b"\xff\xfe\x00garbage\x80")
    result = convert(tmp_path, Options(offline=True, use_cache=False, css=(css,)), (fmt,))
    assert result.error_type == "UsageError" and "user.css" in result.error, result
    assert not (tmp_path / f"talk.{fmt}").exists()


# ---------------------------------------------------------------- author
@needs_poppler
def test_both_formats_name_the_same_author_and_never_the_translator(tmp_path):
    result = convert(tmp_path)
    assert result.ok, result.error
    assert epub_creators(tmp_path / "talk.epub") == {"Example Weekly": "aut", "Tina": "trl"}
    assert pdf_info(tmp_path / "talk.pdf")["Author"] == "Example Weekly"


# ---------------------------------------------------------------- date
@needs_poppler
@pytest.mark.parametrize("value, day", [("yesterday", "2024-05-06"), ("-5", "2024-05-06"),
                                        ("99999999999999", "2024-05-06"), ("1700000000", "2023-11-14"),
                                        (None, "2024-05-06")])
def test_source_date_epoch_one_rule_and_one_warning(tmp_path, monkeypatch, value, day):
    """One rule for both formats: a valid $SOURCE_DATE_EPOCH, else the document's date; a bad value
    is one warning (not an error in one format and silence in the other)."""
    if value is None:
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    else:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    result = convert(tmp_path)
    assert result.ok, result.error
    about = [w for w in result.warnings if "SOURCE_DATE_EPOCH" in w]
    if value is None or value == "1700000000":
        assert about == []
    else:
        assert len(about) == 1 and value in about[0] and day in about[0], result.warnings
    modified = next(m.text for m in opf(tmp_path / "talk.epub").iter("{http://www.idpf.org/2007/opf}meta")
                    if m.get("property") == "dcterms:modified")
    created = pdf_info(tmp_path / "talk.pdf")["CreationDate"]
    assert modified.startswith(day) and created.startswith(day)
    assert re.sub(r"Z|\+00:?00$", "", created) == modified.rstrip("Z")
