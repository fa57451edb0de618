"""The option table → the `Options` dataclass, each subcommand's options and the config-file keys.

Every setting is one row, `opt(DEFAULT, "--flag", help=, group=, commands=, kind=, check=)`, written
as a field of `Options` (what the stages read) or of `RunOptions` (what only the command line
uses: where books go, jobs, messages). From the rows come the dataclass fields and defaults, the
click options of each subcommand (cli.py), the keys of `interview-export.toml` (config.py) and one
parser + check per setting, used for a command-line value and a config value alike.

Kinds: flag (bool; the flag switches the default off or on), count (-v -v), text, int, choice,
file / dir (a path, relative to the config file there), font (PATH[#INDEX]), output, pair
(KEY=VALUE), format (epub,pdf). A tuple default makes the option repeatable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import UsageError
from .hanzi import CONVERSIONS
from .labels import QUOTE_STYLE_NAMES

# ---------------------------------------------------------------- subcommands and groups
EPUB_CMDS = frozenset({"epub", "build", "preview"})  # preview shows the EPUB
PDF_CMDS = frozenset({"pdf", "build"})
CONVERT_CMDS = frozenset({"epub", "pdf", "build"})  # the commands that write books
BOOK_CMDS = CONVERT_CMDS | {"preview"}              # everything that makes a book (written or shown)
READ_CMDS = BOOK_CMDS | {"inspect"}                 # everything that reads and resolves an article
GROUPS = ("Output", "Book", "Images", "Fonts", "Page (PDF)", "Batch", "Preview", "Messages", "Settings")
PATH_KINDS = frozenset({"file", "dir", "font", "output"})

FORMATS: tuple[str, ...] = ("epub", "pdf")
EXTENSIONS: dict[str, str] = {"epub": ".epub", "pdf": ".pdf"}
DASK_LOCAL = "local"                                  # --dask local[:N]: a cluster on this machine

PDF_VARIANTS = ("pdf/a-1b", "pdf/a-2b", "pdf/a-3b", "pdf/a-2u", "pdf/a-3u", "pdf/a-4u",
                "pdf/a-1a", "pdf/a-2a", "pdf/a-3a", "pdf/ua-1", "pdf/ua-2")


@dataclass(frozen=True)
class Opt:
    """One row of the table (the field name is filled in by `rows`)."""

    default: Any
    flags: tuple[str, ...]
    help: str
    group: str
    commands: frozenset[str]
    kind: str
    check: Callable[[Any], Any] | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    example: str | None = None                       # a valid non-default value (tests, help)
    config: bool = True                              # also a key of the config file
    aliases: tuple[str, ...] = ()                    # more config keys for it
    extend: bool = True                              # repeatable: the command line adds to the config
                                                     # file's list (False: replaces it)
    name: str = ""

    @property
    def many(self) -> bool:
        """Repeatable on the command line, a list in the config file."""
        return isinstance(self.default, tuple) and self.kind != "format"

    @property
    def label(self) -> str:
        """How messages name it: its long flag (`--page-size`)."""
        longs = [f for f in self.flags if f.startswith("--")]
        return longs[0].split("/")[0] if longs else self.flags[0]

    @property
    def config_key(self) -> str:
        """The config-file key: the flag that sets a non-default value, without its dashes."""
        flag = self.label
        if self.kind == "flag" and "/" in (spec := next(f for f in self.flags if f.startswith("--"))):
            on, off = spec.split("/")
            flag = off if self.default else on
        return flag.lstrip("-")

    def parse(self, value: Any) -> Any:
        """A command-line string or a TOML value → the field's value (ValueError/UsageError if bad).
        Repeatable rows take a list; config tables of KEY=VALUE pairs work too."""
        if self.kind == "format" and isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))          # -f epub -f pdf, format = ["epub", "pdf"]
        if self.many:
            if isinstance(value, dict) and self.kind == "pair":
                value = [f"{k}={_joined(v)}" for k, v in value.items()]
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)):
                raise ValueError("expected a string or a list of strings")
            parsed = tuple(self._item(v) for v in items)
        else:
            parsed = self._item(value)
        if self.check is not None and parsed not in (None, "", ()):
            self.check(parsed)
        return parsed

    def from_config(self, value: Any) -> Any:
        """A config-file value → the field's value (a flag's key is true when the flag is meant)."""
        parsed = self.parse(value)
        if self.kind == "flag":
            return (not self.default) if parsed else self.default
        return parsed

    def _item(self, value: Any) -> Any:
        kind = self.kind
        if kind in ("flag", "count"):
            if isinstance(value, bool) or (kind == "count" and isinstance(value, int)):
                return value
            raise ValueError("expected true or false")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError("expected a string" if kind != "int" else "expected a whole number")
        text = str(value).strip()
        if kind == "int":
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a whole number") from None
        if kind == "choice":
            low = text.lower()
            if low not in self.choices:
                raise ValueError(f"{text!r}: expected one of {', '.join(self.choices)}")
            return low
        if kind == "pair":
            key, sep, rest = str(value).partition("=")
            if not sep or not key.strip():
                raise ValueError(f"{value!r} is not KEY=VALUE")
            return key.strip(), rest
        if kind == "format":
            return check_formats(f for f in text.split(",") if f.strip())
        if kind in ("file", "dir"):
            return Path(text)
        return str(value)


def _joined(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def opt(default: Any, *flags: str, help: str, group: str, commands: frozenset[str] | set[str],
        kind: str | None = None, **more: Any) -> Any:
    """A dataclass field that is also a row of the option table (see the module docstring)."""
    if kind is None:
        kind = "flag" if isinstance(default, bool) else "int" if isinstance(default, int) else "text"
    row = Opt(default, flags, help, group, frozenset(commands), kind, **more)
    return field(default=default, metadata={"opt": row})


def internal(default: Any, help: str) -> Any:
    """A field of `Options` that the API sets but no command-line option or config key does."""
    return field(default=default, metadata={"help": help})


# ---------------------------------------------------------------- checks shared by CLI and config
def _page_size(value: str) -> None:
    from .pagesize import parse_page_size

    parse_page_size(value)


def _bleed(value: str) -> None:
    from .pagesize import parse_length

    parse_length(value, what="bleed")


def _existing_files(paths: Path | tuple[Path, ...]) -> None:
    for path in (paths if isinstance(paths, tuple) else (paths,)):
        if not path.is_file():
            raise UsageError(f"file not found: {path}")


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """Normalise and validate a list of formats ("epub", "pdf"); UsageError on anything else."""
    out: list[str] = []
    for fmt in formats:
        fmt = fmt.strip().lower()
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        if fmt not in out:
            out.append(fmt)
    if not out:
        raise UsageError("no output format given")
    return tuple(out)


def parse_dask_target(value: str) -> tuple[str, int | None]:
    """--dask: "local", "local:N" → ("local", N or None); "host:port" / "tcp://host:port" → (address, None)."""
    text = value.strip()
    if text == DASK_LOCAL or text.startswith(DASK_LOCAL + ":"):
        count = text[len(DASK_LOCAL) + 1:]
        if not count:
            return DASK_LOCAL, None
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"--dask {value}: expected local or local:N with N ≥ 1")
        return DASK_LOCAL, int(count)
    if not text:
        raise UsageError("--dask: expected a scheduler address (tcp://HOST:PORT) or local[:N]")
    return (text if "://" in text else f"tcp://{text}"), None


def _dask_target(value: str) -> None:
    parse_dask_target(value)   # no dask import: only the address is checked here


def _port(value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"{value} is not a port (0-65535; 0 picks a free one)")


def _positive(value: int) -> None:
    if value < 1:
        raise ValueError(f"{value} is not a positive whole number")


# ---------------------------------------------------------------- the table
@dataclass(frozen=True)
class Options:
    """Everything the stages (read, media, fonts, EPUB, PDF) may be told; the API's settings.

    Each field with a flag is also a command-line option and a config key (see `rows`)."""

    # reading
    metadata: tuple[tuple[str, str], ...] = opt(
        (), "--metadata", kind="pair", metavar="KEY=VALUE", group="Book", commands=READ_CMDS,
        help="Set a metadata field (title, author, date, language, …); beats front matter. Repeatable.")
    allow_html: bool = opt(False, "--allow-html", group="Book", commands=READ_CMDS,
                           help="Keep a safe subset of raw HTML (default: shown as text).")
    disabled_transforms: tuple[str, ...] = internal((), "transform names to switch off")
    hosts: tuple[str, ...] = opt(
        (), "--host", metavar="NAME", group="Book", commands=READ_CMDS, aliases=("hosts",), extend=False,
        help="This speaker hosts (asks the questions); the others are guests. Beats front matter and "
             "detection. Repeatable.")
    # media
    mirrors: tuple[tuple[str, str], ...] = opt(
        (), "--mirror", kind="pair", metavar="PREFIX=REPLACEMENT", group="Images", commands=READ_CMDS,
        aliases=("mirrors",), help="Rewrite image URLs starting with PREFIX before fetching. Repeatable.")
    allow_hosts: tuple[str, ...] = opt(
        (), "--allow-host", metavar="HOST[:PORT]", group="Images", commands=READ_CMDS, aliases=("allow-hosts",),
        example="lan.example",
        help="Let image URLs reach this host even when it is loopback or private (refused by default; "
             "--mirror targets are allowed already). Repeatable.")
    offline: bool = opt(False, "--offline", group="Images", commands=READ_CMDS,
                        help="Use only cached and local images; no network.")
    strict: bool = opt(False, "--strict", group="Images", commands=READ_CMDS,
                       help="Fail an input (no output) when any image is missing, listing every one.")
    cache_dir: Path | None = opt(None, "--cache-dir", kind="dir", metavar="DIR", group="Images",
                                 commands=READ_CMDS, help="Image cache folder (default: the user cache folder).")
    use_cache: bool = opt(True, "--no-cache", group="Images", commands=READ_CMDS,
                          help="Neither read nor write the image cache.")
    resource_dirs: tuple[Path, ...] = opt(
        (), "--resource-dir", kind="dir", metavar="DIR", group="Images", commands=READ_CMDS,
        aliases=("resource-dirs",), help="Extra folder local images may come from. Repeatable.")
    max_image_bytes: int = internal(25 * 1024 * 1024, "larger images are refused")
    max_downloads: int = internal(8, "parallel downloads")
    timeout: float = internal(20.0, "seconds per download")
    grayscale: bool = opt(False, "--grayscale", group="Images", commands=EPUB_CMDS,
                          help="Grayscale images in the EPUB (e-ink).")
    epub_image_long_side: int = internal(1600, "EPUB images are scaled down to this long side (px)")
    # fonts
    font_serif: str | None = opt(None, "--font-serif", kind="font", metavar="PATH[#INDEX]", group="Fonts",
                                 commands=BOOK_CMDS, help="Body font file (a .ttc: #face index).")
    font_sans: str | None = opt(None, "--font-sans", kind="font", metavar="PATH[#INDEX]", group="Fonts",
                                commands=BOOK_CMDS, help="Heading and label font file.")
    embed_fonts: bool = opt(True, "--no-embed-fonts", group="Fonts", commands=EPUB_CMDS,
                            help="Do not embed fonts in the EPUB (the reader's fonts are used).")
    # look
    css: tuple[Path, ...] = opt((), "--css", kind="file", metavar="FILE", group="Book", commands=BOOK_CMDS,
                                check=_existing_files, help="Extra stylesheet applied after ours. Repeatable.")
    cover: Path | None = opt(None, "--cover", kind="file", metavar="IMAGE", group="Book", commands=BOOK_CMDS,
                             check=_existing_files, help="Use this image as the cover.")
    no_cover: bool = opt(False, "--no-cover", group="Book", commands=BOOK_CMDS, help="No cover page.")
    vertical: bool = opt(False, "--vertical", group="Book", commands=EPUB_CMDS,
                         help="Vertical (top-to-bottom, right-to-left) writing.")
    # Chinese script and conventions (hanzi.py)
    convert: str = opt("", "--convert", kind="choice", choices=tuple(CONVERSIONS), group="Book",
                       commands=READ_CMDS, example="s2twp",
                       help="Convert Simplified ↔ Traditional Chinese with OpenCC (s2twp: Taiwan characters "
                            "and phrases, s2hk: Hong Kong, t2s: back to Simplified); the book's language follows.")
    quotes: str = opt("", "--quotes", kind="choice", choices=QUOTE_STYLE_NAMES, group="Book", commands=READ_CMDS,
                      example="corner",
                      help="Quotation marks: corner 「」『』 (default for Traditional Chinese) or curly “”‘’.")
    # pdf
    page_size: str = opt("A4", "--page-size", metavar="SIZE", group="Page (PDF)", commands=PDF_CMDS,
                         check=_page_size, example="A5",
                         help="A4 (default), A5, B5, Letter, 16开, 32开 or WxH in mm (148x210).")
    bleed: str = opt("", "--bleed", metavar="LENGTH", group="Page (PDF)", commands=PDF_CMDS, check=_bleed,
                     example="3mm", help="Bleed around each page, e.g. 3mm.")
    crop_marks: bool = opt(False, "--crop-marks", group="Page (PDF)", commands=PDF_CMDS, help="Crop marks.")
    duplex: bool = opt(True, "--simplex", group="Page (PDF)", commands=PDF_CMDS,
                       help="One-sided printing or screens: equal margins, centred head and folio "
                            "(default: facing pages, heads and folios on the outer corners).")
    pdf_variant: str = opt("", "--pdf-variant", kind="choice", choices=PDF_VARIANTS, group="Page (PDF)",
                           commands=PDF_CMDS, help="Write a PDF/A or PDF/UA file.")
    # reproducibility
    source_date_epoch: int | None = internal(None, "None → $SOURCE_DATE_EPOCH, else the document date (util.book_epoch)")


@dataclass(frozen=True)
class RunOptions:
    """Settings of one command-line run that the stages never see: outputs, batch, messages."""

    output: str | None = opt(
        None, "-o", "--output", kind="output", metavar="PATH", group="Output", commands=CONVERT_CMDS,
        help="A path ending in .epub/.pdf is the book itself (one input, one format); any other path "
             "is a folder (created if needed; books keep their input's name); - writes the book to "
             "standard output. Default: beside each input.")
    formats: tuple[str, ...] | None = opt(
        None, "-f", "--format", kind="format", metavar="epub,pdf", group="Output", commands={"build"},
        aliases=("formats",), help="Formats to write, comma-separated or repeated (default: epub,pdf).")
    overwrite: bool = opt(True, "--force/--no-clobber", group="Output", commands=CONVERT_CMDS,
                          help="Replace existing books (default) or leave them alone and report the "
                               "input as skipped (resume an interrupted batch).")
    as_json: bool = opt(False, "--json", group="Output", commands={"inspect"}, config=False,
                        help="Print one JSON object instead of text.")
    images: bool = opt(False, "--images", group="Output", commands={"inspect"}, config=False,
                       help="Resolve every image (fetch or cache) and show its status, size and format.")
    jobs: int | None = opt(None, "-j", "--jobs", kind="int", metavar="N", group="Batch", commands=CONVERT_CMDS,
                           check=_positive, example="3",
                           help="Worker processes (default: the number of CPUs; 1 = no pool).")
    dask: str | None = opt(None, "--dask", metavar="ADDRESS", group="Batch", commands=CONVERT_CMDS,
                           check=_dask_target, example="local:2",
                           help="Convert on a Dask cluster instead of local processes: its scheduler's "
                                "tcp://HOST:PORT, or local[:N] for N worker processes here. Needs "
                                "interview-export[dask] here and on every worker.")
    skip_variants: bool = opt(False, "--skip-variants", group="Batch", commands=CONVERT_CMDS,
                              help="In folders and globs, skip NAME-remote.md / NAME-standalone.md "
                                   "when NAME.md is there.")
    report: str | None = opt(None, "--report", kind="output", metavar="FILE.json", group="Batch",
                             commands=CONVERT_CMDS, config=False,
                             help="Write a JSON report of every input (outputs, warnings, error, timings).")
    port: int = opt(0, "--port", kind="int", metavar="N", group="Preview", commands={"preview"},
                    check=_port, example="8123", help="Port on 127.0.0.1 (default 0: a free one, printed).")
    open_browser: bool = opt(True, "--no-open", group="Preview", commands={"preview"},
                             help="Do not open the browser (the address is printed).")
    quiet: bool = opt(False, "-q", "--quiet", group="Messages", commands=CONVERT_CMDS, config=False,
                      help="Only errors.")
    verbose: int = opt(0, "-v", "--verbose", kind="count", group="Messages", commands=READ_CMDS, config=False,
                       help="More detail: what is being done, and the traceback of an internal error; "
                            "-vv also the PDF engine's (WeasyPrint's) own log.")
    profile: bool = opt(False, "--profile", group="Messages", commands=CONVERT_CMDS, config=False,
                        help="Time per stage for each file and in total.")
    config: str | None = opt(None, "--config", kind="output", metavar="FILE", group="Settings",
                             commands=READ_CMDS, config=False,
                             help="Settings file (default: ./interview-export.toml if present). "
                                  "Command-line options win.")


# The table: one `Opt` per command-line setting, named after its field, in field order.
ROWS: tuple[Opt, ...] = tuple(dataclasses.replace(f.metadata["opt"], name=f.name)
                              for cls in (Options, RunOptions) for f in dataclasses.fields(cls)
                              if "opt" in f.metadata)
# {config-file key: row}, aliases included.
CONFIG_KEYS: dict[str, Opt] = {key: row for row in ROWS if row.config for key in (row.config_key, *row.aliases)}


def rows_of(command: str) -> list[Opt]:
    """The rows that apply to one subcommand."""
    return [row for row in ROWS if command in row.commands]


def flag_names(row: Opt) -> list[str]:
    """Every spelling of a row's flags (`--force/--no-clobber` → both)."""
    return [name for spec in row.flags for name in spec.split("/")]


def split(values: dict[str, Any]) -> tuple[Options, RunOptions]:
    """{field name: value} (missing names keep their defaults) → (Options, RunOptions)."""
    names = {f.name for f in dataclasses.fields(Options)}
    return (Options(**{k: v for k, v in values.items() if k in names}),
            RunOptions(**{k: v for k, v in values.items() if k not in names}))
