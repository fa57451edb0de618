"""reader: bytes → text, tokens → model, sections, figures, soft breaks; golden models; the corpus."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

import pytest

from interview_export.errors import InputError
from interview_export.model import (
    BlockQuote,
    CodeBlock,
    Emphasis,
    Figure,
    Heading,
    InlineImage,
    LineBreak,
    ListBlock,
    Paragraph,
    Strong,
    Table,
    Text,
    ThematicBreak,
    all_blocks,
    image_refs,
    plain_text,
    to_dict,
    turns,
    walk_blocks,
)
from interview_export.options import Options
from interview_export.reader import (
    MAX_INLINE_DEPTH,
    MAX_NESTING,
    caption_for,
    decode,
    parse_text,
    read_path,
    read_text,
    split_number,
    stash_data_uris,
)

FIXTURES = Path(__file__).parent / "fixtures" / "reader"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def paragraphs(doc):
    return [b for b in all_blocks(doc) if isinstance(b, Paragraph)]


# ---------------------------------------------------------------- input and decoding
def test_utf8_bom_and_crlf(tmp_path):
    path = tmp_path / "a.md"
    path.write_bytes("\ufeff# 标题\r\n\r\n第一段\r\n第二行\r\n".encode("utf-8"))
    doc = read_path(path)
    assert doc.meta.title == "标题"
    assert [plain_text(p.children) for p in paragraphs(doc)] == ["第一段第二行"]
    assert doc.warnings == ()


def test_gb18030_is_detected_with_a_warning(tmp_path):
    path = tmp_path / "gbk.md"
    path.write_bytes("# 中文标题\n\n这是一段用 GBK 保存的文字。\n".encode("gb18030"))
    doc = read_path(path)
    assert doc.meta.title == "中文标题"
    assert any("GB18030" in w and str(path) in w for w in doc.warnings)


def test_undecodable_bytes_name_file_and_offset(tmp_path):
    path = tmp_path / "bad.md"
    path.write_bytes(b"hello caf\xe9")
    with pytest.raises(InputError) as info:
        read_path(path)
    message = str(info.value)
    assert str(path) in message and "byte offset 9" in message and "\n" not in message


@pytest.mark.parametrize("data, offset", [
    ("中文".encode() * 10 + b"\xe4\xb8" + "中文".encode(), 60),      # truncated UTF-8, not GBK
    (b"Les \xe9l\xe8ves \xe9taient l\xe0", 4),                    # Latin-1
    (b"caf\xe9s and more plain English words", 3),
])
def test_broken_utf8_and_latin1_are_errors_not_gbk(data, offset):
    with pytest.raises(InputError, match=f"byte offset {offset} "):
        decode(data, "x.md")


def test_decode_offset_counts_the_bom():
    with pytest.raises(InputError, match="byte offset 5"):
        decode(b"\xef\xbb\xbfab\xff\xfe", "x.md")


def test_missing_file_and_directory_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="no such file") as info:
        read_path(tmp_path / "nope.md")
    assert "nope.md" in str(info.value)
    with pytest.raises(InputError, match="is a directory"):
        read_path(tmp_path)


def test_empty_file_is_allowed_with_a_warning(tmp_path):
    """Decision: an empty or blank file gives an empty document and a warning, not an error."""
    path = tmp_path / "empty.md"
    path.write_bytes(b"")
    doc = read_path(path)
    assert doc.sections == () and doc.lead == ()
    assert any("empty document" in w and str(path) in w for w in doc.warnings)
    (tmp_path / "blank.md").write_text("\n  \n", encoding="utf-8")
    assert any("empty document" in w for w in read_path(tmp_path / "blank.md").warnings)


def test_stdin(monkeypatch):
    fake = io.TextIOWrapper(io.BytesIO("# 从标准输入\n\n正文\n".encode("utf-8")), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", fake)
    doc = read_path("-")
    assert doc.meta.title == "从标准输入" and doc.name == "<stdin>"


def test_xml_forbidden_characters_are_removed_with_line(tmp_path):
    doc = read_text("# t\n\nok\n\nbad\x07 here\x0b and\tthere\x00\n", name="x.md")
    text = plain_text(paragraphs(doc)[-1].children)
    assert text == "bad here and\tthere"
    assert any(w.startswith("x.md:5:") and "U+0007" in w for w in doc.warnings)


def test_lone_surrogates_are_removed():
    doc = read_text("# t\n\na\ud800b\n")
    assert plain_text(paragraphs(doc)[0].children) == "ab"
    assert doc.warnings


def test_title_falls_back_to_the_file_name(tmp_path):
    path = tmp_path / "no-title.md"
    path.write_text("## 一\n\n正文\n", encoding="utf-8")
    assert read_path(path).meta.title == "no-title"


# ---------------------------------------------------------------- markdown → blocks
def test_raw_html_is_text_by_default():
    doc = read_text("# t\n\n<script>alert(1)</script> 你好 <b>粗</b>\n\n<div>\nblock\n</div>\n")
    texts = [plain_text(p.children) for p in paragraphs(doc)]
    assert "<script>alert(1)</script> 你好 <b>粗</b>" in texts
    assert any("<div>" in t for t in texts)


def test_allow_html_keeps_text_and_line_breaks_only():
    doc = read_text("# t\n\n甲<br>乙 <b>粗</b>\n", options=Options(allow_html=True))
    para = paragraphs(doc)[0]
    assert any(isinstance(c, LineBreak) for c in para.children)
    assert "<" not in plain_text(para.children) and "粗" in plain_text(para.children)


def test_soft_breaks_join_cjk_without_space_and_latin_with_one():
    doc = read_text("# t\n\n中文第一行\n第二行\n\nEnglish line\nnext line\n\n他说：\nhello\n")
    texts = [plain_text(p.children) for p in paragraphs(doc)]
    assert texts == ["中文第一行第二行", "English line next line", "他说：hello"]


def test_soft_break_at_formatting_edges():
    doc = read_text("# t\n\n这是**粗体\n文字**和\n*斜体*。\n")
    assert plain_text(paragraphs(doc)[0].children) == "这是粗体文字和斜体。"


def test_credit_lines_keep_their_breaks():
    doc = parse_text("*图片来源：甲*\n*播客来源：乙*\n")
    children = doc.lead[0].children
    assert [type(c) for c in children] == [Emphasis, LineBreak, Emphasis]


def test_inline_nodes_and_lines():
    doc = parse_text("# 标题\n\n第一段\n\n一 **粗** *斜* `代码` [链接](https://e.com \"T\") ![图](a.png)  \n下一行\n")
    para = doc.lead[1]
    assert para.line == 5
    kinds = [type(c).__name__ for c in para.children]
    assert kinds == ["Text", "Strong", "Text", "Emphasis", "Text", "Code", "Text", "Link", "Text", "InlineImage",
                     "LineBreak", "Text"]
    link = para.children[7]
    assert link.href == "https://e.com" and link.title == "T"
    assert para.children[-1].line == 6


def test_lists_code_tables_rules_headings():
    src = ("## 节\n\n### 小节\n\n- a\n- b\n  > 引\n\n3. x\n4. y\n\n```python\nprint(1)\n```\n\n"
           "| 左 | 右 |\n|:--|--:|\n| 1 | **2** |\n\n---\n\n    indented\n")
    section = parse_text(src).sections[0]
    kinds = [type(b) for b in section.blocks]
    assert kinds == [Heading, ListBlock, ListBlock, CodeBlock, Table, ThematicBreak, CodeBlock]
    heading, bullets, ordered, code, table = section.blocks[:5]
    assert heading.level == 3
    assert not bullets.ordered and len(bullets.items) == 2 and isinstance(bullets.items[1][1], BlockQuote)
    assert ordered.ordered and ordered.start == 3
    assert code.code == "print(1)" and code.language == "python"
    assert table.aligns == ("left", "right")
    assert plain_text(table.header[0]) == "左" and isinstance(table.rows[0][1][0], Strong)
    assert section.blocks[-1].code == "indented"


def test_deep_blockquote_nesting_does_not_recurse():
    doc = parse_text("> " * 10_000 + "深\n", name="deep.md")
    depth, block = 0, doc.lead[0]
    while isinstance(block, BlockQuote) and block.blocks:
        depth, block = depth + 1, block.blocks[0]
    assert MAX_NESTING - 2 <= depth <= MAX_NESTING
    assert any(w.startswith("deep.md:1:") and "nested more than" in w for w in doc.warnings)
    assert len(list(walk_blocks(doc.lead))) >= depth


@pytest.mark.parametrize("depth, kept", [(50, True), (MAX_NESTING - 1, True), (MAX_NESTING, False)])
def test_nesting_limit_warns_exactly_when_content_is_lost(depth, kept):
    doc = parse_text("> " * depth + "深\n")
    found = any(isinstance(b, Paragraph) and plain_text(b.children) == "深" for b in walk_blocks(doc.lead))
    assert found is kept
    assert bool(doc.warnings) is not kept


def test_nested_lists_limit():
    doc = parse_text("".join("  " * i + f"- {i}\n" for i in range(60)))
    texts = [plain_text(b.children) for b in walk_blocks(doc.lead) if isinstance(b, Paragraph)]
    assert texts[:40] == [str(i) for i in range(40)] and len(texts) < 60
    assert len(doc.warnings) == 1


def test_deep_inline_nesting_is_capped():
    doc = read_text("# t\n\n" + "*" * 5000 + "深" + "*" * 5000 + "\n\n" + "[" * 5000 + "x" + "]" * 5000 + "\n",
                    name="deep.md")
    blocks = doc.sections[0].blocks
    assert len(blocks) == 2 and "深" in plain_text(blocks[0].children)
    depth, node = 0, blocks[0].children[0]
    while isinstance(node, (Strong, Emphasis)):
        depth, node = depth + 1, node.children[0]
    assert depth <= MAX_INLINE_DEPTH + 1
    assert any(w.startswith("deep.md:3:") and "inline formatting" in w for w in doc.warnings)


# ---------------------------------------------------------------- sections
@pytest.mark.parametrize("heading, expected", [
    ("3 标题", (3, "标题")),
    ("3. 标题", (3, "标题")),
    ("01｜15 个 Claude 并行", (1, "15 个 Claude 并行")),
    ("10 OpenAI 的压力", (10, "OpenAI 的压力")),
    ("第三部分：未来", (3, "未来")),
    ("第十二章", (12, "第十二章")),
    ("二、背景", (2, "背景")),
    ("2026 年回顾", (None, "2026 年回顾")),
    ("1.5 倍速", (None, "1.5 倍速")),
    ("3D 打印", (None, "3D 打印")),
    ("背景", (None, "背景")),
])
def test_split_number(heading, expected):
    assert split_number(heading) == expected


def test_sections_lead_and_title():
    doc = parse_text("# 总标题\n\n导语\n\n## 1 开始\n\n正文\n\n### 小节\n\n## 结束\n\n完\n\n# 另一个一级\n\n尾\n")
    assert doc.meta.title == "总标题"
    assert [plain_text(b.children) for b in doc.lead] == ["导语"]
    assert [(s.id, s.number, s.title) for s in doc.sections] == [
        ("sec-1", 1, "开始"), ("sec-2", None, "结束"), ("sec-3", None, "另一个一级")]
    assert isinstance(doc.sections[0].blocks[1], Heading)
    assert doc.sections[0].line == 5


def test_document_without_h2_becomes_one_untitled_section():
    """Decision: no ## at all → the body is one untitled section sec-1 (the lead stays empty)."""
    doc = read_text("# 只有标题\n\n第一段。\n\n第二段。\n")
    assert doc.lead == ()
    assert [(s.id, s.title, s.number) for s in doc.sections] == [("sec-1", "", None)]
    assert len(doc.sections[0].blocks) == 2
    assert read_text("# 只有标题\n\n正文\n", options=Options(disabled_transforms=("single-section",))).sections == ()


# ---------------------------------------------------------------- figures
@pytest.mark.parametrize("alt, title, caption", [
    ("Jerry Tworek 离职声明", "", "Jerry Tworek 离职声明"),
    ("封面图", "", ""), ("二维码", "", ""), ("配图", "", ""), ("图片 3", "", ""), ("访谈配图", "", ""),
    ("章节图", "", ""), ("image", "", ""), ("IMG_2041.JPG", "", ""), ("", "", ""),
    ("cover", "书房一角", "书房一角"), ("系统架构的整体示意图", "", "系统架构的整体示意图"),
])
def test_caption_rule(alt, title, caption):
    assert caption_for(alt, title) == caption


def test_image_paragraph_becomes_figure_and_inline_image_stays_inline():
    doc = parse_text("![会场](a.png)\n\n文字 ![小图](b.png) 文字\n")
    assert isinstance(doc.lead[0], Figure) and doc.lead[0].caption == "会场"
    assert any(isinstance(c, InlineImage) for c in doc.lead[1].children)


def test_image_ending_a_paragraph_is_a_figure():
    doc = parse_text("看下面这张截图。![安装截图](a.png)\n\n文字 ![小图](b.png) 文字\n")
    assert [type(b) for b in doc.lead] == [Paragraph, Figure, Paragraph]
    assert doc.lead[1].src == "a.png" and doc.lead[0].children[-1].text.rstrip() == "看下面这张截图。"


def test_image_alone_on_a_line_is_split_from_the_paragraph():
    doc = parse_text("![甲](a.png)\n**主持人**：你好\n")
    assert [type(b) for b in doc.lead] == [Figure, Paragraph]
    assert doc.lead[1].line == 2 and isinstance(doc.lead[1].children[0], Strong)


# ---------------------------------------------------------------- data: URIs
def test_long_data_uri_is_restored_exactly_and_quickly():
    uri = "data:image/png;base64," + "A" * 3_000_000
    text = f"# t\n\n## 一\n\n![大图]({uri})\n\n文字 [链接]({uri[:500]}) 后\n"
    stashed, stash = stash_data_uris(text)
    assert len(stashed) < 1000 and len(stash) == 2
    started = time.perf_counter()
    doc = read_text(text)
    elapsed = time.perf_counter() - started
    assert doc.sections[0].blocks[0].src == uri
    link = next(c for c in doc.sections[0].blocks[1].children if not isinstance(c, Text))
    assert link.href == uri[:500]
    assert elapsed < 1.0, f"reading a 3 MB data: URI took {elapsed:.2f}s"


def test_stash_key_in_the_text_disables_stashing():
    text = "ie-stashed-data-uri-0 ![x](data:image/png;base64," + "A" * 300 + ")"
    assert stash_data_uris(text) == (text, {})


# ---------------------------------------------------------------- golden models
def _golden_cases():
    cases = sorted(FIXTURES.glob("*.md"))
    sample = EXAMPLES / "sample-interview.md"
    if sample.exists():
        cases.append(sample)
    return cases


@pytest.mark.parametrize("source", _golden_cases(), ids=lambda p: p.stem)
def test_golden_model(source):
    """The whole model of each fixture equals its golden JSON; UPDATE_GOLDENS=1 rewrites them."""
    golden = FIXTURES / f"{source.stem}.json"
    doc = read_path(source)
    data = to_dict(doc.replace(name=source.name))
    data["warnings"] = [w.replace(str(source), source.name) for w in data["warnings"]]
    if os.environ.get("UPDATE_GOLDENS"):
        golden.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert golden.exists(), f"missing {golden.name}: run UPDATE_GOLDENS=1 pytest tests/test_reader.py"
    assert data == json.loads(golden.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the corpus
def _quote_balance_ok(inlines) -> bool:
    text = plain_text(inlines)
    return text.count("“") == text.count("”") and text.count("‘") == text.count("’")


@pytest.mark.corpus
def test_seed_interview(seed):
    doc = read_path(seed)
    m = doc.meta
    assert m.title == "大模型圈娱乐化逼疯人！OpenAI 七年元老离职首发声：谷歌赢麻？不过是 OpenAI 失误了！"
    assert (m.source, m.translator, m.date) == ("InfoQ 公众号", "Tina", "2026-01-23")
    assert m.url == "https://mp.weixin.qq.com/s/81OnMVR5svDURu_2mHUypQ"
    assert m.language == "zh-CN"
    assert [s.number for s in doc.sections] == list(range(1, 11))
    assert doc.sections[0].title == "当整个大模型行业只剩下一套“配方”，有些人宁愿离场"
    assert doc.quotes_title == "总结：对话金句" and len(doc.quotes) == 9
    assert all(s.title != doc.quotes_title for s in doc.sections)
    # lead: the ten paragraphs between the cover and the first ##, nothing else
    assert len(doc.lead) == 10 and all(isinstance(b, Paragraph) for b in doc.lead)
    assert plain_text(doc.lead[0].children).startswith("这不是离职八卦")
    all_turns = turns(doc)
    source = seed.read_text(encoding="utf-8")
    assert len(all_turns) == source.count("\n**主持人**：") + source.count("\n**Jerry**：") == 48
    assert sum(t.speaker == "主持人" and t.role == "host" for t in all_turns) == 24
    assert sum(t.speaker == "Jerry" and t.role == "guest" for t in all_turns) == 24
    holder = [t for t in all_turns if any(isinstance(b, Paragraph) and plain_text(b.children).startswith("刻刻都在进行")
                                          for b in t.blocks)]
    assert len(holder) == 1 and holder[0].speaker == "Jerry"
    assert not any(isinstance(c, Strong) and plain_text(c.children) in ("主持人", "Jerry")
                   for t in all_turns for b in t.blocks if isinstance(b, Paragraph) for c in b.children[:1])
    refs = image_refs(doc)
    assert len(refs) == 5
    assert m.cover.endswith("/image_01.png") and refs[0][0] == m.cover
    assert not any(isinstance(b, Figure) and b.src == m.cover for b in all_blocks(doc) if b not in doc.colophon)
    colophon = [plain_text(b.children) if isinstance(b, Paragraph) else b.alt for b in doc.colophon]
    assert colophon[0].startswith("图片来源") and colophon[1].startswith("播客来源") and colophon[2] == "二维码"
    assert len(doc.colophon) == 3 and isinstance(doc.colophon[2], Figure)
    runs = [b.children for b in all_blocks(doc) if isinstance(b, (Paragraph, Heading))] + [q.children for q in doc.quotes]
    assert sum(not _quote_balance_ok(r) for r in runs) == 0
    assert not any('"' in plain_text(r) for r in runs)
    assert "一套“配方”" in doc.sections[0].title
    assert doc.warnings == ()


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["claude-in-excel-vs-openai", "claude-code-efficiency-ask-user-question-tool"])
def test_bold_run_in_labels_are_not_dialogue(corpus, name):
    doc = read_path(corpus / "articles" / name / f"{name}.md")
    assert turns(doc) == []
    labels = [b for b in all_blocks(doc) if isinstance(b, Paragraph) and b.children and isinstance(b.children[0], Strong)]
    assert labels, "the article still has its bold labels"


@pytest.mark.corpus
def test_revision_with_metadata_file(corpus):
    folder = corpus / "articles" / "openai-veteran-jerry-tworek-interview"
    doc = read_path(folder / "openai-veteran-jerry-tworek-interview.md")
    assert doc.meta.title == "OpenAI 七年老将离职：大模型同质化竞赛下的行业反思"
    assert (doc.meta.source, doc.meta.author, doc.meta.date) == ("微信公众号", "InfoQ（编译 | Tina）", "2026-01-23")
    assert doc.meta.url == "https://mp.weixin.qq.com/s/81OnMVR5svDURu_2mHUypQ"
    assert set(doc.meta.tags) >= {"OpenAI", "Jerry Tworek"}
    speakers = {(t.speaker, t.role) for t in turns(doc)}
    assert speakers == {("主持人", "host"), ("Jerry", "guest")}
    source = (folder / "openai-veteran-jerry-tworek-interview.md").read_text(encoding="utf-8")
    assert len(turns(doc)) == source.count("**主持人**：") + source.count("**Jerry**：")


@pytest.mark.corpus
def test_every_corpus_file_reads(corpus):
    files = sorted(p for p in corpus.rglob("*.md") if p.name != "README.md")
    assert len(files) >= 15
    for path in files:
        started = time.perf_counter()
        doc = read_path(path)
        elapsed = time.perf_counter() - started
        assert doc.meta.title, path
        assert doc.sections, path
        assert elapsed < 1.5, f"{path.name} took {elapsed:.2f}s"
        for src, _, _ in image_refs(doc):
            assert not src.startswith("ie-stashed"), path


# ---------------------------------------------------------------- robustness
from hypothesis import (  # noqa: E402
    given,
    settings,
    strategies as st,  # noqa: E402
)

PIECES = list("#>*_-[]()!`|:：“”\"' 甲乙abc1.\x07") + ["**甲**：", "**乙**：", "\n", "\n\n", "## ", "---\n", "> ",
                                                   "![x](y.png)", "\r\n", "2026-01-23", "——", "来源："]
MARKDOWNISH = st.lists(st.sampled_from(PIECES), max_size=120).map("".join)


@settings(max_examples=300, deadline=None)
@given(MARKDOWNISH)
def test_any_text_reads(text):
    doc = read_text(text, name="fuzz.md")
    json.dumps(to_dict(doc), ensure_ascii=False)
    for block in all_blocks(doc):
        assert block.line >= 0
    assert all(w.startswith("fuzz.md") for w in doc.warnings)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_input_error(data):
    try:
        text, warnings = decode(data, "b.md")
    except InputError as exc:
        assert "b.md" in str(exc) and "byte offset" in str(exc)
    else:
        assert isinstance(text, str)
