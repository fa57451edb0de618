"""Small rules more than one stage needs → one place: the book's date (SOURCE_DATE_EPOCH)."""

from __future__ import annotations

import datetime as dt
import os
import re

FALLBACK_EPOCH = 946684800          # 2000-01-01T00:00:00Z: no SOURCE_DATE_EPOCH and no document date
_MAX_EPOCH = 253402300799           # 9999-12-31T23:59:59Z: the last second a date can show
_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def book_epoch(date: str, source_date_epoch: int | None = None) -> tuple[int, str]:
    """The book's date as a Unix time, and a warning ("" if none): `source_date_epoch` (the option),
    else $SOURCE_DATE_EPOCH, else the document's `date` (YYYY-MM-DD…), else 2000-01-01.

    One rule for every backend. A $SOURCE_DATE_EPOCH that is not a whole number of seconds
    (0 … 253402300799) is ignored with a warning, so the EPUB and the PDF fall back alike."""
    if source_date_epoch is not None:
        return int(source_date_epoch), ""
    env = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if env.isascii() and env.isdigit() and int(env) <= _MAX_EPOCH:
        return int(env), ""
    epoch = FALLBACK_EPOCH
    match = _ISO_DAY.match(date or "")
    if match:
        try:
            epoch = int(dt.datetime(*map(int, match.groups()), tzinfo=dt.timezone.utc).timestamp())
        except ValueError:
            pass
    if not env:
        return epoch, ""
    shown = env if len(env) <= 40 else env[:40] + "…"
    day = dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d")
    return epoch, (f"SOURCE_DATE_EPOCH={shown!r} is not a whole number of seconds since 1970;"
                   f" ignored, the book is dated {day}")
