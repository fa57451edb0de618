"""Text → compiled form, kept across processes in one file of the engine cache (dataclass_code, regex_code).

A :class:`CodeTable` is read from ``<name>-<cache tag>.bin`` in ``util.engine_cache_dir("engine")`` on
first use and, when this process compiled entries it did not have, written back at exit (atomically;
atexit, which the CLI's exit runs too). The rules of that folder hold: INTERVIEW_EXPORT_ENGINE_CACHE=0
neither reads nor writes it, and a folder or file that is not the user's alone is not read (what is
in it runs). The file is the magic bytes, the CRC-32 of the rest, then the marshal data: a file of
another version (its magic bytes), a damaged one (its CRC: a changed word of a regular expression's
program can crash ``_sre``'s own check of it), or one whose entries do not pass the table's check,
is ignored and rewritten. Reading imports util: what is compiled meanwhile (util's own
imports) is compiled as usual and joins the table.
"""

from __future__ import annotations

import _thread
import marshal
import os
import sys

TYPE_CHECKING = False      # not typing's: importing the package stays cheap (mypy reads the block below)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Callable


class CodeTable:
    """One kept table: :meth:`get` looks a key up, compiling (and keeping) what is missing."""

    def __init__(self, name: str, magic: Callable[[], bytes], valid: Callable[[Any, Any], bool], *,
                 max_entries: int = 4000, min_gain: int = 1) -> None:
        self.name = name              # the file is <name>-<cache tag>.bin
        self.magic = magic            # the version the entries belong to (the file starts with it)
        self.valid = valid            # (key, value) → whether a read entry is of the right shape
        self.max_entries = max_entries  # more (many versions of a text): only this process's are kept
        self.min_gain = min_gain      # the table is written back when at least this many were compiled
        self.entries: dict | None = None    # read on first use
        self.where: Path | None = None      # the file it was read from (and is written back to)
        self.used: set = set()              # the keys this process looked up
        self.gained = 0                     # entries compiled here (not in the table read)
        self._lock = _thread.RLock()        # reentrant: reading the table imports (and compiles)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._fresh_lock)

    def _fresh_lock(self) -> None:
        """In a forked child: a lock another thread of the parent held at the fork would never be let go."""
        self._lock = _thread.RLock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        """The kept value of `key`, else ``make()`` (then kept, and the table written at exit)."""
        with self._lock:
            if self.entries is None:
                self._load()
            assert self.entries is not None
            self.used.add(key)
            value = self.entries.get(key)
            if value is None:
                value = self.entries[key] = make()
                self.gained += 1
        return value

    def _load(self) -> None:
        import atexit

        self.entries = {}            # what is compiled while the file is read lands here first
        self.where = self.path()
        stored = self._read(self.where)
        made = self.entries
        self.gained = sum(1 for key in made if key not in stored)
        stored.update(made)
        self.entries = stored
        atexit.register(self.write)

    def path(self) -> Path | None:
        """Where the table of this Python's version lives (None: the engine cache is off)."""
        from .util import engine_cache_dir

        root = engine_cache_dir("engine")
        return None if root is None else root / f"{self.name}-{sys.implementation.cache_tag}.bin"

    def _read(self, path: Path | None) -> dict:
        """The table stored at `path`, or {} (none yet, unreadable, untrusted folder, not a regular
        file of ours that only we can write, another version, damaged)."""
        from .util import foreign_folder, read_own_file

        if path is None or foreign_folder(path.parent):
            return {}
        try:
            data = read_own_file(path)
        except OSError:
            return {}
        magic = self.magic()
        body = memoryview(data)[len(magic) + 4:]
        if not data.startswith(magic) or data[len(magic):len(magic) + 4] != _crc(body):
            return {}
        try:
            table = marshal.loads(body)
        except (EOFError, ValueError, TypeError):
            return {}
        if not isinstance(table, dict) or not all(self.valid(k, v) for k, v in table.items()):
            return {}
        return table

    def write(self) -> None:
        """Write the table back (atomically) when this process compiled entries it did not have
        (`min_gain` of them); best effort."""
        from .util import foreign_folder, replace_atomically

        path = self.where
        if path is None or self.gained < max(self.min_gain, 1) or self.entries is None:
            return
        with self._lock:
            entries = self.entries
            keep = entries if len(entries) <= self.max_entries else {k: entries[k] for k in self.used if k in entries}
            body = marshal.dumps(keep)
            data = self.magic() + _crc(body) + body
        try:
            if foreign_folder(path.parent, make=True):
                return
            replace_atomically(path, data, prefix=".tmp-", suffix=".bin")
        except OSError:
            pass


def _crc(body: bytes | memoryview) -> bytes:
    """The CRC-32 of a table's marshal data, as stored before it (4 bytes)."""
    import zlib

    return zlib.crc32(body).to_bytes(4, "little")
