"""Paths and options → books on disk: the Python API that scripts and the CLI call.

Many inputs (files, folders, globs, ``-``) → a plan of outputs → one result per input, run in this
process, in worker processes (``batch``) or on a Dask cluster (``dask_batch``). The single-file
functions (``load``, ``to_epub``, ``to_pdf``, ``convert_file``, ``write_atomic`` …) live in
``pipeline`` and are re-exported here. Imports go one way: cli → api → batch/dask_batch → pipeline.
Nothing here prints or exits.

Typical use::

    from interview_export import api
    results = api.convert(["a.md", "b.md"], formats=("epub",), out_dir="out")
    for r in results:
        print(r.input, r.status, r.outputs, r.error)
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .errors import ExportError, ImageError, InputError, OutputError, UsageError  # noqa: F401  (re-exported)
from .options import EXTENSIONS, FORMATS, Options, check_formats  # noqa: F401  (re-exported)
from .pipeline import (  # noqa: F401  (the public single-file API, re-exported)
    ACTIVE_TEMP_FILES,
    STAGES,
    STDIN,
    STDIN_STEM,
    TEMP_SUFFIX,
    ConversionResult,
    MissingImagesError,
    _Clock,
    base_dir_of,
    build_books,
    collect_media,
    convert_file,
    default_jobs,
    error_reason,
    guarded_result,
    load,
    load_bytes,
    missing_images,
    pending_targets,
    prepare_book,
    read_input,
    remove_temp_files,
    resolve_fonts,
    special_file,
    temp_files_for,
    to_epub,
    to_pdf,
    write_atomic,
)

VARIANT_SUFFIXES = ("-remote", "-standalone")


# ---------------------------------------------------------------- inputs and outputs
def is_variant(path: Path) -> bool:
    """A `NAME-remote.md` / `NAME-standalone.md` twin whose `NAME.md` sits beside it."""
    for suffix in VARIANT_SUFFIXES:
        if path.stem.endswith(suffix):
            base = path.with_name(path.stem[: -len(suffix)] + path.suffix)
            if base.is_file():
                return True
    return False


def _glob_root(spec: str) -> Path:
    """The folder a glob searches: its leading path components without wildcards."""
    parts = Path(os.path.expanduser(spec)).parts
    plain = list(itertools.takewhile(lambda q: not glob.has_magic(q), parts))
    return Path(*plain) if plain else Path(".")


def _escapes(found: Path, root: Path) -> str:
    """Where a file found in ``root`` really is when a symlink takes it outside ``root``, else ""."""
    real = Path(os.path.realpath(found))
    return "" if real.is_relative_to(os.path.realpath(root)) else str(real)


def expand_inputs(specs: Iterable[str], *, skip_variants: bool = False,
                  skipped: list[str] | None = None) -> list[str]:
    """Files, `-`, folders (every `*.md` inside, recursively) and globs → the list of inputs.

    A name that matches nothing is kept as it is, so that converting it reports
    "no such file" for that input instead of silently dropping it. Duplicates go.
    `skip_variants` drops the `-remote`/`-standalone` twins found in folders and globs
    (a twin named explicitly is kept). A file found in a folder or by a glob that is a
    symlink to somewhere outside that folder is left out, with one line in `skipped`
    (a folder unpacked from an archive must not turn `p.md → /etc/passwd` into a book).
    """
    out: list[str] = []
    seen: set[str] = set()

    def add(name: str) -> None:
        key = name if name == STDIN else os.path.realpath(name)
        if key not in seen:
            seen.add(key)
            out.append(name)

    def inside(found: Path, root: Path) -> bool:
        target = _escapes(found, root)
        if target and skipped is not None:
            skipped.append(f"{found}: skipped: a symlink to a file outside {root} ({target})")
        return not target

    for spec in specs:
        if spec == STDIN:
            add(spec)
            continue
        path = Path(spec).expanduser()
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*.md")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                add(str(path))  # converting it reports "a folder without *.md files"
            for p in found:
                if not (skip_variants and is_variant(p)) and inside(p, path):
                    add(str(p))
        elif not path.exists() and glob.has_magic(spec):
            matches = sorted(glob.glob(os.path.expanduser(spec), recursive=True))
            files = [m for m in matches if Path(m).is_file()]
            if not files:
                add(spec)
            for m in files:
                if not (skip_variants and is_variant(Path(m))) and inside(Path(m), _glob_root(spec)):
                    add(m)
        else:
            add(str(path))
    return out


def output_stem(source: str) -> str:
    """The file name a book made from `source` gets, without extension ("-": stdin)."""
    return STDIN_STEM if source == STDIN else Path(source).stem


def plan_outputs(
    inputs: Sequence[str],
    formats: Sequence[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    output: str | os.PathLike[str] | None = None,
) -> dict[str, dict[str, Path]]:
    """Where each input's books go: {input: {format: path}}.

    `output` names the file itself (one input, one format only). Otherwise the books go
    into `out_dir`, or beside their input when it is None (stdin: the current folder),
    named after the input's stem. Raises UsageError on clashing names or an output that
    would overwrite its input.
    """
    formats = check_formats(formats)
    if output is not None and (len(inputs) != 1 or len(formats) != 1):
        raise UsageError("an output file name needs exactly one input and one format")
    plan: dict[str, dict[str, Path]] = {}
    owners: dict[str, str] = {}
    for source in inputs:
        targets: dict[str, Path] = {}
        for fmt in formats:
            if output is not None:
                path = Path(output)
            else:
                folder = Path(out_dir) if out_dir is not None else (
                    Path.cwd() if source == STDIN else Path(source).parent)
                path = folder / (output_stem(source) + EXTENSIONS[fmt])
            key = os.path.realpath(path)
            if source != STDIN and key == os.path.realpath(source):
                raise UsageError(f"{source}: the output would overwrite the input")
            if key in owners:
                raise UsageError(f"{owners[key]} and {source} would both be written to {path}; "
                                 "convert them into different folders")
            owners[key] = source
            targets[fmt] = path
        plan[source] = targets
    return plan


def convert(
    inputs: Iterable[str | os.PathLike[str]],
    formats: Sequence[str] = ("epub", "pdf"),
    out_dir: str | os.PathLike[str] | None = None,
    options: Options = Options(),
    *,
    jobs: int | None = None,
    on_result: Callable[[ConversionResult], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    overwrite: bool = True,
    output: str | os.PathLike[str] | None = None,
    skip_variants: bool = False,
    dask: Any = None,
) -> list[ConversionResult]:
    """Convert many inputs (files, `-`, folders, globs) to EPUB and/or PDF; one result per input.

    Every input is attempted: one that fails gets a result with `error` set and the others
    still convert. `jobs` = worker processes (None → CPU count, 1 → in this process).
    `out_dir` None → books beside their inputs; `output` names the single output file.
    `overwrite=False` leaves existing books alone (reported in `skipped`).
    `on_start(input)` / `on_result(result)` are called in this process as files start
    and finish (start is only reported for in-process runs and pool workers).
    `dask` sends the work to a Dask cluster instead of local processes: a scheduler address
    ("tcp://host:8786"), "local[:N]" for a LocalCluster of N processes, or a
    `distributed.Client` (needs the `interview-export[dask]` extra).
    Results come back in input order. Raises UsageError for bad formats or clashing
    output names; KeyboardInterrupt after cleaning up (no temp files, no workers left).
    """
    skipped: list[str] = []
    names = expand_inputs([os.fspath(i) for i in inputs], skip_variants=skip_variants, skipped=skipped)
    for line in skipped:
        logging.getLogger("interview_export").warning("%s", line)
    plan = plan_outputs(names, formats, out_dir, output=output)
    return convert_planned(plan, options, jobs=jobs, on_start=on_start, on_result=on_result,
                           overwrite=overwrite, dask=dask)


def convert_planned(
    plan: dict[str, dict[str, Path]],
    options: Options = Options(),
    *,
    jobs: int | None = None,
    on_result: Callable[[ConversionResult], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    overwrite: bool = True,
    dask: Any = None,
    overlap: bool = False,
) -> list[ConversionResult]:
    """Build the books of a plan ({input: {format: path}}, as from `plan_outputs`): in this process,
    in a pool of `jobs` worker processes (batch.py) or on a Dask cluster (`dask`, dask_batch.py).
    One result per input, in plan order; KeyboardInterrupt after cleaning up. `overlap`: the PDFs
    made in this process render in a child forked for it (overlap.py; for a program that owns its
    process, like the command line)."""
    from . import batch  # here: the pool machinery is not needed to load or inspect one file

    tasks = [batch.Task(source, targets, options, overwrite) for source, targets in plan.items()]
    if dask is not None:
        from . import dask_batch

        batch.drop_engine()

        return dask_batch.run(tasks, dask, jobs=jobs, on_start=on_start, on_result=on_result)
    return batch.run(tasks, jobs=jobs, on_start=on_start, on_result=on_result, overlap=overlap)


