"""Test helper: a 127.0.0.1 HTTP server answering each request with ``handler(request) → Reply``
(what the fetcher tests once did with a mock transport, now over real sockets), optionally over
TLS, and a ``CONNECT`` proxy that tunnels to it."""

from __future__ import annotations

import http.server
import select
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler speaking HTTP/1.1 (connections kept alive) that logs nothing."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    """A threaded server whose threads do not hold the process and that prints no traceback when
    a client hangs up on purpose."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


@dataclass
class Reply:
    """An answer: a body with its Content-Length, or ``stream`` (pieces sent as they come, the
    end marked by closing the connection)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None


@dataclass
class Request:
    path: str
    headers: dict[str, str]   # lower-case names
    port: int


class ScriptServer:
    """Threaded server on 127.0.0.1 (TLS when given a ``context``); ``url`` is its root."""

    def __init__(self, handler: Callable[[Request], Reply], context: ssl.SSLContext | None = None):
        self.handler = handler
        self.connections = 0
        self.sockets: list[socket.socket] = []
        server = self

        class Handler(QuietHandler):
            def setup(self):
                server.connections += 1
                server.sockets.append(self.request)
                super().setup()

            def do_GET(self):
                req = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, server.port)
                reply = server.handler(req)
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.stream is None:
                    if "Content-Length" not in reply.headers:
                        self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                try:
                    for piece in reply.stream:
                        self.wfile.write(piece)
                        self.wfile.flush()
                except OSError:
                    pass

        class Server(QuietServer):
            def get_request(self):
                sock, addr = super().get_request()
                if context is not None:
                    sock = context.wrap_socket(sock, server_side=True)
                return sock, addr

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"{'https' if context else 'http'}://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def drop_connections(self) -> None:
        """Hang up on every client (as a server does with idle kept-alive connections)."""
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "ScriptServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Recorder:
    """A handler answering from a table (path → Reply, or ``(request, n) → Reply`` where n counts
    the requests for that path) and remembering every request."""

    def __init__(self, table):
        self.table = table
        self.requests: list[Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
            n = sum(1 for r in self.requests if r.path == request.path)
        answer = self.table.get(request.path, Reply(404))
        return answer(request, n) if callable(answer) else answer

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def self_signed(folder: Path, *names: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and ``names`` (openssl; the caller skips when it is missing)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    alt = ",".join(["IP:127.0.0.1", *(f"DNS:{n}" for n in names)])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=interview-export test", "-addext", f"subjectAltName={alt}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class TunnelProxy:
    """An HTTP proxy on 127.0.0.1 that answers ``CONNECT`` by tunnelling to ``port`` on 127.0.0.1,
    whatever host was asked for; ``asked`` lists the CONNECT request lines."""

    def __init__(self, port: int):
        self.asked: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target = port
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                piece = client.recv(4096)
                if not piece:
                    return
                head += piece
            self.asked.append(head.split(b"\r\n", 1)[0].decode())
            with socket.create_connection(("127.0.0.1", self.target)) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pair = {client: upstream, upstream: client}
                while True:
                    ready, _, _ = select.select(list(pair), [], [], 5)
                    if not ready:
                        return
                    for sock in ready:
                        data = sock.recv(65536)
                        if not data:
                            return
                        pair[sock].sendall(data)

    def close(self) -> None:
        self.listener.close()
