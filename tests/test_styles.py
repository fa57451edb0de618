"""styles/ ↔ the renderers: the class contract at the top of base.css lists exactly the classes the
EPUB and PDF renderers emit (on the seed, every transcript and a fixture that uses every node)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interview_export import reader
from interview_export.backends import epub, pdf
from interview_export.model import (
    BlockQuote,
    CodeBlock,
    DialogueTurn,
    Document,
    Figure,
    InlineImage,
    ListBlock,
    Meta,
    Paragraph,
    Quote,
    Section,
    Table,
    Text,
    ThematicBreak,
)
from interview_export.options import Options
from interview_export.prepare import prepare
from interview_export.resources import read_style

from conftest import CORPUS, SEED
from helpers import FakeAsset, FakeMedia, png_bytes

_CLASS_ATTR = re.compile(r'\bclass="([^"]*)"')
_BRACES = re.compile(r"^(.*)\{([^}]*)\}(.*)$")


def contract() -> set[str]:
    """The classes listed at the top of base.css: the indented lines after "Class-name contract",
    up to the first blank line; ``x-{a|b}`` stands for x-a and x-b, ``language-*`` for any suffix."""
    head = read_style("base.css").split("*/", 1)[0]
    lines = head.split("Class-name contract", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    classes: set[str] = set()
    for line in lines:
        if not line.startswith("     "):
            continue
        for token in line.split():
            token = re.sub(r"\[[^\]]*\]", "", token)
            if "." not in token or not re.match(r"^[a-z0-9/]*\.", token):
                continue
            for spec in token.split(".")[1:]:
                match = _BRACES.match(spec)
                classes.update(f"{match[1]}{alt}{match[3]}" for alt in match[2].split("|")) if match \
                    else classes.add(spec)
    return classes


def emitted(html: str) -> set[str]:
    return {cls for attr in _CLASS_ATTR.findall(html) for cls in attr.split()}


def _covered(cls: str, listed: set[str]) -> bool:
    return cls in listed or any(item.endswith("*") and cls.startswith(item[:-1]) for item in listed)


def _fixture() -> tuple[Document, FakeMedia]:
    """A book with every node type and every variant the renderers style differently."""
    turns = (
        DialogueTurn("主持人", "host", (Paragraph((Text("你好。"),)),), timestamp="[00:01]"),
        DialogueTurn("张三", "guest", (Paragraph((Text("谢谢。"), InlineImage("https://cdn/i.png", "图"),
                                                   InlineImage("https://cdn/gone.png", "丢失"))),),
                     title="CTO"),
        DialogueTurn("张三", "guest", (Figure("https://cdn/tall.png", "高图", "高图"),), continued=True),
    )
    blocks = (
        Paragraph((Text("他说：“好。”然后走了。"),)),   # ”“ pairs: squeezed marks
        Figure("https://cdn/wide.png", "宽图", "宽图的说明"),
        Figure("https://cdn/gone.png", "丢失的图", "另一段说明"),
        Table(((Text("左"),), (Text("中"),), (Text("右"),)), (((Text("1"),), (Text("2"),), (Text("3"),)),),
              ("left", "center", "right")),
        CodeBlock("print(1)", "python"),
        ThematicBreak(),
        BlockQuote((Paragraph((Text("引文。"),)),)),
        ListBlock(False, ((Paragraph((Text("一项"),)),),)),
    )
    meta = Meta(title="契约", subtitle="副题", source="来源", author="作者", translator="编译者",
                date="2026-01-01", url="https://example.com/a", language="zh-CN", tags=("标签",),
                cover="https://cdn/banner.png")
    doc = Document(meta=meta, lead=(Paragraph((Text("导语。"),)),),
                   sections=(Section("s1", "对话", turns, 1), Section("s2", "其他", blocks, 2)),
                   quotes=(Quote((Text("一句话。"),), "张三"),), colophon=(Paragraph((Text("注。"),)),))
    png = png_bytes()
    bag = FakeMedia({
        "https://cdn/i.png": FakeAsset("https://cdn/i.png", "images/i.png", png, "image/png", 20, 20),
        "https://cdn/wide.png": FakeAsset("https://cdn/wide.png", "images/wide.png", png, "image/png", 800, 400),
        "https://cdn/tall.png": FakeAsset("https://cdn/tall.png", "images/tall.png", png, "image/png", 400, 800),
        "https://cdn/banner.png": FakeAsset("https://cdn/banner.png", "images/banner.png", png, "image/png", 1280, 544),
        "https://cdn/gone.png": FakeAsset("https://cdn/gone.png", "", b"", "", 0, 0, status="placeholder"),
    })
    return doc, bag


def _classes(doc: Document, media, **options) -> set[str]:
    """Every class in the EPUB's XHTML files and in the HTML the PDF backend gives WeasyPrint."""
    book = prepare(doc, Options(embed_fonts=False, **options), media=media)
    files = epub.build_files(book)
    found = set().union(*(emitted(data.decode("utf-8")) for name, data in files.items() if name.endswith(".xhtml")))
    return found | emitted(pdf.assemble_html(book))


def _inputs() -> list[Path]:
    return [SEED, *sorted((CORPUS / "transcripts").glob("[0-9]*.md"))] if CORPUS.is_dir() else []


@pytest.fixture(scope="module")
def fixture_classes() -> set[str]:
    doc, bag = _fixture()
    empty = Document(meta=Meta(title="空", language="zh-CN"))     # its TOC lists only the colophon
    return _classes(doc, bag) | _classes(doc, bag, vertical=True) | _classes(empty, None)


def test_the_contract_parses():
    listed = contract()
    assert {"turn", "host", "guest", "toc-lead", "toc-colophon", "quote-open", "align-right",
            "language-*", "pdf-part", "part-section"} <= listed, sorted(listed)


def test_every_emitted_class_is_in_the_contract_and_every_listed_class_is_emitted(fixture_classes):
    listed = contract()
    assert sorted(c for c in fixture_classes if not _covered(c, listed)) == [], "emitted, not in base.css's contract"
    assert sorted(c for c in listed if not _covered(c, fixture_classes) and c != "language-*") == [], \
        "listed in base.css's contract, never emitted"


@pytest.mark.corpus
@pytest.mark.parametrize("path", _inputs() or [None], ids=lambda p: p.stem if p else "(corpus absent)")
def test_seed_and_transcripts_emit_only_contract_classes(corpus, path):
    doc = reader.read_path(path, Options(offline=True))
    found = _classes(doc, None)
    listed = contract()
    assert sorted(c for c in found if not _covered(c, listed)) == [], path.name


def test_every_class_has_a_rule_or_says_why_not():
    """A contract class no stylesheet mentions is a class nobody styles: say so in the contract."""
    sheets = "\n".join(read_style(name).split("*/", 1)[1] for name in ("base.css", "epub.css", "print.css"))
    unstyled = sorted(c for c in contract() if "*" not in c and not re.search(rf"\.{re.escape(c)}\b", sheets))
    assert unstyled == UNSTYLED, unstyled


#: contract classes no stylesheet of ours needs: hooks for a user's --css (a source row's kind, a
#: table cell's default alignment, a continued turn …); a new class lands here only on purpose
UNSTYLED = ["align-left", "author", "chapter", "continued", "date", "section-title-text", "tall", "toc-colophon",
            "translator"]
