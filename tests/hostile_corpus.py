"""Issue 19's probe as a generated corpus: hostile case name → files written into a temp folder,
the command to run on them, and how to tell whether something leaked.

Nothing here is committed as data: every file is made at test time (``SLOW=1`` or ``full=True``
makes the full-size variants, which take minutes and up to ~1 GB each). ``measure`` runs a command
under a wall-clock and memory cap, polling the resident size of the whole process tree, so the
same probe can be pointed at old code (``PYTHONPATH=old/src``) without taking the machine down.
Network: only the 127.0.0.1 servers started here; private and link-local addresses appear only in
URLs that must be refused (never in the "before" set).
"""

from __future__ import annotations

import http.server
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Callable

from script_server import QuietHandler

SECRET = "SECRET-7f3a-hostile-marker"


# ---------------------------------------------------------------- measuring
@dataclass
class Measured:
    code: int | None          # None: killed by the cap
    seconds: float
    peak_mb: float
    killed: str = ""          # "" or why the cap killed it
    stderr: str = ""


def _tree_rss_kb(root: int) -> int:
    """Resident kB of ``root`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            pid, ppid = int(entry), int(fields[1])
            rss[pid] = int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
            children.setdefault(ppid, []).append(pid)
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total


def measure(argv: list[str], *, cwd: Path, env: dict | None = None, timeout: float = 90.0,
            mem_mb: float = 2048.0, stdin: bytes | None = None,
            after_start: Callable[[subprocess.Popen], None] | None = None) -> Measured:
    """Run ``argv``; kill its process group past ``timeout`` s or ``mem_mb`` resident (summed)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **(env or {})}, start_new_session=True,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err: list[bytes] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    reader.start()
    if stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    if after_start is not None:
        after_start(proc)
    peak, killed = 0, ""
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        elapsed = time.monotonic() - start
        if elapsed > timeout:
            killed = f"killed at {timeout:g} s"
        elif peak > mem_mb * 1024:
            killed = f"killed at {mem_mb:g} MB"
        if killed:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            break
        time.sleep(0.05)
    seconds = time.monotonic() - start
    reader.join(5)
    proc.stderr.close()
    return Measured(None if killed else proc.returncode, seconds, peak / 1024, killed,
                    b"".join(err).decode("utf-8", "replace"))


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "interview_export", *args]


# ---------------------------------------------------------------- local servers
class ProbeServer:
    """127.0.0.1 server counting requests: ``/img.png``, ``/slow/N.png`` (1 byte/s),
    ``/to?u=URL`` (302 to URL), and absolute-form requests (as a proxy sees them)."""

    def __init__(self, png: bytes):
        server = self

        class Handler(QuietHandler):
            def do_GET(self):
                server.requests.append(self.path)
                if self.path.startswith("/to?u="):
                    self.send_response(302)
                    self.send_header("Location", self.path[6:])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path.startswith("/slow/"):
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(server.png)))
                    self.end_headers()
                    try:
                        for i in range(len(server.png)):
                            self.wfile.write(server.png[i:i + 1])
                            self.wfile.flush()
                            if server.stop.wait(1.0):
                                return
                    except OSError:
                        pass
                    return
                body = server.png
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.png = png
        self.requests: list[str] = []
        self.stop = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------- generated files
def png(size=(40, 30), colour=(10, 120, 200), *, mode="RGB") -> bytes:
    from PIL import Image

    buf = BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG")
    return buf.getvalue()


def jpeg(size=(40, 30)) -> bytes:
    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", size, (200, 60, 20)).save(buf, "JPEG")
    return buf.getvalue()


def deep_png(side: int) -> bytes:
    """A 16-bit greyscale PNG of side² pixels that compresses to almost nothing."""
    raw = (b"\x00" + b"\x12\x34" * side) * side
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 0, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def alias_bomb(levels: int = 9) -> str:
    lines = ['title: "别名炸弹"', 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"tags: *a{levels - 1}")
    lines.append(f"description: *a{levels - 1}")
    return "---\n" + "\n".join(lines) + "\n---\n\n# 标题\n\n正文。\n"


def article(body: str, title: str = "探针") -> str:
    return f"# {title}\n\n{body}\n"


# ---------------------------------------------------------------- cases
@dataclass
class Case:
    name: str
    argv: list[str]
    cwd: Path
    leaked: Callable[[], bool] = lambda: False
    env: dict = field(default_factory=dict)
    stdin: bytes | None = None
    after_start: Callable | None = None


def _book_has(paths, needle: str) -> bool:
    import zipfile

    for p in paths:
        p = Path(p)
        if not p.is_file():
            continue
        data = p.read_bytes()
        if needle.encode() in data:
            return True
        try:
            with zipfile.ZipFile(p) as z:
                if any(needle.encode() in z.read(n) for n in z.namelist()):
                    return True
        except zipfile.BadZipFile:
            pass
    return False


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def _secret(tmp: Path) -> Path:
    return _write(tmp / "outside" / "secret.txt", f"{SECRET}\nroot:x:0:0\n")


def _books(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.epub")) + sorted(folder.rglob("*.pdf"))


def make_cases(tmp: Path, server: ProbeServer, *, full: bool) -> dict[str, Case]:
    """Every case, its files written under ``tmp`` (bounded sizes unless ``full``)."""
    cases: dict[str, Case] = {}
    base = ["--no-cache"]

    def add(name: str, argv: list[str], cwd: Path, leaked=lambda: False, **kw) -> None:
        cases[name] = Case(name, argv, cwd, leaked, **kw)

    d = tmp / "yaml"
    _write(d / "bomb.md", alias_bomb(9 if full else 6))
    add("yaml alias bomb", cli("epub", *base, "bomb.md"), d)
    _write(d / "dates.md", "---\ntitle: 日期\ndate: 2026-02-30\nupdated: 2026-01-01 25:00:00\n"
           "other: 2026-13-01\n---\n\n正文。\n")
    add("yaml date 2026-02-30 / hour 25 / month 13", cli("epub", *base, "dates.md"), d)
    depth = 5000 if full else 600
    _write(d / "deep.md", "---\ntitle: 深\nx: " + "[" * depth + "]" * depth + "\n---\n\n正文。\n")
    add(f"yaml nested {depth} deep", cli("epub", *base, "deep.md"), d)

    d = tmp / "links"
    secret = _secret(tmp)
    _write(d / "dl" / "ok.md", article("正常的文章。"))
    os.symlink(secret, d / "dl" / "p.md")
    os.symlink(tmp / "outside", d / "dl" / "sub")
    (tmp / "outside" / "e.md").write_text(f"{SECRET} environ\n")
    add("folder with symlinks out", cli("epub", *base, "dl"), d, lambda d=d: _book_has(_books(d / "dl"), SECRET))

    d = tmp / "cfg"
    _write(tmp / "outside" / "id_rsa.css", f"/* {SECRET} */ p {{ color: red }}\n")
    _write(d / "interview-export.toml", f'css = ["{tmp / "outside" / "id_rsa.css"}"]\n')
    _write(d / "a.md", article("正文。"))
    add("found config: css outside", cli("epub", *base, "a.md"), d, lambda d=d: _book_has(_books(d), SECRET))
    d2 = tmp / "cfg-rd"
    _write(d2 / "interview-export.toml", 'resource-dir = ["/"]\n')
    _write(d2 / "a.md", article(f"![s]({tmp / 'outside' / 'pic.png'})"))
    _write(tmp / "outside" / "pic.png", png(colour=(1, 2, 3)))
    add("found config: resource-dir = /", cli("epub", *base, "a.md"), d2, lambda: _has_images(_books(d2)))
    d3 = tmp / "cfg-mirror"
    _write(d3 / "interview-export.toml", f'mirror = ["https://img.example/=http://127.0.0.1:{server.port}/"]\n')
    _write(d3 / "a.md", article("![m](https://img.example/img.png?cfgmirror)"))
    add("found config: mirror", cli("epub", *base, "a.md"), d3,
        lambda: any("cfgmirror" in r for r in server.requests))

    d = tmp / "ssrf"
    p = server.port
    spellings = [f"127.0.0.1:{p}", f"127.1:{p}", f"0x7f000001:{p}", f"2130706433:{p}",
                 f"017700000001:{p}", f"0.0.0.0:{p}", f"[::ffff:127.0.0.1]:{p}", f"localhost:{p}",
                 f"user@127.0.0.1:{p}", f"LOCALHOST.:{p}"]
    body = "\n\n".join(f"![s{i}](http://{s}/img.png?ssrf{i})" for i, s in enumerate(spellings))
    body += f"\n\n![r](http://127.0.0.1:{p}/to?u=http://127.0.0.1:{p}/img.png?ssrfredir)"
    _write(d / "a.md", article(body))
    add("loopback spellings + redirect", cli("epub", *base, "a.md"), d,
        lambda: any("ssrf" in r for r in server.requests))

    d = tmp / "layout"
    rows, cols = (3000, 300) if full else (300, 100)
    table = "|" + "|".join(" " for _ in range(cols)) + "|\n|" + "|".join("-" for _ in range(cols)) + "|\n"
    table += ("|" + "|" * cols + "\n") * rows
    _write(d / "table.md", article(table))
    add(f"empty {cols}×{rows} table (PDF)", cli("pdf", *base, "table.md"), d)
    n = 200_000 if full else 20_000
    _write(d / "list.md", article("-\n" * n))
    add(f"{n:,} empty list items (PDF)", cli("pdf", *base, "list.md"), d)
    _write(d / "breaks.md", article("a\\\n" * n + "a"))
    add(f"{n:,} hard breaks (PDF)", cli("pdf", *base, "breaks.md"), d)
    m = 100_000 if full else 10_000
    _write(d / "links.md", article(" ".join(f"[x](https://e.example/{i})" for i in range(m))))
    add(f"{m:,} links (PDF)", cli("pdf", *base, "links.md"), d)
    k = 300_000 if full else 30_000
    _write(d / "stars.md", article("**a" * (k // 3)))
    add(f"{k // 1000} KB of **a (PDF)", cli("pdf", *base, "stars.md"), d)
    c = 500 if full else 100
    wide = "|" + "|".join("h" for _ in range(c)) + "|\n|" + "|".join("-" for _ in range(c)) + "|\n"
    wide += ("|" + "|".join("x" for _ in range(c)) + "|\n") * 20
    _write(d / "wide.md", article(wide))
    add(f"{c}-column table (PDF)", cli("pdf", *base, "wide.md"), d)
    h = 50_000 if full else 5_000
    _write(d / "h3.md", article("\n\n".join(f"### 小节 {i}" for i in range(h))))
    add(f"{h:,} H3 headings (PDF)", cli("pdf", *base, "h3.md"), d)

    d = tmp / "png16"
    side = 9000 if full else 3000
    for i in range(8):
        _write(d / f"p{i}.png", deep_png(side + i))
    _write(d / "a.md", article("\n\n".join(f"![p](p{i}.png)" for i in range(8))))
    add(f"eight {len((d / 'p0.png').read_bytes()) // 1024} KB 16-bit PNGs, cpu_count 8",
        [sys.executable, "-c", "import os; os.cpu_count = lambda: 8; os.sched_getaffinity = lambda p: set(range(8));"
         " from interview_export.cli import main; main()", "epub", *base, "a.md"], d)

    d = tmp / "out"
    _write(d / "a.md", article("正文。"))
    _write(d / "victim.txt", SECRET)
    os.symlink(d / "victim.txt", d / "lnk.epub")
    add("-o onto a symlink", cli("epub", *base, "a.md", "-o", "lnk.epub"), d,
        lambda d=d: not (d / "lnk.epub").is_symlink() or (d / "victim.txt").read_text() != SECRET)
    os.mkfifo(d / "fifo.epub")
    add("-o onto a FIFO", cli("epub", *base, "a.md", "-o", "fifo.epub"), d,
        lambda d=d: not _is_fifo(d / "fifo.epub"))
    if os.geteuid() == 0:   # our own device node (a copy of /dev/null's numbers) in the temp folder
        os.mknod(d / "null.epub", 0o666 | 0o020000, os.makedev(1, 3))
        add("-o onto a device node", cli("epub", *base, "a.md", "-o", "null.epub"), d,
            lambda d=d: not _is_chardev(d / "null.epub"))

    d = tmp / "proxy"
    _write(d / "a.md", article("![x](http://img.example/img.png?viaproxy)"))
    add("HTTP_PROXY set", cli("epub", *base, "a.md"), d,
        lambda: not any("viaproxy" in r for r in server.requests),
        env={"HTTP_PROXY": f"http://127.0.0.1:{p}", "http_proxy": f"http://127.0.0.1:{p}", "NO_PROXY": ""})

    d = tmp / "slow"
    k = 100 if full else 10
    _write(d / "a.md", article("\n\n".join(f"![s](https://slow.example/slow/{i}.png)" for i in range(k))))
    add(f"{k} images at 1 byte/s", cli("epub", *base, "--mirror", f"https://slow.example/=http://127.0.0.1:{p}/",
                                        "a.md"), d)

    d = tmp / "trail"
    _write(d / "j.jpg", jpeg() + b"<script>" + SECRET.encode() + b"</script>")
    _write(d / "p.png", png() + b"<script>" + SECRET.encode() + b"</script>")
    _write(d / "a.md", article("![j](j.jpg)\n\n![p](p.png)"))
    add("data after JPEG EOI / PNG IEND", cli("epub", *base, "a.md"), d, lambda d=d: _book_has(_books(d), SECRET))

    d = tmp / "forge"
    _write(d / "a.md", article("![p](p.png)"))
    _write(d / "p.png", png(colour=(9, 9, 9)))
    add("forged cache rendition", cli("epub", "-q", "--cache-dir", str(d / "cache"), "a.md"), d,
        lambda d=d: _book_has(_books(d), SECRET))

    d = tmp / "term"
    _write(d / "a.md", article("\n\n".join("中文段落，" * 40 for _ in range(300))))
    add("SIGTERM after the EPUB, during the PDF", cli("build", *base, "--report", "r.json", "a.md"), d,
        lambda d=d: _sigterm_report_wrong(d), after_start=sigterm_after_first_book(d))
    return cases


# what the fixed code must do with each case: (exit codes allowed, a line stderr must contain)
EXPECTED: dict[str, tuple[tuple[int, ...], str]] = {
    "yaml alias bomb": ((0,), "alias bomb"),
    "yaml date": ((0,), "is not a valid date or time"),
    "yaml nested": ((0,), "nested deeper than 40 levels"),
    "folder with symlinks out": ((0,), "skipped: a symlink to a file outside"),
    "found config: css": ((2,), "setting 'css' refused"),
    "found config: resource-dir": ((2,), "setting 'resource-dir' refused"),
    "found config: mirror": ((2,), "setting 'mirror' refused"),
    "loopback spellings": ((0,), "a loopback address (refused"),
    "(PDF)": ((0, 1), ""),
    "16-bit PNGs": ((0,), ""),
    "-o onto": ((2,), "refusing to replace it"),
    "HTTP_PROXY": ((0,), ""),
    "images at 1 byte/s": ((0,), "budget of this book used up"),
    "data after": ((0,), ""),
    "forged cache": ((0,), ""),
    "SIGTERM": ((143,), "interrupted"),
}


def expected(name: str) -> tuple[tuple[int, ...], str]:
    return next(v for k, v in EXPECTED.items() if k in name)


def forge_cache(cache: Path, md: Path, argv: list[str]) -> None:
    """Warm ``cache`` with one real run, then replace every stored rendition's body with an SVG
    carrying the marker, keeping the header's sizes and hashes consistent (an attacker could)."""
    import hashlib
    import json

    subprocess.run(argv, cwd=md.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    forged = f'<svg xmlns="http://www.w3.org/2000/svg"><script>{SECRET}</script></svg>'.encode()
    for path in cache.rglob("*"):
        if not path.is_file() or path.suffix == ".entry" or path.name.startswith("."):
            continue
        header, sep, body = path.read_bytes().partition(b"\n")
        try:
            head = json.loads(header)
        except ValueError:
            continue
        if not sep or "key" not in head:
            continue
        head.pop("check", None)
        head.pop("mac", None)
        head.update(size=len(forged), sha256=hashlib.sha256(forged).hexdigest(), same_as_source=False)
        from interview_export import cache as cache_mod

        if hasattr(cache_mod, "_header_check"):   # the old, unkeyed check: anyone can recompute it
            head["check"] = cache_mod._header_check(head)
        path.write_bytes(json.dumps(head, ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode()
                         + b"\n" + forged)


def sigterm_after_first_book(folder: Path) -> Callable[[subprocess.Popen], None]:
    """An ``after_start`` hook: SIGTERM the run once ``a.epub`` exists."""
    def hook(proc: subprocess.Popen) -> None:
        def watch():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                if (folder / "a.epub").exists():
                    proc.send_signal(signal.SIGTERM)
                    return
                time.sleep(0.05)
        threading.Thread(target=watch, daemon=True).start()
    return hook


def _sigterm_report_wrong(folder: Path) -> bool:
    import json

    try:
        report = json.loads((folder / "r.json").read_text())
    except (OSError, ValueError):
        return True
    a = next((f for f in report["files"] if f["input"].endswith("a.md")), None)
    return a is None or not a["outputs"]


def _has_images(paths) -> bool:
    import zipfile

    for p in paths:
        if p.suffix == ".epub":
            with zipfile.ZipFile(p) as z:
                if any("/images/" in "/" + n for n in z.namelist()):
                    return True
    return False


def run_case(case: Case, *, timeout: float, mem_mb: float) -> tuple[Measured, bool]:
    """Run one case (forging the cache first for the cache case) → (measurement, leaked)."""
    if case.name == "forged cache rendition":
        forge_cache(case.cwd / "cache", case.cwd / "a.md", case.argv)
        for book in _books(case.cwd):
            book.unlink()
    m = measure(case.argv, cwd=case.cwd, env=case.env, timeout=timeout, mem_mb=mem_mb,
                stdin=case.stdin, after_start=case.after_start)
    return m, case.leaked()


def main(argv: list[str]) -> None:
    """``python tests/hostile_corpus.py [--full] [--timeout S] [--mem MB] [NAME-SUBSTRING…]``:
    print one markdown table row per case (exit, seconds, peak MB, leaked, last stderr line)."""
    import argparse
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--mem", type=float, default=2048.0)
    ap.add_argument("only", nargs="*")
    args = ap.parse_args(argv)
    server = ProbeServer(png())
    try:
        with tempfile.TemporaryDirectory(prefix="ie-hostile-") as tmp:
            cases = make_cases(Path(tmp), server, full=args.full)
            print("| case | exit | s | peak MB | leaked | last message |\n|---|---|---|---|---|---|", flush=True)
            for name, case in cases.items():
                if args.only and not any(o in name for o in args.only):
                    continue
                m, leaked = run_case(case, timeout=args.timeout, mem_mb=args.mem)
                last = [l for l in m.stderr.strip().splitlines() if l.strip()][-1:] or [""]
                print(f"| {name} | {m.code if m.code is not None else m.killed} | {m.seconds:.1f} | "
                      f"{m.peak_mb:.0f} | {'**yes**' if leaked else 'no'} | {last[0][:160]} |", flush=True)
    finally:
        server.close()


def _is_fifo(path: Path) -> bool:
    import stat

    return path.exists() and stat.S_ISFIFO(os.lstat(path).st_mode)


def _is_chardev(path: Path) -> bool:
    import stat

    return stat.S_ISCHR(os.lstat(path).st_mode)


if __name__ == "__main__":
    main(sys.argv[1:])
