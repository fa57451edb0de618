"""regex_code: re's pattern programs compiled once and kept — the same patterns as re's own, the rules of the engine cache."""

from __future__ import annotations

import _sre
import importlib
import marshal
import re
import subprocess
import sys
from array import array

import pytest

from interview_export import code_table, regex_code

from helpers import code_table_run, engine_cache_env

PATTERNS = [
    ("a", 0), (r"(?P<word>\w+)\s+(?P=word)", 0), (r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?$", re.M),
    (r"(?i)[a-zé]+(?=x)|(?<!y)z*?", 0), (r"(?s).*?END", 0), (r"(a)?(?(1)b|c)", 0), (r"(?>ab|a)c++", 0),
    ("[\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002ffff]+", 0), ("[，。、；：？！）」』》〉】”’…—·]", 0),
    (r"(?x) \d+  # digits", 0), (r"\bword\b", re.I | re.A), (rb"[\x00-\x1f]+|\xff\xd8", 0),
    (rb"(?L)\w+", 0), (r"[^\W\d_]+", re.U), (r"(?:(?:a|b){2,5}){3}", 0), ("", 0),
]


def _ours(pattern, flags):
    """The pattern as regex_code makes it: compiled and kept, then again from a marshal round trip."""
    key = (pattern, flags := int(flags))      # re hands its compiler plain ints
    made = regex_code.program(pattern, flags)
    stored = marshal.loads(marshal.dumps({key: made}))[key]
    return [_sre.compile(pattern, fl, memoryview(code).cast("I").tolist(), *rest)
            for fl, code, *rest in (made, stored)]


def _module_patterns() -> list[tuple]:
    """Every module-level pattern of ours, markdown-it's and ebooklib's (what a run compiles)."""
    names = ["interview_export.meta", "interview_export.dialogue", "interview_export.speaker_labels",
             "interview_export.reader", "interview_export.util", "interview_export.linebreak",
             "interview_export.transforms", "interview_export.images", "markdown_it.common.utils",
             "markdown_it.common.html_re", "markdown_it.rules_block.html_block", "ebooklib.epub"]
    found = []
    for name in names:
        for value in vars(importlib.import_module(name)).values():
            items = value if isinstance(value, (list, tuple)) else [value]
            found += [(p.pattern, p.flags) for p in items if isinstance(p, re.Pattern)]
            found += [(p[0].pattern, p[0].flags) for p in items
                      if isinstance(p, tuple) and p and isinstance(p[0], re.Pattern)]
    return found


def test_patterns_from_the_table_are_re_s_own():
    """Pattern objects compare equal only with the same pattern, flags and program (_sre's
    richcompare): what the table holds, kept or read back, is what CPython's compiler makes. Fails
    the day re._compiler's body (copied in regex_code.program) changes."""
    cases = PATTERNS + _module_patterns()
    assert len(cases) > 40
    for pattern, flags in cases:
        stock = re._compiler.compile(pattern, flags)           # type: ignore[attr-defined]
        for ours in _ours(pattern, flags):
            assert ours == stock, pattern
            assert (ours.groups, ours.groupindex, ours.flags) == (stock.groups, stock.groupindex, stock.flags)
    text = "第三部分：开始 ok OK word word 12:30 abc"
    for pattern, flags in PATTERNS:
        if isinstance(pattern, str) and pattern:
            stock = re._compiler.compile(pattern, flags)       # type: ignore[attr-defined]
            assert [m.span() for m in _ours(pattern, flags)[1].finditer(text)] == \
                   [m.span() for m in stock.finditer(text)]


def _run(env: dict, code: str = "") -> tuple[int, int]:
    return code_table_run("regex_code", "interview_export.meta, interview_export.dialogue, interview_export.reader", env, code)


@pytest.fixture
def cache_env(tmp_path) -> dict:
    return engine_cache_env(tmp_path, "PYTHONHASHSEED")


def test_the_table_is_written_once_and_read_by_the_next_process(cache_env, tmp_path):
    table = tmp_path / "interview-export" / "engine" / f"regex-{sys.implementation.cache_tag}.bin"
    gained, size = _run(cache_env)
    assert gained == size > 50 and table.is_file()
    assert _run(cache_env)[0] <= 1          # at most markdown-it's set-built pattern, in a new order
    assert table.stat().st_mode & 0o077 == 0
    before = table.stat().st_mtime_ns, table.read_bytes()
    assert _run(cache_env, "import re; re.compile('one new pattern')\n")[0] <= 2
    assert (table.stat().st_mtime_ns, table.read_bytes()) == before        # one new pattern: not written
    _run(cache_env, "import re; re.compile('one new pattern'); re.compile('and another')\n")
    assert table.read_bytes() != before[1]                                  # two: written
    assert _run(cache_env, "import re; re.compile('one new pattern'); re.compile('and another')\n")[0] <= 1


def test_a_damaged_entry_is_compiled_by_re(cache_env, tmp_path):
    """A program _sre refuses (a file of ours with a right checksum, written wrong) costs the stock
    compile, never an error."""
    table = tmp_path / "interview-export" / "engine" / f"regex-{sys.implementation.cache_tag}.bin"
    _run(cache_env)
    data = table.read_bytes()
    entries = marshal.loads(data[_body_at(data):])
    for key, (fl, code, groups, groupindex, indexgroup) in entries.items():
        entries[key] = (fl, b"\xff" * len(code), groups, groupindex, indexgroup)
    body = marshal.dumps(entries)
    table.write_bytes(regex_code._magic() + code_table._crc(body) + body)
    out = subprocess.run([sys.executable, "-c", "from interview_export import regex_code as r\n"
                          "r.install()\nimport re\nprint(re.compile(r'(?P<n>\\d+)x').match('12x')['n'])\n"],
                         env=cache_env, capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "12"


def test_engine_cache_off_neither_reads_nor_writes_the_table(cache_env, tmp_path):
    gained, size = _run({**cache_env, "INTERVIEW_EXPORT_ENGINE_CACHE": "0"})
    assert gained == size > 50
    assert not (tmp_path / "interview-export").exists()


def _body_at(data: bytes) -> int:
    """Where the marshal data (the entries) starts in a table file: after the magic and the CRC
    (never found by trying marshal.loads at other offsets: marshal is not safe on bad data and can
    crash the interpreter)."""
    magic = regex_code._magic()
    assert data.startswith(magic)
    return len(magic) + 4


def test_a_program_changed_on_disk_is_not_run(cache_env, tmp_path):
    """_sre's check does not catch every damaged program: one word of r'\\w+''s changed (its IN
    skip, as a bit flip on disk would) crashes CPython 3.11's _sre.compile itself (SIGSEGV, every
    run until the file is removed). The file's checksum does: the table is ignored, re compiles."""
    table = tmp_path / "interview-export" / "engine" / f"regex-{sys.implementation.cache_tag}.bin"
    _run(cache_env)
    data = table.read_bytes()
    at = _body_at(data)
    entries = marshal.loads(data[at:])
    fl, code, groups, groupindex, indexgroup = regex_code.program(r"\w+", 0)
    words = array("I", code)
    words[10] = 0
    entries[(False, r"\w+", 0)] = (fl, words.tobytes(), groups, groupindex, indexgroup)
    table.write_bytes(data[:at] + marshal.dumps(entries))
    out = subprocess.run([sys.executable, "-c", "from interview_export import regex_code as r\n"
                          "r.install()\nimport re\nprint(re.compile(r'\\w+').match('hello ').group())\n"],
                         env=cache_env, capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "hello"), out.stderr[-500:]


def test_a_table_of_another_build_of_the_same_version_is_not_read(cache_env):
    """Patch releases share the bytecode magic, _sre.MAGIC and cache tag but not always the
    compiler's output (3.11.2 and 3.11.7 make different programs for r'(?:a{100000}){100000}b'):
    a program from another build is compiled again, not kept for ever."""
    gained, size = _run(cache_env)
    assert gained == size > 50
    assert _run(cache_env)[0] <= 1
    other = "import sys; sys.version = '3.11.99 (another build)'\n"
    script = (other + "from interview_export import regex_code as r\n"
              "r.install()\n"
              "import interview_export.meta, interview_export.dialogue, interview_export.reader\n"
              "print(r.TABLE.gained, len(r.TABLE.entries or {}))\n")
    out = subprocess.run([sys.executable, "-c", script], env=cache_env, capture_output=True, text=True,
                         check=True, timeout=120)
    gained, size = map(int, out.stdout.split())
    assert gained == size > 50


def test_a_str_and_a_bytes_pattern_of_the_same_text_are_never_compared(cache_env):
    """re keys its own cache by the pattern's type too. Every run compiles glob's '([*?[])' as str and
    as bytes (equal hashes): under ``python -bb`` comparing the two keys raised BytesWarning, a
    traceback in re.compile or while the table was read (``-b``: a warning each run)."""
    code = ("from interview_export import regex_code as r\nr.install()\nimport re\n"
            "for p in ('x([*?[])', 'y[ab]+'):\n"
            "    assert re.compile(p).pattern == p and re.compile(p.encode()).pattern == p.encode()\n"
            "print(r.TABLE.gained)\n")
    gained = []
    for _ in range(2):   # the second run reads the table the first wrote
        out = subprocess.run([sys.executable, "-bb", "-c", code], env=cache_env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-500:]
        gained.append(int(out.stdout))
    assert gained[0] >= 4 and gained[1] == 0
