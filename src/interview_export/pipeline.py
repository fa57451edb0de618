"""One input → its books on disk: read, collect media, resolve fonts, prepare, build, write atomically.

The single-file half of the API (``api`` re-exports it; ``batch`` and ``dask_batch`` run it): each
input gets one :class:`ConversionResult`, never an exception for a bad input. The stage modules
(reader, media, fonts, the backends) are imported lazily inside the functions, so importing this
module is cheap. This is the only module that writes books, always through :func:`write_atomic`.
Nothing here prints or exits.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import traceback
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from .errors import ExportError, ImageError, InputError, OutputError, interrupt_in
from .options import Options
from .util import replace_atomically

if TYPE_CHECKING:  # only for type checkers: the real imports stay lazy
    from .model import Document
    from .prepare import PreparedBook

    Backend = Callable[[PreparedBook], tuple[bytes, list[str]]]

    LocalImages = dict[str, "bytes | str"]   # src → bytes read on the client, or why it was refused

TEMP_SUFFIX = ".ie-tmp"
STDIN = "-"
STDIN_STEM = "stdin"
STAGES = ("read", "transforms", "media", "fonts", "epub", "pdf", "write")

# Temp files this process is writing right now: a worker's SIGTERM handler removes them.
ACTIVE_TEMP_FILES: set[str] = set()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class ConversionResult:
    """What happened to one input: files written, warnings, the error if it failed, stage timings."""

    input: str
    outputs: dict[str, Path] = field(default_factory=dict)      # format → file written
    warnings: tuple[str, ...] = ()
    error: str | None = None                                   # one-line reason, None when it worked
    timings: dict[str, float] = field(default_factory=dict)    # stage → seconds
    skipped: dict[str, Path] = field(default_factory=dict)     # format → existing file left alone
    error_type: str | None = None                              # e.g. "InputError", "internal"
    traceback: str | None = None                               # only for internal errors
    worker: str | None = None                                  # the Dask worker that built it (--dask)

    @property
    def ok(self) -> bool:
        """Whether the input converted (no error)."""
        return self.error is None

    @property
    def status(self) -> str:
        """"ok", "failed" or "skipped" (every output already existed and overwrite was off)."""
        if self.error is not None:
            return "failed"
        if self.skipped and not self.outputs:
            return "skipped"
        return "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as written in the --report file."""
        return {
            "input": self.input,
            "status": self.status,
            "outputs": {k: str(v) for k, v in self.outputs.items()},
            "skipped": {k: str(v) for k, v in self.skipped.items()},
            "warnings": list(self.warnings),
            "error": self.error,
            "error_type": self.error_type,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            **({"worker": self.worker} if self.worker is not None else {}),
        }


class MissingImagesError(ImageError):
    """--strict: one or more images could not be embedded; lists every one of them."""

    def __init__(self, missing: Sequence[str], *, path: str | None = None):
        self.missing = tuple(missing)
        ExportError.__init__(
            self,
            f"--strict: {len(self.missing)} image(s) missing: " + "; ".join(self.missing),
            path=path,
        )
        self.src = self.missing[0] if self.missing else ""
        self.reason = "missing"


# ---------------------------------------------------------------- files
def special_file(path: str | os.PathLike[str]) -> str:
    """What ``path`` is when it exists and is not a regular file ("a symbolic link", "a device
    node", …), else "": a book never replaces such a thing (``-o /dev/null`` as root would
    destroy the node; a symlink would be swapped for a file)."""
    import stat

    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return ""
    for test, kind in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a device node"),
                       (stat.S_ISBLK, "a device node"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return kind
    return "" if stat.S_ISREG(mode) else "not a regular file"


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write bytes to path via a temp file in the same folder + fsync + os.replace.

    Readers never see a half-written file; on any failure (including KeyboardInterrupt)
    the temp file is removed and the old file, if any, is left untouched.
    Raises OutputError for OS-level failures.
    """
    target = Path(path)
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {folder}: {exc.strerror or exc}", path=str(target)) from exc
    if target.is_dir():
        raise OutputError("is a directory, not a file", path=str(target))
    kind = special_file(target)
    if kind:
        raise OutputError(f"is {kind}; refusing to replace it", path=str(target))
    try:   # mkstemp makes 0600; books get ordinary permissions
        replace_atomically(target, data, prefix=f".{target.name}.", suffix=TEMP_SUFFIX, durable=True,
                           mode=0o666 & ~_UMASK, active=ACTIVE_TEMP_FILES)
    except OSError as exc:
        raise OutputError(f"cannot write in {folder}: {exc.strerror or exc}", path=str(target)) from exc
    with suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return target


def temp_files_for(path: str | os.PathLike[str]) -> list[Path]:
    """Leftover temp files that write_atomic may have made for this output (after a kill)."""
    target = Path(path)
    prefix = f".{target.name}."
    try:
        return sorted(p for p in target.parent.iterdir()
                      if p.name.startswith(prefix) and p.name.endswith(TEMP_SUFFIX))
    except OSError:
        return []


def remove_temp_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Remove every leftover temp file of these outputs; returns what was removed."""
    removed = []
    for path in paths:
        for tmp in temp_files_for(path):
            with suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


# ---------------------------------------------------------------- stages
class _Clock:
    """Adds up wall time per stage name."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def load(path: str | os.PathLike[str], options: Options = Options(), *,
         _clock: _Clock | None = None) -> "Document":
    """Read one Markdown file (`-` = stdin) into the document model, transforms applied.

    Raises InputError for a missing, unreadable or undecodable file.
    """
    name = str(path)
    if name != STDIN:
        _check_input(name)
    return _load_with(lambda reader, opts: reader.read_path(name, opts), options, _clock)


def load_bytes(data: bytes, name: str, options: Options = Options(), *,
               sidecar: tuple[dict, list[str]] | None = None, fallback_title: str = "",
               _clock: _Clock | None = None) -> "Document":
    """`load` for an input already read (a Dask work unit): the same document as from the file."""
    return _load_with(lambda reader, opts: reader.read_bytes(data, name, opts, sidecar=sidecar,
                                                             fallback_title=fallback_title),
                      options, _clock)


def read_input(source: str) -> tuple[bytes, str, tuple[dict, list[str]] | None, str]:
    """An input's bytes, its name, its sidecar (read) and its fallback title: what `load_bytes` takes."""
    from . import reader

    if source == STDIN:
        return sys.stdin.buffer.read(), "<stdin>", None, ""
    _check_input(source)
    p = Path(source)
    return reader.read_file(p), str(p), reader.sidecar_of(p), p.stem


def _check_input(name: str) -> None:
    p = Path(name)
    if p.is_dir():
        has_markdown = next(p.rglob("*.md"), None) is not None
        raise InputError("is a folder, not a Markdown file (convert() takes folders)" if has_markdown
                         else "is a folder with no *.md files in it", path=name)
    if not p.exists():
        raise InputError("no such file", path=name)


def _load_with(read: Callable[[Any, Options], "Document"], options: Options, clock: _Clock | None) -> "Document":
    clock = clock or _Clock()
    with clock.stage("read"):  # importing the parser and the model (~0.1 s cold) is part of reading
        from . import reader

        try:
            from .transforms import TRANSFORM_NAMES, apply_transforms
        except ImportError:  # no separate transforms stage: the reader does everything
            return read(reader, options)
        # Read with every transform switched off, then run them here: two timings, same result.
        doc = read(reader, dataclasses.replace(options, disabled_transforms=TRANSFORM_NAMES))
    with clock.stage("transforms"):
        return apply_transforms(doc, options)


def base_dir_of(source: str) -> Path:
    """The folder an input's relative image paths are resolved against."""
    return Path.cwd() if source == STDIN else Path(source).resolve().parent


def collect_media(doc: "Document", options: Options = Options(), *, base_dir: str | os.PathLike[str] | None = None,
                  targets: tuple[str, ...] = ("epub", "pdf"), local: "LocalImages | None" = None):
    """Fetch, check and normalise every image once → MediaBag (strict: MissingImagesError).

    `targets` names the backends that will read the bag: only their renditions are made.
    `local` (a Dask worker) holds the local images already read on the client, by src."""
    from . import media as media_mod

    # Ask the media stage for placeholders, then fail here listing *every* missing image.
    extra: dict[str, Any] = {"local": local} if local is not None else {}
    bag = media_mod.collect_media(doc, Path(base_dir) if base_dir is not None else None,
                                  dataclasses.replace(options, strict=False), targets=targets, **extra)
    if options.strict:
        missing = missing_images(bag)
        if missing:
            raise MissingImagesError(missing, path=getattr(doc, "name", None) or None)
    return bag


def missing_images(bag: Any) -> list[str]:
    """One line per image that became a placeholder: `src (line N): reason`."""
    if hasattr(bag, "missing"):
        assets = list(bag.missing())
    else:
        assets = [a for a in bag.assets.values() if not getattr(a, "ok", True)]
    lines = []
    for asset in assets:
        if isinstance(asset, str):
            lines.append(asset)
            continue
        src = getattr(asset, "src", "?")
        if len(src) > 120:
            src = src[:100] + "…"
        line = getattr(asset, "line", 0)
        reason = getattr(asset, "reason", "") or "unavailable"
        lines.append(f"{src}" + (f" (line {line})" if line else "") + f": {reason}")
    return lines


def resolve_fonts(doc: "Document", options: Options = Options()):
    """Pick the font faces once for both backends, over the document's text and every label the
    renderer adds (目录, quote marks, section numbers …), so their gaps are warned about here."""
    from . import fonts as fonts_mod
    from .render import book_text, document_language

    return fonts_mod.resolve_fonts(book_text(doc, options), options, language=document_language(doc))


def prepare_book(doc: "Document", options: Options = Options(), *, base_dir: str | os.PathLike[str] | None = None,
                 media: Any = None, fonts: Any = None, targets: tuple[str, ...] = ("epub", "pdf")):
    """The PreparedBook every backend takes: media collected from base_dir when `media` is not
    given, fonts resolved when `fonts` is not, the --cover and --css files read and checked."""
    from .prepare import prepare

    if media is None:
        media = collect_media(doc, options, base_dir=base_dir, targets=targets)
    return prepare(doc, options, media=media, fonts=fonts)


def to_epub(doc: "Document", options: Options = Options(), *, base_dir: str | os.PathLike[str] | None = None,
            media: Any = None, fonts: Any = None) -> bytes:
    """The EPUB 3 book as bytes. Collects media from base_dir when `media` is not given."""
    from .backends import epub

    return epub.build(prepare_book(doc, options, base_dir=base_dir, media=media, fonts=fonts, targets=("epub",)))


def to_pdf(doc: "Document", options: Options = Options(), *, base_dir: str | os.PathLike[str] | None = None,
           media: Any = None, fonts: Any = None) -> bytes:
    """The print PDF as bytes. Collects media from base_dir when `media` is not given."""
    from .backends import pdf

    return pdf.build(prepare_book(doc, options, base_dir=base_dir, media=media, fonts=fonts, targets=("pdf",)))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def error_reason(exc: BaseException, source: str) -> str:
    """A one-line reason for the error, without repeating the input's own path."""
    if isinstance(exc, ExportError):
        where = exc.path or ""
        if where in ("", source, str(Path(source))) or os.path.realpath(where) == os.path.realpath(source):
            return f"line {exc.line}: {exc.message}" if exc.line else exc.message
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"internal error: {type(exc).__name__}" + (f": {text}" if text else "")


def build_books(doc: "Document", formats: Sequence[str], options: Options, *, clock: _Clock,
                warnings: list[str], base_dir: str | os.PathLike[str] | None = None,
                local: "LocalImages | None" = None,
                backends: "Mapping[str, Backend] | None" = None) -> Iterator[tuple[str, bytes]]:
    """A loaded document → (format, book bytes), one format at a time; warnings collected as it goes.

    Media are collected once and fonts resolved once into one PreparedBook, which every backend
    (backends.BACKENDS, or the one `backends` gives for its format) then takes."""
    from .backends import BACKENDS  # here, not at the top: importing api stays cheap (ebooklib, lxml)
    from .prepare import prepare

    with clock.stage("media"):
        bag = collect_media(doc, options, base_dir=base_dir, targets=tuple(formats), local=local)
    warnings.extend(getattr(bag, "warnings", ()))
    chosen = {fmt: (backends or {}).get(fmt) or BACKENDS[fmt] for fmt in formats}
    for fmt in formats:   # what a backend can start now, beside the fonts (the EPUB's cover page)
        warm = getattr(chosen[fmt], "warm", None)
        if warm is not None:
            warm(doc, bag, options)
    with clock.stage("fonts"):
        book = prepare(doc, options, media=bag)   # fonts resolved there, over the book's whole text
    warnings.extend(book.warnings)   # the fonts' among them (the media's are above for a prepare that fails)
    fontset = book.fonts
    begun: dict[str, Callable[[], tuple[bytes, list[str]]]] = {}
    for fmt in formats[1:]:   # a backend rendering elsewhere starts now, while the first is built here
        begin = getattr(chosen[fmt], "begin", None)
        if begin is not None:
            with clock.stage(fmt):
                begun[fmt] = begin(book)
    for fmt in formats:
        with clock.stage(fmt):
            data, more = begun[fmt]() if fmt in begun else chosen[fmt](book)
        warnings.extend(more)
        yield fmt, data
        del data  # one book in memory at a time
    warnings.extend(getattr(fontset, "warnings", ()))   # anything a backend added to the font set


def guarded_result(source: str, body: Callable[[], None], *, clock: _Clock, warnings: list[str],
                   outputs: dict[str, Path] | None = None,
                   skipped: dict[str, Path] | None = None) -> ConversionResult:
    """Run `body` → the input's result: an ExportError or any other error becomes its `error`."""
    outputs = {} if outputs is None else outputs
    skipped = {} if skipped is None else skipped
    try:
        body()
    except Exception as exc:
        interrupt = interrupt_in(exc)
        if interrupt is not None:   # a Ctrl-C Python wrapped (errors.interrupt_in): it stops the run
            raise interrupt from None
        if isinstance(exc, ExportError):
            return ConversionResult(source, outputs, _unique(warnings), error_reason(exc, source),
                                    clock.timings, skipped, type(exc).__name__)
        # an internal error must not stop the batch or show a traceback
        return ConversionResult(source, outputs, _unique(warnings), error_reason(exc, source),
                                clock.timings, skipped, "internal", traceback.format_exc())
    return ConversionResult(source, outputs, _unique(warnings), None, clock.timings, skipped)


def pending_targets(targets: dict[str, Path], overwrite: bool) -> tuple[dict[str, Path], dict[str, Path]]:
    """{format: path} → (to build, already there and left alone because overwrite is off)."""
    skipped = {fmt: p for fmt, p in targets.items() if not overwrite and p.exists()}
    return {fmt: p for fmt, p in targets.items() if fmt not in skipped}, skipped


def convert_file(source: str, targets: dict[str, Path], options: Options = Options(), *,
                 overwrite: bool = True, backends: "Mapping[str, Backend] | None" = None) -> ConversionResult:
    """Convert one input to every target {format: path}; never raises an ExportError.

    Each book is written as soon as it is built (by `backends`' builder for its format, if any:
    overlap.pdf_engine's). Any failure ends up in the result's
    `error`; KeyboardInterrupt and SystemExit still propagate.
    """
    clock = _Clock()
    warnings: list[str] = []
    outputs: dict[str, Path] = {}
    todo, skipped = pending_targets(targets, overwrite)
    if not todo:
        return ConversionResult(source, skipped=skipped)

    def body() -> None:
        doc = load(source, options, _clock=clock)
        warnings.extend(doc.warnings)
        for fmt, data in build_books(doc, tuple(todo), options, clock=clock, warnings=warnings,
                                     base_dir=base_dir_of(source), backends=backends):
            with clock.stage("write"):
                outputs[fmt] = write_atomic(todo[fmt], data)
            del data

    return guarded_result(source, body, clock=clock, warnings=warnings, outputs=outputs, skipped=skipped)


def default_jobs() -> int:
    """Worker processes by default: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
