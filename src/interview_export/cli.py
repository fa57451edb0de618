"""Command line → API calls: option parsing, progress and summary, and the one exit-code table.

Exit codes: 0 every input converted (warnings allowed), 1 at least one input failed,
2 usage error, 130 interrupted by Ctrl-C (143 by SIGTERM).
"""

from __future__ import annotations

import dataclasses
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

from . import api
from .cli_options import FROM_DEFAULT, SuggestingGroup, table_command, usage_line
from .config import load_config
from .errors import ExportError, UsageError
from .options import ROWS, Opt, Options, RunOptions, rows_of, split

PROG = "interview-export"
_PROGRAM = False   # True once main() runs as the program (console script, python -m): it owns the process
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# ---------------------------------------------------------------- settings
@dataclass
class Settings:
    """The merged command line + config file for one run: what the stages get, and the rest."""

    options: Options
    run: RunOptions
    config_path: Path | None = None
    warnings: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        if name in ("options", "run"):
            raise AttributeError(name)
        return getattr(self.run, name)


ROW = {row.name: row for row in ROWS}


def _merge(row: Opt, from_config: tuple[Any, ...], from_cli: tuple[Any, ...]) -> tuple[Any, ...]:
    """A repeatable option set in both places: KEY=VALUE pairs — the command line wins per key
    (and comes first: a mirror prefix is tried in that order); lists — config, then command line."""
    if row.kind != "pair":
        return (*from_config, *from_cli)
    merged = dict(from_cli)
    for key, value in from_config:
        merged.setdefault(key, value)
    return tuple(merged.items())


def build_settings(ctx: click.Context) -> Settings:
    """Command line over config file over the table's defaults → Settings (raises UsageError).
    Config values apply to every subcommand; a subcommand only accepts its own options."""
    config = load_config(ctx.params.get("config"))
    values: dict[str, Any] = {row.name: row.default for row in ROWS}
    values.update(config.values)
    given = set()
    for row in rows_of(ctx.command.name or ""):
        if ctx.get_parameter_source(row.name) in FROM_DEFAULT:
            continue
        given.add(row.name)
        value = ctx.params[row.name]
        values[row.name] = _merge(row, config.values[row.name], value) if (
            row.many and row.extend and row.name in config.values) else value
    if values["cover"] and values["no_cover"]:
        if len({"cover", "no_cover"} & given) != 1:
            raise UsageError("--cover and --no-cover cannot be used together")
        values["no_cover" if "cover" in given else "cover"] = ROW["no_cover" if "cover" in given else "cover"].default
    if values["quiet"] and values["verbose"]:
        raise UsageError("--quiet and --verbose cannot be used together")
    options, run = split(values)
    where = {key: "--metadata" for key, _ in (ctx.params.get("metadata") or ())}
    where.update({key: f"{config.path}: [metadata]" for key, _ in config.values.get("metadata", ())
                  if key not in where})
    return Settings(options, run, config.path, tuple(_metadata_warnings(options.metadata, where)))


def _metadata_warnings(pairs: tuple[tuple[str, str], ...], where: dict[str, str]) -> list[str]:
    """One warning per metadata key nobody reads, naming the keys that are read."""
    if not pairs:
        return []
    from .meta import KEY_ALIASES

    unknown = [key for key, _ in pairs if key.strip().lower() not in KEY_ALIASES and key.strip() not in KEY_ALIASES]
    if not unknown:
        return []
    accepted = ", ".join(dict.fromkeys(KEY_ALIASES.values()))
    return [f"{where.get(key, '--metadata')} {key}: unknown metadata key, ignored (accepted: {accepted}; "
            f"aliases such as 作者, publisher, lang work too)" for key in unknown]


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
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )
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
        """Print one line above the progress bar (or plainly when there is none)."""
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
        """An input started converting: show it in the progress display."""
        self.running.append(source)
        if self.tty:
            self._live()
            self._describe()
        if self.verbose:
            self.line(f"converting {_shown(source)}")

    def result(self, result: api.ConversionResult) -> None:
        """An input finished: its one summary line and the progress count."""
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
        """Stop the progress display (leaving the terminal clean)."""
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


def _unfinished(source: str, targets: dict[str, Path], since: float, started: bool) -> dict[str, Any]:
    """The report entry of an input cut short: the books it had already written (replaced after
    ``since``, this run's start) are listed, and it is "interrupted" once it had started."""
    written = {}
    for fmt, target in targets.items():
        try:
            if os.stat(target).st_mtime >= since:
                written[fmt] = str(target)
        except OSError:
            pass
    return {"input": source, "status": "interrupted" if written or started else "not started",
            "outputs": written, "skipped": {}, "warnings": [], "error": "interrupted before it finished",
            "error_type": "interrupted", "timings": {}}


def _write_report(path: str, settings: Settings, plan: dict[str, dict[str, Path]], formats: tuple[str, ...],
                  results: list[api.ConversionResult], elapsed: float, *, interrupted: bool,
                  since: float = 0.0, started: tuple[str, ...] = ()) -> None:
    done = {r.input for r in results}
    files = [r.to_dict() for r in results]
    files += [_unfinished(i, targets, since, i in started)
              for i, targets in plan.items() if i not in done] if interrupted else []
    report = {
        "program": PROG,
        "version": _version(),
        "formats": list(formats),
        "jobs": settings.jobs or api.default_jobs(),
        **({"dask": settings.dask} if settings.dask else {}),
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


STDOUT = "-"


def _targets(output: str | None, n_inputs: int, formats: tuple[str, ...]) -> tuple[str | None, str | None]:
    """-o PATH (or the config file's output) → (the book's file, or the folder for the books).

    The rule: a path ending in .epub/.pdf is one book (one input, one format, the matching
    extension); `-` is standard output (one book too); any other path is a folder."""
    if output is None:
        return None, None
    books = n_inputs * len(formats)
    if output == STDOUT or output.lower().endswith(tuple(api.EXTENSIONS.values())):
        if books != 1:
            what = "writes one book to standard output" if output == STDOUT else "names one book"
            raise UsageError(f"-o {output} {what}, but {n_inputs} input(s) × {len(formats)} format(s) "
                             f"make {books}; give a folder (a path not ending in .epub or .pdf)")
        wanted = api.EXTENSIONS[formats[0]]
        if output != STDOUT and not output.lower().endswith(wanted):
            raise UsageError(f"-o {output}: the {formats[0].upper()} book needs a name ending in {wanted}")
        kind = api.special_file(output) if output != STDOUT else ""
        if kind:
            raise UsageError(f"-o {output}: is {kind}; refusing to replace it (give a new path or a regular file)")
        return output, None
    if Path(output).exists() and not Path(output).is_dir():
        raise UsageError(f"-o {output} is a file; a path not ending in .epub or .pdf must be a folder")
    return None, output


_LOG_HANDLERS: list = []   # the root logger's handlers that setup_logging installed


def setup_logging(verbose: int) -> None:
    """Library log records: -v shows ours, -vv also the PDF engine's (WeasyPrint); otherwise
    silent. Warnings are never shown as log records: each already has its one warning line."""
    import logging

    root = logging.getLogger()
    while _LOG_HANDLERS:              # the ones an earlier call installed (main() runs again in tests)
        root.removeHandler(_LOG_HANDLERS.pop())
    names = ("interview_export", "weasyprint") if verbose >= 2 else ("interview_export",)
    # WeasyPrint's records reach us through pdf.py's router as our debug records
    logging.getLogger("interview_export").setLevel(logging.DEBUG if verbose >= 2 else logging.NOTSET)
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: log: %(name)s: %(message)s"))
        handler.addFilter(lambda r: r.name.startswith(names) and r.levelno < logging.WARNING)
        root.setLevel(logging.INFO)
    else:
        handler = logging.NullHandler()
    _LOG_HANDLERS.append(handler)
    root.addHandler(handler)


def run_convert(ctx: click.Context, inputs: tuple[str, ...], formats: tuple[str, ...] | None) -> None:
    """The body shared by epub, pdf and build."""
    verbose = bool(ctx.params.get("verbose"))

    def body() -> int:
        setup_logging(int(ctx.params.get("verbose") or 0))
        settings = build_settings(ctx)
        run = settings.run
        fmts = api.check_formats(formats if formats is not None else run.formats or api.FORMATS)
        skipped: list[str] = []
        names = api.expand_inputs(inputs, skip_variants=run.skip_variants, skipped=skipped)
        for line in skipped if not run.quiet else ():
            _echo(f"{PROG}: warning: {line}")
        output_file, out_dir = _targets(run.output, len(names), fmts)
        to_stdout = output_file == STDOUT
        if to_stdout:
            if sys.stdout.isatty():
                raise UsageError("-o -: standard output is a terminal; redirect it to a file or a pipe")
            import tempfile

            scratch = tempfile.TemporaryDirectory(prefix="interview-export-")
            ctx.call_on_close(scratch.cleanup)
            output_file = str(Path(scratch.name) / (api.output_stem(names[0]) + api.EXTENSIONS[fmts[0]]))
        plan = api.plan_outputs(names, fmts, out_dir, output=output_file)
        if _PROGRAM and len(plan) == 1:
            # one book, then the process ends: its cyclic garbage is bounded, and the cyclic
            # collector's ~90 passes over the freshly imported modules cost ~40 ms
            gc.disable()
        reporter = Reporter(len(plan), quiet=run.quiet, verbose=verbose, profile=run.profile)
        if not run.quiet:
            for warning in settings.warnings:
                reporter.line(f"{PROG}: warning: {warning}")
        results: list[api.ConversionResult] = []

        def on_result(result: api.ConversionResult) -> None:
            if to_stdout and result.outputs:
                result = dataclasses.replace(result, outputs={fmts[0]: Path("<stdout>")})
            results.append(result)
            reporter.result(result)

        start, since = time.perf_counter(), time.time() - 1.0   # mtimes may be a little coarse
        interrupted: KeyboardInterrupt | None = None
        try:
            api.convert_planned(plan, settings.options, jobs=run.jobs, on_start=reporter.start, on_result=on_result,
                                overwrite=run.overwrite, dask=run.dask, overlap=_PROGRAM)
        except KeyboardInterrupt as exc:
            interrupted = exc
        finally:
            reporter.close()
        elapsed = time.perf_counter() - start
        order = {name: i for i, name in enumerate(names)}
        results.sort(key=lambda r: order.get(r.input, len(order)))
        if run.report:
            try:
                _write_report(run.report, settings, plan, fmts, results, elapsed,
                              interrupted=interrupted is not None, since=since, started=tuple(reporter.running))
            except ExportError as exc:
                _fail_line(f"--report: {exc}")
        if interrupted is not None:
            raise interrupted
        if to_stdout:
            book = Path(str(output_file))
            if book.is_file():
                sys.stdout.buffer.write(book.read_bytes())
                sys.stdout.buffer.flush()
        _print_summary(results, elapsed, quiet=run.quiet, profile=run.profile)
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
    _echo(f"{PROG}: {', '.join(parts)} in {_fmt_seconds(elapsed)}")  # each failure had its line


# ---------------------------------------------------------------- commands
class Cli(SuggestingGroup):
    """The program: subcommands from the table, every outcome mapped onto the exit-code table,
    usage errors as one line."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """click's entry point, with our exit codes for usage errors and Ctrl-C."""
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, PROG, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            _echo(usage_line(exc, PROG))
            code = EXIT_USAGE
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
            if any(a in ("--verbose", "-vv") or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in argv):
                _echo(traceback.format_exc().rstrip())
            _fail_line(f"internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)")
            code = EXIT_FAILED
        code = code if isinstance(code, int) else EXIT_OK
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(cls=Cli, context_settings=CONTEXT)
@click.version_option(package_name="interview-export", prog_name=PROG, message="%(prog)s %(version)s")
def cli() -> None:
    """Turn Chinese interview articles in Markdown into EPUB 3 books and print-ready PDFs.

    INPUT may be files, - (stdin), folders (every *.md inside, recursively) and globs.
    Settings come from ./interview-export.toml (or --config FILE); the command line wins.
    Each subcommand takes only its own options: see 'interview-export COMMAND --help'.

    Exit codes: 0 all converted, 1 some input failed, 2 usage error, 130 interrupted (Ctrl-C).
    """


@table_command(cli, "epub", context_settings=CONTEXT, short_help="Convert to EPUB 3.")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.pass_context
def epub(ctx: click.Context, inputs: tuple[str, ...], **_: Any) -> None:
    """Convert INPUT... to EPUB 3 books."""
    run_convert(ctx, inputs, ("epub",))


@table_command(cli, "pdf", context_settings=CONTEXT, short_help="Convert to a print-ready PDF.")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.pass_context
def pdf(ctx: click.Context, inputs: tuple[str, ...], **_: Any) -> None:
    """Convert INPUT... to print-ready PDFs."""
    run_convert(ctx, inputs, ("pdf",))


@table_command(cli, "build", context_settings=CONTEXT, short_help="Convert to EPUB and PDF in one run.")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.pass_context
def build(ctx: click.Context, inputs: tuple[str, ...], **_: Any) -> None:
    """Convert INPUT... to several formats in one run (media and fonts prepared once per file)."""
    run_convert(ctx, inputs, None)


@table_command(cli, "inspect", context_settings=CONTEXT, short_help="Show what the model made of INPUT.")
@click.argument("input_", metavar="INPUT")
@click.pass_context
def inspect_command(ctx: click.Context, input_: str, **_: Any) -> None:
    """Show what the model made of INPUT: metadata, sections, speakers, images, quotes, warnings."""

    def body() -> int:
        setup_logging(int(ctx.params.get("verbose") or 0))
        settings = build_settings(ctx)
        for warning in settings.warnings:
            _echo(f"{PROG}: warning: {warning}")
        from . import inspect as inspect_mod

        options, images = settings.options, settings.run.images
        doc = api.load(input_, options)
        media = None
        if images:
            media = api.collect_media(doc, dataclasses.replace(options, strict=False),
                                      base_dir=api.base_dir_of(input_))
        data = inspect_mod.inspect_document(doc, media)
        if settings.run.as_json:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            click.echo(inspect_mod.format_report(data))
        if images and options.strict and media is not None and api.missing_images(media):
            _fail_line(f"{input_}: --strict: {len(api.missing_images(media))} image(s) missing")
            return EXIT_FAILED
        return EXIT_OK

    _guarded(ctx, body, verbose=bool(ctx.params.get("verbose")))


@table_command(cli, "preview", context_settings=CONTEXT, short_help="Show INPUT as a book in the browser, live.")
@click.argument("input_", metavar="ARTICLE.md")
@click.pass_context
def preview_command(ctx: click.Context, input_: str, **_: Any) -> None:
    """Build ARTICLE.md's EPUB in memory and show it in the browser as a reader would: chapter list,
    the book's CSS and fonts, e-ink/phone/tablet widths. Saving the Markdown, its sidecar or an image
    rebuilds it and the page follows; errors show in the page. Ctrl-C stops."""

    def body() -> int:
        import threading
        import webbrowser

        from . import preview

        setup_logging(int(ctx.params.get("verbose") or 0))
        settings = build_settings(ctx)
        for warning in settings.warnings:
            _echo(f"{PROG}: warning: {warning}")
        port = settings.run.port
        source = Path(input_)
        if input_ == "-":
            raise UsageError("preview needs a file it can watch, not stdin")
        if not source.is_file():
            raise ExportError("no such file" if not source.exists() else "not a file", path=input_)
        state = preview.Preview(source, settings.options)
        state.build()
        try:
            server = preview.serve(state, port)
        except OSError as exc:
            raise UsageError(f"--port {port}: {exc.strerror or exc}") from None
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        click.echo(f"{PROG}: preview of {input_} at {url} (Ctrl-C to stop)")
        sys.stdout.flush()
        if state.error:
            _echo(f"{PROG}: warning: {_one_line(state.error)}")
        stop = threading.Event()
        threads = [threading.Thread(target=server.serve_forever, daemon=True),
                   threading.Thread(target=state.watch, args=(stop,), daemon=True)]
        for thread in threads:
            thread.start()
        if settings.run.open_browser:
            webbrowser.open(url)
        try:
            while threads[1].is_alive():
                threads[1].join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            server.stopping = True
            server.shutdown()
            server.server_close()
        _echo(f"{PROG}: preview stopped")
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
    code = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `inspect … | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
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
    from . import compat

    compat.finish_interpreter()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
