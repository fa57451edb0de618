"""backends/weasy_faces.py: our @font-face sheet loaded after the cascade — before the first font
use, the same PDF."""

from __future__ import annotations

import contextlib
import sys

import pytest

from interview_export.backends import pdf, weasy_faces, weasy_speed
from interview_export.options import Options
from interview_export.prepare import prepare
from interview_export.reader import read_text

BOOK = """---
title: 字体测试
---

# 字体测试

**主持人：** 你好，这是 Latin text 与中文混排的一段话，x<sup>2</sup> 和 H<sub>2</sub>O。

**嘉宾：** 第二段，`code` 与 *强调*。
"""
# lengths the cascade computes from the font itself (Pango): the faces must be there by then
FONT_UNITS = "p { text-indent: 2.5ex; margin-bottom: 1ch; } sup { vertical-align: 60%; }\n"
# more of them, where a user sheet may put them: line-height units, root-relative ones, calc(),
# margin boxes of @page, generated content with counters
MORE_UNITS = """html { line-height: 1.1rlh } h1 { font-size: larger; margin: 1lh 1cap 1ic }
p { text-indent: 2em; padding-left: calc(1em + 1.5ex); word-spacing: .2rch; letter-spacing: .02rex }
body { counter-reset: n } p::before { content: counter(n) " "; counter-increment: n; margin-right: 1ch }
@page { margin-top: 9ex; @top-center { content: "页 " counter(page); font-size: 1.2ex; width: 20ch } }
"""


def _job(tmp_path, css: str = ""):
    options = Options(source_date_epoch=1700000000)
    if css:
        (tmp_path / "user.css").write_text(css, encoding="utf-8")
        options = Options(source_date_epoch=1700000000, css=(tmp_path / "user.css",))
    return pdf.make_job(prepare(read_text(BOOK, name="book.md"), options))


def _events(monkeypatch) -> list[str]:
    """What happens in which order: the cascade starting and ending, the faces loaded."""
    weasy_speed.import_weasyprint()
    from weasyprint import document

    events: list[str] = []
    cascade, load = document.get_all_computed_styles, weasy_faces._load_pending

    def timed_cascade(*args, **kwargs):
        events.append("cascade")
        try:
            return cascade(*args, **kwargs)
        finally:
            events.append("cascade done")

    def loading():
        if getattr(weasy_faces._pending, "load", None) is not None:    # by which of the wrapped functions
            events.append(f"faces for {sys._getframe(1).f_locals['function'].__name__}")
        load()

    monkeypatch.setattr(document, "get_all_computed_styles", timed_cascade)
    monkeypatch.setattr(weasy_faces, "_load_pending", loading)
    return events


@pytest.mark.parametrize("css", ["", FONT_UNITS, MORE_UNITS])   # font-relative lengths are computed on first read
def test_faces_load_after_the_cascade_and_the_pdf_is_the_same(tmp_path, monkeypatch, css):
    events = _events(monkeypatch)
    deferred, _ = pdf.render_job(_job(tmp_path, css))
    assert events == ["cascade", "cascade done", "faces for layout_document"]
    events[:] = []
    monkeypatch.setattr(pdf, "_faces_later", lambda sheets: None)     # loaded first, as WeasyPrint would
    at_once, _ = pdf.render_job(_job(tmp_path, css))
    assert events == ["cascade", "cascade done"]
    assert deferred == at_once


def test_every_way_to_pango_before_the_layout_loads_the_faces_first():
    weasy_speed.import_weasyprint()
    from weasyprint import document
    from weasyprint.css import computed_values, units

    assert weasy_faces.install() is True
    for module, name in ((document, "layout_document"), (units, "strut"), (units, "character_ratio"),
                         (computed_values, "strut")):
        loaded: list[str] = []
        function = getattr(module, name)
        assert function.__wrapped__.__module__.startswith("weasyprint.")   # ours, around WeasyPrint's
        with weasy_faces.later(lambda: loaded.append(name)), contextlib.suppress(Exception):
            function(None, None, None) if name == "layout_document" else function(None)   # no real style
        assert loaded == [name]


def test_only_a_sheet_of_font_faces_is_deferred(tmp_path):
    sheets = _job(tmp_path).sheets
    faces = dict((name, text) for text, name in sheets)["fonts"]
    assert weasy_faces.only_font_faces(faces) and "@font-face" in faces
    assert pdf._faces_later(sheets) is faces
    assert not weasy_faces.only_font_faces(faces + "p { color: red }")
    assert not weasy_faces.only_font_faces(faces + "@page { size: A5 }")
    # a user sheet declaring faces: ours are loaded first, as before
    user = '@font-face { font-family: "Mine"; src: url(x.otf); }\np { font-family: Mine }'
    assert pdf._faces_later(_job(tmp_path, user).sheets) is None


@pytest.mark.parametrize("css, faces", [
    ('@font\\-face { font-family: "Mine"; src: local(Mine) }', True),
    ("@\\66ont-face { font-family: a }", True),
    ("@\\000066 ont-face { font-family: a }", True),       # six hex digits, then the space ends the escape
    ("@FONT\\-FACE { font-family: a }", True),
    ("@media print { p { color: red } @f\\ont-face { font-family: a } }", True),
    ("@supports (x: \\31) { @font-face { font-family: a } }", True),
    ("@font-face { font-family: a }", True),
    ('.font\\-face { color: red } p::before { content: "\\2014" }', False),   # a class, a string
    ("@font\\-feature-values A { @swash { x: 1 } }", False),
    ("/* @font\\-face */ p { color: red }", False),
    ("p { color: red }", False),
])
def test_faces_are_found_in_every_spelling_weasyprint_reads(css, faces):
    import tinycss2

    assert weasy_faces.declares_faces(css) is faces
    found = any(getattr(rule, "lower_at_keyword", "") == "font-face"
                for rule in tinycss2.parse_stylesheet(css, skip_comments=True)
                for rule in [rule, *(tinycss2.parse_rule_list(rule.content or []) if rule.type == "at-rule" else [])])
    assert found is faces          # what tinycss2 (WeasyPrint) makes of it


def test_a_user_sheet_with_escaped_font_face_gets_the_stock_order(tmp_path, monkeypatch):
    """``@font\\-face`` is an @font-face rule to WeasyPrint: ours are loaded first, as without weasy_faces."""
    events = _events(monkeypatch)
    job = _job(tmp_path, '@font\\-face { font-family: "Mine"; src: local(Mine) }\np { font-family: Mine, serif }')
    assert pdf._faces_later(job.sheets) is None
    pdf.render_job(job)
    assert events == ["cascade", "cascade done"]


def test_not_installed_on_another_weasyprint(monkeypatch):
    weasy_speed.import_weasyprint()
    assert weasy_faces.install() is True                # fails when WeasyPrint is not the pinned one
    from weasyprint import document

    stock = document.layout_document.__wrapped__
    monkeypatch.setattr(document, "layout_document", stock)
    monkeypatch.setattr(weasy_faces, "SOURCE_DIGESTS", dict(weasy_faces.SOURCE_DIGESTS, to_pixels="0" * 64))
    assert weasy_faces.install() is False
    assert document.layout_document is stock
    assert pdf._faces_later([("@font-face { font-family: x; src: url(y.otf) }", "fonts")]) is None
