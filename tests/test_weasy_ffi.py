"""backends/weasy_ffi.py: WeasyPrint's C declarations from cffi tables cached per user — made from
WeasyPrint's own cdef text, no pycparser in a process that finds them, the same PDF bytes, and
WeasyPrint's own import whenever anything differs or the cache fails (no timings asserted here)."""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from interview_export import util
from interview_export.backends import weasy_ffi, weasy_speed

CDEF = "typedef struct { int x; double y; } Pair; int abs(int); enum Kind { ONE = 1, TWO };"
TWO_CDEFS = f"import cffi\nffi = cffi.FFI()\nffi.cdef({CDEF!r})\nffi.cdef('long labs(long);')\n"
ONE_CDEF = f"import cffi\nffi = cffi.FFI()\nffi.cdef({CDEF!r})\nlib = ffi.dlopen('libc.so.6')\n"


def _weasyprint_cdef() -> str:
    """The text WeasyPrint's text/ffi.py hands ffi.cdef, read from the installed file's syntax tree."""
    spec = importlib.util.find_spec("weasyprint")
    path = Path(spec.origin).parent / "text" / "ffi.py"
    calls = [node for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "cdef"]
    assert len(calls) == 1
    return ast.literal_eval(calls[0].args[0])


def _run_module(source: str, tmp_path: Path) -> types.ModuleType:
    """`source` run as weasyprint.text.ffi by the loader (not put in sys.modules)."""
    path = tmp_path / "ffi_module.py"
    path.write_text(source, encoding="utf-8")
    loader = weasy_ffi._Loader(weasy_ffi.MODULE, str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(weasy_ffi.MODULE, loader))
    loader.exec_module(module)
    return module


# ---------------------------------------------------------------- the tables are WeasyPrint's declarations
def test_the_pin_is_the_installed_text_ffi_py():
    import hashlib

    spec = importlib.util.find_spec("weasyprint")
    source = (Path(spec.origin).parent / "text" / "ffi.py").read_bytes()
    assert hashlib.sha256(source).hexdigest() == weasy_ffi.SOURCE_DIGEST


def test_tables_of_weasyprints_cdef_declare_what_cffi_parses_from_it():
    import _cffi_backend
    import cffi

    text = _weasyprint_cdef()
    parsed = cffi.FFI()
    parsed.cdef(text)
    made = _cffi_backend.FFI(weasy_ffi.TABLES_NAME, **weasy_ffi.make_tables(text))
    types_ = parsed.list_types()
    assert made.list_types() == types_ and len(types_[0]) > 50     # its 64 typedefs
    for name in types_[0]:
        ctype = parsed.typeof(name)
        if ctype.kind in ("struct", "union") and ctype.fields is None:   # opaque: no size either way
            with pytest.raises(made.error, match="know the size"):
                made.sizeof(name)
            continue
        assert (made.sizeof(name), made.alignof(name)) == (parsed.sizeof(name), parsed.alignof(name)), name
        assert made.typeof(name).kind == ctype.kind, name                # names may differ: 'struct _FcFontSet'
        if ctype.kind in ("struct", "union"):
            assert _layout(made, made.typeof(name)) == _layout(parsed, ctype), name
    lib = made.dlopen("libharfbuzz-subset.so.0")
    assert lib.HB_SUBSET_FLAGS_RETAIN_GIDS == parsed.dlopen("libharfbuzz-subset.so.0").HB_SUBSET_FLAGS_RETAIN_GIDS


def _layout(ffi, ctype) -> list:
    return [(name, f.offset, f.bitsize, f.type.kind, ffi.sizeof(f.type) if f.type.kind != "function" else 0)
            for name, f in ctype.fields]


RUN = textwrap.dedent("""
    import hashlib, json, sys
    from interview_export import api
    [result] = api.convert([sys.argv[1]], formats=("pdf",), out_dir=sys.argv[2], jobs=1)
    from weasyprint.text import ffi
    from weasyprint.pdf import fonts
    print(json.dumps({"error": result.error, "pdf": hashlib.sha256(result.outputs["pdf"].read_bytes()).hexdigest(),
                      "pycparser": sorted(m for m in ("pycparser", "cffi.cparser") if m in sys.modules),
                      "ffi": type(ffi.ffi).__module__, "pango": type(ffi.pango).__name__,
                      "shared": getattr(fonts.ffi, "ffi", fonts.ffi) is ffi.ffi, "wrapped": fonts.ffi is not ffi.ffi}))
""")
BOOK = "---\ntitle: 试验\nlang: zh-CN\n---\n\n# 第一节\n\n**甲：** 你好，中文与 Latin 混排。\n\n**乙：** 好的，谢谢。\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="used only where the library search is skipped")
def test_a_process_with_the_tables_parses_nothing_and_writes_the_same_pdf(tmp_path):
    book = tmp_path / "book.md"
    book.write_text(BOOK, encoding="utf-8")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "SOURCE_DATE_EPOCH": "1700000000",
           "INTERVIEW_EXPORT_OVERLAP": "0"}
    runs = {}
    for run, switch in (("without", "0"), ("first", ""), ("warm", "")):
        proc = subprocess.run([sys.executable, "-c", RUN, str(book), str(tmp_path / run)], capture_output=True,
                              text=True, timeout=180, env={**env, util.ENGINE_CACHE_SWITCH: switch})
        assert proc.returncode == 0, proc.stderr
        runs[run] = json.loads(proc.stdout.splitlines()[-1])
        assert runs[run]["error"] is None and runs[run]["shared"]
        if run == "without":
            assert not (tmp_path / "xdg").exists()                         # switched off: nothing written
    assert runs["without"]["pycparser"] == runs["first"]["pycparser"] == ["cffi.cparser", "pycparser"]
    assert runs["without"]["ffi"] == runs["first"]["ffi"] == "cffi.api"    # WeasyPrint's own FFI
    assert runs["warm"]["pycparser"] == [] and runs["warm"]["ffi"] == "_cffi_backend"
    assert runs["warm"]["pango"] == "Lib"
    # weasy_subset wraps cffi's own FFI (it parses a C type per array length), not the compiled one
    assert runs["without"]["wrapped"] and runs["first"]["wrapped"] and not runs["warm"]["wrapped"]
    assert runs["without"]["pdf"] == runs["first"]["pdf"] == runs["warm"]["pdf"]
    [written] = (tmp_path / "xdg" / "interview-export" / "engine").iterdir()   # API: no code tables beside it
    text = _weasyprint_cdef()                                               # …made from WeasyPrint's text
    assert written == weasy_ffi.tables_path(written.parent, text)
    assert weasy_ffi.decode_tables(written.read_bytes(), text) == weasy_ffi.make_tables(text)


def test_the_cache_is_platformdirs_user_cache_folder(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert util.engine_cache_dir("engine") == platformdirs.user_cache_path("interview-export", appauthor=False) / "engine"


# ---------------------------------------------------------------- the file: read back only when it is exact
def test_a_file_is_read_back_only_for_its_own_cdef_text_and_cffi(monkeypatch):
    import _cffi_backend

    tables = weasy_ffi.make_tables(CDEF)
    data = weasy_ffi.encode_tables(CDEF, tables)
    assert weasy_ffi.decode_tables(data, CDEF) == tables
    assert weasy_ffi.decode_tables(data, CDEF + " ") == "made from another cdef text"
    assert weasy_ffi.decode_tables(data[:-1], CDEF) == "damaged"
    flipped = bytearray(data)
    flipped[-5] ^= 1
    assert weasy_ffi.decode_tables(bytes(flipped), CDEF) == "damaged"
    assert weasy_ffi.decode_tables(b"#!/bin/sh\n" + data, CDEF) == "not a tables file"
    made_by = _cffi_backend.__version__
    monkeypatch.setattr(_cffi_backend, "__version__", "0.0")               # another cffi reading it
    assert weasy_ffi.decode_tables(data, CDEF) == f"made by cffi {made_by}"


def test_written_tables_are_loaded_and_a_bad_or_unreadable_file_is_a_miss(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="interview_export.pdf")
    assert weasy_ffi.load_tables(tmp_path, CDEF) is None                  # none yet
    assert weasy_ffi.write_tables(tmp_path, CDEF)
    ffi = weasy_ffi.load_tables(tmp_path, CDEF)
    assert type(ffi).__module__ == "_cffi_backend" and ffi.sizeof("Pair") == 16
    assert ffi.dlopen("libc.so.6").abs(-3) == 3
    path = weasy_ffi.tables_path(tmp_path, CDEF)
    tables = weasy_ffi.make_tables(CDEF)
    path.write_bytes(weasy_ffi.encode_tables(CDEF, {**tables, "_version": 0x9999}))
    assert weasy_ffi.load_tables(tmp_path, CDEF) is None                  # refused by _cffi_backend
    path.write_bytes(b"")
    assert weasy_ffi.load_tables(tmp_path, CDEF) is None
    path.unlink()
    path.mkdir()
    assert weasy_ffi.load_tables(tmp_path, CDEF) is None                  # unreadable
    said = [r.getMessage() for r in caplog.records]
    assert any("no tables yet" in m for m in said) and any("refused" in m for m in said)
    assert any("not a tables file" in m for m in said) and any("unreadable" in m for m in said)


def test_a_cache_that_cannot_be_written_is_logged_and_left_before_parsing(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger="interview_export.pdf")
    monkeypatch.setattr(weasy_ffi, "make_tables", lambda text: pytest.fail("parsed for nothing"))
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert weasy_ffi.write_tables(blocked / "engine", CDEF) is False
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o500)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != read_only)   # root may write anywhere
    assert weasy_ffi.write_tables(read_only, CDEF) is False and not list(read_only.iterdir())
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert sum("not written" in m for m in said) == 2


# ---------------------------------------------------------------- text/ffi.py run with them, or as always
def test_the_module_gets_the_ffi_itself_and_libraries_opened_from_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    first = _run_module(ONE_CDEF, tmp_path)                               # no tables: cffi parses, then writes
    assert type(first.ffi).__module__ == "cffi.api" and first.lib.abs(-2) == 2
    assert weasy_ffi.tables_path(util.engine_cache_dir("engine"), CDEF).is_file()
    warm = _run_module(ONE_CDEF, tmp_path)
    assert type(warm.ffi).__module__ == "_cffi_backend" and warm.lib.abs(-2) == 2
    assert warm.ffi.new("Pair *", {"x": 1, "y": 2.5}).y == 2.5 and warm.lib.TWO == 2
    import cffi

    assert cffi.FFI is cffi.api.FFI                                      # cffi left as it was


def test_switched_off_after_the_finder_was_made_the_module_runs_as_always(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(util.ENGINE_CACHE_SWITCH, "0")
    module = _run_module(ONE_CDEF, tmp_path)
    assert type(module.ffi).__module__ == "cffi.api" and module.lib.abs(-2) == 2
    assert not (tmp_path / "xdg").exists()                                # nothing written


def test_a_second_cdef_or_an_unknown_attribute_starts_the_module_again_as_weasyprint_does(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weasy_ffi.write_tables(util.engine_cache_dir("engine"), CDEF)
    module = _run_module(TWO_CDEFS, tmp_path)
    assert type(module.ffi).__module__ == "cffi.api"
    assert module.ffi.dlopen("libc.so.6").labs(-4) == 4
    module = _run_module(ONE_CDEF + "ffi.set_source('x', None)\n", tmp_path)
    assert type(module.ffi).__module__ == "cffi.api"


def test_with_the_tables_a_name_cffi_would_only_search_for_is_not_opened(tmp_path):
    assert weasy_ffi.write_tables(tmp_path, CDEF)
    pending = weasy_ffi._Pending(None, tmp_path)
    pending.cdef(CDEF)
    assert pending.prebuilt
    with pytest.raises(OSError):
        pending.dlopen("c")                     # cffi: find_library("c"), which answers None meanwhile
    assert pending.dlopen("libc.so.6", pending.RTLD_NOW).abs(-1) == 1


def test_another_weasyprint_or_a_changed_file_is_imported_as_weasyprint_does(monkeypatch):
    spec = importlib.util.find_spec("weasyprint")
    path = str(Path(spec.origin).parent / "text" / "ffi.py")
    weasy_speed.import_weasyprint()
    assert weasy_ffi._unpinned(path) == ""
    monkeypatch.setattr(weasy_ffi, "SOURCE_DIGEST", "0" * 64)
    assert weasy_ffi._unpinned(path) == "WeasyPrint's text/ffi.py changed"
    monkeypatch.setitem(sys.modules, "weasyprint", types.SimpleNamespace(__version__="71.0"))
    assert weasy_ffi._unpinned(path).startswith("WeasyPrint 71.0")
    finder = weasy_ffi._FfiImport()
    assert finder.find_spec(weasy_ffi.MODULE, [str(Path(path).parent)]) is None


@pytest.mark.parametrize("skipped, switch", [(False, ""), (True, "0")])
def test_no_finder_without_the_skipped_search_or_when_switched_off(skipped, switch, monkeypatch):
    monkeypatch.setenv(util.ENGINE_CACHE_SWITCH, switch)
    monkeypatch.delitem(sys.modules, weasy_ffi.MODULE, raising=False)
    assert weasy_ffi.finder(skipped) is None
    monkeypatch.setenv(util.ENGINE_CACHE_SWITCH, "")
    assert isinstance(weasy_ffi.finder(True), weasy_ffi._FfiImport)


def test_tables_in_a_folder_others_can_write_are_not_used(tmp_path, caplog):
    """The tables describe C calls: a folder someone else could have written them into (a shared
    XDG_CACHE_HOME, a cache folder others may write) is not read; WeasyPrint parses as always."""
    root = tmp_path / "engine"
    assert weasy_ffi.write_tables(root, CDEF) and weasy_ffi.load_tables(root, CDEF) is not None
    root.chmod(0o777)
    caplog.set_level(logging.DEBUG, "interview_export.pdf")
    assert weasy_ffi.load_tables(root, CDEF) is None
    assert weasy_ffi.write_tables(root, CDEF) is False
    assert any("others can write" in r.getMessage() for r in caplog.records)


def test_tables_reached_by_a_symlink_or_that_others_can_write_are_not_used(tmp_path, caplog):
    """The folder being ours is not enough: the file itself must be ours alone (a symlink in it
    could reach tables in a folder others can write)."""
    root, shared = tmp_path / "engine", tmp_path / "shared"
    assert weasy_ffi.write_tables(root, CDEF)
    path = weasy_ffi.tables_path(root, CDEF)
    shared.mkdir()
    shared.chmod(0o777)
    planted = shared / path.name
    path.rename(planted)
    path.symlink_to(planted)
    caplog.set_level(logging.DEBUG, "interview_export.pdf")
    assert weasy_ffi.load_tables(root, CDEF) is None
    path.unlink()
    planted.rename(path)
    assert weasy_ffi.load_tables(root, CDEF) is not None
    path.chmod(0o666)
    assert weasy_ffi.load_tables(root, CDEF) is None
    assert any("others can write" in r.getMessage() for r in caplog.records)
