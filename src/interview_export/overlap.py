"""A PDF run → WeasyPrint made ready in a forked process while this one prepares the book, rendered there.

Before its first book WeasyPrint costs ~0.2 s of CPU that no book decides: its import, our changes
to it (weasy_cjk, weasy_speed), its own stylesheets. A one-file PDF run paid that after reading,
fetching the images and writing the HTML (~0.25 s); on two cores both now happen at once.
:func:`pdf_engine` forks a child *before* the book is read; the child warms WeasyPrint up and
waits; this process sends it each book's :class:`~interview_export.backends.pdf.PdfJob` (HTML,
stylesheets, font subsets and images as bytes) and gets back the PDF bytes and WeasyPrint's
messages, or the error, which it raises as the render here would have. ``build`` makes the EPUB
here while the child renders the PDF. Books are written by this process alone
(``pipeline.write_atomic``), so a child that dies leaves no file behind; the child ignores Ctrl-C
(this process decides, and kills it) and dies with its parent (``PR_SET_PDEATHSIG``). Same bytes,
same warnings in the same order.

Only the command line asks for it (``cli`` → ``api.convert_planned(overlap=True)``: it owns its
process), and it forks only where that is safe and useful: Linux, two or more usable CPUs, no
other thread running yet. The console script forks it even earlier, at start-up, when its command
line will render a PDF here (``entry.py`` → :func:`prestart`): the child then imports WeasyPrint
while this process imports the rest and parses the command line; :func:`pdf_engine` adopts it, and
a run that does not want it (a pool, Dask, no PDF after all) or ends first kills it
(:func:`drop_prestarted`, also at exit). The child keeps its log records and sends them back with
each reply; this process hands them to its own loggers, so -q/-v/-vv decide for both.
``INTERVIEW_EXPORT_OVERLAP=0`` turns it off (the render runs here), ``=late`` forks in ``batch.run`` only.
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import logging
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .errors import ExportError, RenderError

if TYPE_CHECKING:
    from .prepare import PreparedBook

log = logging.getLogger("interview_export.pdf")

ENV_SWITCH = "INTERVIEW_EXPORT_OVERLAP"   # "0": never fork; "late": not at start-up; else: when it helps
EXIT_GRACE_SECONDS = 5.0                  # a child told to stop that is still there then is killed
TERM_GRACE_SECONDS = 1.0                  # a child stopped mid-render has this long to clean up
# What WeasyPrint's import brings in that this process imports in every PDF run too (click, the
# fonts, the reader, the hyphenation): imported before the fork, once for both (~10 ms of CPU the
# child no longer spends; it is ready just as soon). test_overlap checks that both sides use them.
# Not socket: this process loads it only to download an image (the fetcher's host policy).
SHARED_MODULES = ("html", "locale", "pyphen", "subprocess", "uuid", "zipfile")

Result = tuple[bytes, list[str]]


def why_not() -> str:
    """"" when a rendering process may be forked now, else why not (for the -vv log)."""
    if os.environ.get(ENV_SWITCH, "").strip() == "0":
        return f"{ENV_SWITCH}=0"
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return "not Linux"
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return "one CPU"
    if threading.active_count() > 1 or _os_threads() > 1:
        return "other threads running (a fork copies their locks)"
    return ""


def _os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


_prestarted: list["PdfProcess"] = []   # the child forked at start-up, until adopted or dropped


def prestart() -> None:
    """Fork the rendering child now, at the program's start (``entry.py``): it imports WeasyPrint
    while this process imports the command line (click, the API: what the child never needs) and
    parses it; :func:`pdf_engine` adopts it, :func:`drop_prestarted` (or the exit) kills it. Nothing
    when :func:`why_not` objects or the switch says ``late``."""
    if _prestarted or os.environ.get(ENV_SWITCH, "").strip().lower() == "late":
        return
    engine, _ = _start()   # no fork now (why_not, or it failed): batch.run may try again, and say why
    if engine is None:
        return
    _prestarted.append(engine)
    atexit.register(drop_prestarted)   # usage errors, --help, Ctrl-C: the exit (cli._leave) runs it


def drop_prestarted() -> None:
    """Kill the child forked at start-up if nobody adopted it (a pool, Dask or no PDF after all)."""
    while _prestarted:
        engine = _prestarted.pop()
        engine.stop(kill=True)
        log.debug("PDF engine started in process %d at start-up not used: killed", engine.pid)


def _start() -> tuple["PdfProcess | None", str]:
    """(the child forked now, "") or (None, why not: :func:`why_not`, or the fork failed)."""
    reason = why_not()
    if reason:
        return None, reason
    try:
        return PdfProcess.start(), ""
    except OSError as exc:   # no fork (memory, process limit): render here, as before
        return None, f"fork failed: {exc}"


@contextmanager
def pdf_engine() -> Iterator[dict[str, "PdfProcess"] | None]:
    """{"pdf": a backend that renders in a warmed-up child process}, or None (render here); the
    child is stopped and reaped on the way out, whatever happens. The child forked at start-up
    is the one, when there is one."""
    engine: PdfProcess | None
    if _prestarted:
        engine, reason = _prestarted.pop(), ""
        log.debug("PDF engine started in process %d at start-up, %.3f s before it was wanted",
                  engine.pid, time.monotonic() - engine.forked)
    else:
        engine, reason = _start()
    if engine is None:
        log.debug("PDF rendered in this process: %s", reason)
        yield None
        return
    try:
        yield {"pdf": engine}
    except BaseException:
        engine.stop(kill=True)
        raise
    engine.stop()


# ---------------------------------------------------------------- this process
class PdfProcess:
    """The child that renders PDFs and the two pipes to it (jobs there, results back). Called with
    a book it is a backend (book → PDF bytes, warnings); :meth:`begin` sends the book off and
    returns what collects its PDF, so that ``pipeline.build_books`` makes the EPUB meanwhile."""

    def __init__(self, pid: int, jobs: Any, results: Any):
        self.pid, self.jobs, self.results = pid, jobs, results
        self.used = False                     # a job was sent (else it may still be importing)
        self.pending = False                  # a job was sent whose reply was not read (one at a time)
        self.status: int | None = None        # its wait status, once reaped
        self.forked = time.monotonic()

    @classmethod
    def start(cls) -> "PdfProcess":
        """Fork the child (OSError when that fails); it starts warming WeasyPrint up at once."""
        from .backends import pdf  # noqa: F401  (both need it: imported once, before the fork)

        for name in SHARED_MODULES:
            importlib.import_module(name)
        jobs_r, jobs_w = os.pipe()
        results_r, results_w = os.pipe()
        parent = os.getpid()
        for stream in (sys.stdout, sys.stderr):   # nothing buffered here gets written twice
            with suppress(Exception):
                stream.flush()
        try:
            pid = os.fork()
        except OSError:
            for fd in (jobs_r, jobs_w, results_r, results_w):
                os.close(fd)
            raise
        if pid == 0:   # the child never returns from here
            os.close(jobs_w)
            os.close(results_r)
            _child(parent, jobs_r, results_w)
        os.close(jobs_r)
        os.close(results_w)
        log.debug("PDF engine started in process %d", pid)
        return cls(pid, os.fdopen(jobs_w, "wb"), os.fdopen(results_r, "rb"))

    def __call__(self, book: "PreparedBook") -> Result:
        """The backend: the book → its PDF bytes and warnings, rendered over there."""
        return self.begin(book)()

    def begin(self, book: "PreparedBook") -> Callable[[], Result]:
        """Send the book's job to the child → what waits for its PDF. Every error (a book too large,
        the child gone) is raised by that, when the PDF's turn comes, as the render here would."""
        from .backends import BACKENDS, pdf

        if self.pending:
            # an earlier PDF nobody collected (that book's EPUB failed): the child would block sending
            # it back while this process blocks sending the next job, so it goes and the PDF is made here
            log.debug("PDF engine stopped: process %d was rendering a PDF nobody waits for", self.pid)
            self.stop(kill=True)
        if self.status is not None:   # the child is gone (an earlier book killed it): render here
            return lambda: BACKENDS["pdf"](book)
        try:
            job = pdf.make_job(book)
            job.served, later = job.served.split()
            kinds = {url: media_type for url, (media_type, _) in later.items()}
            payload = pickle.dumps((job, kinds, _settings()), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            return _raiser(exc)
        try:
            # the job goes first: the child parses the HTML while the font subsets are cut here
            self._send(payload)
            self.used = self.pending = True
            sent = time.monotonic()
            self._send(_pickled(pdf.made(later)))
        except OSError:
            return _raiser(RenderError(f"PDF rendering failed: {self._death()}", path=book.doc.name or None))
        return lambda: self._collect(book, sent)

    def _send(self, payload: bytes) -> None:
        self.jobs.write(payload)
        self.jobs.flush()

    def _collect(self, book: "PreparedBook", sent: float) -> Result:
        from .backends import pdf

        try:   # the only job out (begin stops a child that has an older one)
            kind, payload, (ready, done), records = pickle.load(self.results)
            self.pending = False
        except (OSError, EOFError, pickle.UnpicklingError):
            raise RenderError(f"PDF rendering failed: {self._death()}", path=book.doc.name or None) from None
        _emit(records)
        log.debug("PDF rendered in process %d: WeasyPrint was ready %.3f s %s the job came, render %.3f s",
                  self.pid, abs(sent - ready), "before" if ready <= sent else "after", done - max(ready, sent))
        if kind != "ok":
            exc, text = payload
            exc.__cause__ = _ChildTraceback(text)
            raise exc
        data, messages = payload
        return data, pdf.book_warnings(book, messages)

    def _death(self) -> str:
        """Why the child stopped answering (it is reaped here)."""
        self.stop(kill=True)
        status = self.status or 0
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            try:
                name = signal.Signals(sig).name
            except ValueError:   # a number Signals does not name (e.g. SIGRTMIN+1)
                name = "?"
            return f"the rendering process was killed by signal {sig} ({name})"
        return f"the rendering process stopped (exit status {os.waitstatus_to_exitcode(status)})"

    def stop(self, *, kill: bool = False) -> None:
        """Close the pipes (the child leaves when it reads their end) and reap the child: killed at
        once with `kill` or when it was sent nothing (it may still be importing); one still rendering
        a PDF (nobody waits for it, or `kill`) is stopped with SIGTERM, so that it leaves through
        render_job's cleanup (WeasyPrint's /tmp/weasyprint-* font folder), and killed after
        :data:`TERM_GRACE_SECONDS`."""
        if self.status is not None:
            return
        for stream in (self.jobs, self.results):
            with suppress(OSError):
                stream.close()
        grace = EXIT_GRACE_SECONDS
        if kill or not self.used or self.pending:
            with suppress(OSError):
                os.kill(self.pid, signal.SIGTERM if self.pending else signal.SIGKILL)
            grace = TERM_GRACE_SECONDS
        deadline = time.monotonic() + grace
        while True:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:   # already reaped: nothing left to wait for
                pid, status = self.pid, 0
            if pid:
                self.status = status
                return
            if time.monotonic() > deadline:
                with suppress(OSError):
                    os.kill(self.pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.002)


def _pickled(resources: dict[str, tuple[str, object]]) -> bytes:
    """The resources made for a job; an error that cannot be pickled goes as a RuntimeError
    saying the same (WeasyPrint only logs it)."""
    try:
        return pickle.dumps(resources, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return pickle.dumps({url: (kind, RuntimeError(f"{type(data).__name__}: {data}")
                                   if isinstance(data, Exception) else data)
                             for url, (kind, data) in resources.items()}, protocol=pickle.HIGHEST_PROTOCOL)


def _settings() -> dict[str, Any]:
    """What the child takes over from this process with each job: the collector's state (the
    command line turns it off for one book) and the log levels set here (-q/-v/-vv)."""
    loggers = logging.Logger.manager.loggerDict.items()
    return {"gc": gc.isenabled(),
            "levels": {"": logging.getLogger().level,
                       **{name: lg.level for name, lg in loggers if isinstance(lg, logging.Logger) and lg.level}}}


def _emit(records: list[dict[str, Any]]) -> None:
    """The child's log records, handed to this process's loggers as if logged here."""
    for fields in records:
        logger = logging.getLogger(fields.get("name"))
        if logger.isEnabledFor(fields.get("levelno", logging.DEBUG)):
            logger.handle(logging.makeLogRecord(fields))


def _raiser(exc: BaseException) -> Callable[[], Result]:
    def fail() -> Result:
        raise exc
    return fail


class _ChildTraceback(Exception):
    """The traceback of an error raised in the rendering process (what -v shows)."""

    def __str__(self) -> str:
        return "in the PDF rendering process:\n" + str(self.args[0]).rstrip()


# ---------------------------------------------------------------- the child
class _Kept(logging.Handler):
    """The child's log records, kept (as plain fields) to go back with the next reply."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = dict(vars(record), msg=record.getMessage(), args=None, exc_info=None)
            if record.exc_info and not record.exc_text:
                fields["exc_text"] = logging.Formatter().formatException(record.exc_info)
            self.records.append({key: value if isinstance(value, (str, int, float, type(None))) else repr(value)
                                 for key, value in fields.items()})
        except Exception:
            self.handleError(record)

    def take(self) -> list[dict[str, Any]]:
        records, self.records = self.records, []
        return records


def _keep_log() -> _Kept:
    """Every record the parent could show is kept (until the first job brings its levels); none is
    written here: the parent's handlers decide (it may have none yet, or quiet ones)."""
    kept = _Kept()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(kept)
    root.setLevel(logging.INFO)
    logging.getLogger("interview_export").setLevel(logging.DEBUG)
    return kept


def _take_over(settings: dict[str, Any]) -> None:
    """The parent's collector state and log levels, for this job."""
    (gc.enable if settings["gc"] else gc.disable)()
    logging.getLogger().setLevel(logging.WARNING)                  # the two _keep_log opened up,
    logging.getLogger("interview_export").setLevel(logging.NOTSET)  # back to logging's defaults
    for name, level in settings["levels"].items():
        logging.getLogger(name).setLevel(level)


def _child(parent: int, jobs_fd: int, results_fd: int) -> None:
    """Warm WeasyPrint up, then render each job that arrives until the pipe closes; never returns."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C: the parent decides, and kills us
        signal.signal(signal.SIGTERM, _stopped)         # the parent stops a render: clean up, leave
        gc.disable()                                    # imports make little garbage; a job says
        _die_with(parent)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)                                # stdin and stdout are the parent's alone (a PDF
        os.dup2(null, 1)                                # may go to stdout); stderr is shared
        os.close(null)
        kept = _keep_log()
        from .backends import pdf

        with suppress(Exception):   # a failure comes again from render_job, which reports it
            pdf.warm_up()
        ready = time.monotonic()    # (the clock is the machine's: the parent compares)
        with os.fdopen(jobs_fd, "rb") as jobs, os.fdopen(results_fd, "wb") as results:
            while True:
                try:
                    job, later, settings = pickle.load(jobs)
                except EOFError:
                    break
                _take_over(settings)
                # the font subsets, sent after the job: read once, when first asked for
                resources = functools.cache(functools.partial(pickle.load, jobs))
                for url, media_type in later.items():
                    job.served.entries[url] = (media_type, lambda url=url: resources()[url][1])
                try:
                    reply: tuple = ("ok", pdf.render_job(job))
                except Exception as exc:
                    reply = ("error", _portable(exc))
                resources()   # read even when the render never asked (the next job comes after)
                del job
                pickle.dump((*reply, (ready, time.monotonic()), kept.take()), results,
                            protocol=pickle.HIGHEST_PROTOCOL)
                results.flush()
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(1)    # through render_job's finally (its font folder removed), then os._exit


def _die_with(parent: int) -> None:
    with suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))   # PR_SET_PDEATHSIG
    if os.getppid() != parent:   # the parent died before prctl took effect
        os._exit(1)


def _portable(exc: Exception) -> tuple[BaseException, str]:
    """The error as it can cross the pipe and still read the same (ours and the built-in ones),
    else a RuntimeError naming its type; with its traceback as text."""
    text = traceback.format_exc()
    exc.__cause__ = exc.__context__ = exc.__traceback__ = None
    with suppress(Exception):
        copy = pickle.loads(pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL))
        if type(copy) is type(exc) and str(copy) == str(exc) and (
                not isinstance(exc, ExportError) or vars(copy) == vars(exc)):
            return exc, text
    return RuntimeError(f"{type(exc).__name__}: {exc}"), text
