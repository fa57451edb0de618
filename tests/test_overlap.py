"""overlap.py: the PDF rendered by a process forked before the book is read — same bytes and warnings
as rendering here, one clear line when that process fails or dies, nothing left behind."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from helpers import Proc, png_bytes, running

ODD = 0xF0001   # no font has it: a warning from the font check and a notdef from WeasyPrint
TWO_CPUS = sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) >= 2
pytestmark = pytest.mark.skipif(not TWO_CPUS, reason="the rendering process is forked on Linux with 2+ CPUs")

# The CLI as a program (it owns its process: the overlap is on), with WeasyPrint made to fail,
# die or hang where the PDF is rendered (IE_TEST_RENDER), i.e. in the forked process.
DRIVER = """
import os, signal, sys, time
from interview_export import cli
from interview_export.backends import pdf

real = pdf._output_intent

def output_intent(variant):
    how = os.environ.get("IE_TEST_RENDER", "")
    if how == "fail":
        raise ValueError("boom")
    if how == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "hang":
        open("rendering", "w").close()
        time.sleep(120)
    return real(variant)

real_render_job = pdf.render_job
early = []

def render_job(job):   # "early": the first render fails before it fetches anything
    if os.environ.get("IE_TEST_RENDER") == "early" and not early:
        early.append(1)
        raise ValueError("early")
    return real_render_job(job)

pdf._output_intent = output_intent
pdf.render_job = render_job
cli.main()
"""
ENGINE = re.compile(r"PDF engine started in process (\d+)")


@pytest.fixture
def book(tmp_path) -> Path:
    """A small article with a local image, a missing one and a character no font has."""
    (tmp_path / "red.png").write_bytes(png_bytes())
    article = tmp_path / "a.md"
    article.write_text(f"# 标题\n\n正文 {chr(ODD)} 这里。\n\n![图](red.png)\n\n![没有](missing.png)\n\n"
                       "## 第二节\n\n**主持人**：你好。\n", encoding="utf-8")
    (tmp_path / "user.css").write_text("p { colr: red; }\n", encoding="utf-8")   # a WeasyPrint warning
    return article


def run(tmp_path: Path, args: list[str], *, env: dict[str, str] | None = None, driver: bool = True) -> Proc:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER, encoding="utf-8")
    cmd = [str(script)] if driver else ["-m", "interview_export"]
    return Proc([*cmd, *args], cwd=tmp_path, env={"SOURCE_DATE_EPOCH": "1700000000", **(env or {})})


def engine_pid(proc: Proc) -> int:
    found = ENGINE.search(proc.stderr)
    assert found, proc.stderr
    return int(found[1])


def gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not running(pid)


def said(proc: Proc) -> list[str]:
    """The lines a user reads (no -vv log lines, no timings)."""
    return [re.sub(r"\d+\.\d+ s", "T s", line) for line in proc.stderr.splitlines()
            if ": log: " not in line]


@pytest.mark.parametrize("verb", ["pdf", "build"])
def test_same_books_and_warnings_with_and_without_the_rendering_process(tmp_path, book, verb):
    outs = {}
    for key, env in (("here", {"INTERVIEW_EXPORT_OVERLAP": "0"}), ("there", {})):
        out = tmp_path / key
        proc = run(tmp_path, [verb, str(book), "-o", str(out), "--css", "user.css", "--no-cache", "--offline",
                              "-vv"], env=env, driver=False)
        assert proc.finish(120) == 0, proc.stderr
        outs[key] = (sorted(p.name for p in out.iterdir()), said(proc), out)
        if key == "there":
            assert gone(engine_pid(proc), 0.5), "the rendering process outlived the run"
        else:
            assert "PDF rendered in this process: INTERVIEW_EXPORT_OVERLAP=0" in proc.stderr
    (names, lines, here), (names2, lines2, there) = outs["here"], outs["there"]
    assert names == names2 and any(n.endswith(".pdf") for n in names)
    for name in names:
        assert (here / name).read_bytes() == (there / name).read_bytes(), name
    assert [line.replace(str(here), "OUT") for line in lines] == [line.replace(str(there), "OUT") for line in lines2]
    warnings = [line for line in lines if "warning:" in line]
    assert any("missing.png" in w for w in warnings) and any("U+F0001" in w for w in warnings)
    assert any("colr" in w for w in warnings), "WeasyPrint's warning about the user's CSS, from the child"


@pytest.mark.parametrize("overlap", ["1", "0"])
def test_a_pdf_run_leaves_no_font_folder_behind(tmp_path, book, overlap):
    """WeasyPrint writes the @font-face files to a /tmp/weasyprint-* folder (~0.8 MB for a book)
    that its own cleanup, never run in a process that leaves through os._exit, did not remove."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = run(tmp_path, ["pdf", str(book), "-o", str(tmp_path / "out"), "--offline"],
               env={"TMPDIR": str(scratch), "INTERVIEW_EXPORT_OVERLAP": overlap}, driver=False)
    assert proc.finish(120) == 0, proc.stderr
    assert (tmp_path / "out" / "a.pdf").stat().st_size > 0
    assert list(scratch.iterdir()) == []


def test_bad_input_is_one_line_and_the_waiting_process_goes(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_bytes("# 标题\n\n正文".encode() + b"\xff\xfe\xff\n")
    proc = run(tmp_path, ["pdf", str(bad), "-o", str(tmp_path / "out"), "--offline", "-vv"], driver=False)
    assert proc.finish(60) == 1
    said_lines = [line for line in said(proc) if "error" in line]
    assert len(said_lines) == 1 and said_lines[0].startswith(f"interview-export: error: {bad}: "), proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()
    assert gone(engine_pid(proc), 0.5)


def test_an_epub_run_forks_nothing(tmp_path, book):
    proc = run(tmp_path, ["epub", str(book), "-o", str(tmp_path / "out"), "--offline", "-vv"], driver=False)
    assert proc.finish(60) == 0, proc.stderr
    assert "PDF engine" not in proc.stderr and "PDF rendered" not in proc.stderr


@pytest.mark.parametrize("how, reason", [
    ("fail", "PDF rendering failed: ValueError: boom"),
    ("die", "PDF rendering failed: the rendering process was killed by signal 9 (SIGKILL)"),
])
def test_a_render_that_fails_or_dies_over_there_is_one_line(tmp_path, book, how, reason):
    out = tmp_path / "out"
    proc = run(tmp_path, ["build", str(book), "-o", str(out), "--offline", "-vv"], env={"IE_TEST_RENDER": how})
    assert proc.finish(120) == 1
    assert f"interview-export: error: {book}: {reason}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.epub"], "the EPUB, built first; no PDF, no temp file"
    assert gone(engine_pid(proc), 0.5)


def test_one_rendering_process_serves_every_book_of_a_jobs_1_run(tmp_path, book):
    """The first book fails over there before its font subsets are read; the next still converts."""
    second = tmp_path / "b.md"
    second.write_text("# 另一篇\n\n正文。\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = run(tmp_path, ["pdf", str(book), str(second), "-o", str(out), "--offline", "-j", "1", "-vv"],
               env={"IE_TEST_RENDER": "early"})
    assert proc.finish(120) == 1
    assert f"interview-export: error: {book}: internal error: ValueError: early" in proc.stderr, proc.stderr
    assert len(ENGINE.findall(proc.stderr)) == 1 and "1 converted" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["b.pdf"]
    again = run(tmp_path, ["pdf", str(second), "-o", str(tmp_path / "alone"), "--offline"],
                env={"INTERVIEW_EXPORT_OVERLAP": "0"}, driver=False)
    assert again.finish(120) == 0
    assert (out / "b.pdf").read_bytes() == (tmp_path / "alone" / "b.pdf").read_bytes()


def noise_png(seed: int, side: int = 300) -> bytes:
    """A PNG of random pixels (~270 KB: more than a pipe holds, in the PDF as in the job)."""
    import io
    import random

    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3)).save(buf, "PNG")
    return buf.getvalue()


def test_a_pdf_nobody_waited_for_is_not_the_next_books(tmp_path, book):
    """build -j 1: the first book's EPUB cannot be written (a folder is in its place), so its PDF,
    already rendering over there, is never collected; the second book gets its own PDF. Both carry
    an image larger than a pipe holds: the uncollected PDF must not block the next book's job."""
    (tmp_path / "noise1.png").write_bytes(noise_png(1))
    (tmp_path / "noise2.png").write_bytes(noise_png(2))
    with book.open("a", encoding="utf-8") as f:
        f.write("\n![噪点](noise1.png)\n")
    second = tmp_path / "b.md"
    second.write_text("# 另一篇\n\n正文。\n\n![噪点](noise2.png)\n", encoding="utf-8")
    out = tmp_path / "out"
    (out / "a.epub").mkdir(parents=True)
    proc = run(tmp_path, ["build", str(book), str(second), "-o", str(out), "--offline", "-j", "1", "-vv"],
               driver=False)
    assert proc.finish(60) == 1, proc.stderr
    assert f"interview-export: error: {book}: " in proc.stderr and "is a directory" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.epub", "b.epub", "b.pdf"]
    alone = tmp_path / "alone"
    again = run(tmp_path, ["build", str(second), "-o", str(alone), "--offline"],
                env={"INTERVIEW_EXPORT_OVERLAP": "0"}, driver=False)
    assert again.finish(120) == 0
    for name in ("b.epub", "b.pdf"):
        assert (out / name).read_bytes() == (alone / name).read_bytes(), name
    assert gone(engine_pid(proc), 0.5)


def test_ctrl_c_while_rendering_over_there(tmp_path, book):
    out = tmp_path / "out"
    proc = run(tmp_path, ["pdf", str(book), "-o", str(out), "--offline", "-vv"], env={"IE_TEST_RENDER": "hang"})
    proc.wait_for(lambda: (tmp_path / "rendering").exists())   # WeasyPrint is at work over there
    child = engine_pid(proc)
    os.kill(child, signal.SIGINT)          # a terminal's Ctrl-C reaches both: the child ignores it
    proc.popen.send_signal(signal.SIGINT)
    assert proc.finish(30) == 130
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or list(out.iterdir()) == []
    assert gone(child)


def test_a_killed_parent_takes_the_rendering_process_along(tmp_path, book):
    proc = run(tmp_path, ["pdf", str(book), "-o", str(tmp_path / "out"), "--offline", "-vv"],
               env={"IE_TEST_RENDER": "hang"})
    proc.wait_for(lambda: (tmp_path / "rendering").exists())
    child = engine_pid(proc)
    proc.popen.kill()
    proc.popen.wait(30)
    assert gone(child), "the rendering process outlived its parent"
    proc.finish(30)   # (closes the stderr pipe, which a child left behind would keep open)
