"""Document + options (+ media bag, font set) → PreparedBook: every decision both backends share, made once.

A backend takes a :class:`PreparedBook` and gives bytes plus its own warnings; it reads no user
file (the --cover image and the --css files are read and checked here) and decides nothing the
other backend decides too: the language and its labels, the date, the fonts (resolved over the
text *and* every generated label), the cover and the user's stylesheets come from here.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from .model import Document
from .options import Options
from .util import book_epoch

if TYPE_CHECKING:
    from .cover import CoverImage
    from .fonts import FontSet
    from .media import MediaBag
    from .usercss import UserSheet

log = logging.getLogger("interview_export.prepare")


@dataclass(frozen=True)
class PreparedBook:
    """One book ready for any backend: the model, its images and fonts, and the shared decisions."""

    doc: Document
    options: Options
    media: "MediaBag | None"          # None: no images collected (every image is a placeholder)
    fonts: "FontSet"                  # resolved over `text` unless the caller gave its own
    language: str                     # BCP 47, render.document_language
    labels: Mapping[str, str]         # the generated labels in that language (目录, 封面 …)
    title: str                        # the book's title: the metadata's, else the "title page" label
    text: str                         # everything a reader sees: the text and every generated label
    epoch: int                        # the book's date as Unix time (util.book_epoch)
    cover: "CoverImage | None"        # the --cover image, read and checked; None without it or with --no-cover
    user_css: tuple[UserSheet, ...]   # the --css files, read and made inert
    warnings: tuple[str, ...]         # everything said so far: reader, media, fonts, date, stylesheets

    @property
    def name(self) -> str:
        """The input's name as messages show it."""
        return self.doc.name or "<document>"

    @property
    def date(self) -> dt.datetime:
        """The book's date (UTC) for the metadata of both formats."""
        return dt.datetime.fromtimestamp(self.epoch, tz=dt.timezone.utc)


def prepare(doc: Document, options: Options = Options(), *, media: Any = None, fonts: Any = None) -> PreparedBook:
    """The book the backends build: `fonts` resolved here when not given (over the text and every
    generated label, so that all their warnings are known now). ImageError for a bad --cover,
    UsageError for a bad --css file."""
    from . import render

    language = render.document_language(doc)
    text = render.book_text(doc, options)
    if fonts is None:
        from .fonts import resolve_fonts

        fonts = resolve_fonts(text, options, language=language)
    warnings: list[str] = [*doc.warnings, *getattr(media, "warnings", ()), *getattr(fonts, "warnings", ())]
    epoch, date_warning = book_epoch(doc.meta.date, options.source_date_epoch)
    if date_warning:
        warnings.append(f"{doc.name or '<document>'}: {date_warning}")
        log.warning("%s", warnings[-1])
    cover = None
    if options.cover is not None and not options.no_cover:
        from .cover import read_cover_file

        cover = read_cover_file(Path(options.cover))
    user_css: tuple[UserSheet, ...] = ()
    if options.css:
        from .usercss import read_user_css  # only runs with --css read a stylesheet

        user_css, css_warnings = read_user_css(options.css)
        warnings.extend(css_warnings)
    labels = MappingProxyType(dict(render.labels_of(doc)))
    return PreparedBook(doc=doc, options=options, media=media, fonts=fonts, language=language, labels=labels,
                        title=doc.meta.title or labels["title_page"], text=text, epoch=epoch,
                        cover=cover, user_css=user_css, warnings=tuple(dict.fromkeys(warnings)))
