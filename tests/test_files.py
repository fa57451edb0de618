"""Files: atomic writes (hidden temp file in the target folder + rename), an existing book survives a
failed conversion, ``kill -9`` leaves no half-written book, unwritable folders and a full disk give one
clear error and exit 1, and two processes sharing one image cache both produce correct books."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from interview_export import api
from interview_export.errors import OutputError
from interview_export.options import Options

from conftest import StaticServer
from helpers import CLI, png_bytes

ARTICLE = "# 标题\n\n## 一\n\n**主持人**：你好。\n\n**嘉宾**：你好，GPT。\n"


def cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def assert_clear_failure(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert any("error" in ln for ln in proc.stderr.splitlines()), proc.stderr


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def is_hidden_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(api.TEMP_SUFFIX)


# ---------------------------------------------------------------- atomic writes
def test_write_atomic_renames_a_hidden_temp_file_in_the_same_folder(tmp_path, monkeypatch):
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((Path(src), Path(dst)))
        assert Path(src).read_bytes() == b"new book"  # complete before it is renamed
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    target = tmp_path / "book.epub"
    target.write_bytes(b"old book")
    api.write_atomic(target, b"new book")
    [(src, dst)] = renames
    assert dst == target and src.parent == target.parent and is_hidden_temp(src.name)
    assert target.read_bytes() == b"new book"
    assert leftovers(tmp_path) == ["book.epub"]


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_disk_full_is_an_output_error_and_keeps_the_old_book(tmp_path, monkeypatch, where):
    target = tmp_path / "book.epub"
    target.write_bytes(b"old book")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == "write":
        real_fdopen = os.fdopen

        def fdopen(fd, *a, **k):
            handle = real_fdopen(fd, *a, **k)
            handle.write = full
            return handle
        monkeypatch.setattr(os, "fdopen", fdopen)
    else:
        monkeypatch.setattr(os, where, full)
    with pytest.raises(OutputError) as info:
        api.write_atomic(target, b"new book" * 1000)
    assert "No space left on device" in str(info.value) and "\n" not in str(info.value)
    assert target.read_bytes() == b"old book"
    assert leftovers(tmp_path) == ["book.epub"]  # the temp file was removed


def test_disk_full_during_a_conversion_is_reported_not_raised(tmp_path, monkeypatch):
    md = tmp_path / "a.md"
    md.write_text(ARTICLE, encoding="utf-8")
    old = tmp_path / "a.epub"
    old.write_bytes(b"old book")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    result = api.convert_file(str(md), {"epub": old}, Options(cache_dir=tmp_path / "cache"))
    assert result.error_type == "OutputError" and "No space left" in result.error
    assert old.read_bytes() == b"old book"
    assert not [n for n in leftovers(tmp_path) if n.endswith(api.TEMP_SUFFIX)]


# ---------------------------------------------------------------- failed conversions keep old books
def test_existing_books_survive_a_failed_conversion(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"# \xff\xfe\xfa bad bytes \x81\x82\x83\x84\x85")
    strict = tmp_path / "strict.md"
    strict.write_text("# 标题\n\n![缺](missing.png)\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    books = {}
    for name in ("bad", "strict"):
        for ext in ("epub", "pdf"):
            path = out / f"{name}.{ext}"
            path.write_bytes(f"previous {name}.{ext}".encode())
            books[path] = path.read_bytes()
    proc = cli("build", str(bad), str(strict), "-o", str(out), "--strict", "--cache-dir", str(tmp_path / "c"),
               "-j", "1", cwd=tmp_path)
    assert_clear_failure(proc)
    assert "byte offset" in proc.stderr and "missing.png" in proc.stderr
    for path, data in books.items():
        assert path.read_bytes() == data, path
    assert leftovers(out) == sorted(p.name for p in books)


# ---------------------------------------------------------------- kill -9
def _big_article(n: int = 400) -> str:
    turns = "".join(f"**主持人**：第{k}个问题，关于 scaling 和数据？\n\n**嘉宾**：第{k}个回答，" + "内容" * 60 + "。\n\n"
                    for k in range(n))
    return "# 很长的访谈\n\n## 一\n\n" + turns


def test_kill_9_during_the_pdf_stage_leaves_no_book(tmp_path):
    """EPUB first, then PDF: killed while WeasyPrint works, the folder holds the finished EPUB, the
    untouched old PDF, and at most hidden ``.NAME.*.ie-tmp`` files — never a partial book."""
    md = tmp_path / "long.md"
    md.write_text(_big_article(), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    old_pdf = out / "long.pdf"
    old_pdf.write_bytes(b"%PDF-1.7 previous book")
    proc = subprocess.Popen([*CLI, "build", str(md), "-o", str(out), "--cache-dir", str(tmp_path / "c"), "-j", "1"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (out / "long.epub").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no EPUB after 300 s"
            time.sleep(0.05)
        time.sleep(1.0)  # well inside the PDF stage (WeasyPrint needs many seconds for this book)
        assert proc.poll() is None, "finished before it could be killed: make the article longer"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    names = leftovers(out)
    assert old_pdf.read_bytes() == b"%PDF-1.7 previous book"
    for name in names:
        assert name in ("long.epub", "long.pdf") or is_hidden_temp(name), names
    with zipfile.ZipFile(out / "long.epub") as zf:
        assert zf.testzip() is None
    # the next run cleans up and converts
    done = cli("build", str(md), "-o", str(out), "--cache-dir", str(tmp_path / "c"), "-j", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (out / "long.pdf").read_bytes().startswith(b"%PDF") and (out / "long.pdf").stat().st_size > 10000


KILL_IN_WRITE = """
import os, signal, sys
from interview_export import api
def die(fd):
    os.kill(os.getpid(), signal.SIGKILL)
os.fsync = die
api.write_atomic(sys.argv[1], b"PK" + b"x" * 100000)
"""


def test_kill_9_while_writing_leaves_the_old_book_and_a_hidden_temp(tmp_path):
    target = tmp_path / "book.epub"
    target.write_bytes(b"old book")
    proc = subprocess.run([sys.executable, "-c", KILL_IN_WRITE, str(target)], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"old book"
    others = [n for n in leftovers(tmp_path) if n != "book.epub"]
    assert others and all(is_hidden_temp(n) and n.startswith(".book.epub.") for n in others), others
    assert api.remove_temp_files([target]) and leftovers(tmp_path) == ["book.epub"]


# ---------------------------------------------------------------- unwritable output
def test_output_under_a_file_is_a_clear_error(tmp_path):
    md = tmp_path / "a.md"
    md.write_text(ARTICLE, encoding="utf-8")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("I am a file", encoding="utf-8")
    for fmt in ("epub", "pdf"):
        proc = cli(fmt, str(md), "-o", str(blocker / f"out.{fmt}"), "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
        assert_clear_failure(proc)
        assert "not-a-folder" in proc.stderr
    assert blocker.read_text(encoding="utf-8") == "I am a file"


def test_output_that_is_a_folder_is_a_clear_error(tmp_path):
    md = tmp_path / "a.md"
    md.write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "a.epub").mkdir()
    proc = cli("epub", str(md), "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    assert_clear_failure(proc)
    assert (tmp_path / "a.epub").is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_is_a_clear_error(tmp_path):
    md = tmp_path / "a.md"
    md.write_text(ARTICLE, encoding="utf-8")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        proc = cli("epub", str(md), "-o", str(out / "a.epub"), "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    finally:
        out.chmod(0o755)
    assert_clear_failure(proc)
    assert leftovers(out) == []


def test_read_only_mount_is_a_clear_error(tmp_path):
    """/proc/sys is read-only for everyone, root included (no way to bind-mount without privileges)."""
    md = tmp_path / "a.md"
    md.write_text(ARTICLE, encoding="utf-8")
    target = Path("/proc/sys/ie-test-book.epub")
    if not Path("/proc/sys").is_dir():
        pytest.skip("no /proc/sys")
    proc = cli("epub", str(md), "-o", str(target), "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    assert_clear_failure(proc)
    assert not target.exists()


# ---------------------------------------------------------------- concurrency
def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        return hashlib.sha256(im.convert("RGB").tobytes()).hexdigest().encode()


def test_two_processes_share_one_cache(tmp_path):
    """Two articles sharing remote images, converted at the same time into one --cache-dir: both
    succeed and each EPUB holds exactly its own images, pixel for pixel."""
    site = tmp_path / "site"
    site.mkdir()
    sources = {}
    for k in range(6):
        data = png_bytes((30 + k, 20 + k), (40 * k % 256, 255 - 30 * k, 90))
        (site / f"img{k}.png").write_bytes(data)
        sources[f"img{k}.png"] = _pixels(data)
    server = StaticServer(site).start()
    try:
        work = tmp_path / "work"
        work.mkdir()
        wanted = {"a": ["img0.png", "img1.png", "img2.png", "img3.png"],
                  "b": ["img2.png", "img3.png", "img4.png", "img5.png", "img0.png"]}
        for name, imgs in wanted.items():
            body = "".join(f"**主持人**：第{i}张图。\n\n![图{i}]({server.url}{img})\n\n" for i, img in enumerate(imgs))
            (work / f"{name}.md").write_text(f"# {name} 访谈\n\n## 一\n\n{body}", encoding="utf-8")
        cache = tmp_path / "shared-cache"
        procs = [subprocess.Popen([*CLI, "build", str(work / f"{n}.md"), "-o", str(tmp_path / f"out-{n}"),
                                   "--cache-dir", str(cache), "-j", "1", "--allow-host", "127.0.0.1"], cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for n in wanted]
        outs = [p.communicate(timeout=600) for p in procs]
        for p, (_, err) in zip(procs, outs):
            assert p.returncode == 0 and "Traceback" not in err and "warning:" not in err, err
        for name, imgs in wanted.items():
            with zipfile.ZipFile(tmp_path / f"out-{name}" / f"{name}.epub") as zf:
                got = {_pixels(zf.read(m)) for m in zf.namelist()
                       if m.startswith("EPUB/images/") and "cover" not in m}
            assert got == {sources[i] for i in imgs}, name
            assert (tmp_path / f"out-{name}" / f"{name}.pdf").stat().st_size > 5000
        # each image fetched at most once per process, and the cache now serves an offline run
        assert len(server.requests) <= 2 * len(sources)
        again = cli("epub", str(work / "b.md"), "-o", str(tmp_path / "again.epub"), "--cache-dir", str(cache),
                    "--offline", cwd=tmp_path)
        assert again.returncode == 0 and "warning:" not in again.stderr, again.stderr
    finally:
        server.stop()
