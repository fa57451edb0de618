"""Book text + options → fonts: pick the faces, check coverage, subset them for EPUB, write @font-face.

Faces are found in this order: an explicit option (`--font-serif PATH[#INDEX]`; front matter and
config end up in the same `Options` fields) → the repository's `fonts/` → the system (fontconfig).
Characters that a chosen face lacks are looked up among the system fonts (`fc-list`) and our own
faces; the best ones become the "IE Fallback" family. Characters no font has are listed in ONE
warning with their code points. Subsetting uses HarfBuzz (uharfbuzz), which keeps the OpenType
layout closure and the vertical metrics (vhea/vmtx/VORG).
"""

from __future__ import annotations

import bisect
import collections.abc
import logging
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import uharfbuzz as hb

from .errors import FontError
from .langsys import font_for_langsys, langsys_file, langsys_tag
from .options import Options
from .resources import fonts_dir
from .util import engine_cache_dir

log = logging.getLogger("interview_export.fonts")
_T = TypeVar("_T")

FAMILIES = {"serif": "IE Serif", "sans": "IE Sans", "fallback": "IE Fallback"}
# "IE Gap": our own blank fixed-width spaces (U+2004–2006, U+2009, U+200A; scripts/build_fonts.py
# makes the file), for the Chinese–Latin gaps the PDF sets as U+2005
GAP_FAMILY, GAP_FONT = "IE Gap", "IEGap.ttf"
# (family, bold) pairs our stylesheets (base.css, epub.css, print.css) never ask for: every bold
# run is set in the sans, so a bold serif (~340 KB subset for the seed) would be dead weight
UNUSED_FACES = {(FAMILIES["serif"], True)}

# The shipped files in fonts/ (scripts/build_fonts.py makes them); a missing one is skipped.
SHIPPED = {
    ("serif", 400): "NotoSerifSC-Regular.otf",
    ("serif", 700): "NotoSerifSC-Bold.otf",
    ("sans", 400): "NotoSansSC-Regular.otf",
    ("sans", 700): "NotoSansSC-Bold.otf",
}

# Looked up with fontconfig when fonts/ has nothing for a role.
SYSTEM_FAMILIES = {
    "serif": ("Noto Serif CJK SC", "Source Han Serif SC", "Noto Serif SC"),
    "sans": ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC"),
}
SYSTEM_GENERIC = {"serif": "serif:lang=zh-cn", "sans": "sans-serif:lang=zh-cn"}

# OpenType features CJK text needs; added to HarfBuzz's default feature set when subsetting.
LAYOUT_FEATURES = ("locl", "vert", "vrt2", "kern", "vkrn", "palt", "halt", "vhal", "vpal",
                   "ccmp", "liga", "calt", "mark", "mkmk")

# Always kept in a subset so generated numbers, labels and punctuation never miss a glyph.
ALWAYS_RANGES = ((0x20, 0x7E), (0xA0, 0xA0), (0xB7, 0xB7), (0x2010, 0x2027), (0x2030, 0x203B),
                 (0x3000, 0x301F), (0xFF01, 0xFF5E))

# Unicode blocks the shipped fonts cover besides an encoding's repertoire (see fonts/README.md).
SHIPPED_BLOCKS = (
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1 Supplement
    (0x0100, 0x017F),  # Latin Extended-A (pinyin tone marks)
    (0x01CD, 0x01DC),  # pinyin with caron (Latin Extended-B)
    (0x2000, 0x206F),  # General Punctuation
    (0x2100, 0x214F),  # Letterlike Symbols
    (0x2150, 0x218F),  # Number Forms (Ⅰ Ⅱ …)
    (0x2190, 0x21FF),  # Arrows
    (0x2460, 0x24FF),  # Enclosed Alphanumerics (① …)
    (0x2500, 0x257F),  # Box Drawing
    (0x25A0, 0x25FF),  # Geometric Shapes
    (0x3000, 0x303F),  # CJK Symbols and Punctuation
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3200, 0x32FF),  # Enclosed CJK Letters and Months
    (0xFE10, 0xFE1F),  # Vertical Forms
    (0xFE30, 0xFE4F),  # CJK Compatibility Forms (vertical punctuation)
    (0xFF00, 0xFFEF),  # Halfwidth and Fullwidth Forms
)

# name IDs kept in every subset: names, copyright (0), trademark (7), designers, licence (13, 14)
KEEP_NAME_IDS = tuple(range(0, 15))

_FC_TIMEOUT = 20.0
_MAX_LISTED = 40


# ---------------------------------------------------------------- character sets
@cache
def encodable_chars(codec: str) -> frozenset[int]:
    """Every code point a double-byte CJK codec (gb2312, gbk) can encode, single bytes included."""
    found = {cp for cp in range(0x20, 0x7F)}
    for lead in range(0x81, 0xFF):
        for trail in range(0x40, 0xFF):
            try:
                found.update(ord(c) for c in bytes((lead, trail)).decode(codec))
            except UnicodeDecodeError:
                pass
    return frozenset(found)


@cache
def listed_chars(name: str) -> frozenset[int]:
    """The characters of fonts/charsets/NAME.txt (lines starting with '#' are comments)."""
    path = fonts_dir() / "charsets" / f"{name}.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(ord(c) for line in lines if not line.startswith("#") for c in line.strip())


def ranges_chars(ranges: Iterable[tuple[int, int]]) -> set[int]:
    """Code point ranges (inclusive) → the set of code points."""
    return {cp for start, end in ranges for cp in range(start, end + 1)}


def always_chars() -> set[int]:
    """Characters every subset keeps: printable ASCII, the no-break space, ·, general punctuation,
    CJK punctuation and the full-width forms (ALWAYS_RANGES)."""
    return ranges_chars(ALWAYS_RANGES)


def visible_chars(text: str) -> set[int]:
    """The code points of `text` that need a glyph (no whitespace, controls, format chars, selectors)."""
    return set(_visible(text))


@lru_cache(maxsize=8)
def _visible(text: str) -> frozenset[int]:
    """visible_chars, remembered: a book's text is looked at once per face it is subset for."""
    out = set()
    for ch in set(text):
        cp = ord(ch)
        if ch.isspace() or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"):
            continue
        out.add(cp)
    return frozenset(out)


def describe_chars(cps: Iterable[int], limit: int = _MAX_LISTED) -> str:
    """'𠀀 U+20000, 𪜀 U+2A700, …' — the characters with their code points."""
    cps = sorted(cps)
    shown = ", ".join(f"{chr(cp)} U+{cp:04X}" for cp in cps[:limit])
    return shown + (f" and {len(cps) - limit} more" if len(cps) > limit else "")


# ---------------------------------------------------------------- HarfBuzz helpers
@cache
def _blob(path: str) -> hb.Blob:
    return hb.Blob.from_file_path(path)


@cache
def _langsys_blob(path: str, keep: bytes, index: int) -> hb.Blob:
    """The face's file with only `keep`'s regional forms reachable (langsys.py), loaded once per
    process and mapped, not copied: from ``fonts/`` in the user cache (written there by the first process),
    else from an in-memory copy where the system allows (a copy is ~5 ms per 10 MB face)."""
    with langsys_file(path, keep, index, store=engine_cache_dir("fonts")) as patched:
        if isinstance(patched, bytes):
            return hb.Blob(patched)
        try:
            return hb.Blob.from_file_path(patched)
        except hb.HarfBuzzError:   # cannot open the kept or in-memory file after all: copy the bytes
            return hb.Blob(font_for_langsys(path, keep, index))


@cache
def face_count(path: str) -> int:
    """How many faces a font file holds (a .ttc several, a .ttf/.otf one)."""
    return hb.Face(_blob(path)).count


class Coverage(collections.abc.Set[int]):
    """The code points a face has glyphs for, kept in HarfBuzz's own bit set (a few KB) rather
    than a frozenset (~3.5 MB of fresh memory for a CJK face's ~23k code points: 2,000 page
    faults for our four faces). ``cp in`` it, and set operations with a book's few thousand
    characters on the other side (``chars & cov``, ``chars - cov``, ``chars <= cov``) walk that
    side only; results are frozensets."""

    __slots__ = ("_set",)

    def __init__(self, codepoints: hb.Set):
        self._set = codepoints

    def __contains__(self, cp: object) -> bool:
        return cp in self._set

    def __iter__(self) -> Iterator[int]:
        return iter(self._set)

    def __len__(self) -> int:
        return len(self._set)

    @classmethod
    def _from_iterable(cls, it: Iterable[_T]) -> frozenset[_T]:
        return frozenset(it)

    def __rand__(self, other: Iterable[int]) -> frozenset[int]:   # chars & cov: the chars it has
        has = self._set.__contains__
        return frozenset(cp for cp in other if has(cp))

    def __rsub__(self, other: Iterable[int]) -> frozenset[int]:   # chars - cov: the chars it lacks
        has = self._set.__contains__
        return frozenset(cp for cp in other if not has(cp))


@cache
def face_unicodes(path: str, index: int = 0) -> Coverage:
    """The cmap of one face (loaded once per process)."""
    return Coverage(hb.Face(_blob(path), index).unicodes)


@cache
def _face_info(path: str, index: int) -> tuple[str, bool, int]:
    """(family name, is CFF, OS/2 weight class) of one face."""
    face = hb.Face(_blob(path), index)
    family = face.get_name(hb.OTNameIdPredefined.FONT_FAMILY) or Path(path).stem
    is_cff = bool({"CFF ", "CFF2"} & set(face.table_tags))
    weight = 400
    os2 = face.reference_table("OS/2").data
    if len(os2) >= 6:
        weight = int.from_bytes(os2[4:6], "big")
    return family, is_cff, weight


def subset_face(source: str | Path | bytes, index: int, unicodes: Iterable[int], *,
                name_ids: Iterable[int] | None = KEEP_NAME_IDS, language: str = "") -> bytes:
    """One face of a font (file path or bytes; TTF/OTF/TTC/OTC) → a single-face font with only
    `unicodes` plus their layout closure (HarfBuzz's default features + LAYOUT_FEATURES) and the
    name records `name_ids` (by default the copyright, trademark and licence ones too: OFL).
    With a `language` (a file path only), only that language's regional glyph forms are kept
    (langsys.py): a Simplified book does not carry the Taiwan and Hong Kong forms."""
    if isinstance(source, bytes):
        blob = hb.Blob(source)
    elif language:
        blob = _langsys_blob(str(source), langsys_tag(language), index)
    else:
        blob = _blob(str(source))
    face = hb.Face(blob, index)
    path = "<memory>" if isinstance(source, bytes) else source
    inp = hb.SubsetInput()
    inp.unicode_set.update(unicodes)
    features = inp.sets(hb.SubsetInputSets.LAYOUT_FEATURE_TAG)
    features.update(int.from_bytes(tag.encode("ascii"), "big") for tag in LAYOUT_FEATURES)
    if name_ids is not None:
        names = inp.sets(hb.SubsetInputSets.NAME_ID)
        names.update(name_ids)
    try:
        return hb.subset(face, inp).blob.data
    except RuntimeError as exc:
        raise FontError(f"subsetting face {index} failed: {exc}", path=str(path)) from exc


# ---------------------------------------------------------------- faces
@dataclass(frozen=True)
class FontFace:
    """One face we use: its role, CSS weight and style, and where its bytes live."""

    role: str                  # "serif" | "sans" | "fallback"
    weight: int                # 400 | 700
    path: Path
    index: int = 0             # face index in a TTC/OTC
    style: str = "normal"
    origin: str = "fonts/"     # "option" | "fonts/" | "system"

    @property
    def family(self) -> str:
        """The CSS family alias of this face's role ("IE Serif", "IE Sans", "IE Fallback")."""
        return FAMILIES[self.role]

    @property
    def unicodes(self) -> Coverage:
        """The code points this face has glyphs for (read once)."""
        return face_unicodes(str(self.path), self.index)

    @property
    def name(self) -> str:
        """The face's own family name (from its name table)."""
        return _face_info(str(self.path), self.index)[0]

    @property
    def is_cff(self) -> bool:
        """Whether the face has CFF outlines (an OpenType .otf) rather than TrueType ones."""
        return _face_info(str(self.path), self.index)[1]

    @property
    def filename(self) -> str:
        """Where the subset lives inside a book, e.g. fonts/serif-regular.otf."""
        ext = "otf" if self.is_cff else "ttf"
        return f"fonts/{self.role}-{'bold' if self.weight >= 600 else 'regular'}.{ext}"

    @property
    def media_type(self) -> str:
        """The media type of the face's subset file (font/otf or font/ttf)."""
        return "font/otf" if self.is_cff else "font/ttf"

    def covers(self, ch: str) -> bool:
        """Whether this face has a glyph for `ch`."""
        return ord(ch) in self.unicodes


@dataclass(frozen=True)
class EmbeddedFont:
    """A per-book subset ready to go into an EPUB."""

    filename: str
    media_type: str
    data: bytes
    family: str
    weight: int
    style: str = "normal"
    unicode_range: str = ""    # CSS unicode-range, set when several fallback faces share a weight


@dataclass
class FontSet:
    """The faces chosen for one book, the fallback faces, and what nobody covers."""

    faces: list[FontFace]
    fallback: list[FontFace] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)       # code points no face covers
    warnings: list[str] = field(default_factory=list)
    text: str = ""                                         # the text coverage was checked for
    embed: bool = True                                     # False: subset_fonts returns []
    language: str = ""                                     # BCP 47 of the book: its regional forms
    fallback_ranges: dict[FontFace, frozenset[int]] = field(default_factory=dict)
    _bytes: dict = field(default_factory=dict, repr=False)

    def all_faces(self) -> list[FontFace]:
        """The serif and sans faces, then the fallback faces, in the order they are tried."""
        return [*self.faces, *self.fallback]

    def face(self, role: str, weight: int = 400) -> FontFace | None:
        """The face CSS matching picks for `role` at `weight` (the nearest weight we have)."""
        pool = self.fallback if role == "fallback" else [f for f in self.faces if f.role == role]
        if not pool:
            return None
        return min(pool, key=lambda f: (abs(f.weight - weight), f.weight < weight))

    def face_for(self, ch: str, role: str = "serif", weight: int = 400) -> FontFace | None:
        """The face that draws `ch` in text styled with `role`/`weight` (our CSS family stacks)."""
        primary = self.face(role, weight)
        if primary is not None and primary.covers(ch):
            return primary
        candidates = [f for f in self.fallback if ord(ch) in self.fallback_ranges.get(f, f.unicodes)]
        if not candidates:
            return None
        return min(candidates, key=lambda f: (abs(f.weight - weight), f.weight < weight))

    def uncovered_by_some(self, cps: Iterable[int]) -> set[int]:
        """The code points that at least one primary face lacks (the fallback's job)."""
        wanted = set(cps)
        return set().union(*(wanted - f.unicodes for f in self.faces))

    def uncovered_by_all(self, cps: Iterable[int]) -> set[int]:
        """The code points of `cps` that no face covers (a primary face's set, a fallback face's
        range): a book's ~2k characters looked up in each face's ~30k, not the union of the faces."""
        covers = [*(f.unicodes for f in self.faces), *self.fallback_ranges.values()]
        return {cp for cp in cps if not any(cp in cover for cover in covers)}

    def files(self) -> dict[str, FontFace]:
        """Book-relative file name → face, for every face (what font_face_css(FontSet) links)."""
        return {f.filename if f.role != "fallback" else _fallback_filename(self, f): f
                for f in self.all_faces()}

    def face_bytes(self, face: FontFace, extra_text: str = "") -> bytes:
        """The bytes to give WeasyPrint for `face` (served from memory by the PDF fetcher): the face
        cut by HarfBuzz to the book's characters (a fallback face: to those only it covers).
        WeasyPrint subsets again with fontTools, which takes seconds on a whole 22k-glyph CJK face
        but milliseconds on a ~1k-glyph one; a TTC face comes out as a single-face file."""
        key = (face, extra_text)
        if key not in self._bytes:
            self._bytes[key] = book_subset(face.path, face.index, frozenset(self._subset_chars(face, self.text + extra_text)),
                                           self.language)
        return self._bytes[key]

    def file_bytes(self, filename: str, extra_text: str = "") -> bytes | None:
        """The subset of the face stored as `filename` (None: no such file), over the text plus `extra_text`."""
        face = self.files().get(filename)
        return None if face is None else self.face_bytes(face, extra_text)

    def _subset_chars(self, face: FontFace, text: str) -> set[int]:
        wanted = visible_chars(text) | always_chars()
        if face.role == "fallback":
            wanted = self.uncovered_by_some(wanted) & self.fallback_ranges.get(face, face.unicodes)
        return wanted & face.unicodes


def _fallback_filename(fontset: FontSet, face: FontFace) -> str:
    same = [f for f in fontset.fallback if f.weight == face.weight]
    stem = face.filename.rsplit(".", 1)
    if len(same) > 1:
        return f"{stem[0]}-{same.index(face) + 1}.{stem[1]}"
    return face.filename


# ---------------------------------------------------------------- finding faces
def parse_font_spec(spec: str) -> tuple[Path, int]:
    """`PATH[#INDEX]` → (existing font file, face index); FontError when unusable."""
    path_text, index = spec, 0
    head, sep, tail = spec.rpartition("#")
    if sep and tail.isdigit():
        path_text, index = head, int(tail)
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise FontError("font file not found", path=str(path))
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic in (b"wOFF", b"wOF2"):
        raise FontError("WOFF/WOFF2 fonts cannot be embedded; use a TTF, OTF, TTC or OTC file", path=str(path))
    if magic not in (b"\x00\x01\x00\x00", b"OTTO", b"true", b"ttcf"):
        raise FontError("not a TrueType/OpenType font", path=str(path))
    count = face_count(str(path))
    if not 0 <= index < count:
        raise FontError(f"face index {index} out of range (the file has {count} face(s))", path=str(path))
    if not face_unicodes(str(path), index):
        raise FontError(f"face {index} has no Unicode cmap", path=str(path))
    return path, index


def _run(args: list[str]) -> str:
    """Run a fontconfig tool; '' when fontconfig is absent or fails."""
    if shutil.which(args[0]) is None:
        return ""
    try:
        done = subprocess.run(args, capture_output=True, timeout=_FC_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("%s failed: %s", args[0], exc)
        return ""
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else ""


def _fc_match(pattern: str) -> tuple[Path, int, str] | None:
    out = _run(["fc-match", "--format", "%{file}\t%{index}\t%{family[0]}", pattern])
    parts = out.split("\t")
    if len(parts) != 3 or not parts[0]:
        return None
    return Path(parts[0]), int(parts[1] or 0), parts[2]


def _system_face(role: str, weight: int) -> FontFace | None:
    """A system face for `role` via fontconfig: a known SC family first, then the generic one."""
    wanted = "bold" if weight >= 600 else "regular"
    for family in SYSTEM_FAMILIES[role]:
        hit = _fc_match(f"{family}:weight={wanted}")
        if hit and hit[2].lower() == family.lower():
            return FontFace(role, weight, hit[0], hit[1], origin="system")
    hit = _fc_match(f"{SYSTEM_GENERIC[role]}:weight={wanted}")
    if hit and hit[0].is_file():
        return FontFace(role, weight, hit[0], hit[1], origin="system")
    return None


def _faces_for_role(role: str, spec: str | None, warnings: list[str]) -> list[FontFace]:
    if spec:
        path, index = parse_font_spec(spec)
        css_weight = 700 if _face_info(str(path), index)[2] >= 600 else 400
        return [FontFace(role, css_weight, path, index, origin="option")]
    try:
        folder = fonts_dir()
    except FileNotFoundError:
        folder = None
    shipped = [FontFace(role, weight, folder / name)
               for (r, weight), name in SHIPPED.items() if r == role and folder and (folder / name).is_file()]
    if shipped:
        return shipped
    system = [f for f in (_system_face(role, 400), _system_face(role, 700)) if f is not None]
    if not system:
        warnings.append(f"no {role} font found in fonts/ or on the system; the reader's own font will be used")
    unique: dict[tuple[Path, int], FontFace] = {}
    for face in system:              # fc-match may give the regular file for bold too: keep it as 400
        unique.setdefault((face.path, face.index), face)
    return list(unique.values())


@dataclass(frozen=True)
class _Candidate:
    path: Path
    index: int
    family: str
    fc_weight: int           # fontconfig weight: 80 regular, 200 bold
    upright: bool            # fontconfig slant 0 (not italic/oblique)
    charset: Any             # _Ranges (from fontconfig) or frozenset (our own faces)
    rank: int                # 3 Simplified Chinese CJK, 2 our own faces, 1 other CJK, 0 others

    def covered(self, cps: set[int]) -> set[int]:
        return {cp for cp in cps if cp in self.charset}


class _Ranges:
    """A fontconfig charset ('20-7e a0-ff 4e00') as sorted ranges: cheap to keep for every system face."""

    __slots__ = ("starts", "ends")

    def __init__(self, text: str):
        pairs = []
        for token in text.split():
            start, _, end = token.partition("-")
            try:
                pairs.append((int(start, 16), int(end or start, 16)))
            except ValueError:
                continue
        pairs.sort()
        self.starts = [a for a, _ in pairs]
        self.ends = [b for _, b in pairs]

    def __contains__(self, cp: int) -> bool:
        i = bisect.bisect_right(self.starts, cp) - 1
        return i >= 0 and cp <= self.ends[i]


def _parse_charset(text: str) -> frozenset[int]:
    ranges = _Ranges(text)
    return frozenset(cp for a, b in zip(ranges.starts, ranges.ends) for cp in range(a, b + 1))


def _fc_weight(text: str) -> int:
    """fontconfig's weight ('80', or '[0 210]' for a variable font) → one number; 80 is regular."""
    numbers = [int(float(n)) for n in text.strip("[]").split()] or [80]
    low, high = min(numbers), max(numbers)
    return 80 if low <= 80 <= high else low


def _family_rank(family: str) -> int:
    upper = family.upper()
    if upper.endswith(" SC") or " SC " in upper or "CJK SC" in upper:
        return 3
    if "CJK" in upper or "HAN " in upper or upper.endswith((" JP", " TC", " HK", " KR")):
        return 1
    return 0


@cache
def _system_candidates() -> tuple[_Candidate, ...]:
    """Every face fontconfig knows, with its charset (one fc-list call per process)."""
    out = _run(["fc-list", "--format",
                "%{file}\t%{index}\t%{family[0]}\t%{weight}\t%{slant}\t%{fontformat}\t%{charset}\n"])
    found = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) != 7 or not parts[5].startswith(("CFF", "TrueType")):
            continue   # skip Type 1, PCF and other formats we cannot embed
        try:
            weight = _fc_weight(parts[3])
            index = int(parts[1] or 0)
        except ValueError:
            continue
        found.append(_Candidate(Path(parts[0]), index, parts[2], weight, parts[4] in ("", "0"), _Ranges(parts[6]),
                                _family_rank(parts[2])))
    return tuple(found)


def _choose_fallback(needed: set[int], primaries: list[FontFace]) -> tuple[list[FontFace], dict[FontFace, frozenset[int]]]:
    """Greedy: the best-ranked face covering most of what is left, until nothing is left or nobody helps."""
    own = [_Candidate(f.path, f.index, f"own:{f.role}", 200 if f.weight >= 600 else 80, True, f.unicodes, 2)
           for f in primaries]
    pool = list(_system_candidates()) + own
    remaining = set(needed)
    # the shared "IE Fallback" looks like the body (serif) unless only sans faces have gaps
    serif_look = any(cp not in f.unicodes for f in primaries if f.role == "serif" for cp in needed) \
        or not any(f.role == "sans" for f in primaries)
    faces: list[FontFace] = []
    ranges: dict[FontFace, frozenset[int]] = {}
    while remaining:
        scored = [(c.covered(remaining), c) for c in pool]
        scored = [(got, c) for got, c in scored if got]
        if not scored:
            break
        claimed, best = max(scored, key=lambda s: (s[1].rank, s[1].upright, len(s[0]), s[1].fc_weight == 80,
                                                   "Mono" not in s[1].family,
                                                   ("serif" in s[1].family.lower()) == serif_look))
        pool.remove(best)
        exact = face_unicodes(str(best.path), best.index) if best.path.is_file() else frozenset()
        got = frozenset(claimed & exact)
        if not got:          # fontconfig's charset claimed more than the cmap has
            continue
        remaining -= got
        origin = "fonts/" if best.family.startswith("own:") else "system"
        regular = FontFace("fallback", 400 if best.fc_weight < 150 else 700, best.path, best.index, origin=origin)
        faces.append(regular)
        ranges[regular] = got
        if regular.weight != 400:
            continue
        siblings = [c for c in pool if c.family == best.family and 180 <= c.fc_weight < 210
                    and c.upright == best.upright and c.covered(set(got)) == got and c.path.is_file()]
        bold = min(siblings, key=lambda c: abs(c.fc_weight - 200), default=None)   # Bold over SemiBold
        if bold is not None and got <= face_unicodes(str(bold.path), bold.index):
            bold_face = FontFace("fallback", 700, bold.path, bold.index, origin=origin)
            faces.append(bold_face)
            ranges[bold_face] = got
    return faces, ranges


def resolve_fonts(text: str, options: Options = Options(), *, language: str = "") -> FontSet:
    """Choose the faces for a book whose visible text is `text` (in `language`, BCP 47), with
    fallbacks and one warning listing the characters no installed font covers."""
    warnings: list[str] = []
    faces = _faces_for_role("serif", options.font_serif, warnings) + \
        _faces_for_role("sans", options.font_sans, warnings)
    needed = visible_chars(text)
    fontset = FontSet(faces=faces, warnings=warnings, text=text, embed=options.embed_fonts, language=language)
    gaps = fontset.uncovered_by_some(needed) if faces else needed
    if gaps:
        fontset.fallback, fontset.fallback_ranges = _choose_fallback(gaps, faces)
    fontset.missing = sorted(fontset.uncovered_by_all(needed))
    if fontset.missing:
        n = len(fontset.missing)
        warnings.append(f"no font covers {n} character{'s' if n != 1 else ''}: "
                        f"{describe_chars(fontset.missing)}")
    for face in fontset.fallback:
        log.info("fallback font %s#%d (%s) for %s", face.path, face.index, face.name,
                 describe_chars(fontset.fallback_ranges[face], 10))
    return fontset


# ---------------------------------------------------------------- EPUB subsets and CSS
def faces_in_use(options: Options) -> Callable[[FontFace], bool] | None:
    """The `keep` filter for subset_fonts/font_face_css: the faces our stylesheets use, or None
    (every face) when a user stylesheet may ask for any of them."""
    if options.css:
        return None
    return lambda face: (face.family, face.weight >= 600) not in UNUSED_FACES


def subset_fonts(fontset: FontSet, text: str,
                 keep: Callable[[FontFace], bool] | None = None) -> list[EmbeddedFont]:
    """Per-book subsets of every face (or of those `keep` accepts): `text` (the book's text and
    generated labels) plus the always-kept digits and punctuation, with their layout closure.
    [] when not embedding."""
    if not fontset.embed:
        return []
    full = fontset.text + "\n" + text
    late = sorted(fontset.uncovered_by_all(visible_chars(text)) - set(fontset.missing))
    if late:       # characters of generated text that resolve_fonts did not see
        fontset.missing = sorted({*fontset.missing, *late})
        fontset.warnings.append(f"no font covers {len(late)} more character{'s' if len(late) != 1 else ''} "
                                f"of the generated text: {describe_chars(late)}")
    fallback_ranges = _unicode_ranges(fontset)
    out = []
    for filename, face in fontset.files().items():
        if keep is not None and not keep(face):
            continue
        chars = fontset._subset_chars(face, full)
        if face.role == "fallback" and not chars:
            continue
        data = book_subset(face.path, face.index, frozenset(chars), fontset.language)
        out.append(EmbeddedFont(filename, face.media_type, data, face.family, face.weight, face.style,
                                fallback_ranges.get(face, "")))
    return out


@lru_cache(maxsize=8)
def book_subset(path: str | Path, index: int, chars: frozenset[int], language: str) -> bytes:
    """`subset_face` remembered for the last few books of this process: the EPUB and the PDF of
    one book want the same subset of each face (the same characters, the same language), and a
    build of both formats now cuts each face once instead of twice (~20 ms a face)."""
    return subset_face(path, index, chars, language=language)


def _unicode_ranges(fontset: FontSet) -> dict[FontFace, str]:
    """CSS unicode-range for fallback faces that share a weight with another fallback face."""
    out = {}
    for face in fontset.fallback:
        if sum(f.weight == face.weight for f in fontset.fallback) > 1:
            out[face] = ", ".join(f"U+{cp:X}" for cp in sorted(fontset.fallback_ranges[face]))
    return out


def font_face_css(fonts: list[EmbeddedFont] | FontSet, url_for: Callable[[str], str],
                  keep: Callable[[FontFace], bool] | None = None) -> str:
    """@font-face rules for the embedded subsets (EPUB) or the chosen faces (PDF; only those
    `keep` accepts, when given)."""
    if isinstance(fonts, FontSet):
        ranges = _unicode_ranges(fonts)
        entries = [(name, face.family, face.weight, face.style, ranges.get(face, ""), face.is_cff)
                   for name, face in fonts.files().items() if keep is None or keep(face)]
    else:
        entries = [(f.filename, f.family, f.weight, f.style, f.unicode_range, f.media_type == "font/otf")
                   for f in fonts]
    rules = []
    for filename, family, weight, style, unicode_range, is_cff in entries:
        lines = [f'  font-family: "{family}";', f"  font-weight: {weight};", f"  font-style: {style};",
                 f'  src: url("{url_for(filename)}") format("{"opentype" if is_cff else "truetype"}");']
        if unicode_range:
            lines.append(f"  unicode-range: {unicode_range};")
        rules.append("@font-face {\n" + "\n".join(lines) + "\n}")
    return "\n".join(rules) + ("\n" if rules else "")
