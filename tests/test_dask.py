"""dask_batch / dask_cluster: work units, a 2-process LocalCluster, and a real scheduler + workers.

The end-to-end test starts `dask scheduler` and two `dask worker` processes on 127.0.0.1 (through
this Python, never from PATH), runs the CLI against them and kills a worker, then the scheduler,
mid-run. Every process it starts is bounded in time and killed at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from interview_export import api, cli, dask_batch, dask_cluster
from interview_export.batch import Task
from interview_export.errors import UsageError
from interview_export.options import Options, parse_dask_target

from helpers import Proc
from test_cli import _md

distributed = pytest.importorskip("distributed")

ARTICLE = """# 第{n}篇：分布式访谈

> 来源：测试周刊

![封面图](img/p{n}.png)

## 一、开始

**主持人**：你好，今天聊什么？

**嘉宾**：聊一聊在很多台机器上转换文章。这是第{n}篇，{tail}

![第二张][second]

[second]: <img/q {n}.png>
"""


def _png(path: Path, seed: int) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (160 + seed, 90), (30 * seed % 256, 120, 200)).save(path)
    return path


def _articles(folder: Path, count: int, tail: str = "完。") -> list[Path]:
    """`count` small interviews with local images (one only reachable through a parse: a reference)."""
    paths = []
    for n in range(count):
        _png(folder / "img" / f"p{n}.png", n)
        _png(folder / "img" / f"q {n}.png", n + 50)
        paths.append(_md(folder / f"a{n}.md", ARTICLE.format(n=n, tail=tail)))
    return paths


def _unit(source: Path, **changes) -> dask_batch.Unit:
    task = Task(str(source), {"epub": source.with_suffix(".epub")})
    unit = dask_batch.make_unit(0, task, ("epub",), dask_cluster.fingerprint()["id"])
    return dask_batch.Unit(**{**unit.__dict__, **changes})


# ---------------------------------------------------------------- without a cluster
def test_importing_the_package_does_not_import_dask():
    code = ("import sys, interview_export, interview_export.api, interview_export.cli, interview_export.batch; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("value, expected", [
    ("local", ("local", None)), ("local:3", ("local", 3)), ("10.0.0.5:8786", ("tcp://10.0.0.5:8786", None)),
    ("tls://sched:8786", ("tls://sched:8786", None))])
def test_parse_target(value, expected):
    assert parse_dask_target(value) == expected


@pytest.mark.parametrize("value", ["local:0", "local:x", " "])
def test_parse_target_refuses_nonsense(value):
    with pytest.raises(UsageError):
        parse_dask_target(value)


def test_unit_carries_the_local_images_and_the_worker_asks_for_what_the_scan_missed(tmp_path):
    [source] = _articles(tmp_path, 1)
    _png(tmp_path.parent / "outside.png", 9)
    with source.open("a", encoding="utf-8") as fh:
        fh.write("\n![外面](../outside.png)\n")
    unit = _unit(source)
    # the quick scan found the inline images (with their parser spelling), not the reference
    assert isinstance(unit.local["img/p0.png"], bytes)
    assert unit.local["../outside.png"].startswith("path is outside the input folder")
    assert "img/q%200.png" not in unit.local
    built = dask_batch.build_unit(unit, {})
    assert built.need == ("img/q%200.png",) and not built.books
    again = dask_batch._with_images(unit, built.need, Options())
    built = dask_batch.build_unit(again, {})
    assert built.need == () and built.result.error is None and set(built.books) == {"epub"}
    assert any("outside the input folder" in w for w in built.result.warnings)


def test_the_quick_scan_skips_embedded_and_remote_images_without_reading_through_them(tmp_path):
    big = "data:image/png;base64," + "QUJD" * 50_000
    text = (f"![a]({big})\n![b](<{big}>)\n![c](HTTPS://cdn.example/x.png)\n![d](img/p%201.png)\n"
            "![e](<img/q 1.png>)\n![f](img/中.png)\n")
    source = _md(tmp_path / "a.md", text)
    # data: and remote srcs are refused before their URI is scanned (a standalone article's base64)
    assert [m.group(1) for m in dask_batch._IMAGE.finditer(source.read_bytes())] == [
        b"img/p%201.png", b"<img/q 1.png>", "img/中.png".encode()]
    assert dask_batch.quick_local_srcs(source.read_bytes(), None, Options()) == [
        "img/p%201.png", "img/q%201.png", "img/%E4%B8%AD.png"]


def test_a_worker_with_another_fingerprint_refuses_the_unit(tmp_path):
    [source] = _articles(tmp_path, 1)
    built = dask_batch.build_unit(_unit(source, fingerprint="0" * 16), {})
    assert not built.books and built.result.error_type == "ClusterError"
    assert "different interview-export" in built.result.error


def test_option_files_travel_and_messages_name_the_users_path(tmp_path):
    source = _md(tmp_path / "a.md")
    css = tmp_path / "style" / "mine.css"
    css.parent.mkdir()
    css.write_bytes(b"p { color: \xff }")   # not UTF-8: the error must name the user's file, not scratch
    unit = _unit(source, options=Options(css=(css,)))
    built = dask_batch.build_unit(unit, dask_batch.option_files(unit.options))
    assert built.result.error is not None and str(css) in built.result.error
    assert "interview-export-files" not in built.result.error


def test_cli_passes_dask_from_the_command_line_and_the_config(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from test_cli import Recorder

    rec = Recorder()
    monkeypatch.setattr("interview_export.dask_batch.run", lambda tasks, target, **kw: rec(tasks, dask=target, **kw))
    monkeypatch.chdir(tmp_path)
    src = _md(tmp_path / "a.md")
    assert CliRunner().invoke(cli.cli, ["epub", str(src), "--dask", "local:2"]).exit_code == 0
    assert rec.dask == "local:2"
    (tmp_path / "interview-export.toml").write_text('dask = "tcp://sched:8786"\n', encoding="utf-8")
    assert CliRunner().invoke(cli.cli, ["epub", str(src)]).exit_code == 0
    assert rec.dask == "tcp://sched:8786"


# ---------------------------------------------------------------- a LocalCluster of 2 processes
@pytest.fixture(scope="module")
def client():
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=50)
    c = distributed.Client(cluster, set_as_default=False)
    yield c
    c.close()
    cluster.close()


def test_local_cluster_books_are_byte_identical_to_the_local_run(tmp_path, client, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    inputs = _articles(tmp_path / "in", 3)
    (tmp_path / "in" / "a0.metadata.yaml").write_text("title: 旁注标题\nauthor: 旁注作者\n", encoding="utf-8")
    bad = tmp_path / "in" / "bad.md"
    bad.write_bytes(b"# x\n\xff\xfe\xfd")
    names = [*inputs, bad, tmp_path / "in" / "missing.md"]
    css = tmp_path / "extra.css"
    css.write_text("p { letter-spacing: 0.01em }", encoding="utf-8")
    options = Options(css=(css,))
    here = api.convert(names, ("epub", "pdf"), tmp_path / "here", options, jobs=1)
    there = api.convert(names, ("epub", "pdf"), tmp_path / "there", options, dask=client)
    workers = set(client.scheduler_info()["workers"])
    assert [r.input for r in there] == [r.input for r in here]
    for a, b in zip(here, there):
        assert (b.status, b.error, b.warnings) == (a.status, a.error, a.warnings), a.input
        for fmt, path in a.outputs.items():
            assert b.outputs[fmt].read_bytes() == path.read_bytes(), (a.input, fmt)
    assert [r.status for r in there] == ["ok", "ok", "ok", "failed", "failed"]
    assert {r.worker for r in there if r.ok} <= workers
    assert "undecodable" in there[3].error and there[4].error == "no such file"
    assert not list((tmp_path / "there").glob(f".*{api.TEMP_SUFFIX}"))
    # --no-clobber: nothing to do, nothing sent
    again = api.convert(inputs, ("epub", "pdf"), tmp_path / "there", options, dask=client, overwrite=False)
    assert [r.status for r in again] == ["skipped"] * 3


def test_checked_workers_have_their_imports_frozen_out_of_the_collector(client):
    import gc

    assert dask_cluster.check_workers(client, "local") == 2
    # as a pool worker (batch._init_worker): WeasyPrint and our stages imported, then gc.freeze'd
    counts = client.run(gc.get_freeze_count)
    assert len(counts) == 2 and all(n > 10_000 for n in counts.values()), counts


def test_a_local_cluster_forks_warm_workers_sends_the_books_straight_and_steals_nothing():
    from multiprocessing import forkserver

    with dask_cluster.connect("local:2") as c:
        c.wait_for_workers(2, timeout=60)
        # forked from one server that imported WeasyPrint and our stages before them (no worker_hello yet)
        parents = set(c.run(os.getppid).values())
        assert len(parents) == 1 and os.getpid() not in parents
        assert all(c.run(lambda: "weasyprint" in sys.modules and "interview_export.render" in sys.modules).values())
        assert c.direct_to_workers is True
        assert "stealing" not in c.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.extensions))
    assert forkserver._forkserver._forkserver_pid is None   # stopped and reaped with the cluster
    assert forkserver._forkserver._preload_modules == ["__main__"]


API_PROGRAM = """
import json, multiprocessing as mp, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def probe():
    mark = sys.modules.get("fsmark")
    return {"preloaded": mark is not None and mark.PID != os.getpid(), "server": os.getppid(),
            "distributed": "distributed" in sys.modules}


if __name__ == "__main__":
    from interview_export import api
    import distributed.utils

    mp.set_forkserver_preload(["fsmark"])      # the program's own forkserver, its own preload
    ctx = mp.get_context("forkserver")
    seen, pools = {}, []

    def during(_path):                         # its first forkserver child, while the cluster runs
        if not pools:
            pools.append(ctx.Pool(1))
            seen["during"] = pools[0].apply(probe)

    def after(name):
        with ctx.Pool(1) as pool:
            seen[name] = pool.apply(probe)

    md = sys.argv[1]
    api.convert([md], formats=("epub",), out_dir=sys.argv[2], dask="local:2", on_start=during)
    after("after")
    pool = pools[0]
    workers = list(pool._pool)
    pool.close()
    pool.join()
    seen["exitcodes"] = [w.exitcode for w in workers]
    seen["distributed_flag"] = distributed.utils._forkserver_preload_set
    api.convert([md], formats=("epub",), out_dir=sys.argv[2] + "2", dask="local:2")   # its server running
    after("again")
    print(json.dumps(seen))
"""


def test_an_api_programs_own_forkserver_keeps_its_preload_and_its_server(tmp_path):
    """A program that uses multiprocessing's forkserver itself (its own preload) before, during and
    after a `local` cluster: its children come from its own server with its own preload, never from
    the cluster's; that server is not stopped under it; distributed's settings are left as found."""
    (tmp_path / "fsmark.py").write_text("import os\nPID = os.getpid()\n")
    (tmp_path / "prog.py").write_text(API_PROGRAM)
    [source] = _articles(tmp_path / "in", 1)
    try:   # before: the cluster's forkserver was multiprocessing's own, stopped at the end while the
        # program's child from it still ran: its exit waited for that child, which waited for the program
        proc = subprocess.run([sys.executable, "prog.py", str(source), str(tmp_path / "out")], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the program hung in convert (the cluster's forkserver waited for the program's child)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    for when in ("during", "after", "again"):
        assert seen[when]["preloaded"] and not seen[when]["distributed"], (when, seen)
    assert seen["during"]["server"] == seen["after"]["server"] == seen["again"]["server"], seen
    assert seen["exitcodes"] == [0] and seen["distributed_flag"] is False, seen


def test_local_cluster_refuses_workers_that_differ(tmp_path, client, monkeypatch):
    theirs = dask_cluster.fingerprint()
    ours = {**theirs, "weasyprint": "0.1", "id": "feedfacefeedface"}
    monkeypatch.setattr(dask_cluster, "fingerprint", lambda: ours)
    monkeypatch.setattr(dask_batch, "fingerprint", lambda: ours)
    inputs = _articles(tmp_path / "in", 1)
    with pytest.raises(dask_cluster.ClusterError, match=r"runs a different interview-export \(weasyprint 0.1 here"):
        api.convert(inputs, ("epub",), tmp_path / "out", dask=client)
    assert not (tmp_path / "out").exists()


class _Poison(distributed.WorkerPlugin):
    """On every worker (restarted ones too): an input containing POISON kills its worker process."""

    name = "interview-export-poison"

    def setup(self, worker):
        from interview_export import pipeline as worker_api

        real = worker_api.load_bytes
        self.real = real

        def load_bytes(data, *args, **kwargs):
            if b"POISON" in data:
                os._exit(17)
            return real(data, *args, **kwargs)

        worker_api.load_bytes = load_bytes

    def teardown(self, worker):
        from interview_export import pipeline as worker_api

        worker_api.load_bytes = self.real


def test_a_unit_that_kills_its_worker_is_retried_once_then_reported(tmp_path, client):
    good = _articles(tmp_path / "in", 1)
    poison = _md(tmp_path / "in" / "poison.md", "# POISON\n\n正文。\n")
    client.register_plugin(_Poison())
    try:
        results = api.convert([*good, poison], ("epub",), tmp_path / "out", dask=client)
    finally:
        client.unregister_worker_plugin(_Poison.name)
    assert [r.status for r in results] == ["ok", "failed"]
    assert results[1].error.startswith("the Dask worker converting it died 2 time(s)")
    assert (tmp_path / "out" / "a0.epub").is_file() and not (tmp_path / "out" / "poison.epub").exists()


def test_cli_dask_local_starts_and_stops_its_own_cluster(tmp_path):
    [source] = _articles(tmp_path / "in", 1)
    proc = Proc(["-m", "interview_export", "epub", str(source), "-o", str(tmp_path / "out"), "--dask", "local:1",
                 "--report", str(tmp_path / "r.json")], cwd=tmp_path)
    assert proc.finish(timeout=120) == 0, proc.stderr
    [entry] = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["files"]
    assert entry["status"] == "ok" and entry["worker"].startswith("tcp://127.0.0.1:")
    assert _check_books(tmp_path / "out") == ["a0.epub"]


# ---------------------------------------------------------------- a real scheduler and two workers
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Cluster:
    """`dask scheduler` + `dask worker` processes, each in its own session so it can be killed whole."""

    def __init__(self, tmp: Path):
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}
        self.start("scheduler", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                   str(self.port), "--dashboard-address", ":0")

    def start(self, name: str, module: str, *args: str) -> None:
        with (self.tmp / f"{name}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen([sys.executable, "-m", module, *args], stdout=log, stderr=log,
                                                env=self.env, start_new_session=True, cwd=self.tmp)

    def add_worker(self, name: str) -> None:
        self.start(name, "distributed.cli.dask_worker", self.address, "--nthreads", "1", "--name", name,
                   "--no-dashboard", "--local-directory", str(self.tmp / name), "--death-timeout", "60",
                   "--preload", "interview_export.dask_warm")   # as README says

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        with distributed.Client(self.address, timeout=timeout, set_as_default=False) as c:
            c.wait_for_workers(n, timeout=timeout)

    def wait_for_named(self, name: str, timeout: float = 60) -> None:
        with distributed.Client(self.address, timeout=timeout, set_as_default=False) as c:
            deadline = time.monotonic() + timeout
            while not any(w.get("name") == name for w in c.scheduler_info()["workers"].values()):
                assert time.monotonic() < deadline, f"worker {name} did not join"
                time.sleep(0.05)

    def kill_when_busy(self, name: str, timeout: float = 10) -> None:
        """Kill the worker `name` as soon as the scheduler says it has a unit (or after `timeout`)."""
        with distributed.Client(self.address, set_as_default=False) as c:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                address = next((a for a, w in c.scheduler_info()["workers"].items() if w.get("name") == name), None)
                if address is None or c.processing([address]).get(address):
                    break
                time.sleep(0.005)
        self.kill(name)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for name in list(self.procs):
            self.kill(name)


def _report(path: Path) -> dict[str, dict]:
    return {Path(f["input"]).name: f for f in json.loads(path.read_text(encoding="utf-8"))["files"]}


def _check_books(folder: Path) -> list[str]:
    """Every book there is whole; no temp file is left. → the books' names."""
    names = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert not [n for n in names if n.endswith(api.TEMP_SUFFIX) or n.startswith(".")]
    for name in names:
        if name.endswith(".epub"):
            assert zipfile.ZipFile(folder / name).testzip() is None
    return names


def test_cli_on_a_real_cluster_survives_a_killed_worker_and_names_what_a_lost_scheduler_left(tmp_path):
    # 6,000 different characters: each book's font subsets take ~0.15 s, so workers are busy when killed
    inputs = [str(p) for p in _articles(tmp_path / "in", 8, tail="".join(chr(0x4E00 + 3 * i) for i in range(6000)))]
    cluster = _Cluster(tmp_path)
    try:
        cluster.add_worker("w1")
        cluster.add_worker("w2")
        cluster.wait_for_workers(2)

        # 1. kill one worker after the first book: every input is still converted or reported. The
        # worker may still be between two units, or its unit's result already on the way, when it
        # dies (then nothing was cut short to check): it is killed while the scheduler says it has a
        # unit, and the run is tried again with a new worker, up to four times, until one was.
        def cut_short_by_a_dead_worker(dask_scheduler) -> list[int]:  # local: pickled by value
            """Runs on the scheduler: our units sent back to the queue when their worker died."""
            return sorted({int(str(t.key).split("-")[2]) for t in dask_scheduler.transition_log
                           if str(t.key).startswith("interview-export-") and t.start == "processing"
                           and t.finish == "released" and "worker-cleanup" in t.stimulus_id})

        for attempt in range(4):
            victim = "w2" if attempt == 0 else f"w2-again{attempt}"
            if attempt:
                cluster.add_worker(victim)
                cluster.wait_for_named(victim)
            out = tmp_path / f"out-{attempt}"
            proc = Proc(["-m", "interview_export", "build", *inputs, "-f", "epub", "-o", str(out),
                         "--dask", cluster.address, "--report", str(tmp_path / "r1.json")], cwd=tmp_path)
            proc.wait_for(lambda: "[1/8]" in proc.stderr, timeout=90)
            cluster.kill_when_busy(victim)
            code = proc.finish(timeout=120)
            print(f"--- kill-a-worker run ({victim} killed after the first book):\n" + proc.stderr)
            report = _report(tmp_path / "r1.json")
            assert len(report) == 8 and "Traceback" not in proc.stderr
            for name, entry in report.items():
                assert entry["status"] == "ok" or entry["error"], name
            assert code == (0 if all(e["status"] == "ok" for e in report.values()) else 1)
            assert _check_books(out) == sorted(f"a{n}.epub" for n in range(8) if report[f"a{n}.md"]["status"] == "ok")
            with distributed.Client(cluster.address, set_as_default=False) as c:
                cut_short = sorted(f"a{i}.md" for i in c.run_on_scheduler(cut_short_by_a_dead_worker))
            if cut_short:
                break
        print("built on:", {name: e.get("worker") for name, e in sorted(report.items())})
        print("in flight on w2 when it was killed, then rebuilt:", cut_short)
        assert cut_short, "the killed worker had nothing in flight"
        w1 = {e["worker"] for name, e in report.items() if name in cut_short}
        assert len(w1) == 1 and all(report[name]["status"] == "ok" for name in cut_short)

        # 2. Ctrl-C mid-run: exit 130, no partial file; --no-clobber then resumes
        out2 = tmp_path / "out2"
        proc = Proc(["-m", "interview_export", "build", *inputs[:4], "-f", "epub", "-o", str(out2),
                     "--dask", cluster.address], cwd=tmp_path)
        proc.wait_for(lambda: "[1/4]" in proc.stderr, timeout=90)
        proc.popen.send_signal(signal.SIGINT)
        assert proc.finish(timeout=60) == 130
        assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr
        before = _check_books(out2)
        assert 1 <= len(before) <= 4
        proc = Proc(["-m", "interview_export", "build", *inputs[:4], "-f", "epub", "-o", str(out2),
                     "--dask", cluster.address, "--no-clobber"], cwd=tmp_path)
        assert proc.finish(timeout=120) == 0, proc.stderr
        assert proc.stderr.count("] skipped ") == len(before) and _check_books(out2) == [f"a{n}.epub" for n in range(4)]

        # 3. the scheduler goes away mid-run: a clear error naming every input not converted
        out3 = tmp_path / "out3"
        proc = Proc(["-m", "interview_export", "build", *inputs, "-f", "epub", "-o", str(out3),
                     "--dask", cluster.address, "--report", str(tmp_path / "r3.json")], cwd=tmp_path)
        proc.wait_for(lambda: "[1/8]" in proc.stderr, timeout=90)
        cluster.kill("scheduler")
        assert proc.finish(timeout=120) == 1
        print("--- scheduler killed after the first book:\n" + proc.stderr)
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
        report = _report(tmp_path / "r3.json")
        lost = [name for name, e in report.items() if e["status"] != "ok"]
        assert len(report) == 8 and lost
        for name in lost:
            assert "connection to the Dask scheduler" in report[name]["error"]
            assert f"error: {inputs[int(name[1])]}: not converted" in proc.stderr
        assert _check_books(out3) == sorted(f"{Path(n).stem}.epub" for n in report if n not in lost)
    finally:
        cluster.close()


TWICE_PROGRAM = """
import sys
from interview_export import api

if __name__ == "__main__":
    for out in ("a", "b"):
        [result] = api.convert([sys.argv[1]], formats=("epub",), out_dir=sys.argv[2] + out, dask="local:1")
        import dask
        print(result.error, dask.config.get("distributed.comm.require-encryption", "missing"))
"""


def test_an_api_program_that_had_not_imported_distributed_can_convert_with_dask_twice(tmp_path):
    """dask_batch.run's dask.config.set of one distributed setting was entered before `distributed` was
    imported: on the way out it took away the whole "distributed" section, the defaults distributed
    put in when imported meanwhile, and the program's next local cluster failed ('cannot start a
    local Dask cluster: 'comm'': distributed.comm.* missing). Fails: the second convert raises."""
    (tmp_path / "prog.py").write_text(TWICE_PROGRAM)
    [source] = _articles(tmp_path / "in", 1)
    proc = subprocess.run([sys.executable, "prog.py", str(source), str(tmp_path / "out")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["None", "None"] * 2, proc.stdout   # no error, the default (not "missing")
