"""Document image references → MediaBag: each image fetched, checked by content and normalised, or a placeholder.

Sources: ``http(s)://`` URLs (through the one ``Fetcher``: mirrors, cache, offline), local paths
resolved against the input folder (refused when they escape it, symlinks included, unless under
``Options.resource_dirs``), ``file://`` URLs under the same rule, and ``data:`` URIs (base64 or
percent-encoded). Every body goes through ``images.normalise`` (checks by content, then the EPUB
and PDF renditions), so an HTML error page, a truncated file or a bomb becomes a placeholder with
one warning naming the source, the Markdown line and the reason. Each distinct src is fetched
and warned about once; each distinct body is processed once; identical bytes share one filename.

Renditions are cached (``Cache.get_rendition``) under a key made of the SHA-256 of the source
bytes, the target, the options that shape that target's rendition, ``RENDITION_VERSION`` and a
fingerprint of the normalising code (``images.py`` and the Pillow version), whatever the source
(URL, local file or data: URI): a warm conversion reads bytes and never loads Pillow. Only images
that passed every check are stored, so a hit is also a pass. ``images`` (the normalising code) is
imported for a miss only. A download whose renditions are all stored is found through its URL's
authenticated link (``Cache.get_link``), without a fetcher: never read nor hashed when they have
their own bodies, read from the cache and checked against the link when one is stored as the
download's own bytes. A local file, opened and checked as always, is found through the link from
its real path and stamp (``Renditions.local``) and not read either. ``use_cache=False`` neither
reads nor writes them.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from .cache import Cache, StoredRendition
from .errors import ImageError, ImageRefused
from .model import KEPT_FORMATS, Document, image_refs
from .options import Options

if TYPE_CHECKING:   # annotations only: nothing of it is made when the module loads
    from typing import TypeVar

    from .fetcher import Fetcher

    Reader = Callable[[], tuple[bytes, os.stat_result]]   # an opened file's bytes, and its fstat after the read
    T = TypeVar("T")

log = logging.getLogger("interview_export.media")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
RENDITION_VERSION = 2   # bump when what a cached rendition holds or means changes (2: as if made alone)
TARGETS = ("epub", "pdf")
IMAGE_MEMORY_BUDGET = 384 * 1024 * 1024   # bytes of decoded images in flight, per process
# a local file last changed less than this before it is read gets no link (Renditions.local): more
# than a clock tick and the coarsest file time (FAT's 2 s), so a later write has a later ctime
LOCAL_SETTLED_NS = 3_000_000_000
# where Linux says which file system each device holds (Renditions.local: no link where a program
# can set a file's ctime: FAT and classic HFS keep it equal to the mtime, FUSE reports what its daemon
# says, NTFS and SMB shares carry Windows' ChangeTime, which SetFileInformationByHandle sets)
MOUNTINFO = "/proc/self/mountinfo"
_CTIME_SET_BY_PROGRAMS = ("vfat", "msdos", "exfat", "fuse", "fuseblk", "hfs", "ntfs3", "ntfs", "cifs", "smb3")


class MemoryBudget:
    """Image work waits until its estimated memory fits (one job always runs, however large): a
    172 KB 16-bit PNG decodes to ~400 MB, so "one thread per CPU" alone could need gigabytes."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def __call__(self, cost: int):
        """A context manager holding `cost` bytes of the budget while an image is worked on."""
        budget = self

        class _Held:
            def __enter__(self):
                with budget._cond:
                    budget._cond.wait_for(lambda: budget.used == 0 or budget.used + cost <= budget.limit)
                    budget.used += cost

            def __exit__(self, *exc):
                with budget._cond:
                    budget.used -= cost
                    budget._cond.notify_all()

        return _Held()


MEMORY = MemoryBudget(IMAGE_MEMORY_BUDGET)


def share_memory_budget(processes: int) -> None:
    """Split the image memory budget between ``processes`` worker processes (``--jobs``)."""
    MEMORY.limit = max(IMAGE_MEMORY_BUDGET // max(1, processes), 32 * 1024 * 1024)


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class ImageAsset:
    """One image source of the document, ready to embed (or a placeholder saying why not)."""

    src: str                     # exactly as in the model (the MediaBag key)
    status: str                  # "ok" | "cached" | "placeholder"
    reason: str = ""             # why it is a placeholder ("" otherwise)
    filename: str = ""           # e.g. "images/3f2a9c0d1e2b4a5f.jpg" (content hash of data)
    media_type: str = ""         # of data, e.g. "image/jpeg"
    data: bytes = b""            # EPUB bytes
    pdf_data: bytes = b""        # PDF bytes (first frame of an animated GIF, ≤ PDF_LONG_SIDE)
    width: int = 0               # pixels of data
    height: int = 0
    format: str = ""             # "JPEG" | "PNG" | "GIF" (of data)
    alt: str = ""
    line: int = 0                # first Markdown line that uses this src (0: the cover)
    # additions beyond the contract, for the PDF backend and `inspect --images`
    pdf_media_type: str = ""
    source_format: str = ""      # what the bytes really were (e.g. "WEBP", "JPEG" for a .png name)
    source_size: int = 0         # bytes before normalisation
    source_width: int = 0
    source_height: int = 0

    @property
    def ok(self) -> bool:
        """Whether the image can be shown (anything but a placeholder)."""
        return self.status != "placeholder"


@dataclass
class MediaBag:
    """Every image source of a document → its asset; warnings in reading order."""

    assets: dict[str, ImageAsset] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, src: str) -> ImageAsset | None:
        """The asset for an image source as written in the document (None when not collected)."""
        return self.assets.get(src)

    def missing(self) -> list[ImageAsset]:
        """The placeholders (what ``--strict`` reports before failing)."""
        return [a for a in self.assets.values() if not a.ok]

    def files(self) -> list[ImageAsset]:
        """One ok asset per distinct filename (what an EPUB manifest lists), in reading order."""
        seen: dict[str, ImageAsset] = {}
        for asset in self.assets.values():
            if asset.ok and asset.filename not in seen:
                seen[asset.filename] = asset
        return list(seen.values())


# ---------------------------------------------------------------- entry point
def collect_media(doc: Document, base_dir: Path | None, options: Options = Options(), *,
                  fetcher: Fetcher | None = None, targets: tuple[str, ...] = ("epub", "pdf"),
                  local: dict[str, bytes | str] | None = None) -> MediaBag:
    """Resolve every image of ``doc``; the same src is fetched, processed and warned about once.

    ``base_dir`` is the input file's folder (None: the current folder, e.g. for stdin). ``fetcher``
    (tests, or a batch sharing one client and cache) brings its own policy; otherwise one is built
    from ``options`` and closed again. Never raises for a bad image: ``--strict`` is the caller's
    business (``MediaBag.missing()``). ``targets`` names the backends that will read the bag: with
    only one of them the other rendition is not computed and ``data``/``pdf_data`` are the same.
    ``local`` (on a Dask worker) replaces the disk for local images: src → the bytes the client
    read under the same folder rules (``read_local_images``), or the reason it refused them."""
    refs = image_refs(doc)
    first: dict[str, tuple[str, int]] = {}
    for src, alt, line in refs:
        first.setdefault(src, (alt, line))
    bag = MediaBag()
    if not first:
        return bag
    base = Path(base_dir) if base_dir is not None else Path.cwd()

    hashed = _Digests()   # each body hashed once: by the cache's check of its entry, or else here
    renditions = Renditions(options, targets, hashed)
    raw: dict[str, tuple[bytes, bool] | str] = {}   # src → (bytes, from_cache) or refusal reason
    remote: dict[str, str] = {}                      # src → URL to fetch
    linked: dict[str, ImageAsset] = {}              # src → its asset, found through its link
    for src in first:
        kind, value = _classify(src)
        try:
            if kind == "remote":
                remote[src] = value
            elif kind == "data":
                raw[src] = (_decode_data_uri(value, options.max_image_bytes), False)
            elif kind == "local" and local is not None:
                found = local.get(src, "local image not sent to the worker")
                if isinstance(found, str):
                    raise ImageRefused(found)
                raw[src] = (found, False)
            elif kind == "local":
                read = _open_local(value, base, options, renditions.local)
                if isinstance(read, ImageAsset):
                    linked[src] = read
                else:
                    raw[src] = (read, False)
            else:
                raise ImageRefused(value)
        except ImageRefused as exc:
            raw[src] = str(exc)

    # downloads whose renditions the cache has: found through the URLs' authenticated links, the
    # downloads read only for a rendition stored as their bytes (not with a caller's fetcher,
    # which may revalidate or have another cache)
    if fetcher is None:
        linked.update(renditions.linked(remote))
    remote = {src: url for src, url in remote.items() if src not in linked}
    own = fetcher is None and bool(remote)
    if own:   # one Cache (None: use_cache off) for the downloads and the renditions (same memory of hashes)
        from .fetcher import Fetcher  # not needed when every URL is found through its link

        fetcher = Fetcher.from_options(options, cache=renditions.cache)
    # The filter list is process-wide, so this also covers the worker threads below; the
    # renditions add the Pillow-specific filter when they first need Pillow. Other Pillow warnings
    # (odd EXIF, odd chunks) are logged, never printed by library code.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done: dict[str, ImageAsset] = {}  # sha256 of body → normalised asset (filled by the check)

        def check(data: bytes) -> None:
            """The fetcher's acceptance test: normalising *is* checking, so do it once, here."""
            try:
                digest = hashed(data)
                done[digest] = renditions.asset(data, digest)
            except ImageRefused as exc:
                raise ImageError("<bytes>", str(exc)) from None
            except Exception as exc:  # Pillow can raise odd things on hostile input
                log.debug("unexpected error processing a download", exc_info=True)
                raise ImageError("<bytes>", f"cannot process image ({type(exc).__name__}: {exc})") from None

        try:
            if remote:
                assert fetcher is not None   # ours when none was given
                results = fetcher.fetch_many(remote.values(), check=check)
                for src, url in remote.items():
                    res = results[url]
                    raw[src] = res.reason if isinstance(res, ImageError) else (res.data, res.from_cache)
                    if own and not isinstance(res, ImageError):   # checked, its renditions stored
                        renditions.link(url, res.data)
        finally:
            if own and fetcher is not None:
                fetcher.close()
        processed = _process_all(raw, options, done, renditions, hashed)
        for src, item in raw.items():   # local files read whole, checked, their renditions stored
            if not isinstance(item, str) and isinstance(processed[src], ImageAsset):
                renditions.link_local(item[0])
        processed.update(linked)
    for w in caught:
        log.debug("while reading images: %s: %s", w.category.__name__, w.message)

    for src, (alt, line) in first.items():
        result = processed[src]
        if isinstance(result, str):
            bag.assets[src] = ImageAsset(src=src, status="placeholder", reason=result, alt=alt, line=line)
            bag.warnings.append(f"{_where(doc.name, line)}: image {describe_src(src)}: {result}")
        else:
            bag.assets[src] = dataclasses.replace(result, src=src, alt=alt, line=line)
    off = renditions.cache.renditions_off() if renditions.cache is not None and processed else ""
    if off:     # no usable key (keys/ shared, unreadable): the book is made, nothing is cached
        bag.warnings.append(f"{doc.name or '<document>'}: {off}")
    return bag


def local_srcs(doc: Document) -> list[str]:
    """The distinct srcs of ``doc`` that name local files (what a Dask work unit must carry)."""
    return list(dict.fromkeys(src for src, _alt, _line in image_refs(doc) if _classify(src)[0] == "local"))


def read_local_srcs(srcs: Iterable[str], base_dir: Path | None, options: Options = Options()) -> dict[str, bytes | str]:
    """Local image srcs → their bytes, or why they are refused, by the rules of a local run."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    found: dict[str, bytes | str] = {}
    for src in srcs:
        kind, value = _classify(src)
        if kind == "local" and src not in found:
            try:
                found[src] = _read_local(value, base, options)
            except ImageRefused as exc:
                found[src] = str(exc)
    return found


def describe_src(src: str) -> str:
    """The src for a message: data URIs shortened to their header and size."""
    if src[:5].lower() == "data:":
        header = src[: min(src.find(",") if "," in src else 40, 60)]
        return f"{header},… ({len(src) - len(header) - 1} characters)"
    return src if len(src) <= 300 else src[:300] + "…"


def _where(name: str, line: int) -> str:
    """``article.md:212`` or ``line 212``; line 0 is the cover (front matter or header image)."""
    if not line:
        return f"{name}: cover" if name else "cover"
    return f"{name}:{line}" if name else f"line {line}"


# ---------------------------------------------------------------- sources
def _classify(src: str) -> tuple[str, str]:
    """("remote", url) | ("data", uri) | ("local", path-or-file-url) | ("refused", reason)."""
    s = src.strip()
    if not s:
        return "refused", "empty image source"
    if s.startswith("//"):
        return "remote", "https:" + s
    m = _SCHEME.match(s)
    if m is None or len(m.group(1)) == 1:  # no scheme (a one-letter "scheme" is a drive letter)
        return "local", s
    scheme = m.group(1).lower()
    if scheme in ("http", "https"):
        return "remote", s
    if scheme == "data":
        return "data", s
    if scheme == "file":
        return "local", s
    return "refused", f"URL scheme {scheme!r} is not allowed"


def _decode_data_uri(uri: str, max_bytes: int) -> bytes:
    header, sep, payload = uri[5:].partition(",")
    if not sep:
        raise ImageRefused("malformed data: URI (no comma)")
    is_base64 = header.lower().rstrip().endswith(";base64")
    estimate = len(payload) * 3 // 4 if is_base64 else len(payload)
    if estimate > max_bytes * (1 if is_base64 else 3):
        raise ImageRefused(f"too large (data: URI of about {estimate} bytes, limit {max_bytes})")
    if is_base64:
        if "%" in payload:
            payload = unquote(payload)
        compact = payload.translate(_WHITESPACE)
        compact += "=" * (-len(compact) % 4)
        try:
            data = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            try:  # the URL-safe alphabet ("-" and "_") is sometimes used
                data = base64.b64decode(compact, altchars=b"-_", validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ImageRefused(f"malformed base64 in data: URI ({exc})") from None
    else:
        data = unquote_to_bytes(payload)
    if len(data) > max_bytes:
        raise ImageRefused(f"too large ({len(data)} bytes, limit {max_bytes})")
    return data


_WHITESPACE = str.maketrans("", "", " \t\r\n")


def _read_local(src: str, base: Path, options: Options) -> bytes:
    """Bytes of a local image, only from the input folder or the named resource folders."""
    return _open_local(src, base, options, _whole)


def _whole(real: Path, info: os.stat_result, read: Reader) -> bytes:
    return read()[0]


def _open_local(src: str, base: Path, options: Options, opened: Callable[[Path, os.stat_result, Reader], T]) -> T:
    """``opened(real path, fstat, read)`` of a local image file, opened and checked by ``_read_local``'s rules."""
    if src[:5].lower() == "file:":
        parts = urlsplit(src)
        if parts.netloc not in ("", "localhost"):
            raise ImageRefused(f"file: URL with a remote host {parts.netloc!r} is not allowed")
        candidates = [unquote(parts.path)]
    else:
        # as written; percent-decoded (markdown-it encodes spaces and CJK); without ?query/#fragment
        candidates = list(dict.fromkeys([src, unquote(src), re.split(r"[?#]", src, maxsplit=1)[0]]))
    roots = [base.resolve()] + [Path(d).resolve() for d in options.resource_dirs]
    chosen = None
    try:
        for cand in candidates:
            p = Path(cand)
            if not p.is_absolute():
                p = base / p
            resolved = p.resolve()  # follows symlinks: a link pointing outside is outside
            if not any(resolved.is_relative_to(root) for root in roots):
                raise ImageRefused("path is outside the input folder "
                               "(add the folder to the resource folders to allow it)")
            if resolved.exists():
                chosen = resolved
                break
        if chosen is None:
            raise ImageRefused("file not found")
    except (OSError, ValueError) as exc:  # NUL bytes, names too long, loops of symlinks
        raise ImageRefused(f"unusable path ({exc})") from None
    return _read_inside(chosen, roots, options.max_image_bytes, opened)


def _read_inside(path: Path, roots: list[Path], max_bytes: int, opened: Callable[[Path, os.stat_result, Reader], T]) -> T:
    """Open first, then check what was opened: a regular file (no FIFO to block on), and a real
    path under one of ``roots`` as the kernel sees the open file — so swapping a folder for a
    symlink between the checks above and the open cannot leak a file from elsewhere. ``opened``
    is given the checked file's real path, its fstat and a function reading it (bytes, fstat after)."""
    import stat

    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ImageRefused(f"cannot read the file ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ImageRefused("not a regular file")
        try:
            real = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # no /proc: the path must still name the very file that is open
            now = os.stat(path, follow_symlinks=False)
            real = path.resolve() if (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino) else Path("/")
        if not any(real.is_relative_to(root) for root in roots):
            raise ImageRefused("path is outside the input folder (it changed while being opened)")
        if info.st_size > max_bytes:
            raise ImageRefused(f"too large ({info.st_size} bytes, limit {max_bytes})")

        def read() -> tuple[bytes, os.stat_result]:
            with os.fdopen(os.dup(fd), "rb") as fh:
                data = fh.read(max_bytes + 1)
                after = os.fstat(fh.fileno())
            if len(data) > max_bytes:
                raise ImageRefused(f"too large (limit {max_bytes} bytes)")
            return data, after

        return opened(real, info, read)
    except OSError as exc:
        raise ImageRefused(f"cannot read the file ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


# ---------------------------------------------------------------- normalising
class _Digests:
    """bytes → their SHA-256 (hex), remembered per object: a body the cache's check of its entry or
    the fetcher's check hashed is not hashed again for its rendition key or to group bodies by
    content (the object is kept, so its id is not reused)."""

    def __init__(self):
        self._seen: dict[int, tuple[bytes, str]] = {}   # set from the fetch threads: one store each

    def __call__(self, data: bytes) -> str:
        known = self._seen.get(id(data))
        if known is not None and known[0] is data:
            return known[1]
        digest = hashlib.sha256(data).hexdigest()
        self._seen[id(data)] = (data, digest)
        return digest


def _process_all(raw: dict[str, tuple[bytes, bool] | str], options: Options,
                 done_before: dict[str, ImageAsset], renditions: "Renditions",
                 digest_of: _Digests) -> dict[str, ImageAsset | str]:
    """Check and normalise every body once per distinct content, in parallel (Pillow drops the GIL)."""
    out: dict[str, ImageAsset | str] = {}
    by_hash: dict[str, bytes] = {}
    wanted: dict[str, list[str]] = {}
    for src, item in raw.items():
        if isinstance(item, str):
            out[src] = item
            continue
        digest = digest_of(item[0])
        by_hash.setdefault(digest, item[0])
        wanted.setdefault(digest, []).append(src)

    def work(digest: str) -> ImageAsset | str:
        if digest in done_before:
            return done_before[digest]
        try:
            return renditions.asset(by_hash[digest], digest)
        except ImageRefused as exc:
            return str(exc)
        except Exception as exc:  # Pillow can raise odd things on hostile input: never crash the book
            log.debug("unexpected error normalising an image", exc_info=True)
            return f"cannot process image ({type(exc).__name__}: {exc})"

    digests = list(wanted)
    todo = sum(1 for d in digests if d not in done_before)
    workers = max(1, min(todo, os.cpu_count() or 1, options.max_downloads))
    if workers == 1:
        done = [work(d) for d in digests]
    else:
        from concurrent.futures import ThreadPoolExecutor  # not needed when the cache has it all

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ie-image") as pool:
            done = list(pool.map(work, digests))
    for digest, result in zip(digests, done):
        for src in wanted[digest]:
            item = raw[src]
            result_for: ImageAsset | str
            if isinstance(result, ImageAsset) and item[1]:
                result_for = dataclasses.replace(result, status="cached")
            else:
                result_for = result
            out[src] = result_for
    return out


class Renditions:
    """Source bytes → ImageAsset for one conversion: from the rendition cache when it has them,
    else normalised (Pillow loaded then, with decompression-bomb warnings made errors) and stored."""

    def __init__(self, options: Options, targets: tuple[str, ...], digest: Callable[[bytes], str] | None = None):
        self.options = options
        # what images.normalise computes for these targets (no target named: the PDF one)
        self.wanted = tuple(t for t in TARGETS if t in targets) or ("pdf",)
        self.digest = digest or _Digests()
        self.cache = (Cache(options.cache_dir, digest=self.digest, max_bytes=options.max_image_bytes)
                      if options.use_cache else None)
        self._lock = threading.Lock()
        self._pillow_ready = False
        self._unlinked: dict[int, tuple[bytes, str, tuple[int, ...]]] = {}   # id(data) → (data, file URI, stamp)

    def key(self, digest: str, target: str) -> str:
        """The cache key of ``target``'s rendition of the source whose SHA-256 is ``digest``."""
        shape: dict = {"target": target}
        if target == "epub":  # the PDF rendition depends on no option (PDF_LONG_SIDE is code)
            shape.update(long_side=self.options.epub_image_long_side, grayscale=self.options.grayscale)
        text = json.dumps({"v": RENDITION_VERSION, "code": code_fingerprint(), "source": digest,
                           **shape}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def linked(self, remote: dict[str, str]) -> dict[str, ImageAsset]:
        """src → its cached asset, for the URLs (``remote``: src → URL) whose link and renditions
        the cache has: a rendition with its own body is served without the download; one stored
        as the source's bytes from the download's cache entry, read (once) and checked against
        the link's SHA-256 and size (as the fetcher's check would, without a fetcher)."""
        found: dict[str, ImageAsset] = {}
        if self.cache is None:
            return found
        for src, url in remote.items():
            link = self.cache.get_link(url)
            if link is None:
                continue
            digest, size = link
            asset = self._from_link(digest, size, functools.partial(self._download, url, digest, size))
            if asset is not None:
                found[src] = dataclasses.replace(asset, status="cached")
        return found

    def _from_link(self, digest: str, size: int, source: Callable[[], bytes | None]) -> ImageAsset | None:
        """The asset of the source whose SHA-256 and size a link names, when the cache has every
        wanted rendition; ``source()`` (called once at most) gives the source's bytes, checked to
        be that content, for a rendition stored as them."""
        assert self.cache is not None
        hits: dict[str, StoredRendition] = {}
        once = functools.cache(source)
        for target in self.wanted:
            hit = self.cache.get_rendition(self.key(digest, target), once, digest)
            if hit is None or not _usable(hit.meta):
                return None
            hits[target] = hit
        return self._assemble(hits, size)

    def local(self, real: Path, info: os.stat_result, read: Reader) -> bytes | ImageAsset:
        """A local image file, opened and checked by the caller (``info``: its fstat; ``read()``: its
        bytes and its fstat then) → its asset through the authenticated link from its real path and
        stamp (device, inode, size, mtime, ctime) when the cache has that and every wanted
        rendition, the file not read (or read and checked against the link for a rendition stored
        as its bytes); else its bytes, to be linked (``link_local``) once checked.

        A write to the file changes its ctime (the kernel's clock; no call sets it), so a stamp
        stands for one content, except for a write in the same clock tick as the stamp's ctime:
        a file changed less than ``LOCAL_SETTLED_NS`` before it was read gets no link. Nor does a
        file on a file system whose ctime a program can set (:func:`_ctime_follows_writes`)."""
        settled = time.time_ns() - LOCAL_SETTLED_NS   # before any read: a later write has a later ctime
        once = functools.cache(read)
        if self.cache is None or not _ctime_follows_writes(info.st_dev, MOUNTINFO):
            return once()[0]
        uri, stamp = real.as_uri(), _stamp(info)
        link = self.cache.get_link(uri, stamp)
        if link is not None:
            digest, size = link
            asset = self._from_link(digest, size, lambda: self._checked(once()[0], digest, size))
            if asset is not None:
                return asset
        data, after = once()
        if info.st_ctime_ns < settled and _stamp(after) == stamp:
            self._unlinked[id(data)] = (data, uri, stamp)
        return data

    def link_local(self, data: bytes) -> None:
        """Link the local file ``data`` was read from (``local``), now checked, to its content."""
        pending = self._unlinked.pop(id(data), None)
        if pending is not None and pending[0] is data and self.cache is not None:
            self.cache.put_link(pending[1], self.digest(data), len(data), stamp=pending[2])

    def _checked(self, data: bytes, digest: str, size: int) -> bytes | None:
        """``data`` when it is the content a link names (SHA-256 and size), else None."""
        return data if len(data) == size and self.digest(data) == digest else None

    def _download(self, url: str, digest: str, size: int) -> bytes | None:
        """The cached download of ``url`` when it is the content its link names (else None)."""
        assert self.cache is not None
        entry = self.cache.get(url)   # hashed by the entry's check, remembered by self.digest
        return None if entry is None else self._checked(entry.data, digest, size)

    def link(self, url: str, data: bytes) -> None:
        """Link ``url`` to its checked download ``data`` (hashed already), unless linked so."""
        if self.cache is not None:
            digest, size = self.digest(data), len(data)
            if self.cache.get_link(url) != (digest, size):
                self.cache.put_link(url, digest, size)

    def asset(self, data: bytes, digest: str) -> ImageAsset:
        """The asset of one body (src, alt and line are filled in by the caller); raises
        ImageRefused (or whatever Pillow raises on hostile input) when it is unusable."""
        found: dict[str, StoredRendition] = {}
        if self.cache is not None:
            for target in self.wanted:
                hit = self.cache.get_rendition(self.key(digest, target), data, digest)
                if hit is not None and _usable(hit.meta):
                    found[target] = hit
        missing = tuple(t for t in self.wanted if t not in found)
        if missing:
            found.update(self._make(data, digest, missing))
        return self._assemble(found, len(data))

    def _assemble(self, found: dict[str, StoredRendition], source_size: int) -> ImageAsset:
        """The asset made of the wanted renditions (src, alt and line are filled in by the caller)."""
        epub = found.get("epub") or found["pdf"]
        pdf = found.get("pdf") or epub
        if pdf.sha256 == epub.sha256:
            pdf = epub  # one object: backends (and tests) can tell the bytes are shared
        e, p = epub.meta, pdf.meta
        return ImageAsset(
            src="", status="ok", filename=_filename(epub.sha256, e["format"]),
            media_type=KEPT_FORMATS[e["format"]][0], data=epub.data, pdf_data=pdf.data,
            width=e["width"], height=e["height"], format=e["format"],
            pdf_media_type=KEPT_FORMATS[p["format"]][0],
            source_format=e["source_format"], source_size=source_size,
            source_width=e["source_width"], source_height=e["source_height"])

    def _make(self, data: bytes, digest: str, targets: tuple[str, ...]) -> dict[str, StoredRendition]:
        """Normalise ``data`` for ``targets`` and store each rendition in the cache."""
        from . import images

        self._ready()
        with MEMORY(images.decode_cost(data)):
            n = images.normalise(data, epub_long_side=self.options.epub_image_long_side,
                                 grayscale=self.options.grayscale, targets=targets)
        made = {}
        for target in targets:
            r = n.epub if target == "epub" else n.pdf
            same = r.data is data or r.data == data
            sha = digest if same else self.digest(r.data)   # a rendition shared by both targets: hashed once
            meta = {"format": r.format, "width": r.width, "height": r.height,
                    "source_format": n.source_format, "source_width": n.source_width,
                    "source_height": n.source_height}
            key = self.key(digest, target)
            made[target] = StoredRendition(key, data if same else r.data, sha, meta)
            if self.cache is not None:
                self.cache.put_rendition(key, r.data, meta, sha256=sha, same_as_source=same)
        return made

    def _ready(self) -> None:
        """Load Pillow; Pillow warns (instead of failing) between MAX_IMAGE_PIXELS and twice
        that: make that an error (inside collect_media's catch_warnings, which undoes it)."""
        if self._pillow_ready:
            return
        from . import images

        with self._lock:
            if not self._pillow_ready:
                images._pillow()
                warnings.simplefilter("error", images.Image.DecompressionBombWarning)
                self._pillow_ready = True


@functools.lru_cache(maxsize=16)
def _ctime_follows_writes(dev: int, mountinfo: str) -> bool:
    """Whether the file system on device ``dev`` has change times no program can set, as far as
    Linux's mount table (``mountinfo``) says (not FAT: Linux >= 5.19 keeps a FAT file's ctime equal to its mtime,
    which ``utime`` sets, so a same-size rewrite with its mtime put back leaves the very stamp, and so
    does classic HFS; not FUSE: its daemon reports what it likes; not NTFS nor an SMB share: their
    ctime is Windows' ChangeTime, which a Windows program sets with the other times). True where the
    table cannot be read (not Linux)."""
    wanted = f"{os.major(dev)}:{os.minor(dev)}"
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as table:
            for line in table:   # "id parent major:minor root mount-point options [tags] - type source …"
                fields, _, rest = line.partition(" - ")
                kind = rest.split(" ", 1)[0].split(".", 1)[0]       # fuse.sshfs: fuse
                if fields.split(" ", 3)[2:3] == [wanted] and kind in _CTIME_SET_BY_PROGRAMS:
                    return False
    except (OSError, ValueError):
        pass
    return True


def _stamp(info: os.stat_result) -> tuple[int, ...]:
    """What changes when a file's content does: device, inode, size, mtime, ctime (nanoseconds)."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _usable(meta: dict) -> bool:
    """Whether a stored rendition's metadata has what an ImageAsset needs (else: a miss)."""
    return (meta.get("format") in KEPT_FORMATS and isinstance(meta.get("source_format"), str)
            and all(type(meta.get(k)) is int for k in ("width", "height", "source_width", "source_height")))


NORMALISING_CODE = Path(__file__).with_name("images.py")   # read, not imported: a warm run needs none of it


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """What else shapes a rendition: the normalising code itself and the Pillow version (a
    changed constant, rule or encoder makes new renditions; no version number to forget)."""
    import PIL  # the package only (its version), not PIL.Image

    try:
        source = NORMALISING_CODE.read_bytes()
    except (OSError, TypeError):
        source = b""
    return hashlib.sha256(source + b"\0" + PIL.__version__.encode()).hexdigest()[:16]


def _filename(sha256: str, fmt: str) -> str:
    """ASCII, content-derived: identical bytes from two sources share one file in the book."""
    return f"images/{sha256[:16]}.{KEPT_FORMATS[fmt][1]}"
