"""Hostile content: scripts, frames, event handlers, javascript:/data:/file: links and images, local
files and remote hosts in Markdown, raw HTML and the user's --css — checked on the output bytes of
both backends, with a 127.0.0.1 server that records every request (it must get none).
The EPUB checkers and EPUBCheck runner the fuzz tests share live in tests/helpers.py.
"""

from __future__ import annotations

import http.server
import io
import os
import re
import subprocess
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from interview_export import api, render
from interview_export.options import Options
from interview_export.prepare import prepare

from helpers import (
    CLI,
    DANGEROUS_ELEMENTS,
    PASSWD_MARKER,
    assert_epub_inert,
    epub_members,
    epubcheck_errors,
    png_bytes,
    qpdf_check,
    xml_members,
)

SECRET_TEXT = "IE-SECRET-7f3a9c-不该出现"


# ---------------------------------------------------------------- a recording server, PDF checks
class RecordingServer:
    """127.0.0.1 HTTP server answering every method with something usable, recording each request."""

    def __init__(self):
        requests = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):
                pass

            def _answer(self):
                requests.append(f"{self.command} {self.path}")
                body = b"body { color: red }" if self.path.endswith(".css") else png_bytes((8, 6))
                self.send_response(200)
                self.send_header("Content-Type", "text/css" if self.path.endswith(".css") else "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = _answer

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recorder():
    server = RecordingServer()
    yield server
    server.stop()


def pdf_uncompressed(path: Path, tmp: Path) -> bytes:
    """The PDF with streams decompressed (qpdf --qdf), to grep its dictionaries and content."""
    out = tmp / (path.stem + ".qdf.pdf")
    proc = subprocess.run(["qpdf", "--qdf", "--object-streams=disable", str(path), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 3), proc.stderr
    return out.read_bytes()


def pdf_text(path: Path) -> str:
    proc = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode("utf-8")


def assert_pdf_inert(path: Path, tmp: Path, *, secrets: tuple[str, ...] = ()) -> str:
    qpdf_check(path)
    raw = pdf_uncompressed(path, tmp)
    for marker in (b"/JavaScript", b"/JS ", b"/JS(", b"/Launch", b"/SubmitForm", b"/ImportData",
                   b"/EmbeddedFile", b"/RichMedia", b"javascript:", b"file:///"):
        assert marker not in raw, f"{path.name}: {marker!r} in the PDF"
    assert PASSWD_MARKER not in raw
    text = pdf_text(path)
    assert "root:x:0:0" not in text
    for secret in secrets:
        assert secret not in text
    return text


# ---------------------------------------------------------------- the hostile article
HOSTILE_MD = """\
---
title: 危险<script>alert('title')</script>访谈
url: javascript:alert('url')
cover: {secret_png_url}
---

<script>alert('block')</script>

<iframe src="{server}frame.html" onload="alert(1)"></iframe>

<object data="{passwd_url}" type="text/plain"></object><embed src="{server}embed.swf">

<link rel="stylesheet" href="{server}linked.css"><link rel="stylesheet" href="{passwd_url}">

<style>@import url("{server}imported.css"); @import "{passwd_url}"; body {{ background: url({server}bg.png) }}</style>

<img src="{passwd_url}" onerror="alert('img')"><img src="{server}raw-img.png">

<svg onload="alert('svg')"><script>alert(2)</script><image href="{server}svg.png"/></svg>

<div onclick="alert('div')" style="background:url({server}inline-style.png)">点我 <a href="javascript:alert('a')" onmouseover="x()">链接</a></div>

## 一、开场

**主持人**：你好<script>alert('inline')</script>，请看 <img src=x onerror=alert(3)> 和 <a href="javascript:void(0)">这里</a>。

**嘉宾**：[点我](javascript:alert('md')) [大写](JaVaScRiPt:alert(1)) [tab](java\tscript:alert(1)) \
[数据](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) [vb](vbscript:msgbox) \
[文件]({passwd_url}) [本地](/etc/passwd) <javascript:alert('auto')> [正常](https://example.com/ok)

![密码]({passwd_url})

![相对](../../../../../../../../etc/passwd)

![绝对](/etc/passwd)

![外面]({secret_png_rel})

![链接](inside/link-to-secret.png)

![html](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)

![svg](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+)

![主机](file://{host}/etc/passwd)

![好图](good.png)

## 二、收尾

**主持人**：谢谢。
"""

USER_CSS = """\
@import url("{server}user-import.css");
@import "{passwd_url}";
@import url({secret_png_abs});
@font-face {{ font-family: "X"; src: url("{server}font.woff2"); }}
body {{ background-image: url("{server}user-bg.png"); }}
p {{ list-style-image: url({passwd_url}); }}
h2::before {{ content: url("{secret_png_url}"); }}
.speaker {{ behavior: url(x.htc); -moz-binding: url("{server}x.xml#x"); }}
"""


@pytest.fixture
def hostile(tmp_path, recorder):
    """An input folder with a hostile article and user CSS; a secret PNG and text file outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret_png = outside / "secret.png"
    secret_png.write_bytes(png_bytes((7, 5), (1, 2, 3)))
    (outside / "secret.txt").write_text(SECRET_TEXT, encoding="utf-8")
    article = tmp_path / "in" / "deep"
    (article / "inside").mkdir(parents=True)
    (article / "good.png").write_bytes(png_bytes((9, 4), (10, 200, 10)))
    (article / "inside" / "link-to-secret.png").symlink_to(secret_png)
    fields = dict(server=recorder.url, passwd_url="file:///etc/passwd", secret_png_url=secret_png.as_uri(),
                  secret_png_rel=os.path.relpath(secret_png, article), secret_png_abs=str(secret_png),
                  host="127.0.0.1")
    md = article / "hostile.md"
    md.write_text(HOSTILE_MD.format(**fields), encoding="utf-8")
    css = tmp_path / "user.css"
    css.write_text(USER_CSS.format(**fields), encoding="utf-8")
    return md, css, secret_png


def _convert(md: Path, css: Path, out: Path, tmp_path: Path, **opts) -> api.ConversionResult:
    options = Options(css=(css,), cache_dir=tmp_path / "cache", timeout=5, **opts)
    targets = {"epub": out / "book.epub", "pdf": out / "book.pdf"}
    result = api.convert_file(str(md), targets, options)
    assert result.ok, result.error
    assert set(result.outputs) == {"epub", "pdf"}
    return result


@pytest.mark.parametrize("allow_html", [False, True], ids=["html-as-text", "allow-html"])
def test_hostile_article_is_inert_in_both_backends(tmp_path, recorder, hostile, allow_html):
    md, css, secret_png = hostile
    result = _convert(md, css, tmp_path / "out", tmp_path, allow_html=allow_html)
    secret = secret_png.read_bytes()
    members = assert_epub_inert(result.outputs["epub"].read_bytes(), secrets=(secret, SECRET_TEXT.encode()))
    images = [n for n in members if n.startswith("EPUB/images/")]
    # the one legitimate picture (+ the generated cover); nothing read from outside the input folder
    good = [n for n in images if members[n] == (tmp_path / "in/deep/good.png").read_bytes()
            or Image.open(io.BytesIO(members[n])).size == (9, 4)]
    assert len(good) == 1, images
    for name in images:
        assert Image.open(io.BytesIO(members[name])).size != (7, 5), f"{name} is the secret image"
    text = assert_pdf_inert(result.outputs["pdf"], tmp_path, secrets=(SECRET_TEXT,))
    assert "开场" in text and "谢谢" in text
    assert recorder.requests == [], recorder.requests
    # every refused image is a warning that names it, never silently read
    joined = "\n".join(result.warnings)
    for needle in ("/etc/passwd", "secret.png", "link-to-secret.png"):
        assert needle in joined, needle


def test_hostile_article_passes_epubcheck(tmp_path, recorder, hostile):
    md, css, _ = hostile
    result = _convert(md, css, tmp_path / "out", tmp_path, allow_html=True)
    errors, messages = epubcheck_errors(result.outputs["epub"])
    assert errors == 0, messages
    assert recorder.requests == []


def test_markdown_links_with_bad_schemes_are_plain_text(tmp_path):
    from interview_export import reader

    doc = reader.read_text("## 一\n\n[a](javascript:alert(1)) [b](data:text/html,x) [c](vbscript:x) "
                           "[d](file:///etc/passwd) [e](https://ok.example/) <javascript:alert(1)>\n")
    html = "".join(p.body for p in render.render_parts(doc, None))
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert [h for h in hrefs if not h.endswith(".xhtml") and not h.startswith("#")] == ["https://ok.example/"]


@pytest.mark.parametrize("href", ["javascript:alert(1)", " JAVASCRIPT:alert(1)", "java\u200bscript:x",
                                  "java\nscript:alert(1)", "data:text/html,<b>", "file:///etc/passwd",
                                  "vbscript:msgbox", "\x01javascript:x", "//evil.example/x", "mailto:"])
def test_safe_href_refuses(href):
    assert render.safe_href(href) is None


def test_raw_html_never_reaches_the_model_as_markup():
    from interview_export import model, reader

    src = ("<script>alert(1)</script>\n\n<p onclick=\"x()\">段落</p>\n\n"
           "正文 <img src=x onerror=alert(1)> <b onmouseover=y>粗</b>\n\n<div>甲&amp;乙&lt;丙&#x4E01;</div>\n")
    for allow in (False, True):
        doc = reader.read_text(src, options=Options(allow_html=allow))
        html = "".join(p.body for p in render.render_parts(doc, None))
        assert "<script" not in html
        for el in ET.fromstring(f'<div xmlns:epub="http://www.idpf.org/2007/ops">{html}</div>').iter():
            assert not any(a.startswith("on") for a in el.attrib), (allow, el.tag, el.attrib)
            assert el.tag not in DANGEROUS_ELEMENTS
        assert "段落" in model.document_text(doc)
        if allow:  # tags dropped, entities decoded (never shown as "&amp;")
            assert "甲&乙<丙丁" in model.document_text(doc) and "&amp;" not in model.document_text(doc)


def test_user_css_cannot_fetch_in_pdf(tmp_path, recorder):
    """A user stylesheet that reaches for the network and local files: prepare takes every url() and
    @import out (one warning), the PDF backend's fetcher would refuse any left, the server sees nothing."""
    from interview_export import reader
    from interview_export.backends import pdf

    css = tmp_path / "evil.css"
    css.write_text(f'@import url("{recorder.url}a.css");\nbody {{ background: url("{recorder.url}b.png") }}\n'
                   f'p::after {{ content: url("file:///etc/passwd") }}\n'
                   f'@font-face {{ font-family: Evil; src: url("{recorder.url}f.ttf") }} p {{ font-family: Evil }}\n',
                   encoding="utf-8")
    doc = reader.read_text("# 标题\n\n## 一\n\n**主持人**：你好。\n")
    book = prepare(doc, Options(css=(css,)))
    data, warnings = pdf.build_with_warnings(book)
    assert recorder.requests == []
    path = tmp_path / "x.pdf"
    path.write_bytes(data)
    assert_pdf_inert(path, tmp_path)
    warnings = [*book.warnings, *warnings]
    assert any("4 url()/@import refused" in w and "a.css" in w for w in warnings), warnings


def test_missing_or_binary_user_css_is_a_clear_error(tmp_path):
    """--css naming something that is not a readable UTF-8 stylesheet: an ExportError, one line."""
    from interview_export import reader
    from interview_export.backends import epub, pdf
    from interview_export.errors import ExportError

    doc = reader.read_text("# 标题\n\n正文。\n")
    bad = tmp_path / "bad.css"
    bad.write_bytes(b"\xff\xfe\x00\x00garbage\x80\x81")
    folder = tmp_path / "a-folder.css"
    folder.mkdir()
    for path in (bad, folder, tmp_path / "missing.css"):
        for build in (epub.build, pdf.build):
            with pytest.raises(ExportError) as info:
                build(prepare(doc, Options(css=(path,))))
            assert "\n" not in str(info.value) and path.name in str(info.value)


def test_cli_hostile_run_has_no_traceback(tmp_path, recorder, hostile):
    md, css, _ = hostile
    out = tmp_path / "cli-out"
    proc = subprocess.run([*CLI, "build", str(md), "-o", str(out), "--css", str(css),
                           "--cache-dir", str(tmp_path / "cache"), "--allow-html", "-j", "1"],
                          capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert (out / "hostile.epub").is_file() and (out / "hostile.pdf").is_file()
    assert recorder.requests == []


# ---------------------------------------------------------------- characters XML forbids, bidi controls
FORBIDDEN_CHARS = [chr(c) for c in (*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF)] + ["\ud800", "\udc80"]
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _forbidden_article(ch: str) -> str:
    return (f"# 标{ch}题\n\n> 来源：某{ch}公众号\n\n## 一{ch}节\n\n**主持人**{ch}：你{ch}好，"
            f"[链{ch}接](https://example.com/{ch}x) `co{ch}de` ![图{ch}](a{ch}.png)\n\n"
            f"| 表{ch}头 | b |\n|---|---|\n| 单{ch}元 | c |\n\n```\n代{ch}码\n```\n\n- 列{ch}表\n")


@pytest.mark.parametrize("ch", FORBIDDEN_CHARS, ids=lambda c: f"U+{ord(c):04X}")
def test_forbidden_characters_are_removed_with_a_warning(ch):
    from interview_export import model, reader
    from interview_export.backends import epub

    doc = reader.read_text(_forbidden_article(ch), name="bad.md")
    assert any("XML forbids" in w and f"U+{ord(ch):04X}" in w and w.startswith("bad.md:") for w in doc.warnings)
    assert not XML_FORBIDDEN.search(model.document_text(doc))
    assert "你好" in model.document_text(doc) and "代码" in model.document_text(doc)
    members = epub_members(epub.build(prepare(doc)))
    xml_members(members)  # every XHTML/OPF/NCX is well-formed
    for name, blob in members.items():
        if name.endswith((".xhtml", ".opf", ".ncx")):
            assert not XML_FORBIDDEN.search(blob.decode("utf-8")), name


def test_forbidden_characters_from_bytes_and_metadata(tmp_path):
    """Raw control bytes in the file, surrogateescape'd text, YAML escapes in front matter and
    --metadata values: all removed with a warning; the EPUB is well-formed and passes EPUBCheck."""
    from interview_export import model, reader
    from interview_export.backends import epub

    raw = tmp_path / "raw.md"
    raw.write_bytes("# 控制\x01字符\n\n## 一\x0b节\n\n**主持人**\x1f：你好\x00世界\x0c。\n".encode("utf-8"))
    doc = reader.read_path(raw)
    assert any("XML forbids" in w for w in doc.warnings) and "你好世界" in model.document_text(doc)
    escaped = b"# \xe6\xa0\x87\xe9\xa2\x98\n\n\xff\xfe\n".decode("utf-8", "surrogateescape")
    doc2 = reader.read_text(escaped)
    assert not XML_FORBIDDEN.search(model.document_text(doc2)) and doc2.warnings
    front = ('---\ntitle: "题\\x01目\\uFFFE"\nauthor: "作\\x0c者"\ntags: ["a\\x02", b]\n---\n\n'
             "## 一\n\n**主持人**：你好。\n")
    doc3 = reader.read_text(front, options=Options(metadata=(("source", "源\x03"),)))
    assert (doc3.meta.title, doc3.meta.author, doc3.meta.source, doc3.meta.tags) == ("题目", "作者", "源", ("a", "b"))
    assert any("metadata" in w and "XML forbids" in w for w in doc3.warnings)
    path = tmp_path / "meta.epub"
    path.write_bytes(epub.build(prepare(doc3)))
    xml_members(epub_members(path.read_bytes()))
    errors, messages = epubcheck_errors(path)
    assert errors == 0, messages


BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def bidi_unclosed(text: str) -> list[str]:
    """The embeddings/overrides/isolates still open at the end of text (UBA X1–X8, simplified)."""
    stack: list[str] = []
    for ch in text:
        if ch in "\u202a\u202b\u202d\u202e":
            stack.append("embed")
        elif ch in "\u2066\u2067\u2068":
            stack.append("isolate")
        elif ch == "\u202c" and stack and stack[-1] == "embed":
            stack.pop()
        elif ch == "\u2069" and "isolate" in stack:
            while stack.pop() != "isolate":
                pass
    return stack


BIDI_ARTICLE = ("---\ntitle: 标题\u202e反转\nsubtitle: 副\u2067标题\nauthor: 作者\u202e名\nsource: 来源\u202b嵌入\n"
                "date: 2024-01-02\n---\n\n## 一\u202e节\n\n**主持\u202e人**：你好 \u202eabc def\u202c 世界。\n\n"
                "**嘉宾**：谢谢\u2066LRI 未闭合。\n\n## 金句\n\n> 这是\u202e一句金句\u2069\u202c。——嘉\u202e宾\n")


def test_bidi_controls_are_kept_but_cannot_reorder_our_labels(tmp_path):
    """Every place where user text is followed by something of ours (the speaker's colon, the source
    box, titles, nav labels, the closing quote mark) ends with its bidi controls closed; the user's
    own controls stay in the text."""
    from interview_export import model, reader
    from interview_export.backends import epub

    doc = reader.read_text(BIDI_ARTICLE)
    assert "\u202e" in model.document_text(doc)
    data = epub.build(prepare(doc))
    members = epub_members(data)
    roots = xml_members(members)
    x = "{http://www.w3.org/1999/xhtml}"
    checked = 0
    for name, root in roots.items():
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            cls = el.get("class", "")
            tag = el.tag.replace(x, "")
            holds_user_text = (cls in ("speaker", "source-value", "book-title", "subtitle", "section-title-text",
                                       "toc-text", "quote-attribution", "colophon-title"))
            if holds_user_text:
                text = "".join(el.itertext())
                assert not bidi_unclosed(text), (name, cls or tag, text)
                checked += 1
            if cls == "quote-text":  # the user's words, then our closing mark
                inner = "".join(el.itertext())
                assert not bidi_unclosed(inner[:-1]), (name, inner)
                checked += 1
            if tag == "p" and el.get("class") is None and el.find(f"{x}span[@class='source-label']") is not None:
                assert not bidi_unclosed("".join(el.itertext())), (name, "".join(el.itertext()))
                checked += 1
    assert checked >= 10
    all_text = "".join("".join(r.itertext()) for r in roots.values())
    assert "\u202e" in all_text and "\u2066" in all_text  # kept, not stripped
    path = tmp_path / "bidi.epub"
    path.write_bytes(data)
    errors, messages = epubcheck_errors(path)
    assert errors == 0, messages


def test_bidi_override_in_a_speaker_name_does_not_move_the_pdf_label(tmp_path):
    """PDF: the run-in label "主持人：" stays left of the turn's first words although the name holds an RLO."""
    from interview_export import reader
    from interview_export.backends import pdf

    doc = reader.read_text("# 标题\n\n## 一\n\n**主持\u202e人**：你好世界 abc def。\n\n**嘉宾**：好。\n")
    path = tmp_path / "bidi.pdf"
    path.write_bytes(pdf.build(prepare(doc)))
    proc = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, timeout=120)
    words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>([^<]*)</word>', proc.stdout)
    label = next((float(x), float(y)) for x, y, w in words if "持" in w)
    body = next((float(x), float(y)) for x, y, w in words if "abc" in w or "cba" in w)
    assert abs(label[1] - body[1]) < 5 and label[0] < body[0], (label, body)
    assert any(w == "abc" for _, _, w in words), "LTR text after the label was reordered"
