"""compat.py: every private corner of a library we use is still where the wrapper expects it, and
each wrapper still does its job on the installed versions (an upgrade that moves one fails here)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO

import pytest

from interview_export import compat


@pytest.mark.parametrize("name", sorted(compat.PROBES))
def test_probe_finds_what_the_wrapper_relies_on(name):
    compat.PROBES[name]()


def test_probes_fail_when_the_private_names_are_gone(monkeypatch):
    """The probes can fail: each one, with its attribute taken away, raises CompatError."""
    import atexit
    import threading
    from concurrent.futures import process

    from ebooklib import epub as eb
    from weasyprint.text.fonts import FontConfiguration

    cases = [
        ("WeasyPrint font folder", FontConfiguration, "_folder"),
        ("interpreter exit steps", atexit, "_run_exitfuncs"),
        ("interpreter exit steps", threading, "_shutdown"),
        ("ebooklib writer steps", eb.EpubWriter, "_write_opf"),
        ("ebooklib writer steps", eb.EpubWriter, "_get_nav"),
    ]
    for probe, owner, name in cases:
        with monkeypatch.context() as m:
            m.delattr(owner, name)
            with pytest.raises(compat.CompatError, match=name):
                compat.PROBES[probe]()
    with monkeypatch.context() as m:   # a pool that keeps its workers somewhere else
        m.setattr(process.ProcessPoolExecutor, "__init__", lambda self, *a, **k: None)
        with pytest.raises(compat.CompatError, match="_processes"):
            compat.PROBES["ProcessPoolExecutor workers"]()


def _square(x: int) -> int:
    return x * x


def test_pool_processes_are_the_live_workers():
    with ProcessPoolExecutor(max_workers=1) as pool:
        assert pool.submit(_square, 7).result(timeout=60) == 49
        procs = compat.pool_processes(pool)
        assert len(procs) == 1 and procs[0].is_alive() and procs[0].pid
    assert compat.pool_processes(object()) == []


def test_finish_interpreter_waits_for_threads_and_runs_atexit_handlers():
    code = textwrap.dedent("""
        import atexit, os, sys, threading, time
        from interview_export import compat
        atexit.register(lambda: print("atexit ran", flush=True))
        threading.Thread(target=lambda: (time.sleep(0.3), print("thread done", flush=True))).start()
        compat.finish_interpreter()
        os._exit(0)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["thread done", "atexit ran"]


def test_epub_entries_writes_our_nav_and_the_package_language():
    from ebooklib import epub as eb

    book = eb.EpubBook()
    book.set_identifier("urn:uuid:12345678-1234-1234-1234-123456789abc")
    book.set_title("测试")
    book.set_language("zh-CN")
    chapter = eb.EpubHtml(uid="c1", file_name="c1.xhtml", title="一", content="<p>一</p>")
    book.add_item(chapter)
    book.add_item(eb.EpubNav(uid="nav", file_name="nav.xhtml"))
    book.add_item(eb.EpubNcx())
    book.spine = [chapter]
    nav = b"<html>our nav</html>"
    entries = dict(compat.epub_entries(book, nav, {"epub3_landmark": False, "epub3_pages": False}))
    assert list(entries)[:2] == ["META-INF/container.xml", "EPUB/content.opf"]
    assert entries["EPUB/nav.xhtml"] == nav
    assert b'xml:lang="zh-CN"' in entries["EPUB/content.opf"].split(b">", 2)[1]
    assert "EPUB/c1.xhtml" in entries and "EPUB/toc.ncx" in entries


def test_zip_compresslevel_is_public_now():
    """The EPUB zip's deflate level goes through ZipFile.writestr(compresslevel=…), not ZipInfo's
    private field: level 6 and level 9 give different bytes, so the argument is honoured."""
    data = bytes(range(256)) * 400 + b"interview-export " * 5000

    def deflate(level: int) -> bytes:
        out = BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            info = zipfile.ZipInfo("a.txt", date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=level)
        return out.getvalue()

    assert deflate(1) != deflate(9)
    assert zipfile.ZipFile(BytesIO(deflate(6))).read("a.txt") == data
