"""Regional glyph forms: the shipped faces keep the Taiwan (ZHT) and Hong Kong (ZHH) `locl` forms, and a
per-book subset carries only its own language's forms (langsys.py)."""

from __future__ import annotations

import io
import os
import time
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


# ---------------------------------------------------------------- the patched font kept in the user cache
def _sans_bold() -> str:
    return str(fonts_dir() / fonts.SHIPPED[("sans", 700)])


def test_the_patched_font_is_kept_and_mapped_from_the_store_next_time(tmp_path, monkeypatch):
    path, store = _sans_bold(), tmp_path / "engine"
    with langsys.langsys_file(path, b"ZHT ", store=store) as name:
        assert Path(name).parent == store
        assert Path(name).read_bytes() == langsys.font_for_langsys(path, b"ZHT ")
    kept = sorted(store.glob("langsys-*"))
    assert [p.name for p in kept] == [Path(name).name] and kept[0].stat().st_mode & 0o777 == 0o600

    def no_copy(*args, **kwargs):
        raise AssertionError("copied again")

    monkeypatch.setattr(langsys.os, "sendfile", no_copy)
    with langsys.langsys_file(path, b"ZHT ", store=store) as again:
        assert again == name
    monkeypatch.undo()
    with langsys.langsys_file(path, b"ZHS ", store=store) as other:   # another system: its own file
        assert isinstance(other, str) and other != name
        assert Path(other).read_bytes() == langsys.font_for_langsys(path, b"ZHS ")


def test_a_changed_or_damaged_font_file_gets_a_new_copy(tmp_path):
    font, store = tmp_path / "Face.otf", tmp_path / "engine"
    font.write_bytes(Path(_sans_bold()).read_bytes())
    with langsys.langsys_file(str(font), b"ZHT ", store=store) as first:
        pass
    Path(first).write_bytes(b"truncated")                  # damaged: the size no longer matches
    with langsys.langsys_file(str(font), b"ZHT ", store=store) as again:
        assert again == first and Path(again).read_bytes() == langsys.font_for_langsys(str(font), b"ZHT ")
    data = bytearray(font.read_bytes())
    data[-1] ^= 1                                           # same size, other bytes: a new name
    font.write_bytes(bytes(data))
    with langsys.langsys_file(str(font), b"ZHT ", store=store) as changed:
        assert changed != first and Path(changed).read_bytes() == langsys.font_for_langsys(str(font), b"ZHT ")
    assert [p.name for p in store.glob("langsys-*")] == [Path(changed).name]   # the older copy went


def test_two_installations_keep_their_own_copies(tmp_path, monkeypatch):
    """Two copies of a face at two paths (a checkout and an installed package) do not evict each
    other's patched copy: used in turn, neither is written again."""
    store, data = tmp_path / "engine", Path(_sans_bold()).read_bytes()
    paths = []
    for place in ("one", "two"):
        (tmp_path / place).mkdir()
        (tmp_path / place / "Face.otf").write_bytes(data)
        paths.append(str(tmp_path / place / "Face.otf"))
    names = []
    for path in paths:
        with langsys.langsys_file(path, b"ZHT ", store=store) as name:
            names.append(name)
    assert len(set(names)) == 2 and sorted(str(p) for p in store.glob("langsys-*")) == sorted(names)

    def no_copy(*args, **kwargs):
        raise AssertionError("copied again")

    monkeypatch.setattr(langsys.os, "sendfile", no_copy)
    for path, name in zip(paths * 2, names * 2):
        with langsys.langsys_file(path, b"ZHT ", store=store) as again:
            assert again == name


def test_copies_of_font_files_that_are_gone_are_removed(tmp_path):
    """Copies made from a font file that no longer exists (a removed checkout, venv or temp folder)
    go when the next copy is written; those of files still there stay. Before, every installation
    path left ~30 MB in the user's cache for ever."""
    store, data = tmp_path / "engine", Path(_sans_bold()).read_bytes()
    names = {}
    for place in ("gone", "kept", "new"):
        (tmp_path / place).mkdir()
        (tmp_path / place / "Face.otf").write_bytes(data)
    for place in ("gone", "kept"):
        with langsys.langsys_file(str(tmp_path / place / "Face.otf"), b"ZHT ", store=store) as names[place]:
            pass
    (tmp_path / "gone" / "Face.otf").unlink()
    (tmp_path / "gone").rmdir()
    leftover = store / ".tmp-killed-writer.otf"              # a writer killed before its rename
    leftover.write_bytes(b"half")
    os.utime(leftover, (1, 1))
    with langsys.langsys_file(str(tmp_path / "new" / "Face.otf"), b"ZHT ", store=store) as names["new"]:
        pass
    assert sorted(p.name for p in store.glob("langsys-*")) == sorted(Path(names[k]).name for k in ("kept", "new"))
    assert not leftover.exists()
    assert len(list(store.glob("source-*"))) == 2             # what each kept copy was made from


def test_a_store_others_can_write_is_not_used(tmp_path):
    """A kept copy in a folder someone else could write (a shared XDG_CACHE_HOME) could be their font
    under our name and size: such a store is neither read nor written, the in-memory copy is used."""
    store, path = tmp_path / "fonts", _sans_bold()
    with langsys.langsys_file(path, b"ZHT ", store=store) as kept:
        pass
    store.chmod(0o777)
    Path(kept).write_bytes(b"\0" * Path(kept).stat().st_size)          # planted: same name, same size
    with langsys.langsys_file(path, b"ZHT ", store=store) as patched:
        assert patched != kept
        data = patched if isinstance(patched, bytes) else Path(patched).read_bytes()
    assert data == langsys.font_for_langsys(path, b"ZHT ")


def test_a_store_under_a_folder_others_can_write_is_not_used(tmp_path, monkeypatch):
    """The store itself ours and 0700, but in a folder anyone can write (not sticky): whoever can
    write it could swap the store for theirs, so it is not used (the copy in memory, as before)."""
    from interview_export import util

    monkeypatch.setattr(util, "_UNCHANGEABLE", {})
    shared = tmp_path / "shared"
    (shared / "fonts").mkdir(parents=True, mode=0o700)
    shared.chmod(0o777)
    with langsys.langsys_file(_sans_bold(), b"ZHT ", store=shared / "fonts") as name:
        assert isinstance(name, bytes) or not name.startswith(str(shared))
    assert not list((shared / "fonts").iterdir())


def test_a_store_that_cannot_be_written_falls_back_to_the_copy(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    path = _sans_bold()
    with langsys.langsys_file(path, b"ZHT ", store=blocked / "engine") as patched:
        data = patched if isinstance(patched, bytes) else Path(patched).read_bytes()
        assert isinstance(patched, bytes) or not patched.startswith(str(tmp_path))
    assert data == langsys.font_for_langsys(path, b"ZHT ")
    assert not any(tmp_path.glob("**/*.otf"))


def test_the_engine_cache_folder_follows_xdg_and_the_switch(tmp_path, monkeypatch):
    from interview_export import util

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(util.ENGINE_CACHE_SWITCH, raising=False)
    assert util.engine_cache_dir("fonts") == tmp_path / "interview-export" / "fonts"
    monkeypatch.setenv(util.ENGINE_CACHE_SWITCH, "0")
    assert util.engine_cache_dir("fonts") is None


def _no_reading(monkeypatch):
    """The kept copy may be neither read (compared) nor written again."""
    def refused(*args, **kwargs):
        raise AssertionError("read or copied again")

    monkeypatch.setattr(langsys.os, "preadv", refused)
    monkeypatch.setattr(langsys.os, "sendfile", refused)


@pytest.mark.parametrize("damage", ["truncated and padded", "one byte", "zeroed table"])
def test_a_damaged_copy_of_the_same_size_is_found_and_written_again(tmp_path, monkeypatch, damage):
    """Name and size are not enough: a copy cut short and padded back, or with other bytes, is
    compared with the font file before use (no stamp yet, or a change since the stamp)."""
    monkeypatch.setattr(langsys, "STAMP_AFTER_NS", 50_000_000)
    path, store = _sans_bold(), tmp_path / "fonts"
    right = langsys.font_for_langsys(path, b"ZHT ")
    with langsys.langsys_file(path, b"ZHT ", store=store) as kept:
        pass
    time.sleep(0.06)
    with langsys.langsys_file(path, b"ZHT ", store=store) as again:   # compared once, then stamped
        assert again == kept
    assert (store / f"ok-{Path(kept).name}").is_symlink()
    with monkeypatch.context() as m:
        _no_reading(m)
        with langsys.langsys_file(path, b"ZHT ", store=store) as again:   # stamped: not read at all
            assert again == kept
    data = bytearray(right)
    if damage == "truncated and padded":
        data[len(data) // 2:] = bytes(len(data) - len(data) // 2)
    elif damage == "one byte":
        data[len(data) // 3] ^= 0x40
    else:
        at = langsys._table_offset(right, b"GSUB")
        data[at:at + 4096] = bytes(4096)
    time.sleep(0.06)
    with open(kept, "r+b") as f:        # in place, as a disk tool or a stray write would
        f.write(data)
    for _ in range(2):
        with langsys.langsys_file(path, b"ZHT ", store=store) as again:
            assert again == kept and Path(again).read_bytes() == right


def test_a_copy_kept_before_stamps_is_compared_once_not_written_again(tmp_path, monkeypatch):
    monkeypatch.setattr(langsys, "STAMP_AFTER_NS", 50_000_000)
    path, store = _sans_bold(), tmp_path / "fonts"
    with langsys.langsys_file(path, b"ZHS ", store=store) as kept:
        pass
    assert not list(store.glob("ok-*"))          # just written: too young to stamp
    time.sleep(0.06)
    compared = []
    real = os.preadv
    monkeypatch.setattr(langsys.os, "preadv", lambda *a: compared.append(1) or real(*a))
    monkeypatch.setattr(langsys.os, "sendfile", lambda *a: pytest.fail("written again"))
    for _ in range(3):
        with langsys.langsys_file(path, b"ZHS ", store=store) as again:
            assert again == kept
    assert compared and len(compared) == 2 * -(-Path(kept).stat().st_size // (1 << 20))   # one pass
    assert [p.name for p in store.glob("ok-*")] == [f"ok-{Path(kept).name}"]


def test_without_preadv_a_damaged_copy_is_found_all_the_same(tmp_path, monkeypatch):
    monkeypatch.delattr(langsys.os, "preadv", raising=False)
    path, store = _sans_bold(), tmp_path / "fonts"
    with langsys.langsys_file(path, b"ZHT ", store=store) as kept:
        pass
    size = Path(kept).stat().st_size
    with open(kept, "r+b") as f:
        f.truncate(size // 2)
        f.truncate(size)                       # cut short, padded back with zeros
    with langsys.langsys_file(path, b"ZHT ", store=store) as again:
        assert again == kept and Path(again).read_bytes() == langsys.font_for_langsys(path, b"ZHT ")


def test_a_copy_swapped_in_after_the_compare_is_not_stamped(tmp_path, monkeypatch):
    """The stamp is of the file compared (fstat of the open copy), not of whatever the name leads
    to a moment later: a damaged copy renamed into place right after the compare is found and
    written again by the next run (a fresh stat would have stamped it as checked)."""
    monkeypatch.setattr(langsys, "STAMP_AFTER_NS", 50_000_000)
    path, store = _sans_bold(), tmp_path / "fonts"
    right = langsys.font_for_langsys(path, b"ZHT ")
    with langsys.langsys_file(path, b"ZHT ", store=store) as kept:
        pass
    damaged = store / "damaged"
    damaged.write_bytes(right[: len(right) // 2] + bytes(len(right) - len(right) // 2))
    time.sleep(0.06)                     # both old enough to stamp
    real = langsys._same_as_patched

    def compare_then_swap(*args):
        same = real(*args)
        os.replace(damaged, kept)        # between the compare and the stamp
        time.sleep(0.06)                 # the swapped-in file old enough to stamp too
        return same

    with monkeypatch.context() as m:
        m.setattr(langsys, "_same_as_patched", compare_then_swap)
        with langsys.langsys_file(path, b"ZHT ", store=store) as again:
            assert again == kept
    with langsys.langsys_file(path, b"ZHT ", store=store) as again:
        assert again == kept and Path(again).read_bytes() == right
