#!/usr/bin/env python3
"""Where a seed PDF's time goes → one Markdown table of phases inside WeasyPrint (and our own stages).

Three processes, run in alternation like ``run.py``:

- ``ours``: our CLI (``interview-export pdf SEED --no-cache -j 1 --page-size A4``), in-process;
- ``floor``: WeasyPrint alone on our final HTML and stylesheets (captured once, as ``run.py`` does);
- ``pandoc``: WeasyPrint's own command line on the HTML ``pandoc --pdf-engine=weasyprint`` hands it
  (captured once through a stand-in engine named ``weasyprint`` that copies its input and then runs
  the real one); pandoc's own Markdown → HTML process is timed as a separate row.

Inside each process the public-ish entry points of WeasyPrint 70 (``HTML()``, ``CSS()``, the
cascade, box building, layout, Pango line breaking, drawing, images, the PDF's fonts, tags and
serialisation) and our stages are wrapped with timers that charge *exclusive* CPU time to the
innermost phase (a stack: time in a nested phase is not counted again in its parent). What no
wrapper covers is "other". Medians over the runs; the machine's load is printed with the table.

    python benchmarks/profile_phases.py --runs 5
    python benchmarks/profile_phases.py --runs 5 --out /tmp/phases.md --cprofile /tmp/prof
    python benchmarks/profile_phases.py --floor-option full_fonts=true --targets floor

``--floor-option KEY=VALUE`` passes a ``write_pdf`` option to the floor (to try WeasyPrint's
options on our HTML); ``--targets`` picks from ours, floor, floor+cjk (the floor with our
weasy_cjk.py typesetting installed), pandoc.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("ours", "floor", "floor+cjk", "pandoc")


# ---------------------------------------------------------------- exclusive phase timers
class Phases:
    """A stack of phase labels; elapsed CPU and wall time go to the label on top."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        # process_time() counts from the process's start: what ran before this object existed
        # (the interpreter starting, this script's own imports) goes to the first label
        self.stack = ["start-up: interpreter, script"]
        self.mark = (0.0, time.perf_counter())

    def _charge(self) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        top = self.stack[-1]
        self.cpu[top] += cpu - self.mark[0]
        self.wall[top] += wall - self.mark[1]
        self.mark = (cpu, wall)

    def enter(self, label: str) -> None:
        self._charge()
        self.stack.append(label)
        self.calls[label] += 1

    def leave(self) -> None:
        self._charge()
        self.stack.pop()

    def wrap(self, label: str, func):
        if inspect.isgeneratorfunction(func):    # layout_document yields the pages one by one
            @functools.wraps(func)
            def timed_generator(*args, **kwargs):
                iterator = func(*args, **kwargs)
                while True:
                    self.enter(label)
                    try:
                        item = next(iterator)
                    except StopIteration:
                        return
                    finally:
                        self.leave()
                    yield item
            return timed_generator

        @functools.wraps(func)
        def timed(*args, **kwargs):
            self.enter(label)
            try:
                return func(*args, **kwargs)
            finally:
                self.leave()
        timed.__wrapped_phase__ = func
        return timed

    def result(self) -> dict:
        self._charge()
        return {"cpu": dict(self.cpu), "wall": dict(self.wall), "calls": dict(self.calls)}


PHASES = Phases()


def replace_everywhere(original, replacement, prefixes=("weasyprint", "interview_export")) -> int:
    """Put `replacement` wherever a loaded module of ours or WeasyPrint's holds `original` (modules
    import functions by name, so patching the defining module alone would miss those copies)."""
    count = 0
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(prefixes):
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                setattr(module, attr, replacement)
                count += 1
    return count


def hook_function(module, name: str, label: str) -> None:
    original = getattr(module, name)
    replace_everywhere(original, PHASES.wrap(label, original))


def hook_method(cls, name: str, label: str) -> None:
    method = cls.__dict__[name]
    if isinstance(method, classmethod):
        setattr(cls, name, classmethod(PHASES.wrap(label, method.__func__)))
    else:
        setattr(cls, name, PHASES.wrap(label, method))


def hook_closure(func, label: str) -> None:
    """Wrap the functions a wrapper captured in its closure (weasy_cjk.py keeps WeasyPrint's stock
    functions there), so the time it spends in them is charged to WeasyPrint, not to it."""
    for cell in func.__closure__ or ():
        value = cell.cell_contents
        if callable(value) and getattr(value, "__module__", "").startswith("weasyprint") \
                and value.__name__ in ("justify_line", "set_text", "block_container_layout"):
            cell.cell_contents = PHASES.wrap(label, value)


WP_TEXT = "WP text: Pango layout, shaping, line breaking"


def hook_weasyprint() -> None:
    """Timers around WeasyPrint 70's phases (names checked against its source)."""
    import pydyf
    import weasyprint
    from weasyprint import css, document, images, layout
    from weasyprint.formatting_structure import build
    from weasyprint.layout import block, inline
    from weasyprint.pdf import fonts as pdf_fonts, tags
    from weasyprint.text import fonts, line_break

    cjk = {name: getattr(obj, name) for obj, name in ((inline, "justify_line"), (block, "block_container_layout"))
           if getattr(getattr(obj, name), "__module__", "").startswith("interview_export")}
    if line_break.Layout.set_text.__module__.startswith("interview_export"):
        cjk["set_text"] = line_break.Layout.set_text
    hook_method(weasyprint.HTML, "__init__", "WP HTML parse")
    hook_method(weasyprint.CSS, "__init__", "WP CSS parse")
    hook_method(fonts.FontConfiguration, "add_font_face", "WP @font-face loading (fetch, fontconfig)")
    hook_function(css, "get_all_computed_styles", "WP cascade: selector matching, computed styles")
    hook_function(build, "build_formatting_structure", "WP box building")
    hook_function(layout, "layout_document", "WP layout")
    hook_function(line_break, "split_first_line", WP_TEXT)
    hook_function(line_break, "create_layout", WP_TEXT)
    hook_function(images, "get_image_from_uri", "WP images: load, decode")
    hook_method(images.RasterImage, "get_x_object", "WP images: PDF encoding")
    hook_method(document.Page, "paint", "WP drawing")
    hook_method(pdf_fonts.Font, "__init__", "WP PDF font objects (read font files)")
    hook_function(pdf_fonts, "build_fonts_dictionary", "WP PDF fonts: widths, ToUnicode, embedding")
    hook_method(pdf_fonts.Font, "clean", "WP PDF fonts: subsetting (HarfBuzz)")
    hook_function(tags, "add_tags", "WP PDF tags (pdf_tags)")
    hook_method(pydyf.PDF, "write", "WP PDF serialise + zlib")
    hook_function(weasyprint.pdf, "generate_pdf", "WP PDF assembly (links, metadata, other)")
    hook_method(document.Document, "_render", "WP render (other)")
    if cjk:   # our typesetting wrapper: its own time, the stock functions it calls are WeasyPrint's
        hook_closure(cjk["justify_line"], "WP layout")
        hook_closure(cjk["block_container_layout"], "WP layout")
        if "set_text" in cjk:
            hook_closure(cjk["set_text"], WP_TEXT)
            hook_method(line_break.Layout, "set_text", "ours: weasy_cjk.py")
        hook_function(inline, "justify_line", "ours: weasy_cjk.py")
        hook_function(block, "block_container_layout", "ours: weasy_cjk.py")


def hook_ours() -> None:
    from contextlib import contextmanager

    from interview_export import api, fonts
    try:
        from interview_export.backends import pdf
    except ImportError:                      # before issue 14's backends/ package
        from interview_export import pdf

    stock_stage = api._Clock.stage

    @contextmanager
    def stage(self, name):
        PHASES.enter(f"ours: {name}" + (" backend (stylesheets, fetcher, other)" if name == "pdf" else ""))
        try:
            with stock_stage(self, name):
                yield
        finally:
            PHASES.leave()

    api._Clock.stage = stage
    hook_function(pdf, "assemble_html", "ours: render HTML (render_parts, assembly)")
    hook_function(fonts, "subset_face", "ours: font subsetting (HarfBuzz, per book)")


# ---------------------------------------------------------------- one measured process
def one(target: str, spec_path: str, out_path: str, prof_path: str | None) -> int:
    import gc

    gc.disable()                      # as our one-book CLI run and run.py's floor
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    if prof_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    PHASES.enter("other")   # until the end, what no phase below covers
    PHASES.enter("start-up: imports")
    if target == "ours":          # as our PDF backend imports it (weasy_speed, when there is one)
        try:
            from interview_export.backends.weasy_speed import import_weasyprint
        except ImportError:
            import weasyprint  # noqa: F401
        else:
            import_weasyprint()
    else:
        import weasyprint  # noqa: F401
    if target in ("ours", "floor+cjk"):
        from interview_export import weasy_cjk

        weasy_cjk.install()
    if target == "ours":
        from interview_export import cli  # noqa: F401
    PHASES.leave()
    hook_weasyprint()
    if target == "ours":
        hook_ours()
        from interview_export import cli

        try:
            cli.main(spec["ours_args"])
        except SystemExit as exc:
            if exc.code:
                return int(exc.code)
    elif target in ("floor", "floor+cjk"):
        sys.path.insert(0, str(HERE))
        import run as bench

        bench.floor_main(spec["captured"], spec["floor_pdf"], **spec.get("floor_options", {}))
    else:
        from weasyprint.__main__ import main as weasyprint_main

        os.chdir(spec["pandoc_dir"])
        weasyprint_main([spec["pandoc_html"], spec["pandoc_pdf"]])
    if prof_path:
        profiler.disable()
        profiler.dump_stats(prof_path)
    Path(out_path).write_text(json.dumps(PHASES.result()), encoding="utf-8")
    sys.stdout.flush()
    os._exit(0)


# ---------------------------------------------------------------- capturing the two HTML inputs
FAKE_ENGINE = """#!/bin/sh
# stands in for weasyprint under pandoc: keep the HTML pandoc made, then run the real engine
for a in "$@"; do case "$a" in *.html) cp "$a" {html};; esac; done
exec {real} "$@"
"""


def capture_pandoc(bench, b, tmp: Path) -> Path | None:
    """pandoc's HTML for the seed (what `--pdf-engine=weasyprint` gives WeasyPrint), in tmp/pandoc."""
    engine_dir = tmp / "engine"
    engine_dir.mkdir()
    html = tmp / "pandoc" / "pandoc.html"
    html.parent.mkdir()
    engine = engine_dir / "weasyprint"   # pandoc recognises the engine by this name
    engine.write_text(FAKE_ENGINE.format(html=html, real=Path(sys.executable).with_name("weasyprint")))
    engine.chmod(0o755)
    local = b.local_copy(b.seed, "seed-local.md")
    cmd = pandoc_cmd(b, local, engine, tmp / "pandoc" / "capture.pdf")
    sample = bench.run_process(cmd, log=tmp / "pandoc-capture.log")
    return html if sample.returncode == 0 and html.exists() else None


def pandoc_cmd(b, local: Path, engine: Path, out: Path) -> list:
    return [b.pandoc, str(local), f"--pdf-engine={engine}", "--css", str(HERE / "pandoc-cjk.css"), "--metadata", f"pagetitle={b.title()}", "--metadata", "lang=zh-CN",
            "-o", str(out)]


def pandoc_html_cmd(b, local: Path, out: Path) -> list:
    """pandoc's own part alone: the same HTML, no PDF engine (what it costs before WeasyPrint)."""
    return [b.pandoc, str(local), "--to", "html5", "--standalone", "--css", str(HERE / "pandoc-cjk.css"),
            "--metadata", f"pagetitle={b.title()}", "--metadata", "lang=zh-CN", "-o", str(out)]


# ---------------------------------------------------------------- the report
def order_key(label: str) -> tuple:
    group = 0 if label.startswith("start-up") else 1 if label.startswith("ours") else 2 if label.startswith("WP") else 3
    return (group, label)


def table(results: dict[str, list[dict]], wholes: dict[str, list], targets) -> str:
    labels = sorted({k for runs in results.values() for r in runs for k in r["cpu"]}, key=order_key)
    header = ["phase (exclusive CPU s, median)", *targets]
    rows = []
    for label in labels:
        cells = []
        for t in targets:
            values = [r["cpu"].get(label, 0.0) for r in results[t]]
            cells.append(f"{statistics.median(values):.3f}" if any(values) else "–")
        rows.append([label, *cells])
    sums = [statistics.median([sum(r["cpu"].values()) for r in results[t]]) for t in targets]
    rows.append(["**sum of phases (in-process CPU)**", *[f"**{s:.3f}**" for s in sums]])
    gaps = [statistics.median(s.cpu for s in wholes[t]) - total for t, total in zip(targets, sums)]
    rows.append(["whole − phases (child processes, e.g. find_library's ldconfig/gcc; exit)",
                 *[f"{g:.3f}" for g in gaps]])
    rows.append(["whole process CPU (os.wait4)", *[f"{statistics.median(s.cpu for s in wholes[t]):.3f}"
                                                   for t in targets]])
    rows.append(["whole process wall", *[f"{statistics.median(s.wall for s in wholes[t]):.3f}" for t in targets]])
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_one"]:
        return one(argv[1], argv[2], argv[3], argv[4] if len(argv) > 4 else None)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--targets", default="ours,floor,floor+cjk,pandoc")
    p.add_argument("--page-size", default="A4")
    p.add_argument("--seed", default=None, help="the article (default: the corpus seed)")
    p.add_argument("--floor-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a write_pdf option for the floor (true/false/numbers as JSON)")
    p.add_argument("--cprofile", metavar="DIR", help="one extra cProfile run per target: DIR/<target>.prof/.txt")
    p.add_argument("--out", help="also write the report here")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        p.error(f"unknown targets {sorted(unknown)}; choose from {', '.join(TARGETS)}")
    sys.path.insert(0, str(HERE))
    import run as bench

    if args.seed is None:
        args.seed = str(bench.CORPUS / "seed" / "tworek-interview.md")
    bench_args = bench.parse_args(["--runs", "1", "--seed", args.seed, "--only", "pdf"])
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") + ", load %.2f %.2f %.2f" % os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="ie-phases-"))
    note = bench.cache_bytecode(tmp / "pycache")
    server = bench.CdnServer(bench.CORPUS / "cdn", tmp / "http.log").start()
    try:
        b = bench.Bench(bench_args, tmp, server)
        ours_pdf = tmp / "ours.pdf"
        ours_args = ["pdf", args.seed, "-o", str(ours_pdf), *b.mirror, "-q", "--no-cache", "-j", "1",
                     "--page-size", args.page_size]
        captured = tmp / "captured.pickle"
        cap = bench.run_process([sys.executable, bench.__file__, "_capture", str(captured), "--", *ours_args[:2],
                                 "-o", str(tmp / "capture.pdf"), *ours_args[3 + 1:]], log=tmp / "capture.log")
        if cap.returncode or not captured.exists():
            bench.say(f"capturing our HTML failed: see {tmp / 'capture.log'}")
            return 1
        spec = {"ours_args": ours_args, "captured": str(captured), "floor_pdf": str(tmp / "floor.pdf"),
                "floor_options": {k: json.loads(v) if v[:1] in "tf0123456789[{\"n" else v
                                  for k, v in (o.split("=", 1) for o in args.floor_option)}}
        pandoc_rows = {}
        if "pandoc" in targets:
            if not b.pandoc:
                bench.say("pandoc is not installed: no pandoc column")
                targets.remove("pandoc")
            else:
                html = capture_pandoc(bench, b, tmp)
                if html is None:
                    bench.say(f"capturing pandoc's HTML failed: see {tmp / 'pandoc-capture.log'}")
                    targets.remove("pandoc")
                else:
                    spec.update(pandoc_dir=str(html.parent), pandoc_html=html.name,
                                pandoc_pdf=str(tmp / "pandoc" / "pandoc.pdf"))
                    pandoc_rows["html"] = [b.local_copy(b.seed, "seed-local.md"), tmp / "pandoc" / "timed.html"]
        spec_path = tmp / "spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        results: dict[str, list[dict]] = {t: [] for t in targets}
        wholes: dict[str, list] = {t: [] for t in targets}
        pandoc_own: list = []
        for i in range(args.runs):
            for t in targets:
                out = tmp / f"{t}-{i}.json"
                sample = bench.run_process([sys.executable, __file__, "_one", t, str(spec_path), str(out)],
                                           log=tmp / f"{t}.log")
                if sample.returncode or not out.exists():
                    bench.say(f"{t} run {i + 1} failed (exit {sample.returncode}): see {tmp / (t + '.log')}")
                    return 1
                results[t].append(json.loads(out.read_text(encoding="utf-8")))
                wholes[t].append(sample)
                bench.say(f"  {t} run {i + 1}/{args.runs}: {sample.wall:.2f} s wall, {sample.cpu:.2f} s CPU")
                if t == "pandoc":
                    pandoc_own.append(bench.run_process(pandoc_html_cmd(b, *pandoc_rows["html"]),
                                                        log=tmp / "pandoc-html.log"))
        if args.cprofile:
            import pstats

            folder = Path(args.cprofile)
            folder.mkdir(parents=True, exist_ok=True)
            for t in targets:
                prof = folder / f"{t.replace('+', '_')}.prof"
                bench.run_process([sys.executable, __file__, "_one", t, str(spec_path), str(tmp / "prof.json"),
                                   str(prof)], log=tmp / f"{t}-prof.log")
                with open(folder / f"{t.replace('+', '_')}.txt", "w", encoding="utf-8") as fh:
                    stats = pstats.Stats(str(prof), stream=fh)
                    stats.sort_stats("tottime").print_stats(40)
                    stats.sort_stats("cumulative").print_stats(60)
        ended = "load %.2f %.2f %.2f" % os.getloadavg()
        text = "\n".join([
            f"Phase profile, {args.runs} runs in alternation, {started}; {ended} at the end; "
            f"seed → {args.page_size} PDF; {note}.",
            *([f"Floor options: {spec['floor_options']}."] if spec["floor_options"] else []),
            "",
            table(results, wholes, targets),
            *([f"\npandoc's own process (Markdown → HTML, no PDF engine): "
               f"{statistics.median(s.cpu for s in pandoc_own):.3f} s CPU, "
               f"{statistics.median(s.wall for s in pandoc_own):.3f} s wall (median); the pandoc column "
               "is WeasyPrint's command line on that HTML."] if pandoc_own else []),
        ]) + "\n"
    finally:
        bench.clean_up(server, tmp, args.keep)
    return bench.emit(text, args.out)


if __name__ == "__main__":
    sys.exit(main())
