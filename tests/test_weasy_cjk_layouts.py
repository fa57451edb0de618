"""weasy_cjk's Pango work per justified line: letter-spacing set in runs (not per character) and
the drawing layout of a justified box made without a Pango layout — same PDF bytes either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from interview_export import weasy_cjk
from interview_export.backends import pdf, weasy_speed
from interview_export.options import Options
from interview_export.prepare import prepare
from interview_export.reader import read_path

FIXTURE = Path(__file__).parent / "fixtures" / "typeset" / "sample.md"


@pytest.fixture(scope="module")
def fixture_doc():
    return read_path(FIXTURE, Options())


def _build(doc) -> bytes:
    return pdf.build(prepare(doc, Options(page_size="A5")))


def test_spacing_runs_merge_equal_neighbours_and_count_utf8_bytes():
    C, S, N = weasy_cjk.CHAR, weasy_cjk.SPACE, weasy_cjk.NONE
    text = "中文 ab，字"
    cls = [C, C, S, N, N, C, C]
    assert weasy_cjk.spacing_runs(text, cls, {C: 7, S: 3}) == [(0, 6, 7), (6, 7, 3), (9, 15, 7)]
    assert weasy_cjk.spacing_runs(text, cls, {C: 5, S: 5}) == [(0, 7, 5), (9, 15, 5)]   # one value: one run
    assert weasy_cjk.spacing_runs("", [], {C: 1, S: 1}) == []


def test_letter_spacing_in_runs_gives_the_pdf_one_attribute_per_character_gave(fixture_doc, monkeypatch):
    runs = []
    stock = weasy_cjk.spacing_runs

    def counting(text, cls, units):
        found = stock(text, cls, units)
        runs.append((len(found), sum(1 for kind in cls[:len(text)] if units.get(kind) is not None)))
        return found

    monkeypatch.setattr(weasy_cjk, "spacing_runs", counting)
    in_runs = _build(fixture_doc)

    def per_character(text, cls, units):          # what set_text inserted before: one per character
        out, start = [], 0
        for ch, kind in zip(text, cls):
            end = start + len(ch.encode())
            if units.get(kind) is not None:
                out.append((start, end, units[kind]))
            start = end
        return out

    monkeypatch.setattr(weasy_cjk, "spacing_runs", per_character)
    assert _build(fixture_doc) == in_runs
    attributes, characters = map(sum, zip(*runs))
    assert runs and attributes * 5 < characters      # a justified Chinese line: a few runs, not a character each


HTML = ("<html lang='zh'><body style='text-align: justify; width: 12em'>"
        "<p>中文的段落，两端对齐排版的测试文字。中文的段落，两端对齐排版的测试文字。</p>"
        "<p><u>下划线的文字，两端对齐排版的测试文字。</u>中文 Latin 混排的段落文字，测试。</p>"
        "</body></html>")


def test_a_drawing_layout_holds_what_create_layout_and_deactivate_leave():
    weasyprint = weasy_speed.import_weasyprint()
    from weasyprint.formatting_structure import boxes
    from weasyprint.text.line_break import create_layout

    assert weasy_cjk.install() is True
    document = weasyprint.HTML(string=HTML).render()
    texts = [b for page in document.pages for b in page._page_box.descendants() if isinstance(b, boxes.TextBox)]
    texts += [b.copy_with_text(text) for b in texts[:2] for text in (b.text + "\n次行", " ")]
    kinds = {"decorated": False, "newline": False, "space": False, "plain": False}
    for box in texts:
        expected = create_layout(box.text, box.style, None, max_width=None, justification_spacing=0)
        expected.deactivate()
        assert vars(weasy_cjk.drawing_layout(None, box)) == vars(expected), box.text
        kinds["decorated"] |= box.style["text_decoration_line"] != "none"
        kinds["newline"] |= "\n" in box.text
        kinds["space"] |= box.text == " "
        kinds["plain"] |= box.style["text_decoration_line"] == "none" and "\n" not in box.text
    assert all(kinds.values())


def test_justified_boxes_get_their_drawing_layout_without_setting_up_pango(fixture_doc, monkeypatch):
    weasy_speed.import_weasyprint()
    from weasyprint.text.line_break import Layout, create_layout

    # installed before Layout.setup is counted below: the counting wrapper's digest would refuse it
    assert weasy_cjk.install() is True
    setups, stock_setup = [], Layout.setup

    def counting(self, style):
        setups.append(1)
        return stock_setup(self, style)

    monkeypatch.setattr(Layout, "setup", counting)
    fast = _build(fixture_doc)
    fast_setups, setups[:] = len(setups), []

    def with_pango(context, box):                  # what spread did before
        layout = create_layout(box.text, box.style, context, max_width=None, justification_spacing=0)
        layout.deactivate()
        return layout

    monkeypatch.setattr(weasy_cjk, "drawing_layout", with_pango)
    assert _build(fixture_doc) == fast
    assert fast_setups < len(setups)
