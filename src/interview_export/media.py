"""Document image references → MediaBag: each image fetched, checked by content and normalised, or a placeholder.

Sources: ``http(s)://`` URLs (through the one ``Fetcher``: mirrors, cache, offline), local paths
resolved against the input folder (refused when they escape it, symlinks included, unless under
``Options.resource_dirs``), ``file://`` URLs under the same rule, and ``data:`` URIs (base64 or
percent-encoded). Every body goes through ``images.normalise`` (checks by content, then the EPUB
and PDF renditions), so an HTML error page, a truncated file or a bomb becomes a placeholder with
one warning naming the source, the Markdown line and the reason. Each distinct src is fetched
and warned about once; each distinct body is processed once; identical bytes share one filename.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import logging
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from PIL import Image

from .errors import ImageError
from .fetcher import Fetcher
from .images import ImageRefused, Normalised, normalise
from .model import Document, image_refs
from .options import Options

log = logging.getLogger("interview_export.media")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


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
    pdf_filename: str = ""
    source_format: str = ""      # what the bytes really were (e.g. "WEBP", "JPEG" for a .png name)
    source_size: int = 0         # bytes before normalisation
    source_width: int = 0
    source_height: int = 0

    @property
    def ok(self) -> bool:
        return self.status != "placeholder"


@dataclass
class MediaBag:
    """Every image source of a document → its asset; warnings in reading order."""

    assets: dict[str, ImageAsset] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, src: str) -> ImageAsset | None:
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
                  fetcher: Fetcher | None = None, targets: tuple[str, ...] = ("epub", "pdf")) -> MediaBag:
    """Resolve every image of ``doc``; the same src is fetched, processed and warned about once.

    ``base_dir`` is the input file's folder (None: the current folder, e.g. for stdin). ``fetcher``
    (tests, or a batch sharing one client and cache) brings its own policy; otherwise one is built
    from ``options`` and closed again. Never raises for a bad image: ``--strict`` is the caller's
    business (``MediaBag.missing()``). ``targets`` names the backends that will read the bag: with
    only one of them the other rendition is not computed and ``data``/``pdf_data`` are the same."""
    refs = image_refs(doc)
    first: dict[str, tuple[str, int]] = {}
    for src, alt, line in refs:
        first.setdefault(src, (alt, line))
    bag = MediaBag()
    if not first:
        return bag
    base = Path(base_dir) if base_dir is not None else Path.cwd()

    raw: dict[str, tuple[bytes, bool] | str] = {}   # src → (bytes, from_cache) or refusal reason
    remote: dict[str, str] = {}                      # src → URL to fetch
    for src in first:
        kind, value = _classify(src)
        try:
            if kind == "remote":
                remote[src] = value
            elif kind == "data":
                raw[src] = (_decode_data_uri(value, options.max_image_bytes), False)
            elif kind == "local":
                raw[src] = (_read_local(value, base, options), False)
            else:
                raise ImageRefused(value)
        except ImageRefused as exc:
            raw[src] = str(exc)

    own = fetcher is None and bool(remote)
    if own:
        fetcher = Fetcher.from_options(options)
    # The filter list is process-wide, so this also covers the worker threads below. Pillow warns
    # (instead of failing) between MAX_IMAGE_PIXELS and twice that: make that an error. Other
    # Pillow warnings (odd EXIF, odd chunks) are logged, never printed by library code.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        done: dict[str, ImageAsset] = {}  # sha256 of body → normalised asset (filled by the check)

        def check(data: bytes) -> None:
            """The fetcher's acceptance test: normalising *is* checking, so do it once, here."""
            try:
                done[hashlib.sha256(data).hexdigest()] = _asset(data, options, targets)
            except ImageRefused as exc:
                raise ImageError("<bytes>", str(exc)) from None
            except Exception as exc:  # Pillow can raise odd things on hostile input
                log.debug("unexpected error processing a download", exc_info=True)
                raise ImageError("<bytes>", f"cannot process image ({type(exc).__name__}: {exc})") from None

        try:
            if remote:
                results = fetcher.fetch_many(remote.values(), check=check)
                for src, url in remote.items():
                    res = results[url]
                    raw[src] = res.reason if isinstance(res, ImageError) else (res.data, res.from_cache)
        finally:
            if own:
                fetcher.close()
        processed = _process_all(raw, options, done, targets)
    for w in caught:
        log.debug("while reading images: %s: %s", w.category.__name__, w.message)

    for src, (alt, line) in first.items():
        result = processed[src]
        if isinstance(result, str):
            bag.assets[src] = ImageAsset(src=src, status="placeholder", reason=result, alt=alt, line=line)
            bag.warnings.append(f"{_where(doc.name, line)}: image {describe_src(src)}: {result}")
        else:
            bag.assets[src] = dataclasses.replace(result, src=src, alt=alt, line=line)
    return bag


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
        if not chosen.is_file():
            raise ImageRefused("not a regular file")
        size = chosen.stat().st_size
    except (OSError, ValueError) as exc:  # NUL bytes, names too long, loops of symlinks
        raise ImageRefused(f"unusable path ({exc})") from None
    if size > options.max_image_bytes:
        raise ImageRefused(f"too large ({size} bytes, limit {options.max_image_bytes})")
    try:
        with open(chosen, "rb") as fh:
            data = fh.read(options.max_image_bytes + 1)
    except OSError as exc:
        raise ImageRefused(f"cannot read the file ({exc.strerror or exc})") from None
    if len(data) > options.max_image_bytes:
        raise ImageRefused(f"too large (limit {options.max_image_bytes} bytes)")
    return data


# ---------------------------------------------------------------- normalising
def _process_all(raw: dict[str, tuple[bytes, bool] | str], options: Options,
                 done_before: dict[str, ImageAsset], targets: tuple[str, ...]) -> dict[str, ImageAsset | str]:
    """Check and normalise every body once per distinct content, in parallel (Pillow drops the GIL)."""
    out: dict[str, ImageAsset | str] = {}
    by_hash: dict[str, bytes] = {}
    wanted: dict[str, list[str]] = {}
    for src, item in raw.items():
        if isinstance(item, str):
            out[src] = item
            continue
        digest = hashlib.sha256(item[0]).hexdigest()
        by_hash.setdefault(digest, item[0])
        wanted.setdefault(digest, []).append(src)

    def work(digest: str) -> ImageAsset | str:
        if digest in done_before:
            return done_before[digest]
        try:
            return _asset(by_hash[digest], options, targets)
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
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ie-image") as pool:
            done = list(pool.map(work, digests))
    for digest, result in zip(digests, done):
        for src in wanted[digest]:
            item = raw[src]
            if isinstance(result, ImageAsset) and item[1]:
                result_for = dataclasses.replace(result, status="cached")
            else:
                result_for = result
            out[src] = result_for
    return out


def _asset(data: bytes, options: Options, targets: tuple[str, ...]) -> ImageAsset:
    """The asset of one body (src, alt and line are filled in by the caller)."""
    n: Normalised = normalise(data, epub_long_side=options.epub_image_long_side,
                              grayscale=options.grayscale, targets=targets)
    epub, pdf = n.epub, n.pdf
    return ImageAsset(
        src="", status="ok", filename=_filename(epub.data, epub.extension), media_type=epub.media_type,
        data=epub.data, pdf_data=pdf.data, width=epub.width, height=epub.height, format=epub.format,
        pdf_media_type=pdf.media_type, pdf_filename=_filename(pdf.data, pdf.extension),
        source_format=n.source_format, source_size=len(data),
        source_width=n.source_width, source_height=n.source_height)


def _filename(data: bytes, extension: str) -> str:
    """ASCII, content-derived: identical bytes from two sources share one file in the book."""
    return f"images/{hashlib.sha256(data).hexdigest()[:16]}.{extension}"
