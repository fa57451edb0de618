"""The guard of our WeasyPrint patches (compat.source_digest, used by weasy_cjk.check_version and the
install() of weasy_speed/weasy_passes/weasy_subset/weasy_tags): the source of every function they replace
or rely on is pinned by sha256, taken from the file's lines without inspect.getsource, and any change to it
turns the patch off."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import subprocess
import sys

from interview_export import compat, weasy_cjk
from interview_export.backends import weasy_speed


def _getsource_digest(obj) -> str:
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_pinned_digest_is_the_digest_of_inspect_getsource(monkeypatch):
    weasy_speed.import_weasyprint()
    fast, seen = compat.source_digest, {}

    def spy(obj):
        seen[obj.__qualname__] = obj
        return fast(obj)

    monkeypatch.setattr(compat, "source_digest", spy)
    assert weasy_cjk.check_version() is None
    assert sorted(seen) == sorted(weasy_cjk.SOURCE_DIGESTS)
    for name, obj in seen.items():
        assert fast(obj) == _getsource_digest(obj) == weasy_cjk.SOURCE_DIGESTS[name], name
    from weasyprint.images import RasterImage

    stock = RasterImage.__dict__["_get_png_data"].__func__
    if stock.__name__ == "png_data":                      # installed: WeasyPrint's own is inside
        stock = stock.__closure__[0].cell_contents
    for name, obj in (("RasterImage.get_x_object", RasterImage.get_x_object),
                      ("RasterImage._get_png_data", stock)):
        assert fast(obj) == _getsource_digest(obj) == weasy_speed.SOURCE_DIGESTS[name], name


def test_a_changed_line_anywhere_in_a_function_changes_its_digest(tmp_path):
    source = ("import functools\n\n\n@functools.lru_cache\ndef f(x):\n    class Inner:\n"
              "        def m(self):\n            return x + {k}\n\n\nclass C:\n    def m(self):\n"
              "        return 1\n")
    digests = []
    for k in (1, 2):              # only the last line differs, in code nested two deep (f's own ends before)
        path = tmp_path / f"pinned_{k}.py"
        path.write_text(source.format(k=k), encoding="utf-8")
        module = _load(path, f"pinned_{k}")
        for obj in (module.f, module.C.m):
            assert compat.source_digest(obj) == _getsource_digest(obj)
        digests.append(compat.source_digest(module.f))
    assert digests[0] != digests[1]


def test_check_version_names_a_changed_or_replaced_function(monkeypatch):
    weasy_speed.import_weasyprint()
    from weasyprint.layout import inline

    pins = dict(weasy_cjk.SOURCE_DIGESTS, justify_line="0" * 64)
    monkeypatch.setattr(weasy_cjk, "SOURCE_DIGESTS", pins)
    assert weasy_cjk.check_version() == "WeasyPrint's justify_line changed"
    monkeypatch.undo()

    def text_align(context, line, available_width, last):   # someone else's replacement
        return "left"

    monkeypatch.setattr(inline, "text_align", text_align)
    assert weasy_cjk.check_version() == "WeasyPrint's text_align changed"


def test_preparing_a_book_loads_no_weasyprint_patch():
    # the PDF backend's import (what the process preparing the book needs: overlap.py renders in
    # another one) neither imports WeasyPrint nor weasy_cjk (~5 ms of Chinese character classes)
    code = ("import sys, interview_export.backends.pdf; "
            "print(sorted(m for m in ('weasyprint', 'interview_export.weasy_cjk') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_pydyf_subset_and_tags_pins_are_digests_of_inspect_getsource():
    weasyprint = weasy_speed.import_weasyprint()
    import pydyf
    from weasyprint import document
    from weasyprint.css import computed_values, units
    from weasyprint.pdf import fonts, tags

    from interview_export.backends import weasy_faces, weasy_html, weasy_subset, weasy_tags

    for pins, name, obj in ((weasy_speed.PYDYF_DIGESTS, "PDF.write", pydyf.PDF.write),
                            (weasy_speed.PYDYF_DIGESTS, "Stream.data", pydyf.Stream.data.fget),
                            (weasy_tags.SOURCE_DIGESTS, "add_tags", tags.add_tags),   # weasyprint.pdf's is wrapped
                            (weasy_tags.SOURCE_DIGESTS, "_build_box_tree", tags._build_box_tree),
                            (weasy_tags.SOURCE_DIGESTS, "PDF.page_references", pydyf.PDF.page_references.fget),
                            (weasy_subset.SOURCE_DIGESTS, "Font._harfbuzz_subset", fonts.Font._harfbuzz_subset),
                            (weasy_html.SOURCE_DIGESTS, "HTML.__init__", weasyprint.HTML.__init__),
                            (weasy_faces.SOURCE_DIGESTS, "Document._render", document.Document._render),
                            (weasy_faces.SOURCE_DIGESTS, "to_pixels", units.to_pixels),
                            (weasy_faces.SOURCE_DIGESTS, "vertical_align", computed_values.vertical_align)):
        assert compat.source_digest(obj) == _getsource_digest(obj) == pins[name], name


def test_unpinned_names_the_version_a_missing_function_or_a_changed_one(monkeypatch):
    weasy_speed.import_weasyprint()
    import weasyprint
    from weasyprint.layout import inline

    pins = {"text_align": compat.source_digest(inline.text_align)}
    assert compat.unpinned(pins, lambda: {"text_align": inline.text_align}) is None
    assert compat.unpinned(pins, lambda: {"text_align": None}) == "WeasyPrint's text_align changed"
    assert compat.unpinned(pins, lambda: {"justify_line": inline.justify_line}) == "WeasyPrint's justify_line changed"
    monkeypatch.setattr(compat, "WEASYPRINT_PINNED", "0.0")
    called = []
    assert compat.unpinned(pins, lambda: called.append(1) or {}) == \
        f"WeasyPrint {weasyprint.__version__} (written for 0.0)"
    assert not called   # another version's modules are not imported
    assert weasy_cjk.check_version() == f"WeasyPrint {weasyprint.__version__} (written for 0.0)"
