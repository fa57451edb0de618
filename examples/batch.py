#!/usr/bin/env python3
"""Convert every Markdown article in this folder to EPUB and PDF with the Python API.

    python examples/batch.py                 # → ./out/
    python examples/batch.py OUT_DIR --jobs 2 --offline

The API never prints or exits: this script decides what to show and which exit code to use.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

try:
    import interview_export
except ImportError:  # run with a Python outside the project's .venv: use the venv's
    venv_python = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
    if not venv_python.is_file() or Path(sys.executable) == venv_python:
        sys.exit("interview_export is not installed for this Python: run scripts/setup.sh, "
                 "then .venv/bin/python examples/batch.py")
    os.execv(venv_python, [str(venv_python), *sys.argv])
from interview_export.api import ConversionResult

HERE = Path(__file__).resolve().parent


def show(result: ConversionResult) -> None:
    """Called in this process as each article finishes (the work itself may run in worker processes)."""
    if result.error:
        print(f"FAILED {result.input}: {result.error}", file=sys.stderr)
        return
    books = ", ".join(str(p) for p in result.outputs.values())
    print(f"ok     {Path(result.input).name} → {books} ({sum(result.timings.values()):.1f} s)")
    for warning in result.warnings:
        print(f"       warning: {warning}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="out")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPU count)")
    parser.add_argument("--offline", action="store_true", help="no network: cached and local images only")
    args = parser.parse_args()

    options = interview_export.Options(offline=args.offline)
    results = interview_export.convert(
        [HERE],                      # a folder: every *.md inside, recursively
        formats=("epub", "pdf"),
        out_dir=args.out_dir,
        options=options,
        jobs=args.jobs,
        on_result=show,
    )
    failed = [r for r in results if r.error]
    print(f"{len(results) - len(failed)} converted, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
