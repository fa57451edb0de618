"""Untrusted image bytes → a checked Pillow image → EPUB and PDF renditions (Pillow only, no I/O).

Checking: a ``formats=`` allow-list, a pixel cap read from the header before anything is decoded,
the decompression-bomb warning turned into an error by the caller (``media.collect_media``), PNG
CRCs verified, then a full ``load()`` (a JPEG at a libjpeg draft scale when no rendition needs
all its pixels: every byte is still decoded); failures raise ``ImageRefused(reason)``.

Normalising: EXIF orientation applied; CMYK/palette/16-bit → RGB(A) 8-bit; WebP, AVIF, BMP, TIFF →
JPEG (photos) or PNG (alpha or line art); downscaled, never upscaled, to the EPUB long side
(default 1600 px) and to ``PDF_LONG_SIDE`` for print; animated GIFs kept as they are for the EPUB
(size and colour: readers animate them), first frame for the PDF; grayscale (e-ink) for the EPUB
only. An image that needs none of this keeps its original encoded bytes, minus EXIF/XMP/IPTC/
comment/text segments (cut out losslessly, pixels untouched); re-encoded images carry no such
metadata either (the ICC profile is kept when the colour space is unchanged).

Pillow is imported on first use, with only the plugins of the formats we accept (``Image.init()``
would load all forty): a conversion whose renditions all come from the cache never loads it. The
plugins of WebP, TIFF and AVIF (~5 ms) are imported only for bytes that are none of the others.
"""

from __future__ import annotations

import re
import sys
import threading
from dataclasses import dataclass
from io import BytesIO
from struct import error as struct_error  # Pillow raises it on some broken headers
from typing import TYPE_CHECKING

from .errors import ImageRefused
from .model import KEPT_FORMATS

if TYPE_CHECKING:
    from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

PDF_LONG_SIDE = 2000          # px: 160 mm of A4 text width at 300 dpi ≈ 1890 px
MAX_PIXELS = 89_478_485       # Pillow's own bomb threshold (~ 9459²); checked on the header
MAX_ANIMATION_PIXELS = 8 * MAX_PIXELS   # width × height × frames for animated images
JPEG_QUALITY = 85
LINE_ART_COLOUR_RATIO = 0.25  # distinct colours / sampled pixels below this → PNG, not JPEG

# what we accept as input (MPO, a JPEG with extra frames, comes in through the JPEG opener);
# the formats whose Pillow plugin is missing are dropped when Pillow is loaded (``_pillow``)
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF")
# the four whose plugins Image.open imports anyway (its preinit), tried first: trying the others
# only when these fail accepts the same images (only BMP moves, before WebP: RIFF is never BM)
COMMON_FORMATS = ("JPEG", "PNG", "GIF", "BMP")
ALLOWED_FORMATS: tuple[str, ...] = ()         # the common ones this Pillow has, set by _pillow()
_others: tuple[str, ...] | None = None        # the others it has, set by more_formats()


@dataclass(frozen=True)
class Rendition:
    """Encoded bytes for one target and what they are."""

    data: bytes
    format: str    # "JPEG" | "PNG" | "GIF"
    width: int
    height: int

    @property
    def media_type(self) -> str:
        """The media type of the rendition's format (image/jpeg …)."""
        return KEPT_FORMATS[self.format][0]

    @property
    def extension(self) -> str:
        """The file extension of the rendition's format (.jpg …)."""
        return KEPT_FORMATS[self.format][1]


@dataclass(frozen=True)
class Normalised:
    """An image normalised for both books: the EPUB's rendition, the PDF's, the source format and size."""
    epub: Rendition
    pdf: Rendition          # the very same object as ``epub`` when the bytes are identical
    source_format: str      # what the bytes really were (e.g. "WEBP"; "JPEG" for a .png name)
    source_width: int
    source_height: int


_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "I;16": 2, "I;16B": 2, "I;16L": 2,
                    "I;16N": 2, "RGB": 4, "RGBA": 4, "CMYK": 4, "YCbCr": 4, "I": 4, "F": 4}


def decode_cost(data: bytes) -> int:
    """About how many bytes normalising ``data`` holds at its peak (decoded image, a converted
    copy, the resized output), read from the header only; 0 when the header is unreadable."""
    try:
        im = _open(data)
    except ImageRefused:
        return 0
    try:
        w, h = im.size
        return w * h * (_BYTES_PER_PIXEL.get(im.mode, 4) + 4) + (1 << 20)
    finally:
        im.close()


# ---------------------------------------------------------------- Pillow, loaded on first use
_PLUGINS = {"JPEG": "JpegImagePlugin", "PNG": "PngImagePlugin", "GIF": "GifImagePlugin",
            "WEBP": "WebPImagePlugin", "BMP": "BmpImagePlugin", "TIFF": "TiffImagePlugin",
            "AVIF": "AvifImagePlugin"}
_pillow_lock = threading.Lock()
if not TYPE_CHECKING:   # the Pillow modules, set by _pillow() on first use
    Image = ImageFile = ImageOps = UnidentifiedImageError = None  # noqa: F811


def _pillow() -> None:
    """Import Pillow and the plugins of COMMON_FORMATS (thread-safe; a no-op once done)."""
    global Image, ImageFile, ImageOps, UnidentifiedImageError, ALLOWED_FORMATS
    if Image is not None:
        return
    with _pillow_lock:
        if Image is not None:
            return
        from PIL import (
            Image as image_mod,
            ImageFile as imagefile_mod,
            ImageOps as imageops_mod,
            UnidentifiedImageError as unidentified,
        )

        ALLOWED_FORMATS = _import_plugins(COMMON_FORMATS, image_mod.OPEN)
        _big_blocks_back_to_the_system()
        ImageFile, ImageOps, UnidentifiedImageError = imagefile_mod, imageops_mod, unidentified  # type: ignore[misc]
        Image = image_mod  # last: other threads test it without the lock


def more_formats() -> tuple[str, ...]:
    """The accepted formats beyond COMMON_FORMATS that this Pillow reads, their plugins imported
    on first call (thread-safe)."""
    global _others
    _pillow()
    with _pillow_lock:
        if _others is None:
            from PIL import features

            others = tuple(f for f in ACCEPTED_FORMATS if f not in COMMON_FORMATS)
            _others = tuple(f for f in _import_plugins(others, Image.OPEN)
                            if f != "AVIF" or features.check("avif"))
        return _others


def _import_plugins(formats: tuple[str, ...], registered: dict) -> tuple[str, ...]:
    import importlib

    for fmt in formats:
        try:
            importlib.import_module(f"PIL.{_PLUGINS[fmt]}")
        except ImportError:  # an optional codec this Pillow build lacks
            pass
    return tuple(f for f in formats if f in registered)


def _big_blocks_back_to_the_system() -> None:
    """glibc raises its mmap threshold after each large free, so decoded images (16 MB Pillow
    blocks, 100 MB buffers) then come from per-thread heaps that keep the memory: eight large
    images on eight threads peaked at 1.8 GB instead of 0.3 GB. A fixed 4 MB threshold keeps
    large blocks in their own mappings, returned on free. A no-op off glibc."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 4 * 1024 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


# ---------------------------------------------------------------- checking
def _open(data: bytes) -> Image.Image:
    """Pillow's lazy open, restricted to the accepted formats; errors → ImageRefused."""
    _pillow()
    try:
        try:
            return Image.open(BytesIO(data), formats=ALLOWED_FORMATS)
        except UnidentifiedImageError:
            return Image.open(BytesIO(data), formats=more_formats())
    except UnidentifiedImageError:
        raise ImageRefused(_not_an_image(data)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRefused(f"decompression bomb refused ({exc})") from None
    except (OSError, SyntaxError, ValueError, struct_error) as exc:
        raise ImageRefused(f"corrupt image ({exc})") from None


def load_checked(data: bytes, *, before_load=None) -> Image.Image:
    """A decoded (first frame), checked image of ``data``; the caller closes it.

    ``before_load(im)`` sees the opened, checked, not yet decoded image (``normalise`` sets a
    JPEG's ``draft`` scale there: the pixels are then smaller, the checks the same)."""
    if not data:
        raise ImageRefused("empty file")
    _pillow()
    # Importing WeasyPrint sets this process-wide flag to True, which makes Pillow pad truncated
    # files silently; our check must see truncation whatever was imported before.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    im = _open(data)
    fmt = im.format
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ImageRefused(f"invalid image size {w}×{h}")
    if w * h > MAX_PIXELS:
        raise ImageRefused(f"decompression bomb refused ({w}×{h} pixels, limit {MAX_PIXELS})")
    try:
        frames = getattr(im, "n_frames", 1)
        if frames > 1 and w * h * frames > MAX_ANIMATION_PIXELS:
            raise ImageRefused(f"decompression bomb refused ({frames} frames of {w}×{h})")
        if fmt == "PNG":
            im.verify()  # chunk CRCs and completeness, without decoding
            im = _open(data)
        if before_load is not None:
            before_load(im)
        im.load()
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRefused(f"decompression bomb refused ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct_error) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            raise ImageRefused(f"truncated image ({fmt}: {msg})") from None
        raise ImageRefused(f"corrupt image ({fmt}: {msg})") from None
    return im


def _not_an_image(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:2048].lower()):
        return "SVG images are not supported (not a raster image)"
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        return "not an image (the server sent an HTML/text page)"
    if head[:1] in (b"{", b"["):
        return "not an image (JSON/text data)"
    return f"not a supported image (unrecognised data, {len(data)} bytes)"  # never the bytes themselves


def normalise(data: bytes, *, epub_long_side: int = 1600, grayscale: bool = False,
              targets: tuple[str, ...] = ("epub", "pdf")) -> Normalised:
    """Both renditions of ``data`` (only the targets asked for are computed; the other shares it).

    Each rendition depends on ``data`` and its own target's options only, never on the other
    target being asked for too: both come from one decode when they need the same draft scale;
    else the target needing the smaller one is made as when it is alone, from a decode of its own."""
    made, apart = _normalise(data, epub_long_side, grayscale, targets)
    if apart:   # decoded once the shared decode's images are freed (returned from): one at a time
        alone = _normalise(data, epub_long_side, grayscale, (apart,))[0]
        epub, pdf = (alone.epub, made.pdf) if apart == "epub" else (made.epub, alone.pdf)
        made = Normalised(epub, epub if epub.data == pdf.data else pdf, made.source_format,
                          made.source_width, made.source_height)
    return made


def _normalise(data: bytes, epub_long_side: int, grayscale: bool,
               targets: tuple[str, ...]) -> tuple[Normalised, str]:
    """``normalise`` from one decode, and the target left out of it ("" if none): the one whose
    own draft scale is smaller than the other's (its rendition is then the other's, to replace)."""
    e_long, p_long = epub_long_side, PDF_LONG_SIDE
    want_epub, want_pdf = "epub" in targets, "pdf" in targets or "epub" not in targets
    full: list[tuple[int, int]] = []
    apart: list[str] = []   # the wanted target whose own draft scale is not the shared decode's

    def draft(opened: Image.Image) -> None:
        """A JPEG whose every re-encoded rendition is downscaled decodes at 1/2, 1/4 or 1/8 of
        its size (libjpeg's DCT scaling: far less work), never below the long side of a rendition
        made from it (the target that alone would decode at a smaller scale is left apart). A
        JPEG kept as it is (no rendition needs its pixels) decodes at 1/8 only to be checked:
        libjpeg still reads and entropy-decodes every byte to the end, so truncated or corrupt
        data fails as in a full decode (tests compare both on damaged files), with 1/64 of the
        memory (~1,600 fewer page faults for the seed's five pictures)."""
        full.append(opened.size)
        if opened.format != "JPEG":
            return
        longs = {t: n for t, n, want, grey in (("epub", e_long, want_epub, grayscale),
                                                ("pdf", p_long, want_pdf, False))
                 if want and _needs_change(opened, "JPEG", False, n, grey)}
        if not longs:
            opened.draft(opened.mode, (1, 1))
            return
        scales = {t: _draft_scale(opened.size, n) for t, n in longs.items()}
        apart.extend(t for t, s in scales.items() if s != min(scales.values()))
        shared = [n for t, n in longs.items() if t not in apart]
        request = _draft_request(opened.size, max(shared)) if 0 not in shared else None
        if request is not None:
            opened.draft(opened.mode, request)

    im = load_checked(data, before_load=draft)
    want_epub, want_pdf = want_epub and "epub" not in apart, want_pdf and "pdf" not in apart
    try:
        src_fmt = im.format or ""
        fmt = "JPEG" if src_fmt == "MPO" else src_fmt  # MPO: a JPEG with extra frames
        w, h = full[0] if full else im.size             # the size before any draft scaling
        upright = (h, w) if _orientation(im) in (5, 6, 7, 8) else (w, h)
        animated = getattr(im, "is_animated", False) and getattr(im, "n_frames", 1) > 1
        if animated:
            im.seek(0)
        keep_gif = animated and fmt == "GIF"    # EPUB readers animate GIFs: kept whatever its size
        # Pillow hands 48/64-bit PNGs over as 8-bit RGB(A): the IHDR bit depth tells them apart
        deep = fmt == "PNG" and len(data) > 24 and data[24] == 16
        epub_change = want_epub and not keep_gif and (
            deep or _needs_change(im, fmt, animated, e_long, grayscale, size=(w, h)))
        pdf_change = want_pdf and (deep or _needs_change(im, fmt, animated, p_long, False, size=(w, h)))
        icc, src_mode = im.info.get("icc_profile"), im.mode
        lossy = fmt in ("JPEG", "AVIF") or (fmt == "WEBP" and _webp_is_lossy(data))
        base = _prepared(im) if (epub_change or pdf_change) else im
        unchanged = (strip_metadata(data, fmt), fmt, w, h)
        if pdf_change:
            # zlib level 6, as WeasyPrint writes PNG pixels: the PDF takes this PNG's data as it is
            # (backends/weasy_speed.py) and comes out as when WeasyPrint re-encoded it itself
            pdf = _encode(_downscaled(base, p_long, upright), fmt, icc, src_mode, lossy=lossy, png_level=6)
        else:
            pdf = unchanged
        if not want_epub:
            epub = pdf
        elif keep_gif:
            epub = (data, "GIF", w, h)
        elif epub_change:
            out = _downscaled(base, e_long, upright)  # from the full image: one resampling, sharpest text
            if grayscale and out.mode not in ("L", "LA"):
                out = out.convert("LA" if out.mode == "RGBA" else "L")
            epub = _encode(out, fmt, icc, src_mode, lossy=lossy, png_level=6)
        else:
            epub = unchanged
        if not want_pdf:
            pdf = epub
    finally:
        im.close()
    epub_r, pdf_r = Rendition(*epub), Rendition(*pdf)
    if epub_r.data is pdf_r.data or epub_r.data == pdf_r.data:
        pdf_r = epub_r  # the same object: backends (and tests) can tell the bytes are shared
    return Normalised(epub_r, pdf_r, src_fmt, w, h), "".join(apart)


def _draft_request(size: tuple[int, int], long_side: int) -> tuple[int, int] | None:
    """The size to ask ``JpegImageFile.draft`` for so that the long side stays ≥ ``long_side``
    (None: the whole image is needed, ``long_side`` being 0 for no limit or not below it)."""
    w, h = size
    biggest = max(w, h)
    if not 0 < long_side < biggest:
        return None
    return -(-w * long_side // biggest), -(-h * long_side // biggest)


def _draft_scale(size: tuple[int, int], long_side: int) -> int:
    """The libjpeg scale divisor (1, 2, 4 or 8) that Pillow's ``JpegImageFile.draft`` picks for
    ``_draft_request(size, long_side)``: the largest whose size still covers the request
    (tests check it against Pillow's own draft)."""
    request = _draft_request(size, long_side)
    if request is None:
        return 1
    fits = min(size[0] // request[0], size[1] // request[1])
    return next(s for s in (8, 4, 2, 1) if fits >= s)


def _needs_change(im: Image.Image, fmt: str, animated: bool, long_side: int, grayscale: bool,
                  size: tuple[int, int] | None = None) -> bool:
    """Whether the target needs anything but the original bytes (minus metadata); ``size`` is
    the image's own size when ``im`` was decoded at a draft scale."""
    return (fmt not in KEPT_FORMATS or animated or _orientation(im) != 1
            or 0 < long_side < max(size or im.size)
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


def _downscaled(im: Image.Image, long_side: int, full: tuple[int, int] | None = None) -> Image.Image:
    """``im`` itself when it fits, else a resampled image whose long side is ``long_side``.

    ``full`` is the upright size of the image ``im`` was decoded from at a draft scale: the
    output size is computed from it, so drafting never changes the output's size."""
    w, h = full or im.size
    if long_side <= 0 or max(w, h) <= long_side:  # 0: no limit
        return im
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == im.size:
        return im
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(out: Image.Image, fmt: str, icc: bytes | None, src_mode: str, *, lossy: bool,
            png_level: int) -> tuple[bytes, str, int, int]:
    """(bytes, format, width, height): alpha → PNG; lossy sources (JPEG, lossy WebP, AVIF) → JPEG
    (PNG would only store their artefacts, several times larger); PNG/GIF → PNG; others by content."""
    if out.mode in ("RGBA", "LA"):
        target = "PNG"
    elif lossy:
        target = "JPEG"
    elif fmt in ("PNG", "GIF"):
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


def _webp_is_lossy(data: bytes) -> bool:
    """Whether a WebP file holds a lossy ("VP8 ") rather than a lossless ("VP8L") bitstream."""
    pos = 12  # after "RIFF" <size> "WEBP"
    while pos + 8 <= len(data):
        kind = data[pos:pos + 4]
        if kind == b"VP8 ":
            return True
        if kind == b"VP8L":
            return False
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        pos += 8 + size + (size & 1)
    return False


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
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):  # the high byte of each sample, a band at a time
        raw = "L;16B" if mode == "I;16B" or (mode == "I;16N" and sys.byteorder == "big") else "L;16"
        out = Image.new("L", im.size)
        step = max(1, (1 << 22) // max(1, im.width))   # ~8 MB of 16-bit samples per band
        for top in range(0, im.height, step):
            band = im.crop((0, top, im.width, min(im.height, top + step)))
            out.paste(Image.frombuffer("L", band.size, band.tobytes(), "raw", raw, 0, 1), (0, top))
        return out
    if mode == "I":
        scale = 1 / 256 if _max_value(im) > 255 else 1
        return im.point(lambda v: v * scale).convert("L")
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
    lo, hi = im.getextrema() if im.mode in ("I", "F") else (0, 255)
    return float(hi)  # type: ignore[arg-type]  # one band: (min, max) numbers


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
    """``data`` without EXIF/XMP/IPTC/comments/text chunks and without anything after the image's
    end (JPEG EOI, PNG IEND: a second JPEG with GPS data, a script); pixels, ICC and colour chunks
    untouched. Lossless (segments are cut out, nothing is decoded or re-encoded); returns ``data``
    itself when there is nothing to remove or the structure is not what we expect."""
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
        if marker == 0xD9:  # end of image: whatever follows is not part of it
            keep.append(data[pos:pos + 2])
            dropped = dropped or pos + 2 < len(data)
            break
        if marker == 0xDA:  # start of scan: its header, then entropy-coded data up to a marker
            length = int.from_bytes(data[pos + 2:pos + 4], "big")
            end = _scan_end(data, pos + 2 + length)
            keep.append(data[pos:end])
            pos = end
            continue
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


# a marker after entropy-coded data: 0xFF then neither a stuffed 0x00, a restart marker RST0–7 nor fill
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _scan_end(data: bytes, pos: int) -> int:
    """Where a JPEG scan's entropy-coded data ends: the next 0xFF that is not a stuffed 0xFF00,
    a restart marker RST0–7 or fill; the end of ``data`` if none (one regex search: a Python loop
    over every stuffed byte took ~0.2 ms per 100 KB photo)."""
    found = _SCAN_END.search(data, pos)
    return found.start() if found else len(data)


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
            dropped = dropped or pos < len(data)
            break
    return b"".join(keep) if dropped else data
