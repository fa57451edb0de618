"""Shared test helpers: the CLI command of this interpreter and child processes read from /proc."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The command under test is the one installed next to the running interpreter (the venv's console
# script), never whatever `interview-export` happens to be on PATH; `-m` when there is no script.
_SCRIPT = Path(sys.executable).with_name("interview-export")
CLI: list[str] = [str(_SCRIPT)] if os.access(_SCRIPT, os.X_OK) else [sys.executable, "-m", "interview_export"]


def children_of(pid: int) -> set[int]:
    """The process ids whose parent is `pid` (zombies included), read from /proc."""
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.add(int(stat.parent.name))
    return kids


def running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False
