"""fonts.py and fonts/: shipped coverage, SC face, per-book subsets, fallback, options, WeasyPrint."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import subprocess
import time
import unicodedata
from pathlib import Path

import pytest
import uharfbuzz as hb
from fontTools.ttLib import TTFont
from hypothesis import HealthCheck, given, settings, strategies as st

from interview_export import fonts
from interview_export.errors import FontError
from interview_export.fonts import (
    EmbeddedFont,
    FontFace,
    FontSet,
    encodable_chars,
    font_face_css,
    resolve_fonts,
    subset_fonts,
    visible_chars,
)
from interview_export.options import Options
from interview_export.resources import fonts_dir

from helpers import epubcheck

REPO = Path(__file__).resolve().parents[1]
NOTO = Path("/usr/share/fonts/opentype/noto")
SERIF_TTC = NOTO / "NotoSerifCJK-Regular.ttc"
SANS_TTC = NOTO / "NotoSansCJK-Regular.ttc"
GBK_FILES = ["NotoSerifSC-Regular.otf"]
BIG5_FILES = ["NotoSerifSC-Bold.otf", "NotoSansSC-Bold.otf"]          # GB 2312 + 8105 + all of Big5
LABELS = "目录 封面 版权 第1页 引言 金句 © 2026"   # what the renderers add; passed in with the text
needs_noto = pytest.mark.skipif(not SERIF_TTC.is_file() or not SANS_TTC.is_file(),
                                reason="Debian fonts-noto-cjk is not installed")
needs_fc = pytest.mark.skipif(shutil.which("fc-list") is None, reason="fontconfig is not installed")


def load(data_or_path, **kwargs) -> TTFont:
    """A TTFont read from bytes (no open file left behind: pytest turns ResourceWarning into errors)."""
    data = data_or_path if isinstance(data_or_path, bytes) else Path(data_or_path).read_bytes()
    return TTFont(io.BytesIO(data), **kwargs)


def cmap(data_or_path) -> set[int]:
    return set(load(data_or_path, lazy=True).getBestCmap())


def gbk_only_char() -> str:
    """A GBK ideograph that only the shipped sans Regular lacks (not GB 2312, not 通用规范汉字表, not
    Big5 level 1; both serif faces have it)."""
    sans_regular = fonts.face_unicodes(str(fonts_dir() / "NotoSansSC-Regular.otf"))
    serif_bold = fonts.face_unicodes(str(fonts_dir() / "NotoSerifSC-Bold.otf"))
    rare = min(cp for cp in encodable_chars("gbk") if 0x4E00 <= cp <= 0x9FFF and cp not in sans_regular
               and cp in serif_bold)
    assert rare in fonts.face_unicodes(str(fonts_dir() / "NotoSerifSC-Regular.otf"))
    return chr(rare)


def block(start: int, end: int) -> set[int]:
    """The assigned code points of a block that need a glyph."""
    return {cp for cp in range(start, end + 1)
            if unicodedata.category(chr(cp)) != "Cn" and visible_chars(chr(cp))}


def nobody_covers(cp: int) -> bool:
    if shutil.which("fc-list") is None:
        return True
    out = subprocess.run(["fc-list", f":charset={cp:x}", "file"], capture_output=True, text=True).stdout
    return not out.strip()


# ---------------------------------------------------------------- the shipped files
def test_shipped_files_are_otf_within_budget():
    folder = fonts_dir()
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total <= 30_000_000
    assert (folder / "README.md").is_file() and (folder / "LICENSE-OFL.txt").is_file()
    assert "SIL OPEN FONT LICENSE Version 1.1" in (folder / "LICENSE-OFL.txt").read_text(encoding="utf-8")
    for name in fonts.SHIPPED.values():
        assert name.isascii()
        assert (folder / name).read_bytes()[:4] == b"OTTO"      # CFF OpenType, not WOFF/WOFF2


@pytest.mark.parametrize("name", sorted(fonts.SHIPPED.values()))
def test_shipped_coverage(name):
    assert len(fonts.listed_chars("tongyong-guifan-8105")) == 8105
    have = cmap(fonts_dir() / name)
    assert encodable_chars("gb2312") <= have
    assert block(0x20, 0x7E) | block(0xA0, 0xFF) <= have                       # ASCII, Latin-1
    assert block(0x3000, 0x303F) <= have                                       # CJK punctuation
    assert block(0xFF00, 0xFFEF) <= have                                       # full/half width
    assert {ord(c) for c in "‐–—―‖‘’“”†‡•‥…‧‰′″‵※‼⁇⁈⁉"} <= have             # General Punctuation
    assert fonts.listed_chars("tongyong-guifan-8105") <= have                  # 通用规范汉字表
    if name in GBK_FILES:
        assert encodable_chars("gbk") - have == {0x2252}     # ≒: not in Noto CJK SC either
    big5_hanzi = {cp for cp in encodable_chars("big5") if 0x4E00 <= cp <= 0x9FFF}
    if name in GBK_FILES or name in BIG5_FILES:
        assert big5_hanzi <= have                            # every Traditional character of Big5
    else:
        level1 = {cp for cp in _build_script().big5_level1() if 0x4E00 <= cp <= 0x9FFF}
        assert level1 <= have                                # the 5,401 common ones


@needs_noto
@pytest.mark.parametrize("name", sorted(fonts.SHIPPED.values()))
def test_shipped_has_every_block_char_upstream_has(name):
    upstream_path = SERIF_TTC if "Serif" in name else SANS_TTC
    upstream = fonts.face_unicodes(str(upstream_path), 2)
    wanted = fonts.ranges_chars(fonts.SHIPPED_BLOCKS) & upstream
    assert wanted - cmap(fonts_dir() / name) == set()


@given(chars=st.sets(st.one_of(st.integers(0, 0x3000), st.integers(0x4E00, 0x9FFF), st.integers(0x20000, 0x10FFFF)),
                    max_size=300))
@settings(max_examples=60, deadline=None)
def test_face_coverage_answers_as_the_cmap_frozenset_did(chars):
    """face_unicodes keeps HarfBuzz's bit set, not a frozenset: every use the font choice makes of
    it (membership, chars & cov, chars - cov, chars <= cov, len, iteration) agrees with the cmap."""
    path = fonts_dir() / "NotoSansSC-Regular.otf"
    cov, truth = fonts.face_unicodes(str(path)), frozenset(cmap(path))
    assert len(cov) == len(truth) and frozenset(cov) == truth and cov == truth
    some = set(chars) | {min(truth), max(truth)}
    assert [cp in cov for cp in sorted(some)] == [cp in truth for cp in sorted(some)]
    assert (some & cov, cov & some, some - cov, frozenset(some) - cov) == (some & truth,) * 2 + (some - truth,) * 2
    assert (some <= cov, (some & truth) <= cov, cov >= some & truth) == (some <= truth, True, True)
    assert isinstance(some & cov, frozenset) and isinstance(some - cov, frozenset)


def test_shipped_fonts_are_the_sc_faces_with_cjk_layout_and_vertical_metrics():
    for name in fonts.SHIPPED.values():
        font = load(fonts_dir() / name, lazy=True)
        assert "CJK SC" in font["name"].getDebugName(1)
        assert {"vhea", "vmtx", "VORG", "GSUB", "GPOS"} <= set(font.keys())
        gsub = {r.FeatureTag for r in font["GSUB"].table.FeatureList.FeatureRecord}
        gpos = {r.FeatureTag for r in font["GPOS"].table.FeatureList.FeatureRecord}
        assert {"locl", "vert", "vrt2"} <= gsub
        assert {"kern", "palt", "halt", "vhal", "vpal"} <= gpos
        langs = {ls.LangSysTag for sr in font["GSUB"].table.ScriptList.ScriptRecord
                 for ls in sr.Script.LangSysRecord}
        assert langs == {"ZHS ", "ZHT ", "ZHH "}     # JP/KR locl variants were dropped (test_langsys: TW/HK)


def _outline(font: TTFont, char: str):
    from fontTools.pens.recordingPen import DecomposingRecordingPen
    glyphs = font.getGlyphSet()
    pen = DecomposingRecordingPen(glyphs)
    glyphs[font.getBestCmap()[ord(char)]].draw(pen)
    return pen.value


@needs_noto
def test_shipped_serif_draws_the_sc_glyph_not_the_jp_one():
    shipped = load(fonts_dir() / "NotoSerifSC-Regular.otf")
    sc = load(SERIF_TTC, fontNumber=2, lazy=True)
    jp = load(SERIF_TTC, fontNumber=0, lazy=True)
    for char in "骨直":                               # shapes differ between the JP and SC standards
        assert _outline(sc, char) != _outline(jp, char)
        assert _outline(shipped, char) == _outline(sc, char)


# ---------------------------------------------------------------- the build script
def _build_script():
    spec = importlib.util.spec_from_file_location("build_fonts", REPO / "scripts" / "build_fonts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_noto
def test_build_script_picks_the_sc_face_by_name_and_renames_it():
    build = _build_script()
    index = build.find_face(SERIF_TTC, "NotoSerifCJKsc-Regular")
    assert load(SERIF_TTC, fontNumber=index, lazy=True)["name"].getDebugName(1) == "Noto Serif CJK SC"
    assert build.find_face(SANS_TTC, "NotoSansCJKsc-Regular") == index      # Mono faces come later
    # (build.chinese_only rewrites a whole face's GSUB: minutes; `build_fonts.py --check` and
    # test_langsys cover it, so the renaming is checked on a plain subset of the face)
    data = fonts.subset_face(SERIF_TTC, index, {ord(c) for c in "中文，。"},
                             name_ids=build.NAME_IDS)
    font = load(build.rename(data, "gb2312"))
    assert font["name"].getDebugName(1) == "Noto Serif CJK SC Subset"
    assert font["name"].getDebugName(6) == "NotoSerifCJKscSubset-Regular"
    assert "SIL Open Font License" in font["name"].getDebugName(13)
    assert set(font.getBestCmap()) == {ord(c) for c in "中文，。"}


# ---------------------------------------------------------------- per-book subsets
def test_seed_subset_payload_and_every_char_in_the_assigned_face(seed):
    text = seed.read_text(encoding="utf-8") + LABELS
    fontset = resolve_fonts(text, Options())
    started = time.perf_counter()
    embedded = subset_fonts(fontset, text)
    elapsed = time.perf_counter() - started
    payload = sum(len(f.data) for f in embedded)
    print(f"seed: {len(visible_chars(text))} characters, {len(embedded)} subsets, "
          f"{payload:,} bytes, {elapsed:.3f} s")
    assert payload <= 1_500_000
    by_name = {f.filename: f for f in embedded}
    assert {"fonts/serif-regular.otf", "fonts/serif-bold.otf", "fonts/sans-bold.otf"} <= set(by_name)
    cmaps = {name: cmap(f.data) for name, f in by_name.items()}
    for f in embedded:
        assert f.data[:4] == b"OTTO" and f.media_type == "font/otf"
        names = load(f.data, lazy=True)["name"]
        assert "Open Font License" in names.getDebugName(13)            # OFL: licence travels along
        assert "Adobe" in names.getDebugName(0)
    for role, weight in [("serif", 400), ("serif", 700), ("sans", 400), ("sans", 700)]:
        for cp in visible_chars(text):
            face = fontset.face_for(chr(cp), role, weight)
            assert face is not None, f"{chr(cp)} U+{cp:04X}"
            name = fontset_filename(fontset, face)
            assert cp in cmaps[name], f"{chr(cp)} U+{cp:04X} not in {name}"
    assert fontset.warnings == []


def fontset_filename(fontset: FontSet, face: FontFace) -> str:
    return next(name for name, f in fontset.files().items() if f == face)


def test_subset_keeps_vertical_forms_and_always_kept_punctuation():
    fontset = resolve_fonts("中文", Options())
    serif = next(f for f in subset_fonts(fontset, "中文，。") if f.filename == "fonts/serif-regular.otf")
    assert {ord(c) for c in "0123456789，。：“”（）《》"} <= cmap(serif.data)
    font = hb.Font(hb.Face(serif.data))
    glyphs = {}
    for direction in ("ltr", "ttb"):
        buf = hb.Buffer()
        buf.add_str("，")
        buf.guess_segment_properties()
        buf.direction = direction
        buf.language = "zh-Hans"
        hb.shape(font, buf, {})
        glyphs[direction] = buf.glyph_infos[0].codepoint
    assert glyphs["ltr"] != glyphs["ttb"]                     # the vert substitution survived


def test_no_embed_fonts_gives_no_subsets():
    fontset = resolve_fonts("中文", Options(embed_fonts=False))
    assert subset_fonts(fontset, "中文") == []


# ---------------------------------------------------------------- coverage check and fallback
@needs_noto
@needs_fc
def test_characters_beyond_the_shipped_set_come_from_system_noto():
    text = "正文\u9FEB\U0002000B"
    fontset = resolve_fonts(text, Options())
    assert fontset.warnings == [] and fontset.missing == []
    for ch in "\u9FEB\U0002000B":
        face = fontset.face_for(ch, "serif", 400)
        assert face.role == "fallback" and face.origin == "system"
        assert "Noto" in face.name and "CJK" in face.name
    embedded = {f.filename: f for f in subset_fonts(fontset, text)}
    fallback = [f for f in embedded.values() if f.family == "IE Fallback"]
    assert fallback and all({0x9FEB, 0x2000B} <= cmap(f.data) for f in fallback)
    assert 0x6B63 not in cmap(fallback[0].data)               # 正 comes from IE Serif, not the fallback


def test_character_nobody_has_gives_one_warning_with_its_code_point():
    uncovered = next(cp for cp in (0x20000, 0x2A6D6, 0x2B734, 0x3134A) if nobody_covers(cp))
    text = f"正文{chr(uncovered)}再{chr(uncovered)}"
    fontset = resolve_fonts(text, Options())
    assert fontset.missing == [uncovered]
    assert fontset.warnings == [f"no font covers 1 character: {chr(uncovered)} U+{uncovered:04X}"]
    assert subset_fonts(fontset, text)                         # no crash, the rest is still embedded


def test_without_fontconfig_our_own_faces_are_the_fallback(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))                 # no fc-list, no fc-match
    fonts._system_candidates.cache_clear()
    try:
        rare = gbk_only_char()
        fontset = resolve_fonts(f"{rare}\U00020000", Options())
        face = fontset.face_for(rare, "sans", 400)
        assert face.role == "fallback" and face.origin == "fonts/"
        assert fontset.missing == [0x20000] and len(fontset.warnings) == 1
    finally:
        fonts._system_candidates.cache_clear()


def test_whitespace_and_controls_need_no_glyph():
    assert visible_chars("a b\u3000\n\t\u200b\ufe0f\u00ad中") == {ord("a"), ord("b"), ord("中")}


# ---------------------------------------------------------------- options
@needs_noto
def test_font_option_with_a_ttc_face():
    fontset = resolve_fonts("中文标题", Options(font_serif=f"{SERIF_TTC}#2"))
    serif = [f for f in fontset.faces if f.role == "serif"]
    assert [(f.path, f.index, f.origin, f.weight) for f in serif] == [(SERIF_TTC, 2, "option", 400)]
    assert serif[0].name == "Noto Serif CJK SC"
    embedded = {f.filename: f for f in subset_fonts(fontset, "中文标题")}
    sub = load(embedded["fonts/serif-regular.otf"].data)
    assert sub["name"].getDebugName(1) == "Noto Serif CJK SC"
    assert {ord(c) for c in "中文标题"} <= set(sub.getBestCmap())
    whole = fontset.face_bytes(serif[0])                       # for WeasyPrint: one face, not the TTC
    assert whole[:4] == b"OTTO" and hb.Face(whole).count == 1


def test_font_option_with_a_single_font_file():
    path = fonts_dir() / "NotoSansSC-Bold.otf"
    fontset = resolve_fonts("中文", Options(font_sans=str(path)))
    assert [(f.path, f.weight) for f in fontset.faces if f.role == "sans"] == [(path, 700)]


@pytest.mark.parametrize("spec, reason", [
    ("/nonexistent/font.otf", "not found"),
    ("{dir}/NotoSerifSC-Regular.otf#3", "out of range"),
    ("{tmp}/notafont.otf", "not a TrueType/OpenType font"),
    ("{tmp}/font.woff2", "WOFF"),
])
def test_unusable_font_option_raises_font_error(spec, reason, tmp_path):
    (tmp_path / "notafont.otf").write_text("hello")
    (tmp_path / "font.woff2").write_bytes(b"wOF2" + bytes(40))
    spec = spec.format(dir=fonts_dir(), tmp=tmp_path)
    with pytest.raises(FontError, match=reason):
        resolve_fonts("中文", Options(font_serif=spec))


# ---------------------------------------------------------------- CSS
def test_font_face_css_for_embedded_subsets():
    css = font_face_css([EmbeddedFont("fonts/serif-bold.otf", "font/otf", b"", "IE Serif", 700),
                         EmbeddedFont("fonts/fallback-regular.ttf", "font/ttf", b"", "IE Fallback", 400,
                                      unicode_range="U+9FEB")],
                        lambda name: "../" + name)
    assert css.count("@font-face") == 2
    assert 'font-family: "IE Serif";' in css and "font-weight: 700;" in css
    assert 'src: url("../fonts/serif-bold.otf") format("opentype");' in css
    assert 'src: url("../fonts/fallback-regular.ttf") format("truetype");' in css
    assert "unicode-range: U+9FEB;" in css


def test_two_fallback_faces_of_one_weight_get_unicode_ranges_and_distinct_files():
    a = FontFace("fallback", 400, fonts_dir() / "NotoSerifSC-Regular.otf", origin="fonts/")
    b = FontFace("fallback", 400, fonts_dir() / "NotoSansSC-Bold.otf", origin="fonts/")
    fontset = FontSet(faces=[], fallback=[a, b], fallback_ranges={a: frozenset({0x4E2D}), b: frozenset({0x6587})})
    css = font_face_css(fontset, lambda name: "ie:" + name)
    assert "unicode-range: U+4E2D;" in css and "unicode-range: U+6587;" in css
    assert set(fontset.files()) == {"fonts/fallback-regular-1.otf", "fonts/fallback-regular-2.otf"}


# ---------------------------------------------------------------- WeasyPrint end to end
needs_poppler = pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler-utils is not installed")
PREFIX = "https://ie-fonts.invalid/"


def render_pdf(tmp_path: Path, fontset: FontSet, body: str) -> tuple[list[str], str, list[str]]:
    """WeasyPrint with our @font-face rules and a fetcher serving FontSet.file_bytes from memory
    → (pdffonts lines, pdftotext text, URLs served)."""
    import weasyprint
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    served = []

    class FontFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            data = fontset.file_bytes(url.removeprefix(PREFIX)) if url.startswith(PREFIX) else None
            if data is None:
                raise ValueError(f"not served: {url}")
            served.append(url)
            return URLFetcherResponse(url, data, {"Content-Type": "font/otf"})

    html = f"""<html lang="zh-CN"><head><style>{font_face_css(fontset, lambda n: PREFIX + n)}
      body {{ font-family: "IE Serif", "IE Fallback", serif; }}
      h1 {{ font-family: "IE Sans", "IE Fallback", sans-serif; font-weight: 700; }}
    </style></head><body>{body}</body></html>"""
    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(weasyprint.HTML(string=html, url_fetcher=FontFetcher()).write_pdf())
    fonts_out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return fonts_out.splitlines()[2:], text, served


def assert_embedded_subsets(lines: list[str]) -> None:
    assert lines
    for line in lines:
        assert "Type 3" not in line
        assert line.split()[-5:-3] == ["yes", "yes"], line              # emb yes, sub yes


@needs_poppler
def test_weasyprint_embeds_subset_fonts_served_from_memory(tmp_path):
    title = "采访：人工智能的未来"
    para = "他说：“我们需要更多的数据，而不是更大的模型。”ABC 123"
    fontset = resolve_fonts(title + para + "粗体", Options())
    lines, text, served = render_pdf(tmp_path, fontset, f"<h1>{title}</h1><p>{para}</p><p><b>粗体</b></p>")
    assert served
    names = [line.split()[0] for line in lines]
    assert any(n.endswith("+IE-Serif") for n in names) and any(n.endswith("+IE-Sans-Bold") for n in names)
    assert any(n.endswith("+IE-Serif-Bold") for n in names)
    assert_embedded_subsets(lines)
    assert title in text and para in text and "粗体" in text


@needs_poppler
@needs_noto
@needs_fc
def test_weasyprint_draws_fallback_characters_and_keeps_uncovered_ones(tmp_path):
    uncovered = next(cp for cp in (0x20000, 0x2A6D6, 0x2B734, 0x3134A) if nobody_covers(cp))
    para = f"罕见字\u9FEB与\U0002000B，无字形{chr(uncovered)}。"
    fontset = resolve_fonts(para, Options())
    assert fontset.missing == [uncovered] and len(fontset.warnings) == 1
    lines, text, _ = render_pdf(tmp_path, fontset, f"<p>{para}</p>")
    assert any(line.split()[0].endswith("+IE-Fallback") for line in lines)
    assert_embedded_subsets(lines)
    assert para in text                           # nothing dropped, not even the .notdef character


def test_generated_text_the_resolver_did_not_see_is_warned_about_too():
    uncovered = next(cp for cp in (0x20000, 0x2A6D6, 0x2B734, 0x3134A) if nobody_covers(cp))
    fontset = resolve_fonts("正文", Options())
    assert fontset.warnings == []
    subset_fonts(fontset, f"正文 目录 {chr(uncovered)}")
    assert fontset.missing == [uncovered]
    assert len(fontset.warnings) == 1 and f"U+{uncovered:04X}" in fontset.warnings[0]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SLOW") != "1", reason="SLOW=1: rebuilds all four faces (minutes)")
@needs_noto
def test_fonts_folder_is_exactly_what_the_build_script_makes(tmp_path):
    assert _build_script().main(["--out", str(tmp_path)]) == 0        # 0: within the size budget
    for name in fonts.SHIPPED.values():
        assert (tmp_path / name).read_bytes() == (fonts_dir() / name).read_bytes(), name


def test_epubcheck_accepts_the_embedded_subset_and_its_media_type(tmp_path):
    import zipfile

    fontset = resolve_fonts("中文测试", Options())
    embedded = subset_fonts(fontset, "中文测试")
    css = font_face_css(embedded, lambda name: "../" + name) + 'body { font-family: "IE Serif", serif; }'
    items = "".join(f'<item id="f{i}" href="{f.filename}" media-type="{f.media_type}"/>'
                    for i, f in enumerate(embedded))
    opf = f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id" xml:lang="zh-CN">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">urn:uuid:12345678-1234-1234-1234-123456789abc</dc:identifier>
<dc:title>测试</dc:title><dc:language>zh-CN</dc:language><meta property="dcterms:modified">2026-01-01T00:00:00Z</meta></metadata>
<manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
<item id="css" href="css/book.css" media-type="text/css"/>{items}</manifest><spine><itemref idref="nav"/></spine></package>"""
    nav = """<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" xml:lang="zh-CN" lang="zh-CN">
<head><title>测试</title><link rel="stylesheet" href="css/book.css"/></head>
<body><nav epub:type="toc"><ol><li><a href="nav.xhtml">中文测试</a></li></ol></nav></body></html>"""
    path = tmp_path / "t.epub"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        z.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" '
                   'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile '
                   'full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>')
        z.writestr("OEBPS/content.opf", opf)
        z.writestr("OEBPS/nav.xhtml", nav)
        z.writestr("OEBPS/css/book.css", css)
        for f in embedded:
            z.writestr(f"OEBPS/{f.filename}", f.data)
    (errors, warnings, messages), = epubcheck([path])   # the session's EPUBCheck JVM
    assert (errors, warnings) == (0, 0), messages


@needs_noto
@needs_fc
def test_without_fonts_folder_the_system_sc_faces_are_used(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "fonts_dir", lambda: tmp_path)          # an empty fonts/
    fontset = resolve_fonts("中文标题", Options())
    assert {(f.role, f.weight) for f in fontset.faces} == {("serif", 400), ("serif", 700),
                                                          ("sans", 400), ("sans", 700)}
    for face in fontset.faces:
        assert face.origin == "system" and face.name == f"Noto {face.role.title()} CJK SC"
    assert fontset.warnings == []


def test_no_fonts_anywhere_warns_once_and_does_not_crash(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "fonts_dir", lambda: tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    fonts._system_candidates.cache_clear()
    try:
        fontset = resolve_fonts("中文", Options())
        assert fontset.faces == [] and fontset.missing == [ord("中"), ord("文")]
        assert [w for w in fontset.warnings if "no font covers" in w] == \
            ["no font covers 2 characters: 中 U+4E2D, 文 U+6587"]
        assert subset_fonts(fontset, "中文") == []
        assert font_face_css(fontset, str) == ""
    finally:
        fonts._system_candidates.cache_clear()


def test_fontconfig_weights_and_charsets_are_parsed():
    assert fonts._fc_weight("200") == 200 and fonts._fc_weight("[0 210]") == 80
    assert fonts._parse_charset("20-22 4e00 zz") == frozenset({0x20, 0x21, 0x22, 0x4E00})


ALPHABET = ("中文标题采访镕喆堃鿫，。「」“”ABCabc123 \n\t\u3000\u200b\ufe0f\u00ad①Ⅻ→■♪é€😀\U0002000B\U00020000"
            "\ue000ありがとう한국어")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=ALPHABET, max_size=40))
def test_any_text_resolves_and_subsets_without_tofu_or_crash(text):
    fontset = resolve_fonts(text, Options())
    embedded = {f.filename: cmap(f.data) for f in subset_fonts(fontset, text)}
    for cp in visible_chars(text):
        if cp in fontset.missing:
            assert f"U+{cp:04X}" in " ".join(fontset.warnings)
            continue
        for role, weight in [("serif", 400), ("serif", 700), ("sans", 400), ("sans", 700)]:
            face = fontset.face_for(chr(cp), role, weight)
            assert face is not None and cp in embedded[fontset_filename(fontset, face)]
    assert sum("no font covers" in w for w in fontset.warnings) <= 1
    for face in fontset.fallback:                       # upright faces, e.g. not DejaVu Sans Bold Oblique
        assert not italic(face), face


def italic(face: FontFace) -> bool:
    os2 = hb.Face(hb.Blob.from_file_path(str(face.path)), face.index).reference_table("OS/2").data
    return bool(int.from_bytes(os2[62:64], "big") & 0x201)     # fsSelection ITALIC | OBLIQUE


@needs_noto
@needs_fc
def test_fallback_matches_the_look_of_the_faces_with_gaps_and_takes_the_real_bold():
    only_sans_lacks = resolve_fonts(gbk_only_char(), Options())   # in our serif faces, not in sans 400
    assert [f.name for f in only_sans_lacks.fallback] == ["Noto Sans CJK SC", "Noto Sans CJK SC"]
    serif_lacks = resolve_fonts("\U0002000B", Options())
    assert [f.name for f in serif_lacks.fallback] == ["Noto Serif CJK SC", "Noto Serif CJK SC"]
    weights = [fonts._face_info(str(f.path), f.index)[2] for f in serif_lacks.fallback]
    assert weights == [400, 700]                              # Bold, not SemiBold (fontconfig 180)


def test_epub_and_pdf_of_one_book_cut_each_face_once(tmp_path, monkeypatch):
    from interview_export import api

    cut = []
    subset = fonts.subset_face

    def counting(path, index, unicodes, **kwargs):
        cut.append((str(path), index))
        return subset(path, index, unicodes, **kwargs)

    monkeypatch.setattr(fonts, "subset_face", counting)
    fonts.book_subset.cache_clear()
    src = tmp_path / "book.md"
    src.write_text("# 小访谈\n\n**主持人**：你好，今天聊聊排版。\n\n**嘉宾**：谢谢邀请。\n", encoding="utf-8")
    [result] = api.convert([str(src)], ("epub", "pdf"), jobs=1)
    assert result.ok, result.error
    assert cut and len(cut) == len(set(cut))        # every face subset once, shared by both books
