"""hanzi: Simplified ↔ Traditional conversion (OpenCC), script detection, quotation-mark styles,
language tags in the books, and the seed as a Taiwan book (EPUBCheck, PDF, round trip)."""

from __future__ import annotations

import difflib
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from interview_export import api, batch, cli, hanzi, model
from interview_export.config import parse_config
from interview_export.errors import UsageError
from interview_export.options import Options
from interview_export.reader import read_text

from conftest import CDN_PREFIX, SEED
from helpers import epubcheck
from test_cli import Recorder

SIMPLIFIED = """---
title: 软件工程师访谈
speakers: [主持人, 张三]
host: 主持人
---

# 软件工程师访谈

## 一、开始

**主持人**：你好，"软件"和‘鼠标’是什么？代码见 `软件 = "鼠标"`，链接 [这里](https://example.com/软件/头发)。

**张三**：软件就是程序。我们认为头发很重要。

![软件截图](images/软件.png)

**主持人**：这个信息很有用吗？

```python
print("软件")
```

## 二、金句

> “软件吃掉了世界。”——张三
"""

TRADITIONAL = """# 軟體工程師訪談

## 開始

**主持人**：這個問題，我們說過很多次了。「軟體」是什麼？

**王五**：這是一個關於軟體與資訊的對話，『配方』很重要。
"""


def load(text: str, **options) -> model.Document:
    return read_text(text, name="t.md", options=Options(**options))


def texts(doc: model.Document) -> str:
    return model.document_text(doc)


# ---------------------------------------------------------------- conversion
def test_s2twp_converts_what_readers_see_and_nothing_else():
    doc = load(SIMPLIFIED, convert="s2twp")
    assert doc.meta.title == "軟體工程師訪談" and doc.meta.language == "zh-TW"
    assert doc.sections[0].title == "開始"
    turns = model.turns(doc)
    # speakers pinned in front matter stay as written; detected ones are converted
    assert [t.speaker for t in turns] == ["主持人", "张三", "主持人"]
    detected = load("# 题\n\n**张三**：你们好？\n\n**李四**：好。\n\n**张三**：再见？\n\n**李四**：再见。\n",
                    convert="s2t")
    assert [t.speaker for t in model.turns(detected)] == ["張三", "李四", "張三", "李四"]
    first = turns[0].blocks[0]
    code = [n for n in first.children if isinstance(n, model.Code)]
    link = [n for n in first.children if isinstance(n, model.Link)]
    assert code[0].text == '软件 = "鼠标"'                       # code untouched
    plain = load(SIMPLIFIED)
    plain_first = model.turns(plain)[0].blocks[0]
    assert link[0].href == next(n.href for n in plain_first.children if isinstance(n, model.Link))  # URL untouched
    assert model.plain_text(link[0].children) == "這裡"
    assert "軟體" in model.plain_text(first.children) and "滑鼠" in model.plain_text(first.children)
    assert "我們認為頭髮很重要" in model.plain_text(turns[1].blocks[0].children)
    assert "資訊" in model.plain_text(turns[2].blocks[0].children)
    figure = next(b for b in model.all_blocks(doc) if isinstance(b, model.Figure))
    plain_figure = next(b for b in model.all_blocks(plain) if isinstance(b, model.Figure))
    assert figure.src == plain_figure.src and figure.alt == "軟體截圖"
    block = next(b for b in model.all_blocks(doc) if isinstance(b, model.CodeBlock))
    assert block.code == 'print("软件")'
    assert model.plain_text(doc.quotes[0].children).startswith("「軟體吃掉了世界")


def test_s2hk_and_s2t_tags_and_back_to_simplified():
    assert load(SIMPLIFIED, convert="s2hk").meta.language == "zh-HK"
    assert load(SIMPLIFIED, convert="s2t").meta.language == "zh-Hant"
    assert load("---\nlang: zh-HK\n---\n" + SIMPLIFIED.split("---\n", 2)[2], convert="s2t").meta.language == "zh-HK"
    doc = load(TRADITIONAL, convert="tw2s")
    assert doc.meta.language == "zh-CN" and doc.meta.title == "软体工程师访谈"   # tw2s: characters only
    assert "这个问题，我们说过很多次了" in texts(doc)
    assert "“软体”" in texts(doc)       # converted to Simplified: the corner quotes become curly


def test_unknown_conversion_is_a_usage_error():
    with pytest.raises(UsageError, match="s2twp"):
        load(SIMPLIFIED, convert="s2x")


# ---------------------------------------------------------------- detection
def test_traditional_input_is_recognised_and_tagged_zh_hant():
    assert load(TRADITIONAL).meta.language == "zh-Hant"
    assert load(SIMPLIFIED).meta.language == "zh-CN"
    assert load("---\nlang: zh-TW\n---\n" + TRADITIONAL).meta.language == "zh-TW"
    assert not hanzi.is_traditional_text("這")                      # too little evidence
    assert hanzi.is_traditional_text("我們這個時代，說來話長。")


# ---------------------------------------------------------------- quotation marks
def test_quote_styles():
    trad = load(TRADITIONAL)
    assert "「軟體」" in texts(trad) and "『配方』" in texts(trad)          # corner by default
    curly = load(TRADITIONAL, quotes="curly")
    assert "“軟體”" in texts(curly) and "‘配方’" in texts(curly)
    simp = load(SIMPLIFIED)
    assert "“软件”" in texts(simp) and "‘鼠标’" in texts(simp)             # the author's marks stay
    corner = load(SIMPLIFIED + "\nIt’s fine.\n", quotes="corner")
    assert "「软件」" in texts(corner) and "『鼠标』" in texts(corner)
    assert "It’s fine." in texts(corner)                                    # an apostrophe is not a quote
    tw = load(SIMPLIFIED, convert="s2twp")
    assert "「軟體」" in texts(tw) and "『滑鼠』" in texts(tw)


# ---------------------------------------------------------------- command line and config
def test_cli_and_config_reach_the_options(tmp_path, monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(batch, "run", recorder)
    src = tmp_path / "a.md"
    src.write_text(SIMPLIFIED, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli.cli, ["epub", str(src), "--convert", "s2twp", "--quotes", "curly"])
    assert result.exit_code == 0, result.output
    assert (recorder.tasks[0].options.convert, recorder.tasks[0].options.quotes) == ("s2twp", "curly")
    result = runner.invoke(cli.cli, ["epub", str(src), "--convert", "s2x"])
    assert result.exit_code == 2 and "s2x" in result.stderr
    config = parse_config({"convert": "s2hk", "quotes": "corner"}, tmp_path)
    assert config.values == {"convert": "s2hk", "quotes": "corner"}
    with pytest.raises(UsageError, match="convert"):
        parse_config({"convert": "pinyin"}, tmp_path)


# ---------------------------------------------------------------- books
def _xhtml_langs(epub: Path) -> tuple[str, set[str]]:
    with zipfile.ZipFile(epub) as z:
        opf = next(n for n in z.namelist() if n.endswith(".opf"))
        language = re.search(r"<dc:language>([^<]+)</dc:language>", z.read(opf).decode())[1]
        langs = set()
        for name in z.namelist():
            if name.endswith(".xhtml"):
                langs |= set(re.findall(r'\blang="([^"]*)"', z.read(name).decode()))
    return language, langs


def _pdf_lang(path: Path) -> str:
    catalog = json.dumps(json.loads(subprocess.run(["qpdf", "--json", "--json-key=qpdf", str(path)],
                                                   capture_output=True, text=True, check=True).stdout))
    return re.search(r'"/Lang": "u:([^"]+)"', catalog)[1]


@pytest.mark.skipif(not shutil.which("qpdf"), reason="qpdf is needed to read the PDF catalog")
def test_traditional_book_language_tags_and_labels_match(tmp_path):
    src = tmp_path / "a.md"
    src.write_text(SIMPLIFIED, encoding="utf-8")
    options = Options(convert="s2twp", offline=True, use_cache=False)
    doc = api.load(src, options)
    epub_path, pdf_path = tmp_path / "a.epub", tmp_path / "a.pdf"
    epub_path.write_bytes(api.to_epub(doc, options, base_dir=tmp_path))
    pdf_path.write_bytes(api.to_pdf(doc, options, base_dir=tmp_path))
    assert _xhtml_langs(epub_path) == ("zh-TW", {"zh-TW"})
    assert _pdf_lang(pdf_path) == "zh-TW"
    with zipfile.ZipFile(epub_path) as z:
        nav = z.read("EPUB/nav.xhtml").decode()
    assert ">目錄<" in nav and "目录" not in nav
    text = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, text=True).stdout
    assert "主持人：" in text


# ---------------------------------------------------------------- the seed as a Taiwan book
@pytest.fixture(scope="module")
def seed_tw(seed, cdn_session_server, tmp_path_factory):
    from interview_export.media import collect_media

    folder = tmp_path_factory.mktemp("seed-tw")
    options = Options(convert="s2twp", mirrors=((CDN_PREFIX, cdn_session_server.url),), use_cache=False)
    doc = api.load(SEED, options)
    media = collect_media(doc, SEED.parent, options)
    out = {"doc": doc, "options": options}
    for name, opts in (("epub", options), ("vertical", Options(**{**options.__dict__, "vertical": True}))):
        out[name] = folder / f"{name}.epub"
        out[name].write_bytes(api.to_epub(doc, opts, media=media))
    out["pdf"] = folder / "seed.pdf"
    out["pdf"].write_bytes(api.to_pdf(doc, options, media=media))
    return out


@pytest.mark.corpus
def test_seed_taiwan_epub_passes_epubcheck_horizontal_and_vertical(seed_tw):
    books = [seed_tw["epub"], seed_tw["vertical"]]
    for book, (errors, warnings, messages) in zip(books, epubcheck(books)):
        assert (errors, warnings) == (0, 0), (book.name, messages)
        language, langs = _xhtml_langs(book)
        assert language == "zh-TW" and langs == {"zh-TW"}


@pytest.mark.corpus
@pytest.mark.skipif(not shutil.which("qpdf") or not shutil.which("pdftotext"), reason="poppler and qpdf needed")
def test_seed_taiwan_pdf(seed_tw):
    path = seed_tw["pdf"]
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0 and "No syntax or stream encoding errors" in check.stdout
    assert _pdf_lang(path) == "zh-TW"
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    assert "「" in text and "“" not in text
    assert "目錄" in text and "導語" in text and "這世上大概已經有五家" in text
    lines = [line.strip() for line in subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                                                     text=True).stdout.splitlines() if line.strip()]
    assert [line for line in lines if line[0] in "。，、：；！？」』）"] == []


@pytest.mark.corpus
def test_seed_round_trips_back_to_simplified(seed_tw):
    """s2twp then tw2s gives back ≥ 99 % of the original characters (quotation marks aside)."""
    original = model.document_text(api.load(SEED, Options()))
    back = hanzi.set_quote_style(hanzi.convert_script(seed_tw["doc"], Options(convert="tw2s")),
                                 Options(quotes="curly"))
    restored = model.document_text(back)
    matcher = difflib.SequenceMatcher(None, original, restored, autojunk=False)
    same = sum(block.size for block in matcher.get_matching_blocks())
    assert same / len(original) >= 0.99, (same, len(original))
