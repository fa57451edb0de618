"""preview.py + `interview-export preview`: the live book in Chromium follows the file as it is saved."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.readers

ARTICLE = """---
title: 预览测试
author: 测试者
---

## 第一节

第一节的正文，有一个 OpenAI 的词。

![一张图](images/pic.png)

## 第二节

第二节的正文。
"""
FRAME_TEXT = ("(m) => { const d = document.getElementById('page').contentDocument;"
              " return !!(d && d.body && d.body.textContent.includes(m)); }")


def _image(path: Path, width: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, 60), (90, 90, 90)).save(path)


class Server:
    """`python -m interview_export preview FILE --no-open` as a child process, and the URL it printed."""

    def __init__(self, source: Path, *extra: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "interview_export", "preview", str(source), "--no-open",
             "--cache-dir", str(source.parent / "cache"), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.proc.stdout], daemon=True).start()
        try:
            first = lines.get(timeout=60)
        except queue.Empty:
            self.stop()
            raise AssertionError("preview printed no URL within 60 s") from None
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert match, first
        self.url, self.port = match.group(0), int(match.group(1))

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode, err


@pytest.fixture
def article(tmp_path) -> Path:
    source = tmp_path / "article.md"
    source.write_text(ARTICLE, encoding="utf-8")
    _image(tmp_path / "images" / "pic.png", 120)
    return source


@pytest.fixture
def live(article, browser):
    server = Server(article)
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(server.url)
    page.wait_for_function(FRAME_TEXT, arg="第一节的正文")
    yield server, page
    page.close()
    code, err = server.stop()
    assert code == 0 and "preview stopped" in err, (code, err)


def _save_and_wait(page, path: Path, text: str, marker: str) -> float:
    start = time.perf_counter()
    path.write_text(text, encoding="utf-8")
    page.wait_for_function(FRAME_TEXT, arg=marker, polling=10, timeout=20000)
    return time.perf_counter() - start


def test_preview_shows_the_book_with_its_chapters_fonts_and_widths(live):
    server, page = live
    assert server.port > 0
    chapters = page.locator("#chapters a").all_inner_texts()
    assert "1 第一节" in chapters and "2 第二节" in chapters, chapters
    frame = page.frame_locator("#page")
    assert frame.locator("link[href='styles/epub.css']").count() == 1
    families = page.evaluate("""async () => { const d = document.getElementById('page').contentDocument;
        await d.fonts.ready; return Array.from(d.fonts).filter((f) => f.status === 'loaded').map((f) => f.family); }""")
    assert any("IE Serif" in f for f in families), families
    assert frame.locator("img").evaluate("img => img.naturalWidth") == 120
    for name, width in (("phone", 390), ("tablet", 1024), ("e-ink", 758)):
        page.click(f"button[data-width='{name}']")
        assert page.evaluate("document.getElementById('page').clientWidth") == width
    page.locator("#chapters a", has_text="第二节").click()
    page.wait_for_function(FRAME_TEXT, arg="第二节的正文")


def test_saving_the_markdown_shows_the_change_within_a_second(live, article):
    _, page = live
    times = []
    for i in range(3):
        marker = f"新写的第{i}句"
        text = ARTICLE.replace("第一节的正文", f"{marker}，第一节的正文")
        times.append(_save_and_wait(page, article, text, marker))
    print(f"preview save→shown: {', '.join(f'{t:.2f}' for t in times)} s")
    assert min(times) < 1.0, times


def test_a_changed_image_and_sidecar_rebuild_the_book(live, article):
    _, page = live
    _image(article.parent / "images" / "pic.png", 200)
    page.wait_for_function("() => { const d = document.getElementById('page').contentDocument;"
                           " const i = d && d.querySelector('img'); return !!i && i.naturalWidth === 200; }",
                           timeout=20000)
    (article.parent / "article.metadata.yaml").write_text("source: 边车来源\n", encoding="utf-8")
    page.locator("#chapters a").nth(1).click()   # the title page shows the source
    page.wait_for_function(FRAME_TEXT, arg="边车来源", timeout=20000)


def test_a_broken_file_shows_the_error_and_keeps_the_last_good_book(live, article):
    _, page = live
    article.write_bytes(ARTICLE.encode("utf-8") + b"\xff\xfe broken")
    page.wait_for_function("document.getElementById('error').textContent.includes('article.md')", timeout=20000)
    assert page.evaluate(FRAME_TEXT, "第一节的正文")   # the last good book stays
    _save_and_wait(page, article, ARTICLE.replace("第二节的正文", "修好了"), "第一节的正文")
    page.wait_for_function("document.getElementById('error').textContent === ''", timeout=20000)


def test_preview_refuses_a_missing_file_and_a_taken_port(tmp_path, article):
    missing = subprocess.run([sys.executable, "-m", "interview_export", "preview", str(tmp_path / "nope.md"),
                              "--no-open"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "nope.md" in missing.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run([sys.executable, "-m", "interview_export", "preview", str(article), "--no-open",
                               "--port", str(port), "--cache-dir", str(tmp_path / "cache")],
                              capture_output=True, text=True, timeout=60)
    assert busy.returncode == 2 and f"--port {port}" in busy.stderr, busy.stderr
