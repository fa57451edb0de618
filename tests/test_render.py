"""render.py: model → XHTML parts (well-formed, escaped, safe links, dialogue/quotes markup)."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

import pytest
from hypothesis import given, settings, strategies as st

from interview_export import render
from interview_export.backends.epub import EpubRenderer
from interview_export.backends.pdf import PdfRenderer
from interview_export.model import (
    BlockQuote,
    Code,
    CodeBlock,
    DialogueTurn,
    Document,
    Emphasis,
    Figure,
    Heading,
    InlineImage,
    LineBreak,
    Link,
    ListBlock,
    Meta,
    Paragraph,
    Quote,
    Section,
    Strong,
    Table,
    Text,
    ThematicBreak,
)
from interview_export.options import Options
from interview_export.prepare import prepare
from interview_export.resources import read_style

from helpers import FakeAsset, FakeMedia

XHTML = "{http://www.w3.org/1999/xhtml}"


def sample_doc() -> Document:
    meta = Meta(title="大模型圈 <娱乐化> & 离职", source="InfoQ 公众号", translator="Tina",
                date="2026-01-23", url="https://mp.weixin.qq.com/s/abc?x=1&y=2", language="zh-CN")
    turns = (
        DialogueTurn("主持人", "host", (Paragraph((Text("你好？"),)),)),
        DialogueTurn("Jerry", "guest", (Paragraph((Text("第一段。"),)), Paragraph((Text("第二段。"),)))),
    )
    s1 = Section("s1", "当整个行业只剩一套配方", (*turns, Figure("https://x/a.png", alt="离职声明", caption="离职声明")), 1)
    s2 = Section("s2", "无编号", (Figure("https://x/missing.png", alt="二维码"),), None)
    quotes = (Quote((Text("“少跑一点实验。”"),), attribution="Jerry Tworek"),
              Quote((Text("研究结构更重要。"),)))
    return Document(meta=meta, lead=(Paragraph((Text("导语段落"),)),), sections=(s1, s2), quotes=quotes,
                    quotes_title="总结：对话金句", colophon=(Paragraph((Emphasis((Text("图片来源"),)),)),))


def sample_media() -> FakeMedia:
    return FakeMedia({"https://x/a.png": FakeAsset("https://x/a.png", "images/0a1b.png", media_type="image/png"),
                      "https://x/missing.png": FakeAsset("https://x/missing.png", status="placeholder")})


def parse(fragment: str) -> ET.Element:
    doc = render.xhtml_document(fragment, title="t", lang="zh-CN")
    return ET.fromstring(doc.encode("utf-8"))


def test_parts_order_kinds_and_ascii_filenames():
    parts = render.render_parts(sample_doc(), sample_media(), Options(), renderer=EpubRenderer, cover_src="images/cover.jpg")
    assert [p.kind for p in parts] == ["cover", "titlepage", "toc", "lead", "section", "section", "quotes", "colophon"]
    assert [p.filename for p in parts] == ["cover.xhtml", "titlepage.xhtml", "nav.xhtml", "lead.xhtml",
                                           "section-01.xhtml", "section-02.xhtml", "quotes.xhtml", "colophon.xhtml"]
    assert all(p.filename.isascii() for p in parts)
    assert len({p.id for p in parts}) == len(parts)
    for part in parts:
        parse(part.body)  # well-formed


def test_no_cover_part_without_cover_or_with_no_cover():
    kinds = [p.kind for p in render.render_parts(sample_doc(), sample_media(), renderer=EpubRenderer)]
    assert "cover" not in kinds
    kinds = [p.kind for p in render.render_parts(sample_doc(), sample_media(), Options(no_cover=True),
                                                 renderer=EpubRenderer, cover_src="c.jpg")]
    assert "cover" not in kinds


def test_dialogue_turn_markup():
    parts = render.render_parts(sample_doc(), sample_media(), renderer=EpubRenderer)
    sec = next(p for p in parts if p.kind == "section")
    root = parse(sec.body)
    turns = [e for e in root.iter(f"{XHTML}section") if "turn" in e.get("class", "").split()]
    assert [(t.get("class"), t.get("data-speaker")) for t in turns] == [("turn host", "主持人"), ("turn guest", "Jerry")]
    guest = turns[1]
    assert guest.find(f"{XHTML}p").get("class") == "speaker"
    body = guest.find(f"{XHTML}div")
    assert body.get("class") == "utterance" and len(body.findall(f"{XHTML}p")) == 2


def test_turn_label_carries_timestamp_title_and_continuation():
    turns = (DialogueTurn("王芳", "guest", (Paragraph((Text("好。"),)),), title="产品总监"),
             DialogueTurn("Dana Reyes", "host", (Paragraph((Text("Hi."),)),), timestamp="[00:00:05]", title="host"),
             DialogueTurn("王芳", "guest", (Paragraph((Text("接着说。"),)),), continued=True))
    doc = sample_doc().replace(sections=(Section("s1", "一", turns, 1),))
    sec = next(p for p in render.render_parts(doc, sample_media(), renderer=EpubRenderer) if p.kind == "section")
    root = parse(sec.body)
    labels = [e for e in root.iter(f"{XHTML}p") if e.get("class") == "speaker"]
    assert ["".join(e.itertext()) for e in labels] == ["王芳（产品总监）", "00:00:05 Dana Reyes (host)", "王芳"]
    assert [s.get("class") for s in labels[1]] == ["timestamp", "speaker-title"]
    assert [e.get("class") for e in root.iter(f"{XHTML}section") if "turn" in e.get("class", "")][2] == \
        "turn guest continued"
    printed = next(p for p in PdfRenderer(prepare(doc, media=sample_media())).render_parts(doc)
                   if p.kind == "section").body
    assert '<span class="speaker"><span class="timestamp">00:00:05</span> Dana Reyes' in printed
    assert printed.count('class="turn-first"') == 3 and 'class="speaker"' in printed
    assert '<p class="speaker">' not in printed        # paper: every label run-in, no block label left


def test_pdf_label_stays_a_block_when_the_turn_opens_with_a_figure():
    turn = DialogueTurn("王芳", "guest", (Figure("images/x.jpg", alt="图"), Paragraph((Text("好。"),))))
    doc = sample_doc().replace(sections=(Section("s1", "一", (turn,), 1),))
    printed = next(p for p in PdfRenderer(prepare(doc, media=sample_media())).render_parts(doc)
                   if p.kind == "section").body
    assert '<p class="speaker">王芳</p><div class="utterance"><div class="figure placeholder"' in printed
    assert "turn-first" not in printed


def test_section_heading_has_number_and_toc_lists_sections_and_quotes():
    parts = render.render_parts(sample_doc(), sample_media(), renderer=EpubRenderer)
    sec = parts[2] if parts[0].kind == "cover" else next(p for p in parts if p.kind == "section")
    assert '<span class="section-number">1</span>' in sec.body
    toc = next(p for p in parts if p.kind == "toc")
    root = parse(toc.body)
    hrefs = [a.get("href") for a in root.iter(f"{XHTML}a")]
    assert hrefs == ["lead.xhtml", "section-01.xhtml", "section-02.xhtml", "quotes.xhtml"]
    texts = ["".join(a.itertext()) for a in root.iter(f"{XHTML}a")]
    assert texts[1] == "1 当整个行业只剩一套配方" and texts[2] == "无编号" and texts[3] == "总结：对话金句"


def test_one_document_renderer_links_are_anchors_and_parts_know_their_ids():
    parts = render.render_parts(sample_doc(), sample_media())          # the base renderer: one HTML document
    toc = next(p for p in parts if p.kind == "toc")
    ids = {p.id for p in parts}
    hrefs = re.findall(r'href="#([^"]+)"', toc.body)
    assert hrefs and set(hrefs) <= ids
    sec = next(p for p in parts if p.kind == "section")
    assert f'id="{sec.id}"' in sec.body
    assert {p.kind for p in parts if p.anchored} == {"section", "toc", "quotes"}


def test_renderer_records_the_images_it_references():
    r = EpubRenderer(sample_media(), Options())
    parts = r.render_parts(sample_doc(), "images/cover.jpg")
    written = set(re.findall(r'<img [^>]*?src="([^"]+)"', "".join(p.body for p in parts)))
    assert r.images == written and "images/cover.jpg" in r.images


def test_title_page_source_box():
    parts = render.render_parts(sample_doc(), sample_media(), renderer=EpubRenderer)
    title = next(p for p in parts if p.kind == "titlepage")
    root = parse(title.body)
    text = "".join(root.itertext())
    for label in ("来源", "编译", "日期", "原文链接", "InfoQ 公众号", "Tina", "2026-01-23"):
        assert label in text
    assert "大模型圈 <娱乐化> & 离职" in text
    links = [a.get("href") for a in root.iter(f"{XHTML}a")]
    assert links == ["https://mp.weixin.qq.com/s/abc?x=1&y=2"]
    assert 'class="source-box"' in title.body and 'class="title-page"' in title.body


def test_quotes_page():
    parts = render.render_parts(sample_doc(), sample_media(), renderer=EpubRenderer)
    q = next(p for p in parts if p.kind == "quotes")
    root = parse(q.body)
    quotes = [e for e in root.iter(f"{XHTML}blockquote") if e.get("class") == "quote"]
    assert len(quotes) == 2
    attributions = [e for e in root.iter(f"{XHTML}p") if e.get("class") == "quote-attribution"]
    assert len(attributions) == 1 and "Jerry Tworek" in "".join(attributions[0].itertext())
    # the quote's own wrapping quotation marks are replaced by the decorative ones
    first = "".join(quotes[0].find(f"{XHTML}p").itertext())
    assert first == "“少跑一点实验。”"
    assert 'class="quotes-page"' in q.body


def test_images_and_placeholders():
    parts = render.render_parts(sample_doc(), sample_media(), renderer=EpubRenderer)
    body = "".join(p.body for p in parts)
    assert '<img src="images/0a1b.png" alt="离职声明"' in body
    assert "<figcaption>离职声明</figcaption>" in body
    root = parse(next(p for p in parts if p.id == "s2").body)
    ph = [e for e in root.iter(f"{XHTML}div") if "placeholder" in e.get("class", "")]
    assert len(ph) == 1
    assert "二维码" in "".join(ph[0].itertext()) and "https://x/missing.png" in "".join(ph[0].itertext())
    assert not any(e.tag == f"{XHTML}img" for e in root.iter())


def test_figure_without_caption_has_no_figcaption():
    r = render.HTMLRenderer(sample_media())
    html = r.render(Figure("https://x/a.png", alt="封面图"))
    assert "figcaption" not in html and 'alt="封面图"' in html


def test_data_uri_placeholder_is_summarised():
    r = render.HTMLRenderer(FakeMedia())
    html = r.render(Figure("data:image/png;base64," + "A" * 100000, alt="x"))
    assert len(html) < 500 and "data:image/png;base64" in html


@pytest.mark.parametrize("href", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:x",
                                  "data:text/html,<b>", "file:///etc/passwd", "vbscript:x", "java\tscript:x",
                                  "#frag", "relative.html", "mailto:"])
def test_unsafe_links_become_text(href):
    r = render.HTMLRenderer()
    html = r.render(Paragraph((Link(href, (Text("点我"),)),)))
    assert html == "<p>点我</p>"


@pytest.mark.parametrize("href", ["http://a.example/x", "https://a.example/?a=1&b=2", "mailto:a@b.c", "HTTPS://A.EXAMPLE"])
def test_safe_links_survive(href):
    html = render.HTMLRenderer().render(Link(href, (Text("x"),)))
    root = parse(f"<p>{html}</p>")
    assert [a.get("href") for a in root.iter(f"{XHTML}a")] == [href]


def test_every_node_type_renders():
    r = render.HTMLRenderer(sample_media())
    blocks = (
        Paragraph((Text("a"), Strong((Text("b"),)), Emphasis((Text("c"),)), Code("<d>"), LineBreak(),
                   InlineImage("https://x/a.png", alt="i"), InlineImage("nope.png", alt="n"))),
        Heading(3, (Text("h"),)), Heading(1, (Text("h1"),)),
        BlockQuote((Paragraph((Text("q"),)),)),
        ListBlock(True, ((Paragraph((Text("1"),)),), (Paragraph((Text("2"),)),)), start=3),
        ListBlock(False, ((Paragraph((Text("u"),)),),)),
        CodeBlock("x < y && z", "python"),
        Table(((Text("h1"),), (Text("h2"),)), (((Text("1"),), (Text("2"),)),), ("left", "right")),
        ThematicBreak(),
    )
    html = r.blocks(blocks)
    root = parse(html)
    tags = {e.tag.replace(XHTML, "") for e in root.iter()}
    assert {"strong", "em", "code", "br", "img", "h3", "blockquote", "ol", "ul", "pre", "table", "hr"} <= tags
    assert '<ol start="3">' in html and "&lt;d&gt;" in html and "x &lt; y &amp;&amp; z" in html
    assert "<h1>" not in html  # sub-headings never compete with the book title


def test_unknown_node_type_is_an_error():
    with pytest.raises(TypeError):
        render.HTMLRenderer().render(object())


def test_xhtml_document_header():
    doc = render.xhtml_document("<p>x</p>", title="标题", lang="zh-CN", stylesheets=("styles/base.css",))
    assert doc.startswith('<?xml version="1.0" encoding="utf-8"?>\n')
    root = ET.fromstring(doc.encode())
    assert root.get("lang") == "zh-CN" and root.get("{http://www.w3.org/XML/1998/namespace}lang") == "zh-CN"


def test_language_detection():
    assert render.document_language(Document(meta=Meta(language="en-GB"))) == "en-GB"
    assert render.document_language(Document(lead=(Paragraph((Text("这是中文的内容 with English"),)),))) == "zh-CN"
    assert render.document_language(Document(lead=(Paragraph((Text("Plain English text"),)),))) == "en"
    # one detector (util.detect_language) for the reader and the renderer: kana is Japanese, no letters zh-CN
    assert render.document_language(Document(lead=(Paragraph((Text("これは日本語の文章です。"),)),))) == "ja"
    assert render.document_language(Document(lead=(Paragraph((Text("12 + 3 = 15"),)),))) == "zh-CN"


def test_generated_text_covers_labels():
    text = render.generated_text(sample_doc())
    for label in ("目录", "来源", "编译", "日期", "原文链接", "封面", "“", "”", "——"):
        assert label in text


def test_base_css_lists_contract_and_has_no_colours():
    css = read_style("base.css")
    head = css.split("*/", 1)[0]
    for cls in (".utterance", ".speaker", ".quotes-page", ".quote-attribution", ".title-page",
                ".source-box", ".placeholder", ".colophon", ".section-number", ".figure"):
        assert cls in head
    rules = css.split("*/", 1)[1]
    assert not re.search(r"(?<![-\w])(color|background(-color)?)\s*:(?!\s*(inherit|transparent|currentColor))", rules), \
        "base.css must not hard-code colours (night mode, e-ink)"
    for cls in ("span.timestamp", "span.speaker-title", "section.turn.continued"):
        assert cls in head


@pytest.mark.parametrize("name", ["base.css", "epub.css"])
def test_reader_stylesheets_set_no_colour_anywhere(name):
    """No colour, grey or background in what e-readers get (timestamps are small, not grey)."""
    css = re.sub(r"/\*.*?\*/", "", read_style(name), flags=re.S)
    found = re.findall(r"(?<![-\w])((?:color|background(?:-color)?|opacity)\s*:[^;}]*)", css)
    assert [d for d in found if not re.search(r":\s*(inherit|transparent|currentColor)\s*$", d)] == [], name


text_st = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
inline_st = st.recursive(
    st.one_of(st.builds(Text, text_st), st.builds(Code, text_st), st.just(LineBreak()),
              st.builds(InlineImage, text_st, text_st)),
    lambda kids: st.one_of(st.builds(Strong, st.tuples(kids)), st.builds(Emphasis, st.tuples(kids)),
                           st.builds(Link, text_st, st.tuples(kids), text_st)),
    max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(st.lists(inline_st, max_size=5), text_st, text_st)
def test_any_text_renders_well_formed(inlines, speaker, title):
    doc = Document(meta=Meta(title=title, source=speaker, url=title),
                   sections=(Section("s", title, (DialogueTurn(speaker, "guest", (Paragraph(tuple(inlines)),)),
                                                   Figure(title, alt=speaker, caption=speaker))),),
                   quotes=(Quote(tuple(inlines), attribution=speaker),))
    for part in render.render_parts(doc, FakeMedia(), renderer=EpubRenderer, cover_src="c.jpg"):
        root = parse(part.body)
        for a in root.iter(f"{XHTML}a"):
            assert a.get("href").lower().startswith(("http://", "https://", "mailto:", "section-", "quotes", "lead"))


@pytest.mark.parametrize("text, expected", [
    ("“少跑一点实验。”", "少跑一点实验。"),
    ('"研究结构更重要。"', "研究结构更重要。"),
    ("「一句话」", "一句话"),
    ("没有引号。", "没有引号。"),
    ("“A”和“B”", "“A”和“B”"),
    ('"A"和"B"', '"A"和"B"'),
    ("“", "“"),
])
def test_strip_quote_marks(text, expected):
    assert model_plain(render.strip_quote_marks((Text(text),))) == expected


def test_strip_quote_marks_across_inlines():
    out = render.strip_quote_marks((Text("“开头"), Strong((Text("重点"),)), Text("结尾”")))
    assert model_plain(out) == "开头重点结尾"


def model_plain(inlines) -> str:
    from interview_export.model import plain_text
    return plain_text(inlines)
