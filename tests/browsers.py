"""System browsers for the tests → Chromium's path, the fonts Chromium used per node, a WebKitGTK WebDriver client."""

from __future__ import annotations

import base64
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from io import BytesIO
from pathlib import Path
from urllib.parse import urlencode

_HTTP_ERRORS = (OSError, http.client.HTTPException, ValueError)   # no answer, a broken one, not JSON


def chromium_path() -> str | None:
    """The system Chromium (``CHROMIUM=PATH`` wins), or None when there is none."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    return None


def page_fonts(cdp) -> dict:
    """Every rendered text node of the page → the platform fonts Chromium drew it with.

    ``fallback`` lists the text runs drawn (partly) with a font that is not one of the page's web
    fonts: a character our embedded subsets lack (tofu elsewhere), or a generic family such as monospace."""
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    stack = [(cdp.send("DOM.getDocument", {"depth": -1})["root"], "")]
    nodes, fallback = 0, []
    while stack:
        node, parent = stack.pop()
        stack.extend((child, node.get("localName", "")) for child in node.get("children", []))
        text = node.get("nodeValue", "").strip() if node["nodeType"] == 3 else ""
        if not text:
            continue
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
        if not fonts:   # not rendered (head, display: none)
            continue
        nodes += 1
        system = sorted({f["familyName"] for f in fonts if not f.get("isCustomFont")})
        if system:
            fallback.append(f"<{parent}> {text[:30]!r}: {', '.join(system)}")
    return {"nodes": nodes, "fallback": fallback}


# ---------------------------------------------------------------- WebKitGTK
def _minibrowser() -> str | None:
    found = sorted(glob.glob("/usr/lib/*/webkit2gtk-4.*/MiniBrowser") + glob.glob("/usr/libexec/webkit2gtk-4.*/MiniBrowser"))
    return found[-1] if found else None


def webkit_available() -> str:
    """'' when WebKitGTK can be driven here, else why not."""
    missing = [name for name in ("WebKitWebDriver", "xvfb-run") if not shutil.which(name)]
    if _minibrowser() is None:
        missing.append("MiniBrowser")
    if missing:
        return f"WebKitGTK is not usable: {', '.join(missing)} missing (Debian: webkit2gtk-driver, xvfb)"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebKit:
    """WebKitWebDriver under xvfb-run, spoken to in plain W3C WebDriver (JSON over HTTP)."""

    def __init__(self, timeout: float = 120):
        self.port = _free_port()
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.session = ""

    def __enter__(self) -> "WebKit":
        env = {**os.environ, "WEBKIT_DISABLE_COMPOSITING_MODE": "1"}
        self.proc = subprocess.Popen(["xvfb-run", "-a", "-s", "-screen 0 1400x1500x24", "WebKitWebDriver",
                                      f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True, env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self._request("GET", "/status", None, 5)[1]["value"]["ready"]:
                    break
            except _HTTP_ERRORS:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.__exit__()
                raise RuntimeError("WebKitWebDriver did not start")
            time.sleep(0.2)
        options = {"binary": _minibrowser(), "args": ["--automation"]}
        caps = {"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": options}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]
        self._call("POST", "/window/rect", {"width": 1300, "height": 1450})
        return self

    def __exit__(self, *exc) -> None:
        if self.session:
            try:
                self._call("DELETE", "")
            except (*_HTTP_ERRORS, RuntimeError):
                pass
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)

    def _request(self, method: str, path: str, body: dict | None, timeout: float):
        """(status, decoded JSON answer) of one WebDriver request (a connection each: few calls)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None):
        url = path if path == "/session" else f"/session/{self.session}{path}"
        status, answer = self._request(method, url, body, timeout or self.timeout)
        value = answer["value"]
        if status != 200:
            raise RuntimeError(f"WebDriver {method} {path}: {value}")
        return value

    def check(self, frame_url: str, url: str, width: int, height: int, checks_js: str) -> dict:
        """Open ``url`` in a ``width``×``height`` frame and run ``checks_js`` (tests/readers/checks.js) in it."""
        self._call("POST", "/url", {"url": f"{frame_url}?{urlencode({'src': url, 'w': width, 'h': height})}"})
        self._call("POST", "/execute/async", {"script": "window.frameLoaded.then(arguments[0])", "args": []})
        self._call("POST", "/frame", {"id": 0})
        try:
            script = f"const done = arguments[0]; ({checks_js})({{}}).then(done, (e) => done({{error: String(e)}}));"
            found = self._call("POST", "/execute/async", {"script": script, "args": []})
        finally:
            self._call("POST", "/frame/parent", {})
        if "error" in found:
            raise RuntimeError(f"checks failed in WebKit on {url}: {found['error']}")
        return found

    def screenshot(self, path: Path, width: int, height: int) -> bool:
        """What the reader sees: the window's picture cut to the frame. WebKitGTK under Xvfb sometimes
        never answers a screenshot request (mostly the first ones of a session): then False."""
        from PIL import Image

        try:
            data = base64.b64decode(self._call("GET", "/screenshot", timeout=5))
        except TimeoutError:
            return False
        png = Image.open(BytesIO(data))
        png.crop((0, 0, min(width, png.width), min(height, png.height))).save(path)
        return True
