"""Conversion tasks → results on a Dask cluster: self-contained work units out, book bytes back.

A unit carries everything a worker cannot be assumed to see: the Markdown bytes, the sidecar
metadata (read here), the local images it references (read here, under the same folder rules
as a local run) and the files the options name (--css, --cover, --font-*: sent once per
worker). The worker fetches remote images itself (its own cache folder; mirrors and --offline
honoured), builds in memory and returns the book bytes, warnings and timings; this process
writes every book atomically, so workers need no shared file system and never write to the
user's folders. Books are byte-identical to a local run's.

Nothing is lost: a failing article is a failed result; a unit whose worker dies is retried on
another worker (once, with the scheduler's `allowed-failures = 1`), then reported; Ctrl-C
cancels what is outstanding and leaves no partial file; a lost scheduler ends the run with
every input not converted named in its result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from . import pipeline
from .batch import Task, estimated_cost
from .dask_cluster import ClusterError, check_workers, connect, distributed_module, fingerprint, stop_profiler
from .errors import ExportError
from .options import Options, parse_dask_target

POLL_SECONDS = 0.2
RESULT_TIMEOUT = 120.0        # seconds to fetch a finished unit's books from its worker
NO_WORKERS_GRACE = 60.0       # seconds with no worker at all before the rest is given up
LOST = "not converted: the connection to the Dask scheduler at {address} was lost"


@dataclass(frozen=True)
class Unit:
    """One input as a worker needs it: bytes in, nothing read from the worker's disk."""

    index: int
    source: str                                    # as the user named it (results use it)
    name: str                                      # the reader's name for it
    data: bytes
    sidecar: tuple[dict, list[str]] | None
    fallback_title: str
    formats: tuple[str, ...]
    options: Options
    local: dict[str, bytes | str] = field(default_factory=dict)   # src → bytes, or why refused
    fingerprint: str = ""

    @property
    def size(self) -> int:
        """The unit's estimated cost (bytes of its inputs), for scheduling the big ones first."""
        return len(self.data) + sum(len(v) for v in self.local.values() if isinstance(v, bytes))


@dataclass(frozen=True)
class Built:
    """What a worker sends back: the result (no outputs yet), the books, or local images it still needs."""

    result: pipeline.ConversionResult
    books: dict[str, bytes] = field(default_factory=dict)
    need: tuple[str, ...] = ()


# ---------------------------------------------------------------- worker side
def build_unit(unit: Unit, files: dict[str, bytes]) -> Built:
    """Runs on a worker: parse, collect media, build every format → Built (never raises)."""
    worker = _worker_address()
    ours = fingerprint()
    if unit.fingerprint and unit.fingerprint != ours["id"]:
        return Built(pipeline.ConversionResult(
            unit.source, error=f"Dask worker {worker} runs a different interview-export (fingerprint "
                               f"{ours['id']}, the client's {unit.fingerprint}); install the same version "
                               "everywhere", error_type="ClusterError", worker=worker))
    options, back = _materialise(unit.options, files)
    clock = pipeline._Clock()
    warnings: list[str] = []
    books: dict[str, bytes] = {}
    need: list[str] = []

    def body() -> None:
        from .media import local_srcs

        doc = pipeline.load_bytes(unit.data, unit.name, options, sidecar=unit.sidecar,
                             fallback_title=unit.fallback_title, _clock=clock)
        missing = [src for src in local_srcs(doc) if src not in unit.local]
        if missing:  # the client's quick scan missed them: ask for them, build nothing
            need.extend(missing)
            return
        warnings.extend(doc.warnings)
        for fmt, data in pipeline.build_books(doc, unit.formats, options, clock=clock, warnings=warnings,
                                         local=unit.local):
            books[fmt] = data

    result = pipeline.guarded_result(unit.source, body, clock=clock, warnings=warnings)
    return Built(_unmap(result, back, worker), books, tuple(need))


_QUIETED: set[int] = set()   # id() of the workers in this process whose profiler is stopped


def _worker_address() -> str:
    """This worker's address ("local" outside Dask); stops its profiler on first use (a worker that
    joined or restarted after `check_workers` never ran `worker_hello`)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return "local"
    if id(worker) not in _QUIETED:
        _QUIETED.add(id(worker))
        worker.loop.add_callback(stop_profiler, worker)
    return str(worker.address)


_MATERIALISED: dict[str, str] = {}   # sha256 of an option file → its path on this worker


def _materialise(options: Options, files: dict[str, bytes]) -> tuple[Options, dict[str, str]]:
    """Option files sent by the client → files in the worker's scratch folder; options point there."""
    if not files:
        return options, {}
    import tempfile

    try:
        from distributed import get_worker

        scratch = Path(get_worker().local_directory)
    except (ImportError, ValueError):
        scratch = Path(tempfile.gettempdir())
    mapping: dict[str, str] = {}
    for original, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        path = _MATERIALISED.get(digest)
        if path is None or not Path(path).is_file():
            target = scratch / "interview-export-files" / digest[:24] / Path(original).name
            target.parent.mkdir(parents=True, exist_ok=True)
            pipeline.write_atomic(target, data)
            path = _MATERIALISED[digest] = str(target)
        mapping[original] = path

    def moved(spec: str | None) -> str | None:
        if spec is None:
            return None
        base, sep, index = _font_path(spec)
        return mapping[base] + sep + index if base in mapping else spec

    new = dataclasses.replace(
        options,
        css=tuple(Path(mapping.get(str(p), str(p))) for p in options.css),
        cover=Path(mapping[str(options.cover)]) if options.cover is not None and str(options.cover) in mapping
        else options.cover,
        font_serif=moved(options.font_serif),
        font_sans=moved(options.font_sans),
    )
    return new, {v: k for k, v in mapping.items()}


def _font_path(spec: str) -> tuple[str, str, str]:
    """"PATH#INDEX" → (PATH, "#", INDEX); a plain path → (PATH, "", "") (as fonts.parse_font_spec)."""
    head, sep, tail = spec.rpartition("#")
    return (head, sep, tail) if sep and tail.isdigit() else (spec, "", "")


def _unmap(result: pipeline.ConversionResult, back: dict[str, str], worker: str) -> pipeline.ConversionResult:
    """Worker scratch paths in messages → the paths the user gave; the worker's address added."""

    def text(value: str | None) -> str | None:
        if value is None:
            return None
        for scratch, original in back.items():
            value = value.replace(scratch, original)
        return value

    return dataclasses.replace(result, warnings=tuple(text(w) or "" for w in result.warnings),
                               error=text(result.error), traceback=text(result.traceback), worker=worker)


# ---------------------------------------------------------------- client side
def option_files(options: Options) -> dict[str, bytes]:
    """The files the options name, read here (one that cannot be read fails on the worker as it would here)."""
    paths = [str(p) for p in options.css]
    if options.cover is not None:
        paths.append(str(options.cover))
    paths += [_font_path(spec)[0] for spec in (options.font_serif, options.font_sans) if spec]
    files: dict[str, bytes] = {}
    for path in paths:
        try:
            files[path] = Path(path).expanduser().read_bytes()
        except OSError:
            pass
    return files


def make_unit(index: int, task: Task, formats: tuple[str, ...], ours: str) -> Unit:
    """A task → its work unit: the input read here, its local images scanned and read (InputError as here)."""
    from .media import read_local_srcs

    data, name, sidecar, fallback = pipeline.read_input(task.source)
    local = read_local_srcs(quick_local_srcs(data, sidecar, task.options), pipeline.base_dir_of(task.source),
                            task.options)
    return Unit(index, task.source, name, data, sidecar, fallback, formats, _portable(task.options), local, ours)


# Scanned as bytes (no decoding of a whole article: ~25 ms for 3 MB); a remote or data: src is
# refused by the lookahead before its URI is scanned (an embedded image is ~1 MB of base64: a
# standalone article cost the client 60-400 ms of CPU per unit, now ~1 ms).
_IMAGE = re.compile(rb"!\[[^\]\n]*\]\(\s*(?!<?(?i:https?:|data:))(<[^>\n]*>|[^)\s]+)")


def quick_local_srcs(data: bytes, sidecar: tuple[dict, list[str]] | None, options: Options) -> list[str]:
    """The local images a Markdown text most likely uses, as the parser will spell their src.

    A quick scan, not a parse: whatever it misses the worker asks for (`Built.need`)."""
    from markdown_it.common.utils import unescapeAll

    from .reader import parser

    normalize = parser(options.allow_html).normalizeLink
    raw = [m.group(1).decode("utf-8", "replace") for m in _IMAGE.finditer(data)]
    raw = [r[1:-1] if r.startswith("<") else r for r in raw]
    srcs = [normalize(unescapeAll(r)) for r in raw if not _REMOTE.match(r)]
    cover = (sidecar or ({}, []))[0].get("cover") if sidecar else None
    if isinstance(cover, str) and not _REMOTE.match(cover):
        srcs.append(cover)
    return list(dict.fromkeys(srcs))


_REMOTE = re.compile(r"(?i)\s*(https?:|data:)")


def _portable(options: Options) -> Options:
    """Options as a worker should see them: local folders are read here, so none are sent, and
    this process's SOURCE_DATE_EPOCH travels with them (a worker's environment is its own)."""
    epoch = options.source_date_epoch
    env = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch is None and env.isdigit():
        epoch = int(env)
    return dataclasses.replace(options, resource_dirs=(), source_date_epoch=epoch)


def run(tasks: Sequence[Task], target: Any, *, jobs: int | None = None,
        on_start: Callable[[str], None] | None = None,
        on_result: Callable[[pipeline.ConversionResult], None] | None = None,
        verbose: bool | None = None) -> list[pipeline.ConversionResult]:
    """Run every task on the cluster at `target`; results in task order (see the module docstring).

    `verbose` (default: when INFO logging is on, i.e. -v) lets Dask's own log lines through."""
    if verbose is None:
        import logging

        verbose = logging.getLogger().isEnabledFor(logging.INFO)
    results: list[pipeline.ConversionResult | None] = [None] * len(tasks)

    def finish(index: int, result: pipeline.ConversionResult) -> None:
        results[index] = result
        if on_result is not None:
            on_result(result)

    todo: list[int] = []
    for i, task in enumerate(tasks):
        pending, skipped = pipeline.pending_targets(task.targets, task.overwrite)
        if pending:
            todo.append(i)
        else:
            finish(i, pipeline.ConversionResult(task.source, skipped=skipped))
    if todo:
        todo.sort(key=lambda i: estimated_cost(tasks[i]), reverse=True)
        address = target if not isinstance(target, str) else parse_dask_target(target)[0]
        # distributed imported first: a dask.config.set entered before it puts its defaults in
        # takes the whole "distributed" section away on the way out (the next cluster: KeyError 'comm')
        distributed_module()
        import dask

        # a unit with its images is a "large graph" to Dask (> 10 MB): that is expected here, no warning
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "2GB"}), \
                connect(target, jobs=jobs, verbose=verbose) as client:
            with client.as_current():  # distributed.wait() finds its client this way
                _Run(client, str(getattr(client, "scheduler", None) and client.scheduler.address or address),
                     tasks, on_start, finish).go(todo)
    return [r for r in results if r is not None]


class _Run:
    """One batch on one client: a bounded window of units in flight, results written as they come."""

    def __init__(self, client: Any, address: str, tasks: Sequence[Task],
                 on_start: Callable[[str], None] | None,
                 finish: Callable[[int, pipeline.ConversionResult], None]):
        self.client, self.address, self.tasks = client, address, tasks
        self.on_start, self.finish = on_start, finish
        self.inflight: dict[Any, Unit] = {}
        self.files: Any = None

    def go(self, order: list[int]) -> None:
        import distributed

        threads = check_workers(self.client, self.address)
        ours = fingerprint()["id"]
        files: dict[str, bytes] = {}
        for options in {self.tasks[i].options for i in order}:
            files.update(option_files(options))
        try:
            self.files = self.client.scatter([files], broadcast=True, hash=False)[0] if files else {}
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"lost the Dask scheduler at {self.address}: {_why(exc)}") from None
        window = max(4, 2 * threads)
        queue = deque(order)
        last_worker_seen = time.monotonic()
        try:
            while queue or self.inflight:
                while queue and len(self.inflight) < window:
                    index = queue.popleft()
                    task = self.tasks[index]
                    try:
                        unit = make_unit(index, task, tuple(pipeline.pending_targets(task.targets, task.overwrite)[0]),
                                         ours)
                    except ExportError as exc:
                        self.finish(index, pipeline.ConversionResult(task.source, error=pipeline.error_reason(exc, task.source),
                                                                error_type=type(exc).__name__))
                        continue
                    self._submit(unit, queue)
                    if self.on_start is not None:  # "sent to the cluster": Dask does not say when it starts
                        self.on_start(task.source)
                if not self.inflight:
                    continue
                try:
                    done = distributed.wait(list(self.inflight), timeout=POLL_SECONDS,
                                            return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    done = set()
                except Exception as exc:
                    raise _Lost(_why(exc)) from None
                for future in sorted(done, key=lambda f: self.inflight[f].index):
                    self._collect(future, queue)
                if not done and self.inflight and time.monotonic() - last_worker_seen > 5:
                    if not self._has_workers():
                        if time.monotonic() - last_worker_seen > NO_WORKERS_GRACE:
                            raise _Lost(f"no Dask worker left for {NO_WORKERS_GRACE:.0f} s")
                    else:
                        last_worker_seen = time.monotonic()
        except _Lost as lost:
            self._give_up(queue, str(lost))
        except BaseException:
            self._cancel()
            for unit in self.inflight.values():
                pipeline.remove_temp_files(self.tasks[unit.index].targets.values())
            raise

    def _submit(self, unit: Unit, queue: deque) -> None:
        try:
            future = self.client.submit(build_unit, unit, self.files, pure=False,
                                        key=f"interview-export-{unit.index}-{time.monotonic_ns()}")
        except Exception as exc:  # the client lost its scheduler: this one goes back in line
            queue.appendleft(unit.index)
            raise _Lost(_why(exc)) from None
        self.inflight[future] = unit

    def _has_workers(self) -> bool:
        try:
            return bool(self.client.nthreads())
        except Exception as exc:
            raise _Lost(_why(exc)) from None

    def _cancel(self) -> None:
        try:
            self.client.cancel(list(self.inflight), force=True)
        except Exception:
            pass

    def _collect(self, future: Any, queue: deque) -> None:
        """A finished future → books written and the result reported (or the unit sent again)."""
        from distributed import KilledWorker

        unit = self.inflight[future]
        try:
            built: Built = future.result(timeout=RESULT_TIMEOUT)
        except KilledWorker as exc:
            del self.inflight[future]
            last = getattr(getattr(exc, "last_worker", None), "address", "?")
            tries = getattr(exc, "allowed_failures", 0) + 1
            self.finish(unit.index, pipeline.ConversionResult(
                unit.source, error=f"the Dask worker converting it died {tries} time(s) (crash, out of "
                                   f"memory or killed; last on {last})", error_type="WorkerDied"))
            return
        except TimeoutError:
            if future.status == "pending":  # its worker died after finishing: it is being redone
                return
            raise _Lost("timed out fetching the books") from None
        except Exception as exc:
            if _is_connection_loss(exc) or self.client.status != "running":
                raise _Lost(_why(exc)) from None
            del self.inflight[future]
            self.finish(unit.index, pipeline.ConversionResult(
                unit.source, error=f"internal error on the Dask worker: {type(exc).__name__}: {exc}",
                error_type="internal"))
            return
        del self.inflight[future]
        future.release()
        if built.need:
            self._submit(_with_images(unit, built.need, self.tasks[unit.index].options), queue)
            return
        self.finish(unit.index, self._write(unit, built))

    def _write(self, unit: Unit, built: Built) -> pipeline.ConversionResult:
        """The worker's books → files, atomically (a write error fails this input as it would locally)."""
        task = self.tasks[unit.index]
        todo, skipped = pipeline.pending_targets(task.targets, task.overwrite)
        clock = pipeline._Clock()
        clock.timings.update(built.result.timings)
        warnings = list(built.result.warnings)
        outputs: dict[str, Path] = {}

        def body() -> None:
            for fmt in unit.formats:
                if fmt in built.books:
                    with clock.stage("write"):
                        outputs[fmt] = pipeline.write_atomic(todo.get(fmt, task.targets[fmt]), built.books[fmt])

        result = pipeline.guarded_result(task.source, body, clock=clock, warnings=warnings, outputs=outputs,
                                    skipped=skipped)
        if result.error is None and built.result.error is not None:
            result = dataclasses.replace(result, error=built.result.error, error_type=built.result.error_type,
                                         traceback=built.result.traceback)
        return dataclasses.replace(result, worker=built.result.worker)

    def _give_up(self, queue: deque, why: str) -> None:
        """The scheduler is gone: every input in flight or not yet sent fails, each named."""
        self._cancel()
        message = LOST.format(address=self.address) + (f" ({why})" if why else "")
        left = sorted([u.index for u in self.inflight.values()] + list(queue))
        self.inflight.clear()
        queue.clear()
        for index in left:
            pipeline.remove_temp_files(self.tasks[index].targets.values())
            self.finish(index, pipeline.ConversionResult(self.tasks[index].source, error=message,
                                                    error_type="ClusterError"))


class _Lost(Exception):
    """The scheduler (or every worker) went away mid-run."""


def _with_images(unit: Unit, srcs: Sequence[str], options: Options) -> Unit:
    """The unit again, with the local images the worker asked for read here by their exact src."""
    from .media import read_local_srcs

    local = dict(unit.local)
    local.update(read_local_srcs(srcs, pipeline.base_dir_of(unit.source), options))
    return dataclasses.replace(unit, local=local)


def _is_connection_loss(exc: BaseException) -> bool:
    from concurrent.futures import CancelledError

    if isinstance(exc, (OSError, CancelledError, ClusterError)):
        return True
    return type(exc).__name__ in ("CommClosedError", "FutureCancelledError", "StreamClosedError")


def _why(exc: BaseException) -> str:
    """What to add to LOST: nothing when Dask cancelled the futures for exactly that reason."""
    from concurrent.futures import CancelledError

    if isinstance(exc, CancelledError):
        return ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return type(exc).__name__ + (f": {text}" if text else "")
