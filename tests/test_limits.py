"""Size and depth: a 10 MB file, 5,000 sections, a 1 MB line, 10,000 nested quotes/lists/emphasis,
2,000 images, a 10,000-character URL. Each converts or stops with one clear line, in bounded time and
memory, never with a RecursionError/MemoryError traceback.

The reader-level (and media-level) version of every case runs by default. The CLI runs are measured
in a subprocess (wall time, peak RSS of the child via ``os.wait4``); the heaviest ones (whole books
of 5,000 sections, 2,000 images, a 10 MB file, a PDF of a 1 MB paragraph) only with ``SLOW=1`` or
``FUZZ=1``. Numbers seen on a 2-CPU machine are in the comments of ``HEAVY``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from interview_export import api, model, reader
from interview_export.errors import ExportError
from interview_export.options import Options

from helpers import png_bytes

HEAVY_ON = os.environ.get("SLOW") == "1" or os.environ.get("FUZZ") == "1"
heavy = pytest.mark.skipif(not HEAVY_ON, reason="heavy size case: set SLOW=1 (or FUZZ=1)")

TURN = "**主持人**：这是一个关于人工智能的访谈，我们讨论了 GPT 和 reasoning 模型的未来。\n\n" \
       "**嘉宾**：是的，我认为 scaling 仍然很重要，但数据更重要。\n\n"


# ---------------------------------------------------------------- inputs
def ten_megabytes() -> str:
    """~10 MB of a realistic interview: speaker turns, a ## section every 200 turns."""
    chunks, size, i = ["# 十兆文件\n\n"], 0, 0
    while size < 10 * 1024 * 1024:
        chunk = (f"## 第{i // 200 + 1}节 话题\n\n" if i % 200 == 0 else "") + TURN
        chunks.append(chunk)
        size += len(chunk.encode("utf-8"))
        i += 1
    return "".join(chunks)


def ten_megabytes_plain() -> str:
    """~10 MB in long paragraphs (few tokens per byte: the reader-level default case)."""
    para = ("中文English混合文本，" * 400).strip() + "\n\n"
    return "# 十兆\n\n## 一\n\n" + para * (10 * 1024 * 1024 // len(para.encode("utf-8")) + 1)


def sections(n: int = 5000) -> str:
    return "# 五千节\n\n" + "".join(f"## {k} 小节\n\n**主持人**：问题{k}？\n\n**嘉宾**：回答{k}。\n\n" for k in range(n))


def one_line(n_bytes: int = 1024 * 1024) -> str:
    data = ("中文English混合文本，" * (n_bytes // 20 + 1)).encode("utf-8")[:n_bytes]
    return "# 一行\n\n" + data.decode("utf-8", "ignore") + "\n"


def nested_quotes(n: int = 10_000) -> str:
    return "# 引用\n\n" + "> " * n + "深处的话\n\n正文还在。\n"


def nested_lists(n: int = 10_000) -> str:
    return "# 列表\n\n" + "- " * n + "深处\n\n正文还在。\n"


def nested_indented_lists(n: int = 2_000) -> str:
    return "# 缩进列表\n\n" + "".join(" " * (2 * k) + f"- 第{k}层\n" for k in range(n)) + "\n正文还在。\n"


def nested_emphasis(n: int = 10_000) -> str:
    return "# 强调\n\n" + "*" * n + "深处" + "*" * n + "\n\n" + "[" * n + "链接" + "]" * n + "\n\n正文还在。\n"


def nested_links_and_html(n: int = 10_000) -> str:
    return "# 嵌套\n\n" + "<b>" * n + "粗" + "</b>" * n + "\n\n" + "[a](" * n + "\n\n正文还在。\n"


def images(folder: Path, n: int = 2000) -> str:
    (folder / "imgs").mkdir(exist_ok=True)
    for k in range(n):
        (folder / "imgs" / f"{k}.png").write_bytes(png_bytes((4, 3), (k % 256, (k // 256) * 20, 50)))
    return "# 图片\n\n## 一\n\n" + "".join(f"![图{k}](imgs/{k}.png)\n\n" for k in range(n))


def long_urls(n: int = 10_000) -> str:
    return ("# 网址\n\n## 一\n\n"
            f"[链接](https://example.com/{'a' * n})\n\n"
            f"![本地]({'b' * n}.png)\n\n"
            f"![远程](https://example.com/{'c' * n}.png)\n\n"
            f"![数据](data:image/png;base64,{'A' * n})\n\n"
            f"<https://example.com/{'d' * n}>\n\n正文还在。\n")


# ---------------------------------------------------------------- reader / media level (default run)
READER_CASES = {
    "10mb-plain": (ten_megabytes_plain, 120),
    "5000-sections": (sections, 120),
    "1mb-line": (one_line, 60),
    "10000-quotes": (nested_quotes, 30),
    "10000-lists": (nested_lists, 30),
    "2000-indented-lists": (nested_indented_lists, 60),
    "10000-emphasis": (nested_emphasis, 60),
    "10000-tags-links": (nested_links_and_html, 60),
    "10000-char-urls": (long_urls, 30),
}


@pytest.mark.parametrize("case", list(READER_CASES))
def test_reader_handles_size_and_depth(case):
    make, limit = READER_CASES[case]
    text = make()
    start = time.perf_counter()
    try:
        doc = reader.read_text(text, name=f"{case}.md")
    except ExportError as exc:  # allowed: our error, one line
        assert "\n" not in str(exc)
        return
    elapsed = time.perf_counter() - start
    assert elapsed < limit, f"{case}: reading took {elapsed:.1f}s"
    body = model.document_text(doc)
    assert body.strip(), case
    if "正文还在" in text:  # what follows the deep structure is never lost
        assert "正文还在" in body
    if case == "5000-sections":
        assert len(doc.sections) == 5000
    for w in doc.warnings:
        assert "\n" not in w


@pytest.mark.parametrize("case", ["10000-quotes", "10000-lists", "10000-emphasis", "10000-tags-links"])
def test_deep_input_renders_without_recursion_error(case):
    """The model is capped, so the (recursive) renderer never meets a RecursionError."""
    from interview_export import render

    doc = reader.read_text(READER_CASES[case][0](), options=Options(allow_html=True))
    parts = render.render_parts(doc, None)
    assert sum(len(p.body) for p in parts) > 0
    if case in ("10000-quotes", "10000-lists"):
        assert any("nested more than" in w for w in doc.warnings)


def test_2000_local_images_are_collected(tmp_path):
    md = tmp_path / "images.md"
    md.write_text(images(tmp_path), encoding="utf-8")
    doc = reader.read_path(md)
    start = time.perf_counter()
    bag = api.collect_media(doc, Options(offline=True, cache_dir=tmp_path / "cache"), base_dir=tmp_path)
    assert time.perf_counter() - start < 120
    assert len(bag.assets) == 2000
    assert all(a.ok for a in bag.assets.values()), bag.warnings[:3]
    assert len({a.filename for a in bag.assets.values()}) == 2000  # distinct content, distinct files


def test_10000_character_urls_become_placeholders_not_errors(tmp_path):
    md = tmp_path / "urls.md"
    md.write_text(long_urls(), encoding="utf-8")
    doc = reader.read_path(md)
    bag = api.collect_media(doc, Options(offline=True, cache_dir=tmp_path / "cache"), base_dir=tmp_path)
    assert len(bag.assets) == 3 and not any(a.ok for a in bag.assets.values())
    assert all("\n" not in w for w in bag.warnings)
    assert not any("internal" in w.lower() or "Traceback" in w for w in bag.warnings)


# ---------------------------------------------------------------- whole CLI runs, measured
@dataclass
class Run:
    rc: int
    wall: float
    rss_mb: float
    stdout: str
    stderr: str


def run_measured(cmd: list[str], cwd: Path, timeout: float) -> Run:
    """Run a command; wall time and the peak RSS of the child (and its waited-for children)."""
    out, err = cwd / ".stdout", cwd / ".stderr"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=fo, stderr=fe, start_new_session=True)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise AssertionError(f"{cmd[1:3]} still running after {timeout:.0f}s (killed)")
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    run = Run(proc.returncode, wall, usage.ru_maxrss / 1024, out.read_text("utf-8", "replace"),
              err.read_text("utf-8", "replace"))
    print(f"LIMITS {' '.join(Path(c).name for c in cmd[3:5])}: exit {run.rc}, {run.wall:.1f} s, peak RSS {run.rss_mb:.0f} MB")
    return run


def assert_converted_or_clear_error(run: Run, output: Path) -> None:
    for bad in ("Traceback", "RecursionError", "MemoryError", "internal error"):
        assert bad not in run.stderr and bad not in run.stdout, run.stderr[-3000:]
    if run.rc == 0:
        assert output.is_file() and output.stat().st_size > 1000
    else:
        errors = [ln for ln in run.stderr.splitlines() if "error" in ln]
        assert errors and all(len(ln) < 2000 for ln in errors), run.stderr[-3000:]


CLI = [sys.executable, "-m", "interview_export"]
RSS_LIMIT_MB = 2048


def _cli_case(tmp_path: Path, name: str, text: str | None, fmt: str, timeout: float) -> Run:
    md = tmp_path / f"{name}.md"
    if text is not None:
        md.write_text(text, encoding="utf-8")
    out = tmp_path / f"{name}.{fmt}"
    run = run_measured([*CLI, fmt, str(md), "-o", str(out), "--offline", "--cache-dir", str(tmp_path / "cache"),
                        "-j", "1"], tmp_path, timeout)
    assert_converted_or_clear_error(run, out)
    assert run.rss_mb < RSS_LIMIT_MB, f"peak RSS {run.rss_mb:.0f} MB"
    return run


# seen on 2 CPUs (exit 0 each): quotes10000 epub 3 s/128 MB, pdf 12 s/155 MB; url10000 epub 10 s/134 MB,
# pdf 10 s/161 MB; 1 MB line epub 4 s/129 MB
LIGHT = {
    "10000-quotes": (nested_quotes, ("epub", "pdf"), 300),
    "10000-lists": (nested_lists, ("epub",), 300),
    "10000-char-urls": (long_urls, ("epub", "pdf"), 300),
    "1mb-line": (one_line, ("epub",), 300),
}


@pytest.mark.parametrize("case,fmt", [(c, f) for c, (_, fmts, _) in LIGHT.items() for f in fmts])
def test_cli_light_cases(tmp_path, case, fmt):
    make, _, timeout = LIGHT[case]
    _cli_case(tmp_path, case, make(), fmt, timeout)


# seen on 2 CPUs: 1 MB line pdf 409 s/223 MB; 2000 images epub 3 s/140 MB, pdf 13 s/220 MB;
# 5000 sections epub 36 s/161 MB, pdf still running after 1200 s at 2.3 GB (killed; 0.08 s per section
# in-process); 10 MB file epub 321 s/457 MB (reading alone ~100 s/436 MB), pdf still running after
# 640 s at 3.2 GB (killed). The two PDFs are the known unbounded cases (SECURITY.md, "Known limits").
KNOWN_UNBOUNDED: set[tuple[str, str]] = set()  # pdf.check_size now stops the 5,000-section and 10 MB PDFs at once
HEAVY = {
    "1mb-line": (one_line, ("pdf",), 1500),
    "2000-images": (None, ("epub", "pdf"), 900),
    "5000-sections": (sections, ("epub", "pdf"), 1800),
    "10mb": (ten_megabytes, ("epub", "pdf"), 1800),
}


@heavy
@pytest.mark.slow
@pytest.mark.parametrize("case,fmt", [
    pytest.param(c, f, marks=pytest.mark.xfail(reason="PDF time/memory not bounded yet", strict=False)
                 if (c, f) in KNOWN_UNBOUNDED else ())
    for c, (_, fmts, _) in HEAVY.items() for f in fmts])
def test_cli_heavy_cases(tmp_path, case, fmt):
    make, _, timeout = HEAVY[case]
    if (case, fmt) in KNOWN_UNBOUNDED:
        timeout = 600  # expected to fail: do not hold a FUZZ=1/SLOW=1 run for half an hour
    text = images(tmp_path) if case == "2000-images" else make()
    _cli_case(tmp_path, case, text, fmt, timeout)
