"""overlap.py: the PDF rendered by a process forked before the book is read — same bytes and warnings
as rendering here, one clear line when that process fails or dies, nothing left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import CLI, Proc, png_bytes, running

ODD = 0xF0001   # no font has it: a warning from the font check and a notdef from WeasyPrint
TWO_CPUS = sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) >= 2
pytestmark = pytest.mark.skipif(not TWO_CPUS, reason="the rendering process is forked on Linux with 2+ CPUs")

# The program as the console script runs it (entry.main: the rendering process forked at start-up
# when the command line will render a PDF; INTERVIEW_EXPORT_OVERLAP=late: in batch.run, as before),
# with WeasyPrint made to fail, die or hang where the PDF is rendered (IE_TEST_RENDER), its warm-up
# made to hang or log (IE_TEST_WARM), both in the forked process; the pid of a process forked at
# start-up goes to ./prestarted, and IE_TEST_PRESTART=force forks one whatever the command line.
DRIVER = """
import logging, os, signal, sys, time
from interview_export import cli, entry, overlap
from interview_export.backends import pdf, weasy_speed

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

real_warm_up = pdf.warm_up

def warm_up():
    how = os.environ.get("IE_TEST_WARM", "")
    if how == "hang":
        open("warming", "w").close()
        time.sleep(120)
    if how == "log":
        logging.getLogger("interview_export.pdf").debug("child: a debug line")
        logging.getLogger("interview_export.pdf").warning("child: a warning")
        logging.getLogger("somelib").warning("child: a library's warning")
    real_warm_up()

real_finish = weasy_speed.finish_pdf

def finish_pdf(document, pdf_):   # "hang-late": after the layout, the @font-face files written
    if os.environ.get("IE_TEST_RENDER") == "hang-late":
        open("rendering", "w").close()
        time.sleep(120)
    return real_finish(document, pdf_)

real_prestart = overlap.prestart

def prestart():
    real_prestart()
    if overlap._prestarted:
        with open("prestarted", "w") as f:
            f.write(str(overlap._prestarted[0].pid))

pdf._output_intent = output_intent
pdf.render_job = render_job
pdf.warm_up = warm_up
weasy_speed.finish_pdf = finish_pdf
overlap.prestart = prestart
if os.environ.get("IE_TEST_PRESTART") == "force":
    prestart()
    cli.main()
else:
    entry.main()
"""
ENGINE = re.compile(r"PDF engine started in process (\d+)")
CONSOLE = CLI[1:] if CLI[0] == sys.executable else CLI   # (Proc runs it with sys.executable)
STARTUP = "at start-up"
STALE = " (an editable install made before entry.py keeps a console script calling cli.main: pip install -e . again)"
WHEN = pytest.mark.parametrize("when", ["start-up", "late"])   # where the rendering process is forked


def forked(when: str) -> dict[str, str]:
    return {"INTERVIEW_EXPORT_OVERLAP": "late"} if when == "late" else {}


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
    cmd = [str(script)] if driver else CONSOLE
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
            assert STARTUP in proc.stderr, f"the console script forks it at start-up{STALE}"
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


@WHEN
@pytest.mark.parametrize("how, reason", [
    ("fail", "PDF rendering failed: ValueError: boom"),
    ("die", "PDF rendering failed: the rendering process was killed by signal 9 (SIGKILL)"),
])
def test_a_render_that_fails_or_dies_over_there_is_one_line(tmp_path, book, how, reason, when):
    out = tmp_path / "out"
    proc = run(tmp_path, ["build", str(book), "-o", str(out), "--offline", "-vv"],
               env={"IE_TEST_RENDER": how, **forked(when)})
    assert proc.finish(120) == 1
    assert (STARTUP in proc.stderr) == (when == "start-up")
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


@WHEN
def test_ctrl_c_while_rendering_over_there(tmp_path, book, when):
    out = tmp_path / "out"
    proc = run(tmp_path, ["pdf", str(book), "-o", str(out), "--offline", "-vv"],
               env={"IE_TEST_RENDER": "hang", **forked(when)})
    proc.wait_for(lambda: (tmp_path / "rendering").exists())   # WeasyPrint is at work over there
    child = engine_pid(proc)
    os.kill(child, signal.SIGINT)          # a terminal's Ctrl-C reaches both: the child ignores it
    proc.popen.send_signal(signal.SIGINT)
    assert proc.finish(30) == 130
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or list(out.iterdir()) == []
    assert gone(child)


@WHEN
def test_ctrl_c_while_rendering_over_there_leaves_no_font_folder(tmp_path, book, when):
    """The rendering process stopped mid-render goes through render_job's cleanup: WeasyPrint's
    /tmp/weasyprint-* folder of @font-face files (~0.8 MB) is removed, as a render here does."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = run(tmp_path, ["pdf", str(book), "-o", str(tmp_path / "out"), "--offline", "-vv"],
               env={"IE_TEST_RENDER": "hang-late", "TMPDIR": str(scratch), **forked(when)})
    proc.wait_for(lambda: (tmp_path / "rendering").exists())
    assert [p.name[:11] for p in scratch.iterdir()] == ["weasyprint-"]    # the faces are written by now
    child = engine_pid(proc)
    os.kill(child, signal.SIGINT)
    proc.popen.send_signal(signal.SIGINT)
    assert proc.finish(30) == 130
    assert "Traceback" not in proc.stderr
    assert gone(child)
    assert list(scratch.iterdir()) == []


@WHEN
def test_a_killed_parent_takes_the_rendering_process_along(tmp_path, book, when):
    proc = run(tmp_path, ["pdf", str(book), "-o", str(tmp_path / "out"), "--offline", "-vv"],
               env={"IE_TEST_RENDER": "hang", **forked(when)})
    proc.wait_for(lambda: (tmp_path / "rendering").exists())
    child = engine_pid(proc)
    proc.popen.kill()
    proc.popen.wait(30)
    assert gone(child), "the rendering process outlived its parent"
    proc.finish(30)   # (closes the stderr pipe, which a child left behind would keep open)


# ---------------------------------------------------------------- forked at start-up (entry.py)
def prestarted_pid(tmp_path: Path) -> int:
    return int((tmp_path / "prestarted").read_text())


@pytest.mark.parametrize("case", ["usage error", "help", "nothing to do", "no PDF after all", "pool"])
def test_a_run_that_does_not_render_here_kills_the_early_process_at_once(tmp_path, book, case):
    """The process forked at start-up hangs in its warm-up: a run that renders no PDF here neither
    waits for it nor leaves it behind (the pool's workers are forked after it is gone)."""
    out = tmp_path / "out"
    second = tmp_path / "b.md"
    second.write_text("# 另一篇\n\n正文。\n", encoding="utf-8")
    args, code = {
        "usage error": (["pdf", str(book), "--page-size", "nonsense"], 2),
        "help": (["pdf", "--help"], 0),
        "nothing to do": (["pdf", str(book), "-o", str(out), "--no-clobber"], 0),
        "no PDF after all": (["build", str(book), "-o", str(out), "--offline"], 0),
        "pool": (["pdf", str(book), str(second), "-o", str(out), "-j", "2", "--offline", "-vv"], 0),
    }[case]
    env = {"IE_TEST_WARM": "hang"}
    if case in ("help", "pool"):   # the command line alone forks nothing there
        env["IE_TEST_PRESTART"] = "force"
    if case == "nothing to do":
        out.mkdir()
        (out / "a.pdf").write_bytes(b"%PDF-1.7 already here")
    if case == "no PDF after all":
        (tmp_path / "interview-export.toml").write_text('formats = ["epub"]\n', encoding="utf-8")
    started = time.monotonic()
    proc = run(tmp_path, args, env=env)
    assert proc.finish(60) == code, proc.stderr
    if case != "pool":   # (two PDFs rendered on a loaded machine may take a while)
        assert time.monotonic() - started < 5.0, "waited for the process forked at start-up"
    assert gone(prestarted_pid(tmp_path), 0.5), "the process forked at start-up outlived the run"
    assert "Traceback" not in proc.stderr
    if case == "pool":
        assert sorted(p.name for p in out.iterdir()) == ["a.pdf", "b.pdf"]
        killed = f"PDF engine started in process {prestarted_pid(tmp_path)} at start-up not used: killed"
        assert killed in proc.stderr.split("converting")[0], "killed before the pool started"
    if case == "no PDF after all":
        assert sorted(p.name for p in out.iterdir()) == ["a.epub"]


@WHEN
@pytest.mark.parametrize("flag", ["-q", "", "-v", "-vv"])
def test_the_rendering_process_logs_as_the_command_line_says(tmp_path, when, flag):
    """Its records reach the user through this process's logging: -vv shows its debug lines (once),
    nothing shows its warnings (each warning has its own line), -q shows nothing."""
    article = tmp_path / "c.md"
    article.write_text("# 标题\n\n正文。\n", encoding="utf-8")
    proc = run(tmp_path, ["pdf", str(article), "-o", str(tmp_path / "out"), "--offline", *filter(None, [flag])],
               env={"IE_TEST_WARM": "log", "INTERVIEW_EXPORT_ENGINE_CACHE": "0", **forked(when)})
    assert proc.finish(120) == 0, proc.stderr
    assert (tmp_path / "out" / "c.pdf").stat().st_size > 0
    lines = proc.stderr.splitlines()
    theirs = [line for line in lines if "child:" in line or "C declarations" in line]
    if flag == "-vv":
        assert theirs == ["interview-export: log: interview_export.pdf: child: a debug line",
                          "interview-export: log: interview_export.pdf: WeasyPrint's C declarations parsed by "
                          "cffi: INTERVIEW_EXPORT_ENGINE_CACHE=0"], proc.stderr
        assert (STARTUP in proc.stderr) == (when == "start-up") and "PDF rendered in process" in proc.stderr
    else:
        assert theirs == [], proc.stderr
    if flag == "-q":
        assert proc.stderr == ""


def test_a_book_from_stdin_to_stdout_through_the_console_script(tmp_path):
    text = "# 标题\n\n正文 English 混排。\n\n**主持人**：你好。\n".encode()
    made = {}
    for key, env in (("here", {"INTERVIEW_EXPORT_OVERLAP": "0"}), ("there", {})):
        proc = subprocess.run([*CLI, "pdf", "-", "-o", "-", "--offline", "-vv"], input=text, capture_output=True,
                              cwd=tmp_path, timeout=120,
                              env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000", **env})
        assert proc.returncode == 0, proc.stderr.decode()
        made[key] = proc.stdout, proc.stderr.decode()
    assert made["there"][0].startswith(b"%PDF-") and made["there"][0] == made["here"][0]
    assert STARTUP in made["there"][1] and "PDF engine" not in made["here"][1], f"{made['there'][1]}{STALE}"


SIDES = """
import os, sys
from interview_export import overlap
from interview_export.backends import pdf
if sys.argv[1] == "child":
    pdf.warm_up()
else:   # a PDF run here, its render left out: what this process imports for the book alone
    pdf.render_job = lambda job: (b"%PDF-", [])
    from interview_export import cli
    try:
        cli.main(sys.argv[2:])
    except SystemExit:
        pass
print(" ".join(m for m in overlap.SHARED_MODULES if m not in sys.modules) or "-", "weasyprint" in sys.modules)
"""


def test_the_modules_imported_before_the_fork_are_used_on_both_sides(tmp_path):
    # imported once before the fork instead of in each process after it: the child (WeasyPrint's
    # warm-up) needs each, and so does the process preparing the book in every PDF run
    driver = tmp_path / "sides.py"
    driver.write_text(SIDES, encoding="utf-8")
    article = tmp_path / "a.md"
    article.write_text("# Title\n\n**主持人**：你好 hyphenation。\n", encoding="utf-8")
    env = {**os.environ, "INTERVIEW_EXPORT_OVERLAP": "0"}
    child = subprocess.run([sys.executable, str(driver), "child"], capture_output=True, text=True, timeout=120, env=env)
    parent = subprocess.run([sys.executable, str(driver), "parent", "pdf", str(article), "-o", str(tmp_path / "a.pdf"),
                             "-q", "--offline", "--no-cache", "-j1"], capture_output=True, text=True, timeout=120,
                            env=env, cwd=tmp_path)
    assert child.stdout.split() == ["-", "True"], child.stdout + child.stderr
    assert parent.stdout.split() == ["-", "False"], parent.stdout + parent.stderr
    assert (tmp_path / "a.pdf").read_bytes() == b"%PDF-"
