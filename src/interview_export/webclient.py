"""A URL and headers → a streamed HTTP/1.1 response, on the standard library's ``http.client``.

The fetcher's transport (it replaced httpx + httpcore: ~35 ms of imports on every book with an
image URL). One pool of kept-alive connections per scheme, host, port and proxy, shared by the
download threads; an idle connection the server has closed is dropped before use, and a request
that fails on a reused connection is sent once more on a fresh one. Direct connections open where
``netpolicy.Policy.resolve`` says (one DNS lookup, every answer checked, those very addresses dialled
in turn until one answers, as ``socket.create_connection`` does); the lookup, each dial, a proxy's
answer to ``CONNECT`` and the TLS handshake each wait at most the connect timeout (in all, not per
piece read) and never past the request's deadline.
Proxies come from ``HTTP(S)_PROXY``/``ALL_PROXY`` minus ``NO_PROXY`` (read as urllib reads them):
``http://`` URLs are sent to the proxy in absolute form, ``https://`` ones through a ``CONNECT``
tunnel. TLS verifies against certifi's roots (``SSL_CERT_FILE``/``SSL_CERT_DIR`` win, as in httpx),
loaded on the first ``https://`` URL only. Bodies are decoded (gzip, deflate, and br when the
``brotli`` package is installed) in pieces of at most ``CHUNK`` bytes, so a caller's byte cap also
stops a compression bomb. A request may carry an overall deadline that every read of its answer
keeps (status line, headers and body alike). Failures are ``TransportError`` subclasses named like
httpx's.
"""

from __future__ import annotations

import functools
import http.client
import io
import os
import re
import select
import socket
import threading
import time
import zlib
from typing import Iterator
from urllib.parse import unquote, urlsplit

from .netpolicy import Policy, lookup

CHUNK = 64 * 1024


class TransportError(Exception):
    """A request that got no usable answer; the class name says which step failed."""


class ConnectError(TransportError):
    """The host could not be reached (refused, unreachable, no such name, TLS handshake failed)."""


class ConnectTimeout(TransportError):
    """No connection within the connect timeout."""


class LookupTimeout(ConnectTimeout):
    """The host name lookup did not answer within the connect timeout."""


class HandshakeTimeout(ConnectTimeout):
    """The host took the connection but did not finish the TLS handshake within the connect timeout."""


class ReadTimeout(TransportError):
    """No data within the read timeout."""


class WriteTimeout(TransportError):
    """The request could not be sent within the timeout."""


class DeadlineExceeded(TransportError):
    """The request's overall deadline passed while its answer was being read (a trickling server)."""


class ReadError(TransportError):
    """The connection broke while reading the answer."""


class WriteError(TransportError):
    """The connection broke while sending the request."""


class RemoteProtocolError(TransportError):
    """The server broke HTTP/1.1: no status line, a body shorter than declared, a bad chunk."""


class DecodingError(TransportError):
    """A body that its ``Content-Encoding`` does not decode."""


class ProxyError(TransportError):
    """The proxy refused the tunnel, or a proxy of a kind this client does not speak."""


class InvalidURL(TransportError):
    """A URL that cannot be put on the wire (bad port, bad host name, control characters)."""


# ---------------------------------------------------------------- URLs
_HOST = re.compile(r"[A-Za-z0-9\-._~:%]+")   # names, IPv4, IPv6 (brackets already gone), zone ids
_UNSAFE = re.compile(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%\[\]]+")


def _quote(text: str) -> str:
    """Percent-encode what may not stand in a request line (spaces, non-ASCII, stray ``%``)."""
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogatepass")), text)


class Target:
    """One URL taken apart for the wire: scheme, ASCII host, port, request path, Host header."""

    __slots__ = ("scheme", "host", "port", "path", "authority", "url", "auth")

    def __init__(self, url: str):
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:   # "Invalid IPv6 URL", a port out of range
            raise InvalidURL(f"{exc}: {url}") from None
        self.scheme = parts.scheme.lower()
        host = parts.hostname or ""
        if not host:
            raise InvalidURL(f"no host in {url}")
        try:
            host = host.encode("idna").decode("ascii") if not host.isascii() else host
        except UnicodeError as exc:
            raise InvalidURL(f"host name {host!r}: {exc}") from None
        if not _HOST.fullmatch(host):
            raise InvalidURL(f"host name {host!r} has characters a host name cannot have")
        self.host = host
        self.port = port or (443 if self.scheme == "https" else 80)
        shown = f"[{host}]" if ":" in host else host
        self.authority = shown if port is None else f"{shown}:{port}"
        self.path = _quote(parts.path or "/") + (f"?{_quote(parts.query)}" if parts.query else "")
        self.url = f"{self.scheme}://{self.authority}{self.path}"
        self.auth = _basic(parts.username, parts.password) if parts.username is not None else ""


def _basic(user: str | None, password: str | None) -> str:
    import base64

    pair = f"{unquote(user or '')}:{unquote(password or '')}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


# ---------------------------------------------------------------- proxies and TLS
def _proxy_parts(proxy: str):
    """A proxy URL taken apart (``http://`` when it names no scheme), and its Proxy-Authorization
    value ("" when it names no user)."""
    p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return p, (_basic(p.username, p.password) if p.username else "")


class Proxies:
    """The proxy for a URL, from the environment as urllib reads it (nothing set: no urllib)."""

    def __init__(self):
        self._table: dict[str, str] = {}
        if any(key.lower().endswith("_proxy") for key in os.environ):
            import urllib.request

            self._table = urllib.request.getproxies_environment()
            self._bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]

    def for_target(self, target: Target) -> str:
        """The proxy URL to go through ("" for a direct connection)."""
        proxy = self._table.get(target.scheme) or self._table.get("all") or ""
        if proxy and self._bypass(target.host, self._table):
            return ""
        return proxy


@functools.lru_cache(maxsize=4)
def tls_context(cafile: str | None, capath: str | None):
    """A verifying client context: the given roots, else certifi's (httpx's default store)."""
    import ssl

    if not cafile and not capath:
        import certifi

        cafile = certifi.where()
    context = ssl.create_default_context(cafile=cafile, capath=capath)
    context.set_alpn_protocols(["http/1.1"])
    return context


def _tls():
    return tls_context(os.environ.get("SSL_CERT_FILE") or None,
                       None if os.environ.get("SSL_CERT_FILE") else os.environ.get("SSL_CERT_DIR") or None)


def _dial(host: str, port: int, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout)
    except TimeoutError as exc:
        raise ConnectTimeout(str(exc) or "timed out") from None
    except OSError as exc:
        raise ConnectError(str(exc)) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _wait(timeout: float, deadline: float | None, step: str) -> float:
    """How long `step` may wait: `timeout`, cut to what is left before `deadline`."""
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded(f"the overall deadline passed before {step}")
    return min(timeout, left)


def _passed(deadline: float | None) -> bool:
    """Whether `deadline` (``time.monotonic()`` seconds; None: no deadline) has passed."""
    return deadline is not None and time.monotonic() >= deadline


def _addresses(host: str, port: int, timeout: float, deadline: float | None, resolve=lookup) -> list[str]:
    """`resolve(host, port, wait)` (``netpolicy.lookup`` or a policy's resolve) within the connect
    timeout and the deadline, its failures as this module's errors (AddressRefused passes through)."""
    wait = _wait(timeout, deadline, f"looking up {host}")
    try:
        return resolve(host, port, wait)
    except TimeoutError as exc:
        if _passed(deadline):
            raise DeadlineExceeded(f"the overall deadline passed while looking up {host}") from None
        raise LookupTimeout(str(exc)) from None
    except OSError as exc:     # DNS failures: the fetcher reads the resolver's words
        raise ConnectError(str(exc)) from None


def _dial_first(addresses: list[str], port: int, timeout: float, deadline: float | None) -> socket.socket:
    """The first of `addresses` that takes a connection (each within `timeout` and the deadline);
    else the last failure."""
    for address in addresses[:-1]:
        try:
            return _dial(address, port, _wait(timeout, deadline, "connecting"))
        except (ConnectError, ConnectTimeout):
            continue
    try:
        return _dial(addresses[-1], port, _wait(timeout, deadline, "connecting"))
    except ConnectTimeout:
        if _passed(deadline):
            raise DeadlineExceeded("the overall deadline passed while connecting") from None
        raise


def _handshake(sock: socket.socket, host: str, timeout: float, deadline: float | None) -> socket.socket:
    """The TLS handshake with `host`, all of it within `timeout` and the deadline (the ssl module
    keeps one time limit for the whole handshake: a server trickling its bytes cannot stretch it)."""
    try:
        sock.settimeout(_wait(timeout, deadline, "the TLS handshake"))
        return _tls().wrap_socket(sock, server_hostname=host)
    except TimeoutError:
        sock.close()
        if _passed(deadline):
            raise DeadlineExceeded("the overall deadline passed during the TLS handshake") from None
        raise HandshakeTimeout(f"not finished within {timeout:g}s") from None
    except OSError as exc:  # ssl.SSLError (certificate refused) is an OSError
        sock.close()
        raise ConnectError(str(exc)) from None
    except BaseException:
        sock.close()
        raise


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _tunnel(sock: socket.socket, host: str, port: int, auth: str, timeout: float, deadline: float | None) -> None:
    """Ask an HTTP proxy for a ``CONNECT`` tunnel to the target's host and port; its whole answer
    read within `timeout` and the deadline (not each piece: a proxy trickling it cannot stretch it)."""
    authority = _hostport(host, port)
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if auth:
        lines.append(f"Proxy-Authorization: {auth}")
    limit = _Limit(timeout, deadline)
    try:
        sock.settimeout(_wait(timeout, deadline, "asking the proxy for a tunnel"))
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        answer = http.client.HTTPResponse(_TimedSocket(limit, sock), method="CONNECT")   # type: ignore[arg-type]
        answer.begin()
    except (TimeoutError, DeadlineExceeded) as exc:
        sock.close()
        if _passed(deadline):
            raise DeadlineExceeded("the overall deadline passed while asking the proxy for a tunnel") from None
        raise ConnectTimeout(str(exc) if isinstance(exc, TimeoutError) and str(exc)
                             else f"proxy did not answer CONNECT within {timeout:g}s") from None
    except (OSError, http.client.HTTPException) as exc:
        sock.close()
        raise ProxyError(f"proxy tunnel failed ({type(exc).__name__}: {exc})") from None
    except BaseException:
        sock.close()
        raise
    if answer.status != 200:
        sock.close()
        raise ProxyError(f"proxy answered CONNECT with {answer.status} {answer.reason}".strip())


# ---------------------------------------------------------------- connections
class _Connection(http.client.HTTPConnection):
    """An ``http.client`` connection whose ``connect()`` opens the socket our way and whose answers
    are read under the request's ``deadline`` (monotonic seconds, or None) as well as ``timeout``."""

    def __init__(self, opener, key, generation: int, timeout: float):
        super().__init__(key[1], key[2])
        self._opener, self.key, self.generation, self.reused = opener, key, generation, False
        self.read_timeout: float = timeout
        self.deadline: float | None = None
        self.response_class = functools.partial(_TimedResponse, self)   # type: ignore[assignment]

    def connect(self) -> None:
        self.sock = self._opener(self.key, self.deadline)


class _Limit:
    """What :class:`_TimedReader` asks a connection for, for a read that is not a request's answer
    (a proxy's answer to ``CONNECT``): all of it within ``timeout`` from now and the ``deadline``."""

    def __init__(self, timeout: float, deadline: float | None):
        end = time.monotonic() + timeout
        self.read_timeout, self.deadline = timeout, end if deadline is None else min(end, deadline)


class _TimedResponse(http.client.HTTPResponse):
    """``http.client``'s response, reading through :class:`_TimedReader`."""

    def __init__(self, conn: _Connection, sock, *args, **kwargs):
        super().__init__(_TimedSocket(conn, sock), *args, **kwargs)   # type: ignore[arg-type]


class _TimedSocket:
    """What ``HTTPResponse`` asks a socket for: ``makefile("rb")``, here a buffered :class:`_TimedReader`."""

    def __init__(self, conn: _Connection, sock):
        self._conn, self._sock = conn, sock

    def makefile(self, mode: str):
        return io.BufferedReader(_TimedReader(self._conn, self._sock))


class _TimedReader(io.RawIOBase):
    """The socket's own reader (``makefile``: the socket stays open while it is), each read waiting
    at most the read timeout and never past the connection's deadline, so a server sending a byte
    now and then cannot stretch a status line, headers or chunk sizes."""

    def __init__(self, conn: _Connection, sock):
        self._conn, self._sock, self._raw = conn, sock, sock.makefile("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        deadline = self._conn.deadline
        self._sock.settimeout(_wait(self._conn.read_timeout, deadline, "reading the answer"))
        try:
            return self._raw.readinto(buffer)
        except TimeoutError:
            if _passed(deadline):
                raise DeadlineExceeded("the overall deadline passed while reading the answer") from None
            raise

    def close(self) -> None:
        self._raw.close()
        super().close()


def _is_stale(conn: _Connection) -> bool:
    """An idle connection with something to read has been closed (or spoken to) by the server."""
    sock = conn.sock
    if sock is None:
        return True
    if getattr(sock, "pending", lambda: 0)():
        return True
    try:
        if hasattr(select, "poll"):   # no FD_SETSIZE limit
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class Response:
    """A status line and headers; the body is read by ``chunks()``. Close it (or use ``with``)."""

    def __init__(self, client: "Client", conn: _Connection, raw: http.client.HTTPResponse, url: str):
        self._client, self._conn = client, conn
        self._raw: http.client.HTTPResponse | None = raw
        self.url = url
        self.status = raw.status
        self.reason = raw.reason.strip() or http.client.responses.get(raw.status, "")
        self.headers = raw.headers
        self._complete = raw.status in (204, 304) or raw.headers.get("content-length", "").strip() == "0"
        self.received = 0

    def header(self, name: str) -> str:
        """A header's value ("" if absent; repeated headers joined with ", ")."""
        return ", ".join(self.headers.get_all(name) or ())

    def chunks(self) -> Iterator[bytes]:
        """The decoded body, piece by piece (each at most ``CHUNK`` bytes; ``b""`` for a piece read
        that decoded to nothing, so the caller still checks its clock); ``received`` counts the
        bytes read off the wire."""
        raw_response = self._raw
        if raw_response is None:
            raise ReadError("the response was closed before its body was read")
        declared = self.header("content-length").strip()
        expected = int(declared) if declared.isdigit() and not raw_response.chunked else None
        decode = _decoder(self.header("content-encoding"))
        while True:
            try:
                raw = raw_response.read1(CHUNK)
            except TimeoutError as exc:
                raise ReadTimeout(str(exc) or "timed out") from None
            except http.client.IncompleteRead:
                raise RemoteProtocolError("peer closed connection without sending complete message body"
                                          " (incomplete chunked read)") from None
            except http.client.HTTPException as exc:
                raise RemoteProtocolError(f"{type(exc).__name__}: {exc}") from None
            except (OSError, ValueError) as exc:   # ValueError: the socket file closed under us
                raise ReadError(str(exc) or type(exc).__name__) from None
            if not raw:
                break
            self.received += len(raw)
            decoded = False
            for piece in decode(raw):
                decoded = True
                yield piece
            if not decoded:    # e.g. bytes after the end of a gzip stream, empty deflate blocks
                yield b""
        if expected is not None and self.received < expected:
            raise RemoteProtocolError("peer closed connection without sending complete message body"
                                      f" (received {self.received} bytes, expected {expected})")
        yield from decode(b"")
        self._complete = True

    def close(self) -> None:
        """Hand the connection back for reuse if the body was read to its end, else close it."""
        raw, self._raw = self._raw, None
        if raw is None:
            return
        keep = self._complete and not raw.will_close
        raw.close()
        self._conn.deadline = None
        if keep and self._conn.sock is not None:   # the next request's send: the whole timeout again
            self._conn.sock.settimeout(self._conn.read_timeout)
        self._client._release(self._conn, keep)

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Client:
    """Sends GET requests; thread-safe; connections kept per scheme, host, port and proxy."""

    def __init__(self, policy: Policy, *, timeout: float, connect_timeout: float, max_idle: int = 8,
                 headers: dict[str, str] | None = None):
        self.policy = policy
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max(1, max_idle)
        self.headers = dict(headers or {})
        self.headers.setdefault("Accept-Encoding", accept_encoding())
        self.headers.setdefault("Connection", "keep-alive")
        self.proxies = Proxies()
        self.keys_opened: set[tuple[str, str]] = set()   # (scheme, proxy) of every connection made
        self._idle: dict[tuple, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._generation = 0

    # -- connections
    def _open(self, key, deadline: float | None = None) -> socket.socket:
        scheme, host, port, proxy = key
        with self._lock:
            self.keys_opened.add((scheme, proxy))
        if not proxy:
            addresses = _addresses(host, port, self.connect_timeout, deadline, self.policy.resolve)
            sock = _dial_first(addresses, port, self.connect_timeout, deadline)
        else:
            p, auth = _proxy_parts(proxy)
            if p.scheme not in ("http", "https") or (p.scheme == "https" and scheme == "https"):
                raise ProxyError(f"proxy {p.scheme}://{p.hostname} is not supported for {scheme}:// URLs"
                                 " (use an http:// proxy)")
            proxy_port = p.port or (443 if p.scheme == "https" else 80)
            sock = _dial_first(_addresses(p.hostname or "", proxy_port, self.connect_timeout, deadline),
                               proxy_port, self.connect_timeout, deadline)
            if p.scheme == "https":
                sock = _handshake(sock, p.hostname or "", self.connect_timeout, deadline)
            if scheme == "https":
                _tunnel(sock, host, port, auth, self.connect_timeout, deadline)
        if scheme == "https":
            sock = _handshake(sock, host, self.connect_timeout, deadline)
        sock.settimeout(self.timeout)
        return sock

    def _checkout(self, key, fresh: bool) -> _Connection:
        with self._lock:
            idle = self._idle.get(key) or []
            while idle and not fresh:
                conn = idle.pop()
                if not _is_stale(conn):
                    conn.reused = True
                    return conn
                conn.close()
            return _Connection(self._open, key, self._generation, self.timeout)

    def _release(self, conn: _Connection, keep: bool) -> None:
        with self._lock:
            idle = self._idle.setdefault(conn.key, [])
            if keep and conn.sock is not None and len(idle) < self.max_idle \
                    and conn.generation == self._generation:
                idle.append(conn)
                return
        conn.close()

    # -- requests
    def get(self, url: str, headers: dict[str, str] | None = None, deadline: float | None = None) -> Response:
        """Send ``GET url``; the answer's status and headers are read, its body is not. No read of
        the answer (body too) goes past `deadline` (``time.monotonic()``): ``DeadlineExceeded``."""
        target = Target(url)
        proxy = self.proxies.for_target(target)
        key = (target.scheme, target.host, target.port, proxy)
        lines = {"Host": target.authority, **self.headers, **(headers or {})}
        if target.auth:
            lines["Authorization"] = target.auth
        path = target.path
        if proxy and target.scheme == "http":
            path = target.url
            auth = _proxy_parts(proxy)[1]
            if auth:
                lines["Proxy-Authorization"] = auth
        for fresh in (False, True):
            conn = self._checkout(key, fresh)
            conn.deadline = deadline
            try:
                return Response(self, conn, self._send(conn, path, lines), target.url)
            except _Stale:
                conn.close()       # the server dropped a kept-alive connection: once more, fresh
                continue
            except BaseException:
                conn.close()
                raise
        raise RemoteProtocolError("server closed the connection twice without answering")

    def _send(self, conn: _Connection, path: str, lines: dict[str, str]) -> http.client.HTTPResponse:
        reused, sent = conn.reused, False
        try:
            conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
            for name, value in lines.items():
                conn.putheader(name, value)
            conn.endheaders()
            sent = True
            return conn.getresponse()
        except TransportError:
            raise
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            if reused:
                raise _Stale() from None
            if not sent:
                raise WriteError(str(exc) or type(exc).__name__) from None
            raise RemoteProtocolError(f"server disconnected without sending a response ({exc})") from None
        except TimeoutError as exc:
            raise (ReadTimeout if sent else WriteTimeout)(str(exc) or "timed out") from None
        except ValueError as exc:   # http.client refuses control characters in the URL or a header
            raise InvalidURL(str(exc)) from None
        except http.client.HTTPException as exc:
            raise RemoteProtocolError(f"{type(exc).__name__}: {exc}") from None
        except OSError as exc:
            raise (ReadError if sent else WriteError)(str(exc) or type(exc).__name__) from None

    def close(self) -> None:
        """Close the idle connections; connections in use are closed when handed back."""
        with self._lock:
            self._generation += 1
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()


class _Stale(Exception):
    """A reused connection the server had closed: the request goes out again on a new one."""


# ---------------------------------------------------------------- content decoding
@functools.lru_cache(maxsize=1)
def accept_encoding() -> str:
    """What we can decode: gzip and deflate, and br when the brotli package is installed."""
    import importlib.util

    return "gzip, deflate, br" if importlib.util.find_spec("brotli") else "gzip, deflate"


def _decoder(encoding: str):
    """``decode(bytes)`` → an iterator of decoded pieces; ``decode(b"")`` flushes."""
    stage = _identity
    for name in (e.strip().lower() for e in encoding.split(",")):   # applied in order: undone last first
        make = _DECODERS.get(name)
        if make is not None:   # identity and unknown codings pass through, as in httpx
            stage = _chain(make(), stage)
    return stage


def _identity(data: bytes) -> Iterator[bytes]:
    if data:
        yield data


def _chain(decode, outer):
    def run(data: bytes) -> Iterator[bytes]:
        for piece in decode(data):
            yield from outer(piece)
        if not data:
            yield from outer(b"")
    return run


def _zlib(wbits: int, fallback: int | None = None):
    """gzip or deflate; ``fallback``: the window to retry the first piece with (raw deflate)."""
    d = zlib.decompressobj(wbits)
    first = True

    def decode(data: bytes) -> Iterator[bytes]:
        nonlocal d, first
        try:
            if d.eof:        # bytes after the end of the stream: ignored (not kept in unused_data)
                return
            if not data:
                rest = d.flush()
                if rest:
                    yield rest
                return
            try:
                out = d.decompress(data, CHUNK)
            except zlib.error:
                if not (first and fallback is not None):
                    raise
                d = zlib.decompressobj(fallback)   # deflate sent without its zlib header
                out = d.decompress(data, CHUNK)
            first = False
            while True:
                if out:
                    yield out
                if not d.unconsumed_tail:
                    break
                out = d.decompress(d.unconsumed_tail, CHUNK)
        except zlib.error as exc:
            raise DecodingError(str(exc)) from None
    return decode


def _brotli():
    import brotli

    d = brotli.Decompressor()

    def decode(data: bytes) -> Iterator[bytes]:
        try:
            if data and not hasattr(d, "can_accept_more_data"):   # brotli < 1.1: no output limit
                yield d.process(data)
            elif data:
                out = d.process(data, output_buffer_limit=CHUNK)
                while True:
                    if out:
                        yield out
                    if d.can_accept_more_data():
                        break
                    out = d.process(b"", output_buffer_limit=CHUNK)
        except brotli.error as exc:
            raise DecodingError(str(exc)) from None
    return decode


_DECODERS = {
    "gzip": lambda: _zlib(zlib.MAX_WBITS | 16),
    "x-gzip": lambda: _zlib(zlib.MAX_WBITS | 16),
    "deflate": lambda: _zlib(zlib.MAX_WBITS, -zlib.MAX_WBITS),
    "br": _brotli,
}
