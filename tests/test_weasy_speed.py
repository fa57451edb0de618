"""backends/weasy_speed.py: WeasyPrint's import without library probing, fontTools on first use,
and a PDF serialised once — the same output as WeasyPrint's own way (no timings asserted here)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from interview_export.backends import weasy_speed

PROBE = textwrap.dedent("""
    import json, subprocess, sys
    spawned = []
    real = subprocess.Popen.__init__
    def record(self, args, *a, **k):
        spawned.append(str(args))
        return real(self, args, *a, **k)
    subprocess.Popen.__init__ = record
    from interview_export.backends.weasy_speed import import_weasyprint
    weasyprint = import_weasyprint()
    from weasyprint.pdf import fonts
    deferred = [type(sys.modules[n]).__name__ for n in ("fontTools.subset", "fontTools.varLib.instancer")]
    options = fonts.subset.Options                          # the real module answers when asked
    print(json.dumps({"spawned": spawned, "deferred": deferred, "options": options.__module__,
                      "real_subset": type(sys.modules["fontTools.subset"]).__name__,
                      "instancer": fonts.instantiateVariableFont.__name__}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the library probing skipped is Linux's")
def test_import_spawns_no_process_and_defers_fonttools():
    import json

    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.splitlines()[-1])
    assert found["spawned"] == []          # WeasyPrint's own import runs ldconfig, gcc and ld ~50 times
    assert found["deferred"] == ["_Deferred", "_Deferred"]
    assert found["options"] == "fontTools.subset" and found["real_subset"] == "module"
    assert found["instancer"] == "instantiateVariableFont"


def test_deferred_module_forwards_and_stays_a_plain_module_for_from_imports():
    stub = weasy_speed._Deferred("json", "test")
    stub._package = False
    with pytest.raises(AttributeError):
        stub.__path__                                          # `from … import` asks; no import for that
    assert stub.dumps([1]) == "[1]"                            # anything else: the real module answers
    call = weasy_speed._forwarder(stub, "loads")
    assert call("[2]") == [2] and call.__name__ == "loads"


THREADS_PROBE = textwrap.dedent("""
    import ctypes.util, json, sys, threading, time
    from interview_export.backends import weasy_speed
    real, opened = ctypes.util.find_library, weasy_speed._sonames_open

    def slowly():                      # both threads inside the patches at once, were they unguarded
        time.sleep(0.3)
        return opened()

    weasy_speed._sonames_open = slowly
    got = []
    threads = [threading.Thread(target=lambda: got.append(weasy_speed.import_weasyprint())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"restored": ctypes.util.find_library is real, "same": got[0] is got[1],
                      "whole": hasattr(got[0], "HTML") and hasattr(got[1], "HTML"),
                      "hints deferred": type(got[0].PH_STYLESHEET).__name__}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the library probing skipped is Linux's")
def test_two_threads_importing_leave_no_patch_behind():
    import json

    proc = subprocess.run([sys.executable, "-c", THREADS_PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"restored": True, "same": True, "whole": True,
                                                         "hints deferred": "Deferred"}


HINTS_PROBE = textwrap.dedent("""
    import json
    from interview_export.backends.weasy_speed import import_weasyprint
    weasyprint = import_weasyprint()
    from weasyprint import html
    sheet = html.PH_STYLESHEET
    found = {"before": [type(sheet).__name__, "matcher" in vars(sheet)],
             "others": [type(html.UA_STYLESHEET).__name__, type(html.UA_FORM_STYLESHEET).__name__]}
    page = '<p><font color="#ff0000" size="7">x</font></p><table border="1"><td>y</td></table>'
    found["plain"] = weasyprint.HTML(string=page).write_pdf() == weasyprint.HTML(string=page).write_pdf()
    found["after plain"] = type(sheet).__name__
    hinted = weasyprint.HTML(string=page).write_pdf(presentational_hints=True)
    found["read"] = [type(sheet).__name__, sorted(vars(sheet))]
    weasyprint.PH_STYLESHEET = weasyprint.CSS(string=html.PH)        # parsed the usual way
    found["same"] = hinted == weasyprint.HTML(string=page).write_pdf(presentational_hints=True)
    found["differs"] = hinted != weasyprint.HTML(string=page).write_pdf()
    print(json.dumps(found))
""")


def test_presentational_hints_sheet_is_parsed_when_first_read():
    import json

    proc = subprocess.run([sys.executable, "-c", HINTS_PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.splitlines()[-1])
    assert found["before"] == ["Deferred", False]            # not parsed at import
    assert found["others"] == ["CSS", "CSS"]
    assert found["plain"] and found["after plain"] == "Deferred"   # a render without hints never reads it
    assert found["read"] == ["CSS", ["base_url", "layers", "matcher", "page_rules"]]
    assert found["same"] and found["differs"]                # the hints apply, as from a sheet parsed at import


HTML = ("<html lang='zh'><head><title>t</title></head><body><h1>标题</h1>"
        + "".join(f"<p>第 {i} 段：中文与 Latin 混排。</p>" for i in range(40)) + "</body></html>")


@pytest.mark.parametrize("options", [{"pdf_identifier": True, "pdf_tags": True}, {"pdf_identifier": True},
                                     {"pdf_identifier": False, "uncompressed_pdf": True}])
def test_remember_serialised_gives_the_same_bytes_compressing_once(options, monkeypatch):
    import zlib

    import pydyf

    weasyprint = weasy_speed.import_weasyprint()
    made, compressobj = [], zlib.compressobj

    def counting(*args, **kwargs):
        made.append(1)
        return compressobj(*args, **kwargs)

    monkeypatch.setattr(pydyf.zlib, "compressobj", counting)
    plain = weasyprint.HTML(string=HTML).write_pdf(**options)
    twice, made[:] = len(made), []
    once = weasyprint.HTML(string=HTML).write_pdf(finisher=weasy_speed.remember_serialised, **options)
    assert once == plain
    assert (b"/ID" in once) == options["pdf_identifier"]
    if options["pdf_identifier"] and not options.get("uncompressed_pdf"):
        assert 0 < len(made) < twice           # the /ID hash reused the streams compressed for writing


@pytest.mark.parametrize("options", [{"pdf_identifier": True, "pdf_tags": True}, {"pdf_identifier": False}])
@pytest.mark.parametrize("pinned", [True, False])
def test_pdf_writes_own_objects_are_serialised_once_on_the_pinned_pydyf(options, pinned, monkeypatch):
    import re
    import zlib

    import pydyf

    weasyprint = weasy_speed.import_weasyprint()
    assert weasy_speed.pydyf_checked() is True         # fails when pydyf is not the pinned one
    if not pinned:
        monkeypatch.setattr(weasy_speed, "PYDYF_DIGESTS", {"PDF.write": "0" * 64})
        weasy_speed.pydyf_checked.cache_clear()
    made, compressobj = [], zlib.compressobj
    monkeypatch.setattr(pydyf.zlib, "compressobj", lambda *a, **k: made.append(1) or compressobj(*a, **k))
    try:
        document = weasyprint.HTML(string=HTML).render()
        plain = document.write_pdf(**options)
        made[:] = []
        ours = document.write_pdf(finisher=weasy_speed.remember_serialised, **options)
    finally:
        weasy_speed.pydyf_checked.cache_clear()
    assert ours == plain
    streams = len(re.findall(rb"/Filter /FlateDecode", ours))
    # each stream deflated once; unpinned, the object stream twice with an /ID (made after the finisher)
    assert len(made) == streams + (not pinned and options["pdf_identifier"])


def _streams(pdf: bytes) -> list[tuple[bytes, bytes]]:
    """Each stream object of a pydyf file but the cross-reference one (its offsets move with any
    length) → (its dictionary without /Length, its content inflated)."""
    import re
    import zlib

    found = []
    for match in re.finditer(rb"\n\d+ 0 obj\n(<<.*?>>)\nstream\n", pdf, re.S):
        extra, start = match.group(1), match.end()
        length = int(re.search(rb"/Length (\d+)", extra).group(1))
        content = pdf[start:start + length]
        assert pdf[start + length:start + length + 10] == b"\nendstream"
        if b"/XRef" not in extra:
            inflated = zlib.decompress(content) if b"/FlateDecode" in extra else content
            found.append((re.sub(rb"/Length \d+", b"", extra), inflated))
    return found


@pytest.mark.parametrize("options", [{"pdf_identifier": True, "pdf_tags": True}, {"pdf_identifier": False}])
def test_finish_pdf_deflates_the_same_streams_at_level_6(options, monkeypatch):
    import zlib

    weasyprint = weasy_speed.import_weasyprint()
    levels, compressobj = [], zlib.compressobj
    monkeypatch.setattr(zlib, "compressobj", lambda level=-1, **k: levels.append(level) or compressobj(level, **k))
    document = weasyprint.HTML(string=HTML).render()
    plain = document.write_pdf(**options)
    assert set(levels) == {9}                    # pydyf's level, through the same zlib.compressobj
    levels[:] = []
    ours = document.write_pdf(finisher=weasy_speed.finish_pdf, **options)
    assert set(levels) == {weasy_speed.DEFLATE_LEVEL} == {6}
    assert ours != plain and ours == document.write_pdf(finisher=weasy_speed.finish_pdf, **options)
    assert _streams(ours) == _streams(plain) and len(_streams(plain)) > 3   # pages, font, object stream
    assert (b"/ID" in ours) == options["pdf_identifier"]
    # only pydyf's Stream.data read (the pin) is replaced: another one is left as it is
    monkeypatch.setattr(weasy_speed, "PYDYF_DIGESTS", dict(weasy_speed.PYDYF_DIGESTS, **{"Stream.data": "0" * 64}))
    weasy_speed.pydyf_checked.cache_clear()
    try:
        assert document.write_pdf(finisher=weasy_speed.finish_pdf, **options) == plain
    finally:
        weasy_speed.pydyf_checked.cache_clear()


def _png(mode="RGB", size=(37, 23), **save):
    from io import BytesIO

    from PIL import Image

    im = Image.new(mode, size)
    im.putdata([tuple((x * 7 + y * 3 + c * 50) % 256 for c in range(len(mode))) if len(mode) > 1
                else (x * 7 + y * 3) % 256 for y in range(size[1]) for x in range(size[0])])
    buf = BytesIO()
    im.save(buf, "PNG", **save)
    return buf.getvalue()


def _opened(data):
    from io import BytesIO

    from PIL import Image

    return Image.open(BytesIO(data))


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_plain_png_gives_the_idat_weasyprint_would_write(mode):
    weasy_speed.import_weasyprint()
    from weasyprint.images import RasterImage

    stock = RasterImage.__dict__["_get_png_data"]
    stock = getattr(stock, "__func__", stock)
    if getattr(stock, "__name__", "") == "png_data":          # installed: WeasyPrint's own is inside
        stock = stock.__closure__[0].cell_contents
    data = _png(mode, compress_level=6)                        # what the media stage writes for PDFs
    assert weasy_speed.idat_of_plain_png(_opened(data)) == stock(_opened(data))


@pytest.mark.parametrize("kind", ["palette", "interlaced", "transparency", "alpha", "sixteen"])
def test_other_pngs_are_left_to_weasyprint(kind):
    if kind == "palette":
        data = _png("P")
    elif kind in ("interlaced", "sixteen"):
        # Pillow writes neither interlaced nor 48-bit PNGs: set the IHDR field by hand (Pillow
        # opens a 48-bit PNG as mode RGB)
        import zlib

        raw = bytearray(_png("RGB", size=(1, 1)))
        raw[28 if kind == "interlaced" else 24] = 1 if kind == "interlaced" else 16
        raw[29:33] = zlib.crc32(bytes(raw[12:29])).to_bytes(4, "big")
        data = bytes(raw)
        assert _opened(data).mode == "RGB"
    elif kind == "transparency":
        data = _png("RGB", transparency=(0, 0, 0))
    else:
        data = _png("RGBA")
    assert weasy_speed.idat_of_plain_png(_opened(data)) is None


def test_install_is_checked_against_weasyprints_source():
    weasy_speed.import_weasyprint()
    assert weasy_speed.install() is True                       # WeasyPrint 70.0, functions unchanged
    from weasyprint.images import RasterImage

    assert RasterImage._get_png_data.__name__ == "png_data"
