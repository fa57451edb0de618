"""The rendition cache: a warm conversion reads prepared images instead of decoding and encoding."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
import textwrap
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from interview_export import images, media
from interview_export.cache import Cache
from interview_export.media import Renditions, collect_media
from interview_export.model import Document, Figure, Meta, Section
from interview_export.options import Options

from fault_server import FaultServer

REPO = Path(__file__).resolve().parents[1]


def doc_of(*srcs: str) -> Document:
    figures = tuple(Figure(src=s, alt=f"图 {i}", line=10 * (i + 1)) for i, s in enumerate(srcs))
    return Document(meta=Meta(title="t"), sections=(Section(id="s1", title="一", blocks=figures, line=1),),
                    name="article.md")


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def photo(size=(2200, 1650)) -> Image.Image:
    grad = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (grad, grad.rotate(90).resize(size), Image.radial_gradient("L").resize(size)))


def small_jpeg() -> bytes:
    return encode(photo((300, 200)), "JPEG", quality=90)


@pytest.fixture(scope="module")
def sources() -> dict[str, bytes]:
    return {"big.png": encode(photo(), "PNG", compress_level=1), "small.jpg": small_jpeg()}


@pytest.fixture
def folder(tmp_path, sources) -> Path:
    """An input folder with a big PNG (two re-encoded renditions) and a small JPEG (kept as is)."""
    for name, data in sources.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


SRCS = ("big.png", "small.jpg")


def opts(tmp_path: Path, **kw) -> Options:
    kw.setdefault("cache_dir", tmp_path / "cache")
    kw.setdefault("allow_hosts", ("127.0.0.1",))     # the local test servers
    return Options(**kw)


def fields(bag) -> dict:
    """Everything of each asset but the status (a download-cache notion)."""
    return {src: dataclasses.replace(a, status="") for src, a in bag.assets.items()}


class Counting:
    """Wraps images.normalise to count calls (and optionally refuse to run)."""

    def __init__(self, monkeypatch, *, forbid=False):
        self.calls: list[tuple[str, ...]] = []
        self.forbid = forbid
        self.real = images.normalise
        monkeypatch.setattr(images, "normalise", self)

    def __call__(self, data, **kw):
        if self.forbid:
            raise AssertionError("normalise called on a warm cache")
        self.calls.append(kw["targets"])
        return self.real(data, **kw)


def rendition_files(root: Path) -> list[Path]:
    return sorted((root / "renditions").rglob("*.rendition"))


# ---------------------------------------------------------------- warm runs
def test_warm_run_serves_renditions_without_normalising(folder, monkeypatch):
    o = opts(folder)
    count = Counting(monkeypatch)
    cold = collect_media(doc_of(*SRCS), folder, o)
    assert len(count.calls) == 2 and cold.warnings == []
    assert len(rendition_files(folder / "cache")) == 4  # two images × (EPUB, PDF)
    count.forbid = True
    warm = collect_media(doc_of(*SRCS), folder, o)
    assert fields(warm) == fields(cold)
    big = warm.get("big.png")
    assert (big.width, big.height) == (1600, 1200)
    assert Image.open(BytesIO(big.pdf_data)).size == (2000, 1500)
    small = warm.get("small.jpg")
    assert small.data == (folder / "small.jpg").read_bytes() and small.pdf_data is small.data


def test_data_uris_use_the_rendition_cache_too(tmp_path, monkeypatch):
    uri = "data:image/png;base64," + base64.b64encode(encode(photo((600, 400)), "GIF")).decode()
    o = opts(tmp_path)
    cold = collect_media(doc_of(uri), tmp_path, o)
    Counting(monkeypatch, forbid=True)
    assert fields(collect_media(doc_of(uri), tmp_path, o)) == fields(cold)


def test_downloads_use_the_rendition_cache_and_the_warm_run_touches_nothing(tmp_path, monkeypatch):
    with FaultServer() as srv:
        url = srv.url + "ok.png"
        o = opts(tmp_path)
        cold = collect_media(doc_of(url), tmp_path, o)
        assert cold.get(url).status == "ok" and srv.requests == ["/ok.png"]
        Counting(monkeypatch, forbid=True)
        warm = collect_media(doc_of(url), tmp_path, o)
        assert warm.get(url).status == "cached" and srv.requests == ["/ok.png"]
        assert fields(warm) == fields(cold)


def test_one_target_then_both_reuses_the_first_rendition(folder, monkeypatch):
    o = opts(folder)
    count = Counting(monkeypatch)
    epub_only = collect_media(doc_of("big.png"), folder, o, targets=("epub",))
    assert count.calls == [("epub",)]
    a = epub_only.get("big.png")
    assert a.pdf_data is a.data  # one target: the other shares it, as without a cache
    both = collect_media(doc_of("big.png"), folder, o, targets=("epub", "pdf"))
    assert count.calls == [("epub",), ("pdf",)]  # only the missing rendition is made
    b = both.get("big.png")
    assert b.data == a.data and len(b.pdf_data) != len(b.data)
    fresh = collect_media(doc_of("big.png"), folder, opts(folder, use_cache=False))
    assert fields(both) == fields(fresh)


# A JPEG between the thresholds decodes at a draft scale that differs per target: each target's
# rendition must still be the one it gets alone (cold or warm, whatever else was wanted or cached).
BETWEEN = [
    ((3840, 2160), 1600, False),   # defaults: alone, the EPUB's decodes at 1/2 and the PDF's whole
    ((4000, 2000), 2500, False),   # a large EPUB long side: the EPUB's whole, the PDF's at 1/2
    ((4000, 2000), 4000, True),    # grey: the EPUB's re-encoded from the whole image, the PDF's at 1/2
]


@pytest.mark.parametrize("size, epub_long, grey", BETWEEN)
def test_a_rendition_is_the_same_whatever_other_target_or_cache(tmp_path, size, epub_long, grey):
    """Each target's rendition is a function of the image and that target's own options: the same
    alone or beside the other target, cold or served from a cache another target set filled."""
    (tmp_path / "p.jpg").write_bytes(encode(photo(size), "JPEG", quality=90))

    def run(cache: str, targets: tuple[str, ...]) -> tuple[bytes, bytes]:
        o = opts(tmp_path, cache_dir=tmp_path / cache, epub_image_long_side=epub_long, grayscale=grey)
        a = collect_media(doc_of("p.jpg"), tmp_path, o, targets=targets).get("p.jpg")
        assert a.ok, a.reason
        return a.data, a.pdf_data

    both = ("epub", "pdf")
    epub_alone, pdf_alone = run("cold-epub", ("epub",))[0], run("cold-pdf", ("pdf",))[1]
    assert epub_alone != pdf_alone
    assert run("cold-both", both) == (epub_alone, pdf_alone)
    assert run("cold-both", ("epub",))[0] == epub_alone and run("cold-both", ("pdf",))[1] == pdf_alone
    for first in ("epub", "pdf"):          # `epub` (or `pdf`) first, then `build` on the same cache
        run(f"{first}-first", (first,))
        assert run(f"{first}-first", both) == (epub_alone, pdf_alone)


def test_epub_then_build_serves_the_epub_a_cold_build_makes(tmp_path):
    """`interview-export epub` then `build` with one cache: the warm build's EPUB image is the cold
    build's and the cold `epub`'s (a 3840×2160 JPEG: alone, the EPUB's decodes at 1/2)."""
    import zipfile

    from click.testing import CliRunner

    from interview_export import cli

    (tmp_path / "p.jpg").write_bytes(encode(photo((3840, 2160)), "JPEG", quality=90))
    (tmp_path / "a.md").write_text("# 标题\n\n正文。\n\n![图](p.jpg)\n", encoding="utf-8")

    def images_of(command: str, cache: str, out: str) -> dict[str, bytes]:
        result = CliRunner().invoke(cli.cli, [command, str(tmp_path / "a.md"), "-o", str(tmp_path / out),
                                              "--cache-dir", str(tmp_path / cache), "-q"])
        assert result.exit_code == 0, result.output
        with zipfile.ZipFile(tmp_path / out / "a.epub") as z:
            return {n: z.read(n) for n in z.namelist() if "/images/" in n}

    cold_epub = images_of("epub", "c1", "e1")
    assert any("cover" not in name for name in cold_epub), cold_epub.keys()
    assert images_of("build", "c2", "b2") == cold_epub
    images_of("epub", "c3", "e3")
    assert images_of("build", "c3", "b3") == cold_epub


def test_warm_process_loads_neither_pillow_nor_the_http_client(folder):
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from interview_export.media import collect_media
        from interview_export.model import Document, Figure, Meta, Section
        from interview_export.options import Options
        figs = tuple(Figure(src=s, alt="", line=1) for s in {SRCS!r})
        doc = Document(meta=Meta(title="t"), sections=(Section(id="s", title="s", blocks=figs, line=1),))
        bag = collect_media(doc, Path({str(folder)!r}), Options(cache_dir=Path({str(folder / "cache")!r})))
        assert not bag.warnings, bag.warnings
        print(sorted(m for m in ("PIL.Image", "interview_export.webclient", "http.client", "rich") if m in sys.modules))
    """)
    run = lambda: subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,  # noqa: E731
                                 check=True, cwd=REPO).stdout.strip()
    assert run() == "['PIL.Image']"   # cold: Pillow decodes
    assert run() == "[]"              # warm: bytes from the cache only


# ---------------------------------------------------------------- damaged entries
@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "wrong-key", "bad-size"])
def test_damaged_rendition_is_ignored_and_rewritten(folder, monkeypatch, damage):
    o = opts(folder)
    cold = collect_media(doc_of(*SRCS), folder, o)
    files = rendition_files(folder / "cache")
    good = {p: p.read_bytes() for p in files}
    for p, raw in good.items():
        header, _, body = raw.partition(b"\n")
        head = json.loads(header)
        if damage == "truncate":
            p.write_bytes(raw[: len(raw) - 7] if body else raw[: len(header) // 2])
        elif damage == "flip":
            pos = len(header) + 1 + len(body) // 2 if body else len(header) // 2
            p.write_bytes(raw[:pos] + bytes([raw[pos] ^ 0x55]) + raw[pos + 1:])
        elif damage == "garbage":
            p.write_bytes(b"\x00\xff not json\n" + body)
        elif damage == "empty":
            p.write_bytes(b"")
        elif damage == "wrong-key":
            head["key"] = "0" * 64
            p.write_bytes(json.dumps(head).encode() + b"\n" + body)
        else:
            head["size"] += 1
            p.write_bytes(json.dumps(head).encode() + b"\n" + body)
    count = Counting(monkeypatch)
    again = collect_media(doc_of(*SRCS), folder, o)
    assert fields(again) == fields(cold) and again.warnings == []
    assert len(count.calls) == 2  # every entry was damaged: both images made again
    assert {p: p.read_bytes() for p in rendition_files(folder / "cache")} == good  # rewritten


def test_same_as_source_entry_needs_the_very_same_source(tmp_path):
    cache = Cache(tmp_path)
    src = small_jpeg()
    import hashlib

    digest = hashlib.sha256(src).hexdigest()
    assert cache.put_rendition("k" * 64, src, {"format": "JPEG"}, sha256=digest, same_as_source=True)
    raw = cache.rendition_path("k" * 64).read_bytes()
    assert raw.endswith(b"}\n")  # no body: the source's own bytes are not stored twice
    assert cache.get_rendition("k" * 64, src, digest).data is src
    other = src + b"\0"
    assert cache.get_rendition("k" * 64, other, hashlib.sha256(other).hexdigest()) is None


# ---------------------------------------------------------------- keys
def test_every_option_that_shapes_a_rendition_changes_its_key():
    d = "ab" * 32
    base = Renditions(Options(), ("epub", "pdf"))
    epub, pdf = base.key(d, "epub"), base.key(d, "pdf")
    assert len({epub, pdf, base.key("cd" * 32, "epub")}) == 3
    for change in ({"epub_image_long_side": 1200}, {"grayscale": True}):
        other = Renditions(Options(**change), ("epub", "pdf"))
        assert other.key(d, "epub") != epub
        assert other.key(d, "pdf") == pdf  # the PDF rendition ignores EPUB-only options
    # options that do not shape images share the entries
    assert Renditions(Options(timeout=3.0, strict=True), ("epub",)).key(d, "epub") == epub


def test_key_changes_with_the_format_version_and_the_normalising_code(monkeypatch):
    d = "ab" * 32
    key = Renditions(Options(), ("epub",)).key(d, "epub")
    monkeypatch.setattr(media, "RENDITION_VERSION", media.RENDITION_VERSION + 1)
    assert Renditions(Options(), ("epub",)).key(d, "epub") != key
    monkeypatch.undo()
    media.code_fingerprint.cache_clear()
    assert media.NORMALISING_CODE == Path(images.__file__)   # the module that normalises, not imported
    monkeypatch.setattr(media, "NORMALISING_CODE", Path(__file__))  # "another images.py"
    try:
        assert Renditions(Options(), ("epub",)).key(d, "epub") != key
    finally:
        monkeypatch.undo()
        media.code_fingerprint.cache_clear()
    assert Renditions(Options(), ("epub",)).key(d, "epub") == key


def test_changed_options_never_serve_a_stale_rendition(folder):
    o = opts(folder)
    collect_media(doc_of("big.png"), folder, o)
    small = collect_media(doc_of("big.png"), folder, opts(folder, epub_image_long_side=800)).get("big.png")
    assert (small.width, small.height) == (800, 600)
    gray = collect_media(doc_of("big.png"), folder, opts(folder, grayscale=True)).get("big.png")
    assert Image.open(BytesIO(gray.data)).mode == "L"
    assert Image.open(BytesIO(gray.pdf_data)).mode == "RGB"


# ---------------------------------------------------------------- --no-cache
def test_no_cache_neither_reads_nor_writes_renditions(folder, monkeypatch):
    o = opts(folder, use_cache=False)
    collect_media(doc_of(*SRCS), folder, o)
    assert not (folder / "cache").exists()
    # a (valid) entry that lies about the image would be served from the cache: not with use_cache off
    warm = opts(folder)
    collect_media(doc_of("small.jpg"), folder, warm)
    cache, lie = Cache(folder / "cache"), encode(photo((10, 10)), "PNG")
    for entry in rendition_files(folder / "cache"):
        head = json.loads(entry.read_bytes().partition(b"\n")[0])
        head["meta"].update(format="PNG", width=10, height=10)
        cache.put_rendition(head["key"], lie, head["meta"])
    assert collect_media(doc_of("small.jpg"), folder, warm).get("small.jpg").width == 10  # trusted
    count = Counting(monkeypatch)
    honest = collect_media(doc_of("small.jpg"), folder, o).get("small.jpg")
    assert honest.width == 300 and count.calls and honest.data == (folder / "small.jpg").read_bytes()


def test_unwritable_cache_folder_never_fails_the_conversion(folder):
    blocker = folder / "cache"
    blocker.write_text("a file where the cache folder should be")
    bag = collect_media(doc_of(*SRCS), folder, opts(folder))
    assert bag.warnings == [] and all(a.ok for a in bag.assets.values())


def test_refused_images_are_not_cached(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"<html>not an image</html>")
    bag = collect_media(doc_of("bad.png"), tmp_path, opts(tmp_path))
    assert not bag.get("bad.png").ok
    assert rendition_files(tmp_path / "cache") == []
