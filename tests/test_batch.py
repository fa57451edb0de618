"""batch: the process pool (one preload per worker, every file attempted, crashes, Ctrl-C cleanup)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from interview_export import api, batch, pipeline
from interview_export.options import Options

from helpers import children_of

pytestmark = pytest.mark.skipif(batch._mp_context().get_start_method() != "fork",
                                reason="the fakes are patched in this process and reach workers only by fork")


def _tasks(tmp_path: Path, names: list[str], formats=("epub",)) -> list[batch.Task]:
    tasks = []
    for name in names:
        src = tmp_path / "in" / f"{name}.md"
        src.parent.mkdir(exist_ok=True)
        src.write_text("# t\n", encoding="utf-8")
        tasks.append(batch.Task(str(src), {f: tmp_path / "out" / f"{name}.{f}" for f in formats}, Options()))
    return tasks


def _fake_convert(delay: float = 0.2, crash_on: str | None = None):
    def convert_file(source, targets, options, *, overwrite=True):
        if crash_on and crash_on in source:
            os._exit(3)  # a worker dying hard (segfault, OOM kill)
        time.sleep(delay)
        outputs = {fmt: api.write_atomic(path, b"book") for fmt, path in targets.items()}
        return api.ConversionResult(source, outputs, (f"pid {os.getpid()}",), None, {"epub": delay})
    return convert_file


@pytest.fixture
def own_children():
    """A function giving the child processes started since the test began (earlier tests' leftovers,
    still being reaped, are not counted), read from /proc."""
    before = children_of(os.getpid())
    return lambda: children_of(os.getpid()) - before


def test_pool_runs_every_task_in_order_with_one_preload_per_worker(tmp_path, monkeypatch, own_children):
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "ie_preload_probe.py").write_text(
        "import os\nwith open(os.environ['IE_PROBE_LOG'], 'a') as f:\n    f.write(f'{os.getpid()}\\n')\n")
    monkeypatch.syspath_prepend(str(probe))
    monkeypatch.setenv("IE_PROBE_LOG", str(tmp_path / "preloads.log"))
    monkeypatch.setattr(batch, "PRELOAD", ("ie_preload_probe",))
    monkeypatch.setattr(pipeline, "convert_file", _fake_convert(0.2))
    tasks = _tasks(tmp_path, [f"f{i}" for i in range(6)])
    started, finished = [], []
    results = batch.run(tasks, jobs=2, on_start=started.append, on_result=finished.append)
    assert [r.input for r in results] == [t.source for t in tasks]
    assert sorted(started) == sorted(t.source for t in tasks)
    assert sorted(r.input for r in finished) == sorted(t.source for t in tasks)
    worker_pids = {r.warnings[0] for r in results}
    assert len(worker_pids) == 2 and f"pid {os.getpid()}" not in worker_pids
    preloads = (tmp_path / "preloads.log").read_text().split()
    assert len(preloads) == 2, "the heavy imports happen once per worker, not once per file"
    assert {f"pid {p}" for p in preloads} == worker_pids
    assert own_children() == set(), "workers stopped and reaped"


def test_a_worker_freezes_what_it_imported_before_its_first_file(tmp_path, monkeypatch):
    # the collector never goes over the preloaded modules again (~0.1 s of a 12-book worker's CPU)
    import gc

    def convert_file(source, targets, options, *, overwrite=True):
        return api.ConversionResult(source, {}, (str(gc.get_freeze_count()),), None, {})

    monkeypatch.setattr(batch, "PRELOAD", ())
    monkeypatch.setattr(pipeline, "convert_file", convert_file)
    results = batch.run(_tasks(tmp_path, ["a", "b"]), jobs=2)
    assert all(int(r.warnings[0]) > 1000 for r in results), [r.warnings for r in results]


def test_two_workers_overlap(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "PRELOAD", ())
    monkeypatch.setattr(pipeline, "convert_file", _fake_convert(1.0))
    tasks = _tasks(tmp_path, ["a", "b", "c", "d"])
    start = time.perf_counter()
    batch.run(tasks, jobs=2)
    assert time.perf_counter() - start < 3.5  # 4 × 1 s of work on 2 workers, not 4 s in a row


def test_jobs_1_runs_in_this_process(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "convert_file", _fake_convert(0.0))
    results = batch.run(_tasks(tmp_path, ["a", "b"]), jobs=1)
    assert {r.warnings[0] for r in results} == {f"pid {os.getpid()}"}


def test_a_dying_worker_fails_only_its_file(tmp_path, monkeypatch, own_children):
    monkeypatch.setattr(batch, "PRELOAD", ())
    monkeypatch.setattr(pipeline, "convert_file", _fake_convert(0.3, crash_on="crash"))
    tasks = _tasks(tmp_path, ["a", "crash", "b", "c"])
    results = batch.run(tasks, jobs=2)
    by_name = {Path(r.input).stem: r for r in results}
    assert set(by_name) == {"a", "crash", "b", "c"}
    assert "worker process died" in by_name["crash"].error
    for name in ("a", "b", "c"):
        assert by_name[name].ok, by_name[name].error
        assert (tmp_path / "out" / f"{name}.epub").read_bytes() == b"book"
    assert own_children() == set(), "workers stopped and reaped"


def test_interrupt_cancels_terminates_workers_and_removes_temp_files(tmp_path, monkeypatch, own_children):
    monkeypatch.setattr(batch, "PRELOAD", ())
    real_fsync = os.fsync

    def stuck_fsync(fd):  # workers hang in the middle of writing their book
        if os.getpid() != parent:
            time.sleep(60)
        real_fsync(fd)

    parent = os.getpid()
    monkeypatch.setattr(os, "fsync", stuck_fsync)
    monkeypatch.setattr(pipeline, "convert_file", _fake_convert(0.0))
    tasks = _tasks(tmp_path, [f"f{i}" for i in range(5)], formats=("epub", "pdf"))
    out = tmp_path / "out"
    workers: list[int] = []

    def on_start(source):
        deadline = time.monotonic() + 10
        while not list(out.glob(f".*{api.TEMP_SUFFIX}")) and time.monotonic() < deadline:
            time.sleep(0.05)
        workers.extend(own_children())
        raise KeyboardInterrupt

    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        batch.run(tasks, jobs=2, on_start=on_start)
    assert time.perf_counter() - start < 15
    assert len(workers) == 2
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "workers stopped and reaped (no zombies)"
    assert own_children() == set()
    assert list(out.iterdir()) == [], "no partial books, no temp files"


def test_terminated_is_a_keyboard_interrupt_with_its_signal():
    exc = batch.Terminated(15)
    assert isinstance(exc, KeyboardInterrupt) and exc.signum == 15


def test_jobs_must_be_positive(tmp_path):
    from interview_export.errors import UsageError

    with pytest.raises(UsageError):
        batch.run(_tasks(tmp_path, ["a"]), jobs=0)


def test_biggest_work_starts_first(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "PRELOAD", ())
    monkeypatch.setattr(pipeline, "convert_file", _fake_convert(0.3))
    tasks = _tasks(tmp_path, ["small1", "small2", "small3", "big"])
    (tmp_path / "in" / "photo.png").write_bytes(b"\0" * 2_000_000)
    Path(tasks[3].source).write_text("# big\n\n![photo](photo.png)\n", encoding="utf-8")
    assert batch.estimated_cost(tasks[3]) > 2_000_000 > batch.estimated_cost(tasks[0])
    started: list[str] = []
    results = batch.run(tasks, jobs=2, on_start=started.append)
    assert tasks[3].source in started[:2]
    assert [r.input for r in results] == [t.source for t in tasks]  # still reported in input order
