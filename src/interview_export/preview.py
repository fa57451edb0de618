"""Markdown file → a live book in the browser: the EPUB built in memory, served on 127.0.0.1, rebuilt on change.

The page shows the book as a reading system would (the EPUB's own XHTML, CSS and fonts, one chapter
at a time, a chapter list and a width switch for e-ink, phone and tablet). A watcher rebuilds when
the Markdown, its sidecar, its local images or a user stylesheet change, and tells the page over
Server-Sent Events; a failed build is shown in the page while the last good book stays on screen.
"""

from __future__ import annotations

import html
import http.server
import json
import logging
import mimetypes
import posixpath
import re
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree as ET

from . import api, model
from .backends import epub
from .errors import ExportError
from .options import Options

log = logging.getLogger("interview_export.preview")

WIDTHS = {"e-ink": (758, 1024), "phone": (390, 844), "tablet": (1024, 1366)}
_OPF = "{http://www.idpf.org/2007/opf}"


class Book:
    """One built EPUB held in memory: its files by path, and its chapters in reading order."""

    def __init__(self, files: dict[str, bytes], title: str):
        self.files = files
        container = ET.fromstring(self.files["META-INF/container.xml"])
        opf_path = next(str(el.get("full-path")) for el in container.iter() if el.get("full-path"))
        opf = ET.fromstring(self.files[opf_path])
        folder = posixpath.dirname(opf_path)
        manifest = {item.get("id"): item.get("href") for item in opf.iter(f"{_OPF}item")}
        self.title = title
        self.chapters = []
        for ref in opf.iter(f"{_OPF}itemref"):
            path = posixpath.join(folder, str(manifest[ref.get("idref")]))
            match = re.search(rb"<title>(.*?)</title>", self.files[path], re.S)
            name = html.unescape(match.group(1).decode("utf-8")) if match else posixpath.basename(path)
            self.chapters.append({"href": path, "title": name})


class Preview:
    """The state shared by the server and the watcher: the last good book, the last error, a version."""

    def __init__(self, source: Path, options: Options = Options()):
        self.source = source
        self.options = options
        self.book: Book | None = None
        self.error = ""
        self.version = 0          # every build, good or bad (the page refreshes its status)
        self.book_version = 0     # good builds only (the page reloads the book)
        self.build_seconds = 0.0
        self.watched: set[Path] = set()
        self.changed = threading.Condition()

    def build(self) -> None:
        """Rebuild the EPUB; on failure keep the last good book and remember the error."""
        start = time.perf_counter()
        doc = None
        try:
            doc = api.load(self.source, self.options)
            files = epub.build_files(api.prepare_book(doc, self.options, base_dir=self.source.parent,
                                                     targets=("epub",)))
            book: Book | None = Book(files, doc.meta.title or self.source.stem)
            error = ""
        except ExportError as exc:
            book, error = self.book, str(exc)
        except Exception as exc:   # a preview must survive anything a half-typed file does
            log.exception("preview build failed")
            book, error = self.book, f"{self.source}: internal error: {type(exc).__name__}: {exc}"
        self.build_seconds = time.perf_counter() - start
        with self.changed:
            self.book_version += book is not self.book
            self.book, self.error = book, error
            self.version += 1
            self.watched = self._inputs(doc)
            self.changed.notify_all()

    def _inputs(self, doc) -> set[Path]:
        """The files a change of which changes the book (the sidecar even before it exists)."""
        src = self.source.resolve()
        stem = re.sub(r"-(remote|standalone)$", "", src.stem)
        paths = {src, *(src.with_name(f"{s}.metadata.{e}") for s in {src.stem, stem} for e in ("yaml", "yml"))}
        paths |= {Path(p).resolve() for p in self.options.css}
        if self.options.cover:
            paths.add(Path(self.options.cover).resolve())
        refs = model.image_refs(doc) if doc is not None else []
        for ref, _, _ in refs:
            if urlsplit(ref).scheme in ("", "file"):
                relative = unquote(urlsplit(ref).path)
                paths.add((src.parent / relative).resolve())
        if doc is None:   # keep watching what the last good build used
            paths |= self.watched
        return paths

    def state(self) -> dict:
        """The preview's status for the page: versions, build time, error, chapters."""
        with self.changed:
            book = self.book
            return {"version": self.version, "book": self.book_version, "error": self.error, "title": book.title if book else "",
                    "chapters": book.chapters if book else [], "seconds": round(self.build_seconds, 3)}

    def wait(self, version: int, timeout: float) -> int:
        """Block until the version differs from ``version`` (or the timeout); the current version."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != version, timeout=timeout)
            return self.version

    def watch(self, stop: threading.Event) -> None:
        """Rebuild whenever one of the book's input files changes (until ``stop`` is set)."""
        import watchfiles

        roots = {self.source.resolve().parent, *(Path(d).resolve() for d in self.options.resource_dirs)}
        roots |= {Path(p).resolve().parent for p in self.options.css}

        def relevant(change, path: str) -> bool:
            return Path(path).resolve() in self.watched

        for _ in watchfiles.watch(*roots, watch_filter=relevant, stop_event=stop, debounce=400, step=30,
                                  rust_timeout=500, yield_on_timeout=False, raise_interrupt=False):
            self.build()


# ---------------------------------------------------------------- the page
PAGE = """<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>preview</title><link rel="icon" href="data:,">
<style>
body { margin: 0; font: 14px/1.4 sans-serif; display: flex; height: 100vh; }
nav { width: 15em; overflow-y: auto; border-right: 1px solid #888; padding: 0.5em; flex: none; }
nav a { display: block; padding: 0.25em 0.3em; color: inherit; text-decoration: none; }
nav a.here { font-weight: bold; text-decoration: underline; }
main { flex: 1; overflow: auto; padding: 0.8em; }
#bar { margin-bottom: 0.6em; }
#bar button.on { font-weight: bold; }
#error { white-space: pre-wrap; border: 2px solid #c00; padding: 0.5em; margin-bottom: 0.6em; }
#error:empty { display: none; }
iframe { border: 1px solid #888; display: block; }
</style></head>
<body>
<nav id="chapters"></nav>
<main>
<div id="bar">{{BUTTONS}} <span id="status"></span></div>
<div id="error" role="alert"></div>
<iframe id="page" title="book"></iframe>
</main>
<script>
const WIDTHS = {{WIDTHS}};
const frame = document.getElementById("page");
let state = { chapters: [] }, here = null, shown = -1;
function size(name) {
  const [w, h] = WIDTHS[name];
  frame.width = w; frame.height = h;
  document.querySelectorAll("#bar button").forEach((b) => b.classList.toggle("on", b.dataset.width === name));
  localStorage.setItem("width", name);
}
function show(href, keepScroll) {
  const y = keepScroll && frame.contentWindow ? frame.contentWindow.scrollY : 0;
  here = href;
  frame.onload = () => { if (y) frame.contentWindow.scrollTo(0, y); };
  frame.src = "/book/" + href + "?v=" + state.book;
  mark();
}
function mark() {
  document.querySelectorAll("#chapters a").forEach((a) => a.classList.toggle("here", a.dataset.href === here));
}
async function refresh() {
  state = await (await fetch("/state.json", { cache: "no-store" })).json();
  document.title = (state.title || "preview") + " — preview";
  document.getElementById("error").textContent = state.error;
  document.getElementById("status").textContent = "build " + state.version + " · " + state.seconds + " s";
  const nav = document.getElementById("chapters");
  nav.replaceChildren(...state.chapters.map((c) => {
    const a = document.createElement("a");
    a.href = "#" + c.href; a.dataset.href = c.href; a.textContent = c.title;
    a.onclick = (e) => { e.preventDefault(); show(c.href, false); };
    return a;
  }));
  mark();
  if (!state.chapters.length) return;
  const keep = state.chapters.some((c) => c.href === here);
  const start = state.chapters.find((c) => /section|lead/.test(c.href)) || state.chapters[0];
  if (state.book !== shown) { shown = state.book; show(keep ? here : start.href, keep); }
}
size(localStorage.getItem("width") in WIDTHS ? localStorage.getItem("width") : "e-ink");
new EventSource("/events").onmessage = () => refresh();
refresh();
</script></body></html>"""


def page_html() -> bytes:
    """The preview page itself (HTML, with its script)."""
    buttons = " ".join(f'<button type="button" data-width="{n}" onclick="size(this.dataset.width)">{n} {w}px</button>'
                       for n, (w, _) in WIDTHS.items())
    widths = json.dumps({n: list(v) for n, v in WIDTHS.items()})
    return PAGE.replace("{{BUTTONS}}", buttons).replace("{{WIDTHS}}", widths).encode("utf-8")


class Handler(http.server.BaseHTTPRequestHandler):
    """/ the page · /state.json · /events (Server-Sent Events) · /book/PATH a file of the current EPUB."""

    preview: Preview
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        """Quiet: the preview prints only its own lines."""
        log.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        """Serve the page, the book's files, its status and the change events."""
        path = unquote(urlsplit(self.path).path)
        if path == "/":
            return self._send(200, page_html(), "text/html; charset=utf-8")
        if path == "/state.json":
            return self._send(200, json.dumps(self.preview.state(), ensure_ascii=False).encode("utf-8"),
                              "application/json")
        if path == "/events":
            return self._events()
        if path.startswith("/book/"):
            book = self.preview.book
            data = book.files.get(path[len("/book/"):]) if book else None
            if data is not None:
                kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
                return self._send(200, data, "application/xhtml+xml" if path.endswith(".xhtml") else kind)
        return self._send(404, b"not found", "text/plain")

    def _events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        version = -1
        try:
            while not getattr(self.server, "stopping", False):
                current = self.preview.wait(version, timeout=15)
                message = f"data: {current}\n\n" if current != version else ": keep-alive\n\n"
                self.wfile.write(message.encode("ascii"))
                self.wfile.flush()
                version = current
        except (BrokenPipeError, ConnectionResetError):
            pass


class PreviewServer(http.server.ThreadingHTTPServer):
    """The preview's HTTP server; ``stopping`` tells open event streams to end."""

    stopping = False


def serve(preview: Preview, port: int = 0) -> PreviewServer:
    """A threaded server for ``preview`` on 127.0.0.1 (port 0: a free one); call serve_forever()."""
    handler = type("PreviewHandler", (Handler,), {"preview": preview})
    server = PreviewServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server
