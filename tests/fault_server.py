"""Test helper: a 127.0.0.1 HTTP server whose paths misbehave on purpose (404, 500-then-200, slow, …)."""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from io import BytesIO

from PIL import Image

from script_server import QuietHandler, QuietServer

from helpers import png_bytes


def noisy_png(size=(200, 150)) -> bytes:
    """A PNG whose pixel data does not compress away (so truncating it really cuts image data)."""
    import os

    buf = BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buf, "PNG")
    return buf.getvalue()


def png_header_bomb(width=20000, height=20000) -> bytes:
    """A tiny PNG that *declares* width×height 1-bit pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 4096)) + chunk(b"IEND", b""))


def dead_port() -> int:
    """A 127.0.0.1 port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler(QuietHandler):
    def _send(self, status: int, body: bytes = b"", ctype: str = "image/png", headers=(), length=True):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body:
            try:
                self.wfile.write(body)
            except OSError:
                pass

    def do_GET(self):  # noqa: C901 — one branch per fault, on purpose
        srv = self.server
        path = self.path.split("?", 1)[0]
        with srv.lock:
            srv.requests.append(path)
            srv.hits[path] = srv.hits.get(path, 0) + 1
            hit = srv.hits[path]
        srv.user_agents.append(self.headers.get("User-Agent", ""))
        if path == "/ok.png":
            self._send(200, srv.ok_png)
        elif path.startswith("/delay/"):  # a slow but fine image (for parallelism)
            srv.stop_event.wait(0.3)
            self._send(200, srv.ok_png)
        elif path == "/404.png":
            self._send(404, b"<html>not found</html>", "text/html")
        elif path == "/flaky.png":   # 500 first, then the image
            if hit == 1:
                self._send(500, b"oops", "text/plain")
            else:
                self._send(200, srv.ok_png)
        elif path == "/busy.png":    # 429 with Retry-After: 0, then the image
            if hit == 1:
                self._send(429, b"slow down", "text/plain", headers=[("Retry-After", "0")])
            else:
                self._send(200, srv.ok_png)
        elif path == "/always500.png":
            self._send(503, b"down", "text/plain")
        elif path == "/slow.png":    # headers only after a long pause
            srv.stop_event.wait(srv.slow_seconds)
            self._send(200, srv.ok_png)
        elif path == "/drip.png":    # headers at once, then one byte at a time
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            for b in srv.ok_png:
                if srv.stop_event.wait(0.05):
                    break
                try:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                except OSError:
                    break
        elif path == "/drip-headers.png":   # the status line at once, then a header one byte at a time
            self.close_connection = True
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                for _ in range(100):
                    if srv.stop_event.wait(0.05):
                        return
                    self.wfile.write(b"x")
                self.wfile.write(b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(srv.ok_png)
                                 + srv.ok_png)
            except OSError:
                pass
        elif path == "/html.png":
            self._send(200, b"<!DOCTYPE html><html><body>Error: access denied</body></html>", "image/png")
        elif path == "/truncated.png":
            self._send(200, srv.noisy_png[: len(srv.noisy_png) // 2])
        elif path == "/bomb.png":
            self._send(200, png_header_bomb())
        elif path == "/loop-a":
            self._send(302, headers=[("Location", "/loop-b")])
        elif path == "/loop-b":
            self._send(302, headers=[("Location", "/loop-a")])
        elif path.startswith("/chain-"):  # /chain-N redirects to /chain-(N-1) … /chain-0 is the image
            n = int(path.rsplit("-", 1)[1])
            if n == 0:
                self._send(200, srv.ok_png)
            else:
                self._send(302, headers=[("Location", f"/chain-{n - 1}")])
        elif path == "/to-file":
            self._send(302, headers=[("Location", "file:///etc/passwd")])
        elif path == "/big.png":      # declared Content-Length above the cap
            self._send(200, srv.big_body)
        elif path == "/big-chunked.png":  # no Content-Length: the cap must be enforced while reading
            self._send(200, srv.big_body, length=False)
        elif path == "/etag.png":
            if self.headers.get("If-None-Match") == '"v1"':
                self._send(304, headers=[("ETag", '"v1"')], length=True)
            else:
                self._send(200, srv.ok_png, headers=[("ETag", '"v1"')])
        else:
            self._send(404, b"no such fault", "text/plain")


class FaultServer:
    """Threaded server on 127.0.0.1; ``requests`` lists every path asked for."""

    def __init__(self, *, slow_seconds: float = 3.0, big_body_size: int = 300_000):
        self.httpd = QuietServer(("127.0.0.1", 0), _Handler)
        self.httpd.lock = threading.Lock()
        self.httpd.requests = []
        self.httpd.user_agents = []
        self.httpd.hits = {}
        self.httpd.ok_png = png_bytes()
        self.httpd.noisy_png = noisy_png()
        self.httpd.big_body = png_bytes() + b"\0" * big_body_size
        self.httpd.slow_seconds = slow_seconds
        self.httpd.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    @property
    def ok_png(self) -> bytes:
        return self.httpd.ok_png

    def __enter__(self) -> "FaultServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        time.sleep(0)
