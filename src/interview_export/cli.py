"""Command line → API calls: option parsing, progress and summary, and the one exit-code table.

Exit codes: 0 every input converted (warnings allowed), 1 at least one input failed,
2 usage error, 130 interrupted by Ctrl-C (143 by SIGTERM).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click
from click.core import ParameterSource

from . import api
from .config import load_config
from .errors import ExportError, UsageError
from .options import Options

PROG = "interview-export"
_PROGRAM = False   # True once main() runs as the program (console script, python -m): it owns the process
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# ---------------------------------------------------------------- shared options
def _key_value(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        key, sep, _ = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx=ctx, param=param)
    return values


SHARED_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--config", "config", type=click.Path(dir_okay=False), metavar="FILE",
                 help="Settings file (default: ./interview-export.toml if present). Command-line options win."),
    click.option("--metadata", "metadata", multiple=True, callback=_key_value, metavar="KEY=VALUE",
                 help="Set a metadata field (title, author, date, language, …); beats front matter. Repeatable."),
    click.option("--css", "css", multiple=True, type=click.Path(exists=True, dir_okay=False), metavar="FILE",
                 help="Extra stylesheet applied after ours. Repeatable."),
    click.option("--cover", "cover", type=click.Path(exists=True, dir_okay=False), metavar="PATH",
                 help="Use this image as the cover."),
    click.option("--no-cover", "no_cover", is_flag=True, help="No cover page."),
    click.option("--mirror", "mirror", multiple=True, callback=_key_value, metavar="PREFIX=REPLACEMENT",
                 help="Rewrite image URLs starting with PREFIX before fetching. Repeatable."),
    click.option("--offline", "offline", is_flag=True, help="Use only cached and local images; no network."),
    click.option("--strict", "strict", is_flag=True,
                 help="Fail an input (no output) when any image is missing, listing every one."),
    click.option("--cache-dir", "cache_dir", type=click.Path(file_okay=False), metavar="DIR",
                 help="Image cache folder (default: the user cache folder)."),
    click.option("--no-cache", "no_cache", is_flag=True, help="Neither read nor write the image cache."),
    click.option("--resource-dir", "resource_dir", multiple=True, type=click.Path(file_okay=False), metavar="DIR",
                 help="Extra folder local images may come from. Repeatable."),
    click.option("--allow-html", "allow_html", is_flag=True, help="Keep a safe subset of raw HTML."),
    click.option("--font-serif", "font_serif", metavar="PATH[#INDEX]", help="Body font file (TTC: face index)."),
    click.option("--font-sans", "font_sans", metavar="PATH[#INDEX]", help="Heading/label font file."),
    click.option("--no-embed-fonts", "no_embed_fonts", is_flag=True, help="Do not embed fonts in the EPUB."),
    click.option("--vertical", "vertical", is_flag=True, help="Vertical (top-to-bottom) writing."),
    click.option("--grayscale", "grayscale", is_flag=True, help="Grayscale images (e-ink)."),
    click.option("--page-size", "page_size", metavar="SIZE", help="PDF page size, e.g. A4, A5, B5, letter. [A4]"),
    click.option("--bleed", "bleed", metavar="LENGTH", help="PDF bleed, e.g. 3mm."),
    click.option("--crop-marks", "crop_marks", is_flag=True, help="PDF crop marks."),
    click.option("--simplex", "simplex", is_flag=True,
                 help="PDF for one-sided printing or screens: equal margins, centred head and folio "
                      "(default: facing pages, heads and folios on the outer corners)."),
    click.option("--pdf-variant", "pdf_variant", metavar="VARIANT", help="e.g. pdf/a-3b, pdf/ua-1."),
    click.option("--skip-variants", "skip_variants", is_flag=True,
                 help="In folders and globs, skip NAME-remote.md / NAME-standalone.md when NAME.md is there."),
    click.option("--force/--no-clobber", "overwrite", default=True,
                 help="--force (default): replace existing outputs. --no-clobber: leave existing outputs "
                      "alone and report the input as skipped (resume an interrupted batch). "
                      "--force overrides no-clobber from a config file."),
    click.option("-j", "--jobs", "jobs", type=click.IntRange(min=1), metavar="N",
                 help="Worker processes (default: the number of CPUs; 1 = no pool)."),
    click.option("-q", "--quiet", "quiet", is_flag=True, help="Only errors."),
    click.option("-v", "--verbose", "verbose", is_flag=True,
                 help="Say when each file starts; tracebacks for internal errors."),
    click.option("--profile", "profile", is_flag=True, help="Time per stage for each file and in total."),
    click.option("--report", "report", type=click.Path(dir_okay=False), metavar="FILE.json",
                 help="Write a JSON report of every input (outputs, warnings, error, timings)."),
]


def shared_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Apply the options every command shares (defined once, above)."""
    for option in reversed(SHARED_OPTIONS):
        func = option(func)
    return func


output_option = click.option(
    "-o", "--output", "output", metavar="PATH",
    help="One input and one format: the output file (unless PATH is a folder or ends with /). "
         "Otherwise a folder (created if needed); books keep the input's name. Default: beside each input.")


# ---------------------------------------------------------------- settings
@dataclass
class Settings:
    """The merged command line + config file for one run."""

    options: Options
    params: dict[str, Any]
    config_path: Path | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.params[name]
        except KeyError:
            raise AttributeError(name) from None


_FROM_DEFAULT = (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)


def _merge_pairs(first: list[str], second: list[str]) -> list[str]:
    """KEY=VALUE lists: later entries win per key, order of first appearance kept."""
    merged: dict[str, str] = {}
    for item in [*first, *second]:
        key, _, value = item.partition("=")
        merged[key.strip()] = value
    return [f"{k}={v}" for k, v in merged.items()]


def build_settings(ctx: click.Context) -> Settings:
    """Command line over config file over built-in defaults → Settings (raises UsageError)."""
    params = dict(ctx.params)
    config = load_config(params.get("config"))
    cfg = config.values
    for name, value in cfg.items():
        if name in ("metadata", "mirror", "css", "resource_dir", "no_clobber"):
            continue
        if name in params and ctx.get_parameter_source(name) in _FROM_DEFAULT:
            params[name] = value
            if name == "output":  # a config file's output is always a folder
                params["output_is_folder"] = True
        elif name not in params and name in ("formats", "output"):
            params.setdefault(name, value)
    if "no_clobber" in cfg and ctx.get_parameter_source("overwrite") in _FROM_DEFAULT:
        params["overwrite"] = not cfg["no_clobber"]
    # Lists: config first, command line after it (so the command line wins per key / in the cascade).
    metadata = _merge_pairs(cfg.get("metadata", []), list(params["metadata"]))
    cli_prefixes = {m.partition("=")[0] for m in params["mirror"]}   # command-line mirrors first
    mirrors = [*params["mirror"], *(m for m in cfg.get("mirror", []) if m.partition("=")[0] not in cli_prefixes)]
    css = [*cfg.get("css", []), *params["css"]]
    resource_dirs = [*cfg.get("resource_dir", []), *params["resource_dir"]]
    for path in css:
        if not Path(path).is_file():
            raise UsageError(f"stylesheet not found: {path}")
    if params["cover"] and params["no_cover"]:
        from_cli = {n for n in ("cover", "no_cover") if ctx.get_parameter_source(n) not in _FROM_DEFAULT}
        if len(from_cli) != 1:
            raise UsageError("--cover and --no-cover cannot be used together")
        params["no_cover" if "cover" in from_cli else "cover"] = None  # the command line wins
    if params["quiet"] and params["verbose"]:
        raise UsageError("--quiet and --verbose cannot be used together")
    defaults = Options()
    options = Options(
        metadata=tuple((k.strip(), v) for k, _, v in (m.partition("=") for m in metadata)),
        allow_html=bool(params["allow_html"]),
        mirrors=tuple((p, r) for p, _, r in (m.partition("=") for m in mirrors)),
        offline=bool(params["offline"]),
        strict=bool(params["strict"]),
        cache_dir=Path(params["cache_dir"]) if params["cache_dir"] else None,
        use_cache=not params["no_cache"],
        resource_dirs=tuple(Path(p) for p in resource_dirs),
        grayscale=bool(params["grayscale"]),
        font_serif=params["font_serif"] or None,
        font_sans=params["font_sans"] or None,
        embed_fonts=not params["no_embed_fonts"],
        css=tuple(Path(p) for p in css),
        cover=Path(params["cover"]) if params["cover"] else None,
        no_cover=bool(params["no_cover"]),
        vertical=bool(params["vertical"]),
        page_size=params["page_size"] or defaults.page_size,
        bleed=params["bleed"] or defaults.bleed,
        crop_marks=bool(params["crop_marks"]),
        duplex=not params["simplex"],
        pdf_variant=params["pdf_variant"] or defaults.pdf_variant,
    )
    return Settings(options, params, config.path)


# ---------------------------------------------------------------- output
def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _echo(message: str) -> None:
    click.echo(message, err=True)


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:.2f} s"


class Reporter:
    """Progress and per-file lines on stderr: a rich progress bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int, *, quiet: bool, verbose: bool, profile: bool, tty: bool | None = None):
        self.total = total
        self.quiet, self.verbose, self.profile = quiet, verbose, profile
        self.tty = (sys.stderr.isatty() if tty is None else tty) and not quiet
        self.done = 0
        self.running: list[str] = []
        self._progress: Any = None
        self._task: Any = None

    # The rich display starts at the first event, i.e. after the worker pool has forked.
    def _live(self) -> Any:
        if self.tty and self._progress is None and self.total > 0:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                                       TextColumn, TimeElapsedColumn)
            from rich.table import Column

            names = TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis",
                                                                          ratio=1))
            self._progress = Progress(SpinnerColumn(), BarColumn(bar_width=20), MofNCompleteColumn(),
                                      TimeElapsedColumn(), names, console=Console(stderr=True),
                                      transient=True, expand=True)
            self._task = self._progress.add_task("", total=self.total)
            self._progress.start()
        return self._progress

    def line(self, message: str) -> None:
        progress = self._live() if self.tty else None
        if progress is not None:
            progress.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            _echo(message)

    def _describe(self) -> None:
        if self._progress is not None:
            names = ", ".join(Path(n).name for n in self.running[:3]) + (" …" if len(self.running) > 3 else "")
            self._progress.update(self._task, description=names)

    def start(self, source: str) -> None:
        self.running.append(source)
        if self.tty:
            self._live()
            self._describe()
        if self.verbose:
            self.line(f"converting {_shown(source)}")

    def result(self, result: api.ConversionResult) -> None:
        self.done += 1
        if result.input in self.running:
            self.running.remove(result.input)
        counter = f"[{self.done}/{self.total}]"
        if not self.quiet:
            for warning in result.warnings:
                self.line(f"{PROG}: warning: {_warning_text(result.input, warning)}")
        if result.error is not None:
            self.line(f"{PROG}: error: {_shown(result.input)}: {_one_line(result.error)}")
            if self.verbose and result.traceback:
                self.line(result.traceback.rstrip())
        elif not self.quiet:
            total = sum(result.timings.values())
            if result.status == "skipped":
                self.line(f"{counter} skipped {_shown(result.input)}: "
                          f"{', '.join(map(str, result.skipped.values()))} already there (--no-clobber)")
            else:
                extra = f", {len(result.warnings)} warning(s)" if result.warnings else ""
                self.line(f"{counter} converted {_shown(result.input)} → "
                          f"{', '.join(map(str, result.outputs.values()))} ({_fmt_seconds(total)}{extra})")
        if self.profile and result.timings:
            self.line(f"profile {_shown(result.input)}: {_format_timings(result.timings)}")
        if self._progress is not None:
            self._progress.update(self._task, advance=1)
            self._describe()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _shown(source: str) -> str:
    """How an input is named in messages (stdin is `<stdin>`)."""
    return "<stdin>" if source == api.STDIN else source


def _warning_text(source: str, warning: str) -> str:
    text = _one_line(warning)
    if source == api.STDIN:
        source = "<stdin>"
    return text if (source in text or Path(source).name in text) else f"{source}: {text}"


def _format_timings(timings: dict[str, float]) -> str:
    order = [s for s in api.STAGES if s in timings] + [s for s in timings if s not in api.STAGES]
    parts = [f"{stage} {timings[stage]:.3f}" for stage in order]
    return ", ".join(parts) + f" = {sum(timings.values()):.3f} s"


def _summary(results: list[api.ConversionResult], elapsed: float, *, interrupted: bool) -> dict[str, Any]:
    return {
        "converted": sum(r.status == "ok" for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "warnings": sum(len(r.warnings) for r in results),
        "seconds": round(elapsed, 3),
        "interrupted": interrupted,
    }


def _write_report(path: str, settings: Settings, inputs: list[str], formats: tuple[str, ...],
                  results: list[api.ConversionResult], elapsed: float, *, interrupted: bool) -> None:
    done = {r.input for r in results}
    files = [r.to_dict() for r in results]
    files += [{"input": i, "status": "not started", "outputs": {}, "skipped": {}, "warnings": [],
               "error": "interrupted before it finished", "error_type": "interrupted", "timings": {}}
              for i in inputs if i not in done] if interrupted else []
    report = {
        "program": PROG,
        "version": _version(),
        "formats": list(formats),
        "jobs": settings.jobs or api.default_jobs(),
        "config": str(settings.config_path) if settings.config_path else None,
        "summary": _summary(results, elapsed, interrupted=interrupted),
        "failures": [{"input": r.input, "error": r.error} for r in results if r.error is not None],
        "files": files,
    }
    data = json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
    api.write_atomic(path, data)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("interview-export")
    except PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------- running commands
def _fail_line(message: str) -> None:
    _echo(f"{PROG}: error: {_one_line(message)}")


def _guarded(ctx: click.Context, body: Callable[[], int], *, verbose: bool = False) -> None:
    """Run a command body and map what escapes it onto the exit-code table (no tracebacks)."""
    try:
        code = body()
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except KeyboardInterrupt as exc:
        _echo(f"{PROG}: interrupted")
        code = 128 + getattr(exc, "signum", signal.SIGINT)
    except UsageError as exc:
        _fail_line(str(exc))
        code = EXIT_USAGE
    except ExportError as exc:
        _fail_line(str(exc))
        code = EXIT_FAILED
    except BrokenPipeError:
        code = EXIT_FAILED
    except Exception as exc:
        if verbose:
            _echo(traceback.format_exc().rstrip())
        _fail_line(f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)")
        code = EXIT_FAILED
    ctx.exit(code)


def _targets(output: str | None, n_inputs: int, n_formats: int) -> tuple[str | None, str | None]:
    """-o PATH → (output file, output folder)."""
    if output is None:
        return None, None
    as_file = (n_inputs == 1 and n_formats == 1 and not Path(output).is_dir()
               and not output.endswith(("/", os.sep)))
    if as_file:
        return output, None
    if Path(output).exists() and not Path(output).is_dir():
        raise UsageError(f"-o {output}: with several inputs or formats -o must be a folder, and this is a file")
    return None, output


def setup_logging(verbose: bool) -> None:
    """Library log records: shown with -v, otherwise silent (what matters is in the warnings)."""
    import logging

    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_interview_export", False):
            root.removeHandler(handler)
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: log: %(name)s: %(message)s"))
        root.setLevel(logging.INFO)
    else:
        handler = logging.NullHandler()
    handler._interview_export = True  # type: ignore[attr-defined]
    root.addHandler(handler)


def check_pdf_options(options: Options) -> None:
    """Page size, bleed and PDF variant checked before any work starts (UsageError → exit 2)."""
    from . import pagesize, pdf

    pagesize.parse_page_size(options.page_size)
    if options.bleed:
        pagesize.parse_length(options.bleed, what="bleed")
    variants = getattr(pdf, "PDF_VARIANTS", ())
    if options.pdf_variant and variants and options.pdf_variant.strip().lower() not in variants:
        raise UsageError(f"PDF variant {options.pdf_variant!r}: expected one of {', '.join(variants)}")


def run_convert(ctx: click.Context, inputs: tuple[str, ...], formats: tuple[str, ...] | None) -> None:
    """The body shared by epub, pdf and build."""
    verbose = bool(ctx.params.get("verbose"))

    def body() -> int:
        setup_logging(verbose)
        settings = build_settings(ctx)
        fmts = api.check_formats(formats if formats is not None else settings.params.get("formats") or api.FORMATS)
        if "pdf" in fmts:
            check_pdf_options(settings.options)
        names = api.expand_inputs(inputs, skip_variants=bool(settings.skip_variants))
        if settings.params.get("output_is_folder"):
            output_file, out_dir = None, settings.output
        else:
            output_file, out_dir = _targets(settings.output, len(names), len(fmts))
        plan = api.plan_outputs(names, fmts, out_dir, output=output_file)
        from . import batch

        tasks = [batch.Task(source, targets, settings.options, bool(settings.overwrite))
                 for source, targets in plan.items()]
        if _PROGRAM and len(tasks) == 1:
            # one book, then the process ends: its cyclic garbage is bounded, and the cyclic
            # collector's ~90 passes over the freshly imported modules cost ~40 ms
            gc.disable()
        reporter = Reporter(len(tasks), quiet=bool(settings.quiet), verbose=bool(settings.verbose),
                            profile=bool(settings.profile))
        results: list[api.ConversionResult] = []

        def on_result(result: api.ConversionResult) -> None:
            results.append(result)
            reporter.result(result)

        start = time.perf_counter()
        interrupted: KeyboardInterrupt | None = None
        try:
            batch.run(tasks, jobs=settings.jobs, on_start=reporter.start, on_result=on_result)
        except KeyboardInterrupt as exc:
            interrupted = exc
        finally:
            reporter.close()
        elapsed = time.perf_counter() - start
        order = {name: i for i, name in enumerate(names)}
        results.sort(key=lambda r: order.get(r.input, len(order)))
        if settings.report:
            try:
                _write_report(settings.report, settings, names, fmts, results, elapsed,
                              interrupted=interrupted is not None)
            except ExportError as exc:
                _fail_line(f"--report: {exc}")
        if interrupted is not None:
            raise interrupted
        _print_summary(results, elapsed, quiet=bool(settings.quiet), profile=bool(settings.profile))
        return EXIT_FAILED if any(r.error is not None for r in results) else EXIT_OK

    _guarded(ctx, body, verbose=verbose)


def _print_summary(results: list[api.ConversionResult], elapsed: float, *, quiet: bool, profile: bool) -> None:
    counts = _summary(results, elapsed, interrupted=False)
    failed = [r for r in results if r.error is not None]
    if profile:
        totals: dict[str, float] = {}
        for r in results:
            for stage, seconds in r.timings.items():
                totals[stage] = totals.get(stage, 0.0) + seconds
        if totals:
            _echo(f"profile total (CPU-side, summed over files): {_format_timings(totals)}")
    if quiet and not failed:
        return
    parts = [f"{counts['converted']} converted"]
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} skipped")
    parts += [f"{counts['warnings']} warning(s)", f"{counts['failed']} failed"]
    _echo(f"{PROG}: {', '.join(parts)} in {_fmt_seconds(elapsed)}")
    for r in failed:
        _echo(f"  failed: {_shown(r.input)}: {_one_line(r.error or '')}")


# ---------------------------------------------------------------- commands
@click.group(context_settings=CONTEXT)
@click.version_option(package_name="interview-export", prog_name=PROG, message="%(prog)s %(version)s")
def cli() -> None:
    """Turn Chinese interview articles in Markdown into EPUB 3 books and print-ready PDFs.

    INPUT may be files, - (stdin), folders (every *.md inside, recursively) and globs.
    Settings come from ./interview-export.toml (or --config FILE); the command line wins.
    Existing books are replaced atomically (--force, default) or left alone (--no-clobber).

    Exit codes: 0 all converted, 1 some input failed, 2 usage error, 130 interrupted (Ctrl-C).
    """


@cli.command(context_settings=CONTEXT, short_help="Convert to EPUB 3.")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@output_option
@shared_options
@click.pass_context
def epub(ctx: click.Context, inputs: tuple[str, ...], **_: Any) -> None:
    """Convert INPUT... to EPUB 3 books."""
    run_convert(ctx, inputs, ("epub",))


@cli.command(context_settings=CONTEXT, short_help="Convert to a print-ready PDF.")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@output_option
@shared_options
@click.pass_context
def pdf(ctx: click.Context, inputs: tuple[str, ...], **_: Any) -> None:
    """Convert INPUT... to a print-ready PDF."""
    run_convert(ctx, inputs, ("pdf",))


def _split_formats(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...] | None:
    if not values:
        return None
    items = tuple(f.strip() for v in values for f in v.split(",") if f.strip())
    try:
        return api.check_formats(items)
    except UsageError as exc:
        raise click.BadParameter(exc.message, ctx=ctx, param=param) from None


@cli.command(context_settings=CONTEXT, short_help="Convert to EPUB and PDF in one run.")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-f", "--format", "formats", multiple=True, callback=_split_formats, metavar="epub,pdf",
              help="Formats to write, comma-separated or repeated. [default: epub,pdf]")
@output_option
@shared_options
@click.pass_context
def build(ctx: click.Context, inputs: tuple[str, ...], formats: tuple[str, ...] | None, **_: Any) -> None:
    """Convert INPUT... to several formats in one run (media and fonts prepared once per file)."""
    run_convert(ctx, inputs, formats)


@cli.command("inspect", context_settings=CONTEXT, short_help="Show what the model made of INPUT.")
@click.argument("input_", metavar="INPUT")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--images", "images", is_flag=True,
              help="Resolve every image (fetch/cache) and show its status, size and format.")
@shared_options
@click.pass_context
def inspect_command(ctx: click.Context, input_: str, as_json: bool, images: bool, **_: Any) -> None:
    """Show what the model made of INPUT: metadata, sections, speakers, images, quotes, warnings."""

    def body() -> int:
        setup_logging(bool(ctx.params.get("verbose")))
        settings = build_settings(ctx)
        from . import inspect as inspect_mod

        options = settings.options
        doc = api.load(input_, options)
        media = None
        if images:
            import dataclasses

            media = api.collect_media(doc, dataclasses.replace(options, strict=False),
                                      base_dir=api.base_dir_of(input_))
        data = inspect_mod.inspect_document(doc, media)
        if as_json:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            click.echo(inspect_mod.format_report(data))
        if images and options.strict and media is not None and api.missing_images(media):
            _fail_line(f"{input_}: --strict: {len(api.missing_images(media))} image(s) missing")
            return EXIT_FAILED
        return EXIT_OK

    _guarded(ctx, body, verbose=bool(ctx.params.get("verbose")))


# ---------------------------------------------------------------- entry point
def _on_sigterm(signum: int, frame: Any) -> None:
    from .batch import Terminated

    raise Terminated(signum)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and exit with the code from the table above.

    Called without ``argv`` (the console script, ``python -m interview_export``) it owns the process
    and leaves it through :func:`_leave`, skipping the interpreter's teardown."""
    global _PROGRAM
    _PROGRAM = argv is None
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Abort:
        _echo(f"{PROG}: interrupted")
        code = EXIT_INTERRUPTED
    except KeyboardInterrupt as exc:
        _echo(f"{PROG}: interrupted")
        code = 128 + getattr(exc, "signum", signal.SIGINT)
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if "-v" in (argv or sys.argv) or "--verbose" in (argv or sys.argv):
            _echo(traceback.format_exc().rstrip())
        _fail_line(f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)")
        code = EXIT_FAILED
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `inspect … | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = code if isinstance(code, int) else EXIT_OK
    if argv is None:
        _leave(code)
    sys.exit(code)


def _leave(code: int) -> None:
    """End the process the way the interpreter would — wait for non-daemon threads, run the atexit
    handlers (logging's flush, whatever a library registered), flush stdout/stderr — but without
    then freeing every module and object one by one: that teardown takes 0.1–0.2 s after a
    conversion and nobody is left to use what it frees. Under a tracer or profiler (coverage,
    cProfile, a debugger) the normal exit runs, so they can write their results."""
    if sys.gettrace() is not None or sys.getprofile() is not None:
        sys.exit(code)
    import atexit
    import threading

    shutdown = getattr(threading, "_shutdown", None)   # what Py_Finalize calls first
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
