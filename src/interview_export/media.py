"""Document image references → MediaBag: each image fetched, checked by content and normalised, or a placeholder.

Sources: ``http(s)://`` URLs (through the one ``Fetcher``: mirrors, cache, offline), local paths
resolved against the input folder (refused when they escape it, unless under
``Options.resource_dirs``), ``file://`` URLs under the same rule, and ``data:`` URIs (base64 or
percent-encoded). Every body is checked with Pillow (``formats=`` allow-list, a pixel cap checked on
the header before anything is decoded, the decompression-bomb warning turned into an error, PNG CRCs
verified, then a full ``load()``), so an HTML error page, a truncated file or a bomb becomes a
placeholder with a warning naming the source, the Markdown line and the reason.

Normalisation (EPUB ``data``): EXIF orientation applied; CMYK/palette/16-bit → RGB(A); WebP, AVIF,
BMP, TIFF → JPEG (photos) or PNG (alpha or line art); downscaled (never upscaled) to
``Options.epub_image_long_side``; animated GIFs kept as they are (size and colour: EPUB readers
animate them); ``Options.grayscale`` → L/LA for the EPUB (the PDF keeps colour).
An image that needs none of this keeps its original encoded bytes, minus EXIF/XMP/IPTC/comment/text
segments (cut out losslessly, pixels untouched); re-encoded images carry no such metadata either
(the ICC profile is kept when the colour space is unchanged). ``pdf_data`` is the same
pipeline for print: first frame of an animated GIF, long side at most ``PDF_LONG_SIDE`` (an A4 text
width at 300 dpi), colour kept; it is the very same bytes as ``data`` when nothing differs.
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
from io import BytesIO
from pathlib import Path
from struct import error as struct_error  # Pillow raises it on some broken headers
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from PIL import Image, ImageOps, UnidentifiedImageError, features

from .errors import ImageError
from .fetcher import Fetcher
from .model import Document, image_refs
from .options import Options

log = logging.getLogger("interview_export.media")

PDF_LONG_SIDE = 2000          # px: 160 mm of A4 text width at 300 dpi ≈ 1890 px
MAX_PIXELS = 89_478_485       # Pillow's own bomb threshold (~ 9459²); checked on the header
MAX_ANIMATION_PIXELS = 8 * MAX_PIXELS   # width × height × frames for animated images
JPEG_QUALITY = 85
LINE_ART_COLOUR_RATIO = 0.25  # distinct colours / sampled pixels below this → PNG, not JPEG

Image.init()
# what we accept as input (MPO, a JPEG with extra frames, comes in through the JPEG opener)
ALLOWED_FORMATS: tuple[str, ...] = tuple(
    f for f in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF") if f in Image.OPEN
    and (f != "AVIF" or features.check("avif")))
# formats an EPUB (and Kindle) shows as they are → (media type, extension)
KEPT_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "GIF": ("image/gif", "gif")}

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


class _Refused(Exception):
    """Internal: the reason an image cannot be used."""


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
                raise _Refused(value)
        except _Refused as exc:
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
                done[hashlib.sha256(data).hexdigest()] = _normalise(data, options, targets)
            except _Refused as exc:
                raise ImageError("<bytes>", str(exc)) from None

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
            bag.assets[src] = _dataclass_replace(result, src=src, alt=alt, line=line)
    return bag


def check_image_bytes(data: bytes) -> None:
    """Raise ImageError unless ``data`` is a complete, allowed, non-bomb image (the fetcher's check)."""
    try:
        _load_checked(data).close()
    except _Refused as exc:
        raise ImageError("<bytes>", str(exc)) from None


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


def _dataclass_replace(asset: ImageAsset, **changes) -> ImageAsset:
    return dataclasses.replace(asset, **changes)


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
        raise _Refused("malformed data: URI (no comma)")
    is_base64 = header.lower().rstrip().endswith(";base64")
    estimate = len(payload) * 3 // 4 if is_base64 else len(payload)
    if estimate > max_bytes * (1 if is_base64 else 3):
        raise _Refused(f"too large (data: URI of about {estimate} bytes, limit {max_bytes})")
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
                raise _Refused(f"malformed base64 in data: URI ({exc})") from None
    else:
        data = unquote_to_bytes(payload)
    if len(data) > max_bytes:
        raise _Refused(f"too large ({len(data)} bytes, limit {max_bytes})")
    return data


_WHITESPACE = str.maketrans("", "", " \t\r\n")


def _read_local(src: str, base: Path, options: Options) -> bytes:
    """Bytes of a local image, only from the input folder or the named resource folders."""
    if src[:5].lower() == "file:":
        parts = urlsplit(src)
        if parts.netloc not in ("", "localhost"):
            raise _Refused(f"file: URL with a remote host {parts.netloc!r} is not allowed")
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
                raise _Refused("path is outside the input folder "
                               "(add the folder to the resource folders to allow it)")
            if resolved.exists():
                chosen = resolved
                break
        if chosen is None:
            raise _Refused("file not found")
        if not chosen.is_file():
            raise _Refused("not a regular file")
        size = chosen.stat().st_size
    except (OSError, ValueError) as exc:  # NUL bytes, names too long, loops of symlinks
        raise _Refused(f"unusable path ({exc})") from None
    if size > options.max_image_bytes:
        raise _Refused(f"too large ({size} bytes, limit {options.max_image_bytes})")
    try:
        with open(chosen, "rb") as fh:
            data = fh.read(options.max_image_bytes + 1)
    except OSError as exc:
        raise _Refused(f"cannot read the file ({exc.strerror or exc})") from None
    if len(data) > options.max_image_bytes:
        raise _Refused(f"too large (limit {options.max_image_bytes} bytes)")
    return data


# ---------------------------------------------------------------- checking
def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise _Refused(_not_an_image(data)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _Refused(f"decompression bomb refused ({exc})") from None
    except (OSError, SyntaxError, ValueError, struct_error) as exc:
        raise _Refused(f"corrupt image ({exc})") from None


def _load_checked(data: bytes) -> Image.Image:
    if not data:
        raise _Refused("empty file")
    im = _open(data)
    fmt = im.format
    w, h = im.size
    if w <= 0 or h <= 0:
        raise _Refused(f"invalid image size {w}×{h}")
    if w * h > MAX_PIXELS:
        raise _Refused(f"decompression bomb refused ({w}×{h} pixels, limit {MAX_PIXELS})")
    try:
        frames = getattr(im, "n_frames", 1)
        if frames > 1 and w * h * frames > MAX_ANIMATION_PIXELS:
            raise _Refused(f"decompression bomb refused ({frames} frames of {w}×{h})")
        if fmt == "PNG":
            im.verify()  # chunk CRCs and completeness, without decoding
            im = _open(data)
        im.load()
    except _Refused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _Refused(f"decompression bomb refused ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct_error) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            raise _Refused(f"truncated image ({fmt}: {msg})") from None
        raise _Refused(f"corrupt image ({fmt}: {msg})") from None
    return im


def _not_an_image(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:2048].lower()):
        return "SVG images are not supported (not a raster image)"
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        return "not an image (the server sent an HTML/text page)"
    if head[:1] in (b"{", b"["):
        return "not an image (JSON/text data)"
    return f"not a supported image (unrecognised data starting {data[:8]!r})"


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
            return _normalise(by_hash[digest], options, targets)
        except _Refused as exc:
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
                result_for = _dataclass_replace(result, status="cached")
            else:
                result_for = result
            out[src] = result_for
    return out


def _normalise(data: bytes, options: Options, targets: tuple[str, ...] = ("epub", "pdf")) -> ImageAsset:
    im = _load_checked(data)
    try:
        src_fmt = im.format or ""
        fmt = "JPEG" if src_fmt == "MPO" else src_fmt  # MPO: a JPEG with extra frames
        w, h = im.size
        animated = getattr(im, "is_animated", False) and getattr(im, "n_frames", 1) > 1
        if animated:
            im.seek(0)
        e_long, p_long = options.epub_image_long_side, PDF_LONG_SIDE
        keep_gif = animated and fmt == "GIF"    # EPUB readers animate GIFs: kept whatever its size
        want_epub, want_pdf = "epub" in targets, "pdf" in targets or "epub" not in targets
        # Pillow hands 48/64-bit PNGs over as 8-bit RGB(A): the IHDR bit depth tells them apart
        deep = fmt == "PNG" and len(data) > 24 and data[24] == 16
        epub_change = want_epub and not keep_gif and (
            deep or _needs_change(im, fmt, animated, e_long, options.grayscale))
        pdf_change = want_pdf and (deep or _needs_change(im, fmt, animated, p_long, False))
        icc, src_mode = im.info.get("icc_profile"), im.mode
        base = _prepared(im) if (epub_change or pdf_change) else None
        unchanged = (strip_metadata(data, fmt), fmt, w, h)
        if pdf_change:
            # WeasyPrint re-compresses PNG pixels itself, so a fast zlib level costs no PDF bytes
            pdf = _encode(_downscaled(base, p_long), fmt, icc, src_mode, png_level=1)
        else:
            pdf = unchanged
        if not want_epub:
            epub = pdf
        elif keep_gif:
            epub = (data, "GIF", w, h)
        elif epub_change:
            out = _downscaled(base, e_long)  # from the full image: one resampling, sharpest text
            if options.grayscale and out.mode not in ("L", "LA"):
                out = out.convert("LA" if out.mode == "RGBA" else "L")
            epub = _encode(out, fmt, icc, src_mode, png_level=6)
        else:
            epub = unchanged
        if not want_pdf:
            pdf = epub
    finally:
        im.close()
    if epub[0] == pdf[0]:
        pdf = epub  # the same bytes object: backends (and tests) can tell they are shared
    e_bytes, e_fmt, e_w, e_h = epub
    p_bytes, p_fmt, _, _ = pdf
    e_type, e_ext = KEPT_FORMATS[e_fmt]
    p_type, p_ext = KEPT_FORMATS[p_fmt]
    return ImageAsset(
        src="", status="ok", filename=f"images/{hashlib.sha256(e_bytes).hexdigest()[:16]}.{e_ext}",
        media_type=e_type, data=e_bytes, pdf_data=p_bytes, width=e_w, height=e_h, format=e_fmt,
        pdf_media_type=p_type,
        pdf_filename=f"images/{hashlib.sha256(p_bytes).hexdigest()[:16]}.{p_ext}",
        source_format=src_fmt, source_size=len(data), source_width=w, source_height=h)


def _needs_change(im: Image.Image, fmt: str, animated: bool, long_side: int, grayscale: bool) -> bool:
    """Whether the target needs anything but the original bytes (minus metadata)."""
    return (fmt not in KEPT_FORMATS or animated or _orientation(im) != 1
            or max(im.size) > long_side
            or im.mode not in _GOOD_MODES.get(fmt, ())
            or (grayscale and im.mode not in ("1", "L", "LA")))


def _prepared(im: Image.Image) -> Image.Image:
    """Upright (EXIF orientation applied), in L/LA/RGB/RGBA, alpha dropped when fully opaque.

    ``im`` itself when nothing changes (no copy: a 70-megapixel screenshot costs 200 MB)."""
    out = ImageOps.exif_transpose(im) if _orientation(im) != 1 else im
    out = _to_rgb_family(out)
    if out.mode == "RGBA" and out.getchannel("A").getextrema() == (255, 255):
        out = out.convert("RGB")
    return out


def _downscaled(im: Image.Image, long_side: int) -> Image.Image:
    """``im`` itself when it fits, else a resampled image whose long side is ``long_side``."""
    w, h = im.size
    if max(w, h) <= long_side:
        return im
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(out: Image.Image, fmt: str, icc: bytes | None, src_mode: str, *,
            png_level: int) -> tuple[bytes, str, int, int]:
    """(bytes, format, width, height): JPEG stays JPEG, PNG/GIF → PNG, others by content."""
    if fmt == "JPEG" and out.mode in ("RGB", "L"):
        target = "JPEG"
    elif fmt in ("PNG", "GIF") or out.mode in ("RGBA", "LA"):
        target = "PNG"
    else:
        target = "PNG" if _looks_like_line_art(out) else "JPEG"
    keep_icc = icc and ((src_mode in ("RGB", "RGBA", "P") and out.mode in ("RGB", "RGBA"))
                        or (src_mode in ("L", "LA") and out.mode in ("L", "LA")))
    params = {"icc_profile": icc if keep_icc else None}  # explicit: PNG would copy im.info's
    buf = BytesIO()
    if target == "JPEG":
        out.convert("RGB" if out.mode not in ("RGB", "L") else out.mode).save(
            buf, "JPEG", quality=JPEG_QUALITY, optimize=True, **params)
    else:
        out.save(buf, "PNG", compress_level=png_level, **params)
    return buf.getvalue(), target, out.width, out.height


_GOOD_MODES = {
    "JPEG": ("L", "RGB"),
    "PNG": ("1", "L", "LA", "RGB", "RGBA"),
    "GIF": ("P", "L"),
}


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
        return value if isinstance(value, int) and 1 <= value <= 8 else 1
    except Exception:  # unreadable EXIF is not a reason to refuse the picture
        return 1


def _to_rgb_family(im: Image.Image) -> Image.Image:
    """Any Pillow mode → L, LA, RGB or RGBA (16-bit scaled down, not clipped)."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return im
    if mode == "1":
        return im.convert("L")
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        scale = 1 / 256 if mode.startswith("I;16") or _max_value(im) > 255 else 1
        return im.convert("I").point(lambda v: v * scale).convert("L")
    if mode == "F":
        scale = 255.0 if _max_value(im) <= 1.0 else 1.0
        return im.point(lambda v: v * scale).convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return im.convert("RGBA" if has_alpha else "RGB")
    if mode == "CMYK":
        return im.convert("RGB")
    if mode.endswith("A") or "A" in im.getbands():
        return im.convert("RGBA")
    return im.convert("RGB")


def _max_value(im: Image.Image) -> float:
    lo, hi = im.getextrema() if im.mode in ("I", "F", "I;16") else (0, 255)
    return hi


def _looks_like_line_art(im: Image.Image) -> bool:
    """Screenshots and diagrams have few distinct colours; photos have many (decides PNG vs JPEG)."""
    sample = im.convert("RGB")
    sample = sample.resize((min(128, sample.width), min(128, sample.height)), Image.Resampling.NEAREST)
    total = sample.width * sample.height
    colours = sample.getcolors(maxcolors=total)
    return colours is not None and len(colours) / total < LINE_ART_COLOUR_RATIO


# ---------------------------------------------------------------- lossless metadata removal
_JPEG_DROP = {0xE1, 0xED, 0xFE}       # APP1 (Exif, XMP), APP13 (Photoshop/IPTC), COM
_PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}


def strip_metadata(data: bytes, fmt: str) -> bytes:
    """``data`` without EXIF/XMP/IPTC/comments/text chunks; pixels, ICC and colour chunks untouched.

    Lossless (segments are cut out, nothing is decoded or re-encoded); returns ``data`` itself when
    there is nothing to remove or the structure is not what we expect."""
    try:
        if fmt == "JPEG":
            return _strip_jpeg(data)
        if fmt == "PNG":
            return _strip_png(data)
    except (IndexError, ValueError):
        pass
    return data


def _strip_jpeg(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        return data
    keep = [data[:2]]
    pos, dropped = 2, False
    while pos < len(data):
        if data[pos] != 0xFF:
            return data  # not a marker where one must be: leave the file alone
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA or marker == 0xD9:  # start of scan / end: the rest is image data
            keep.append(data[pos:])
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            keep.append(data[pos:pos + 2])
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            return data
        if marker in _JPEG_DROP:
            dropped = True
        else:
            keep.append(data[pos:pos + 2 + length])
        pos += 2 + length
    return b"".join(keep) if dropped else data


def _strip_png(data: bytes) -> bytes:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return data
    keep = [data[:8]]
    pos, dropped = 8, False
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return data
        if kind in _PNG_DROP:
            dropped = True
        else:
            keep.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(keep) if dropped else data
