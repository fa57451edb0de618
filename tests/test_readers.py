"""Built EPUBs → real reading engines: Chromium layout checks, epub.js page turning, the Ace audit, WebKitGTK.

Default run: the seed and two corpus articles (WebKit: the seed); ``SLOW=1``: the seed and every article
in every engine. Screenshots of each chapter's first page at each viewport go to the folder printed at
the end of the run (``READER_SHOTS=DIR`` picks it); ``reader-report.json`` beside them holds the numbers.
The default run (no ``READER_SHOTS``, no ``SLOW``) checks every page just the same but photographs only
the pages with a problem and one body page per book (a screenshot costs more than the checks).
Everything needs the system Chromium (Debian's ``chromium``, installed by ``scripts/setup.sh test``); the
tests skip only when it is missing. epub.js and Ace come from ``tests/readers`` (``npm ci``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from interview_export import api
from interview_export.options import Options

from browsers import WebKit, page_fonts, webkit_available
from conftest import CDN_PREFIX, CORPUS, REPO, SEED, StaticServer

pytestmark = pytest.mark.readers

SLOW = os.environ.get("SLOW") == "1"
READERS = REPO / "tests" / "readers"
NODE_MODULES = READERS / "node_modules"
CHECKS_JS = (READERS / "checks.js").read_text(encoding="utf-8")
VIEWPORTS = {"eink": (758, 1024), "phone": (390, 844), "tablet": (1024, 1366)}
# the reading system's own colours in its night modes (our CSS sets none: the text must follow them)
THEMES = {
    "night": ("dark", "html, body { background: #121212 !important; color: #d6d6d6 !important; }"),
    "inverted": ("light", "html, body { background: #000 !important; color: #fff !important; }"),
}
DEFAULT_ARTICLES = ("boris-claude-code-workflow", "claude-code-efficiency-ask-user-question-tool")
WECHAT_PREFIX = "https://mmbiz.qpic.cn/"
NS = {"opf": "http://www.idpf.org/2007/opf", "x": "http://www.w3.org/1999/xhtml",
      "epub": "http://www.idpf.org/2007/ops"}
REPORT: dict[str, dict] = {}   # book → numbers, written to reader-report.json at the end


def _book_names() -> list[str]:
    articles = sorted(p.name for p in (CORPUS / "articles").iterdir()) if CORPUS.is_dir() else []
    return ["seed"] + [a for a in articles if SLOW or a in DEFAULT_ARTICLES]


BOOKS = _book_names()
WEBKIT_BOOKS = BOOKS if SLOW else ["seed"]
WEBKIT_VIEWPORTS = VIEWPORTS if SLOW else {"phone": VIEWPORTS["phone"]}   # the narrowest: overflow shows first


def _source(name: str) -> Path:
    return SEED if name == "seed" else CORPUS / "articles" / name / f"{name}.md"


@dataclass
class Book:
    """One built EPUB: the file, its unzipped folder (under the test site), spine and TOC."""

    name: str
    epub: Path
    folder: Path
    spine: list[str]                 # content documents in reading order, relative to the OPF
    opf_dir: str                     # folder of the OPF inside the zip ("EPUB")
    toc: list[str] = field(default_factory=list)   # labels of nav.xhtml's toc, in order

    def url(self, site: StaticServer, href: str) -> str:
        return f"{site.url}books/{self.name}/{self.opf_dir}/{href}"


def _read_book(name: str, epub: Path, folder: Path) -> Book:
    with zipfile.ZipFile(epub) as zf:
        zf.extractall(folder)
    container = ET.parse(folder / "META-INF" / "container.xml").getroot()
    opf_path = container.find(".//{*}rootfile").get("full-path")
    opf = ET.parse(folder / opf_path).getroot()
    manifest = {i.get("id"): i for i in opf.find("opf:manifest", NS)}
    spine = [manifest[ref.get("idref")].get("href") for ref in opf.find("opf:spine", NS)]
    nav_href = next(i.get("href") for i in manifest.values() if "nav" in (i.get("properties") or "").split())
    opf_dir = str(Path(opf_path).parent)
    nav = ET.parse(folder / opf_dir / nav_href).getroot()
    toc_nav = next(n for n in nav.iter(f"{{{NS['x']}}}nav") if n.get(f"{{{NS['epub']}}}type") == "toc")
    toc = ["".join(a.itertext()).strip() for a in toc_nav.iter(f"{{{NS['x']}}}a")]
    return Book(name, epub, folder, spine, opf_dir, toc)


@pytest.fixture(scope="session")
def site_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reader-site")
    (root / "books").mkdir()
    shutil.copy(READERS / "epubjs.html", root / "epubjs.html")
    shutil.copy(READERS / "frame.html", root / "frame.html")
    if NODE_MODULES.is_dir():
        (root / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def site(site_root):
    server = StaticServer(site_root).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def books(corpus, cdn_session_server, site_root, tmp_path_factory) -> dict[str, Book]:
    """Every book of this run built once (images from the local CDN mirror, WeChat's host unreachable)."""
    cache = tmp_path_factory.mktemp("reader-cache")
    options = Options(mirrors=((CDN_PREFIX, cdn_session_server.url),
                               (WECHAT_PREFIX, cdn_session_server.url + "unreachable/")), cache_dir=cache)
    built = {}
    for name in BOOKS:
        source = _source(name)
        doc = api.load(source, options)
        epub = site_root / "books" / f"{name}.epub"
        epub.write_bytes(api.to_epub(doc, options, base_dir=source.parent))
        built[name] = _read_book(name, epub, site_root / "books" / name)
    return built


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("READER_SHOTS") or tmp_path_factory.getbasetemp() / "reader-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    (folder / "reader-report.json").write_text(json.dumps(REPORT, ensure_ascii=False, indent=1), encoding="utf-8")


ALL_SHOTS = SLOW or bool(os.environ.get("READER_SHOTS"))


def _shoot(book: Book, href: str, problems: bool) -> bool:
    """Whether to photograph this page: every page when asked for (READER_SHOTS, SLOW), else a page
    with a problem and the book's first body page (the one after the title page and the TOC)."""
    return ALL_SHOTS or problems or href == book.spine[min(3, len(book.spine) - 1)]


def _first_page(page, path: Path) -> None:
    page.screenshot(path=str(path))   # the viewport = what a reader sees first


# ---------------------------------------------------------------- 0. the checks themselves can fail
BAD_PAGE = """<!DOCTYPE html><html lang="zh"><body style="margin:0">
<p style="text-align:justify; text-justify:inter-character; width:12em">今天我们请来重量级嘉宾OpenAI的一位研究员，他叫做Tworek，来自波兰。</p>
<pre style="white-space:pre; font-family:monospace">https://example.invalid/a/very/long/path/that/does/not/wrap/anywhere/at/all/in/a/phone/viewport</pre>
<p style="color:#222; background:#111">看不见的字</p>
<img alt="broken" src="data:image/png;base64,iVBORw0KGgo="/>
</body></html>"""


def test_the_checks_catch_what_they_look_for(browser):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_content(BAD_PAGE)
    found = page.evaluate(f"({CHECKS_JS})", {})
    fonts = page_fonts(page.context.new_cdp_session(page))
    page.close()
    assert any("pre" in item for item in found["overflow"]), found["overflow"]
    assert found["undecoded"] == ["data:image/png;base64,iVBORw0KGgo="]
    assert any(item.startswith(("OpenAI", "Tworek")) for item in found["spread"]), found["spread"]
    assert found["illegible"] and found["illegible"][0].startswith("p:"), found["illegible"]
    assert fonts["nodes"] >= 3 and len(fonts["fallback"]) == fonts["nodes"]   # no web fonts on this page


# ---------------------------------------------------------------- 1. Chromium: layout, images, fonts, night
@pytest.mark.parametrize("name", BOOKS)
def test_every_page_reads_in_chromium(name, books, site, browser, shots, ace_reports):
    # (ace_reports: Ace starts working on the books in the background while Chromium checks them)
    book = books[name]
    page = browser.new_page(viewport=dict(zip(("width", "height"), VIEWPORTS["eink"])))
    cdp = page.context.new_cdp_session(page)
    problems: list[str] = []
    numbers = {"overflow": 0, "images": 0, "decoded": 0, "text_nodes": 0, "fallback_nodes": 0, "spread": 0,
               "illegible": 0}
    for href in book.spine:
        stem = Path(href).stem
        page.set_viewport_size(dict(zip(("width", "height"), VIEWPORTS["eink"])))
        page.emulate_media(color_scheme="light")
        page.goto(book.url(site, href))
        fonts = page_fonts(cdp)
        numbers["text_nodes"] += fonts["nodes"]
        numbers["fallback_nodes"] += len(fonts["fallback"])
        problems += [f"{href}: fallback font {f}" for f in fonts["fallback"]]
        for view, (width, height) in VIEWPORTS.items():
            page.set_viewport_size({"width": width, "height": height})
            found = page.evaluate(f"({CHECKS_JS})", {})
            if view == "eink":
                numbers["images"] += found["images"]
                numbers["decoded"] += found["images"] - len(found["undecoded"])
            numbers["overflow"] += len(found["overflow"])
            numbers["spread"] += len(found["spread"])
            found_here = [f"{href} @{view}: {kind} {item}" for kind in ("overflow", "undecoded", "spread", "illegible")
                          for item in found[kind]]
            problems += found_here
            if _shoot(book, href, bool(found_here)):
                _first_page(page, shots / f"{name}-{view}-{stem}.png")
        for theme, (scheme, css) in THEMES.items():
            page.set_viewport_size(dict(zip(("width", "height"), VIEWPORTS["eink"])))
            page.emulate_media(color_scheme=scheme)
            handle = page.add_style_tag(content=css)
            found = page.evaluate(f"({CHECKS_JS})", {"latin": False})
            numbers["illegible"] += len(found["illegible"])
            problems += [f"{href} @{theme}: illegible {item}" for item in found["illegible"]]
            if _shoot(book, href, bool(found["illegible"])):
                _first_page(page, shots / f"{name}-{theme}-{stem}.png")
            handle.evaluate("el => el.remove()")
    page.close()
    REPORT.setdefault(name, {})["chromium"] = numbers
    assert not problems, f"{len(problems)} problem(s) in {name} (screenshots: {shots}):\n" + "\n".join(problems[:40])
    assert numbers["images"] == numbers["decoded"] and numbers["text_nodes"] > 0


# ---------------------------------------------------------------- 2. epub.js: a real reading system
def _node_modules(package: str) -> Path:
    path = NODE_MODULES / package
    assert path.is_dir(), f"{path} is missing: run scripts/setup.sh test (npm ci in tests/readers)"
    return path


@pytest.mark.parametrize("name", BOOKS)
def test_epubjs_opens_and_turns_every_page(name, books, site, browser):
    _node_modules("epubjs"), _node_modules("jszip")
    book = books[name]
    width, height = VIEWPORTS["eink"]
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{site.url}epubjs.html")
    walk = page.evaluate("([url, w, h]) => walkBook(url, w, h)", [f"{site.url}books/{name}.epub", width, height])
    page.close()
    pages = [walk["pages"].get(href, 0) for href in book.spine]
    REPORT.setdefault(name, {})["epubjs"] = {"pages": dict(zip(book.spine, pages)), "turns": walk["turns"],
                                             "toc": len(walk["toc"])}
    assert walk["errors"] == [] and errors == [], walk["errors"] + errors
    assert [t["label"] for t in walk["toc"]] == book.toc
    assert walk["spine"] == book.spine
    assert sorted(walk["rendered"]) == sorted(book.spine), "spine items epub.js did not render"
    assert all(n >= 1 for n in pages), dict(zip(book.spine, pages))
    assert walk["turns"] >= sum(pages) - 1


# ---------------------------------------------------------------- 3. Ace by DAISY
def _run_ace(epub: Path, out: Path, chromium: str) -> tuple[Path, str]:
    ace = _node_modules("@daisy/ace-cli") / "bin" / "ace.js"
    node = shutil.which("node")
    assert node, "node is missing: scripts/setup.sh test installs nodejs"
    env = {**os.environ, "PUPPETEER_EXECUTABLE_PATH": chromium, "PUPPETEER_SKIP_DOWNLOAD": "1"}
    proc = subprocess.run([node, str(ace), "--silent", "-o", str(out), str(epub)],
                          capture_output=True, text=True, timeout=600, env=env)
    return out / "report.json", f"exit {proc.returncode}: {proc.stderr[-2000:]}"


@pytest.fixture(scope="session")
def ace_reports(books, chromium, tmp_path_factory) -> dict:
    """Ace on every book, in one background thread from the first request on (it overlaps the other tests)."""
    from concurrent.futures import ThreadPoolExecutor

    out = tmp_path_factory.mktemp("ace")
    pool = ThreadPoolExecutor(max_workers=1)
    futures = {name: pool.submit(_run_ace, book.epub, out / name, chromium) for name, book in books.items()}
    yield futures
    pool.shutdown(wait=True)


@pytest.mark.parametrize("name", BOOKS)
def test_ace_finds_no_serious_or_critical_violation(name, ace_reports):
    report, how = ace_reports[name].result(timeout=900)
    assert report.is_file(), f"Ace wrote no report ({how})"
    data = json.loads(report.read_text(encoding="utf-8"))
    found = [(t["earl:test"]["earl:impact"], t["earl:test"]["dct:title"], a["earl:testSubject"]["url"])
             for a in data["assertions"] for t in a.get("assertions", [])]
    serious = [f for f in found if f[0] in ("serious", "critical")]
    REPORT.setdefault(name, {})["ace"] = {"serious_critical": len(serious), "all": len(found)}
    assert serious == [], serious
    a11y = data["a11y-metadata"]
    assert {"schema:accessMode", "schema:accessibilityFeature", "schema:accessibilitySummary",
            "schema:accessibilityHazard", "schema:accessModeSufficient"} <= set(a11y["present"])
    assert a11y["empty"] == []


# ---------------------------------------------------------------- 4. WebKitGTK over WebDriver
@pytest.fixture(scope="session")
def webkit():
    reason = webkit_available()
    if reason:
        pytest.skip(reason)
    with WebKit() as engine:
        yield engine


@pytest.mark.parametrize("name", WEBKIT_BOOKS)
def test_every_page_reads_in_webkit(name, books, site, webkit, shots):
    book = books[name]
    problems: list[str] = []
    numbers = {"overflow": 0, "images": 0, "decoded": 0, "fonts_failed": 0, "spread": 0, "screenshots": 0,
               "no_screenshot": 0}
    for href in book.spine:
        for view, (width, height) in WEBKIT_VIEWPORTS.items():
            found = webkit.check(f"{site.url}frame.html", book.url(site, href), width, height, CHECKS_JS)
            numbers["overflow"] += len(found["overflow"])
            numbers["spread"] += len(found["spread"])   # recorded only: WebKit's word boxes are whole pixels
            if view == next(iter(WEBKIT_VIEWPORTS)):
                numbers["images"] += found["images"]
                numbers["decoded"] += found["images"] - len(found["undecoded"])
            numbers["fonts_failed"] += len(found["fontsFailed"])
            found_here = [f"{href} @{view}: {kind} {item}" for kind in ("overflow", "undecoded", "fontsFailed")
                          for item in found[kind]]
            problems += found_here
            if _shoot(book, href, bool(found_here)):
                shot = webkit.screenshot(shots / f"{name}-webkit-{view}-{Path(href).stem}.png", width, height)
                numbers["screenshots" if shot else "no_screenshot"] += 1
    REPORT.setdefault(name, {})["webkit"] = numbers
    assert not problems, f"{len(problems)} problem(s) in {name} (screenshots: {shots}):\n" + "\n".join(problems[:40])
