"""pdf: the WeasyPrint backend, checked with poppler (pdftotext, pdffonts, pdfimages, pdfinfo) and qpdf."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from interview_export import model
from interview_export.backends import pdf
from interview_export.errors import UsageError
from interview_export.fonts import GAP_FONT
from interview_export.options import Options
from interview_export.pagesize import geometry
from interview_export.prepare import prepare

from conftest import CDN_PREFIX, SEED, StaticServer

ROOT = Path(__file__).resolve().parents[1]
from interview_export.reader import read_path, read_text

TOOLS = ("pdftotext", "pdffonts", "pdfimages", "pdfinfo", "qpdf")
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                reason="poppler-utils and qpdf are needed to check PDFs")

CLOSING = "，。、；：？！）」』》”’"
OPENING = "（「『《“‘"

SMALL = """---
title: 小测试：一次对话
author: 编者甲
tags: [访谈, 测试]
---

# 小测试：一次对话

这是导语，用来检查首行缩进和两端对齐。

## 1 第一部分

**主持人**：你好，欢迎来到节目。

**嘉宾**：谢谢邀请，很高兴来到这里。

## 2 第二部分

**主持人**：最后一个问题。

**嘉宾**：这就是我的回答。

## 总结：对话金句

> "少跑一点实验，把每一个实验想得更深。"
"""


# ---------------------------------------------------------------- helpers
def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def write(tmp_path: Path, data: bytes, name: str = "out.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def page_texts(path: Path, layout: bool = True) -> list[str]:
    """The text of every page (pdftotext separates pages with form feeds)."""
    args = ["pdftotext", "-layout", str(path), "-"] if layout else ["pdftotext", str(path), "-"]
    return run(*args).split("\f")[:-1]


def outline(path: Path) -> list[tuple[str, int]]:
    """(title, 1-based page) of every PDF bookmark, depth first."""
    data = json.loads(run("qpdf", "--json", "--json-key=outlines", str(path)))
    out = []

    def walk(items):
        for item in items:
            out.append((item["title"], item["destpageposfrom1"]))
            walk(item.get("kids", []))

    walk(data["outlines"])
    return out


def toc_entries(pages: list[str]) -> list[tuple[str, int]]:
    """(title, page number) of each TOC line: 'title ………… 12' on the page titled 目录."""
    toc_page = next(p for p in pages if "目录" in p)
    entries = []
    for line in toc_page.splitlines():
        match = re.match(r"^\s*(\S.*?)\s*(?:…\s*){1,}\s*(\d+)\s*$", line)
        if match:
            entries.append((match[1], int(match[2])))
    return entries


def folio(page_text: str) -> str:
    """The last non-empty line of a page: where the folio is."""
    lines = [line.strip() for line in page_text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pdfinfo(path: Path) -> dict[str, str]:
    info = {}
    for line in run("pdfinfo", "-isodates", str(path)).splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


# ---------------------------------------------------------------- the fetcher
def test_fetcher_serves_only_what_it_was_given():
    served = pdf.Served()
    served.add("images/a.png", "image/png", b"PNGDATA")
    fetcher = pdf.make_fetcher(served)
    response = fetcher.fetch(pdf.BASE_URL + "images/a.png")
    assert response.read() == b"PNGDATA" and response.content_type == "image/png"
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.css", "https://cdn.jsdelivr.net/x.png",
                "data:text/css,body{}", pdf.BASE_URL + "images/b.png", pdf.BASE_URL + "../etc/passwd",
                "ftp://example.com/x"):
        with pytest.raises(PermissionError, match="refused"):
            fetcher.fetch(url)
    assert len(fetcher.refused) == 7
    # a path that bypassed fetch() is closed too: WeasyPrint's own fetch allows no protocol, and
    # urllib's open() (what it would call) refuses
    from weasyprint.urls import URLFetcher

    with pytest.raises(ValueError, match="disallowed protocol"):
        URLFetcher.fetch(fetcher, "file:///etc/passwd")
    with pytest.raises(PermissionError, match="refused"):
        fetcher.open("file:///etc/passwd")


def test_user_css_cannot_reach_files_or_network(tmp_path):
    secret = tmp_path / "secret.css"
    secret.write_text('body::before { content: "SECRETFILE"; }', encoding="utf-8")
    served = tmp_path / "www"
    served.mkdir()
    (served / "evil.css").write_text('body::after { content: "SECRETHTTP"; }', encoding="utf-8")
    server = StaticServer(served).start()
    try:
        user = tmp_path / "user.css"
        user.write_text(
            f'@import url("{secret.as_uri()}");\n@import "{server.url}evil.css";\n'
            f'@import url("file:///etc/passwd");\n'
            f'body {{ background: url("{server.url}bg.png"); }}\n'
            'h1 { color: black; frobnicate: 1; }\n', encoding="utf-8")
        book = prepare(read_text(SMALL, name="small.md"), Options(css=(user,)))
        data, warnings = pdf.build_with_warnings(book)
    finally:
        server.stop()
    path = write(tmp_path, data)
    text = "".join(page_texts(path))
    assert "SECRETFILE" not in text and "SECRETHTTP" not in text and "root:" not in text
    assert server.requests == []                      # nothing reached the network
    joined = "\n".join(warnings)
    assert "refused" in book.warnings[-1] and "etc/passwd" in book.warnings[-1]   # taken out before WeasyPrint
    assert "frobnicate" in joined                     # the user's CSS problems are reported …
    assert "line-break" not in joined                 # … ours (EPUB-only properties) are not


def test_weasyprint_logging_goes_through_our_logger(tmp_path, caplog):
    root_records: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record):
            root_records.append(record)

    catcher = Catch(level=logging.DEBUG)
    logging.getLogger().addHandler(catcher)
    try:
        with caplog.at_level(logging.DEBUG, logger="interview_export.pdf"):
            user = tmp_path / "u.css"
            user.write_text("p { frobnicate: 2; }", encoding="utf-8")
            pdf.build(prepare(read_text(SMALL, name="small.md"), Options(css=(user,))))
    finally:
        logging.getLogger().removeHandler(catcher)
    assert not [r for r in root_records if r.name.startswith("weasyprint")]
    ours = [r for r in caplog.records if r.name == "interview_export.pdf" and r.levelno == logging.WARNING]
    assert len([r for r in ours if "frobnicate" in r.getMessage()]) == 1   # once, not twice


def test_missing_user_css_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="nope.css"):
        pdf.build(prepare(read_text(SMALL), Options(css=(tmp_path / "nope.css",))))


# ---------------------------------------------------------------- metadata and reproducibility
def test_metadata_and_dates_from_source_date_epoch(tmp_path):
    doc = read_text(SMALL, name="small.md")
    path = write(tmp_path, pdf.build(prepare(doc, Options(source_date_epoch=1700000000))))
    info = pdfinfo(path)
    assert info["Title"] == "小测试：一次对话"
    assert info["Author"] == "编者甲"
    assert info["Keywords"] == "访谈, 测试"
    assert info["CreationDate"].startswith("2023-11-14T22:13:20") and info["ModDate"] == info["CreationDate"]
    assert info["Tagged"] == "yes"
    catalog = json.loads(run("qpdf", "--json", "--json-key=qpdf", str(path)))
    assert '"/Lang": "u:zh-CN"' in json.dumps(catalog, ensure_ascii=False)


ONE_BOOK = """
import sys
from interview_export.backends import pdf
from interview_export.options import Options
from interview_export.prepare import prepare
from interview_export.reader import read_text
doc = read_text(open(sys.argv[1], encoding="utf-8").read(), name="small.md")
sys.stdout.buffer.write(pdf.build(prepare(doc, Options(source_date_epoch=1700000000))))
"""


def test_base_and_print_css_are_parsed_once_per_process(tmp_path):
    pdf.build(prepare(read_text("# 另一本\n\n正文。\n"), Options(source_date_epoch=1700000000)))
    before = pdf._shared_sheet.cache_info()
    again = pdf.build(prepare(read_text(SMALL, name="small.md"), Options(source_date_epoch=1700000000)))
    after = pdf._shared_sheet.cache_info()
    assert (after.hits - before.hits, after.misses) == (2, before.misses)   # the second book reused both
    source = tmp_path / "small.md"
    source.write_text(SMALL, encoding="utf-8")
    fresh = subprocess.run([sys.executable, "-c", ONE_BOOK, str(source)], capture_output=True,
                           timeout=120, check=True).stdout
    assert again == fresh                                # as from a process that parsed them for it


def test_environment_source_date_epoch_and_fixed_default(tmp_path, monkeypatch):
    doc = read_text(SMALL, name="small.md")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    a = pdf.build(prepare(doc, Options()))
    assert pdfinfo(write(tmp_path, a, "a.pdf"))["CreationDate"].startswith("2020-09-13")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    b = pdf.build(prepare(doc, Options()))
    assert pdfinfo(write(tmp_path, b, "b.pdf"))["CreationDate"].startswith("2000-01-01")
    c = pdf.build(prepare(doc, Options()))
    if c != b:                                            # keep both for a post-mortem
        write(tmp_path, c, "c.pdf")
    assert c == b, f"builds differ: {tmp_path}/b.pdf {tmp_path}/c.pdf"   # byte-identical, /ID included
    assert b"/ID" in b
    # and in another process (another hash seed): the same bytes
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from test_pdf import SMALL; "
              "from interview_export.backends import pdf; from interview_export.reader import read_text; "
              "from interview_export.prepare import prepare; "
              "sys.stdout.buffer.write(pdf.build(prepare(read_text(SMALL, name='small.md'))))")
    other = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)], check=True,
                           capture_output=True, env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout
    assert other == b
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")      # ignored with a warning, as in the EPUB
    book = prepare(doc, Options())                            # the date is decided once, for both formats
    d, warnings = pdf.build_with_warnings(book)
    assert d == b and [w for w in (*book.warnings, *warnings) if "SOURCE_DATE_EPOCH" in w] == [
        "small.md: SOURCE_DATE_EPOCH='yesterday' is not a whole number of seconds since 1970;"
        " ignored, the book is dated 2000-01-01"]


@pytest.mark.parametrize("variant, marker", [("pdf/a-3b", b"pdfaid:part"), ("pdf/ua-1", b"pdfuaid:part")])
def test_variants(tmp_path, variant, marker):
    data = pdf.build(prepare(read_text(SMALL, name="small.md"), Options(pdf_variant=variant)))
    info = pdfinfo(write(tmp_path, data))
    assert info["Metadata Stream"] == "yes"
    xmp = run("pdfinfo", "-meta", str(tmp_path / "out.pdf")).encode()
    assert marker in xmp
    if variant == "pdf/ua-1":
        assert info["Tagged"] == "yes"
    check = subprocess.run(["qpdf", "--check", str(tmp_path / "out.pdf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_vertical_is_reported_not_fatal():
    data, warnings = pdf.build_with_warnings(prepare(read_text(SMALL, name="small.md"), Options(vertical=True)))
    assert data.startswith(b"%PDF-") and any("vertical" in w for w in warnings)


def test_unknown_variant_is_a_usage_error():
    with pytest.raises(UsageError, match="PDF variant"):
        pdf.build(prepare(read_text(SMALL), Options(pdf_variant="pdf/z-9")))


# ---------------------------------------------------------------- pages
@pytest.mark.parametrize("size, width_mm, height_mm", [("32开", 130, 184), ("Letter", 215.9, 279.4),
                                                        ("140x200", 140, 200)])
def test_page_sizes(tmp_path, size, width_mm, height_mm):
    path = write(tmp_path, pdf.build(prepare(read_text(SMALL), Options(page_size=size))))
    match = re.search(r"([\d.]+) x ([\d.]+) pts", pdfinfo(path)["Page size"])
    assert float(match[1]) == pytest.approx(width_mm * 72 / 25.4, abs=0.1)
    assert float(match[2]) == pytest.approx(height_mm * 72 / 25.4, abs=0.1)


def folio_positions(path: Path) -> dict[int, float]:
    """Page number → the horizontal centre (pt) of its folio, the number printed at its foot."""
    bbox = run("pdftotext", "-bbox", str(path), "-")
    out = {}
    for n, page in enumerate(bbox.split("<page ")[1:], start=1):
        height = float(re.search(r'height="([\d.]+)"', page)[1])
        words = re.findall(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">(\d+)</word>', page)
        feet = [(float(x0) + float(x1)) / 2 for x0, y0, x1, w in words if float(y0) > height * 0.9 and w == str(n)]
        if feet:
            out[n] = feet[0]
    return out


def test_duplex_folios_sit_outside_and_simplex_ones_centred(tmp_path):
    long = read_text(SMALL.replace("这就是我的回答。", "这就是我的回答。" * 400))
    width = geometry("A5").width * 72 / 25.4
    duplex = folio_positions(write(tmp_path, pdf.build(prepare(long, Options(page_size="A5"))), "d.pdf"))
    simplex = folio_positions(write(tmp_path, pdf.build(prepare(long, Options(page_size="A5", duplex=False))), "s.pdf"))
    assert len(duplex) >= 3 and len(simplex) >= 3
    for n, x in duplex.items():              # recto (odd) right, verso (even) left
        assert (x > width * 0.75) if n % 2 else (x < width * 0.25), (n, x)
    for n, x in simplex.items():
        assert abs(x - width / 2) < 3, (n, x)


def test_bleed_and_crop_marks_enlarge_the_media_box(tmp_path):
    path = write(tmp_path, pdf.build(prepare(read_text(SMALL), Options(page_size="A5", bleed="3mm", crop_marks=True))))
    boxes = run("pdfinfo", "-box", str(path))
    trim = [float(x) for x in re.search(r"TrimBox:\s+([\d.\s-]+)", boxes)[1].split()]
    media = [float(x) for x in re.search(r"MediaBox:\s+([\d.\s-]+)", boxes)[1].split()]
    assert trim[2] - trim[0] == pytest.approx(148 * 72 / 25.4, abs=0.1)
    assert media[2] - media[0] > trim[2] - trim[0] + 2 * 3 * 72 / 25.4 - 0.1


def test_small_book_structure(tmp_path):
    path = write(tmp_path, pdf.build(prepare(read_text(SMALL, name="small.md"), Options())))
    pages = page_texts(path)
    # title page: no folio, no running head
    assert folio(pages[0]) != "1" and "目录" not in pages[0]
    titles = [t for t, _ in outline(path)]
    assert titles == ["导语", "1 第一部分", "2 第二部分", "总结：对话金句"]
    quotes_page = dict(outline(path))["总结：对话金句"]
    assert "少跑一点实验" in pages[quotes_page - 1]
    assert "这就是我的回答" not in pages[quotes_page - 1]      # the quotes page starts a new page
    text = squash("".join(pages))
    assert "主持人：你好" in text                               # speaker label runs in


def test_chinese_latin_spaces_stay_a_quarter_em_in_justified_lines(tmp_path):
    """WeasyPrint justifies by stretching U+0020 only: a space between Chinese and Latin text is
    set as U+2005 from our "IE Gap" font instead, so it stays ¼ em on every justified line (it
    was a 2-em hole) and costs no extra inline box (it was a <span>)."""
    sentence = "我们训练了世界上最早的一批代码模型，推动了 LLM 编程革命；在 Chinchilla 之前就发现了它，参与了 GPT 的工作。"
    doc = read_text(f"# 标题\n\n## 一\n\n{sentence * 4}\n", name="gap.md")
    html = pdf.assemble_html(prepare(doc, Options(page_size="A5")))
    assert "推动了\u2005LLM\u2005编程" in html and "cjk-gap" not in html
    path = write(tmp_path, pdf.build(prepare(doc, Options(page_size="A5"))))
    bbox = run("pdftotext", "-bbox", str(path), "-")
    words = [(float(x0), float(y0), float(x1), w) for x0, y0, x1, w in
             re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', bbox)]
    gaps = [b[0] - a[2] for a, b in zip(words, words[1:])
            if abs(a[1] - b[1]) < 0.5 and {a[3], b[3]} & {"LLM", "Chinchilla", "GPT"}]
    assert len(gaps) >= 12, words                  # LLM, Chinchilla, GPT: 2 gaps each, 4 times
    em = geometry("A5").font_size
    # ¼ em plus the line's share of inter-character justification (weasy_cjk), never a hole
    assert all(0.2 * em < g < 0.5 * em for g in gaps), (em, gaps)


def test_gap_font_is_the_one_the_build_script_makes():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_fonts
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    from fontTools.ttLib import TTFont
    shipped = (ROOT / "fonts" / GAP_FONT).read_bytes()
    assert build_fonts.gap_font() == shipped       # reproducible, and what fonts/ ships
    font = TTFont(io.BytesIO(shipped))
    assert font.getBestCmap()[0x2005] and font["head"].unitsPerEm == 1000
    assert font["hmtx"][font.getBestCmap()[0x2005]][0] == 250


# ---------------------------------------------------------------- the seed, in three sizes
SIZES = ("A4", "A5", "16开")


@pytest.fixture(scope="module")
def seed_doc_and_media(seed, cdn_session_server):
    from interview_export.media import collect_media

    options = Options(mirrors=((CDN_PREFIX, cdn_session_server.url),), use_cache=False)
    doc = read_path(SEED, options)
    return doc, collect_media(doc, SEED.parent, options)


@pytest.fixture(scope="module")
def seed_pdfs(seed_doc_and_media, tmp_path_factory):
    doc, media = seed_doc_and_media
    folder = tmp_path_factory.mktemp("seed-pdf")
    out = {}
    for size in SIZES:
        data, warnings = pdf.build_with_warnings(prepare(doc, Options(page_size=size), media=media))
        assert warnings == []
        out[size] = write(folder, data, f"seed-{size}.pdf")
    return out


@pytest.mark.corpus
@pytest.mark.parametrize("size", SIZES)
def test_seed_outline_matches_toc_and_folios(seed_pdfs, seed_doc_and_media, size):
    doc, _ = seed_doc_and_media
    path = seed_pdfs[size]
    pages = page_texts(path)
    marks = outline(path)
    expected = ["导语"] * bool(doc.lead) + [f"{s.number} {s.title}" if s.number is not None else s.title
                                           for s in doc.sections] + [doc.quotes_title]
    assert [t for t, _ in marks] == expected           # one per section + quotes, nothing else
    toc = toc_entries(pages)
    assert len(toc) == len(marks)
    for (toc_title, printed), (title, page) in zip(toc, marks):
        assert squash(title).startswith(squash(toc_title)[:8])
        assert printed == page                          # the TOC's number = where the bookmark goes
        assert folio(pages[page - 1]) == str(page)      # = the folio printed on that page
    assert not folio(pages[0]).isdigit()                # no folio on the title page
    # the TOC's page numbers line up on the right margin (leaders fill each line)
    toc_page = next(i for i, p in enumerate(pages, start=1) if "目录" in p)
    bbox = run("pdftotext", "-f", str(toc_page), "-l", str(toc_page), "-bbox", str(path), "-")
    lines: dict[int, list[tuple[float, str]]] = {}
    for x_max, y_max, word in re.findall(r'xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', bbox):
        lines.setdefault(round(float(y_max)), []).append((float(x_max), word))
    entries = [max(words) for words in lines.values() if any(w == "…" for _, w in words)]   # leader boxes
    assert len(entries) == len(marks) and all(word.isdigit() for _, word in entries)
    edges = [x for x, _ in entries]
    assert max(edges) - min(edges) < 1.0, entries


@pytest.mark.corpus
@pytest.mark.parametrize("size", SIZES)
def test_seed_fonts_images_size_and_structure(seed_pdfs, size):
    path = seed_pdfs[size]
    fonts = run("pdffonts", str(path)).splitlines()[2:]
    assert fonts
    for line in fonts:
        assert "Type 3" not in line
        name, emb_sub = line.split()[0], re.search(r"\s(yes|no)\s+(yes|no)\s+(yes|no)\s+\d+", line)
        assert re.match(r"^[A-Z]{6}\+", name) and emb_sub[1] == "yes" and emb_sub[2] == "yes", line
    images = run("pdfimages", "-list", str(path)).splitlines()[2:]
    assert len(images) == 5
    # no image taller than ~45 % of the text block (so none strands a mostly empty page)
    page_height = float(re.search(r"x ([\d.]+) pts", pdfinfo(path)["Page size"])[1])
    for row in images:
        cols = row.split()
        height_px, y_ppi = int(cols[4]), float(cols[13])
        assert height_px / y_ppi * 72 <= 0.45 * page_height, row
    assert path.stat().st_size <= 2 * 1024 * 1024
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0 and "No syntax or stream encoding errors" in check.stdout


@pytest.mark.corpus
@pytest.mark.parametrize("size", SIZES)
def test_seed_text_and_line_breaking(seed_pdfs, seed_doc_and_media, size):
    doc, _ = seed_doc_and_media
    path = seed_pdfs[size]
    text = squash("".join(page_texts(path, layout=False)))
    for section in doc.sections:
        paragraphs = [b for b in model.walk_blocks(section.blocks) if isinstance(b, model.Paragraph)]
        sample = squash(model.plain_text(paragraphs[0].children))[:24]
        assert sample and sample in text, (section.title, sample)
        last = squash(model.plain_text(paragraphs[-1].children))[-24:]
        assert last in text, (section.title, last)
    for quote in doc.quotes:
        assert squash(model.plain_text(quote.children)).strip("\"“”")[:16] in text
    lines = [line.strip() for page in page_texts(path) for line in page.splitlines() if line.strip()]
    assert len(lines) > 300
    assert [line for line in lines if line[0] in CLOSING] == []
    assert [line for line in lines if line[-1] in OPENING] == []


@pytest.mark.corpus
def test_seed_is_reproducible_and_no_heads_on_title_page(seed_pdfs, seed_doc_and_media):
    doc, media = seed_doc_and_media
    # a second build of the A4 seed (the fixture's was the first: two builds, not three)
    again = pdf.build(prepare(doc, Options(page_size="A4"), media=media))
    assert again == seed_pdfs["A4"].read_bytes()
    first = page_texts(seed_pdfs["A4"])[0]
    assert "InfoQ" in first and "Tina" in first                 # the title page's source box
    assert squash(first).count(squash(doc.meta.title)[:12]) == 1  # the title once: no running head


def test_documents_too_large_for_a_bounded_pdf_run_are_a_clear_error():
    """5,000 sections or millions of characters would run WeasyPrint for many minutes at GBs."""
    from interview_export.errors import RenderError

    sections = tuple(model.Section(id=f"s{i}", title=f"第{i}节", blocks=(model.Paragraph((model.Text("字"),)),))
                     for i in range(pdf.MAX_PDF_SECTIONS + 1))
    with pytest.raises(RenderError, match="too large for PDF: 2,001 sections"):
        pdf.build(prepare(model.Document(sections=sections, name="big.md"), Options()))
    text = model.Paragraph((model.Text("很" * (pdf.MAX_PDF_CHARACTERS + 1)),))
    with pytest.raises(RenderError, match="characters"):
        pdf.build(prepare(model.Document(sections=(model.Section(id="s1", title="t", blocks=(text,)),)), Options()))
    pdf.check_size(model.Document(sections=sections[:10]))   # article-sized: no error
