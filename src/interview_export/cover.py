"""Document + media → the book's cover image: the article's own portrait cover, --cover PATH, or a
generated 1600×2560 portrait cover (title in the CJK font, source, date, the banner if any)."""

from __future__ import annotations

import functools
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PIL import Image, ImageDraw, ImageFont, ImageOps, features

from .errors import ImageError
from .labels import QUOTE_STYLES, labels_for, quote_style
from .model import Document
from .options import Options

log = logging.getLogger("interview_export.cover")

WIDTH, HEIGHT = 1600, 2560
MARGIN = 150
PORTRAIT_RATIO = 1.25          # height / width at or above which a document image is used as is
PAPER = (245, 242, 235)        # cover colours (an image: night mode does not apply)
INK = (28, 28, 28)
QUIET = (96, 96, 96)
ACCENT = (168, 38, 38)
JPEG_QUALITY = 88
NO_LINE_START = set("，。、；：？！）」』》〉】”’…—·,.;:?!)]}%")   # kinsoku: never start a line
NO_LINE_END = set("（「『《〈【“‘([{")
SYSTEM_CJK = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0),
)


@dataclass(frozen=True)
class CoverImage:
    """The cover to embed: bytes and type; ``filename`` is the book-relative name."""

    data: bytes
    media_type: str
    filename: str
    width: int
    height: int
    generated: bool
    reused_asset: bool = False   # True: the file is also a document image (embed it once)


def begin_cover(doc: Document, media, options: Options = Options(), *,
                font: tuple[Path, int] | None = None,
                regular_font: tuple[Path, int] | None = None,
                given: CoverImage | None = None, title: str = "") -> Callable[[], CoverImage | None]:
    """The cover for this book in two steps: the choice, and a generated cover's text, made now;
    what is returned gives the cover (None with --no-cover), drawing the banner in and encoding it
    first (Pillow: the pixel work, most of it without the GIL, so it can run in a thread beside
    other work). `given`: the --cover image already read (prepare.py); without it a --cover path
    is read here. `title`: the book's (PreparedBook.title)."""
    if options.no_cover:
        return lambda: None
    if given is not None:
        return lambda: given
    if options.cover is not None:
        read = read_cover_file(Path(options.cover))
        return lambda: read
    asset = _cover_asset(doc, media)
    if _portrait(asset):
        reused = CoverImage(asset.data, asset.media_type, asset.filename, asset.width, asset.height,
                            generated=False, reused_asset=True)
        return lambda: reused
    banner = asset.data if asset is not None and asset.ok else None
    finish = _lay_out(doc, banner, font=font, regular_font=regular_font, title=title)
    return lambda: CoverImage(finish(), "image/jpeg", "images/cover.jpg", WIDTH, HEIGHT, generated=True)


def _cover_asset(doc: Document, media) -> Any:
    """The media bag's asset of the document's cover image (None: none named, or no media)."""
    return media.get(doc.meta.cover) if (media is not None and doc.meta.cover) else None


def _portrait(asset: Any) -> bool:
    """Whether the document's cover image is a portrait JPEG/PNG, used as the book's cover as it is."""
    return bool(asset is not None and asset.ok and asset.width and asset.height
                and asset.height / asset.width >= PORTRAIT_RATIO and asset.media_type in ("image/jpeg", "image/png"))


def warm_page(doc: Document, media, options: Options = Options()) -> None:
    """When begin_cover will generate this book's cover and this process has no page to paint over:
    a new page filled in a thread from now on (Pillow fills it without the GIL), so that its ~4,000
    page faults are taken beside the fonts' work, not on the way to the cover (7-9 ms here)."""
    global _filling
    if options.no_cover or options.cover is not None or _portrait(_cover_asset(doc, media)):
        return
    with _spare_lock:
        if _spare or _filling is not None:
            return
        _filling = _Filling()
        _filling.start()


class _Filling(threading.Thread):
    """warm_page's thread: its ``page``, a new page of PAPER (None: no memory for it)."""

    page: Image.Image | None = None

    def __init__(self) -> None:
        super().__init__(name="ie-page", daemon=True)

    def run(self) -> None:
        try:
            self.page = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
        except MemoryError:   # _blank_page makes one then, or reports it
            pass


def read_cover_file(path: Path) -> CoverImage:
    """--cover PATH → a checked JPEG or PNG (other raster formats re-encoded as JPEG); ImageError if
    the file is unreadable or not an image. Both backends read the user's cover only through this."""
    from .images import more_formats

    more_formats()   # the WebP and TIFF plugins: else Image.open would import all forty for them
    try:
        raw = path.read_bytes()
        with Image.open(io.BytesIO(raw), formats=("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")) as im:
            im.load()
            fmt = im.format
            if fmt in ("JPEG", "PNG"):
                ext = "jpg" if fmt == "JPEG" else "png"
                return CoverImage(raw, f"image/{fmt.lower()}", f"images/cover.{ext}", im.width, im.height,
                                  generated=False)
            rgb = im.convert("RGB")
    except OSError as exc:
        raise ImageError(str(path), f"cannot use as cover: {exc}", path=str(path)) from None
    except Image.DecompressionBombError as exc:  # pragma: no cover - Pillow's own guard
        raise ImageError(str(path), f"cannot use as cover: {exc}", path=str(path)) from None
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return CoverImage(out.getvalue(), "image/jpeg", "images/cover.jpg", rgb.width, rgb.height, generated=False)


# ---------------------------------------------------------------- generated cover
def _font(spec: tuple[Path, int] | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    candidates = [spec] if spec else []
    candidates += [(Path(p), i) for p, i in SYSTEM_CJK]
    for cand in candidates:
        if cand is None:
            continue
        path, index = cand
        try:
            return ImageFont.truetype(str(path), size, index=index)
        except OSError:
            continue
    log.warning("no CJK font found for the generated cover; using Pillow's default font")
    return ImageFont.load_default(size)


def _tokens(text: str) -> list[str]:
    """Break opportunities: each CJK character alone, runs of Latin letters/digits together."""
    out: list[str] = []
    for ch in text:
        if out and ch.isascii() and ch.isalnum() and out[-1][-1:].isascii() and out[-1][-1:].isalnum():
            out[-1] += ch
        else:
            out.append(ch)
    return out


def wrap(text: str, font, width: int) -> list[str]:
    """Greedy line breaking with CJK kinsoku (no 。，！ at a line start, no “（ at a line end)."""
    lines: list[str] = []
    line = ""
    for token in _tokens(text.strip()):
        candidate = line + token
        if not line or font.getlength(candidate) <= width or token in NO_LINE_START:
            line = candidate
            continue
        if line and line[-1] in NO_LINE_END:
            carry, line = line[-1], line[:-1]
            lines.append(line.rstrip())
            line = (carry + token).lstrip()
        else:
            lines.append(line.rstrip())
            line = token.lstrip()
    if line.strip():
        lines.append(line.rstrip())
    return lines


def generate_cover(doc: Document, banner: bytes | None = None, *, font: tuple[Path, int] | None = None,
                   regular_font: tuple[Path, int] | None = None, title: str = "") -> bytes:
    """A 1600×2560 JPEG: source and date on top, the title (`title`, else the metadata's) large, the
    banner below, credits."""
    return _lay_out(doc, banner, font=font, regular_font=regular_font, title=title)()


def _lay_out(doc: Document, banner: bytes | None, *, font: tuple[Path, int] | None,
             regular_font: tuple[Path, int] | None, title: str) -> Callable[[], bytes]:
    """The cover's page with its text drawn (FreeType: many short calls that need the GIL) →
    what draws the banner in and encodes the JPEG (decoding, scaling, encoding: long calls without it)."""
    m = doc.meta
    img = _blank_page()
    draw = ImageDraw.Draw(img)
    text_width = WIDTH - 2 * MARGIN
    lang = m.language or "zh-CN"
    # the language tag picks the regional glyph forms (locl: Taiwan 骨, centred 。) when Pillow shapes
    # with libraqm; without it Pillow refuses the argument
    shaping: dict[str, Any] = {"language": lang} if features.check_feature("raqm") else {}

    # top: accent rule + source · date
    y = 220
    draw.rectangle((MARGIN, y, MARGIN + 120, y + 14), fill=ACCENT)
    y += 60
    small = _font(regular_font or font, 54)
    top_line = "  ·  ".join(x for x in (m.source, m.date) if x)
    if top_line:
        for line in wrap(top_line, small, text_width)[:2]:
            draw.text((MARGIN, y), line, font=small, fill=QUIET, **shaping)
            y += 80
    y += 150

    # title: as large as fits in at most 6 lines
    title = title or m.title or doc.name or "Untitled"
    size = 124
    while True:
        tfont = _font(font, size)
        lines = wrap(title, tfont, text_width)
        if len(lines) <= 6 or size <= 64:
            break
        size -= 8
    lines = lines[:7]
    for line in lines:
        draw.text((MARGIN, y), line, font=tfont, fill=INK, **shaping)
        y += int(size * 1.42)
    if m.subtitle:
        y += 20
        sfont = _font(regular_font or font, 60)
        for line in wrap(m.subtitle, sfont, text_width)[:3]:
            draw.text((MARGIN, y), line, font=sfont, fill=QUIET, **shaping)
            y += 86
    y += 60

    # credits at the bottom
    credits = []
    if m.author:
        credits.append(m.author)
    if m.translator:
        credits.append(f"{labels_for(lang)['translator']}  {m.translator}")
    bottom = HEIGHT - 170
    if credits:
        cfont = _font(regular_font or font, 56)
        cline = "    ".join(credits)
        draw.line((MARGIN, bottom - 110, WIDTH - MARGIN, bottom - 110), fill=INK, width=3)
        draw.text((MARGIN, bottom - 70), cline, font=cfont, fill=INK, **shaping)
        bottom -= 150

    # banner between the title and the credits, full width, cropped to fit; else an ornament
    if not banner:
        mark = QUOTE_STYLES[quote_style(lang)][0]          # “ or 「
        mark_font = _font(font, 520)
        left = draw.textbbox((0, 0), mark, font=mark_font, **shaping)[0]
        draw.text((MARGIN - left, max(y, bottom - 700)), mark, font=mark_font, fill=ACCENT, **shaping)
    return functools.partial(_finish, img, banner, bottom - y - 60,
                             bottom - 40 if credits else HEIGHT)


def _finish(img: Image.Image, banner: bytes | None, room: int, banner_bottom: int) -> bytes:
    """The laid-out page with the banner, if any, fitted into `room` above `banner_bottom` → JPEG."""
    if banner:
        try:
            with Image.open(io.BytesIO(banner)) as opened:
                opened.load()
                # convert() to the mode an image already has is a copy: the same pixels, 2.8 MB of
                # fresh memory (~680 page faults) for the seed's banner
                b = opened if opened.mode == "RGB" else opened.convert("RGB")
                if room > 300:
                    target_h = min(room, int(WIDTH * b.height / max(b.width, 1)), 1100)
                    # bicubic: looks the same as Lanczos on a photo at this size (mean difference
                    # 0.1/255 on the seed's 1.25× enlarged banner) in 60 % of the time
                    fitted = ImageOps.fit(b, (WIDTH, target_h), Image.Resampling.BICUBIC)
                    img.paste(fitted, (0, banner_bottom - target_h))
        except (OSError, ValueError) as exc:
            log.warning("cover banner unusable: %s", exc)

    out = io.BytesIO()
    # no Huffman optimisation: the same pixels, ~10 % more bytes, a third of the encoding time
    img.save(out, "JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    _spare_page(img)
    return out.getvalue()


_spare: list[Image.Image] = []                # the last cover's page, to paint over
_filling: _Filling | None = None              # warm_page's thread and its page, until taken
_spare_lock = threading.Lock()


def _blank_page() -> Image.Image:
    """A 1600×2560 page of PAPER: the one warm_page filled, else the last cover's page painted over
    when this process drew one before (a batch), else a new one. A new page is 16 MB of fresh
    memory (~4,000 page faults, 20-40 ms on a small VM); painting a kept one touches nothing new."""
    global _filling
    with _spare_lock:
        filling, _filling = _filling, None
    if filling is not None:
        filling.join()
        if filling.page is not None:
            return filling.page
    with _spare_lock:
        page = _spare.pop() if _spare else None
    if page is None:
        return Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    page.paste(PAPER, (0, 0, WIDTH, HEIGHT))
    return page


def _spare_page(page: Image.Image) -> None:
    """Keep one drawn page for the next cover of this process (threads each take their own)."""
    with _spare_lock:
        if not _spare:
            _spare.append(page)
