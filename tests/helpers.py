"""Shared test helpers: the CLI command of this interpreter, child processes read from /proc, fonts made on the fly."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The command under test is the one installed next to the running interpreter (the venv's console
# script), never whatever `interview-export` happens to be on PATH; `-m` when there is no script.
_SCRIPT = Path(sys.executable).with_name("interview-export")
CLI: list[str] = [str(_SCRIPT)] if os.access(_SCRIPT, os.X_OK) else [sys.executable, "-m", "interview_export"]


def children_of(pid: int) -> set[int]:
    """The process ids whose parent is `pid` (zombies included), read from /proc."""
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.add(int(stat.parent.name))
    return kids


def running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def latin_font(path: Path, family: str = "IE Test Latin") -> Path:
    """Write a TrueType font covering printable ASCII only (every glyph a box) and return its path:
    a Latin-only font that does not depend on what the machine has installed."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    codes = range(0x20, 0x7F)
    names = [".notdef", *(f"uni{cp:04X}" for cp in codes)]

    def box(name: str):
        pen = TTGlyphPen(None)
        if name != "uni0020":
            pen.moveTo((80, 0))
            pen.lineTo((80, 700))
            pen.lineTo((520, 700))
            pen.lineTo((520, 0))
            pen.closePath()
        return pen.glyph()

    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({cp: f"uni{cp:04X}" for cp in codes})
    builder.setupGlyf({name: box(name) for name in names})
    builder.setupHorizontalMetrics({name: (600, 80) for name in names})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": family, "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    builder.setupPost()
    builder.save(str(path))
    return path
