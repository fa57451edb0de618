"""Property-based tests: generated Markdown (Chinese + Latin, speaker labels, nested lists and quotes,
headings, code, tables, links, local images, raw HTML, control and bidi characters).

Properties:
- reading never raises anything but our own ``ExportError`` subclasses;
- every word the input shows (CJK runs and Latin words, outside image sources and alt text) is in
  ``model.document_text`` — with the documented normalisations: characters XML forbids are removed
  (with a warning), bidi controls are kept, raw HTML is literal text unless ``allow_html`` (then its
  tags go and its text stays), Markdown markup is gone;
- no string anywhere in the model holds a character XML forbids;
- every EPUB built from it passes EPUBCheck (0 errors) and is inert, every PDF passes ``qpdf --check``.

Budget: the cheap reader properties run ``READER_EXAMPLES`` examples, the end-to-end property
``E2E_EXAMPLES`` (EPUBCheck and WeasyPrint take seconds each). ``FUZZ=1`` selects the "fuzz" profile
(random seeds, many more examples); the default "ci" profile is derandomized so CI is stable.
A failing example is written to ``$FUZZ_SAVE_DIR`` (when set) so it can be added to
``tests/fixtures/regressions/``, whose files ``test_regressions_replay`` replays.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import pytest

# Hypothesis keeps its example database, patches and caches in ./.hypothesis: keep them out of the repo
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "ie-hypothesis"))
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from interview_export import api, model, reader
from interview_export.errors import ExportError
from interview_export.options import Options

from helpers import assert_epub_inert, epubcheck, epubcheck_errors, png_bytes, qpdf_check

FUZZ = os.environ.get("FUZZ") == "1"
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True, database=None,
                          print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("fuzz", parent=settings.get_profile("ci"), max_examples=1000, derandomize=False)
PROFILE = "fuzz" if FUZZ else "ci"
READER_EXAMPLES = 1500 if FUZZ else 100
E2E_EXAMPLES = 40 if FUZZ else 5

REGRESSIONS = Path(__file__).parent / "fixtures" / "regressions"
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
FORBIDDEN_CHARS = [chr(c) for c in (*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF)] + ["\ud800", "\udfff"]
BIDI_CHARS = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200f"]

# Characters for generated words: common Han characters, minus those of the words the transforms
# treat as labels (来源/编译/作者…, 金句, 第…部分, 一、…) so that every generated word must survive.
_LABEL_WORDS = ("来源出处原文链接地址编译翻译译者整理作者原创日期发布时间于编辑责编校对排版策划声明版权转载参考"
                "金句语录摘录名言妙语第一二三四五六七八九十百零〇两部分章节篇幕问回讲季图片封面题头配插示截二维码"
                "扫关注公众号广告推")
HAN = "".join(ch for ch in dict.fromkeys(
    "的是在人有我他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天"
    "而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但"
    "身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电"
    "四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑"
    "性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任"
    "至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青"
    "管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技"
    "轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际"
    "则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴随访谈模型数据智能") if ch not in _LABEL_WORDS)
LATIN = ["GPT", "scaling", "model", "data", "Transformer", "OpenAI", "agent", "reasoning", "token", "Python",
         "RLHF", "benchmark", "latency", "Kindle", "epub"]
SPEAKERS = ["主持人", "嘉宾", "Alice", "张伟", "李华"]
SEPARATORS = [" ", "，", "、", "；", " ，", "。"]


@st.composite
def words(draw) -> str:
    """One word: a run of Han characters or a Latin word (never Markdown syntax)."""
    if draw(st.booleans()):
        return draw(st.text(alphabet=HAN, min_size=1, max_size=5))
    if draw(st.integers(0, 3)) == 0:
        return draw(st.from_regex(r"[A-Za-z]{2,9}", fullmatch=True))
    return draw(st.sampled_from(LATIN))


@st.composite
def inline_piece(draw, images: tuple[str, ...]):
    """(markdown, expected words, had a forbidden character)."""
    kind = draw(st.sampled_from(["word", "word", "word", "strong", "em", "code", "link", "image", "html",
                                 "forbidden", "bidi", "entity"]))
    w = draw(words())
    if kind == "word":
        return w, [w], False
    if kind == "strong":
        return f"**{w}**", [w], False
    if kind == "em":
        return f"*{w}*", [w], False
    if kind == "code":
        return f"`{w}`", [w], False
    if kind == "link":
        href = draw(st.sampled_from(["https://example.com/a?b=1", "http://例子.测试/路径", "mailto:a@b.c",
                                     "javascript:alert(1)", "data:text/html,x", "#frag", "relative/page.html"]))
        return f"[{w}]({href})", ([w] if "javascript" not in href and "data:" not in href else []), False
    if kind == "image":
        src = draw(st.sampled_from(images))
        return f"![{w}]({src})", [], False
    if kind == "html":
        frag = draw(st.sampled_from([
            "<b>{w}</b>", '<span onclick="alert(1)">{w}</span>', '<a href="javascript:alert(1)">{w}</a>',
            "<img src=x onerror=alert(1)>{w}", "<br>{w}", '<iframe src="http://127.0.0.1:9/">{w}</iframe>',
            "<script>alert(1)</script>{w}", '<object data="file:///etc/passwd">{w}</object>']))
        return frag.format(w=w), [w], False
    if kind == "forbidden":
        ch = draw(st.sampled_from(FORBIDDEN_CHARS))
        cut = draw(st.integers(0, len(w)))
        return w[:cut] + ch + w[cut:], [w], True
    if kind == "bidi":
        ch = draw(st.sampled_from(BIDI_CHARS))
        cut = draw(st.integers(1, len(w))) if len(w) > 1 else 1
        marked = w[:cut] + ch + w[cut:]
        return marked, [marked], False
    return f"{w}&amp;&lt;&#x4E2D;", [w + "&<中"], False  # entities are decoded


@st.composite
def inline(draw, images, max_pieces: int = 6):
    pieces = draw(st.lists(inline_piece(images), min_size=1, max_size=max_pieces))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(pieces), max_size=len(pieces)))
    md = "".join(p[0] + (s if i < len(pieces) - 1 else "") for i, (p, s) in enumerate(zip(pieces, seps)))
    return md, [w for p in pieces for w in p[1]], any(p[2] for p in pieces)


def _indent(text: str, prefix: str, first: str | None = None) -> str:
    lines = text.split("\n")
    return "\n".join(((first if i == 0 and first is not None else prefix) + ln) if ln or first else ln
                     for i, ln in enumerate(lines))


@st.composite
def block(draw, images, depth: int = 0, min_level: int = 1):
    kinds = ["para", "para", "speaker", "speaker", "heading", "code", "table", "html", "image", "hr"]
    if depth < 4:
        kinds += ["list", "quote"]
    kind = draw(st.sampled_from(kinds))
    if kind == "para":
        return draw(inline(images))
    if kind == "speaker":
        name = draw(st.sampled_from(SPEAKERS))
        colon = draw(st.sampled_from(["：", ":", "："]))
        md, exp, bad = draw(inline(images))
        return f"**{name}**{colon}{md}", [name, *exp], bad
    if kind == "heading":
        level = draw(st.integers(min_level, 6))
        md, exp, bad = draw(inline(images, 3))
        return f"{'#' * level} 话题 {md}", ["话题", *exp], bad
    if kind == "code":
        lines = draw(st.lists(st.lists(words(), min_size=1, max_size=4), min_size=1, max_size=4))
        body = "\n".join(" ".join(ln) + draw(st.sampled_from(["", " <script>&", " {x: 1}"])) for ln in lines)
        lang = draw(st.sampled_from(["", "python", "js x=1", "<x>"]))
        return f"```{lang}\n{body}\n```", [w for ln in lines for w in ln], False
    if kind == "table":
        cols = draw(st.integers(1, 3))
        rows = draw(st.lists(st.lists(inline(images, 2), min_size=cols, max_size=cols), min_size=1, max_size=3))
        align = draw(st.lists(st.sampled_from(["---", ":--", "--:", ":-:"]), min_size=cols, max_size=cols))
        head, *body = rows
        lines = ["| " + " | ".join(c[0] for c in head) + " |", "|" + "|".join(align) + "|"]
        lines += ["| " + " | ".join(c[0] for c in r) + " |" for r in body]
        cells = [c for r in rows for c in r]
        return "\n".join(lines), [w for c in cells for w in c[1]], any(c[2] for c in cells)
    if kind == "html":
        w = draw(words())
        frag = draw(st.sampled_from([
            '<div onclick="alert(1)">{w}</div>', "<script>alert('{w}')</script>",
            '<iframe src="http://127.0.0.1:9/x"></iframe>', "<!-- {w} -->", "<p>{w}</p>",
            '<style>@import url("file:///etc/passwd");</style>', '<link rel="stylesheet" href="http://127.0.0.1:9/x.css">']))
        expected = [w] if frag.startswith(("<div", "<p>")) else []
        return frag.format(w=w), expected, False
    if kind == "image":
        w = draw(words())
        return f"![{w}]({draw(st.sampled_from(images))})", [], False
    if kind == "hr":
        return draw(st.sampled_from(["---", "***", "* * *"])), [], False
    if kind == "list":
        ordered = draw(st.booleans())
        items = draw(st.lists(st.one_of(inline(images, 4), block(images, depth + 1)), min_size=1, max_size=3))
        out = []
        for i, (md, _, _) in enumerate(items, 1):
            marker = f"{i}. " if ordered else "- "
            out.append(_indent(md, " " * len(marker), marker))
        return "\n".join(out), [w for it in items for w in it[1]], any(it[2] for it in items)
    children = draw(st.lists(block(images, depth + 1), min_size=1, max_size=2))
    md = "\n\n".join(c[0] for c in children)
    return _indent(md, "> ") .replace("\n\n", "\n>\n"), [w for c in children for w in c[1]], any(c[2] for c in children)


@st.composite
def documents(draw, images=("images/a.png", "images/b.png", "c.png", "missing.png")):
    """(markdown, expected words, had a forbidden character)."""
    front_matter = draw(st.booleans())
    # documented: the first top-level H1 is the title, and a front-matter title wins over it
    blocks = draw(st.lists(block(images, min_level=2 if front_matter else 1), min_size=1, max_size=10))
    md = "\n\n".join(b[0] for b in blocks) + "\n"
    expected = [w for b in blocks for w in b[1]]
    if front_matter:
        title = draw(words())
        md = f"---\ntitle: {title}\n---\n\n" + md
        expected.append(title)
    if draw(st.integers(0, 4)) == 0:
        md = md.replace("\n", draw(st.sampled_from(["\r\n", "\r"])))
    return md, expected, any(b[2] for b in blocks)


def _strings(node):
    """Every string held anywhere in the model."""
    stack = [model.to_dict(node)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_reader(md: str, expected: list[str], had_forbidden: bool, allow_html: bool) -> model.Document:
    """The reader properties for one input (also used by the regression replay)."""
    try:
        doc = reader.read_text(md, options=Options(allow_html=allow_html))
    except ExportError:
        return None  # a documented, one-line refusal is allowed
    for s in _strings(doc):
        assert not FORBIDDEN.search(s), f"forbidden character left in the model: {s!r}"
    text = model.document_text(doc)
    for w in expected:
        w = FORBIDDEN.sub("", w)
        assert w in text, f"word {w!r} lost; document text: {text[:2000]!r}"
    if had_forbidden:
        assert any("XML forbids" in w for w in doc.warnings), doc.warnings
    # documented (CommonMark): with allow_html a line opening with a block tag (<iframe>, <div>, …) is
    # an HTML block, so Markdown on that line is not parsed (its tags are dropped, its text kept)
    lines = md.replace("\r\n", "\n").replace("\r", "\n")
    html_block_line = allow_html and re.search(r"^[ >\-\d.]*<(?:iframe|div|p|object|script|style|link)\b", lines, re.M)
    if not html_block_line and not re.search(r"\]\((javascript|data):", md):  # a refused link stays text
        assert "](" not in text
    if not html_block_line:
        assert "**" not in text or "**" in "".join(b.code for b in model.all_blocks(doc)
                                                   if isinstance(b, model.CodeBlock))
    if allow_html:  # tags are dropped: none left in the prose (code blocks show theirs on purpose)
        prose = text
        codes = [b.code for b in model.all_blocks(doc) if isinstance(b, model.CodeBlock)]
        for code in sorted(codes, key=len, reverse=True):
            prose = prose.replace(code, "")
        assert not re.search(r"<(?:script|iframe|object|div|span|b|a|img|style|link|p|br)\b", prose), prose
    return doc


@settings(settings.get_profile(PROFILE), max_examples=READER_EXAMPLES)
@given(doc=documents(), allow_html=st.booleans())
def test_reader_keeps_text_and_only_raises_our_errors(doc, allow_html):
    md, expected, had_forbidden = doc
    try:
        check_reader(md, expected, had_forbidden, allow_html)
    except AssertionError:
        _save_failure(md, "reader")
        raise


@settings(settings.get_profile(PROFILE), max_examples=READER_EXAMPLES)
@given(text=st.text(max_size=400), allow_html=st.booleans())
def test_reader_on_arbitrary_text(text, allow_html):
    """Any str at all (surrogates, NULs, RTL, stray markup): our error or a clean model."""
    try:
        doc = reader.read_text(text, options=Options(allow_html=allow_html))
    except ExportError:
        return
    except Exception:
        _save_failure(text, "text")
        raise
    for s in _strings(doc):
        assert not FORBIDDEN.search(s)


@settings(settings.get_profile(PROFILE), max_examples=READER_EXAMPLES)
@given(data=st.binary(max_size=300))
def test_decode_raises_only_input_error(data):
    from interview_export.errors import InputError

    try:
        text, warnings = reader.decode(data, "x.md")
    except InputError as exc:
        assert "\n" not in str(exc) and "byte offset" in str(exc)
        return
    reader.read_text(text)


def _save_failure(md: str, kind: str) -> None:
    folder = os.environ.get("FUZZ_SAVE_DIR")
    if folder:
        digest = hashlib.sha256(md.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{kind}-{digest}.md").write_bytes(md.encode("utf-8", "surrogatepass"))


# ---------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-input")
    (folder / "images").mkdir()
    (folder / "images" / "a.png").write_bytes(png_bytes((40, 30), (200, 30, 30)))
    (folder / "images" / "b.png").write_bytes(png_bytes((12, 50), (30, 30, 200)))
    from PIL import Image
    Image.new("RGB", (33, 21), (10, 120, 10)).save(folder / "c.png", "JPEG")  # a JPEG behind a .png name
    return folder


def build_book(md: str, folder: Path, out: Path, *, allow_html: bool = False) -> Path:
    """EPUB and PDF of one input: both written, EPUB inert, PDF qpdf-clean; the EPUB's path."""
    digest = hashlib.sha256(md.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    source = folder / f"case-{digest}.md"
    source.write_bytes(md.encode("utf-8", "surrogatepass").replace(b"\xed\xa0\x80", b"").replace(
        b"\xed\xbf\xbf", b""))  # lone surrogates cannot be stored as UTF-8: the str tests cover them
    out.mkdir(parents=True, exist_ok=True)
    targets = {"epub": out / f"{digest}.epub", "pdf": out / f"{digest}.pdf"}
    options = Options(allow_html=allow_html, offline=True, cache_dir=out / "cache")
    result = api.convert_file(str(source), targets, options)
    assert result.ok, f"{result.error}\n{result.traceback or ''}"
    assert_epub_inert(targets["epub"].read_bytes())
    qpdf_check(targets["pdf"])
    return targets["epub"]


def check_book(md: str, folder: Path, out: Path, *, allow_html: bool = False) -> None:
    """build_book, and the EPUB passes EPUBCheck (0 errors)."""
    errors, messages = epubcheck_errors(build_book(md, folder, out, allow_html=allow_html))
    assert errors == 0, messages


@settings(settings.get_profile(PROFILE), max_examples=E2E_EXAMPLES)
@given(doc=documents(), allow_html=st.booleans())
def test_books_pass_epubcheck_and_qpdf(doc, allow_html, image_folder, tmp_path):
    md, _, _ = doc
    try:
        check_book(md, image_folder, tmp_path / "out", allow_html=allow_html)
    except AssertionError:
        _save_failure(md, "book")
        raise


# ---------------------------------------------------------------- saved failures
def _regressions() -> list[Path]:
    return sorted(REGRESSIONS.glob("*.md")) if REGRESSIONS.is_dir() else []


@pytest.fixture(scope="module")
def regression_books(image_folder, tmp_path_factory) -> dict[str, tuple[BaseException | None, tuple]]:
    """Every saved failing example built (build_book), then all EPUBs through EPUBCheck in one JVM:
    name → (the build's AssertionError or None, (errors, warnings, messages))."""
    out = tmp_path_factory.mktemp("regressions")
    built, failed = {}, {}
    for path in _regressions():
        text, _ = reader.decode(path.read_bytes(), path.name)
        try:
            built[path.name] = build_book(text, image_folder, out, allow_html="allow-html" in path.name)
        except AssertionError as exc:
            failed[path.name] = exc
    checks = dict(zip(built, epubcheck(list(built.values())))) if built else {}
    return {name: (failed.get(name), checks.get(name, (0, 0, []))) for name in [*built, *failed]}


@pytest.mark.parametrize("path", _regressions(), ids=lambda p: p.name)
def test_regressions_replay(path, regression_books):
    """Every saved failing example: the reader properties, then both books (EPUBCheck: 0 errors)."""
    data = path.read_bytes()
    text, _ = reader.decode(data, path.name)
    for allow_html in (False, True):
        check_reader(text, [], bool(FORBIDDEN.search(text)), allow_html)
    failure, (errors, _warnings, messages) = regression_books[path.name]
    if failure is not None:
        raise failure
    assert errors == 0, [m for m in messages if m.startswith(("ERROR", "FATAL"))]
