"""The program's command line → the PDF engine forked at once when it will render a PDF here, then cli.main.

Before ``batch.run`` would fork the process that renders the PDF (overlap.py), ~0.1 s goes to
importing the command line and parsing it, on one CPU. Forked here instead, that process imports
and warms up WeasyPrint meanwhile. The guess is made from the words alone (the option table says
which options take a value): ``pdf`` or ``build`` (without ``-f`` leaving PDF out), no help, no
``--dask``, and either ``-j 1`` or one input that is a file or stdin. A wrong guess (a config file
asking for a pool, a book already there with --no-clobber) costs a child that is killed, never
another result: ``batch.run`` adopts the child or kills it, and so does the exit.
"""

from __future__ import annotations

import gc
import os
import sys

VALUELESS = frozenset({"flag", "count"})
EXIT_INTERRUPTED = 130        # cli.py's exit-code table: 128 + SIGINT


def main() -> None:
    """The console script and ``python -m interview_export``."""
    # The start-up imports (~350 modules) make objects that live as long as the process: without
    # the collector they are not gone over ~30 times (~4 ms), and frozen they never are again.
    gc.disable()
    try:
        # The command line only: a program using the API keeps the dataclasses module as it is.
        from . import dataclass_code, regex_code

        dataclass_code.install()    # before any of our dataclasses is made
        regex_code.install()        # … and before our first pattern
        if renders_pdf_here(sys.argv[1:]):
            from . import overlap

            overlap.prestart()
        from .cli import main as cli_main
    except KeyboardInterrupt:
        # Ctrl-C before the command line runs (~0.1 s of imports): its words and exit code, no
        # traceback; the exit still kills a child forked already (overlap's atexit).
        sys.stderr.write("interview-export: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    gc.freeze()
    gc.enable()
    cli_main()


def renders_pdf_here(args: list[str]) -> bool:
    """Whether this command line will render a PDF in this process (a guess from argv alone)."""
    from .options import PDF_CMDS, flag_names, rows_of  # here: main() turns the collector off first

    if not args or args[0] not in PDF_CMDS:
        return False
    spelled = {name: row for row in rows_of(args[0]) for name in flag_names(row)}
    given: dict[str, list[str]] = {}
    inputs: list[str] = []
    words = iter(args[1:])
    for word in words:
        if word == "--":
            inputs += words
        elif word.startswith("--"):
            name, eq, value = word.partition("=")
            row = spelled.get(name)
            if row is None or (row.kind in VALUELESS and eq):   # --help, or a usage error
                return False
            if row.kind not in VALUELESS:
                given.setdefault(row.name, []).append(value if eq else next(words, ""))
        elif word.startswith("-") and word != "-":   # -q, -vv, -j1, -j 1, -qo out.pdf
            for at, letter in enumerate(word[1:], 2):
                row = spelled.get("-" + letter)
                if row is None:
                    return False
                if row.kind not in VALUELESS:
                    given.setdefault(row.name, []).append(word[at:] or next(words, ""))
                    break
        else:
            inputs.append(word)
    return _here(given, inputs)


def _here(given: dict[str, list[str]], inputs: list[str]) -> bool:
    if "dask" in given:
        return False
    formats = {f.strip().lower() for value in given.get("formats", ()) for f in value.split(",")}
    if formats and "pdf" not in formats:
        return False
    if given.get("jobs", [""])[-1].strip() == "1":
        return bool(inputs)
    return len(inputs) == 1 and (inputs[0] == "-" or os.path.isfile(inputs[0]))

