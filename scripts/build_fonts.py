"""Debian's Noto CJK collections → fonts/: the Simplified Chinese faces, subset to our character set.

Usage: python scripts/build_fonts.py [--source /usr/share/fonts/opentype/noto] [--out fonts]

Needs the Debian packages fonts-noto-cjk (Regular, Bold) and uharfbuzz + fontTools. Every .ttc holds
the JP, KR, SC, TC and HK faces (the Sans ones also the Mono faces); the SC face is picked by its
PostScript name, never by position. Each face is cut down to a character set (GB 2312 or GBK, the
通用规范汉字表, Big5, plus the blocks in interview_export.fonts.SHIPPED_BLOCKS) with HarfBuzz's
subsetter, keeping the OpenType layout features CJK needs and the vertical metrics (vhea/vmtx/VORG).
Before subsetting, the GSUB and GPOS language systems other than the default, Simplified Chinese (ZHS),
Traditional Chinese (ZHT, Taiwan) and Hong Kong Chinese (ZHH) are dropped (no Japanese or Korean
forms), and the Taiwan/Hong Kong `locl` substitutions are kept only for the Big5 level-1 characters
and punctuation, so the regional glyph forms of common Traditional text fit the 30 MB budget.
The names say it is a subset ("Noto Serif CJK SC Subset"); the licence (OFL 1.1, no Reserved Font
Name) allows either.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import time
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont

from interview_export.fonts import (
    GAP_FAMILY,
    GAP_FONT,
    SHIPPED_BLOCKS,
    encodable_chars,
    listed_chars,
    ranges_chars,
    subset_face,
)

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "fonts-noto-cjk"

# output file → (source collection, PostScript name of the face to take, character sets)
# "gbk"/"gb2312"/"big5": what Python's codec decodes; "big5-1": Big5 symbols and level-1 hanzi
# (A440–C67E, the 5,401 common ones); "tongyong-guifan-8105": fonts/charsets/*.txt
TARGETS = {
    "NotoSerifSC-Regular.otf": ("NotoSerifCJK-Regular.ttc", "NotoSerifCJKsc-Regular", "gbk+tongyong-guifan-8105"),
    "NotoSerifSC-Bold.otf": ("NotoSerifCJK-Bold.ttc", "NotoSerifCJKsc-Bold", "gb2312+tongyong-guifan-8105+big5"),
    "NotoSansSC-Regular.otf": ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular",
                               "gb2312+tongyong-guifan-8105+big5-1"),
    "NotoSansSC-Bold.otf": ("NotoSansCJK-Bold.ttc", "NotoSansCJKsc-Bold", "gb2312+tongyong-guifan-8105+big5"),
}
KEEP_LANGSYS = {"ZHS ", "ZHT ", "ZHH "}
REGIONAL_LANGSYS = {"ZHT ", "ZHH "}     # their own locl substitutions are cut to REGIONAL_CHARS
REGIONAL_CHARS = "big5-1"
REGIONAL_BLOCKS = ((0x2000, 0x206F), (0x3000, 0x303F), (0xFE10, 0xFE1F), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF))
# IEGap.ttf: our own tiny font of blank fixed-width spaces (no Noto face has them). The PDF sets the
# space between Chinese and Latin text as U+2005 (¼ em) from it: WeasyPrint stretches only U+0020
# and U+00A0 when it justifies, so this gap stays ¼ em while the line is justified.
GAP_WIDTHS = {0x2004: 333, 0x2005: 250, 0x2006: 167, 0x2009: 200, 0x200A: 100}   # per 1000 em
GAP_EPOCH = 1767225600              # 2026-01-01: fixed head timestamps, reproducible bytes
NAME_IDS = list(range(0, 15))       # copyright … licence URL
BUDGET = 30_000_000                 # bytes, all of fonts/ (README, licence and fonts)


def big5_level1() -> set[int]:
    """Big5's symbols (A140–A3FE) and level-1 hanzi (A440–C67E) as code points."""
    out = set()
    for lead in range(0xA1, 0xC7):
        for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
            if (lead << 8 | trail) > 0xC67E:
                continue
            try:
                out.update(ord(c) for c in bytes((lead, trail)).decode("big5"))
            except UnicodeDecodeError:
                pass
    return out


def named_chars(name: str) -> set[int]:
    if name in ("gbk", "gb2312", "big5"):
        return set(encodable_chars(name))
    return big5_level1() if name == "big5-1" else set(listed_chars(name))


def charset(names: str) -> set[int]:
    """'gbk+tongyong-guifan-8105' → the union of those sets and SHIPPED_BLOCKS."""
    chars = ranges_chars(SHIPPED_BLOCKS)
    for name in names.split("+"):
        chars |= named_chars(name)
    return chars


def find_face(path: Path, postscript_name: str) -> int:
    """Index of the face whose PostScript name (name ID 6) is `postscript_name`."""
    with TTCollection(str(path), lazy=True) as collection:
        names = [font["name"].getDebugName(6) for font in collection.fonts]
    if postscript_name in names:
        return names.index(postscript_name)
    raise SystemExit(f"{path}: no face named {postscript_name!r} (faces: {names})")


def chinese_only(path: Path, index: int) -> bytes:
    """The face as a single OpenType font whose GSUB/GPOS keep only the default and the Chinese
    language systems, with the Taiwan/Hong Kong `locl` forms cut to REGIONAL_CHARS."""
    with TTFont(str(path), fontNumber=index, lazy=True, recalcTimestamp=False) as font:
        for tag in ("GSUB", "GPOS"):
            if tag not in font:
                continue
            for record in font[tag].table.ScriptList.ScriptRecord:
                script = record.Script
                script.LangSysRecord = [r for r in script.LangSysRecord if r.LangSysTag in KEEP_LANGSYS]
                script.LangSysCount = len(script.LangSysRecord)
        keep = {font.getBestCmap().get(cp) for cp in named_chars(REGIONAL_CHARS) | ranges_chars(REGIONAL_BLOCKS)}
        for lookup in regional_locl_lookups(font["GSUB"].table):
            for sub in lookup.SubTable:
                sub = getattr(sub, "ExtSubTable", sub)
                if hasattr(sub, "mapping"):
                    sub.mapping = {glyph: alt for glyph, alt in sub.mapping.items() if glyph in keep}
        out = io.BytesIO()
        font.save(out)
    return out.getvalue()


def regional_locl_lookups(gsub) -> list:
    """The GSUB lookups that only the REGIONAL_LANGSYS `locl` features use (not ZHS, not the default)."""
    features = gsub.FeatureList.FeatureRecord
    regional: set[int] = set()
    shared: set[int] = set()
    for record in gsub.ScriptList.ScriptRecord:
        script = record.Script
        systems = [(r.LangSysTag, r.LangSys) for r in script.LangSysRecord]
        if script.DefaultLangSys is not None:
            systems.append(("dflt", script.DefaultLangSys))
        for tag, langsys in systems:
            for i in langsys.FeatureIndex:
                lookups = features[i].Feature.LookupListIndex
                if tag in REGIONAL_LANGSYS and features[i].FeatureTag == "locl":
                    regional.update(lookups)
                else:
                    shared.update(lookups)
    return [gsub.LookupList.Lookup[i] for i in sorted(regional - shared)]


def rename(data: bytes, charset_name: str) -> bytes:
    """Family 'Noto Serif CJK SC' → 'Noto Serif CJK SC Subset', and say which characters were kept."""
    font = TTFont(io.BytesIO(data), lazy=True, recalcTimestamp=False)
    name = font["name"]
    family = name.getDebugName(1)
    style = name.getDebugName(2)
    postscript = name.getDebugName(6)
    version = name.getDebugName(5)
    new_family = f"{family} Subset"
    new_ps = postscript.replace("-", "Subset-", 1)
    for record in list(name.names):
        if record.nameID in (16, 17):
            name.removeNames(nameID=record.nameID)
    for platform in ((3, 1, 0x409), (1, 0, 0)):
        name.setName(new_family, 1, *platform)
        name.setName(f"{new_family} {style}" if style != "Regular" else new_family, 4, *platform)
        name.setName(new_ps, 6, *platform)
        name.setName(f"{version}; interview-export subset ({charset_name.upper()})", 5, *platform)
        name.setName(f"{new_ps};interview-export", 3, *platform)
    name.names = [r for r in name.names if r.platformID == 3 or r.nameID in (1, 2, 3, 4, 5, 6)]
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def gap_font() -> bytes:
    """The blank-spaces font (see GAP_FONT), byte-reproducible."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.misc.timeTools import epoch_diff
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    names = {cp: f"uni{cp:04X}" for cp in GAP_WIDTHS}
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder([".notdef", *names.values()])
    builder.setupCharacterMap({cp: name for cp, name in names.items()})
    empty = TTGlyphPen(None).glyph()
    builder.setupGlyf({name: empty for name in [".notdef", *names.values()]})
    builder.setupHorizontalMetrics({".notdef": (500, 0), **{names[cp]: (w, 0) for cp, w in GAP_WIDTHS.items()}})
    builder.setupHorizontalHeader(ascent=880, descent=-120)          # the Noto CJK line metrics
    builder.setupNameTable({"familyName": GAP_FAMILY, "styleName": "Regular",
                            "copyright": "interview-export; SIL Open Font License 1.1"})
    builder.setupOS2(sTypoAscender=880, sTypoDescender=-120, sTypoLineGap=0,
                     usWinAscent=880, usWinDescent=120, fsType=0)
    builder.setupPost()
    stamp = GAP_EPOCH - epoch_diff
    builder.font["head"].created = builder.font["head"].modified = stamp
    out = io.BytesIO()
    builder.save(out)
    return out.getvalue()


def debian_version() -> str:
    try:
        done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", PACKAGE],
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/usr/share/fonts/opentype/noto"))
    parser.add_argument("--out", type=Path, default=REPO / "fonts")
    parser.add_argument("--check", action="store_true",
                        help="build into a temporary folder and compare with --out byte for byte")
    args = parser.parse_args(argv)
    if args.check:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            status = main(["--source", str(args.source), "--out", tmp])
            differ = [name for name in [*TARGETS, GAP_FONT]
                      if (Path(tmp) / name).read_bytes() != (args.out / name).read_bytes()]
        print("identical" if not differ else f"differ: {', '.join(differ)}")
        return status or (1 if differ else 0)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"source: Debian {PACKAGE} {debian_version()} in {args.source}")
    total = 0
    for filename, (collection, postscript, charset_name) in TARGETS.items():
        path = args.source / collection
        index = find_face(path, postscript)
        started = time.perf_counter()
        wanted = charset(charset_name)
        data = subset_face(chinese_only(path, index), 0, wanted, name_ids=NAME_IDS)
        data = rename(data, charset_name)
        (args.out / filename).write_bytes(data)
        total += len(data)
        kept = len(wanted & set(TTFont(io.BytesIO(data), lazy=True).getBestCmap()))
        print(f"{filename}: {collection} face {index} ({postscript}), {charset_name} + blocks: "
              f"{kept} of {len(wanted)} code points, {len(data):,} bytes, {time.perf_counter() - started:.1f} s")
    data = gap_font()
    (args.out / GAP_FONT).write_bytes(data)
    total += len(data)
    print(f"{GAP_FONT}: blank spaces {', '.join(f'U+{cp:04X}' for cp in GAP_WIDTHS)}, {len(data):,} bytes")
    print(f"total {total:,} bytes (budget {BUDGET:,})")
    return 0 if total <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
