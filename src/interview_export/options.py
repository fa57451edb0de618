"""Command-line and API settings → one frozen dataclass shared by every stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Options:
    # reading
    metadata: tuple[tuple[str, str], ...] = ()       # --metadata KEY=VALUE, highest priority
    allow_html: bool = False                          # pass a safe subset of raw HTML (default: escape)
    disabled_transforms: tuple[str, ...] = ()         # transform names to switch off
    # media
    mirrors: tuple[tuple[str, str], ...] = ()         # (prefix, replacement) rewrites before fetching
    offline: bool = False
    strict: bool = False                              # a missing image fails the conversion
    cache_dir: Path | None = None                     # None → user cache folder (XDG)
    use_cache: bool = True
    resource_dirs: tuple[Path, ...] = ()              # extra folders local images may come from
    max_image_bytes: int = 25 * 1024 * 1024
    max_downloads: int = 8
    timeout: float = 20.0
    grayscale: bool = False
    epub_image_long_side: int = 1600
    # fonts
    font_serif: str | None = None                     # PATH[#INDEX]
    font_sans: str | None = None
    embed_fonts: bool = True
    # look
    css: tuple[Path, ...] = ()                        # extra user stylesheets
    cover: Path | None = None
    no_cover: bool = False
    vertical: bool = False
    # pdf
    page_size: str = "A4"
    bleed: str = ""                                   # e.g. "3mm"
    crop_marks: bool = False
    duplex: bool = True                               # False (--simplex): the same margins, head and
                                                      # folio on every page (one-sided print, screens)
    pdf_variant: str = ""                             # e.g. "pdf/a-3b", "pdf/ua-1"
    # reproducibility
    source_date_epoch: int | None = None              # None → $SOURCE_DATE_EPOCH or a fixed date
