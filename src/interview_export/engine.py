"""PDF render jobs → PDF bytes, in a helper process started early (the "engine").

Importing WeasyPrint costs ~0.6 s on a quiet machine (most of it cffi parsing the Pango and
HarfBuzz declarations) before it lays out a single line. A one-file ``interview-export pdf`` or
``build`` run starts the engine first thing (``start()``): a second Python process imports
WeasyPrint while this one reads the article, fetches and prepares its images and subsets the
fonts; and for ``build -f epub,pdf`` it lays out the PDF while this process makes the EPUB.
The job (our HTML, stylesheets, resources and PDF variant: pdf.RenderJob) goes down a pipe
pickled; the PDF bytes and WeasyPrint's warnings come back. Nothing else changes: the same
``pdf.render_job`` runs in either process, with the same fetcher that serves only the book's
own resources.

Without ``start()`` (the Python API, batch workers, which import WeasyPrint once each anyway) or
with ``INTERVIEW_EXPORT_ENGINE=0``, jobs render in this process. If the engine process dies,
the job is rendered here instead (a debug message says so); the output is the same bytes.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading

log = logging.getLogger("interview_export.engine")

_HEADER = struct.Struct(">Q")          # length of the pickled message that follows
_engine: _Engine | None = None
_guard = threading.Lock()


class EngineLost(Exception):
    """The engine process is gone (killed, crashed, or its pipe broke)."""


class _Engine:
    def __init__(self):
        env = dict(os.environ, INTERVIEW_EXPORT_ENGINE="0")     # an engine never starts its own
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "interview_export.engine"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True)

    def render(self, job) -> tuple:
        try:
            _send(self.proc.stdin, job)
            return _receive(self.proc.stdout)
        except (OSError, EOFError, ValueError, pickle.PickleError, struct.error) as exc:
            raise EngineLost(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        proc = self.proc
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=1)                 # idle: it exits at the end of its input
        except subprocess.TimeoutExpired:
            proc.kill()                          # busy with a job nobody will read
            proc.wait()


def start() -> None:
    """Start the engine process unless it runs already or INTERVIEW_EXPORT_ENGINE=0."""
    global _engine
    if os.environ.get("INTERVIEW_EXPORT_ENGINE", "1").strip() == "0":
        return
    with _guard:
        if _engine is not None:
            return
        try:
            _engine = _Engine()
        except OSError as exc:
            log.debug("PDF engine process not started (%s): rendering in this process", exc)
            return
    atexit.register(stop)


def stop() -> None:
    """Close the engine process (idempotent); later jobs render in this process."""
    global _engine
    with _guard:
        engine, _engine = _engine, None
    if engine is not None:
        engine.close()


def running() -> bool:
    return _engine is not None and _engine.proc.poll() is None


def render(job) -> tuple[bytes, list[str]]:
    """The PDF bytes and WeasyPrint's warnings for `job`: in the engine process when one runs,
    else here. Raises pdf.RenderFailed when WeasyPrint fails (in either place)."""
    from . import pdf

    with _guard:
        engine = _engine
        if engine is not None:
            try:
                reply = engine.render(job)
            except EngineLost as exc:
                log.debug("PDF engine process lost (%s): rendering in this process", exc)
            else:
                if reply[0] == "ok":
                    return reply[1], reply[2]
                raise pdf.RenderFailed(reply[1])
    if engine is not None:
        stop()
    return pdf.render_job(job)


# ---------------------------------------------------------------- the pipe
def _send(stream, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream):
    header = _read_exactly(stream, _HEADER.size)
    return pickle.loads(_read_exactly(stream, _HEADER.unpack(header)[0]))


def _read_exactly(stream, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other end closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- the engine process
def serve(stdin, stdout) -> int:
    """The engine's loop: import WeasyPrint at once, then answer jobs until the input ends."""
    import signal

    # Ctrl-C reaches the whole process group: the parent answers it and closes us
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):  # and if the parent is killed outright, we go too
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))   # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() == 1:             # the parent died before prctl took effect
            return 0
    from . import pdf

    pdf.preload()
    while True:
        try:
            job = _receive(stdin)
        except EOFError:
            return 0
        try:
            reply = ("ok", *pdf.render_job(job))
        except pdf.RenderFailed as exc:
            reply = ("failed", str(exc))
        except Exception as exc:  # pragma: no cover - anything else still answers the job
            reply = ("failed", f"{type(exc).__name__}: {exc}")
        _send(stdout, reply)


def main() -> int:
    # the pipe to the parent is a private copy of fd 1; fd 1 itself goes to stderr (/dev/null),
    # so nothing a library prints can corrupt a reply
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    sys.exit(main())
