"""backends/weasy_html.py: our HTML's tree built by expat is the tree tinyhtml5 builds, and every
case it refuses is one where the two differ."""

from __future__ import annotations

import re
import xml.parsers.expat
from xml.etree import ElementTree

import pytest
import tinyhtml5

from interview_export.backends import pdf, weasy_html, weasy_speed
from interview_export.options import Options
from interview_export.prepare import prepare
from interview_export.reader import read_text

# every construct our renderer writes for a book: front matter, dialogue, code, tables, lists,
# quotes, notes, images, links, escapes, raw HTML (as text, or the safe subset with --allow-html)
EVERYTHING = """---
title: "标题 <b>粗</b> & 'quotes' \\"double\\""
author: "甲 & 乙"
date: 2026-01-23
---

# 一次对话 <i>x</i> &amp; &nbsp; &copy; &#x80;

> 来源：某公众号，编译 | 某人，2026-01-23
> 原文链接：https://example.com/a?b=1&c=2

**主持人：** 你好 <br> 世界 <div>块</div> <span style="color:red">红</span> H<sub>2</sub>O x<sup>2</sup>

**嘉宾：** 回答 `code <x> & y` 和 *强调* **加粗** ~~删除~~ [链接](https://example.com/?a=1&b=2 "题 & 目")。

## 1 第二部分

```python

def f():
    return "<&>"
```

    indented
    code

| 左 | 中 | 右 |
|:---|:--:|---:|
| 1 <br> 2 | &lt;3 | `x|y` |

> 引用
> > 嵌套

1. 一
   - 二
     - 三
2. 四

- [ ] 待办
- [x] 完成

<table><tr><td>raw table</td></tr></table>

<p>para <p>inner</p>

<svg><circle r="1"/></svg>

<pre>
first</pre>

正文带脚注[^1]，表情 😀，生僻字 𠀀，制表\t符。

[^1]: 注释 <b>粗</b>。

![图 & 说明](images/nothing.png "t&t")

---

<a href="x"><a href="y">nested</a></a> <script>alert(1)</script><style>p{}</style>
"""


def _page(body: str, head: str = "<meta charset=\"utf-8\"/><title>t</title>") -> str:
    return f"<!DOCTYPE html>\n<html lang=\"zh\"><head>{head}</head><body>{body}</body></html>"


def _xml_tree(html: str) -> ElementTree.Element:
    """What expat makes of the page, no questions asked."""
    builder, parser = ElementTree.TreeBuilder(), xml.parsers.expat.ParserCreate()
    parser.StartElementHandler, parser.EndElementHandler = builder.start, builder.end
    parser.CharacterDataHandler = builder.data
    parser.Parse(html[len(weasy_html.DOCTYPE):], True)
    return builder.close()


def _html5_tree(html: str) -> ElementTree.Element:
    return tinyhtml5.parse(html, namespace_html_elements=False)


def _shape(element: ElementTree.Element) -> tuple:
    """Everything WeasyPrint reads of a tree: names, attributes in order, text, tails, children."""
    return (element.tag, list(element.attrib.items()), element.text or None, element.tail or None,
            [_shape(child) for child in element])


@pytest.mark.parametrize("options", [{}, {"allow_html": True},
                                     {"allow_html": True, "convert": "s2hk", "quotes": "curly", "page_size": "A5"}])
def test_our_books_are_built_by_expat_into_tinyhtml5s_tree(options):
    book = prepare(read_text(EVERYTHING, name="everything.md"), Options(offline=True, **options))
    html = pdf.make_job(book).html
    built = weasy_html.expat_tree(html)
    assert built is not None                              # our own markup: nothing refused
    assert _shape(built) == _shape(_html5_tree(html))
    assert len(list(built.iter())) > 60


def test_the_corpus_books_are_built_into_the_same_tree(corpus):
    for path in sorted(corpus.rglob("*.md")):
        if path.name == "README.md" or "cdn" in path.parts:
            continue
        book = prepare(read_text(path.read_text(encoding="utf-8"), name=path.name), Options(offline=True))
        html = pdf.make_job(book).html
        built = weasy_html.expat_tree(html)
        assert built is not None, path
        assert _shape(built) == _shape(_html5_tree(html)), path


# each markup expat_tree refuses, and HTML5 building it otherwise than XML does
DIFFERING = {
    "closes an open p": _page("<p>a<div>b</div></p>"),
    "table in a p": _page("<p>a<table><tbody><tr><td>b</td></tr></tbody></table></p>"),
    "heading in a heading": _page("<h2>a<h3>b</h3></h2>"),
    "link in a link": _page('<p><a href="x">a<a href="y">b</a></a></p>'),
    "row without tbody": _page("<table><tr><td>x</td></tr></table>"),
    "text in a table": _page("<table><tbody><tr><td>x</td></tr></tbody>y</table>"),
    "cell outside a table": _page("<div><td>x</td></div>"),
    "item in an item": _page("<ul><li>a<li>b</li></li></ul>"),
    "ruby text in ruby text": _page("<ruby>a<rt>b<rt>c</rt></rt></ruby>"),
    "pre starting with a newline": _page("<pre>\ncode</pre>"),
    "self-closed div": _page("<div/><p>x</p>"),
    "void element with content": _page("<p>a<br>b</br></p>"),
    "newline in an attribute": _page('<p title="a\nb">x</p>'),
    "character reference": _page("<p>&#x80;</p>"),
    "upper-case name": _page("<P>x</P>"),
    "comment": _page("<p>a<!--c-->b</p>"),
    "svg": _page("<svg><g></g></svg>"),
    "text after the body": _page("<p>x</p>").replace("</body>", "</body>y"),
    "body element in the head": _page("<p>x</p>", head="<title>t</title><div>d</div>"),
}


@pytest.mark.parametrize("name", sorted(DIFFERING))
def test_markup_html5_builds_otherwise_is_left_to_tinyhtml5(name):
    html = DIFFERING[name]
    assert weasy_html.expat_tree(html) is None
    assert _shape(_xml_tree(html)) != _shape(_html5_tree(html))


@pytest.mark.parametrize("html", [_page("<p>&nbsp;</p>"), _page("<p>a<b>b</p></b>"), _page("<p>\x01</p>"),
                                  "<html><head><title>t</title></head><body></body></html>"])
def test_markup_expat_cannot_read_is_left_to_tinyhtml5(html):
    assert weasy_html.expat_tree(html) is None


def test_html_document_gives_weasyprint_the_tree_and_the_same_pdf(monkeypatch):
    weasyprint = weasy_speed.import_weasyprint()
    html = pdf.make_job(prepare(read_text(EVERYTHING, name="everything.md"), Options(offline=True))).html
    built, expat_tree = [], weasy_html.expat_tree
    monkeypatch.setattr(weasy_html, "expat_tree", lambda string: built.append(expat_tree(string)) or built[-1])
    parsed, parse = [], tinyhtml5.parse
    monkeypatch.setattr(tinyhtml5, "parse", lambda *a, **k: parsed.append(1) or parse(*a, **k))
    ours = weasy_html.html_document(html, base_url=pdf.DOCUMENT_URL, media_type="print")
    assert ours.etree_element is built[0] and not parsed
    theirs = weasyprint.HTML(string=html, base_url=pdf.DOCUMENT_URL, media_type="print")
    assert parsed and ours.base_url == theirs.base_url
    assert ours.write_pdf(pdf_identifier=True) == theirs.write_pdf(pdf_identifier=True)
    parsed[:] = []                                     # refused markup: tinyhtml5 parses it
    assert weasy_html.html_document(DIFFERING["comment"]).etree_element is not None and parsed


def test_not_installed_on_another_weasyprint(monkeypatch):
    weasyprint = weasy_speed.import_weasyprint()
    assert weasy_html.install() is True                 # fails when WeasyPrint is not the pinned one
    monkeypatch.setattr(weasyprint, "tinyhtml5", tinyhtml5)
    monkeypatch.setattr(weasy_html, "SOURCE_DIGESTS", {"HTML.__init__": "0" * 64})
    assert weasy_html.install() is False
    parsed, parse = [], tinyhtml5.parse
    monkeypatch.setattr(tinyhtml5, "parse", lambda *a, **k: parsed.append(1) or parse(*a, **k))
    weasy_html.html_document(_page("<p>x</p>"))
    assert parsed


def test_not_installed_with_another_tinyhtml5(monkeypatch):
    weasyprint = weasy_speed.import_weasyprint()
    assert weasy_html.install() is True
    monkeypatch.setattr(weasyprint, "tinyhtml5", tinyhtml5)
    monkeypatch.setattr(tinyhtml5, "__version__", "9.9.9")
    assert weasy_html.install() is False
    assert weasy_html.expat_tree(_page("<p>x</p>")) is not None   # the tree is built, but not handed over
    parsed, parse = [], tinyhtml5.parse
    monkeypatch.setattr(tinyhtml5, "parse", lambda *a, **k: parsed.append(1) or parse(*a, **k))
    weasy_html.html_document(_page("<p>x</p>"))
    assert parsed


# user text with characters the two parsers could read differently: NULs, non-characters, form
# feeds and lone surrogates (dropped by the reader and the escaping), "]]>", "&" sequences, CR/LF,
# tabs, C1 controls and U+2028, code blocks starting with newlines, ruby, footnotes, tables
ODD = ("---\ntitle: \"题\\t目\\r\\n二 \\x85 ]]> &amp; \\u2028\"\nauthor: \"甲\\t乙\"\n---\n\n"
       "# 标\x00题\ufffe \x0c]]> &amp;amp; &#0; &#xD800; &bogus; && \ud800\r\n\n"
       "**主持人：** a\tb\r\nc\x85d\u2028e ]]&gt; <ruby>漢<rt>kan</rt></ruby>[^n]\r\n\r\n"
       "```\n\n\n  x ]]> \x00\n```\n\n    \n    indented\n\n"
       "| a\t| ]]> |\n|---|---|\n| &amp;lt; | \x7f\x80\x9f |\n\n"
       "[^n]: 注 &#x27; ' \" <br> ]]>\n\n"
       "[链\t接](https://e.com/?a=1&b=2 \"t\ta\")\n")


@pytest.mark.parametrize("options", [{}, {"allow_html": True}])
def test_odd_user_text_is_built_into_tinyhtml5s_tree_or_refused(options):
    book = prepare(read_text(ODD, name="odd.md"), Options(offline=True, **options))
    html = pdf.make_job(book).html
    assert weasy_html.expat_tree(html) is None          # tabs, CR, LF in data-title/title attributes
    assert _shape(_xml_tree(html)) != _shape(_html5_tree(html))
    # what is left (controls in text, not in tags): expat builds tinyhtml5's tree
    html = re.sub(r"<[^<>]*>", lambda tag: re.sub(r"[\t\r\n]", " ", tag.group()), html)
    built = weasy_html.expat_tree(html)
    assert built is not None and _shape(built) == _shape(_html5_tree(html))
    assert "]]>" in "".join(built.itertext()) and "\x85" in "".join(built.itertext())
