"""api: atomic writes, input expansion, output planning, convert() with fake and real stages."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from interview_export import api, pipeline
from interview_export.errors import InputError, OutputError, UsageError
from interview_export.model import Meta
from interview_export.options import Options

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "sample-interview.md"


# ---------------------------------------------------------------- write_atomic
def test_write_atomic_writes_and_replaces(tmp_path):
    target = tmp_path / "sub" / "book.epub"
    assert api.write_atomic(target, b"one") == target
    api.write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["book.epub"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_write_atomic_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch, exc):
    target = tmp_path / "book.pdf"
    target.write_bytes(b"old")

    def broken_fsync(fd):
        assert api.temp_files_for(target), "the temp file exists while writing"
        raise exc

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OutputError if isinstance(exc, OSError) else KeyboardInterrupt) as info:
        api.write_atomic(target, b"new")
    if isinstance(exc, OSError):
        assert "No space left" in str(info.value)
    assert target.read_bytes() == b"old"
    assert api.temp_files_for(target) == []
    assert api.ACTIVE_TEMP_FILES == set()


def test_write_atomic_refuses_a_directory(tmp_path):
    (tmp_path / "x.epub").mkdir()
    with pytest.raises(OutputError, match="directory"):
        api.write_atomic(tmp_path / "x.epub", b"data")


def test_remove_temp_files_only_touches_our_temp_names(tmp_path):
    target = tmp_path / "a.epub"
    ours = tmp_path / f".a.epub.xyz{api.TEMP_SUFFIX}"
    other = tmp_path / f".b.epub.xyz{api.TEMP_SUFFIX}"
    ours.write_bytes(b"partial")
    other.write_bytes(b"partial")
    assert api.remove_temp_files([target]) == [ours]
    assert not ours.exists() and other.exists()


# ---------------------------------------------------------------- inputs and outputs
def _touch(path: Path, text: str = "# t\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_expand_inputs_folders_globs_variants_and_missing(tmp_path):
    a = _touch(tmp_path / "in" / "a" / "a.md")
    a_remote = _touch(tmp_path / "in" / "a" / "a-remote.md")
    lone_remote = _touch(tmp_path / "in" / "b" / "b-remote.md")   # no b.md: not a twin
    _touch(tmp_path / "in" / ".hidden" / "h.md")
    _touch(tmp_path / "in" / "notes.txt")
    folder = str(tmp_path / "in")
    assert api.expand_inputs([folder]) == [str(a_remote), str(a), str(lone_remote)]
    assert api.expand_inputs([folder], skip_variants=True) == [str(a), str(lone_remote)]
    # a glob the shell did not expand; a missing name is kept so that it fails visibly
    pattern = str(tmp_path / "in" / "*" / "*.md")
    missing = str(tmp_path / "nope.md")
    assert api.expand_inputs([pattern, missing, str(a), "-"]) == [str(a_remote), str(a), str(lone_remote), missing, "-"]
    # a twin named explicitly is kept even with skip_variants
    assert api.expand_inputs([str(a_remote)], skip_variants=True) == [str(a_remote)]
    # an unmatched glob stays as written
    assert api.expand_inputs([str(tmp_path / "zz*.md")]) == [str(tmp_path / "zz*.md")]


def test_plan_outputs(tmp_path):
    a, b = str(tmp_path / "x" / "a.md"), str(tmp_path / "y" / "b.md")
    plan = api.plan_outputs([a, b], ["epub", "PDF"])
    assert plan[a] == {"epub": tmp_path / "x" / "a.epub", "pdf": tmp_path / "x" / "a.pdf"}
    plan = api.plan_outputs([a, b], ["epub"], tmp_path / "out")
    assert plan[b] == {"epub": tmp_path / "out" / "b.epub"}
    assert api.plan_outputs([a], ["pdf"], output=tmp_path / "book.pdf")[a] == {"pdf": tmp_path / "book.pdf"}
    assert api.plan_outputs(["-"], ["epub"], tmp_path)["-"] == {"epub": tmp_path / "stdin.epub"}


@pytest.mark.parametrize("call, message", [
    (lambda t: api.plan_outputs([str(t / "x" / "a.md"), str(t / "y" / "a.md")], ["epub"], t), "both be written"),
    (lambda t: api.plan_outputs([str(t / "a.md")], ["epub"], output=t / "a.md"), "overwrite the input"),
    (lambda t: api.plan_outputs([str(t / "a.md")], ["docx"]), "unknown format"),
    (lambda t: api.plan_outputs([str(t / "a.md"), str(t / "b.md")], ["epub"], output=t / "o.epub"), "exactly one"),
])
def test_plan_outputs_usage_errors(tmp_path, call, message):
    with pytest.raises(UsageError, match=message):
        call(tmp_path)


# ---------------------------------------------------------------- convert() with fake stages
@dataclass
class FakeBag:
    missing_srcs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def missing(self):
        return [_Placeholder(src) for src in self.missing_srcs]


@dataclass
class _Placeholder:
    src: str
    line: int = 3
    reason: str = "HTTP 404"
    ok: bool = False


@dataclass
class FakeDoc:
    name: str
    warnings: tuple[str, ...] = ()
    meta: Meta = field(default_factory=lambda: Meta(language="zh-CN"))   # the book language the fonts need


class Stages:
    """Replaces the stage calls inside api with counting fakes (in this process only)."""

    def __init__(self, monkeypatch, *, missing=(), fail=None, crash=None):
        self.calls: list[tuple[str, str]] = []
        self.backend_args: list[tuple[object, object]] = []
        self.missing, self.fail, self.crash = list(missing), fail, crash
        monkeypatch.setattr(pipeline, "load", self.load)
        import interview_export.fonts as fonts_mod
        import interview_export.media as media_mod
        monkeypatch.setattr(media_mod, "collect_media", self.collect_media)
        monkeypatch.setattr(fonts_mod, "resolve_fonts", self.resolve_fonts)
        from interview_export.backends import BACKENDS

        for fmt in ("epub", "pdf"):
            monkeypatch.setitem(BACKENDS, fmt, lambda book, fmt=fmt: self.build(fmt, book))

    def load(self, path, options=Options(), *, _clock=None):
        self.calls.append(("load", str(path)))
        if self.fail and self.fail in str(path):
            raise InputError("undecodable bytes at byte offset 3", path=str(path))
        if not Path(path).exists():
            raise InputError("no such file", path=str(path))
        return FakeDoc(str(path), (f"{path}:1: a reader warning",))

    def collect_media(self, doc, base_dir, options=Options(), *, fetcher=None, targets=("epub", "pdf")):
        self.calls.append(("media", doc.name))
        self.targets = targets
        assert options.strict is False, "api asks for placeholders and decides --strict itself"
        return FakeBag(self.missing, [f"{doc.name}: image warning"])

    def resolve_fonts(self, text, options=Options(), *, language=""):
        self.calls.append(("fonts", text))
        return object()

    def build(self, fmt, book):
        doc = book.doc
        self.calls.append((fmt, doc.name))
        self.backend_args.append((book.media, book.fonts))
        if self.crash and self.crash in doc.name:
            raise RuntimeError("boom")
        return f"{fmt}:{doc.name}".encode(), []


def test_convert_returns_per_file_results_without_printing(tmp_path, monkeypatch, capsys):
    Stages(monkeypatch, fail="bad")
    monkeypatch.setattr("interview_export.render.book_text", lambda doc, options=None: "text")
    good = _touch(tmp_path / "good.md")
    bad = _touch(tmp_path / "bad.md")
    missing = tmp_path / "missing.md"
    seen = []
    results = api.convert([good, bad, missing], out_dir=tmp_path / "out", jobs=1, on_result=seen.append)
    assert [r.input for r in results] == [str(good), str(bad), str(missing)]
    assert seen == results
    ok, failed, gone = results
    assert ok.status == "ok" and ok.error is None
    assert ok.outputs == {"epub": tmp_path / "out" / "good.epub", "pdf": tmp_path / "out" / "good.pdf"}
    assert (tmp_path / "out" / "good.pdf").read_bytes() == f"pdf:{good}".encode()
    assert ok.warnings == (f"{good}:1: a reader warning", f"{good}: image warning")
    assert set(ok.timings) >= {"media", "fonts", "epub", "pdf", "write"}
    assert failed.status == "failed" and failed.error == "undecodable bytes at byte offset 3"
    assert failed.error_type == "InputError" and failed.outputs == {}
    assert gone.error == "no such file"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.epub", "good.pdf"]
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_media_and_fonts_are_prepared_once_and_shared_by_both_backends(tmp_path, monkeypatch):
    stages = Stages(monkeypatch)
    monkeypatch.setattr("interview_export.render.book_text", lambda doc, options=None: "text")
    src = _touch(tmp_path / "a.md")
    [result] = api.convert([src], ("epub", "pdf"), jobs=1)
    assert result.ok
    kinds = [kind for kind, _ in stages.calls]
    assert kinds == ["load", "media", "fonts", "epub", "pdf"]
    (media_epub, fonts_epub), (media_pdf, fonts_pdf) = stages.backend_args
    assert media_epub is media_pdf and fonts_epub is fonts_pdf


def test_strict_lists_every_missing_image_and_writes_nothing(tmp_path, monkeypatch):
    Stages(monkeypatch, missing=["https://x.test/1.png", "images/2.jpg"])
    monkeypatch.setattr("interview_export.render.book_text", lambda doc, options=None: "text")
    src = _touch(tmp_path / "a.md")
    [result] = api.convert([src], options=Options(strict=True), jobs=1)
    assert result.status == "failed"
    assert "2 image(s) missing" in result.error
    assert "https://x.test/1.png (line 3): HTTP 404" in result.error and "images/2.jpg" in result.error
    assert not (tmp_path / "a.epub").exists() and not (tmp_path / "a.pdf").exists()
    # without --strict the same bag gives books (with placeholders)
    [result] = api.convert([src], options=Options(), jobs=1)
    assert result.ok and (tmp_path / "a.epub").exists()


def test_internal_error_is_a_result_not_an_exception(tmp_path, monkeypatch):
    Stages(monkeypatch, crash="boom")
    monkeypatch.setattr("interview_export.render.book_text", lambda doc, options=None: "text")
    first, second = _touch(tmp_path / "boom.md"), _touch(tmp_path / "fine.md")
    r1, r2 = api.convert([first, second], ("epub",), jobs=1)
    assert r1.error == "internal error: RuntimeError: boom" and r1.error_type == "internal"
    assert "Traceback" in r1.traceback
    assert r2.ok and r2.outputs == {"epub": tmp_path / "fine.epub"}


def test_no_overwrite_skips_existing_outputs(tmp_path, monkeypatch):
    stages = Stages(monkeypatch)
    monkeypatch.setattr("interview_export.render.book_text", lambda doc, options=None: "text")
    src = _touch(tmp_path / "a.md")
    (tmp_path / "a.epub").write_bytes(b"keep me")
    [result] = api.convert([src], ("epub",), overwrite=False, jobs=1)
    assert result.status == "skipped" and result.skipped == {"epub": tmp_path / "a.epub"}
    assert (tmp_path / "a.epub").read_bytes() == b"keep me"
    assert stages.calls == []
    [result] = api.convert([src], ("epub", "pdf"), overwrite=False, jobs=1)
    assert result.status == "ok" and set(result.outputs) == {"pdf"} and set(result.skipped) == {"epub"}
    assert (tmp_path / "a.epub").read_bytes() == b"keep me"


def test_result_to_dict_is_json_ready(tmp_path):
    r = api.ConversionResult("a.md", {"epub": tmp_path / "a.epub"}, ("w",), None, {"read": 0.123456})
    d = r.to_dict()
    assert d == {"input": "a.md", "status": "ok", "outputs": {"epub": str(tmp_path / "a.epub")}, "skipped": {},
                 "warnings": ["w"], "error": None, "error_type": None, "timings": {"read": 0.1235}}


# ---------------------------------------------------------------- real stages
def test_load_missing_and_directory_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        api.load(tmp_path / "nope.md")
    with pytest.raises(InputError, match="folder"):
        api.load(tmp_path)


@pytest.mark.skipif(not EXAMPLE.is_file(), reason="examples/sample-interview.md not there yet")
def test_example_to_epub_and_pdf_bytes(tmp_path):
    options = Options(offline=True, cache_dir=tmp_path / "cache")
    doc = api.load(EXAMPLE, options)
    assert doc.meta.title
    media = api.collect_media(doc, options, base_dir=EXAMPLE.parent)
    fonts = api.resolve_fonts(doc, options)
    epub = api.to_epub(doc, options, media=media, fonts=fonts)
    pdf = api.to_pdf(doc, options, media=media, fonts=fonts)
    with zipfile.ZipFile(__import__("io").BytesIO(epub)) as z:
        assert z.read("mimetype") == b"application/epub+zip"
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")


@pytest.mark.corpus
def test_convert_seed_with_mirror(tmp_path, seed, cdn_server):
    options = Options(mirrors=(("https://cdn.jsdelivr.net/", cdn_server.url),), cache_dir=tmp_path / "cache")
    [result] = api.convert([seed], ("epub", "pdf"), tmp_path / "out", options, jobs=1)
    assert result.ok, result.error
    epub, pdf = result.outputs["epub"], result.outputs["pdf"]
    with zipfile.ZipFile(epub) as z:
        images = [n for n in z.namelist() if n.endswith((".jpg", ".jpeg")) and "/cover." not in n]
    assert len(images) == 5  # the seed's five remote images, all JPEG
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert set(result.timings) >= {"read", "transforms", "media", "fonts", "epub", "pdf", "write"}
    # every image fetched once, although two backends used them
    assert sorted(set(cdn_server.requests)) == sorted(cdn_server.requests)


@pytest.mark.skipif(not EXAMPLE.is_file(), reason="examples/sample-interview.md not there yet")
def test_examples_batch_script_uses_the_api(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "batch.py"), str(tmp_path / "out"),
                           "--offline", "--jobs", "1"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "1 converted, 0 failed" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["sample-interview.epub", "sample-interview.pdf"]
