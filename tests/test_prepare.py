"""prepare.py + usercss.py: one frozen PreparedBook; the backends read no user file and share its decisions."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import pytest

from interview_export import cover as cover_mod
from interview_export.backends import BACKENDS, epub, pdf
from interview_export.errors import ImageError, UsageError
from interview_export.options import Options
from interview_export.prepare import prepare
from interview_export.reader import read_text
from interview_export.usercss import clean_css, read_user_css

from helpers import png_bytes

TEXT = "---\ntitle: 纸的对话\ndate: 2024-05-06\n---\n\n# 纸的对话\n\n## 一 开始\n\n**主持人**：你好。\n\n**嘉宾**：你好！\n"


def test_prepared_book_is_frozen_and_holds_the_shared_decisions():
    book = prepare(read_text(TEXT, name="t.md"), Options(source_date_epoch=1700000000))
    with pytest.raises(dataclasses.FrozenInstanceError):
        book.epoch = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        book.labels["toc"] = "x"  # type: ignore[index]
    assert book.language == "zh-CN" and book.labels["toc"] == "目录"
    assert book.date.year == 2023 and book.epoch == 1700000000
    assert "目录" in book.text and "纸的对话" in book.text     # fonts are resolved over the labels too
    assert book.fonts is not None and book.fonts.text == book.text


def test_backends_read_no_user_file_after_prepare(tmp_path):
    """--cover and --css are read once, by prepare: removed afterwards, both backends still build."""
    cover = tmp_path / "cover.png"
    cover.write_bytes(png_bytes((600, 900)))
    css = tmp_path / "user.css"
    css.write_text("p { color: #333 }\n", encoding="utf-8")
    book = prepare(read_text(TEXT, name="t.md"), Options(cover=cover, css=(css,), source_date_epoch=0))
    cover.unlink()
    css.unlink()
    data, _ = BACKENDS["epub"](book)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("EPUB/images/cover.png") == book.cover.data
        assert zf.read("EPUB/styles/user-1.css").decode("utf-8") == book.user_css[0].text
    assert BACKENDS["pdf"](book)[0].startswith(b"%PDF")


def test_cover_is_read_once_for_both_formats(tmp_path, monkeypatch):
    from interview_export import api

    calls = []
    real = cover_mod.read_cover_file
    monkeypatch.setattr(cover_mod, "read_cover_file", lambda path: calls.append(path) or real(path))
    cover = tmp_path / "c.png"
    cover.write_bytes(png_bytes((600, 900)))
    source = tmp_path / "t.md"
    source.write_text(TEXT, encoding="utf-8")
    result = api.convert_file(str(source), {"epub": tmp_path / "t.epub", "pdf": tmp_path / "t.pdf"},
                              Options(cover=cover, offline=True, use_cache=False))
    assert result.ok and calls == [cover]


def test_bad_cover_and_bad_css_fail_in_prepare_not_in_a_backend(tmp_path):
    doc = read_text(TEXT, name="t.md")
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"hello")
    with pytest.raises(ImageError, match="not-an-image.png"):
        prepare(doc, Options(cover=bad))
    assert prepare(doc, Options(cover=bad, no_cover=True)).cover is None    # --no-cover wins: never read
    with pytest.raises(UsageError, match="missing.css"):
        prepare(doc, Options(css=(tmp_path / "missing.css",)))


def test_user_css_is_made_inert_once_with_one_warning(tmp_path):
    css = tmp_path / "u.css"
    css.write_text('@import "http://127.0.0.1:9/a.css";\nbody { background: url(b.png) }\np { color: red }\n',
                   encoding="utf-8")
    sheets, warnings = read_user_css((css,))
    rules = sheets[0].text.split("*/", 1)[1]                 # after the comment saying what was removed
    assert "@import" not in rules and "url(" not in rules and "background: none" in rules and "color: red" in rules
    assert sheets[0].removed == ('@import "http://127.0.0.1:9/a.css";', "url(b.png)")
    assert warnings == [f'stylesheet {css}: 2 url()/@import refused (a book holds every resource itself): '
                        '@import "http://127.0.0.1:9/a.css";, url(b.png)']
    plain = "p { color: red }\n"
    assert clean_css(plain) == (plain, [])                  # nothing to take out: the text as it was


def test_prepare_collects_every_warning_so_far(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    doc = read_text(TEXT + "\n![a](missing.png)\n", name="t.md")
    book = prepare(doc.replace(warnings=("t.md:1: a reader warning",)), Options())
    assert book.warnings[0] == "t.md:1: a reader warning"
    assert any("SOURCE_DATE_EPOCH='soon'" in w for w in book.warnings)
    assert epub.build_with_warnings(book)[1] == []            # said once, by prepare, not by each backend
    assert not any("SOURCE_DATE_EPOCH" in w for w in pdf.build_with_warnings(book)[1])


def test_an_untitled_book_has_one_title_in_both_formats(tmp_path):
    """The EPUB took the input's name (or "Untitled"), the PDF the "title page" label: now both the
    prepared book's title."""
    from test_backend_parity import opf, pdf_info

    doc = read_text("正文，没有标题。\n", name="<stdin>")
    assert doc.meta.title == ""
    book = prepare(doc, Options(source_date_epoch=0))
    assert book.title == "扉页"
    (tmp_path / "b.pdf").write_bytes(pdf.build(book))
    (tmp_path / "b.epub").write_bytes(epub.build(book))
    dc_title = opf(tmp_path / "b.epub").find("opf:metadata/{http://purl.org/dc/elements/1.1/}title",
                                             {"opf": "http://www.idpf.org/2007/opf"}).text
    assert dc_title == pdf_info(tmp_path / "b.pdf")["Title"] == book.title
