"""A `--dask` value → a connected, checked `distributed.Client` (and a LocalCluster for `local[:N]`).

Every worker must run the same interview-export as the client: the same version, code and
styles/fonts, and the libraries that shape the books' bytes. `check_workers` compares their
fingerprints before the run and refuses it with one line naming the first worker that differs;
each work unit carries the client's fingerprint too, for workers that join later.
Needs the optional `distributed` package (`pip install 'interview-export[dask]'`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import types
from collections import Counter
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any, Iterator

from .errors import ExportError, UsageError
from .options import DASK_LOCAL, parse_dask_target

CONNECT_TIMEOUT = 15.0        # seconds to reach the scheduler
WORKERS_TIMEOUT = 60.0        # seconds to wait for the first worker to join
ALLOWED_FAILURES = 1          # a task whose worker dies is retried once (LocalCluster; see README)
EXTRA_HINT = "pip install 'interview-export[dask]'"
# Libraries whose versions change the bytes of a book (the rest only change speed).
BOOK_LIBRARIES = ("weasyprint", "pillow", "ebooklib", "markdown-it-py", "uharfbuzz", "pydyf")


class ClusterError(ExportError):
    """The Dask cluster cannot be used: unreachable, no workers, or workers that differ from us."""


def distributed_module() -> Any:
    """`distributed`, or a UsageError that says how to install it."""
    try:
        import distributed
    except ImportError:
        raise UsageError(f"--dask needs the Dask extra: {EXTRA_HINT}") from None
    return distributed


@contextmanager
def connect(target: Any, *, jobs: int | None = None, verbose: bool = False) -> Iterator[Any]:
    """A Client for `target` (an address, "local[:N]" or a Client the caller keeps), closed afterwards."""
    distributed = distributed_module()
    if isinstance(target, distributed.Client):
        yield target
        return
    address, count = parse_dask_target(str(target))
    with _quiet_logs(verbose):
        if address == DASK_LOCAL:
            with _local_cluster(count or jobs) as cluster:
                # the books come straight from the worker, not through the scheduler (a second copy
                # of every book's bytes through this process's event loop)
                client = distributed.Client(cluster, set_as_default=False, direct_to_workers=True)
                try:
                    yield client
                finally:
                    _close(client)
            return
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {_first_line(exc)}") from None
        try:
            yield client
        finally:
            _close(client)


# LocalCluster settings: retry once; and no dashboard bookkeeping. Each of its event loops ticks
# every 20 ms and samples memory and system load several times a second: idle, a 2-worker cluster
# spent 1.3 s of CPU per 20 s (6.5 % of a core, more as a loaded run takes longer); with these 0.4 s.
LOCAL_SETTINGS = {
    "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
    "distributed.worker.profile.enabled": False,          # see stop_profiler
    "distributed.admin.tick.interval": "200ms",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.scheduler.work-stealing": False,          # tasks wait on the scheduler (queuing): nothing to steal
}


@contextmanager
def _local_cluster(workers: int | None) -> Iterator[Any]:
    """A LocalCluster of `workers` single-threaded processes that ignore Ctrl-C (we clean up)."""
    import dask

    from .batch import _sigint_ignored
    from .pipeline import default_jobs

    distributed = distributed_module()
    with _forkserver() as method, dask.config.set({**LOCAL_SETTINGS, **method}):   # the client reads them too
        with _sigint_ignored():
            try:
                cluster = distributed.LocalCluster(n_workers=workers or default_jobs(), threads_per_worker=1,
                                                   processes=True, dashboard_address=":0",
                                                   silence_logs=logging.CRITICAL)
            except Exception as exc:  # e.g. a script without `if __name__ == "__main__":` (spawned workers)
                raise ClusterError(f"cannot start a local Dask cluster: {_first_line(exc)}") from None
        try:
            yield cluster
        finally:
            with suppress(Exception):
                cluster.close(timeout=10)


# What the forkserver of a local cluster imports once for all its workers (each spawned worker
# imported both itself: ~0.8 s of CPU for distributed, ~0.6 s for WeasyPrint and our stages).
WARM_MODULES = ("distributed", "distributed.nanny", "interview_export.dask_warm")
# The multiprocessing method name the local cluster's workers are started with: a context of our
# own (``_forkserver``), registered under this name while the cluster runs.
FORKSERVER_METHOD = "interview-export-forkserver"
STOP_WAIT = 10.0   # seconds the forkserver may take to go once its workers have (then it is killed)

_own_server: dict[str, Any] = {}   # "popen": the Popen class of the running local cluster's forkserver
_own_server_lock = threading.Lock()

if sys.platform.startswith("linux"):
    from multiprocessing.context import ForkServerContext, ForkServerProcess

    class _WarmProcess(ForkServerProcess):
        """A process forked by the local cluster's own forkserver (pickled by name to its child)."""

        @staticmethod
        def _Popen(process_obj):
            return _own_server["popen"](process_obj)

    class _WarmContext(ForkServerContext):
        """multiprocessing's forkserver context, but forking from the local cluster's own server."""
        Process = _WarmProcess


@contextmanager
def _forkserver() -> Iterator[dict[str, str]]:
    """Settings that make the local cluster's workers fork from a forkserver of their own, started
    for this run, which imports WARM_MODULES first; it is stopped (and reaped: its workers' CPU
    time is counted as this process's children's) on the way out. Not multiprocessing's forkserver:
    a program using that itself (its own preloads, its children running) is not disturbed. {} where
    there is no such server to be had: not Linux, another local cluster of this process using it,
    or a multiprocessing whose forkserver Popen is not as this knows it (then workers are spawned)."""
    from multiprocessing import context

    popen = _popen_for_own_server()
    methods = getattr(context, "_concrete_contexts", None)   # what multiprocessing.get_context(name) looks in
    if popen is None or not isinstance(methods, dict) or not _own_server_lock.acquire(blocking=False):
        yield {}
        return
    server = popen.server
    _own_server["popen"] = popen
    methods[FORKSERVER_METHOD] = _WarmContext()
    try:
        yield {"distributed.worker.multiprocessing-method": FORKSERVER_METHOD}
    finally:
        methods.pop(FORKSERVER_METHOD, None)
        _own_server.clear()
        _own_server_lock.release()
        _stop_server(server)


def _popen_for_own_server() -> Any:
    """multiprocessing's forkserver Popen class, made to go to a new ForkServer of its own (which
    preloads WARM_MODULES; the class's ``server``): its two methods that ask the module-wide server
    (``forkserver.connect_to_new_process``, ``forkserver.read_signed``) run with that name bound to
    this server instead. None where that is not how they ask (another Python's multiprocessing)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        from multiprocessing import forkserver, popen_forkserver

        base = popen_forkserver.Popen
        methods = {"_launch": getattr(base, "_launch"), "poll": base.poll}
        if not all("forkserver" in f.__code__.co_names and f.__closure__ is None for f in methods.values()):
            return None
        server = forkserver.ForkServer()
        server.set_forkserver_preload(list(WARM_MODULES))
        names = types.SimpleNamespace(connect_to_new_process=server.connect_to_new_process,
                                      read_signed=forkserver.read_signed)
    except (ImportError, AttributeError):
        return None
    scope = {**vars(popen_forkserver), "forkserver": names}
    rebound = {name: types.FunctionType(f.__code__, scope, f.__name__, f.__defaults__) for name, f in methods.items()}
    return type("Popen", (base,), {**rebound, "server": server})


def _stop_server(server: Any) -> None:
    """Stop the cluster's forkserver and reap it. It goes once every process it forked has (they
    hold its "alive" pipe): one that a timed-out ``cluster.close`` left is not waited for forever,
    the server is killed after STOP_WAIT seconds."""
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None:
        return
    stopper = threading.Thread(target=server._stop, daemon=True)
    stopper.start()
    stopper.join(STOP_WAIT)
    if stopper.is_alive():
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        stopper.join(STOP_WAIT)


def _close(client: Any) -> None:
    with suppress(Exception):
        client.close(timeout=5)


@contextmanager
def _quiet_logs(verbose: bool) -> Iterator[None]:
    """Dask's own log lines (reconnect attempts, worker deaths) stay off stderr unless -v."""
    logger = logging.getLogger("distributed")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------- fingerprints
def _tree_digest(folder: Path, pattern: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob(pattern)):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


@cache
def fingerprint() -> dict[str, str]:
    """What this installation would put into a book: versions, code, styles, fonts, libraries."""
    from importlib.metadata import PackageNotFoundError, version

    from . import resources
    from .version import __version__

    info = {
        "interview-export": __version__,
        "code": _tree_digest(Path(__file__).resolve().parent, "*.py"),
        "styles": _tree_digest(resources.styles_dir(), "*"),
        "fonts": _tree_digest(resources.fonts_dir(), "*"),
        "python": "%d.%d" % sys.version_info[:2],
    }
    for name in BOOK_LIBRARIES:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = "absent"
    info["id"] = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:16]
    return info


def describe_difference(theirs: dict[str, str], ours: dict[str, str]) -> str:
    """"code 1a2b… here, 3c4d… there; weasyprint 70.0 here, 69.1 there"."""
    parts = [f"{key} {ours.get(key)} here, {theirs.get(key)} there"
             for key in ours if key != "id" and theirs.get(key) != ours.get(key)]
    return "; ".join(parts) or "fingerprint differs"


def worker_hello(neighbours: dict[str, int] | None = None, dask_worker: Any = None) -> dict[str, str]:
    """Runs on each worker (in its event loop) before the run: no stack sampling, its share of the
    image memory budget (`neighbours`: worker address → workers on its host, as `--jobs` shares
    it), the heavy modules imported once and frozen out of the collector's way, → the fingerprint."""
    from .batch import PRELOAD, preload_modules
    from .media import share_memory_budget

    if dask_worker is not None:
        stop_profiler(dask_worker)
        share_memory_budget((neighbours or {}).get(dask_worker.address, 1))
    preload_modules(PRELOAD)
    info = fingerprint()
    gc.freeze()   # as a pool worker (batch._init_worker): no collection goes over the imports again
    return info


def stop_profiler(worker: Any) -> None:
    """Stop Dask's statistical profiler on this worker (call it in the worker's event loop). It
    samples the converting thread's stack every 10 ms for the dashboard; deep WeasyPrint stacks
    make that a real share of the CPU, and nobody looks at it here."""
    for name in ("profile", "profile-cycle"):
        callback = getattr(worker, "periodic_callbacks", {}).get(name)
        if callback is not None:
            callback.stop()


def check_workers(client: Any, address: str) -> int:
    """Wait for at least one worker, refuse workers that differ from us; → total worker threads."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
    except (TimeoutError, OSError) as exc:
        raise ClusterError(f"no Dask worker joined the scheduler at {address} within "
                           f"{WORKERS_TIMEOUT:.0f} s ({_first_line(exc)})") from None
    ours = fingerprint()
    try:
        workers = client.scheduler_info()["workers"]
        hosts = Counter(info.get("host") for info in workers.values())
        neighbours = {address: hosts[info.get("host")] for address, info in workers.items()}
        answers = client.run(worker_hello, neighbours, on_error="return")
        threads = sum(client.nthreads().values())
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"lost the Dask scheduler at {address}: {_first_line(exc)}") from None
    for worker, theirs in sorted(answers.items()):
        if isinstance(theirs, BaseException):
            raise ClusterError(f"Dask worker {worker} cannot run interview-export "
                               f"({type(theirs).__name__}: {_first_line(theirs)}); install the same "
                               f"interview-export {ours['interview-export']} on every worker") from None
        if theirs.get("id") != ours["id"]:
            raise ClusterError(f"Dask worker {worker} runs a different interview-export "
                               f"({describe_difference(theirs, ours)}); install the same version on the "
                               "client and every worker") from None
    return max(1, threads)
