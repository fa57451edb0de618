"""backends/weasy_subset.py: HarfBuzz's subset input arrays made without cffi parsing a C type per
length — the same PDF bytes as WeasyPrint's own arrays (no timings asserted here)."""

from __future__ import annotations

from interview_export.backends import weasy_speed, weasy_subset

HTML = ("<html lang='zh'><head><title>t</title></head><body><h1>标题</h1>"
        + "".join(f"<p>第壹贰叁肆伍陆柒捌玖拾 {i} 段：中文与 Latin 混排，<b>粗体</b>。</p>" for i in range(40))
        + "</body></html>")


def _sized_types(ffi) -> set[str]:
    return {key for key in ffi._parsed_types if isinstance(key, str) and key.startswith("hb_codepoint_t[")}


def test_same_bytes_and_no_type_parsed_per_length(monkeypatch):
    weasyprint = weasy_speed.import_weasyprint()
    from weasyprint.pdf import fonts

    assert weasy_subset.install() is True                  # WeasyPrint 70.0, the function unchanged
    assert isinstance(fonts.ffi, weasy_subset.SubsetFFI)
    raw = fonts.ffi.ffi
    known = _sized_types(raw)
    ours = weasyprint.HTML(string=HTML).write_pdf()
    assert _sized_types(raw) <= known | {"hb_codepoint_t[]"}      # no new sized type parsed
    monkeypatch.setattr(fonts, "ffi", raw)
    assert weasyprint.HTML(string=HTML).write_pdf() == ours        # WeasyPrint's own arrays: same subsets
    assert _sized_types(raw) - known - {"hb_codepoint_t[]"}         # …after a type parsed per length


def test_other_arrays_are_left_to_cffi():
    weasy_speed.import_weasyprint()
    from weasyprint.text.ffi import ffi

    wrapped = weasy_subset.SubsetFFI(ffi)
    assert list(wrapped.new("hb_codepoint_t[3]", [7, 8])) == [7, 8, 0]     # not as many values: cffi's
    assert list(wrapped.new("hb_codepoint_t[2]", (7, 8))) == [7, 8]
    assert wrapped.NULL == ffi.NULL and wrapped.typeof("int").cname == "int"


def test_installed_only_on_the_pinned_source(monkeypatch):
    weasy_speed.import_weasyprint()
    from weasyprint.pdf import fonts

    monkeypatch.setattr(fonts, "ffi", getattr(fonts.ffi, "ffi", fonts.ffi))
    monkeypatch.setattr(weasy_subset, "SOURCE_DIGESTS", {"Font._harfbuzz_subset": "0" * 64})
    assert weasy_subset.install() is False
    assert not isinstance(fonts.ffi, weasy_subset.SubsetFFI)
