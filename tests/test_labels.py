"""labels: one table of generated text per script; books use their own language's labels."""

from __future__ import annotations

import io
import zipfile

from interview_export import api, labels, render
from interview_export.backends import pdf
from interview_export.backends.epub import EpubRenderer
from interview_export.options import Options
from interview_export.prepare import prepare
from interview_export.reader import read_text


def test_every_language_has_every_label():
    keys = set(labels.labels_for("zh-CN"))
    for lang in ("zh-Hans", "zh-TW", "zh-HK", "zh-Hant", "en", "en-GB", "de"):
        assert set(labels.labels_for(lang)) == keys, lang
    assert labels.labels_for("zh-TW")["toc"] == "目錄" and labels.labels_for("zh-HK")["toc"] == "目錄"
    assert labels.labels_for("zh-CN")["toc"] == "目录" and labels.labels_for("en")["toc"] == "Contents"
    assert labels.labels_for("en")["speaker_colon"] == ": " and labels.labels_for("zh-TW")["speaker_colon"] == "："


def test_script_and_quote_style_follow_the_tag():
    assert [labels.script_of(t) for t in ("zh-CN", "zh", "zh-Hant-TW", "zh-MO", "ja", "en-US", "")] == \
        ["zh-Hans", "zh-Hans", "zh-Hant", "zh-Hant", "zh-Hans", "en", "zh-Hans"]
    assert labels.quote_style("zh-TW") == "corner" and labels.quote_style("zh-CN") == "curly"
    assert labels.quote_style("zh-TW", "curly") == "curly"


ENGLISH = """# A talk with Ada

## Part one

**Host**: What do you build?

**Ada**: Engines. Mostly engines.

**Host**: Why?

**Ada**: Because they are fun.
"""


def test_english_book_gets_english_labels_and_colon(tmp_path):
    doc = read_text(ENGLISH, name="en.md")
    assert doc.meta.language == "en"
    parts = render.render_parts(doc, None, Options(), renderer=EpubRenderer)
    toc = next(p for p in parts if p.kind == "toc")
    assert ">Contents<" in toc.body and "目录" not in "".join(p.body for p in parts)
    html = pdf.assemble_html(prepare(doc))
    assert '<span class="speaker">Host: </span>' in html and "：" not in html
    generated = render.generated_text(doc)
    assert "Contents" in generated and "目录" not in generated


def test_simplified_book_is_unchanged(tmp_path):
    src = tmp_path / "a.md"
    src.write_text("# 标题\n\n## 一\n\n**主持人**：你好？\n\n**张三**：你好。\n\n**主持人**：再见？\n\n**张三**：再见。\n",
                   encoding="utf-8")
    options = Options(offline=True, use_cache=False)
    data = api.to_epub(api.load(src, options), options, base_dir=tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        nav = z.read("EPUB/nav.xhtml").decode()
    assert ">目录<" in nav and 'xml:lang="zh-CN"' in nav


def test_cover_credits_use_the_books_labels(monkeypatch):
    from interview_export import cover
    from interview_export.model import Document, Meta

    drawn = []
    real = cover.ImageDraw.ImageDraw.text

    def record(self, xy, text, *args, **kwargs):
        drawn.append(text)
        return real(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(cover.ImageDraw.ImageDraw, "text", record)
    for lang, label in (("zh-CN", "编译"), ("zh-TW", "編譯"), ("en", "Translator")):
        drawn.clear()
        cover.generate_cover(Document(meta=Meta(title="T", translator="Tina", language=lang)))
        assert f"{label}  Tina" in drawn, (lang, drawn)
