"""meta: front matter, sidecar, header lines, --metadata, priority order, dates, language."""

from __future__ import annotations

import datetime as dt

import pytest

from interview_export.meta import (
    cli_fields,
    find_sidecar,
    load_sidecar,
    merge,
    meta_fields,
    normalize_date,
    parse_header,
    split_front_matter,
)
from interview_export.model import Meta, plain_text, turns
from interview_export.options import Options
from interview_export.reader import read_path, read_text
from interview_export.util import detect_language


@pytest.mark.parametrize("value, iso", [
    ("2026-01-23", "2026-01-23"), ("2026年1月23日 15:41", "2026-01-23"), ("2026/1/5", "2026-01-05"),
    ("发布于 2025.12.01", "2025-12-01"), (dt.date(2024, 2, 29), "2024-02-29"), ("2026-02-30", ""),
    ("no date here", ""), (None, ""),
])
def test_normalize_date(value, iso):
    assert normalize_date(value) == iso


@pytest.mark.parametrize("text, expected", [
    ("来源：InfoQ 公众号，编译 | Tina，2026-01-23\n原文链接：https://mp.weixin.qq.com/s/abc",
     {"source": "InfoQ 公众号", "translator": "Tina", "date": "2026-01-23", "url": "https://mp.weixin.qq.com/s/abc"}),
    # soft-joined lines (no separator between the date and the next keyword)
    ("来源：InfoQ 公众号，编译 | Tina，2026-01-23原文链接：https://e.com/x",
     {"source": "InfoQ 公众号", "translator": "Tina", "date": "2026-01-23", "url": "https://e.com/x"}),
    ("原创 | Tina · 2026年1月23日 15:41 · 北京\n来源：InfoQ 公众号 | 原文链接：https://e.com/y",
     {"author": "Tina", "source": "InfoQ 公众号", "date": "2026-01-23", "url": "https://e.com/y"}),
    ("来源：微信公众号 Decoder Only（湾仔码农），2026年1月15日",
     {"source": "微信公众号 Decoder Only（湾仔码农）", "date": "2026-01-15"}),
    ("作者：王五；翻译：赵六", {"author": "王五", "translator": "赵六"}),
])
def test_parse_header(text, expected):
    assert parse_header(text) == expected


def test_sidecar_mapping_flattens_source():
    fields = meta_fields({"title": "T", "source": {"platform": "微信公众号", "url": "https://e.com", "author": "甲",
                                                 "publish_date": "2026-01-16"},
                          "tags": ["a", "b"], "content": {"type": "x", "core_point": "要点"},
                          "extraction_date": "2026-01-19"})
    assert fields == {"title": "T", "source": "微信公众号", "url": "https://e.com", "author": "甲",
                      "date": "2026-01-16", "tags": ("a", "b"), "description": "要点"}
    assert meta_fields({"content": {"core_point": "要点"}, "description": "明确的描述"})["description"] == "明确的描述"


def test_front_matter_aliases_and_lists():
    fields = meta_fields({"publication": "P", "compiler": "C", "lang": "zh-TW", "keywords": "x, y，z",
                          "speakers": "甲、乙", "host": "甲", "date": dt.date(2026, 1, 2), "cover": "c.jpg"})
    assert fields == {"source": "P", "translator": "C", "language": "zh-TW", "tags": ("x", "y", "z"),
                      "speakers": ("甲", "乙"), "hosts": ("甲",), "date": "2026-01-02", "cover": "c.jpg"}


def test_speakers_as_a_mapping_of_roles():
    fields = meta_fields({"speakers": {"Lex": "host", "Ada": "guest"}})
    assert fields == {"speakers": ("Lex", "Ada"), "hosts": ("Lex",)}
    src = "---\nspeakers: {Lex: host, Ada: guest}\n---\n## 一\n\n**Lex**: Hi\n\n**Ada**: Hello\n"
    roles = [(t.speaker, t.role) for t in turns(read_text(src))]
    assert roles == [("Lex", "host"), ("Ada", "guest")]


def test_merge_priority_and_empty_values_never_erase():
    meta = merge(Meta(), {"title": "doc", "source": "doc"}, {"title": "sidecar"}, {"title": ""},
                 cli_fields([("source", "cli")]))
    assert (meta.title, meta.source) == ("sidecar", "cli")


def test_split_front_matter_keeps_line_numbers():
    text = "---\ntitle: 前言\ntags: [a]\n---\n# 标题\n"
    data, body, warnings = split_front_matter(text)
    assert data == {"title": "前言", "tags": ["a"]} and warnings == []
    assert body.split("\n")[4] == "# 标题" and body.count("\n") == text.count("\n")


def test_front_matter_that_is_not_a_mapping_stays_text():
    text = "---\n只是一段文字\n---\n"
    assert split_front_matter(text) == ({}, text, [])


def test_invalid_front_matter_warns_with_line():
    data, body, warnings = split_front_matter("---\ntitle: [unclosed\n---\n正文\n", "x.md")
    assert data == {} and body.startswith("---")
    assert len(warnings) == 1 and warnings[0].startswith("x.md:") and "YAML" in warnings[0]


def test_sidecar_lookup_for_variants(tmp_path):
    (tmp_path / "art.metadata.yaml").write_text("title: 旁注\n", encoding="utf-8")
    for name in ("art.md", "art-remote.md", "art-standalone.md"):
        assert find_sidecar(tmp_path / name) == tmp_path / "art.metadata.yaml"
    assert find_sidecar(tmp_path / "other.md") is None


def test_broken_sidecar_is_a_warning(tmp_path):
    path = tmp_path / "a.metadata.yaml"
    path.write_text("title: [oops\n", encoding="utf-8")
    data, warnings = load_sidecar(path)
    assert data == {} and str(path) in warnings[0]
    (tmp_path / "a.md").write_text("# 标题\n\n正文\n", encoding="utf-8")
    doc = read_path(tmp_path / "a.md")
    assert doc.meta.title == "标题" and any("metadata file ignored" in w for w in doc.warnings)


def test_priority_document_sidecar_front_matter_cli(tmp_path):
    (tmp_path / "a.metadata.yaml").write_text(
        "---\ntitle: 旁注标题\nsource:\n  platform: 旁注来源\n  author: 旁注作者\n  publish_date: '2025-05-05'\n",
        encoding="utf-8")
    (tmp_path / "a.md").write_text(
        "---\nauthor: 前言作者\n---\n# 文中标题\n\n> 来源：文中来源，编译 | 文中译者，2020-01-01\n\n## 一\n\n正文\n",
        encoding="utf-8")
    doc = read_path(tmp_path / "a.md", Options(metadata=(("date", "2026年3月4日"),)))
    m = doc.meta
    assert m.title == "旁注标题"              # sidecar beats the H1
    assert m.source == "旁注来源"             # sidecar beats the header blockquote
    assert m.author == "前言作者"             # front matter beats the sidecar
    assert m.date == "2026-03-04"             # --metadata beats everything
    assert m.translator == "文中译者"         # only the document knows it
    assert not any("文中来源" in str(b) for b in doc.lead)  # the header box is not body text


def test_cli_metadata_on_read_text():
    doc = read_text("# 甲\n\n## 一\n\n乙\n", options=Options(metadata=(("title", "丙"), ("tags", "x,y"))))
    assert doc.meta.title == "丙" and doc.meta.tags == ("x", "y")


@pytest.mark.parametrize("text, lang", [
    ("这是一篇中文文章，讨论 OpenAI 和 Anthropic 的 AI 模型。", "zh-CN"),
    ("This is an English article with one name 张三 in it, and many more words after that.", "en"),
    ("これは日本語の文章です。", "ja"),
    ("한국어 문장입니다", "ko"),
    ("", ""),
])
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_language_from_front_matter_wins():
    assert read_text("---\nlanguage: zh-TW\n---\n# 標題\n").meta.language == "zh-TW"
    assert read_text("# 标题\n\n中文正文。\n").meta.language == "zh-CN"


@pytest.mark.corpus
def test_corpus_sidecars_are_read(corpus):
    for sidecar in sorted(corpus.glob("articles/*/*.metadata.yaml")):
        data, warnings = load_sidecar(sidecar)
        assert warnings == [] and data["title"]
        fields = meta_fields(data)
        assert fields["title"] == data["title"] and fields["date"] == normalize_date(data["source"]["publish_date"])
        assert fields["url"].startswith("https://")


# ---------------------------------------------------------------- metadata from the wild
CHINESE_FRONT_MATTER = """---
标题: 开源维护者的一天
作者: 小林
来源: https://example.org/posts/maintainer-day
发布日期: 2024年3月5日
标签: [开源, 访谈]
摘要: 一次关于维护开源项目的对话。
封面: cover.jpg
---

正文。
"""


def test_chinese_front_matter_keys():
    m = read_text(CHINESE_FRONT_MATTER).meta
    assert (m.title, m.author, m.date, m.tags, m.description, m.cover) == (
        "开源维护者的一天", "小林", "2024-03-05", ("开源", "访谈"), "一次关于维护开源项目的对话。", "cover.jpg")
    assert (m.url, m.source) == ("https://example.org/posts/maintainer-day", "")


def test_source_that_is_a_name_stays_the_source():
    assert meta_fields({"来源": "某某周刊", "原文地址": "https://e.com/x"}) == {
        "source": "某某周刊", "url": "https://e.com/x"}


def test_leading_credit_lines_are_read_and_leave_the_body():
    doc = read_text("**作者：**小林  \n**发布日期：**2024-03-05\n\n来源：https://e.com/a\n\n正文第一段。\n")
    assert (doc.meta.author, doc.meta.date, doc.meta.url) == ("小林", "2024-03-05", "https://e.com/a")
    body = [plain_text(b.children) for s in doc.sections for b in s.blocks]
    assert body == ["正文第一段。"]


def test_broken_sidecar_keeps_the_keys_that_parse_and_names_the_line(tmp_path):
    path = tmp_path / "a.metadata.yaml"
    path.write_text("title: 旁注标题\nauthor: 小林\nsummary: [没有闭合\ndate: 2024-03-05\n", encoding="utf-8")
    data, warnings = load_sidecar(path)
    assert data == {"title": "旁注标题", "author": "小林", "date": dt.date(2024, 3, 5)}
    [warning] = warnings
    assert warning.startswith(f"{path}:4: ") and "kept the 3 key(s) that parse (title, author, date)" in warning
