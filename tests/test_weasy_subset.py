"""backends/weasy_subset.py: HarfBuzz's subset input arrays made without cffi parsing a C type per
length — the same PDF bytes as WeasyPrint's own arrays (no timings asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from interview_export.backends import weasy_speed, weasy_subset

HTML = ("<html lang='zh'><head><title>t</title></head><body><h1>标题</h1>"
        + "".join(f"<p>第壹贰叁肆伍陆柒捌玖拾 {i} 段：中文与 Latin 混排，<b>粗体</b>。</p>" for i in range(40))
        + "</body></html>")


# cffi's own FFI (the engine cache off): weasy_ffi's compiled FFI parses no C type in Python at all,
# and whether this process has it depends on which test imported WeasyPrint first with tables cached
CHECK = textwrap.dedent("""
    import json, sys
    from interview_export.backends import weasy_speed, weasy_subset
    weasyprint = weasy_speed.import_weasyprint()
    from weasyprint.pdf import fonts

    def sized(ffi):
        return {key for key in ffi._parsed_types if isinstance(key, str) and key.startswith("hb_codepoint_t[")}

    html = sys.stdin.read()
    installed = weasy_subset.install()
    wrapped = isinstance(fonts.ffi, weasy_subset.SubsetFFI)
    raw = fonts.ffi.ffi
    known = sized(raw)
    ours = weasyprint.HTML(string=html).write_pdf()
    ours_new = sorted(sized(raw) - known - {"hb_codepoint_t[]"})
    fonts.ffi = raw
    theirs = weasyprint.HTML(string=html).write_pdf()
    theirs_new = sorted(sized(raw) - known - {"hb_codepoint_t[]"})
    print(json.dumps({"installed": installed, "wrapped": wrapped, "same": ours == theirs,
                      "ours_new": ours_new, "theirs_new": theirs_new}))
""")


def test_same_bytes_and_no_type_parsed_per_length():
    env = {**os.environ, "INTERVIEW_EXPORT_ENGINE_CACHE": "0"}
    done = subprocess.run([sys.executable, "-c", CHECK], input=HTML, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["installed"] and found["wrapped"]     # WeasyPrint 70.0, the function unchanged
    assert found["ours_new"] == []                     # no new sized type parsed
    assert found["same"]                               # WeasyPrint's own arrays: same subsets
    assert found["theirs_new"]                         # …after a type parsed per length


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


def test_an_ffi_that_parses_in_c_is_left_as_it_is(monkeypatch):
    import _cffi_backend

    weasy_speed.import_weasyprint()
    from weasyprint.pdf import fonts

    compiled = _cffi_backend.FFI()        # what weasy_ffi makes from its cached tables
    monkeypatch.setattr(fonts, "ffi", compiled)
    assert weasy_subset.install() is True and fonts.ffi is compiled
