"""entry.py: which command lines fork the PDF rendering process at start-up (a guess from the words
alone; test_overlap.py runs the program and checks that a wrong guess only costs a killed process)."""

from __future__ import annotations

import pytest

from interview_export.entry import renders_pdf_here


@pytest.fixture
def inputs(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text("# 标题\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()


@pytest.mark.parametrize("line", [
    "pdf a.md",
    "build a.md",
    "pdf -",
    "pdf a.md -o out.pdf --page-size A4 -q",
    "pdf -o b.md a.md",                    # b.md is -o's value: one input
    "pdf -qo out.pdf a.md",                # -q, then -o with its value
    "pdf a.md -vv --mirror https://x/=http://127.0.0.1:1/",
    "pdf -j 1 a.md b.md",                  # no pool: both books here
    "pdf -j1 a.md folder",
    "pdf --jobs=1 a.md b.md",
    "pdf --jobs 4 a.md",                   # one input never starts a pool
    "build -f pdf a.md",
    "build --format=epub,pdf a.md",
    "pdf a.md --no-clobber",               # a guess: the PDF may be there (then the process is killed)
    "pdf -- a.md",
])
def test_pdf_here(inputs, line):
    assert renders_pdf_here(line.split())


@pytest.mark.parametrize("line", [
    "",
    "epub a.md",
    "inspect a.md",
    "--version",
    "--help",
    "pdf --help",
    "pdf -h a.md",
    "pdf",                                 # a usage error
    "pdf a.md b.md",                       # a pool (the number of CPUs)
    "pdf folder",                          # maybe many books
    "pdf missing.md",
    "pdf a.md -j 2 b.md",
    "pdf a.md --dask local:2",
    "pdf a.md --dask=local",
    "build -f epub a.md",
    "build --format epub a.md",
    "pdf a.md --no-such-option",
    "pdf -Z a.md",
    "pdf a.md --quiet=yes",                # a flag given a value: a usage error
    "epub -j 1 a.md",
])
def test_not_here(inputs, line):
    assert not renders_pdf_here(line.split())


STARTUP_DRIVER = """
import atexit, gc, sys
starts = []
gc.callbacks.append(lambda phase, info: phase == "start" and starts.append(info["generation"]))
atexit.register(lambda: print(len(starts), gc.get_freeze_count(), gc.isenabled()))
sys.argv = ["interview-export", *sys.argv[1:]]
from interview_export.entry import main
main()
"""


def test_the_start_up_imports_are_not_gone_over_by_the_collector(tmp_path):
    # ~350 modules imported with the collector on cost ~30 passes over them (~4 ms); off, then
    # frozen, no pass ever goes over them again, and the collector is back on for the run
    import subprocess
    import sys

    driver = tmp_path / "driver.py"
    driver.write_text(STARTUP_DRIVER, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(driver), "--help"], capture_output=True, text=True, timeout=60)
    collections, frozen, enabled = proc.stdout.split()[-3:]
    assert int(collections) <= 2 and int(frozen) > 20_000 and enabled == "True", proc.stdout[-300:] + proc.stderr


INTERRUPT_DRIVER = """
import os, sys
from pathlib import Path


class CtrlC:
    '''Ctrl-C while the command line is being imported (after the PDF process was forked).'''

    def find_spec(self, name, path=None, target=None):
        if name == "interview_export.cli":
            from interview_export import overlap
            Path(pid_file).write_text(" ".join(str(e.pid) for e in overlap._prestarted))
            raise KeyboardInterrupt


sys.meta_path.insert(0, CtrlC())
pid_file = sys.argv[1]
sys.argv = ["interview-export", *sys.argv[2:]]
from interview_export.entry import main
main()
"""


def test_ctrl_c_during_the_start_up_imports_is_one_line_and_130(tmp_path):
    # before the command line runs, a Ctrl-C was a KeyboardInterrupt traceback; now the CLI's own
    # words and exit code, and the PDF process forked at start-up is gone
    import os
    import subprocess
    import sys
    import time

    driver, pids, book = tmp_path / "driver.py", tmp_path / "pids", tmp_path / "a.md"
    driver.write_text(INTERRUPT_DRIVER, encoding="utf-8")
    book.write_text("# 标题\n\n正文。\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "INTERVIEW_EXPORT_OVERLAP"}
    proc = subprocess.run([sys.executable, str(driver), str(pids), "pdf", str(book), "-o", str(tmp_path / "a.pdf")],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 130, proc.stderr[-500:]
    assert proc.stderr == "interview-export: interrupted\n"
    assert not (tmp_path / "a.pdf").exists()
    forked = [int(p) for p in pids.read_text().split()]
    deadline = time.monotonic() + 5
    for pid in forked:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        else:
            raise AssertionError(f"the PDF process {pid} forked at start-up outlived the interrupted run")
