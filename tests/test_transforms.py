"""transforms: each named rule alone on small documents, the order, and switching rules off."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from interview_export.errors import UsageError
from interview_export.model import Code, Figure, Paragraph, Strong, Text, ThematicBreak, plain_text
from interview_export.options import Options
from interview_export.reader import parse_text, read_text
from interview_export.transforms import (
    TRANSFORM_NAMES,
    TRANSFORMS,
    apply_transforms,
    cut_colophon,
    lift_header,
    make_quotes_page,
    pair_inlines,
    pair_quote_marks,
    pair_strings,
    pick_cover,
    split_attribution,
    trim_rules,
)

OPTS = Options()


def texts(blocks):
    return [plain_text(b.children) for b in blocks if isinstance(b, Paragraph)]


# an interview with rules, a heading and an image (its dialogue rules are tested in test_dialogue.py)
INTERVIEW = (Path(__file__).parent / "fixtures" / "dialogue" / "transcript-chapters.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- quotes page
QUOTES = """## 正文

内容

## {title}

> "第一句。"——张三

> "第二句。"—— 李四

> 第三句，没有署名。

> 第四句。
>
> ——王五

> *"第五句。"* -- 赵六
"""


def test_quotes_page_from_a_titled_final_section():
    doc = make_quotes_page(parse_text(QUOTES.format(title="总结：金句")), OPTS)
    assert [s.title for s in doc.sections] == ["正文"]
    assert doc.quotes_title == "总结：金句"
    assert [(plain_text(q.children), q.attribution) for q in doc.quotes] == [
        ('"第一句。"', "张三"), ('"第二句。"', "李四"), ("第三句，没有署名。", ""), ("第四句。", "王五"),
        ('"第五句。"', "赵六")]


def test_quotes_page_from_a_section_of_only_blockquotes():
    doc = make_quotes_page(parse_text(QUOTES.format(title="最后")), OPTS)
    assert doc.quotes_title == "最后" and len(doc.quotes) == 5


def test_no_quotes_page_for_an_ordinary_final_section():
    doc = parse_text("## 一\n\n正文\n\n## 二\n\n> 引用\n\n普通段落\n")
    assert make_quotes_page(doc, OPTS) is doc


def test_quotes_section_override_from_front_matter():
    src = "---\nquotes_section: 一\n---\n## 一\n\n> 甲\n\n## 金句\n\n> 乙\n"
    doc = make_quotes_page(parse_text(src), OPTS)
    assert doc.quotes_title == "一" and [s.title for s in doc.sections] == ["金句"]
    none = make_quotes_page(parse_text("---\nquotes_section: none\n---\n## 金句\n\n> 乙\n"), OPTS)
    assert none.quotes == () and len(none.sections) == 1


@pytest.mark.parametrize("text, quote, who", [
    ("好句子。——Jerry", "好句子。", "Jerry"),
    ("好句子。—— Jerry Tworek", "好句子。", "Jerry Tworek"),
    ("Good line. -- Ada", "Good line.", "Ada"),
    ("没有署名的句子——但破折号在中间，后面还有很多话。", "没有署名的句子——但破折号在中间，后面还有很多话。", ""),
    ('"同时不在乎——这真的非常难。"', '"同时不在乎——这真的非常难。"', ""),
])
def test_split_attribution(text, quote, who):
    children, attribution = split_attribution((Text(text),))
    assert (plain_text(children), attribution) == (quote, who)


# ---------------------------------------------------------------- colophon
def test_colophon_after_the_last_rule():
    src = "## 一\n\n正文\n\n---\n\n*图片来源：甲*\n*播客来源：乙*\n\n![二维码](qr.png)\n"
    doc = cut_colophon(parse_text(src), OPTS)
    assert texts(doc.sections[0].blocks) == ["正文"]
    assert [type(b) for b in doc.colophon] == [Paragraph, Paragraph, Figure]
    assert texts(doc.colophon) == ["图片来源：甲", "播客来源：乙"]


def test_no_colophon_when_the_tail_is_body_text():
    doc = parse_text("## 一\n\n正文\n\n---\n\n这是正文的最后一段，不是署名。\n")
    assert cut_colophon(doc, OPTS) is doc


def test_trailing_qr_image_without_a_rule():
    doc = cut_colophon(parse_text("## 一\n\n正文\n\n![扫码关注](qr.png)\n"), OPTS)
    assert [b.alt for b in doc.colophon] == ["扫码关注"] and texts(doc.sections[0].blocks) == ["正文"]


# ---------------------------------------------------------------- header, cover, rules
def test_header_box_and_credit_line_lift_into_meta():
    src = "# 标题\n\n> 来源：某刊，2026-01-23\n> 原文链接：https://e.com/a\n\n---\n\n**编译 | 小王**\n\n正文第一段\n\n## 一\n\n甲\n"
    doc = lift_header(parse_text(src), OPTS)
    m = doc.meta
    assert (m.source, m.date, m.url, m.translator) == ("某刊", "2026-01-23", "https://e.com/a", "小王")
    assert [type(b) for b in doc.lead] == [ThematicBreak, Paragraph] and texts(doc.lead) == ["正文第一段"]


def test_ordinary_leading_blockquote_is_not_a_header():
    doc = parse_text("# 标题\n\n> 这只是一段引语，没有任何出处信息。\n\n## 一\n\n甲\n")
    assert lift_header(doc, OPTS) is doc


def test_cover_is_the_first_lead_image():
    doc = pick_cover(parse_text("# t\n\n导语\n\n![封面图](c.jpg)\n\n![第二张](d.jpg)\n\n## 一\n\n![节内](e.jpg)\n"), OPTS)
    assert doc.meta.cover == "c.jpg"
    assert [b.src for b in doc.lead if isinstance(b, Figure)] == ["d.jpg"]


def test_qr_code_is_not_the_cover():
    doc = pick_cover(parse_text("![扫码关注](qr.png)\n\n![封面](c.jpg)\n\n## 一\n"), OPTS)
    assert doc.meta.cover == "c.jpg" and [b.src for b in doc.lead] == ["qr.png"]


def test_cover_from_metadata_wins():
    doc = pick_cover(parse_text("---\ncover: x.jpg\n---\n![封面图](c.jpg)\n\n## 一\n"), OPTS)
    assert doc.meta.cover == "x.jpg" and isinstance(doc.lead[0], Figure)


def test_trim_rules():
    doc = trim_rules(parse_text("---\n\n导语\n\n---\n\n---\n\n导语二\n\n---\n\n## 一\n\n---\n\n甲\n\n---\n"), OPTS)
    assert [type(b) for b in doc.lead] == [Paragraph, ThematicBreak, Paragraph]
    assert [type(b) for b in doc.sections[0].blocks] == [Paragraph]


# ---------------------------------------------------------------- quotation marks
@pytest.mark.parametrize("before, after", [
    ('一套"配方"', "一套“配方”"),
    ('他说"hello"。', "他说“hello”。"),
    ('"我真的崩溃了""这太难受了"', "“我真的崩溃了”“这太难受了”"),
    ("同一套'配方'", "同一套‘配方’"),
    ('"外层\'内层\'外层"', "“外层‘内层’外层”"),
    ('He said "hello" to me.', 'He said "hello" to me.'),
    ("it's Jerry's '配方'", "it's Jerry's ‘配方’"),
    ('一个"单独的引号', '一个"单独的引号'),
])
def test_pair_strings(before, after):
    new, _ = pair_inlines((Text(before),))
    assert new[0].text == after


def test_pairing_crosses_formatting_but_skips_code():
    inlines = (Text('他说："'), Strong((Text("这是策略"),)), Text('"，代码 '), Code('"x"'), Text(" 结束"))
    new, odd = pair_inlines(inlines)
    assert not odd
    assert plain_text(new) == '他说：“这是策略”，代码 "x" 结束'


def test_odd_count_is_left_alone_with_a_warning():
    doc = pair_quote_marks(parse_text('## 一\n\n一个"单独的引号。\n', name="q.md"), OPTS)
    assert texts(doc.sections[0].blocks) == ['一个"单独的引号。']
    assert doc.warnings == ("q.md:3: odd number of straight quotation marks; left unchanged",)


def test_titles_and_quotes_are_paired_and_code_blocks_untouched():
    doc = read_text('# 关于"配方"\n\n## 一套"配方"\n\n```\nx = "配方"\n```\n\n## 金句\n\n> "好"——甲\n')
    assert doc.meta.title == "关于“配方”" and doc.sections[0].title == "一套“配方”"
    assert doc.sections[0].blocks[0].code == 'x = "配方"'
    assert plain_text(doc.quotes[0].children) == "“好”"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet='"\'中文ab ，。', max_size=12), min_size=1, max_size=4))
def test_pairing_keeps_everything_but_the_marks(pieces):
    new, odd = pair_strings(pieces, '"', "“", "”")
    assert len(new) == len(pieces)
    for old, changed in zip(pieces, new):
        assert old.replace('"', "") == changed.replace("“", "").replace("”", "").replace('"', "")
    joined = "".join(new)
    assert joined.count("“") == joined.count("”")
    if odd:
        assert new == pieces


# ---------------------------------------------------------------- the list itself
def test_transform_names_are_unique_and_ordered():
    assert len(TRANSFORM_NAMES) == len(set(TRANSFORM_NAMES))
    order = list(TRANSFORM_NAMES)
    assert order.index("colophon") < order.index("quotes") < order.index("quote-marks")
    assert order.index("cover") < order.index("single-section")
    assert order.index("dialogue") < order.index("convert") < order.index("quote-style")
    assert order.index("quote-marks") < order.index("quote-style")


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
def test_each_transform_can_be_switched_off(name):
    src = ("# 题\n\n> 来源：某刊，2026-01-23\n\n![封面图](c.jpg)\n\n---\n\n导语\n\n## 一\n\n"
           '**主持人**：问"好"？\n\n**甲**：答\n\n**主持人**：再问\n\n**甲**：再答\n\n## 金句\n\n> 话——甲\n\n---\n\n*图片来源：某处*\n')
    if name == "single-section":
        src = "# 题\n\n只有正文，没有二级标题。\n"
    # the script and quote-style transforms act when asked to (--convert, --quotes)
    asked = {"convert": {"convert": "s2t"}, "quote-style": {"quotes": "corner"}}.get(name, {})
    on = read_text(src, options=Options(**asked))
    off = read_text(src, options=Options(disabled_transforms=(name,), **asked))
    assert on != off
    assert read_text(src, options=Options(disabled_transforms=TRANSFORM_NAMES)) == parse_text(src)


def test_unknown_transform_name_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown transform"):
        apply_transforms(parse_text("x"), Options(disabled_transforms=("nope",)))


def test_transforms_are_pure_and_idempotent():
    doc = parse_text(INTERVIEW + "\n## 金句\n\n> 一句——甲\n\n---\n\n*来源：某处*\n")
    once = apply_transforms(doc, OPTS)
    assert apply_transforms(doc, OPTS) == once
    assert apply_transforms(once, OPTS) == once
    for name, func in TRANSFORMS:
        assert func(doc, OPTS) == func(doc, OPTS), name
