"""Regional glyph forms: the shipped faces keep the Taiwan (ZHT) and Hong Kong (ZHH) `locl` forms, and a
per-book subset carries only its own language's forms (langsys.py)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import uharfbuzz as hb
from fontTools.pens.recordingPen import DecomposingRecordingPen
from fontTools.ttLib import TTFont
from PIL import Image, features

from interview_export import fonts, langsys
from interview_export.resources import fonts_dir

# characters whose standard form differs between the mainland, Taiwan and Hong Kong
# (。 sits in the corner in the mainland, centred in Taiwan; in a run of Han text, as in a book)
DIFFERS = {"骨": ("zh-CN", "zh-TW"), "刃": ("zh-CN", "zh-TW"), "直": ("zh-CN", "zh-HK"),
           "中。": ("zh-CN", "zh-TW")}
SAME = "中文山水"


def glyphs(data: bytes, text: str, lang: str) -> list[int]:
    """Glyph ids HarfBuzz picks for `text` with the language tag `lang` (as browsers and Pango do)."""
    font = hb.Font(hb.Face(hb.Blob(data)))
    buf = hb.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    buf.language = lang
    hb.shape(font, buf, {})
    return [info.codepoint for info in buf.glyph_infos]


def outline(data: bytes, text: str, lang: str):
    """The drawing of the glyph HarfBuzz picks for the last character (comparable across subsets)."""
    font = TTFont(io.BytesIO(data))
    glyph_set = font.getGlyphSet()
    pen = DecomposingRecordingPen(glyph_set)
    glyph_set[font.getGlyphOrder()[glyphs(data, text, lang)[-1]]].draw(pen)
    return pen.value


@pytest.mark.parametrize("name", sorted(fonts.SHIPPED.values()))
def test_shipped_faces_switch_glyphs_with_the_language_tag(name):
    data = (fonts_dir() / name).read_bytes()
    for char, (a, b) in DIFFERS.items():
        assert glyphs(data, char, a) != glyphs(data, char, b), (name, char)
    for lang in ("zh-TW", "zh-HK", "zh-Hant"):
        assert glyphs(data, SAME, lang) == glyphs(data, SAME, "zh-CN")
    assert glyphs(data, "骨", "zh-Hant") == glyphs(data, "骨", "zh-TW")


def test_langsys_tags():
    assert [langsys.langsys_tag(t) for t in ("zh-CN", "zh-Hans", "zh-TW", "zh-Hant", "zh-HK", "zh-MO", "en", "ja")] \
        == [b"ZHS ", b"ZHS ", b"ZHT ", b"ZHT ", b"ZHH ", b"ZHH ", b"ZHS ", b"JAN "]


def test_a_book_subset_keeps_only_its_own_regional_forms():
    path = fonts_dir() / fonts.SHIPPED[("serif", 400)]
    chars = {ord(c) for c in "骨刃直中。"}
    simplified = fonts.subset_face(path, 0, chars, language="zh-CN")
    taiwan = fonts.subset_face(path, 0, chars, language="zh-TW")
    unpatched = fonts.subset_face(path, 0, chars)
    # the Simplified book's subset has no Taiwan forms to switch to; the Taiwan one draws them
    # whatever tag a reader shapes it with
    count = lambda data: hb.Face(hb.Blob(data)).glyph_count   # noqa: E731
    assert count(simplified) < count(taiwan) < count(unpatched)
    for char in ("骨", "刃", "中。"):
        mainland, taiwanese = outline(unpatched, char, "zh-CN"), outline(unpatched, char, "zh-TW")
        assert mainland != taiwanese
        assert outline(simplified, char, "zh-TW") == outline(simplified, char, "zh-CN") == mainland
        assert outline(taiwan, char, "zh-TW") == outline(taiwan, char, "zh-CN") == taiwanese
    assert outline(taiwan, "直", "zh-HK") == outline(unpatched, "直", "zh-CN")   # no Hong Kong forms either


def _memfd_allowed() -> bool:
    """Whether this machine lets langsys_file make its in-memory file (not where a seccomp
    profile refuses memfd_create, nor without /proc)."""
    if not hasattr(os, "memfd_create") or not os.path.isdir("/proc/self/fd"):
        return False
    try:
        os.close(os.memfd_create("probe"))
    except OSError:
        return False
    return True


@pytest.mark.parametrize("keep", [b"ZHS ", b"ZHT ", b"ZHH "])
def test_the_mapped_langsys_file_holds_the_patched_bytes(keep):
    path = str(fonts_dir() / fonts.SHIPPED[("sans", 700)])
    open_files = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    with langsys.langsys_file(path, keep) as name:
        data = name if isinstance(name, bytes) else Path(name).read_bytes()
    patched = langsys.font_for_langsys(path, keep)
    assert data == patched and patched != Path(path).read_bytes()
    # mapped where the system allows it (the bytes only elsewhere), and its file closed after
    assert isinstance(name, str) == _memfd_allowed()
    if open_files is not None:
        assert len(os.listdir("/proc/self/fd")) == open_files


@pytest.mark.parametrize("broken", ["memfd_create", "sendfile"])
def test_without_an_in_memory_file_the_patched_bytes_are_used(monkeypatch, broken):
    def refuse(*args, **kwargs):
        raise OSError("not allowed here")

    monkeypatch.setattr(langsys.os, broken, refuse)
    path = str(fonts_dir() / fonts.SHIPPED[("sans", 700)])
    with langsys.langsys_file(path, b"ZHT ") as patched:
        assert patched == langsys.font_for_langsys(path, b"ZHT ")


def test_a_font_with_nothing_to_patch_is_mapped_as_it_is():
    path = str(fonts_dir() / "IEGap.ttf")   # no GSUB
    with langsys.langsys_file(path, b"ZHT ") as name:
        assert name == path


@pytest.mark.skipif(not features.check_feature("raqm"), reason="Pillow shapes with a language only through libraqm")
def test_the_generated_cover_draws_the_regional_forms():
    from interview_export import cover
    from interview_export.model import Document, Meta

    bold = (fonts_dir() / fonts.SHIPPED[("sans", 700)], 0)

    def title_pixels(lang: str, title: str) -> bytes:
        doc = Document(meta=Meta(title=title, language=lang))
        with Image.open(io.BytesIO(cover.generate_cover(doc, b"", font=bold, regular_font=bold))) as img:
            return img.convert("L").crop((0, 300, 1600, 800)).point(lambda v: 255 if v > 128 else 0).tobytes()

    assert title_pixels("zh-CN", "骨刃") != title_pixels("zh-TW", "骨刃")
    assert title_pixels("zh-CN", "山水") == title_pixels("zh-TW", "山水")
