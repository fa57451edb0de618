"""Conversion tasks → results: in this process or in a pool of worker processes, cleaned up on Ctrl-C.

Each worker imports the heavy modules (WeasyPrint, fonts, parser) once in its initializer,
so their start-up cost and caches are paid once per worker, not once per file. Workers
ignore SIGINT: the parent alone decides, cancels what has not started, terminates the
workers, removes their temp files and re-raises KeyboardInterrupt. On Linux a worker
also dies with its parent (PR_SET_PDEATHSIG), so even a killed parent leaves no orphans.
"""

from __future__ import annotations

import gc
import importlib
import os
import queue
import re
import signal
import sys
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from . import compat, pipeline
from .errors import UsageError
from .options import Options

if TYPE_CHECKING:  # the pool machinery (multiprocessing, ~20 ms) loads only when a pool starts
    import multiprocessing.context
    from concurrent.futures import ProcessPoolExecutor

PRELOAD: tuple[str, ...] = (
    "weasyprint",
    "interview_export.reader",
    "interview_export.transforms",
    "interview_export.media",
    "interview_export.fonts",
    "interview_export.render",
    "interview_export.backends.epub",
    "ebooklib.epub",            # backends.epub imports it on its first build
    "interview_export.backends.pdf",
)
POLL_SECONDS = 0.1
TERMINATE_GRACE_SECONDS = 5.0
FILE_TIME_BUDGET = 300.0   # seconds one input may take in a pool before its worker is stopped


def preload_module(name: str) -> None:
    """Import one of PRELOAD in a worker; WeasyPrint through weasy_speed (its import without the
    library probing and the fontTools modules our fonts never need)."""
    if name == "weasyprint":
        from .backends.weasy_speed import import_weasyprint

        import_weasyprint()
    else:
        importlib.import_module(name)


def preload_modules(names: Sequence[str]) -> None:
    """preload_module for each of `names`; a missing or broken stage reports itself when a file needs it."""
    for name in names:
        with suppress(Exception):
            preload_module(name)


@dataclass(frozen=True)
class Task:
    """One input and where its books go."""

    source: str
    targets: dict[str, Path]
    options: Options = Options()
    overwrite: bool = True


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM: handled like Ctrl-C (clean up, then stop)."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signum)
        self.signum = signum


# ---------------------------------------------------------------- worker side
_events: Any = None


def _init_worker(events: Any, parent_pid: int, preload: Sequence[str], workers: int = 1) -> None:
    """Runs once in each worker: signals, parent-death link, heavy imports, its share of the
    image memory budget."""
    global _events
    _events = events
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    _die_with_parent(parent_pid)
    import logging

    if not logging.getLogger().handlers:  # spawned workers: no stray log lines on stderr
        logging.getLogger().addHandler(logging.NullHandler())
    preload_modules(preload)
    from .media import share_memory_budget

    share_memory_budget(workers)
    gc.freeze()   # what the worker imported lives as long as it: no collection goes over it again


def _on_sigterm(signum: int, frame: Any) -> None:
    for tmp in list(pipeline.ACTIVE_TEMP_FILES):
        with suppress(OSError):
            os.unlink(tmp)
    os._exit(128 + signum)


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        with suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _work(index: int, task: Task) -> pipeline.ConversionResult:
    if _events is not None:
        with suppress(Exception):
            _events.put(index)
    return pipeline.convert_file(task.source, task.targets, task.options, overwrite=task.overwrite)


# ---------------------------------------------------------------- parent side
def run(
    tasks: Sequence[Task],
    *,
    jobs: int | None = None,
    on_start: Callable[[str], None] | None = None,
    on_result: Callable[[pipeline.ConversionResult], None] | None = None,
    file_budget: float = FILE_TIME_BUDGET,
    overlap: bool = False,
) -> list[pipeline.ConversionResult]:
    """Run every task; results in task order. `jobs` None → CPU count; 1 → in this process.

    With `overlap` (the command line: it owns the process) the PDFs converted in this process are
    rendered by a child forked first, which imports WeasyPrint meanwhile (overlap.py).

    Stdin (`-`) is always read in this process. A pool is only started for two or more
    files; there an input running longer than `file_budget` seconds fails ("took longer
    than …") and the pool's workers are replaced, so one bad file cannot hold a batch.
    (A Dask cluster instead: dask_batch.run, chosen by api.convert_planned.)
    KeyboardInterrupt (Ctrl-C, or Terminated) propagates after cleanup.
    """
    jobs = pipeline.default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    results: list[pipeline.ConversionResult | None] = [None] * len(tasks)

    def finish(index: int, result: pipeline.ConversionResult) -> None:
        results[index] = result
        if on_result is not None:
            on_result(result)

    here = [i for i, t in enumerate(tasks) if t.source == pipeline.STDIN]
    pooled = [i for i, t in enumerate(tasks) if t.source != pipeline.STDIN]
    if jobs == 1 or len(pooled) < 2:
        here += pooled
        pooled = []
    with _engine(overlap and any("pdf" in pipeline.pending_targets(tasks[i].targets, tasks[i].overwrite)[0]
                                  for i in here)) as backends:
        for i in sorted(here):
            _run_here(tasks[i], i, on_start, finish, backends)
    if pooled:
        _run_pool(tasks, pooled, min(jobs, len(pooled)), on_start, finish, retries=2, budget=file_budget)
    return [r for r in results if r is not None]


@contextmanager
def _engine(wanted: bool) -> Iterator[dict[str, Any] | None]:
    """overlap.pdf_engine when `wanted` (started before the first on_start: a progress display's
    thread must not exist yet when it forks; the child forked at start-up if there is one), else no
    backend of its own, and that child is killed (before a pool forks: it must not inherit the pipes)."""
    if not wanted:
        drop_engine()
        yield None
        return
    from . import overlap

    with overlap.pdf_engine() as backends:
        yield backends


def drop_engine() -> None:
    """Kill the PDF engine forked at start-up (entry.py), if there is one: this run does not use it."""
    overlap = sys.modules.get("interview_export.overlap")   # not imported: nothing was forked
    if overlap is not None:
        overlap.drop_prestarted()


def _run_here(task: Task, index: int, on_start: Callable[[str], None] | None,
              finish: Callable[[int, pipeline.ConversionResult], None],
              backends: dict[str, Any] | None = None) -> None:
    if on_start is not None:
        on_start(task.source)
    try:
        own = {"backends": backends} if backends else {}
        result = pipeline.convert_file(task.source, task.targets, task.options, overwrite=task.overwrite, **own)
    except BaseException:
        pipeline.remove_temp_files(task.targets.values())
        raise
    finish(index, result)


_IMAGE_REF = re.compile(rb"!\[[^\]]*\]\(\s*<?([^)\s>]+)")
REMOTE_IMAGE_COST = 300_000  # bytes-equivalent guess for an image still to be fetched


def estimated_cost(task: Task) -> int:
    """A rough size of the work (Markdown bytes + local image bytes), to start the biggest first.

    Starting the longest jobs first keeps one big article from running alone at the end
    while the other workers sit idle.
    """
    try:
        data = Path(task.source).read_bytes()
    except OSError:
        return 0
    cost = len(data)
    folder = Path(task.source).parent
    for ref in set(_IMAGE_REF.findall(data)):
        if ref[:5].lower() == b"data:":
            continue  # already counted in the Markdown bytes
        if ref[:7].lower() in (b"http://", b"https:/"):
            cost += REMOTE_IMAGE_COST
            continue
        with suppress(OSError, ValueError):
            cost += (folder / ref.decode("utf-8", "replace")).stat().st_size
    return cost * len(task.targets)


def _mp_context() -> multiprocessing.context.BaseContext:
    import multiprocessing

    # fork is fast and keeps workers as our direct children; from 3.12 on fork with
    # threads running is deprecated, so use spawn there (workers then re-import us).
    if sys.platform.startswith("linux") and sys.version_info < (3, 12):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored meanwhile (inherited by workers started here); a no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_pool(tasks: Sequence[Task], indices: list[int], workers: int,
              on_start: Callable[[str], None] | None,
              finish: Callable[[int, pipeline.ConversionResult], None], *, retries: int,
              budget: float = FILE_TIME_BUDGET) -> None:
    """Run tasks[indices] on a pool. If a worker dies, the unfinished files get a fresh pool,
    then (if it dies again) one single-worker pool each, so only the culprit fails. A file over
    its time `budget` fails and every worker is stopped (the others are then run again)."""
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = _mp_context()
    events = ctx.Queue()
    indices = sorted(indices, key=lambda i: estimated_cost(tasks[i]), reverse=True)
    with _sigint_ignored():  # workers are started here and inherit "ignore SIGINT"
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(events, os.getpid(), PRELOAD, workers))
        try:
            futures: dict[Future, int] = {pool.submit(_work, i, tasks[i]): i for i in indices}
        except BaseException:  # e.g. fork failed: stop whatever did start
            _abort(pool, [], [tasks[i] for i in indices])
            raise
        procs = compat.pool_processes(pool)
    broken: list[int] = []
    started: dict[int, float] = {}
    over: set[int] = set()

    def drain() -> None:
        while True:
            try:
                index = events.get_nowait()
            except (queue.Empty, OSError, ValueError):
                return
            started[index] = time.monotonic()
            if on_start is not None:
                on_start(tasks[index].source)

    def stop_overdue() -> None:
        now = time.monotonic()
        late = [i for i, t in started.items() if i not in over and now - t > budget]
        if not late:
            return
        for proc in procs:
            with suppress(Exception):
                proc.terminate()   # their SIGTERM handler removes their temp files
        for index in late:
            over.add(index)
            finish(index, pipeline.ConversionResult(
                tasks[index].source, error=f"took longer than {budget:g} s (the per-file time budget); stopped",
                error_type="timeout"))

    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            drain()
            for future in sorted(done, key=futures.__getitem__):
                index = futures[future]
                started.pop(index, None)
                if index in over:
                    continue
                try:
                    result = future.result()
                except BrokenProcessPool:
                    broken.append(index)
                    continue
                except Exception as exc:  # e.g. a result that could not be sent back
                    result = pipeline.ConversionResult(tasks[index].source, error=pipeline.error_reason(exc, tasks[index].source),
                                                  error_type="internal")
                finish(index, result)
            stop_overdue()
        drain()
    except BaseException:
        _abort(pool, procs, [tasks[i] for i in indices])
        raise
    finally:
        with suppress(Exception):
            events.close()
            events.cancel_join_thread()
    pool.shutdown(wait=True)
    pipeline.remove_temp_files(p for i in over for p in tasks[i].targets.values())
    if broken:
        pipeline.remove_temp_files(p for i in broken for p in tasks[i].targets.values())
        if over:  # the others only lost their worker: they start again, with the same retries
            _run_pool(tasks, sorted(broken), min(workers, len(broken)), on_start, finish,
                      retries=retries, budget=budget)
        elif retries >= 2 and len(broken) > 1:
            _run_pool(tasks, sorted(broken), min(workers, len(broken)), on_start, finish, retries=1, budget=budget)
        elif retries >= 1:
            for index in sorted(broken):
                _run_pool(tasks, [index], 1, on_start, finish, retries=0, budget=budget)
        else:
            for index in sorted(broken):
                finish(index, pipeline.ConversionResult(
                    tasks[index].source, error="a worker process died while converting (crash or killed)",
                    error_type="internal"))


def _abort(pool: ProcessPoolExecutor, procs: list[Any], tasks: Sequence[Task]) -> None:
    """Cancel what has not started, stop the workers, remove their temp files."""
    with _sigint_ignored():
        with suppress(Exception):
            pool.shutdown(wait=False, cancel_futures=True)
        procs = procs or compat.pool_processes(pool)
        for proc in procs:
            with suppress(Exception):
                if proc.is_alive():
                    proc.terminate()
        deadline = time.monotonic() + TERMINATE_GRACE_SECONDS
        for proc in procs:
            with suppress(Exception):
                proc.join(max(0.0, deadline - time.monotonic()))
                if proc.is_alive():
                    proc.kill()
                    proc.join(1.0)
        # The pool's own manager thread reaps the workers too: wait for it, so that no
        # zombie is left when we return (bounded, in case it is stuck).
        waiter = threading.Thread(target=pool.shutdown, kwargs={"wait": True, "cancel_futures": True},
                                  daemon=True)
        waiter.start()
        waiter.join(TERMINATE_GRACE_SECONDS)
        pipeline.remove_temp_files(p for t in tasks for p in t.targets.values())
