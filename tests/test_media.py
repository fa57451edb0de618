"""media.collect_media: sources, checks by content, normalisation, placeholders, warnings, corpus cases."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
import urllib.parse
from io import BytesIO
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image, features

from interview_export.cache import Cache
from interview_export.fetcher import Fetcher
from interview_export.media import ImageAsset, MediaBag, collect_media
from interview_export.model import Document, Figure, InlineImage, Meta, Paragraph, Section, Text, image_refs
from interview_export.options import Options

from fault_server import FaultServer, dead_port, noisy_png, png_header_bomb

FILENAME = re.compile(r"^images/[0-9a-f]{16}\.(jpg|png|gif)$")


# ---------------------------------------------------------------- helpers
def doc_of(*srcs: str, name: str = "article.md", cover: str = "") -> Document:
    """A hand-built document: one figure per src, at lines 10, 20, 30, …"""
    figures = tuple(Figure(src=s, alt=f"图 {i}", line=10 * (i + 1)) for i, s in enumerate(srcs))
    return Document(meta=Meta(title="t", cover=cover),
                    sections=(Section(id="s1", title="一", blocks=figures, line=1),), name=name)


def opts(tmp_path: Path, **kw) -> Options:
    kw.setdefault("cache_dir", tmp_path / "cache")  # never the user's real cache
    kw.setdefault("allow_hosts", ("127.0.0.1",))     # the local test servers
    return Options(**kw)


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def photo(size=(400, 300)) -> Image.Image:
    """A smooth, many-coloured image (a 'photo')."""
    w, h = size
    grad = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (grad, grad.rotate(90).resize(size), Image.radial_gradient("L").resize(size)))


def line_art(size=(400, 300)) -> Image.Image:
    im = Image.new("RGB", size, "white")
    for x in range(0, size[0], 40):
        im.paste((20, 20, 20), (x, 0, x + 4, size[1]))
    return im


def open_asset(data: bytes) -> Image.Image:
    im = Image.open(BytesIO(data))
    im.load()
    return im


def one(bag: MediaBag) -> ImageAsset:
    assert len(bag.assets) == 1
    return next(iter(bag.assets.values()))


def fast_fetcher(tmp_path, **kw) -> Fetcher:
    kw.setdefault("cache", Cache(tmp_path / "fcache"))
    kw.setdefault("timeout", 1.0)
    kw.setdefault("retries", 2)
    kw.setdefault("backoff", 0.01)
    kw.setdefault("allow_hosts", ("127.0.0.1",))
    return Fetcher(**kw)


# ---------------------------------------------------------------- local files
def test_local_png_is_kept_byte_for_byte(tmp_path):
    data = encode(line_art(), "PNG")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(data)
    bag = collect_media(doc_of("./images/a.png"), tmp_path, opts(tmp_path))
    a = one(bag)
    assert a.ok and a.status == "ok" and a.reason == ""
    assert a.data == data and a.pdf_data is a.data
    assert (a.media_type, a.format, a.width, a.height) == ("image/png", "PNG", 400, 300)
    assert FILENAME.match(a.filename) and a.filename.endswith(".png")
    assert a.alt == "图 0" and a.line == 10
    assert bag.warnings == [] and bag.missing() == []


def test_format_comes_from_the_bytes_not_the_name(tmp_path):
    jpeg = encode(photo(), "JPEG", quality=90)
    (tmp_path / "image_01.png").write_bytes(jpeg)
    a = one(collect_media(doc_of("image_01.png"), tmp_path, opts(tmp_path)))
    assert a.media_type == "image/jpeg" and a.filename.endswith(".jpg") and a.format == "JPEG"
    assert a.data == jpeg


def test_identical_bytes_share_one_filename_and_same_src_is_processed_once(tmp_path):
    data = encode(line_art(), "PNG")
    (tmp_path / "a.png").write_bytes(data)
    (tmp_path / "b.png").write_bytes(data)
    doc = doc_of("a.png", "b.png", "a.png")
    bag = collect_media(doc, tmp_path, opts(tmp_path))
    assert list(bag.assets) == ["a.png", "b.png"]
    assert bag.get("a.png").filename == bag.get("b.png").filename
    assert len(bag.files()) == 1
    assert bag.get("a.png").line == 10  # first use


def test_percent_encoded_and_cjk_paths_resolve(tmp_path):
    data = encode(line_art(), "PNG")
    (tmp_path / "图 片.png").write_bytes(data)
    src = urllib.parse.quote("图 片.png")  # what markdown-it's normalizeLink produces
    bag = collect_media(doc_of(src, "图 片.png"), tmp_path, opts(tmp_path))
    assert all(a.ok and a.data == data for a in bag.assets.values())


def test_missing_file_is_one_placeholder_and_one_warning_naming_line_and_reason(tmp_path):
    doc = doc_of("nope.png", "nope.png")
    bag = collect_media(doc, tmp_path, opts(tmp_path))
    a = bag.get("nope.png")
    assert a.status == "placeholder" and not a.ok and a.data == b"" and a.filename == ""
    assert "not found" in a.reason
    assert bag.warnings == ["article.md:10: image nope.png: file not found"]
    assert bag.missing() == [a]


def test_inline_images_and_cover_are_collected(tmp_path):
    (tmp_path / "c.png").write_bytes(encode(line_art(), "PNG"))
    doc = Document(meta=Meta(cover="c.png"), lead=(Paragraph((Text("x"), InlineImage("gone.png", "g", line=3)), line=3),),
                   name="a.md")
    bag = collect_media(doc, tmp_path, opts(tmp_path))
    assert bag.get("c.png").ok
    assert bag.warnings == ["a.md:3: image gone.png: file not found"]


@pytest.mark.parametrize("src", ["../../etc/passwd", "../outside.png", "/etc/passwd",
                                 "file:///etc/passwd", "%2E%2E/outside.png"])
def test_paths_escaping_the_input_folder_are_refused(tmp_path, src):
    base = tmp_path / "article"
    base.mkdir()
    (tmp_path / "outside.png").write_bytes(encode(line_art(), "PNG"))
    bag = collect_media(doc_of(src), base, opts(tmp_path))
    a = one(bag)
    assert a.status == "placeholder" and a.data == b"" and "outside the input folder" in a.reason
    assert len(bag.warnings) == 1 and src in bag.warnings[0] and ":10:" in bag.warnings[0]


def test_symlink_pointing_outside_is_refused(tmp_path):
    base = tmp_path / "article"
    base.mkdir()
    secret = tmp_path / "secret.png"
    secret.write_bytes(encode(line_art(), "PNG"))
    os.symlink(secret, base / "link.png")
    a = one(collect_media(doc_of("link.png"), base, opts(tmp_path)))
    assert a.status == "placeholder" and "outside" in a.reason


def test_resource_dirs_and_file_urls_inside_the_allowed_folders_work(tmp_path):
    base = tmp_path / "article"
    base.mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    data = encode(line_art(), "PNG")
    (shared / "logo.png").write_bytes(data)
    (base / "in.png").write_bytes(data)
    srcs = ["../shared/logo.png", str(shared / "logo.png"), (base / "in.png").as_uri()]
    refused = collect_media(doc_of(*srcs), base, opts(tmp_path))
    assert [a.ok for a in refused.assets.values()] == [False, False, True]
    allowed = collect_media(doc_of(*srcs), base, opts(tmp_path, resource_dirs=(shared,)))
    assert all(a.ok and a.data == data for a in allowed.assets.values())


def test_directory_and_unsupported_schemes_are_placeholders(tmp_path):
    (tmp_path / "dir.png").mkdir()
    srcs = ["dir.png", "ftp://example.org/a.png", "javascript:alert(1)", "", "a\0b.png", "x" * 5000]
    bag = collect_media(doc_of(*srcs), tmp_path, opts(tmp_path))
    reasons = [a.reason for a in bag.assets.values()]
    assert reasons[:4] == ["not a regular file", "URL scheme 'ftp' is not allowed",
                           "URL scheme 'javascript' is not allowed", "empty image source"]
    assert reasons[4].startswith("unusable path") and reasons[5].startswith("unusable path")
    assert len(bag.warnings) == 6


def test_local_file_over_the_byte_cap_is_refused(tmp_path):
    (tmp_path / "a.png").write_bytes(encode(photo(), "PNG"))
    a = one(collect_media(doc_of("a.png"), tmp_path, opts(tmp_path, max_image_bytes=1000)))
    assert a.status == "placeholder" and "too large" in a.reason


# ---------------------------------------------------------------- data: URIs
def test_data_uris_base64_and_percent_encoded(tmp_path):
    png = encode(line_art(), "PNG")
    b64 = "data:image/jpeg;base64," + base64.b64encode(png).decode()  # lying media type
    pct = "data:image/png," + urllib.parse.quote_from_bytes(png)
    bag = collect_media(doc_of(b64, pct), tmp_path, opts(tmp_path))
    a, b = bag.get(b64), bag.get(pct)
    assert a.data == png == b.data and a.media_type == "image/png" and a.filename == b.filename


@pytest.mark.parametrize("uri,reason", [("data:image/png;base64", "malformed"),
                                        ("data:image/png;base64,!!!!", "malformed base64"),
                                        ("data:text/plain,hello", "not a supported image")])
def test_bad_data_uris_are_placeholders(tmp_path, uri, reason):
    bag = collect_media(doc_of(uri), tmp_path, opts(tmp_path))
    assert reason in one(bag).reason
    assert len(bag.warnings) == 1 and "data:" in bag.warnings[0]


def test_data_uri_over_the_cap_is_refused_before_decoding(tmp_path):
    uri = "data:image/png;base64," + "A" * 4_000_000
    a = one(collect_media(doc_of(uri), tmp_path, opts(tmp_path, max_image_bytes=1_000_000)))
    assert "too large" in a.reason


# ---------------------------------------------------------------- verification
@pytest.mark.parametrize("make,reason", [
    (lambda: b"<!DOCTYPE html><html>403</html>", "not an image"),
    (lambda: noisy_png()[:3000], "truncated"),
    (lambda: encode(photo(), "JPEG")[:2000], "truncated"),
    (lambda: png_header_bomb(20000, 20000), "decompression bomb"),
    (lambda: png_header_bomb(10000, 10000), "decompression bomb"),  # Pillow only *warns* here
    (lambda: b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
    (lambda: b"", "empty"),
])
def test_bad_bytes_become_placeholders(tmp_path, make, reason):
    (tmp_path / "x.png").write_bytes(make())
    t0 = time.monotonic()
    bag = collect_media(doc_of("x.png"), tmp_path, opts(tmp_path))
    assert time.monotonic() - t0 < 5
    a = one(bag)
    assert a.status == "placeholder" and reason in a.reason and a.data == b"" and a.pdf_data == b""


def test_png_with_a_bad_crc_is_refused(tmp_path):
    data = bytearray(noisy_png())
    data[-20] ^= 0xFF  # inside the last IDAT chunk
    (tmp_path / "x.png").write_bytes(bytes(data))
    assert one(collect_media(doc_of("x.png"), tmp_path, opts(tmp_path))).status == "placeholder"


# ---------------------------------------------------------------- normalisation
def test_large_images_are_downscaled_for_epub_and_pdf_never_upscaled(tmp_path):
    (tmp_path / "big.png").write_bytes(encode(line_art((3000, 1000)), "PNG"))
    (tmp_path / "small.png").write_bytes(encode(line_art((300, 100)), "PNG"))
    bag = collect_media(doc_of("big.png", "small.png"), tmp_path, opts(tmp_path))
    big, small = bag.get("big.png"), bag.get("small.png")
    assert (big.width, big.height) == (1600, 533) and open_asset(big.data).size == (1600, 533)
    assert open_asset(big.pdf_data).size == (2000, 667)
    assert (small.width, small.height) == (300, 100)
    tall = collect_media(doc_of("big.png"), tmp_path, opts(tmp_path, epub_image_long_side=800)).get("big.png")
    assert max(tall.width, tall.height) == 800
    unlimited = collect_media(doc_of("big.png"), tmp_path, opts(tmp_path, epub_image_long_side=0)).get("big.png")
    assert (unlimited.width, unlimited.height) == (3000, 1000)


def test_one_target_computes_one_rendition(tmp_path):
    (tmp_path / "big.png").write_bytes(encode(line_art((3000, 1000)), "PNG"))
    epub_only = one(collect_media(doc_of("big.png"), tmp_path, opts(tmp_path), targets=("epub",)))
    assert epub_only.pdf_data is epub_only.data and open_asset(epub_only.data).size == (1600, 533)
    pdf_only = one(collect_media(doc_of("big.png"), tmp_path, opts(tmp_path), targets=("pdf",)))
    assert pdf_only.pdf_data is pdf_only.data and open_asset(pdf_only.data).size == (2000, 667)


@pytest.mark.parametrize("orientation, size, want_epub, want_pdf, halved", [
    (1, (4033, 3025), (1600, 1200), (2000, 1500), True),   # 1/2-scale decode, sizes as from the full image
    (6, (4000, 2000), (800, 1600), (1000, 2000), True),    # rotated: sizes follow the upright image
    (1, (2100, 1600), (1600, 1219), (2000, 1524), False),  # not twice the size needed: decoded in full
])
def test_big_jpegs_decode_at_a_draft_scale_without_changing_the_output(tmp_path, monkeypatch, orientation,
                                                                        size, want_epub, want_pdf, halved):
    from PIL import JpegImagePlugin

    drafts = []
    real = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft",
                        lambda self, mode, req: drafts.append(req) or real(self, mode, req))
    exif = Image.Exif()
    exif[0x0112] = orientation
    (tmp_path / "p.jpg").write_bytes(encode(photo(size), "JPEG", quality=90, exif=exif.tobytes()))
    a = one(collect_media(doc_of("p.jpg"), tmp_path, opts(tmp_path, use_cache=False)))
    assert (a.width, a.height) == want_epub == open_asset(a.data).size
    assert open_asset(a.pdf_data).size == want_pdf
    assert (a.source_width, a.source_height) == size
    assert len(drafts) == 1 and all(d * 2 <= s for d, s in zip(drafts[0], size)) == halved


def drafted_sizes(monkeypatch) -> list[tuple[int, int]]:
    """The size each JPEG draft decodes to (a JPEG not drafted is decoded whole), as they happen."""
    from PIL import JpegImagePlugin

    scaled = []
    real = JpegImagePlugin.JpegImageFile.draft

    def draft(self, mode, req):
        out = real(self, mode, req)
        scaled.append(self.size)
        return out

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", draft)
    return scaled


def test_targets_that_need_different_draft_scales_each_get_their_own_decode(monkeypatch):
    """3840×2160: alone, the EPUB's rendition (1600 px) decodes at 1/2 and the PDF's (2000 px)
    whole; asked for both, the JPEG is decoded twice, each rendition as when it is alone (one
    decode at the PDF's scale for both made an EPUB that depended on the PDF being wanted)."""
    from interview_export import images

    scaled = drafted_sizes(monkeypatch)
    data = encode(photo((3840, 2160)), "JPEG", quality=90)
    epub = images.normalise(data, targets=("epub",)).epub
    assert scaled == [(1920, 1080)]
    pdf = images.normalise(data, targets=("pdf",)).pdf
    assert scaled == [(1920, 1080), (3840, 2160)]
    scaled.clear()
    both = images.normalise(data)
    assert (both.epub, both.pdf) == (epub, pdf) and epub.data != pdf.data
    assert sorted(scaled) == [(1920, 1080), (3840, 2160)]
    assert (epub.width, epub.height, pdf.width, pdf.height) == (1600, 900, 2000, 1125)


@settings(max_examples=60, deadline=None)
@given(size=st.tuples(st.integers(9, 420), st.integers(9, 420)), epub_long=st.integers(0, 450),
       pdf_long=st.integers(1, 450), grey=st.booleans(), orientation=st.sampled_from([1, 6]),
       mode=st.sampled_from(["RGB", "L"]))
def test_each_rendition_is_the_one_its_target_gets_alone(size, epub_long, pdf_long, grey, orientation, mode):
    """Whatever the sizes, long sides, grey or rotation: asked for both, each rendition is
    byte-for-byte the one asked for alone (small images, the PDF long side lowered to match)."""
    from unittest import mock

    from interview_export import images

    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(photo(size).convert(mode), "JPEG", quality=90, exif=exif.tobytes())
    with mock.patch.object(images, "PDF_LONG_SIDE", pdf_long):
        run = lambda *targets: images.normalise(data, epub_long_side=epub_long, grayscale=grey,  # noqa: E731
                                                targets=targets)
        both = run("epub", "pdf")
        assert (both.epub, both.pdf) == (run("epub").epub, run("pdf").pdf)
        assert (both.pdf is both.epub) == (both.pdf.data == both.epub.data)


def test_the_draft_scale_we_predict_is_the_one_pillow_picks():
    """images._draft_scale mirrors JpegImageFile.draft: two targets share one decode exactly when
    Pillow decodes both at the same scale."""
    from interview_export import images

    for size in [(97, 61), (300, 17), (256, 256), (129, 255), (33, 40), (8, 9)]:
        data = encode(photo(size), "JPEG")
        for long_side in range(0, max(size) + 2):
            im = Image.open(BytesIO(data))
            request = images._draft_request(size, long_side)
            if request is not None:
                im.draft(im.mode, request)
            scale = images._draft_scale(size, long_side)
            assert (-(-size[0] // scale), -(-size[1] // scale)) == im.size, (size, long_side)


def test_small_jpegs_kept_as_they_are_are_checked_at_the_smallest_draft_scale(tmp_path, monkeypatch):
    scaled = drafted_sizes(monkeypatch)
    data = encode(photo((800, 600)), "JPEG")
    (tmp_path / "p.jpg").write_bytes(data)
    a = one(collect_media(doc_of("p.jpg"), tmp_path, opts(tmp_path, use_cache=False)))
    assert a.data == data and (a.width, a.height, a.source_width, a.source_height) == (800, 600, 800, 600)
    assert scaled == [(100, 75)]     # decoded at 1/8: only the check needs the decode


def _noisy_jpegs() -> list[bytes]:
    """Small JPEGs full of entropy-coded data, in the layouts libjpeg decodes differently."""
    import random

    rng = random.Random(17)
    im = Image.frombytes("RGB", (97, 61), rng.randbytes(97 * 61 * 3)).resize((97, 61))
    kinds = [{}, {"progressive": True}, {"subsampling": 0}, {"subsampling": 1},
             {"progressive": True, "subsampling": 0, "quality": 95}, {"restart_marker_blocks": 2}]
    return [encode(im, "JPEG", **kw) for kw in kinds] + [encode(im.convert("L"), "JPEG"),
                                                          encode(im.convert("L"), "JPEG", progressive=True)]


def _damaged(data: bytes, rng, many: int):
    yield from (data[:cut] for cut in range(0, len(data), max(1, len(data) // 60)))
    for _ in range(many):
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):   # headers (tables, frame, scan) as often as scan data
            out[rng.randrange(min(len(out), 700) if rng.random() < 0.5 else len(out))] ^= rng.randint(1, 255)
        yield bytes(out[: rng.randrange(len(out))] if rng.random() < 0.3 else out)


def test_the_draft_scale_check_accepts_and_refuses_exactly_as_a_full_decode(monkeypatch):
    """Kept JPEGs are only checked at 1/8 scale: every truncated or damaged file must get the same
    verdict and message as when it was fully decoded (SLOW=1: ten times more damaged files)."""
    import random

    from PIL import JpegImagePlugin

    from interview_export import images
    from interview_export.errors import ImageRefused

    def verdict(data: bytes):
        try:
            n = images.normalise(data)
            return n.epub.data, n.pdf.data, n.source_format, n.source_width, n.source_height
        except ImageRefused as exc:
            return str(exc)

    rng = random.Random(5)
    many = 1500 if os.environ.get("SLOW") else 150
    files = [d for data in _noisy_jpegs() for d in _damaged(data, rng, many)]
    scaled = [verdict(d) for d in files]
    real = JpegImagePlugin.JpegImageFile.draft       # the check-only draft off: full decodes
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft",
                        lambda self, mode, req: None if req == (1, 1) else real(self, mode, req))
    full = [verdict(d) for d in files]
    assert scaled == full
    refused = sum(isinstance(v, str) for v in full)
    assert 0.2 < refused / len(full) < 0.9          # both verdicts well represented
    assert sum("truncated" in v for v in full if isinstance(v, str)) > 100


def test_exif_orientation_is_applied_and_metadata_dropped(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6       # rotate 90° on display
    exif[0x010F] = "Camera Maker"
    data = encode(photo((400, 200)), "JPEG", exif=exif.tobytes())
    (tmp_path / "p.jpg").write_bytes(data)
    a = one(collect_media(doc_of("p.jpg"), tmp_path, opts(tmp_path)))
    im = open_asset(a.data)
    assert im.size == (200, 400) == (a.width, a.height)
    assert 0x0112 not in im.getexif() and 0x010F not in im.getexif()


def test_metadata_is_stripped_losslessly_from_images_that_need_no_other_change(tmp_path):
    from PIL import PngImagePlugin

    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"
    exif[0x0112] = 1
    icc = b"fake-icc-profile" * 10
    jpeg = encode(photo(), "JPEG", exif=exif.tobytes(), icc_profile=icc, comment=b"secret comment")
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "someone")
    info.add_itxt("Comment", "私密", zip=True)
    png = encode(line_art(), "PNG", pnginfo=info)
    (tmp_path / "p.jpg").write_bytes(jpeg)
    (tmp_path / "l.png").write_bytes(png)
    bag = collect_media(doc_of("p.jpg", "l.png"), tmp_path, opts(tmp_path))
    for src, original in (("p.jpg", jpeg), ("l.png", png)):
        a = bag.get(src)
        assert a.ok and a.data != original and len(a.data) < len(original)
        before, after = open_asset(original), open_asset(a.data)
        assert after.tobytes() == before.tobytes()  # same pixels: nothing was re-encoded
        assert not after.getexif() and "comment" not in after.info
        assert not {"Author", "Comment"} & set(after.info)
    assert open_asset(bag.get("p.jpg").data).info["icc_profile"] == icc  # colour kept


def test_reencoded_png_carries_no_metadata(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "someone")
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"
    (tmp_path / "wide.png").write_bytes(encode(line_art((2400, 300)), "PNG", pnginfo=info, exif=exif))
    a = one(collect_media(doc_of("wide.png"), tmp_path, opts(tmp_path)))
    for data in (a.data, a.pdf_data):
        im = open_asset(data)
        assert im.width in (1600, 2000) and not im.getexif() and "Author" not in im.info


@pytest.mark.parametrize("make,fmt,want_fmt,want_mode", [
    (lambda: photo(), "WEBP", "JPEG", "RGB"),
    (lambda: line_art(), "WEBP", "JPEG", "RGB"),          # lossy WebP: JPEG even for line art
    pytest.param(lambda: line_art(), "WEBP", "PNG", "RGB", id="lossless-webp-line-art"),
    (lambda: photo().convert("RGBA"), "WEBP", "PNG", "RGBA"),   # alpha kept… only if used:
    (lambda: line_art(), "BMP", "PNG", "RGB"),
    (lambda: photo(), "TIFF", "JPEG", "RGB"),
    (lambda: photo().convert("CMYK"), "JPEG", "JPEG", "RGB"),
    (lambda: line_art().convert("P"), "PNG", "PNG", "RGB"),
    pytest.param(lambda: photo(), "AVIF", "JPEG", "RGB",
                 marks=pytest.mark.skipif(not features.check("avif"), reason="Pillow without AVIF")),
])
def test_formats_and_modes_are_normalised(tmp_path, make, fmt, want_fmt, want_mode):
    im = make()
    if want_mode == "RGBA":
        im.putalpha(Image.linear_gradient("L").resize(im.size))
    lossless = fmt == "WEBP" and want_fmt == "PNG"
    (tmp_path / "x.img").write_bytes(encode(im, fmt, **({"lossless": True} if lossless else {})))
    a = one(collect_media(doc_of("x.img"), tmp_path, opts(tmp_path)))
    out = open_asset(a.data)
    assert (a.format, out.format, out.mode) == (want_fmt, want_fmt, want_mode)
    assert a.media_type == f"image/{want_fmt.lower()}" and a.filename.endswith(".jpg" if want_fmt == "JPEG" else ".png")


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    im = Image.new("I;16", (64, 64), 32768)  # mid grey in 16 bits
    (tmp_path / "g16.png").write_bytes(encode(im, "PNG"))
    a = one(collect_media(doc_of("g16.png"), tmp_path, opts(tmp_path)))
    out = open_asset(a.data)
    assert out.mode == "L" and 120 <= out.getpixel((5, 5)) <= 135


def test_sixteen_bit_rgb_png_becomes_eight_bit(tmp_path):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    w, h = 8, 4
    rows = b"".join(b"\x00" + struct.pack(">HHH", 40000, 1000, 65535) * w for _ in range(h))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    (tmp_path / "deep.png").write_bytes(png)
    a = one(collect_media(doc_of("deep.png"), tmp_path, opts(tmp_path)))
    assert a.ok and a.data != png and a.data[24] == 8  # IHDR bit depth
    assert open_asset(a.data).getpixel((0, 0)) == (156, 3, 255)


def test_grayscale_option_gives_l_mode_for_epub_and_keeps_colour_for_pdf(tmp_path):
    (tmp_path / "c.jpg").write_bytes(encode(photo(), "JPEG"))
    a = one(collect_media(doc_of("c.jpg"), tmp_path, opts(tmp_path, grayscale=True)))
    assert open_asset(a.data).mode == "L"
    assert open_asset(a.pdf_data).mode == "RGB"


def test_animated_gif_kept_for_epub_first_frame_for_pdf(tmp_path):
    frames = [Image.new("RGB", (120, 80), (i * 60, 255 - i * 60, 40)) for i in range(4)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    (tmp_path / "anim.gif").write_bytes(gif)
    a = one(collect_media(doc_of("anim.gif"), tmp_path, opts(tmp_path)))
    assert a.data == gif and a.media_type == "image/gif" and a.filename.endswith(".gif")
    pdf = open_asset(a.pdf_data)
    assert pdf.format == "PNG" and getattr(pdf, "n_frames", 1) == 1 and a.pdf_media_type == "image/png"


# ---------------------------------------------------------------- HTTP fault matrix
FAULTS = [
    ("404.png", "HTTP 404"),
    ("html.png", "not an image"),
    ("truncated.png", "truncated"),
    ("bomb.png", "decompression bomb"),
    ("loop-a", "redirect loop"),
    ("chain-9", "too many redirects"),
    ("big.png", "too large"),
    ("big-chunked.png", "too large"),
    ("always500.png", "HTTP 503"),
    ("to-file", "scheme 'file'"),
]


def test_fault_server_matrix(tmp_path):
    with FaultServer(slow_seconds=5) as srv:
        urls = [srv.url + path for path, _ in FAULTS] + [srv.url + "flaky.png", srv.url + "busy.png",
                                                          srv.url + "chain-3"]
        doc = doc_of(*urls)
        fetcher = fast_fetcher(tmp_path, timeout=0.5, max_bytes=100_000)
        t0 = time.monotonic()
        with fetcher:
            bag = collect_media(doc, tmp_path, opts(tmp_path), fetcher=fetcher)
        elapsed = time.monotonic() - t0
    assert elapsed < 10, f"fault matrix took {elapsed:.1f}s"
    for (path, reason), url in zip(FAULTS, urls):
        a = bag.get(url)
        assert a.status == "placeholder" and reason in a.reason, (path, a.reason)
        assert a.data == b"" and a.pdf_data == b""
    for path in ("flaky.png", "busy.png", "chain-3"):  # retried / redirected, then fine
        a = bag.get(srv.url + path)
        assert a.ok and a.data == srv.ok_png, (path, a.reason)
    assert srv.requests.count("/flaky.png") == 2 and srv.requests.count("/404.png") == 1
    assert len(bag.warnings) == len(FAULTS) and len(bag.missing()) == len(FAULTS)
    for w, (path, reason) in zip(bag.warnings, FAULTS):
        assert path in w and reason in w and re.match(r"article\.md:\d+: image http://127\.0\.0\.1:", w)
    # nothing that failed was cached; what succeeded was
    cache = Cache(tmp_path / "fcache")
    assert cache.get(srv.url + "html.png") is None and cache.get(srv.url + "flaky.png").data == srv.ok_png


def test_a_host_that_timed_out_is_dead_for_the_rest_of_the_book(tmp_path):
    """A slow host costs one timeout, not one per image (its other images fail at once)."""
    with FaultServer(slow_seconds=5) as srv:
        slow, later = srv.url + "slow.png", srv.url + "ok.png"
        with fast_fetcher(tmp_path, timeout=0.5) as fetcher:
            bag = collect_media(doc_of(slow), tmp_path, opts(tmp_path), fetcher=fetcher)
            t0 = time.monotonic()
            after = collect_media(doc_of(later), tmp_path, opts(tmp_path), fetcher=fetcher)
            assert time.monotonic() - t0 < 0.5
    assert "timed out" in bag.get(slow).reason
    assert "unreachable" in after.get(later).reason and "/ok.png" not in srv.requests


def test_downloads_run_in_parallel(tmp_path):
    with FaultServer() as srv:
        urls = [f"{srv.url}delay/{i}.png" for i in range(16)]
        t0 = time.monotonic()
        bag = collect_media(doc_of(*urls), tmp_path, opts(tmp_path, max_downloads=8))
        elapsed = time.monotonic() - t0
    assert all(a.ok for a in bag.assets.values()) and len(srv.requests) == 16
    assert elapsed < 3, f"16 × 0.3 s downloads took {elapsed:.1f}s: not parallel"
    assert len(bag.files()) == 1  # 16 URLs, identical bytes: one file in the book


def test_options_alone_build_the_fetcher_and_offline_makes_no_request(tmp_path):
    with FaultServer() as srv:
        url = srv.url + "ok.png"
        off = collect_media(doc_of(url), tmp_path, opts(tmp_path, offline=True))
        assert srv.requests == [] and "offline" in one(off).reason
        on = collect_media(doc_of(url), tmp_path, opts(tmp_path))
        assert one(on).status == "ok" and srv.requests == ["/ok.png"]
        again = collect_media(doc_of(url), tmp_path, opts(tmp_path, offline=True))
        assert one(again).status == "cached" and srv.requests == ["/ok.png"]
        nocache = collect_media(doc_of(url), tmp_path, opts(tmp_path, use_cache=False))
        assert one(nocache).status == "ok" and srv.requests == ["/ok.png", "/ok.png"]


def test_corrupt_cache_entry_is_refetched(tmp_path):
    with FaultServer() as srv:
        url = srv.url + "ok.png"
        Cache(tmp_path / "cache").put(url, b"<html>captive portal</html>")
        a = one(collect_media(doc_of(url), tmp_path, opts(tmp_path)))
        assert a.status == "ok" and a.data == srv.ok_png and srv.requests == ["/ok.png"]


# ---------------------------------------------------------------- corpus
def read_corpus(path: Path) -> Document:
    from interview_export.reader import read_path

    return read_path(path)


def test_seed_through_a_mirror_then_from_the_cache_with_the_server_stopped(seed, cdn_server, tmp_path):
    from conftest import CDN_PREFIX

    doc = read_corpus(seed)
    o = opts(tmp_path, mirrors=((CDN_PREFIX, cdn_server.url),))
    t0 = time.monotonic()
    cold = collect_media(doc, seed.parent, o)
    t_cold = time.monotonic() - t0
    assert len(cold.assets) == 5 and cold.warnings == []
    for a in cold.assets.values():
        assert a.status == "ok" and a.media_type == "image/jpeg" and a.filename.endswith(".jpg")
        assert a.src.endswith(".png")
    cdn_server.stop()
    t0 = time.monotonic()
    warm = collect_media(doc, seed.parent, o)
    t_warm = time.monotonic() - t0
    assert [a.status for a in warm.assets.values()] == ["cached"] * 5
    assert [a.data for a in warm.assets.values()] == [a.data for a in cold.assets.values()]
    assert sorted(cdn_server.requests) == sorted(set(cdn_server.requests)) and len(cdn_server.requests) == 5
    print(f"\nseed media: cold {t_cold:.3f}s, warm (cache) {t_warm:.3f}s")


def test_ralph_loop_all_twenty_screenshots_downscaled(corpus, tmp_path):
    path = corpus / "articles" / "ralph-loop-claude-code" / "ralph-loop-claude-code.md"
    doc = read_corpus(path)
    t0 = time.monotonic()
    bag = collect_media(doc, path.parent, opts(tmp_path))
    elapsed = time.monotonic() - t0
    assert len(bag.assets) == 20 and bag.warnings == []
    for a in bag.assets.values():
        assert a.ok and max(a.width, a.height) <= 1600 and max(open_asset(a.data).size) <= 1600
        assert max(open_asset(a.pdf_data).size) <= 2000
    source = sum((path.parent / a.src).stat().st_size for a in bag.assets.values())
    epub = sum(len(a.data) for a in bag.files())
    assert epub < source
    print(f"\nralph-loop media: {elapsed:.2f}s, source {source} B → EPUB images {epub} B, "
          f"PDF images {sum(len(a.pdf_data) for a in bag.files())} B")


@pytest.mark.parametrize("how", ["offline", "dead-mirror"])
def test_remotion_wechat_images_become_placeholders_without_internet(corpus, tmp_path, how):
    path = corpus / "articles" / "remotion-agent-skills-video-generation" / "remotion-agent-skills-video-generation.md"
    doc = read_corpus(path)
    refs = image_refs(doc)
    assert refs and all("mmbiz.qpic.cn" in src for src, _, _ in refs)
    if how == "offline":
        o = opts(tmp_path, offline=True)
        fetcher = None
    else:
        o = opts(tmp_path, mirrors=(("https://mmbiz.qpic.cn/", f"http://127.0.0.1:{dead_port()}/"),))
        fetcher = fast_fetcher(tmp_path, mirrors=o.mirrors, retries=1)
    t0 = time.monotonic()
    bag = collect_media(doc, path.parent, o, fetcher=fetcher)
    assert time.monotonic() - t0 < 10
    srcs = list(dict.fromkeys(src for src, _, _ in refs))
    assert list(bag.assets) == srcs
    assert len(bag.missing()) == len(srcs) == len(bag.warnings)
    for w, src in zip(bag.warnings, srcs):
        assert src in w and ("offline" in w if how == "offline" else "connection failed" in w)


@pytest.mark.parametrize("name", ["boris-claude-code-workflow", "claude-in-excel-vs-openai",
                                  "openai-veteran-jerry-tworek-interview"])
def test_standalone_data_uris_give_the_same_images_as_local_paths(corpus, tmp_path, name):
    folder = corpus / "articles" / name
    local = collect_media(read_corpus(folder / f"{name}.md"), folder, opts(tmp_path))
    t0 = time.monotonic()
    inline = collect_media(read_corpus(folder / f"{name}-standalone.md"), folder, opts(tmp_path))
    elapsed = time.monotonic() - t0
    a = list(local.assets.values())
    b = list(inline.assets.values())
    assert len(a) == len(b) > 0 and all(x.ok for x in a + b)
    assert [x.filename for x in a] == [x.filename for x in b]
    assert [hashlib.sha256(x.data).digest() for x in a] == [hashlib.sha256(x.data).digest() for x in b]
    assert elapsed < 20


def test_remotion_standalone_matches_the_image_files(corpus, tmp_path):
    folder = corpus / "articles" / "remotion-agent-skills-video-generation"
    bag = collect_media(read_corpus(folder / "remotion-agent-skills-video-generation-standalone.md"),
                        folder, opts(tmp_path))
    files = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in (folder / "images").iterdir()}
    assert len(bag.assets) == 4 and bag.warnings == []
    gif = [a for a in bag.assets.values() if a.media_type == "image/gif"]
    assert len(gif) == 1 and files[hashlib.sha256(gif[0].data).hexdigest()].name == "remotion-02.gif"
    assert open_asset(gif[0].pdf_data).format == "PNG"
    assert gif[0].data == files[hashlib.sha256(gif[0].data).hexdigest()].read_bytes()  # kept as is
    pixels = {(im.size, im.tobytes()) for im in map(open_asset, (p.read_bytes() for p in files.values()))}
    for a in bag.assets.values():  # small enough to stay unchanged: the files' very pixels
        im = open_asset(a.data)
        assert (im.size, im.tobytes()) in pixels


def test_full_page_screenshot_is_below_the_bomb_limit_and_downscaled(corpus, tmp_path):
    folder = corpus / "articles" / "ralph-loop-claude-code"
    a = one(collect_media(doc_of("images/ralph-loop-full-page.png"), folder, opts(tmp_path)))
    assert a.ok and (a.source_width, a.source_height) == (3024, 24060)  # 73 megapixels
    assert a.height == 1600 and open_asset(a.data).size == (a.width, a.height)
    assert max(open_asset(a.pdf_data).size) == 2000


# ---------------------------------------------------------------- robustness
def _samples() -> list[bytes]:
    frames = [Image.new("RGB", (24, 16), (i * 80, 0, 0)) for i in range(3)]
    return [encode(line_art((40, 30)), "PNG"), encode(photo((40, 30)), "JPEG"),
            encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
            encode(photo((40, 30)), "WEBP"), encode(line_art((40, 30)), "BMP")]


SAMPLES = _samples()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(SAMPLES) - 1), cut=st.integers(0, 4000),
       flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(1, 255)), max_size=4))
def test_damaged_images_never_crash_and_never_embed_undecodable_bytes(tmp_path, which, cut, flips):
    data = bytearray(SAMPLES[which])
    for pos, xor in flips:
        if pos < len(data):
            data[pos] ^= xor
    data = bytes(data[: max(cut, 1)] if cut < len(data) else data)
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    bag = collect_media(doc_of(uri), tmp_path, opts(tmp_path, use_cache=False))
    a = one(bag)
    if a.ok:
        for out in (a.data, a.pdf_data):
            open_asset(out)  # whatever we embed decodes fully
        assert bag.warnings == []
    else:
        assert a.data == b"" and a.reason and len(bag.warnings) == 1


def test_truncated_images_refused_after_weasyprint_import(tmp_path):
    """WeasyPrint sets PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True on import (batch workers preload it)."""
    import weasyprint  # noqa: F401  (the import is the point)

    (tmp_path / "x.png").write_bytes(encode(photo(), "JPEG")[:2000])
    a = one(collect_media(doc_of("x.png"), tmp_path, opts(tmp_path)))
    assert a.status == "placeholder" and "truncated" in a.reason
