"""engine: PDF render jobs in a helper process — same bytes as in-process, failures come back as
errors, a lost engine falls back to this process, and nothing is left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from interview_export import engine, pdf
from interview_export.options import Options
from interview_export.reader import read_text

ARTICLE = """# 引擎测试

## 一

**主持人：** 你好，我们聊聊 LLM 的训练。

**嘉宾：** 好的。先说数据，再说算力。

**主持人：** 谢谢。

**嘉宾：** 不客气。
"""


@pytest.fixture
def fresh_engine():
    engine.stop()
    yield engine
    engine.stop()


def small_doc():
    return read_text(ARTICLE, name="engine.md")


def test_engine_gives_the_same_bytes_and_warnings_as_this_process(fresh_engine, tmp_path):
    css = tmp_path / "user.css"
    css.write_text("p { colr: red; }\n", encoding="utf-8")      # one warning from the user's sheet
    options = Options(css=(str(css),))
    here = pdf.build_with_warnings(small_doc(), None, options)
    fresh_engine.start()
    assert fresh_engine.running()
    there = pdf.build_with_warnings(small_doc(), None, options)
    assert there == here and len(here[1]) == 1 and "colr" in here[1][0]
    pid = fresh_engine._engine.proc.pid
    pdf.build(small_doc(), None, Options())                      # the same process serves again
    assert fresh_engine._engine.proc.pid == pid


def test_a_failing_job_comes_back_as_an_error(fresh_engine):
    fresh_engine.start()
    broken = pdf.RenderJob(None, [], pdf.Resources(), "")       # no HTML at all
    with pytest.raises(pdf.RenderFailed):
        fresh_engine.render(broken)
    assert fresh_engine.running()                                # and the engine stays usable


def test_a_lost_engine_falls_back_to_this_process(fresh_engine):
    expected = pdf.build(small_doc(), None, Options())
    fresh_engine.start()
    proc = fresh_engine._engine.proc
    proc.kill()
    proc.wait()
    assert pdf.build(small_doc(), None, Options()) == expected
    assert not fresh_engine.running()


def test_stop_reaps_the_process_and_switch_off(fresh_engine, monkeypatch):
    fresh_engine.start()
    proc = fresh_engine._engine.proc
    fresh_engine.stop()
    assert proc.returncode is not None
    monkeypatch.setenv("INTERVIEW_EXPORT_ENGINE", "0")
    fresh_engine.start()
    assert not fresh_engine.running()


def test_the_parent_never_imports_weasyprint():
    """The point of the engine: this process reads, fetches and subsets while the other one
    imports WeasyPrint; here WeasyPrint is never imported at all."""
    script = (
        "import sys, json\n"
        "from interview_export import engine, pdf\n"
        "from interview_export.reader import read_text\n"
        "from interview_export.options import Options\n"
        "engine.start()\n"
        f"doc = read_text({ARTICLE!r}, name='e.md')\n"
        "data = pdf.build(doc, None, Options())\n"
        "print(json.dumps({'pdf': data[:5].decode(), 'weasyprint': 'weasyprint' in sys.modules,"
        " 'engine': engine.running()}))\n"
    )
    env = dict(os.environ)
    env.pop("INTERVIEW_EXPORT_ENGINE", None)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"pdf": "%PDF-", "weasyprint": False, "engine": True}
    assert out.stderr == ""
