"""util.py: the shared small rules (XML-forbidden characters, CJK width, atomic replacement, the date)."""

from __future__ import annotations

import os
import shutil

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


@pytest.fixture
def fresh_paths(monkeypatch):
    """No path remembered as unchangeable from another test (util._replaceable checks each once)."""
    monkeypatch.setattr(util, "_UNCHANGEABLE", {})


def test_missing_folders_above_are_made_the_users_own_too(tmp_path, fresh_paths):
    assert util.foreign_folder(tmp_path / "a" / "b" / "c", make=True) == ""
    assert [(tmp_path / p).stat().st_mode & 0o777 for p in ("a", "a/b", "a/b/c")] == [0o700] * 3


@pytest.mark.parametrize("mode", [0o777, 0o757, 0o1777])
def test_a_folder_inside_one_others_can_write_is_foreign(tmp_path, fresh_paths, mode):
    """In /tmp/evil/cache, whoever can write /tmp/evil can rename `cache` away and put their own in
    its place: the folder is as foreign as if they could write it. A sticky folder (as /tmp) lets
    them rename only their own entries."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    cache = shared / "xdg" / "interview-export" / "engine"
    expected = "" if mode & 0o1000 else f"others can write {shared}"
    assert util.foreign_folder(cache, make=True) == expected
    util._UNCHANGEABLE.clear()
    assert util.foreign_folder(cache) == expected
    (tmp_path / "link").symlink_to(cache)           # the same through a symlink of ours
    assert util.foreign_folder(tmp_path / "link") == expected
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    (shared / "to-mine").symlink_to(mine)          # a symlink in the folder others can write
    assert util.foreign_folder(shared / "to-mine") == expected


def test_a_group_writable_folder_above_is_foreign_unless_the_group_is_the_users_own(tmp_path, fresh_paths,
                                                                                     monkeypatch):
    shared = tmp_path / "group"
    (shared / "cache").mkdir(parents=True, mode=0o700)
    shared.chmod(0o770)
    monkeypatch.setattr(util, "_private_group", lambda gid, uid: False)
    assert util.foreign_folder(shared / "cache") == f"others can write {shared}"
    monkeypatch.setattr(util, "_private_group", lambda gid, uid: True)   # umask 002, a user private group
    assert util.foreign_folder(shared / "cache") == ""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a file away")
def test_a_folder_or_symlink_of_another_user_on_the_way_is_foreign(tmp_path, fresh_paths):
    other = 65534   # nobody
    theirs = tmp_path / "theirs"
    (theirs / "cache").mkdir(parents=True, mode=0o700)
    os.chown(theirs, other, -1)
    assert util.foreign_folder(theirs / "cache") == f"{theirs} belongs to another user"
    sticky = tmp_path / "tmp"
    (sticky / "mine").mkdir(parents=True, mode=0o700)
    sticky.chmod(0o1777)
    (sticky / "link").symlink_to(sticky / "mine")
    assert util.foreign_folder(sticky / "link") == ""
    util._UNCHANGEABLE.clear()
    os.lchown(sticky / "link", other, -1)          # in a sticky folder its owner may replace it
    assert util.foreign_folder(sticky / "link") == f"{sticky / 'link'} belongs to another user"
    os.chown(sticky / "mine", other, -1)
    os.chmod(sticky / "mine", 0o700)
    assert util.foreign_folder(sticky / "mine").endswith("belongs to another user")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a file away")
def test_root_s_folders_seen_from_a_user_namespace_that_does_not_map_root_are_not_foreign(tmp_path, fresh_paths,
                                                                                         monkeypatch):
    """In flatpak, bwrap or a rootless container (a user namespace mapping the user's uid, not
    root), root's folders on the way (/, /home, /tmp) show the kernel's overflow owner, 'nobody':
    not another user to refuse (every book warned 'cached renditions are not used'); outside such a
    namespace, nobody is as foreign as anyone. (A real namespace: 'unshare' mapping uid 1000 only,
    XDG_CACHE_HOME under a folder of uid 1000's → '/ belongs to another user' before.)"""
    overflow = tmp_path / "overflowuid"
    overflow.write_text("65534\n")
    uid_map = tmp_path / "uid_map"
    monkeypatch.setattr(util, "_USERNS_FILES", (str(uid_map), str(overflow)))
    home = tmp_path / "home"
    (home / "me" / "cache").mkdir(parents=True, mode=0o700)
    os.chown(home, 65534, -1)
    for mapping, expected in (("         0          0 4294967295\n", f"{home} belongs to another user"),
                              ("      1000       1000          1\n", ""),
                              ("         0       1000          1\n         1     100000      65536\n", "")):
        uid_map.write_text(mapping)
        util._UNCHANGEABLE.clear()
        util._hidden_root.cache_clear()
        assert util.foreign_folder(home / "me" / "cache") == expected, mapping
    tmp = tmp_path / "tmp"             # /tmp seen from the namespace: nobody's, sticky
    (tmp / "mine").mkdir(parents=True, mode=0o700)
    (tmp / "theirs").mkdir(mode=0o700)
    os.chown(tmp / "theirs", 65534, -1)   # another user's entry shows nobody too: still foreign
    os.chown(tmp, 65534, -1)
    tmp.chmod(0o1777)
    util._UNCHANGEABLE.clear()
    assert util.foreign_folder(tmp / "mine") == ""
    assert util.foreign_folder(tmp / "theirs") == f"{tmp / 'theirs'} belongs to another user"
    home.chmod(0o777)                  # writable by others: foreign whoever owns it
    util._UNCHANGEABLE.clear()
    assert util.foreign_folder(home / "me" / "cache") == f"others can write {home}"


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


def test_a_folder_made_again_where_a_remembered_one_was_is_judged_as_it_is_now(tmp_path, fresh_paths):
    """_replaceable remembers the folders it walked (with their stat) so that keys/ beside engine/ costs
    one lstat. A folder removed since (a temp cleaner, rm -r) and made again, now open to others, is
    judged by the folder there now, not by the stat of the one it replaced: for the path checked before
    and for a folder beside it (fails: both trusted)."""
    base = tmp_path / "xdg" / "interview-export"
    assert util.foreign_folder(base / "engine", make=True) == ""
    shutil.rmtree(tmp_path / "xdg")
    (base / "engine").mkdir(parents=True, mode=0o700)
    base.chmod(0o777)
    (base / "keys").mkdir(mode=0o700)
    assert util.foreign_folder(base / "keys") == f"others can write {base}"
    assert util.foreign_folder(base / "engine") == f"others can write {base}"
