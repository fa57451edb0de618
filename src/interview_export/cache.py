"""Image URL → bytes on disk: the download cache the fetcher reads before it touches the network.

Layout: one file per URL, ``<root>/<first two hex>/<sha256 of the URL>.entry``: a one-line JSON
header ``{"url", "sha256", "size", "etag", "last_modified", "content_type", "fetched_url",
"stored_at"}``, a newline, then the body. The key is the URL exactly as written in the Markdown
(before mirrors are applied), so switching or dropping a mirror keeps the cached images.

Each entry is written to a temporary file in the same folder and moved into place with one
``os.replace``, so readers never see half a file and two processes storing the same URL at once
leave one writer's complete entry (header and body always belong together). The header's SHA-256
is checked on every read; a damaged entry is a miss. Cache problems (read-only folder, full disk)
never fail a conversion: they are logged and the cache behaves as empty.

Freshness policy: an entry is served as it is, without revalidation, so a second conversion of
the same article makes zero network requests (articles' images rarely change, and offline
rebuilds must be reproducible). The stored ETag/Last-Modified let the fetcher revalidate when it
is built with ``revalidate=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

log = logging.getLogger("interview_export.cache")

APP_NAME = "interview-export"


def default_cache_dir() -> Path:
    """The per-user cache folder (``$XDG_CACHE_HOME/interview-export/images`` on Linux)."""
    return platformdirs.user_cache_path(APP_NAME, appauthor=False) / "images"


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    url: str
    data: bytes
    etag: str = ""
    last_modified: str = ""
    content_type: str = ""
    meta: dict = field(default_factory=dict)


class Cache:
    """A folder of downloaded bodies keyed by URL; safe for concurrent processes."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, url: str) -> Path:
        key = url_key(url)
        return self.root / key[:2] / f"{key}.entry"

    def get(self, url: str) -> CacheEntry | None:
        """The stored body for ``url``, or None (missing, unreadable or damaged entry)."""
        try:
            raw = self.path(url).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.debug("cache entry for %s unreadable: %s", url, exc)
            return None
        header, sep, data = raw.partition(b"\n")
        try:
            meta = json.loads(header.decode("utf-8")) if sep else None
        except ValueError:
            meta = None
        if not isinstance(meta, dict) or meta.get("url") != url:
            return None
        if meta.get("size") != len(data) or meta.get("sha256") != hashlib.sha256(data).hexdigest():
            log.debug("cache entry for %s is damaged; ignored", url)
            return None
        return CacheEntry(url=url, data=data, etag=meta.get("etag") or "",
                          last_modified=meta.get("last_modified") or "",
                          content_type=meta.get("content_type") or "", meta=meta)

    def put(self, url: str, data: bytes, *, etag: str = "", last_modified: str = "",
            content_type: str = "", fetched_url: str = "") -> bool:
        """Store ``data`` for ``url`` atomically; False (and a log line) when the disk refuses."""
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
        header = json.dumps(meta, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, header + b"\n" + data)
        except OSError as exc:
            log.warning("could not write the image cache in %s: %s", self.root, exc)
            return False
        return True

    def discard(self, url: str) -> None:
        """Forget ``url`` (used when a cached body no longer passes the image checks)."""
        try:
            self.path(url).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.debug("could not remove the cache entry of %s: %s", url, exc)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder + ``os.replace`` (never a half file)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
