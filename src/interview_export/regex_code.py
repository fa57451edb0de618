"""re's pattern compiler → its programs compiled once per Python version, kept in the engine cache.

Every ``re.compile`` of a new pattern parses it and assembles the program ``_sre`` runs, in Python:
~180 patterns (ours, markdown-it's, the standard library's, ebooklib's) while an EPUB run starts,
~20 ms, a fifteenth of the run. :func:`install` puts :func:`compile` in place of ``re._compiler.compile``
(what ``re`` calls for a pattern not in its own cache): the program of a pattern string and flags
comes from a :class:`~.code_table.CodeTable` (``regex-<cache tag>.bin``, the engine cache's rules)
and goes to ``_sre.compile`` as the stock function hands it (its check of the program is not complete:
a damaged word can crash it, hence the table file's CRC); a pattern not in the
table is parsed and assembled as the stock function does and kept. This copies the body of CPython's
``re._compiler.compile`` (the same in 3.11–3.13): the test compares the patterns with the stock ones.
"""

from __future__ import annotations

import sys
from array import array

from .code_table import CodeTable

TYPE_CHECKING = False      # not typing's: importing the package stays cheap (mypy reads the block below)
if TYPE_CHECKING:
    from typing import Any


def _magic() -> bytes:
    """The Python bytecode version, the version of the _sre program format, its code unit size and
    this very build (``sys.version``: a patch release may compile a pattern otherwise, as 3.11.2 and
    3.11.7 do r'(?:a{100000}){100000}b'; and the word size, which sets MAXREPEAT)."""
    import _sre
    import importlib.util

    build = f"{sys.version}|{sys.maxsize}".encode("utf-8", "surrogateescape")
    return (importlib.util.MAGIC_NUMBER + _sre.MAGIC.to_bytes(4, "little") + bytes([_sre.CODESIZE])
            + len(build).to_bytes(2, "little") + build)


def _valid(key: Any, value: Any) -> bool:
    """A (is bytes, pattern, flags) → (flags, program, groups, groupindex, indexgroup) entry of the right shape."""
    return (type(key) is tuple and len(key) == 3 and type(key[0]) is bool
            and type(key[1]) is (bytes if key[0] else str) and type(key[2]) is int
            and type(value) is tuple and len(value) == 5 and type(value[0]) is int and type(value[1]) is bytes
            and type(value[2]) is int and type(value[3]) is dict and type(value[4]) is tuple)


# min_gain 2: a library that builds a pattern from a set (markdown-it's terminators) spells it in
# another order in each process (string hashing): that one new pattern alone does not rewrite the file
TABLE = CodeTable("regex", _magic, _valid, max_entries=1000, min_gain=2)


def install() -> None:
    """Route re's compiler through the table (the command line only: the API leaves re as it is)."""
    import _sre
    import re

    compiler = getattr(re, "_compiler", None)
    if compiler is None or getattr(compiler, "compile", None) is compile or _sre.CODESIZE != _UNIT.itemsize:
        return
    global _stock
    _stock = compiler.compile
    compiler.compile = compile


_stock: Any = None


def compile(p: Any, flags: int = 0) -> Any:
    """``re._compiler.compile`` with the program of a pattern string from the table."""
    if type(p) not in (str, bytes) or type(flags) is not int or flags & _DEBUG:
        return _stock(p, flags)           # a parsed pattern (re.Scanner), or a debug listing
    import _sre

    # the type first, as re's own cache key: a str and a bytes pattern of the same text (glob's
    # '([*?[])') hash alike and are then never compared (python -b: BytesWarning)
    key = (type(p) is bytes, p, flags)
    fl, code, groups, groupindex, indexgroup = TABLE.get(key, lambda: program(p, flags))
    try:   # _sre.compile copies the program out of the list
        return _sre.compile(p, fl, memoryview(code).cast("I").tolist(), groups, groupindex, indexgroup)
    except (RuntimeError, TypeError, ValueError, OverflowError):    # "invalid SRE code": a damaged entry
        return _stock(p, flags)


_DEBUG = 128    # re.DEBUG (SRE_FLAG_DEBUG)
_UNIT = array("I")   # "I": an _sre code unit (install checks the size: _sre.CODESIZE)


def program(pattern: str | bytes, flags: int) -> tuple[int, bytes, int, dict, tuple]:
    """What CPython's ``re._compiler.compile`` hands ``_sre.compile`` for `pattern` and `flags`, the
    program as the bytes of its code units (~10× quicker to read back than a marshalled list of ints:
    the table of ~200 patterns in 0.15 ms instead of 1.5; each is unpacked when a pattern is used)."""
    from re import _compiler, _parser  # type: ignore[attr-defined]

    p = _parser.parse(pattern, flags)
    code = array("I", _compiler._code(p, flags)).tobytes()
    groupindex = p.state.groupdict
    indexgroup: list[str | None] = [None] * p.state.groups
    for k, i in groupindex.items():
        indexgroup[i] = k
    return flags | p.state.flags, code, p.state.groups - 1, dict(groupindex), tuple(indexgroup)

