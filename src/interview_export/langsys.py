"""Font bytes + a book's language → the same font in which every other CJK language system uses the
book's own GSUB features, so a per-book subset carries only the book's regional glyph forms.

The shipped Noto CJK faces keep the Taiwan (ZHT) and Hong Kong (ZHH) `locl` forms beside the
Simplified (ZHS) ones. HarfBuzz's subsetter keeps the glyphs every language system can reach, so a
Simplified book would also embed the Taiwan and Hong Kong forms of its characters. Pointing the other
language systems' feature lists at the book's (same length, same order in these fonts) makes those
forms unreachable; the book renders exactly as before, under its own language tag.

The patched font is kept in ``fonts/`` in the user's cache folder (``util.engine_cache_dir``) when
there is one, so that later processes map it instead of copying the whole font again.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import struct
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

from .labels import is_traditional
from .util import foreign_folder, replace_atomically

log = logging.getLogger("interview_export.fonts")

CJK_LANGSYS = (b"ZHS ", b"ZHT ", b"ZHH ", b"ZHP ", b"ZHTM", b"JAN ", b"KOR ")
STAMP_AFTER_NS = 3 * 10**9   # a kept copy changed this recently is checked, not stamped (_stamp)


def langsys_tag(lang: str) -> bytes:
    """BCP 47 → the OpenType language system HarfBuzz shapes it with (zh-HK → ZHH, zh-TW → ZHT …)."""
    lang = lang.strip().lower().replace("_", "-")
    if lang.startswith(("zh-hk", "zh-mo", "zh-hant-hk", "zh-hant-mo", "yue")):
        return b"ZHH "
    if is_traditional(lang):
        return b"ZHT "
    if lang.startswith("ja"):
        return b"JAN "
    if lang.startswith("ko"):
        return b"KOR "
    return b"ZHS "


def _u16(data, at: int) -> int:
    return struct.unpack_from(">H", data, at)[0]


def _table_offset(data: bytes, tag: bytes, index: int = 0) -> int | None:
    """Where table `tag` of face `index` starts (OTF/TTF, or a face of a TTC/OTC)."""
    base = 0
    if data[:4] == b"ttcf":
        base = struct.unpack_from(">I", data, 12 + 4 * index)[0]
    for i in range(_u16(data, base + 4)):
        record = base + 12 + 16 * i
        if data[record:record + 4] == tag:
            return struct.unpack_from(">I", data, record + 8)[0]
    return None


def _patches(data, keep: bytes, index: int = 0) -> dict[int, bytes]:
    """Where `keep`'s feature list goes in `data` (bytes or an mmap): offset → the list's bytes,
    one per other CJK language system of the same length (systems sharing a table: once)."""
    gsub = _table_offset(data, b"GSUB", index)
    if gsub is None:
        return {}
    out: dict[int, bytes] = {}
    script_list = gsub + _u16(data, gsub + 4)
    for s in range(_u16(data, script_list)):
        script = script_list + _u16(data, script_list + 2 + 6 * s + 4)
        systems = {}
        for r in range(_u16(data, script + 2)):
            record = script + 4 + 6 * r
            systems[bytes(data[record:record + 4])] = script + _u16(data, record + 4)
        if keep not in systems:
            continue
        own = systems[keep]
        count = _u16(data, own + 4)
        features = bytes(data[own + 6:own + 6 + 2 * count])
        for tag, langsys in systems.items():
            if tag != keep and tag in CJK_LANGSYS and _u16(data, langsys + 4) == count:
                out[langsys + 6] = features
    return out


def only_langsys(data, keep: bytes, index: int = 0) -> bytes:
    """`data` (bytes or an mmap) with the GSUB feature lists of the other CJK language systems
    replaced by the one of `keep` (scripts without it, or lists of another length, stay as they
    are). One copy of the font is made (from slices of `data`), none when nothing changes."""
    patches = sorted(_patches(data, keep, index).items())
    if not patches and isinstance(data, bytes):
        return data
    with memoryview(data) as view:
        pieces: list = []
        at = 0
        for offset, features in patches:
            if offset < at:  # overlapping lists (no font we know): patch a copy one by one
                out = bytearray(data)
                for offset, features in patches:
                    out[offset:offset + len(features)] = features
                return bytes(out)
            pieces += [view[at:offset], features]
            at = offset + len(features)
        pieces.append(view[at:])
        try:
            return b"".join(pieces)
        finally:
            for piece in pieces:
                if isinstance(piece, memoryview):
                    piece.release()


def font_for_langsys(path: str, keep: bytes, index: int = 0) -> bytes:
    """The font file at `path` with only `keep`'s GSUB features reachable (copied once from a
    memory map of the file: a CJK face is 4–10 MB)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return only_langsys(mapped, keep, index)


@contextmanager
def langsys_file(path: str, keep: bytes, index: int = 0, *, store: Path | None = None) -> Iterator[str | bytes]:
    """`font_for_langsys` as a file to map rather than bytes to copy: `path` itself when no
    language system changes; else the patched font kept in the folder `store` (made there the
    first time: :func:`_kept_copy`); else an anonymous in-memory file (Linux memfd) that the kernel
    fills from `path` and that holds the patched feature lists, by its /proc/self/fd name (open
    inside the `with` only: map it there). Elsewhere (no memfd or no /proc): the bytes."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        patches = sorted(_patches(mapped, keep, index).items())
        if not patches:
            yield path
            return
        kept = _kept_copy(store, path, f.fileno(), len(mapped), keep, index, patches) if store is not None else None
        if kept is not None:
            yield kept
            return
        fd = _patched_copy(f.fileno(), len(mapped), patches)
        if fd is None:
            yield only_langsys(mapped, keep, index)
            return
    try:
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _kept_name(path: str, source: int, keep: bytes, index: int, patches: list[tuple[int, bytes]]) -> str:
    """The name of the patched copy of face `index` of the font file `path` (open as `source`) for
    language system `keep`, in the store: those three, a digest of the file's real path, then a
    digest of everything else that makes the copy (device, inode, size, modification and change
    times, the patches). Another font file, or this one changed in any way, has another name."""
    info = os.fstat(source)
    real = os.path.realpath(path)
    identity = (real, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, patches)
    where = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    what = hashlib.sha256(repr(identity).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return f"langsys-{Path(path).stem}-{index}-{keep.decode('ascii').strip()}-{where}-{what}{Path(path).suffix}"


def _kept_copy(store: Path, path: str, source: int, size: int, keep: bytes, index: int,
               patches: list[tuple[int, bytes]]) -> str | None:
    """The file in `store` that holds the font `source` with `patches`, written the first time
    (copied by the kernel, patched, synced and renamed into place), or None when it cannot be
    read or written, or when others could write `store` (logged at debug: the caller copies into
    memory as before). A copy is used as it is while its stamp (:func:`_stamped`) says nothing has
    changed it since it was last compared with the font file and patches; else it is compared
    (and stamped, or written again when it differs). Writing a new copy sweeps the store
    (:func:`_sweep`)."""
    name = _kept_name(path, source, keep, index, patches)
    target = store / name
    try:
        refused = foreign_folder(store, make=True)
        if refused:
            raise PermissionError(refused)
        with suppress(OSError):
            info = os.stat(target)
            if info.st_size == size and (_stamped(target, info) or _checked(target, source, size, patches)):
                return str(target)
        replace_atomically(target, lambda fd: _copy_patched(fd, source, size, patches), prefix=".tmp-",
                           suffix=Path(path).suffix, durable=True)
    except OSError as exc:
        log.debug("patched font not kept in %s: %s", store, exc)
        return None
    _sweep(store, name, os.path.realpath(path))
    return str(target)


def _stamp_text(info: os.stat_result) -> str:
    """What any change to a file changes: its inode, change time (set by the kernel on every
    write, truncate, chmod, rename or utime, and never settable) and size."""
    return f"{info.st_ino}-{info.st_ctime_ns}-{info.st_size}"


def _stamped(target: Path, info: os.stat_result) -> bool:
    """Whether the kept copy `target` (as `info` shows it) is as it was when it was written or last
    checked: its stamp, the symlink ``ok-<name>`` beside it whose text is the copy's
    :func:`_stamp_text` then, still matches (one readlink, no byte of the copy read)."""
    try:
        return os.readlink(target.with_name(f"ok-{target.name}")) == _stamp_text(info)
    except OSError:
        return False


def _stamp(target: Path, info: os.stat_result) -> None:
    """Record that `target`, as `info` (the ``fstat`` of the file compared, taken before reading it)
    shows it, holds the right bytes (best effort: without a stamp the next process compares the
    bytes again). A file swapped in after the compare, or changed during it, does not match that.
    Not while its last change is younger than STAMP_AFTER_NS: file times tick coarsely (a jiffy;
    seconds on some file systems), so a change that soon after could leave the same change time."""
    link = target.with_name(f"ok-{target.name}")
    temp = target.with_name(f".tmp-ok-{os.getpid()}-{target.name}")
    with suppress(OSError):
        if time.time_ns() - info.st_ctime_ns < STAMP_AFTER_NS:
            return
        os.symlink(_stamp_text(info), temp)
        os.replace(temp, link)
    with suppress(OSError):
        os.unlink(temp)


def _checked(target: Path, source: int, size: int, patches: list[tuple[int, bytes]]) -> bool:
    """Whether the unstamped copy `target` holds the file `source` with `patches` over it; stamped
    when it does (a copy from before stamps, or touched since), logged when it does not."""
    with open(target, "rb") as copy:
        info = os.fstat(copy.fileno())     # the file compared, as it was before it was read
        same = _same_as_patched(copy.fileno(), source, size, patches)
    if same:
        _stamp(target, info)
    else:
        log.debug("kept font %s differs from its font file: written again", target)
    return same


def _same_as_patched(copy: int, source: int, size: int, patches: list[tuple[int, bytes]]) -> bool:
    """Whether the file `copy` is `size` bytes of `source` with `patches` written over them in order
    (as :func:`_copy_patched` writes them), read and compared a MiB at a time."""
    step = 1 << 20
    want, have = bytearray(step), bytearray(step)
    for at in range(0, size, step):
        n = min(step, size - at)
        if _read_at(source, memoryview(want)[:n], at) != n or _read_at(copy, memoryview(have)[:n], at) != n:
            return False
        for offset, features in patches:
            lo, hi = max(offset, at), min(offset + len(features), at + n)
            if lo < hi:
                want[lo - at:hi - at] = features[lo - offset:hi - offset]
        if not (want == have if n == step else want[:n] == have[:n]):
            return False
    return os.fstat(copy).st_size == size


def _sweep(store: Path, name: str, real: str) -> None:
    """After the copy `name` of the font file `real` is written: ``source-<its path digest>`` links
    to that file; the older copies of the same face file and language system go (their last digest
    alone differs), and so does every copy whose ``source-`` link dangles (made from a font file
    that is gone: a removed checkout, venv or temp folder), temp files a killed writer left, and the
    stamps of copies gone. Copies of font files still there (another installation's) stay."""
    group = name[:name.rindex("-") + 1]
    where = group.rsplit("-", 2)[-2]
    with suppress(OSError):
        os.symlink(real, store / f"source-{where}")   # exists already: the same path (its digest)
    entries = list(store.iterdir())
    gone = {e.name[len("source-"):] for e in entries if e.name.startswith("source-") and not e.exists()}
    old = time.time() - 3600
    for entry in entries:
        n = entry.name
        if n == name:
            continue
        stale = ((n.startswith(group) and len(n) == len(name))   # same prefix and length: an older copy
                 or (n.startswith("langsys-") and n.rsplit("-", 2)[-2] in gone)
                 or (n.startswith("source-") and n[len("source-"):] in gone))
        with suppress(OSError):
            if stale or (n.startswith(".tmp-") and entry.lstat().st_mtime < old):
                entry.unlink()
    for entry in entries:   # the stamps of copies no longer there
        if entry.name.startswith("ok-") and not os.path.lexists(store / entry.name[len("ok-"):]):
            with suppress(OSError):
                entry.unlink()


def _read_at(fd: int, into: memoryview, at: int) -> int:
    """Read the file `fd` from offset `at` into `into` (its own offset left alone) → bytes read."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [into], at)
    data = os.pread(fd, len(into), at)      # no preadv (macOS before 11): a copy more
    into[:len(data)] = data
    return len(data)


def _patched_copy(source: int, size: int, patches: list[tuple[int, bytes]]) -> int | None:
    """A memfd holding the file `source` (copied by the kernel) with `patches` written over it in
    order (overlapping lists end as only_langsys makes them), or None where that is not possible."""
    if not hasattr(os, "memfd_create") or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        fd = os.memfd_create("langsys", getattr(os, "MFD_CLOEXEC", 0))
    except OSError:   # e.g. refused by a container's seccomp profile
        return None
    try:
        _copy_patched(fd, source, size, patches)
    except OSError:
        os.close(fd)
        return None
    return fd


def _copy_patched(fd: int, source: int, size: int, patches: list[tuple[int, bytes]]) -> None:
    """Fill the empty file `fd` with the file `source` (by the kernel) and write `patches` over it."""
    done = 0
    while done < size:
        sent = os.sendfile(fd, source, done, size - done)
        if sent <= 0:
            raise OSError("short copy of a font file")
        done += sent
    for offset, features in patches:
        os.pwrite(fd, features, offset)
