"""util.py: the shared small rules (XML-forbidden characters, CJK width, atomic replacement, the date)."""

from __future__ import annotations

import os

import pytest

from interview_export import util


def test_xml_forbidden_characters():
    assert util.XML_FORBIDDEN.findall("a\x00b\x1fc\td\ne\rf\ufffeg\ud800") == ["\x00", "\x1f", "\ufffe", "\ud800"]


@pytest.mark.parametrize("ch, wide", [("中", True), ("，", True), ("ア", True), ("한", True), ("Ａ", True),
                                      ("a", False), ("·", False), ("", False), (" ", False)])
def test_is_wide(ch, wide):
    assert util.is_wide(ch) is wide


def test_replace_atomically_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "entry.bin"
    target.write_bytes(b"old")
    active: set[str] = set()

    def broken_replace(src, dst):
        assert active == {src} and os.path.exists(src)      # the temp file is known while it exists
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        util.replace_atomically(target, b"new", prefix=".tmp-", suffix=".bin", active=active)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["entry.bin"]
    assert active == set()


def test_replace_atomically_writes_with_the_mode_asked(tmp_path):
    target = tmp_path / "book.epub"
    util.replace_atomically(target, b"data", prefix=".book.", suffix=".tmp", durable=True, mode=0o640)
    assert target.read_bytes() == b"data" and target.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("env, option, expected, undated, warned", [
    (None, None, 1714953600, util.FALLBACK_EPOCH, False),     # the document's date, 2024-05-06
    ("1700000000", None, 1700000000, 1700000000, False),
    ("1700000000", 5, 5, 5, False),                           # the option wins
    ("17e8", None, 1714953600, util.FALLBACK_EPOCH, True),
    (" 1700000000 ", None, 1700000000, 1700000000, False),
])
def test_book_epoch(monkeypatch, env, option, expected, undated, warned):
    if env is None:
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    else:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", env)
    epoch, warning = util.book_epoch("2024-05-06", option)
    assert epoch == expected and bool(warning) is warned
    assert util.book_epoch("", option)[0] == undated


def test_foreign_folder_makes_a_missing_folder_only_when_asked(tmp_path):
    missing = tmp_path / "a" / "b"
    assert "No such file" in util.foreign_folder(missing) and not missing.exists()
    assert util.foreign_folder(missing, make=True) == ""
    assert missing.is_dir() and missing.stat().st_mode & 0o777 == 0o700
    (tmp_path / "file").write_text("x")
    assert util.foreign_folder(tmp_path / "file", make=True).endswith("is not a folder")
    missing.chmod(0o777)
    assert util.foreign_folder(missing, make=True).startswith("others can write")


@pytest.mark.parametrize("xdg", ["{tmp}/xdg", "relative/xdg", "", " ", None])
def test_user_cache_dir_is_platformdirs_folder(xdg, tmp_path, monkeypatch):
    """The image cache (images/, keys/) and the engine cache (engine/, fonts/) are in the folder
    platformdirs gives, worked out without it: an XDG_CACHE_HOME that is not an absolute path is
    not used."""
    import platformdirs

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg.format(tmp=tmp_path))
    assert util.user_cache_dir("keys") == platformdirs.user_cache_path("interview-export", appauthor=False) / "keys"
    monkeypatch.delenv(util.ENGINE_CACHE_SWITCH, raising=False)
    assert util.engine_cache_dir("fonts") == util.user_cache_dir("fonts")
