"""Small rules several stages share → one place: XML-safe text, CJK width and script, the language
guess, atomic file replacement, the user's cache folders, the book's date (SOURCE_DATE_EPOCH)."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
import re
import stat
import sys
import tempfile
import unicodedata
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Callable

#: Characters XML 1.0 forbids (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF): the
#: reader drops them from the text (with a warning), the renderer from anything it escapes.
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

FALLBACK_EPOCH = 946684800          # 2000-01-01T00:00:00Z: no SOURCE_DATE_EPOCH and no document date
_MAX_EPOCH = 253402300799           # 9999-12-31T23:59:59Z: the last second a date can show
_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def is_wide(ch: str) -> bool:
    """True for a full-width character (East Asian Width W or F: CJK ideographs, kana, hangul,
    full-width punctuation); False for "" and everything else."""
    return bool(ch) and unicodedata.east_asian_width(ch) in "WF"


def is_cjk(ch: str) -> bool:
    """True for a letter of a CJK script: Han (BMP, Extension A, planes 2), kana, hangul syllables,
    CJK compatibility ideographs."""
    o = ord(ch)
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2FFFF
            or 0x3040 <= o <= 0x30FF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF)


def detect_language(text: str) -> str:
    """Dominant script of the text → BCP 47 tag: zh-CN for Han (zh-Hant when written in Traditional
    characters), ja for kana, ko for Hangul, en for other letters, "" for text without letters.
    The reader stores it in Meta.language when the document names no language."""
    han = kana = hangul = latin = 0
    for ch, n in Counter(text[:200_000]).items():   # each distinct character once (~10× fewer)
        o = ord(ch)
        if 0x3040 <= o <= 0x30FF:
            kana += n
        elif 0xAC00 <= o <= 0xD7AF:
            hangul += n
        elif 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2FFFF:
            han += n
        elif ch.isalpha() and unicodedata.category(ch).startswith("L"):
            latin += n
    if kana and kana * 5 >= han:
        return "ja"
    if hangul and hangul >= han:
        return "ko"
    if han and han * 16 >= latin:  # one Han character carries several letters' worth of text
        # imported here: util imports nothing of ours (dataclass_code reads the engine cache with it)
        from .hanzi import is_traditional_text

        return "zh-Hant" if is_traditional_text(text[:200_000]) else "zh-CN"
    return "en" if latin else ""


def replace_atomically(path: Path, data: bytes | Callable[[int], None], *, prefix: str, suffix: str,
                       durable: bool = False, mode: int | None = None, active: set[str] | None = None) -> None:
    """Write `data` to a temp file beside `path`, then ``os.replace`` it over `path`: readers see
    the old file or the new one, never half of one. `data` is the bytes, or a function that fills
    the open temp file given its descriptor. The temp file is removed on any failure
    (KeyboardInterrupt too) and the error re-raised. `durable` fsyncs the data before the rename;
    `mode` is chmod-ed on the temp file; `active` holds the temp file's name while it exists (so a
    signal handler can remove it)."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    if active is not None:
        active.add(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle.fileno())
            else:
                handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        if active is not None:
            active.discard(tmp)


ENGINE_CACHE_SWITCH = "INTERVIEW_EXPORT_ENGINE_CACHE"   # "0": the engine cache is neither read nor written


def user_cache_dir(name: str) -> Path:
    """Folder `name` in the user's cache folder, platformdirs' ``user_cache_path("interview-export")``
    (on Linux ``$XDG_CACHE_HOME`` when it is an absolute path, else ``~/.cache``: worked out here,
    without importing platformdirs, ~2 ms): the image cache's ``images/`` and ``keys/``, the engine's
    ``engine/`` and ``fonts/``."""
    if sys.platform.startswith("linux"):
        root = os.environ.get("XDG_CACHE_HOME", "")
        if not os.path.isabs(root):
            root = os.path.expanduser("~/.cache")
        return Path(root) / "interview-export" / name
    import platformdirs

    return platformdirs.user_cache_path("interview-export", appauthor=False) / name


def engine_cache_dir(name: str) -> Path | None:
    """:func:`user_cache_dir` `name` for what the engine derives from installed files alone, never
    from a book (cffi tables in ``engine/``, patched fonts in ``fonts/``); None when
    INTERVIEW_EXPORT_ENGINE_CACHE=0."""
    if os.environ.get(ENGINE_CACHE_SWITCH, "").strip() == "0":
        return None
    return user_cache_dir(name)


def foreign_folder(path: Path, *, make: bool = False) -> str:
    """Why the engine cache folder `path` is not trusted as this user's own ("" when it is): it
    must be a folder of this user's that no one else can write (a shared ``XDG_CACHE_HOME``, or a
    folder someone else made first, could hold their cffi tables or fonts under our names), on a
    path no one else can change (:func:`_replaceable`: in ``/tmp/evil/cache``, whoever can write
    ``/tmp/evil`` could rename our folder away and put theirs in its place).
    `make`: a missing one is made first (mode 0700, the missing folders above it too)."""
    try:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            if not make:
                raise
            for folder in reversed([path, *itertools.takewhile(lambda p: not p.exists(), path.parents)]):
                folder.mkdir(mode=0o700, exist_ok=True)
            info = os.stat(path)
        if not stat.S_ISDIR(info.st_mode):
            return f"{path} is not a folder"
        return _not_own(path, info) or _replaceable(path)
    except OSError as exc:
        return str(exc)


def read_own_file(path: Path) -> bytes:
    """The bytes of `path` when it is a regular file of this user's that no one else can write (what
    the engine cache runs or hands to C), opened without following a symlink or waiting on a FIFO;
    else OSError (PermissionError saying why)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as handle:
        info = os.fstat(fd)
        refused = _not_own(path, info) if stat.S_ISREG(info.st_mode) else f"{path} is not a regular file"
        if refused:
            raise PermissionError(refused)
        return handle.read()


def _not_own(path: Path, info: os.stat_result) -> str:
    """Why `path` (as `info` shows it) is not this user's alone ("" when it is): another owner, or
    others can write it."""
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return f"{path} belongs to another user"
    if info.st_mode & 0o022:
        return f"others can write {path}"
    return ""


def _replaceable(path: Path) -> str:
    """Why another user could rename or replace `path` or a folder or symlink on the way to it (""
    when no one can): each folder passed, from ``/`` on and through symlinks as the kernel follows
    them, must be this user's or root's (:func:`_hidden_root` too) and writable by no one else
    (group-writable only by this user's private group: umask 002), unless it is sticky (``/tmp``)
    and the entry in it is this user's or root's. One lstat per part of the path; the folders found
    so are remembered with their stat, so the same path again, or a folder beside one already
    checked, costs a stat of its folder (still the one remembered, :func:`_still`) and one lstat."""
    if not hasattr(os, "geteuid"):
        return ""
    whole = os.path.abspath(path)
    me = os.geteuid()
    parent, _, leaf = whole.rpartition("/")
    if leaf and _still(parent):
        folder, info, todo = parent, _UNCHANGEABLE[parent], [leaf]
    else:
        folder, info, todo = "/", os.stat("/"), whole.split("/")[::-1]
    links = 0
    while todo:
        name = todo.pop()
        if name in ("", "."):
            continue
        if name == "..":
            folder = os.path.dirname(folder)
            info = os.stat(folder)
            continue
        entry = os.path.join(folder, name)
        entry_info = os.lstat(entry)
        if info.st_uid not in (me, 0) and info.st_uid != _hidden_root():
            return f"{folder} belongs to another user"
        if info.st_mode & 0o002 or (info.st_mode & 0o020 and not _private_group(info.st_gid, me)):
            if not info.st_mode & stat.S_ISVTX:
                return f"others can write {folder}"
            if entry_info.st_uid not in (me, 0):   # a sticky folder: the entry's owner may replace it
                return f"{entry} belongs to another user"
        if stat.S_ISLNK(entry_info.st_mode):
            links += 1
            if links > 40:
                return f"too many symlinks on the way to {path}"
            target = os.readlink(entry)
            if target.startswith("/"):
                folder, info = "/", os.stat("/")
            todo.extend(target.split("/")[::-1])
            continue
        folder, info = entry, entry_info
        _UNCHANGEABLE[folder] = info        # a real path no one else can rename or replace
    _UNCHANGEABLE[whole] = info
    return ""


_USERNS_FILES = ("/proc/self/uid_map", "/proc/sys/kernel/overflowuid")


@functools.lru_cache(maxsize=1)
def _hidden_root() -> int | None:
    """The owner root's files show when this process's user namespace does not map root (flatpak,
    bubblewrap, rootless containers: the kernel's overflow uid, 'nobody'), trusted as root for the
    folders on the way to a folder (not for an entry in a sticky one like /tmp: other users' files
    show the same owner there); None when root is mapped (no such namespace) or it cannot be told
    (not Linux). Read only when a folder on the way is neither this user's nor root's."""
    uid_map, overflow = _USERNS_FILES
    try:
        with open(uid_map) as ranges:
            for line in ranges:
                inside, outside, count = (int(n) for n in line.split())
                if outside <= 0 < outside + count:
                    return None
        with open(overflow) as text:
            return int(text.read())
    except (OSError, ValueError):
        return None


# real paths of folders _replaceable found no one else can rename or replace (→ their stat then),
# and the paths it was asked about that lead to such a folder
_UNCHANGEABLE: dict[str, os.stat_result] = {}


def _still(path: str) -> bool:
    """Whether `path` is a folder _replaceable found unchangeable and is that very folder still, as
    it was then (device, inode, owner, mode, change time): one removed and made again since (a temp
    cleaner, then anyone; its inode number may be the same), or a folder above it, is walked again,
    not judged by the stat of the one it replaced. One stat."""
    known = _UNCHANGEABLE.get(path)
    if known is None:
        return False
    try:
        now = os.stat(path)
    except OSError:
        return False
    return ((now.st_dev, now.st_ino, now.st_uid, now.st_mode, now.st_ctime_ns)
            == (known.st_dev, known.st_ino, known.st_uid, known.st_mode, known.st_ctime_ns))


@functools.lru_cache(maxsize=4)
def _private_group(gid: int, uid: int) -> bool:
    """Whether group `gid` is user `uid`'s private group: the user is in it and no one else is (the
    Debian rule for group-writable folders, as OpenSSH's StrictModes there)."""
    try:
        import grp
        import pwd

        group, user = grp.getgrgid(gid), pwd.getpwuid(uid)
        others = [p for p in pwd.getpwall() if p.pw_gid == gid and p.pw_uid != uid]
    except (ImportError, KeyError, OSError):
        return False
    return ((user.pw_gid == gid or user.pw_name in group.gr_mem) and not others
            and all(name == user.pw_name for name in group.gr_mem))


def book_epoch(date: str, source_date_epoch: int | None = None) -> tuple[int, str]:
    """The book's date as a Unix time, and a warning ("" if none): `source_date_epoch` (the option),
    else $SOURCE_DATE_EPOCH, else the document's `date` (YYYY-MM-DD…), else 2000-01-01.

    One rule for every backend. A $SOURCE_DATE_EPOCH that is not a whole number of seconds
    (0 … 253402300799) is ignored with a warning, so the EPUB and the PDF fall back alike."""
    if source_date_epoch is not None:
        return int(source_date_epoch), ""
    env = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if env.isascii() and env.isdigit() and int(env) <= _MAX_EPOCH:
        return int(env), ""
    epoch = FALLBACK_EPOCH
    match = _ISO_DAY.match(date or "")
    if match:
        try:
            y, mo, d = map(int, match.groups())
            epoch = int(dt.datetime(y, mo, d, tzinfo=dt.timezone.utc).timestamp())
        except ValueError:
            pass
    if not env:
        return epoch, ""
    shown = env if len(env) <= 40 else env[:40] + "…"
    day = dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d")
    return epoch, (f"SOURCE_DATE_EPOCH={shown!r} is not a whole number of seconds since 1970;"
                   f" ignored, the book is dated {day}")
