"""Image URL → bytes on disk (the download cache the fetcher reads before the network), and image
content + options → prepared renditions (the media stage's cache).

Layout: one file per URL, ``<root>/<first two hex>/<sha256 of the URL>.entry``: a one-line JSON
header ``{"url", "sha256", "size", "etag", "last_modified", "content_type", "fetched_url",
"stored_at"}``, a newline, then the body. The key is the URL exactly as written in the Markdown
(before mirrors are applied), so switching or dropping a mirror keeps the cached images.

Each entry is written to a temporary file in the same folder and moved into place with one
``os.replace``, so readers never see half a file and two processes storing the same URL at once
leave one writer's complete entry (header and body always belong together). The header's SHA-256
is checked on every read; a damaged entry is a miss. Cache problems (read-only folder, full disk)
never fail a conversion: they are logged and the cache behaves as empty.

Renditions: the prepared images (``images.normalise`` output: EPUB or PDF bytes, format, size) live
beside the downloads in ``<root>/renditions/<first two hex>/<key>.rendition``, keyed by the caller
(``media`` hashes the source bytes, the options that shape the rendition and a format version),
so a warm conversion neither decodes nor re-encodes anything. Same layout (JSON header line, then
the body), same atomic writes, same checks on read (key, size and SHA-256 of the body) plus an
HMAC of the header under a per-cache secret kept *outside* the cache folder (in the user's own
cache folder, ``keys/``): a rendition is served without being decoded again, so one forged by
whoever can write a shared or CI cache (an SVG with a script stored as ``.jpg``) must be a miss,
not a picture in every later book. A cache moved to another machine or user re-renders. A rendition
whose bytes are the source's own stores no body, only the source's hash, and is served from the
source bytes the caller already holds.

Links: ``<root>/renditions/<first two hex>/<sha256 of the URL>.link`` (a header line, no body)
says, under the same HMAC, which content (SHA-256 and size) the checked download of a URL had when
its renditions were stored. A warm conversion follows it straight to the renditions, without
reading or hashing the download (which may be megabytes for a few hundred KB of renditions); a
rendition stored as the source's own bytes still needs the download, read and checked as before.
A forged or damaged link is a miss, like a forged rendition; storing or discarding the URL's
download drops its link (a revalidating fetcher's new picture is not hidden by the old one's).

Freshness policy: an entry is served as it is, without revalidation, so a second conversion of
the same article makes zero network requests (articles' images rarely change, and offline
rebuilds must be reproducible). The stored ETag/Last-Modified let the fetcher revalidate when it
is built with ``revalidate=True``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import logging
import os
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .util import foreign_folder, replace_atomically, user_cache_dir

log = logging.getLogger("interview_export.cache")


def default_cache_dir() -> Path:
    """The per-user cache folder (``$XDG_CACHE_HOME/interview-export/images`` on Linux)."""
    return user_cache_dir("images")


def url_key(url: str) -> str:
    """The cache key of a URL: the sha256 of its text."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """A cached download: its bytes and what the server said about them."""
    url: str
    data: bytes
    etag: str = ""
    last_modified: str = ""
    content_type: str = ""
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRendition:
    """A cached rendition of an image (the EPUB's or the PDF's form) and its metadata."""
    key: str
    data: bytes
    sha256: str                  # of data (checked on read)
    meta: dict = field(default_factory=dict)


MAX_HEADER = 1 << 20   # bytes: a record's header line (URLs, the server's validators) is far shorter
MAX_BYTES = 25 * 1024 * 1024   # a download's default cap (``Options.max_image_bytes``)


def _read_record(path: Path, what: str, body_size: Callable[[dict], int | None]) -> tuple[dict, bytes] | None:
    """A cache file as (its JSON header line, the body after it); None when the file is missing,
    unreadable, not a regular file (a FIFO planted in a shared cache would make us wait forever, a
    link to /dev/zero read forever) or damaged. ``body_size(header)`` is the body's length that
    header stands for (None: a damaged or forged header); a body of another length is not read,
    so a file planted in a shared cache costs a header line at most, whatever its size."""
    try:    # the header line, then the body read into its own bytes (not sliced from a copy)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as fh:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError("not a regular file")
            header = fh.readline(MAX_HEADER)
            try:
                head = json.loads(header.decode("utf-8")) if header.endswith(b"\n") else None
            except ValueError:
                head = None
            size = body_size(head) if isinstance(head, dict) else None
            if head is None or size is None or size != info.st_size - len(header):
                log.debug("%s is damaged; ignored", what)
                return None
            body = fh.read(size)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.debug("%s unreadable: %s", what, exc)
        return None
    return head, body


class Cache:
    """A folder of downloaded bodies keyed by URL (and of renditions keyed by content and
    options); safe for concurrent processes."""

    def __init__(self, root: Path | str | None = None, *, digest: Callable[[bytes], str] | None = None,
                 max_bytes: int = MAX_BYTES):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.max_bytes = max_bytes   # no download is larger: a bigger entry is not read
        # bytes → SHA-256 (hex) for the checks on read; media passes one that remembers what it
        # hashed, so a body checked here is not hashed again for its rendition key
        self.digest = digest or _sha256

    def path(self, url: str) -> Path:
        """Where the body of `url` is stored."""
        key = url_key(url)
        return self.root / key[:2] / f"{key}.entry"

    def get(self, url: str) -> CacheEntry | None:
        """The stored body for ``url``, or None (missing, unreadable or damaged entry)."""
        record = _read_record(self.path(url), f"cache entry for {url}", self._entry_size)
        if record is None:
            return None
        meta, data = record
        if meta.get("url") != url:
            return None
        if meta.get("size") != len(data) or meta.get("sha256") != self.digest(data):
            log.debug("cache entry for %s is damaged; ignored", url)
            return None
        return CacheEntry(url=url, data=data, etag=meta.get("etag") or "",
                          last_modified=meta.get("last_modified") or "",
                          content_type=meta.get("content_type") or "", meta=meta)

    def _entry_size(self, head: dict) -> int | None:
        size = head.get("size")
        return size if type(size) is int and 0 <= size <= self.max_bytes else None

    def put(self, url: str, data: bytes, *, etag: str = "", last_modified: str = "",
            content_type: str = "", fetched_url: str = "") -> bool:
        """Store ``data`` for ``url`` atomically; False (and a log line) when the disk refuses. The
        URL's link (``put_link``) goes first: it may lead to another content's renditions."""
        self._forget(self.link_path(url), f"link of {url}")
        path = self.path(url)
        meta = {
            "url": url,
            "fetched_url": fetched_url or url,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "etag": etag,
            "last_modified": last_modified,
            "content_type": content_type,
            "stored_at": int(time.time()),
        }
        return self._write(path, json.dumps(meta, ensure_ascii=True, separators=(",", ":")), data)

    def discard(self, url: str) -> None:
        """Forget ``url`` (used when a cached body no longer passes the image checks), and its link."""
        self._forget(self.link_path(url), f"link of {url}")
        self._forget(self.path(url), f"cache entry of {url}")

    @staticmethod
    def _forget(path: Path, what: str) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.debug("could not remove the %s: %s", what, exc)

    # ------------------------------------------------------------ renditions
    def renditions_off(self) -> str:
        """Why renditions could not be read or stored (no usable key), "" when they could or were
        not asked for yet."""
        return _KEY_PROBLEMS.get(self.root, "")

    def rendition_path(self, key: str) -> Path:
        """Where the rendition with this key is stored."""
        return self.root / "renditions" / key[:2] / f"{key}.rendition"

    def link_path(self, url: str) -> Path:
        """Where the link from ``url`` to the content of its download is stored."""
        key = url_key(url)
        return self.root / "renditions" / key[:2] / f"{key}.link"

    def get_link(self, url: str, stamp: tuple[int, ...] | None = None) -> tuple[str, int] | None:
        """(SHA-256, size) of the checked download of ``url`` whose renditions were stored, from
        its authenticated link (``put_link``); None when missing, damaged or forged, or when its
        stamp (a local file's: ``put_link``) is not ``stamp``."""
        record = self._read_signed(self.link_path(url), f"link of {url}", lambda head: 0)
        if record is None:
            return None
        head, body = record
        if body or head.get("kind") != "link" or head.get("url") != url:
            log.debug("link of %s is damaged; ignored", url)
            return None
        if head.get("stamp") != (None if stamp is None else list(stamp)):
            log.debug("link of %s is stale; ignored", url)
            return None
        digest, size = head.get("sha256"), head.get("size")
        if not isinstance(digest, str) or type(size) is not int:
            return None
        return digest, size

    def put_link(self, url: str, sha256: str, size: int, *, stamp: tuple[int, ...] | None = None) -> bool:
        """Record, under the renditions' key, that the download of ``url`` (checked, its renditions
        stored) has this SHA-256 and size: a warm conversion finds its renditions without reading
        or hashing the download. For a local file (a ``file:`` URL), ``stamp`` is what its content
        was read under (``media._stamp``), and the link holds for that stamp only. False (and a log
        line) when the disk refuses."""
        head = {"kind": "link", "url": url, "sha256": sha256, "size": size}
        if stamp is not None:
            head["stamp"] = list(stamp)
        return self._write_signed(self.link_path(url), head, b"")

    def get_rendition(self, key: str, source: bytes | Callable[[], bytes | None] | None,
                      source_sha256: str) -> StoredRendition | None:
        """The stored rendition ``key`` of ``source`` (whose SHA-256 the caller passes), or None
        (missing, unreadable, damaged or not of this source; or stored as the source's own bytes
        when there is no ``source``: the caller has only its hash). ``source`` may be a function
        giving the source's bytes (or None), called only for a rendition stored as those bytes."""
        record = self._read_signed(self.rendition_path(key), f"rendition {key}", _rendition_size)
        if record is None:
            return None
        head, body = record
        if head.get("key") != key or not isinstance(head.get("meta"), dict):
            log.debug("rendition %s is damaged; ignored", key)
            return None
        if head.get("same_as_source"):
            if callable(source):
                source = source()
            if source is None:
                return None
            data, digest = source, source_sha256
            ok = not body and head.get("size") == len(source) and head.get("sha256") == digest
        else:
            data, digest = body, hashlib.sha256(body).hexdigest()
            ok = head.get("size") == len(body) and head.get("sha256") == digest
        if not ok:
            log.debug("rendition %s is damaged; ignored", key)
            return None
        return StoredRendition(key, data, digest, head["meta"])

    def put_rendition(self, key: str, data: bytes, meta: dict, *, sha256: str = "",
                      same_as_source: bool = False) -> bool:
        """Store one rendition atomically: ``sha256`` is the caller's hash of ``data`` (computed
        here when empty); no body when ``data`` is the source's own bytes. False (and a log line)
        when the disk refuses."""
        if _secret(self.root) is None:
            return False
        head = {"key": key, "size": len(data), "sha256": sha256 or hashlib.sha256(data).hexdigest(),
                "same_as_source": same_as_source, "meta": meta}
        return self._write_signed(self.rendition_path(key), head, b"" if same_as_source else data)

    def _read_signed(self, path: Path, what: str, body_size: Callable[[dict], int | None]
                     ) -> tuple[dict, bytes] | None:
        """A record whose header carries this cache's HMAC (``_write_signed``) as (its header
        without the MAC, its body: ``body_size(header)`` bytes); None when missing, unreadable,
        damaged or forged (its body never read then)."""
        def signed_size(head: dict) -> int | None:
            secret = _secret(self.root)    # asked only when there is a record (it may make the key)
            if secret is None or not hmac.compare_digest(str(head.pop("mac", "")), _header_mac(secret, head)):
                return None
            return body_size(head)

        return _read_record(path, what, signed_size)

    def _write_signed(self, path: Path, head: dict, body: bytes) -> bool:
        """``head`` (signed with this cache's HMAC) and ``body`` written as one record; False when
        there is no key or the disk refuses."""
        secret = _secret(self.root)
        if secret is None:
            return False
        head["mac"] = _header_mac(secret, head)
        return self._write(path, json.dumps(head, ensure_ascii=True, sort_keys=True, separators=(",", ":")), body)

    def _write(self, path: Path, header: str, body: bytes) -> bool:
        """One record (JSON header line + body) written atomically; False (and a log line) when
        the disk refuses."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_atomically(path, header.encode("ascii") + b"\n" + body, prefix=".tmp-", suffix=path.suffix)
        except OSError as exc:
            log.warning("could not write the image cache in %s: %s", self.root, exc)
            return False
        return True


def _rendition_size(head: dict) -> int | None:
    """The body length a rendition's (authenticated) header stands for: none when it is the source's own bytes."""
    size = head.get("size")
    return 0 if head.get("same_as_source") else size if type(size) is int else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _header_mac(secret: bytes, head: dict) -> str:
    """The HMAC-SHA256 of a rendition header (its metadata and, through ``sha256``, its body)."""
    text = json.dumps(head, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return hmac.new(secret, text.encode("ascii"), hashlib.sha256).hexdigest()


_KEY_PROBLEMS: dict[Path, str] = {}   # cache root → why its renditions are off (the book's warning)


@functools.lru_cache(maxsize=8)
def _secret(root: Path) -> bytes | None:
    """This user's secret for the cache at ``root`` (made on first use, mode 0600), kept in the
    user's cache folder, not in ``root``; None (renditions off, the reason logged and kept for
    ``Cache.renditions_off``) when it cannot be read or made, or when ``keys/`` is not the user's
    own (``util.foreign_folder``: whoever else can write it could plant a key and forge renditions)."""
    name = hashlib.sha256(os.path.realpath(root).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    secret, problem = _key_in(user_cache_dir("keys"), name)
    if problem:
        problem += ": cached renditions are not used"
        if problem.startswith(_FOREIGN_KEYS) and sys.platform.startswith("linux"):
            problem += " (set XDG_CACHE_HOME to a folder of your own)"   # e.g. root with the CI runner's HOME
        _KEY_PROBLEMS[root] = problem
        log.warning("%s", problem)
    return secret


_FOREIGN_KEYS = "image cache keys not used"


def _key_in(folder: Path, name: str) -> tuple[bytes | None, str]:
    """The key `name` in `folder`, made when missing (the first writer wins); else why not."""
    refused = foreign_folder(folder, make=True)
    if refused:
        return None, f"{_FOREIGN_KEYS} ({refused})"
    path = folder / name
    try:
        return _read_secret(path), ""
    except FileNotFoundError:
        pass
    except OSError as exc:
        return None, f"image cache key {path} unreadable ({exc})"
    # a random part: a killed run's leftover under this process's pid and thread id (pid 1 in a
    # container) would otherwise stop every later run from writing the key
    temp = folder / f".tmp-{name}-{os.getpid()}-{os.urandom(8).hex()}"
    try:    # written whole under another name, then linked: a reader never sees part of a key
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(32))
        os.link(temp, path)
    except FileExistsError:  # another thread or process made it first: use theirs
        pass
    except OSError as exc:
        return None, f"cannot make an image cache key in {folder} ({exc})"
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    try:
        return _read_secret(path), ""
    except OSError as exc:
        return None, f"image cache key {path} unreadable ({exc})"


def _read_secret(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        secret = fh.read(64)
    if len(secret) != 32:
        raise OSError(f"{len(secret)} bytes instead of 32 (being written?)")
    return secret

