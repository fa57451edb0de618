"""cli: option parsing, config precedence, exit codes, report, progress; subprocess runs with SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from interview_export import api, batch, cli, pipeline

from helpers import Proc, children_of, running

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "sample-interview.md"


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A clean current folder (no interview-export.toml unless the test writes one)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _md(path: Path, text: str = "# 标题\n\n正文。\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class Recorder:
    """Stands in for batch.run: records the tasks and jobs, returns canned results."""

    def __init__(self, fail: set[str] = frozenset(), raise_exc: BaseException | None = None):
        self.tasks: list[batch.Task] = []
        self.jobs = None
        self.fail, self.raise_exc = fail, raise_exc

    def __call__(self, tasks, *, jobs=None, on_start=None, on_result=None, dask=None, overlap=False):
        self.tasks, self.jobs, self.dask = list(tasks), jobs, dask
        if self.raise_exc is not None:
            raise self.raise_exc
        results = []
        for task in tasks:
            on_start(task.source)
            if Path(task.source).name in self.fail:
                r = api.ConversionResult(task.source, error="undecodable bytes at byte offset 7", error_type="InputError")
            else:
                r = api.ConversionResult(task.source, dict(task.targets), ("a warning",), None, {"read": 0.01})
            on_result(r)
            results.append(r)
        return results


@pytest.fixture
def recorder(monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(batch, "run", rec)
    return rec


# ---------------------------------------------------------------- parsing
def test_version_and_help(runner):
    result = runner.invoke(cli.cli, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("interview-export ")
    result = runner.invoke(cli.cli, ["--help"])
    assert result.exit_code == 0
    for command in ("epub", "pdf", "build", "inspect"):
        assert command in result.output
    help_text = runner.invoke(cli.cli, ["build", "--help"]).output
    for option in ("--metadata", "--css", "--cover", "--no-cover", "--mirror", "--offline", "--strict",
                   "--cache-dir", "--no-cache", "--resource-dir", "--font-serif", "--font-sans",
                   "--no-embed-fonts", "--vertical", "--grayscale", "--page-size", "--bleed", "--crop-marks",
                   "--simplex", "--pdf-variant", "--jobs", "--quiet", "--verbose", "--profile", "--report", "--config",
                   "--force", "--no-clobber", "--skip-variants", "--format"):
        assert option in help_text, option


@pytest.mark.parametrize("command", ["epub", "pdf", "build", "inspect", "preview"])
def test_each_command_has_its_table_rows_then_its_arguments(command):
    # the table's options are made when the command is first asked for its parameters
    from interview_export.options import rows_of

    params = cli.cli.commands[command].params
    assert [p.name for p in params] == [row.name for row in rows_of(command)] + [params[-1].name]
    assert params[-1].param_type_name == "argument" and cli.cli.commands[command].params is params


def test_shared_options_reach_options(runner, workdir, recorder):
    src = _md(workdir / "a.md")
    css = workdir / "extra.css"
    css.write_text("p{}", encoding="utf-8")
    result = runner.invoke(cli.cli, [
        "build", "-f", "pdf", str(src), "--metadata", "author=张三", "--metadata", "title=T=1", "--css", str(css),
        "--mirror", "https://cdn.jsdelivr.net/=http://127.0.0.1:1/", "--offline", "--strict",
        "--cache-dir", str(workdir / "c"), "--no-cache", "--resource-dir", str(workdir),
        "--font-serif", "x.ttc#2", "--no-embed-fonts", "--vertical", "--grayscale", "--page-size", "A5",
        "--bleed", "3mm", "--crop-marks", "--simplex", "--pdf-variant", "pdf/a-3b", "--jobs", "3",
        "--no-clobber"])
    assert result.exit_code == 0, result.output
    [task] = recorder.tasks
    o = task.options
    assert o.metadata == (("author", "张三"), ("title", "T=1"))
    assert o.css == (css,) and o.mirrors == (("https://cdn.jsdelivr.net/", "http://127.0.0.1:1/"),)
    assert o.offline and o.strict and not o.use_cache and o.cache_dir == workdir / "c"
    assert o.resource_dirs == (workdir,) and o.font_serif == "x.ttc#2" and not o.embed_fonts
    assert o.vertical and o.grayscale and o.page_size == "A5" and o.bleed == "3mm" and o.crop_marks
    assert o.pdf_variant == "pdf/a-3b" and o.duplex is False
    assert recorder.jobs == 3 and task.overwrite is False
    assert task.targets == {"pdf": workdir / "a.pdf"}


@pytest.mark.parametrize("args, message", [
    (["epub", "a.md", "--jobs", "0"], "--jobs"),
    (["epub", "a.md", "--metadata", "author"], "KEY=VALUE"),
    (["epub", "a.md", "--mirror", "https://x/"], "KEY=VALUE"),
    (["build", "a.md", "--format", "epub,docx"], "docx"),
    (["epub", "a.md", "--no-cover", "--cover", "a.md"], "--cover and --no-cover"),
    (["epub", "a.md", "-q", "-v"], "--quiet and --verbose"),
    (["epub"], "INPUT"),
    (["epub", "a.md", "--bogus"], "--bogus"),
    (["epub", "a.md", "--config", "missing.toml"], "missing.toml"),
    (["pdf", "a.md", "--page-size", "A99"], "page size 'A99'"),
    (["build", "a.md", "--bleed", "lots"], "bleed 'lots'"),
    (["pdf", "a.md", "--pdf-variant", "pdf/x-9"], "--pdf-variant"),
])
def test_usage_errors_exit_2(runner, workdir, recorder, args, message):
    _md(workdir / "a.md")
    result = runner.invoke(cli.cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert recorder.tasks == []


def test_output_is_a_file_for_one_input_and_a_folder_otherwise(runner, workdir, recorder):
    a, b = _md(workdir / "in" / "a.md"), _md(workdir / "in" / "b.md")
    assert runner.invoke(cli.cli, ["epub", str(a), "-o", "book.epub"]).exit_code == 0
    assert recorder.tasks[0].targets == {"epub": Path("book.epub")}
    assert runner.invoke(cli.cli, ["build", str(a), "-o", "out"]).exit_code == 0
    assert recorder.tasks[0].targets == {"epub": Path("out/a.epub"), "pdf": Path("out/a.pdf")}
    assert runner.invoke(cli.cli, ["epub", str(a), str(b), "-o", "out"]).exit_code == 0
    assert [t.targets["epub"] for t in recorder.tasks] == [Path("out/a.epub"), Path("out/b.epub")]
    assert runner.invoke(cli.cli, ["epub", str(a), "-o", "dir/"]).exit_code == 0
    assert recorder.tasks[0].targets == {"epub": Path("dir/a.epub")}
    # the rule: a path not ending in .epub/.pdf is a folder, even for one input and one format
    assert runner.invoke(cli.cli, ["epub", str(a), "-o", "books2"]).exit_code == 0
    assert recorder.tasks[0].targets == {"epub": Path("books2/a.epub")}
    assert runner.invoke(cli.cli, ["pdf", str(a), "-o", "Book.PDF"]).exit_code == 0
    assert recorder.tasks[0].targets == {"pdf": Path("Book.PDF")}
    recorder.tasks = []
    for args, message in [(["epub", str(a), str(b), "-o", "file.epub"], "names one book, but 2 input(s)"),
                          (["build", str(a), "-o", "a.epub"], "1 input(s) × 2 format(s) make 2"),
                          (["epub", str(a), "-o", "a.pdf"], "the EPUB book needs a name ending in .epub"),
                          (["build", str(a), "-o", "-"], "writes one book to standard output, but")]:
        result = runner.invoke(cli.cli, args)
        assert result.exit_code == 2 and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and recorder.tasks == []
    (workdir / "file").write_bytes(b"")
    result = runner.invoke(cli.cli, ["epub", str(a), str(b), "-o", "file"])
    assert result.exit_code == 2 and "must be a folder" in result.stderr


def test_config_output_follows_the_same_rule(runner, workdir, recorder):
    src = _md(workdir / "a.md")
    (workdir / "interview-export.toml").write_text('output = "books"\n', encoding="utf-8")
    assert runner.invoke(cli.cli, ["epub", str(src)]).exit_code == 0
    assert recorder.tasks[0].targets == {"epub": workdir / "books" / "a.epub"}
    (workdir / "interview-export.toml").write_text('output = "mine.epub"\n', encoding="utf-8")
    assert runner.invoke(cli.cli, ["epub", str(src)]).exit_code == 0
    assert recorder.tasks[0].targets == {"epub": workdir / "mine.epub"}


def test_folders_globs_and_skip_variants(runner, workdir, recorder):
    _md(workdir / "in" / "x" / "x.md")
    _md(workdir / "in" / "x" / "x-remote.md")
    _md(workdir / "in" / "x" / "x-standalone.md")
    assert runner.invoke(cli.cli, ["epub", "in"]).exit_code == 0
    assert len(recorder.tasks) == 3
    assert runner.invoke(cli.cli, ["epub", "in", "--skip-variants"]).exit_code == 0
    assert [Path(t.source).name for t in recorder.tasks] == ["x.md"]
    assert runner.invoke(cli.cli, ["epub", "in/*/*-remote.md"]).exit_code == 0  # a glob no shell expanded
    assert [Path(t.source).name for t in recorder.tasks] == ["x-remote.md"]


# ---------------------------------------------------------------- config file
CONFIG = """
page-size = "A5"
offline = true
jobs = 3
format = "epub"
output = "books"
mirror = ["https://cdn.jsdelivr.net/=http://config/", "https://other/=http://config-other/"]
css = ["extra.css"]
no-clobber = true

[metadata]
author = "配置作者"
publisher = "配置出版社"
"""


def test_config_gives_defaults_and_command_line_wins(runner, workdir, recorder):
    (workdir / "interview-export.toml").write_text(CONFIG, encoding="utf-8")
    (workdir / "extra.css").write_text("p{}", encoding="utf-8")
    src = _md(workdir / "a.md")
    named = ["--config", str(workdir / "interview-export.toml")]   # named: its mirrors are allowed
    result = runner.invoke(cli.cli, ["build", str(src), *named])
    assert result.exit_code == 0, result.stderr
    [task] = recorder.tasks
    assert task.options.page_size == "A5" and task.options.offline
    assert recorder.jobs == 3 and task.overwrite is False
    assert task.targets == {"epub": workdir / "books" / "a.epub"}
    assert dict(task.options.metadata) == {"author": "配置作者", "publisher": "配置出版社"}
    assert task.options.css == (workdir / "extra.css",)

    result = runner.invoke(cli.cli, [
        "build", str(src), *named, "--page-size", "B5", "--jobs", "1", "-f", "pdf", "-o", "elsewhere/", "--force",
        "--metadata", "author=命令行", "--mirror", "https://cdn.jsdelivr.net/=http://cli/"])
    assert result.exit_code == 0, result.stderr
    [task] = recorder.tasks
    assert task.options.page_size == "B5" and task.options.offline  # offline still from the config
    assert recorder.jobs == 1 and task.overwrite is True
    assert task.targets == {"pdf": Path("elsewhere") / "a.pdf"}
    assert dict(task.options.metadata) == {"author": "命令行", "publisher": "配置出版社"}
    assert dict(task.options.mirrors) == {"https://cdn.jsdelivr.net/": "http://cli/", "https://other/": "http://config-other/"}


def test_command_line_cover_choice_beats_the_config(runner, workdir, recorder):
    (workdir / "c.jpg").write_bytes(b"")
    (workdir / "interview-export.toml").write_text('cover = "c.jpg"\n', encoding="utf-8")
    src = _md(workdir / "a.md")
    assert runner.invoke(cli.cli, ["epub", str(src), "--no-cover"]).exit_code == 0
    assert recorder.tasks[0].options.no_cover and recorder.tasks[0].options.cover is None
    (workdir / "interview-export.toml").write_text("no-cover = true\n", encoding="utf-8")
    assert runner.invoke(cli.cli, ["epub", str(src), "--cover", "c.jpg"]).exit_code == 0
    assert not recorder.tasks[0].options.no_cover and recorder.tasks[0].options.cover == Path("c.jpg")


def test_config_flag_and_bad_config(runner, workdir, recorder, tmp_path):
    src = _md(workdir / "a.md")
    other = workdir / "conf" / "my.toml"
    other.parent.mkdir()
    other.write_text('page-size = "letter"\ncover = "c.jpg"\n', encoding="utf-8")
    (other.parent / "c.jpg").write_bytes(b"")
    result = runner.invoke(cli.cli, ["epub", str(src), "--config", str(other)])
    assert result.exit_code == 0, result.stderr
    assert recorder.tasks[0].options.page_size == "letter"
    assert recorder.tasks[0].options.cover == other.parent / "c.jpg"  # relative to the config file

    other.write_text('page_sise = "A5"\n', encoding="utf-8")
    result = runner.invoke(cli.cli, ["epub", str(src), "--config", str(other)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "unknown setting 'page_sise'" in result.stderr
    other.write_text('jobs = "two"\n', encoding="utf-8")
    result = runner.invoke(cli.cli, ["epub", str(src), "--config", str(other)])
    assert result.exit_code == 2 and "jobs" in result.stderr
    other.write_text('jobs = [\n', encoding="utf-8")
    result = runner.invoke(cli.cli, ["epub", str(src), "--config", str(other)])
    assert result.exit_code == 2 and "not a valid TOML" in result.stderr


# ---------------------------------------------------------------- exit codes, messages, report
def test_all_converted_exit_0_with_summary(runner, workdir, recorder):
    a, b = _md(workdir / "a.md"), _md(workdir / "b.md")
    result = runner.invoke(cli.cli, ["epub", str(a), str(b)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert f"interview-export: warning: {a}: a warning" in result.stderr
    assert "converted " + str(a) in result.stderr
    assert "2 converted, 2 warning(s), 0 failed in" in result.stderr
    quiet = runner.invoke(cli.cli, ["epub", str(a), "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_failure_exit_1_one_line_errors_summary_and_report(runner, workdir, monkeypatch):
    monkeypatch.setattr(batch, "run", Recorder(fail={"bad.md"}))
    good, bad = _md(workdir / "good.md"), _md(workdir / "bad.md")
    result = runner.invoke(cli.cli, ["epub", str(good), str(bad), "--report", "r.json"])
    assert result.exit_code == 1
    assert f"interview-export: error: {bad}: undecodable bytes at byte offset 7\n" in result.stderr
    assert "1 converted, 1 warning(s), 1 failed" in result.stderr
    assert result.stderr.count("undecodable bytes") == 1, "one problem, one line"
    report = json.loads((workdir / "r.json").read_text(encoding="utf-8"))
    assert report["summary"]["failed"] == 1 and report["summary"]["converted"] == 1
    assert report["failures"] == [{"input": str(bad), "error": "undecodable bytes at byte offset 7"}]
    assert [f["status"] for f in report["files"]] == ["ok", "failed"]


def test_internal_error_is_one_line_unless_verbose(runner, workdir, monkeypatch):
    monkeypatch.setattr(batch, "run", Recorder(raise_exc=RuntimeError("kaputt")))
    src = _md(workdir / "a.md")
    result = runner.invoke(cli.cli, ["epub", str(src)])
    assert result.exit_code == 1
    assert result.stderr == ("interview-export: error: internal error: RuntimeError: kaputt "
                             "(run with -v for the traceback)\n")
    result = runner.invoke(cli.cli, ["epub", str(src), "-v"])
    assert result.exit_code == 1 and "Traceback" in result.stderr and "kaputt" in result.stderr


def test_interrupt_exit_130_and_report_says_so(runner, workdir, monkeypatch):
    monkeypatch.setattr(batch, "run", Recorder(raise_exc=KeyboardInterrupt()))
    src = _md(workdir / "a.md")
    result = runner.invoke(cli.cli, ["epub", str(src), "--report", "r.json"])
    assert result.exit_code == 130 and "interrupted" in result.stderr
    report = json.loads((workdir / "r.json").read_text(encoding="utf-8"))
    assert report["summary"]["interrupted"] is True
    assert report["files"][0]["status"] == "not started"
    monkeypatch.setattr(batch, "run", Recorder(raise_exc=batch.Terminated(signal.SIGTERM)))
    assert runner.invoke(cli.cli, ["epub", str(src)]).exit_code == 143


def test_fake_conversion_end_to_end_in_process(runner, workdir, monkeypatch):
    """The real batch/api path (jobs=1) with fake stages: files are written, a missing one fails."""

    def convert_file(source, targets, options, *, overwrite=True):
        if not Path(source).exists():
            return api.ConversionResult(source, error="no such file", error_type="InputError")
        return api.ConversionResult(source, {f: api.write_atomic(p, b"x") for f, p in targets.items()})

    monkeypatch.setattr(pipeline, "convert_file", convert_file)
    src = _md(workdir / "a.md")
    result = runner.invoke(cli.cli, ["build", str(src), "nope.md", "-o", "out", "--jobs", "1", "--profile"])
    assert result.exit_code == 1
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["a.epub", "a.pdf"]
    assert "interview-export: error: nope.md: no such file" in result.stderr


@pytest.mark.parametrize("source, warning, line", [
    ("a/b.md", "a/b.md:3: image x.png: 404", "a/b.md:3: image x.png: 404"),
    ("a/b.md", "no font covers 1 character: U+2A6D6", "a/b.md: no font covers 1 character: U+2A6D6"),
    ("-", "<stdin>:63: image pages-per-year.png: file not found", "<stdin>:63: image pages-per-year.png: file not found"),
    ("-", "empty\ndocument", "<stdin>: empty document"),
])
def test_warnings_are_one_line_naming_the_input(source, warning, line):
    assert cli._warning_text(source, warning) == line


def test_progress_bar_on_a_terminal_names_files(capsys):
    reporter = cli.Reporter(2, quiet=False, verbose=False, profile=False, tty=True)
    reporter.start("dir/first.md")
    reporter.result(api.ConversionResult("dir/first.md", {"epub": Path("first.epub")}))
    reporter.result(api.ConversionResult("dir/second.md", error="broken"))
    reporter.close()
    err = capsys.readouterr().err
    assert "converted dir/first.md → first.epub" in err
    assert "interview-export: error: dir/second.md: broken" in err


# ---------------------------------------------------------------- real stages (no fakes)
needs_example = pytest.mark.skipif(not EXAMPLE.is_file(), reason="examples/sample-interview.md not there yet")


@needs_example
def test_inspect_json_and_text(runner):
    result = runner.invoke(cli.cli, ["inspect", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"meta", "sections", "speakers", "turns", "quotes", "images", "cover", "warnings"} <= set(data)
    result = runner.invoke(cli.cli, ["inspect", str(EXAMPLE), "--images", "--json", "--offline", "--no-cache"])
    assert result.exit_code == 0, result.stderr
    assert all(image.get("status") in ("ok", "cached") for image in json.loads(result.stdout)["images"])
    text = runner.invoke(cli.cli, ["inspect", str(EXAMPLE)])
    assert text.exit_code == 0 and data["meta"]["title"] in text.stdout


def test_inspect_errors_are_one_line(runner, workdir):
    result = runner.invoke(cli.cli, ["inspect", "nope.md"])
    assert result.exit_code == 1 and result.stderr == "interview-export: error: nope.md: no such file\n"
    (workdir / "bad.md").write_bytes(b"# x\n\xff\xfe\xff")
    result = runner.invoke(cli.cli, ["inspect", "bad.md"])
    assert result.exit_code == 1 and "byte offset" in result.stderr and result.stderr.count("\n") == 1


@needs_example
def test_stdin_to_epub(runner, workdir):
    result = runner.invoke(cli.cli, ["epub", "-", "--offline", "--no-cache", "--jobs", "1"],
                           input=EXAMPLE.read_bytes())
    assert result.exit_code == 0, result.stderr
    with zipfile.ZipFile(workdir / "stdin.epub") as z:
        assert z.read("mimetype") == b"application/epub+zip"


# ---------------------------------------------------------------- subprocess runs
DRIVER = """
import os, sys, time
from interview_export import api, cli, pipeline

real_fsync = os.fsync

def stuck_fsync(fd):          # every book hangs half-written in its temp file (the report does not)
    if ".epub." in os.readlink(f"/proc/self/fd/{fd}") or ".pdf." in os.readlink(f"/proc/self/fd/{fd}"):
        time.sleep(120)
    real_fsync(fd)

def convert_file(source, targets, options, *, overwrite=True, backends=None):
    outputs = {fmt: api.write_atomic(path, b"%PDF-partial" * 10000) for fmt, path in targets.items()}
    return api.ConversionResult(source, outputs)

os.fsync = stuck_fsync
pipeline.convert_file = convert_file
cli.main()
"""


@pytest.mark.parametrize("jobs, sig, code", [(2, signal.SIGINT, 130), (1, signal.SIGINT, 130),
                                            (2, signal.SIGTERM, 143)])
def test_signal_mid_batch_leaves_no_partial_files_and_no_workers(tmp_path, jobs, sig, code):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    inputs = [str(_md(tmp_path / "in" / f"a{i}.md")) for i in range(6)]
    out = tmp_path / "out"
    proc = Proc([str(driver), "build", *inputs, "-o", str(out), "-v", "--jobs", str(jobs),
                 "--report", str(tmp_path / "report.json")], cwd=tmp_path)
    proc.wait_for(lambda: "converting" in proc.stderr)
    proc.wait_for(lambda: len(list(out.glob(f".*{api.TEMP_SUFFIX}"))) >= jobs)
    workers = sorted(children_of(proc.popen.pid))
    # --jobs 1 on two CPUs: the PDF rendering process (overlap.py), forked before the first book
    assert len(workers) == (jobs if jobs > 1 else int(len(os.sched_getaffinity(0)) > 1))
    proc.popen.send_signal(sig)
    assert proc.finish() == code
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [], "no partial .epub/.pdf and no temp files"
    deadline = time.monotonic() + 5
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(running(pid) for pid in workers), "worker processes left behind"
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["interrupted"] is True and len(report["files"]) == 6


def LOCAL_ONLY(server) -> list[str]:
    """Mirrors that keep every image request on the test's own server (WeChat hosts → 404 there)."""
    return ["--mirror", f"https://cdn.jsdelivr.net/={server.url}",
            "--mirror", f"https://mmbiz.qpic.cn/={server.url}unreachable/",
            "--mirror", f"https://mpvideo.qpic.cn/={server.url}unreachable/"]


@pytest.mark.corpus
def test_sigint_during_real_conversion(tmp_path, corpus, seed, cdn_server):
    articles = sorted(str(p) for p in (corpus / "articles").glob("*/*.md")
                      if not p.stem.endswith(("-remote", "-standalone")))
    out = tmp_path / "out"
    proc = Proc(["-m", "interview_export", "build", str(seed), *articles, "-o", str(out), "-v", "--jobs", "2",
                 *LOCAL_ONLY(cdn_server), "--cache-dir", str(tmp_path / "cache")], cwd=tmp_path)
    proc.wait_for(lambda: proc.stderr.count("converting") >= 2)
    time.sleep(1.0)
    workers = sorted(children_of(proc.popen.pid))
    proc.popen.send_signal(signal.SIGINT)
    assert proc.finish() == 130
    assert "Traceback" not in proc.stderr
    leftovers = sorted(p.name for p in out.glob("*")) if out.exists() else []
    assert not [n for n in leftovers if n.endswith(api.TEMP_SUFFIX)]
    for name in leftovers:  # books finished before the signal are complete
        data = (out / name).read_bytes()
        if name.endswith(".pdf"):
            assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        else:
            assert zipfile.ZipFile(out / name).testzip() is None
    deadline = time.monotonic() + 5
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers and not any(running(pid) for pid in workers)


@pytest.mark.corpus
def test_batch_with_corrupt_and_missing_inputs(tmp_path, corpus, seed, cdn_server):
    corrupt = tmp_path / "corrupt.md"
    corrupt.write_bytes("# 标题\n\n正文".encode() + b"\xff\xfe\xff\n")
    missing = tmp_path / "missing.md"
    article = corpus / "articles" / "claude-code-efficiency-ask-user-question-tool" / \
        "claude-code-efficiency-ask-user-question-tool.md"
    out = tmp_path / "out"
    proc = Proc(["-m", "interview_export", "build", str(seed), str(corrupt), str(article), str(missing),
                 "-o", str(out), "--jobs", "2", *LOCAL_ONLY(cdn_server),
                 "--cache-dir", str(tmp_path / "cache"), "--report", str(tmp_path / "report.json")], cwd=tmp_path)
    assert proc.finish(timeout=300) == 1, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{seed.stem}.epub", f"{seed.stem}.pdf", f"{article.stem}.epub", f"{article.stem}.pdf"])
    assert f"interview-export: error: {corrupt}: " in proc.stderr and "byte offset" in proc.stderr
    assert f"interview-export: error: {missing}: no such file" in proc.stderr
    assert "2 converted" in proc.stderr and "2 failed" in proc.stderr
    assert proc.stderr.count(f"{missing}: no such file") == 1 and "failed:" not in proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    failures = {f["input"]: f["error"] for f in report["failures"]}
    assert set(failures) == {str(corrupt), str(missing)}
    assert "byte offset" in failures[str(corrupt)] and failures[str(missing)] == "no such file"
    assert report["summary"]["converted"] == 2 and report["summary"]["failed"] == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_killed_parent_takes_its_workers_and_their_temp_files_along(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    inputs = [str(_md(tmp_path / "in" / f"a{i}.md")) for i in range(4)]
    out = tmp_path / "out"
    proc = Proc([str(driver), "epub", *inputs, "-o", str(out), "-v", "--jobs", "2"], cwd=tmp_path)
    proc.wait_for(lambda: len(list(out.glob(f".*{api.TEMP_SUFFIX}"))) >= 2)
    workers = sorted(children_of(proc.popen.pid))
    assert len(workers) == 2
    proc.popen.kill()  # SIGKILL: no chance to clean up in the parent
    assert proc.finish() == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while (any(running(pid) for pid in workers) or list(out.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(running(pid) for pid in workers), "workers outlived their parent"
    assert list(out.iterdir()) == [], "the workers removed their temp files"


# ---------------------------------------------------------------- Ctrl-C while a class is being made
SET_NAME_DRIVER = """
import functools, os, signal, sys
from interview_export import cli
set_name, where = functools.cached_property.__set_name__.__code__, sys.argv.pop(1)

def hook(frame, event, arg):   # Ctrl-C arrives while type() (or its caller) runs a __set_name__
    if event == "call" and frame.f_code is set_name and frame.f_back.f_code.co_name == where:
        sys.setprofile(None)
        os.kill(os.getpid(), signal.SIGINT)

sys.setprofile(hook)
cli.main()
"""


@pytest.mark.parametrize("where", ["_remembering",   # the first PDF's object classes (weasy_speed)
                                   "<module>"])      # a class in a module imported while converting
def test_ctrl_c_while_a_class_is_made_is_an_interrupt_not_a_failure(tmp_path, where):
    """Python 3.11 turns an exception raised in a descriptor's __set_name__ (so a Ctrl-C landing
    there) into RuntimeError: the book was reported as failed ("PDF rendering failed: RuntimeError:
    Error calling __set_name__"), exit 1, instead of interrupted."""
    driver = tmp_path / "driver.py"
    driver.write_text(SET_NAME_DRIVER, encoding="utf-8")
    source = _md(tmp_path / "a.md")
    proc = subprocess.run([sys.executable, str(driver), where, "pdf", str(source), "-o", str(tmp_path / "a.pdf")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "INTERVIEW_EXPORT_OVERLAP": "0"})
    assert (proc.returncode, proc.stderr) == (130, "interview-export: interrupted\n")
    assert not (tmp_path / "a.pdf").exists()


# ---------------------------------------------------------------- start-up cost of the one-book EPUB path
LEAN_DRIVER = """
import sys
from interview_export import cli
try:
    cli.main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = ("rich", "pygments", "multiprocessing", "concurrent.futures.process", "tomllib", "yaml", "weasyprint",
         "interview_export.backends.pdf", "interview_export.weasy_cjk", "pyphen", "tinycss2", "fontTools",
         "dask", "distributed", "opencc", "importlib.metadata",
         "PIL.WebPImagePlugin", "PIL.TiffImagePlugin", "PIL.AvifImagePlugin",   # a PNG needs none of them
         "interview_export.usercss")   # no --css
linebreak = sys.modules.get("interview_export.linebreak")   # squeezed only: the PDF's patterns stay uncompiled
compiled = ["linebreak._rx"] if linebreak and linebreak._rx.cache_info().currsize else []
print(code, sorted(m for m in heavy if m in sys.modules) + compiled)
"""


def test_one_epub_loads_no_pool_progress_bar_or_pdf_machinery(tmp_path):
    # rich (the progress bar), the process pool, TOML, YAML, WeasyPrint and the PDF
    # backend (pyphen, tinycss2, fontTools), Dask, OpenCC and importlib.metadata cost start-up time
    # on every run: one book to EPUB, quiet, no config and no front matter needs none
    image = tmp_path / "in" / "p.png"
    image.parent.mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 10, 10)).save(image)
    source = _md(tmp_path / "in" / "a.md", "# 标题\n\n“正文。”\n\n![图](p.png)\n")
    driver = tmp_path / "driver.py"
    driver.write_text(LEAN_DRIVER, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(driver), "epub", str(source), "-o", str(tmp_path / "a.epub"),
                           "-q", "-j1", "--no-cache", "--offline"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "0 []", proc.stdout + proc.stderr
    assert zipfile.is_zipfile(tmp_path / "a.epub")



EXIT_DRIVER = """
import atexit, gc, os, sys
from interview_export import cli

class Sentinel:
    def __del__(self, write=os.write):       # runs only if the interpreter tears the modules down
        write(2, b"torn down\\n")

KEEP = Sentinel()
atexit.register(lambda: sys.stderr.write(f"atexit ran, gc {'on' if gc.isenabled() else 'off'}\\n"))
sys.argv = ["interview-export", *sys.argv[1:]]
cli.main()
"""


@pytest.mark.parametrize("args, code, gc_state", [
    (["inspect", "--json", "{src}"], 0, "on"),
    (["epub", "{src}", "-q"], 0, "off"),                  # one book: no cyclic collector
    (["epub", "{src}", "{src2}", "-q", "-j1"], 0, "on"),    # a batch keeps it
    (["epub", "{missing}", "-q"], 1, "off"),
    (["epub", "{src}", "--jobs", "0"], 2, "on"),
])
def test_program_exit_skips_teardown_but_keeps_exit_code_atexit_and_output(tmp_path, args, code, gc_state):
    source = _md(tmp_path / "a.md", "# 标题\n\n" + "正文。" * 3000 + "\n")
    driver = tmp_path / "driver.py"
    driver.write_text(EXIT_DRIVER, encoding="utf-8")
    argv = [a.format(src=source, src2=_md(tmp_path / "b.md"), missing=tmp_path / "missing.md") for a in args]
    proc = subprocess.run([sys.executable, str(driver), *argv, "--offline", "--no-cache"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert f"atexit ran, gc {gc_state}" in proc.stderr and "torn down" not in proc.stderr
    if args[0] == "inspect":   # a long stdout arrives whole before the process ends
        assert json.loads(proc.stdout)["meta"]["title"] == "标题"


def test_program_exit_is_normal_under_a_tracer(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text("import sys\nsys.settrace(lambda *a: None)\n" + EXIT_DRIVER, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(driver), "--version"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "torn down" in proc.stderr and "atexit ran" in proc.stderr
