"""dataclass_code: dataclasses' generated methods compiled once and kept — the same classes, the rules of the engine cache."""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interview_export import dataclass_code

from helpers import code_table_run, engine_cache_env


def _make_classes() -> list[type]:
    """Dataclasses of every kind our code uses (frozen, defaults, factories, order, slots, kw_only)."""

    @dataclasses.dataclass(frozen=True)
    class Frozen:
        x: int
        y: str = "a"
        z: list = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(order=True, slots=True, kw_only=True)
    class Ordered:
        a: float = 0.5
        b: tuple[int, ...] = ()

    @dataclasses.dataclass
    class Plain:
        n: int
        m: dict = dataclasses.field(default_factory=dict, repr=False)

    return [Frozen, Ordered, Plain]


def _methods(classes: list[type]) -> list[tuple]:
    out = []
    for cls in classes:
        for name in ("__init__", "__repr__", "__eq__", "__hash__", "__lt__", "__setattr__", "__delattr__"):
            fn = vars(cls).get(name)
            if callable(fn) and hasattr(fn, "__code__"):
                out.append((cls.__name__, name, fn.__code__, fn.__code__.co_filename, fn.__annotations__,
                            fn.__defaults__, fn.__kwdefaults__))
    return out


def test_classes_made_from_kept_code_are_the_classes_exec_makes(monkeypatch):
    """Methods from the table (compiled here, and after a marshal round trip as stored) are the
    ones exec() of the generated text makes: same code, file name, annotations and defaults (this
    module's `from __future__ import annotations` must not leak into the compile)."""
    monkeypatch.setattr(dataclasses, "exec", builtins.exec, raising=False)
    stock = _methods(_make_classes())
    table = dataclass_code.TABLE
    monkeypatch.setattr(table, "entries", {})              # not None: nothing read, no exit hook
    monkeypatch.setattr(table, "gained", 0)
    monkeypatch.setattr(dataclasses, "exec", dataclass_code._exec)
    compiled = _methods(_make_classes())
    assert len(table.entries) >= 10
    monkeypatch.setattr(table, "entries", marshal.loads(marshal.dumps(table.entries)))
    monkeypatch.setattr(table, "gained", 0)
    stored = _methods(_make_classes())
    assert table.gained == 0                               # every method came from the table
    assert stock == compiled == stored
    assert stock[0][4] == {"x": "int", "y": "str", "z": "list", "return": None}


def _run(env: dict, code: str = "") -> tuple[int, int]:
    return code_table_run("dataclass_code", "interview_export.options, interview_export.model, interview_export.fonts", env, code)


@pytest.fixture
def cache_env(tmp_path) -> dict:
    return engine_cache_env(tmp_path)


def test_the_table_is_written_once_and_read_by_the_next_process(cache_env, tmp_path):
    table = tmp_path / "interview-export" / "engine" / f"dataclasses-{sys.implementation.cache_tag}.bin"
    gained, size = _run(cache_env)
    assert gained == size > 100 and table.is_file()
    assert _run(cache_env) == (0, size)                    # nothing compiled again
    assert table.stat().st_mode & 0o077 == 0


def test_a_damaged_or_foreign_table_is_not_used(cache_env, tmp_path):
    engine = tmp_path / "interview-export" / "engine"
    table = engine / f"dataclasses-{sys.implementation.cache_tag}.bin"
    gained, size = _run(cache_env)
    good = table.read_bytes()
    for damage in (good[:len(good) // 2], b"garbage", b"", good[:4] + marshal.dumps({"text": 1})):
        table.write_bytes(damage)
        assert _run(cache_env) == (size, size)             # all compiled again, nothing failed …
        assert table.read_bytes().startswith(good[:4])     # … and a good table written back
    assert _run(cache_env) == (0, size)
    engine.chmod(0o777)                                    # others could plant code in it: not read
    try:
        assert _run(cache_env) == (size, size)
    finally:
        engine.chmod(0o700)
    assert _run(cache_env) == (0, size)


def test_a_table_that_is_not_a_file_of_ours_is_not_read(cache_env, tmp_path):
    """The folder check alone let a symlink reach a table in a folder others can write (its code
    ran), and a FIFO under the table's name blocked the first dataclass for ever."""
    table = tmp_path / "interview-export" / "engine" / f"dataclasses-{sys.implementation.cache_tag}.bin"
    gained, size = _run(cache_env)
    good = table.read_bytes()
    planted = tmp_path / "shared" / "table.bin"
    planted.parent.mkdir()
    planted.parent.chmod(0o777)
    planted.write_bytes(good)
    table.unlink()
    table.symlink_to(planted)                              # what the symlink reaches is not ours alone
    assert _run(cache_env) == (size, size)
    assert not table.is_symlink() and table.read_bytes().startswith(good[:4])
    table.chmod(0o666)                                     # a table others could write
    assert _run(cache_env) == (size, size)
    table.unlink()
    os.mkfifo(table)                                       # no hang: not a regular file
    assert _run(cache_env) == (size, size)
    assert _run(cache_env) == (0, size)


def test_engine_cache_off_neither_reads_nor_writes_the_table(cache_env, tmp_path):
    gained, size = _run({**cache_env, "INTERVIEW_EXPORT_ENGINE_CACHE": "0"})
    assert gained == size > 100
    assert not (tmp_path / "interview-export").exists()


def test_util_imports_none_of_our_modules():
    """dataclass_code reads the table through util while our first dataclasses are being made, so
    util must not import a module of ours at import (hanzi → model would import itself half-made)."""
    out = subprocess.run([sys.executable, "-c", "import sys, interview_export.util\n"
                          "print(sorted(m for m in sys.modules if m.startswith('interview_export.')))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(sorted(["interview_export.util", "interview_export.version"]))
    assert Path(dataclass_code.__file__).name == "dataclass_code.py"



def test_only_the_command_line_routes_dataclasses_through_the_table():
    """Importing the package or its API (a program using us) leaves the dataclasses module and re
    alone; the command line's entry installs both tables (regex_code's too) before any of our
    classes or patterns is made."""
    script = ("import builtins, dataclasses, re, sys\n"
              "import interview_export, interview_export.api, interview_export.model\n"
              "from interview_export import regex_code\n"
              "library = (getattr(dataclasses, 'exec', builtins.exec) is builtins.exec,\n"
              "           re._compiler.compile is not regex_code.compile)\n"
              "sys.argv = ['interview-export', '--version']\n"
              "from interview_export import cli, dataclass_code, entry\n"
              "cli.main = lambda: None    # the entry's work up to the command line, which ends the process\n"
              "entry.main()\n"
              "print('library-untouched', library == (True, True), 'cli-installed',\n"
              "      dataclasses.exec is dataclass_code._exec and re._compiler.compile is regex_code.compile)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "library-untouched True cli-installed True"
