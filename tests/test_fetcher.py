"""fetcher.Fetcher: the one outside-I/O object (timeouts, cap, redirects, retries, mirrors, cache, offline)."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import socket
import sys
import threading
import time
import zlib

import pytest

from interview_export.cache import Cache
from interview_export.errors import ImageError
from interview_export.fetcher import Fetcher, apply_mirrors, user_agent
from interview_export.options import Options
from script_server import Recorder, Reply, ScriptServer

from fault_server import FaultServer, dead_port
from helpers import png_bytes

PNG = png_bytes()
LOCAL = ("127.0.0.1",)   # the fault server's host: trusted explicitly, as --allow-host does
X = "https://x.test/"    # the tests' image host, mirrored onto a scripted server on 127.0.0.1


@contextlib.contextmanager
def mock(handler, **kw):
    """A fetcher whose ``https://x.test/`` is a ScriptServer answering with ``handler``."""
    kw.setdefault("backoff", 0.001)
    kw.setdefault("allow_hosts", LOCAL)
    with ScriptServer(handler) as srv:
        kw["mirrors"] = ((X, srv.url), *kw.get("mirrors", ()))
        with Fetcher(**kw) as f:
            f.server = srv
            yield f


@contextlib.contextmanager
def connections_counted(monkeypatch):
    """Every connection attempt's port, in order (socket.create_connection is what webclient dials)."""
    attempts: list[tuple[int, float]] = []
    real = socket.create_connection

    def counting(address, *a, **kw):
        attempts.append((address[1], time.monotonic()))
        return real(address, *a, **kw)

    monkeypatch.setattr(socket, "create_connection", counting)
    yield attempts


def test_apply_mirrors_uses_the_longest_matching_prefix():
    mirrors = (("https://cdn.jsdelivr.net/", "http://127.0.0.1:9/"),
               ("https://cdn.jsdelivr.net/gh/special/", "http://127.0.0.1:8/s/"))
    assert apply_mirrors("https://cdn.jsdelivr.net/gh/a/x.png", mirrors) == "http://127.0.0.1:9/gh/a/x.png"
    assert apply_mirrors("https://cdn.jsdelivr.net/gh/special/x.png", mirrors) == "http://127.0.0.1:8/s/x.png"
    assert apply_mirrors("https://example.org/x.png", mirrors) == "https://example.org/x.png"


def test_mirror_is_applied_before_fetching_and_user_agent_is_ours():
    rec = Recorder({"/m/gh/x.png": Reply(200, PNG)})
    with ScriptServer(rec) as srv, Fetcher(mirrors=(("https://cdn.jsdelivr.net/", srv.url + "m/"),)) as f:
        got = f.fetch("https://cdn.jsdelivr.net/gh/x.png")
    assert got.data == PNG and got.url == "https://cdn.jsdelivr.net/gh/x.png"
    assert got.final_url == srv.url + "m/gh/x.png"
    assert rec.paths == ["/m/gh/x.png"]
    ua = rec.requests[0].headers["user-agent"]
    assert ua == user_agent() and ua.startswith("interview-export/")
    assert rec.requests[0].headers["accept"] == "image/*,*/*;q=0.5"


def test_user_agent_names_the_installed_versions():
    # user_agent() reads version.py (no metadata scan): it must be what is installed, so
    # version.py cannot drift from pyproject's version
    import platform
    from importlib.metadata import version

    assert user_agent() == (f"interview-export/{version('interview-export')}"
                            f" (Python-http.client/{platform.python_version()})")


@pytest.mark.parametrize("url", ["ftp://example.org/a.png", "file:///etc/passwd", "gopher://x/1"])
def test_other_schemes_are_refused_without_a_request(url):
    rec = Recorder({})
    with mock(rec) as f, pytest.raises(ImageError, match="scheme"):
        f.fetch(url)
    assert rec.requests == [] and f.network_requests == 0


def test_mirror_to_a_forbidden_scheme_is_refused():
    with mock(Recorder({}), mirrors=(("https://y.test/", "file:///etc/"),)) as f:
        with pytest.raises(ImageError, match="scheme 'file'"):
            f.fetch("https://y.test/passwd")


def test_500_then_200_is_retried():
    rec = Recorder({"/a.png": lambda req, n: Reply(500 if n == 1 else 200, PNG)})
    with mock(rec, retries=3) as f:
        assert f.fetch(X + "a.png").data == PNG
    assert len(rec.requests) == 2


def test_429_honours_retry_after_then_succeeds():
    rec = Recorder({"/a.png": lambda req, n: Reply(429, headers={"Retry-After": "0"}) if n == 1 else Reply(200, PNG)})
    with mock(rec) as f:
        assert f.fetch(X + "a.png").data == PNG
    assert len(rec.requests) == 2


def test_404_is_not_retried():
    rec = Recorder({"/a.png": Reply(404)})
    with mock(rec, retries=3) as f, pytest.raises(ImageError, match="HTTP 404"):
        f.fetch(X + "a.png")
    assert len(rec.requests) == 1


def test_persistent_5xx_gives_up_after_the_retries():
    rec = Recorder({"/a.png": Reply(503)})
    with mock(rec, retries=2) as f, pytest.raises(ImageError, match=r"HTTP 503 Service Unavailable.*3 attempts"):
        f.fetch(X + "a.png")
    assert len(rec.requests) == 3


def test_connection_errors_are_retried_with_backoff(monkeypatch):
    port = dead_port()
    with connections_counted(monkeypatch) as calls, \
            Fetcher(retries=2, backoff=0.05, mirrors=((X, f"http://127.0.0.1:{port}/"),)) as f, \
            pytest.raises(ImageError, match=r"connection failed \(ConnectError: .*refused"):
        f.fetch(X + "a.png")
    assert len(calls) == 3
    gaps = [b[1] - a[1] for a, b in zip(calls, calls[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # exponential backoff


def test_an_unreachable_host_is_given_up_once_not_per_image(monkeypatch):
    dead, alive = dead_port(), dead_port()
    mirrors = (("https://dead.test/", f"http://127.0.0.1:{dead}/"), ("https://alive.test/", f"http://127.0.0.1:{alive}/"))
    urls = [f"https://dead.test/{i}.png" for i in range(20)] + ["https://alive.test/x.png"]
    with connections_counted(monkeypatch) as calls, \
            Fetcher(retries=2, backoff=0.01, max_workers=2, mirrors=mirrors) as f:
        res = f.fetch_many(urls)
    ports = [port for port, _ in calls]
    assert all(isinstance(r, ImageError) for r in res.values())
    assert ports.count(dead) <= 2 * 3  # only the two first downloads really tried
    assert ports.count(alive) == 3     # another host is not affected
    assert sum("unreachable" in r.reason for r in res.values()) >= 18


def test_redirects_are_followed_up_to_the_limit():
    table = {f"/r{i}": Reply(302, headers={"Location": f"/r{i - 1}"}) for i in range(1, 8)}
    table["/r0"] = Reply(200, PNG)
    rec = Recorder(table)
    with mock(rec) as f:
        assert f.fetch(X + "r5").final_url == f.server.url + "r0"
        with pytest.raises(ImageError, match="too many redirects"):
            f.fetch(X + "r7")


def test_redirect_loop_is_named():
    rec = Recorder({"/a": Reply(301, headers={"Location": X + "b"}),   # absolute: mirrored again
                    "/b": Reply(301, headers={"Location": "/a"})})
    with mock(rec) as f, pytest.raises(ImageError, match="redirect loop"):
        f.fetch(X + "a")
    assert len(rec.requests) == 2


def test_redirect_to_file_scheme_is_refused():
    rec = Recorder({"/a": Reply(302, headers={"Location": "file:///etc/passwd"})})
    with mock(rec) as f, pytest.raises(ImageError, match="scheme 'file'"):
        f.fetch(X + "a")


def test_declared_length_over_the_cap_is_refused():
    rec = Recorder({"/a.png": Reply(200, b"x" * 5000)})
    with mock(rec, max_bytes=1000) as f, pytest.raises(ImageError, match=r"too large \(5000 bytes declared"):
        f.fetch(X + "a.png")


def test_endless_body_is_aborted_at_the_cap():
    produced, stopped = [], threading.Event()

    def endless():
        try:
            while len(produced) < 100_000:   # 100 MB: a client that never stops fails the test
                produced.append(1)
                yield b"\0" * 1024
        finally:
            stopped.set()

    rec = Recorder({"/a.png": lambda req, n: Reply(200, stream=endless())})
    with mock(rec, max_bytes=64 * 1024) as f, pytest.raises(ImageError, match="too large"):
        f.fetch(X + "a.png")
    assert 64 * 1024 < f._bytes_read <= 2 * 64 * 1024   # read past the cap by at most one piece
    assert stopped.wait(10) and len(produced) < 100_000, "the server was never hung up on"


def test_cache_serves_the_second_fetch_without_a_request(tmp_path):
    rec = Recorder({"/a.png": Reply(200, PNG, headers={"ETag": '"e1"'})})
    with mock(rec, cache=Cache(tmp_path)) as f:
        first = f.fetch(X + "a.png")
    with mock(rec, cache=Cache(tmp_path)) as f:
        second = f.fetch(X + "a.png")
        assert f.network_requests == 0
    assert not first.from_cache and second.from_cache and second.data == PNG
    assert len(rec.requests) == 1
    assert Cache(tmp_path).get(X + "a.png").etag == '"e1"'


def test_bodies_failing_the_check_are_not_cached(tmp_path):
    rec = Recorder({"/a.png": Reply(200, b"<html>login</html>")})

    def check(data):
        if data.startswith(b"<"):
            raise ImageError("x", "not an image")

    with mock(rec, cache=Cache(tmp_path)) as f, pytest.raises(ImageError, match="not an image") as info:
        f.fetch(X + "a.png", check=check)
    assert info.value.src == X + "a.png"
    assert Cache(tmp_path).get(X + "a.png") is None


def test_offline_uses_only_the_cache(tmp_path):
    Cache(tmp_path).put(X + "have.png", PNG)
    rec = Recorder({})
    with mock(rec, cache=Cache(tmp_path), offline=True) as f:
        assert f.fetch(X + "have.png").data == PNG
        with pytest.raises(ImageError, match="offline"):
            f.fetch(X + "missing.png")
    assert rec.requests == []


def test_revalidation_sends_validators_and_accepts_304(tmp_path):
    Cache(tmp_path).put(X + "a.png", PNG, etag='"v1"', last_modified="Wed, 21 Oct 2015 07:28:00 GMT")
    seen = []

    def handler(request):
        seen.append((request.headers.get("if-none-match"), request.headers.get("if-modified-since")))
        return Reply(304)

    with mock(handler, cache=Cache(tmp_path), revalidate=True) as f:
        got = f.fetch(X + "a.png")
    assert seen == [('"v1"', "Wed, 21 Oct 2015 07:28:00 GMT")] and got.data == PNG and got.from_cache


def test_fetch_many_runs_in_parallel_and_fetches_each_url_once():
    def slow(request, n):
        time.sleep(0.3)
        return Reply(200, PNG)

    rec = Recorder({f"/{i}.png": slow for i in range(8)})
    urls = [X + f"{i}.png" for i in range(8)] * 2
    with mock(rec, max_workers=8) as f:
        t0 = time.monotonic()
        results = f.fetch_many(urls)
        elapsed = time.monotonic() - t0
    assert len(results) == 8 and all(r.data == PNG for r in results.values())
    assert len(rec.requests) == 8
    assert elapsed < 1.5, f"8 × 0.3 s took {elapsed:.2f}s: not parallel"


def test_fetch_many_returns_failures_instead_of_raising():
    rec = Recorder({"/ok.png": Reply(200, PNG), "/no.png": Reply(404)})
    with mock(rec) as f:
        res = f.fetch_many([X + "ok.png", X + "no.png"])
    assert res[X + "ok.png"].data == PNG
    assert isinstance(res[X + "no.png"], ImageError)


def test_connections_are_kept_alive_and_shared_by_the_threads():
    rec = Recorder({f"/{i}.png": Reply(200, PNG) for i in range(12)})
    with mock(rec, max_workers=3) as f:
        for r in f.fetch_many([X + f"{i}.png" for i in range(12)]).values():
            assert r.data == PNG
        assert f.fetch(X + "0.png").data == PNG   # cache off: a 13th request, on a kept connection
    assert len(rec.requests) == 13 and f.server.connections <= 3


@pytest.mark.parametrize("looks_alive", [False, True])
def test_a_kept_connection_the_server_closed_is_replaced(monkeypatch, looks_alive):
    """Dropped while idle: seen before use (readable at EOF), or, when it still looks alive, the
    request fails on it and goes out once more on a new connection, unseen by the retry count."""
    from interview_export import webclient

    rec = Recorder({"/a.png": Reply(200, PNG), "/b.png": Reply(200, PNG, headers={"Connection": "close"}),
                    "/c.png": Reply(200, PNG)})
    with mock(rec, retries=0) as f:
        assert f.fetch(X + "a.png").data == PNG
        f.server.drop_connections()
        time.sleep(0.05)
        if looks_alive:
            monkeypatch.setattr(webclient, "_is_stale", lambda conn: False)
        assert f.fetch(X + "b.png").data == PNG     # the answer closes this one too
        assert f.fetch(X + "c.png").data == PNG
    assert rec.paths == ["/a.png", "/b.png", "/c.png"] and f.network_requests == 3
    assert f.server.connections == 3


def test_from_options_takes_the_policy(tmp_path):
    opts = Options(mirrors=(("a", "b"),), offline=True, cache_dir=tmp_path, max_image_bytes=123,
                   max_downloads=3, timeout=4.0)
    with Fetcher.from_options(opts) as f:
        assert (f.mirrors, f.offline, f.max_bytes, f.max_workers, f.timeout) == ((("a", "b"),), True, 123, 3, 4.0)
        assert f.cache.root == tmp_path
    with Fetcher.from_options(Options(use_cache=False)) as f:
        assert f.cache is None


# ------------------------------------------------------------ real sockets on 127.0.0.1
def test_real_server_slower_than_the_timeout_fails_fast():
    with FaultServer(slow_seconds=5) as srv, Fetcher(timeout=0.3, retries=1, backoff=0.01, allow_hosts=LOCAL) as f:
        t0 = time.monotonic()
        with pytest.raises(ImageError, match="timed out"):
            f.fetch(srv.url + "slow.png")
        assert time.monotonic() - t0 < 2


def test_real_server_dripping_bytes_hits_the_overall_deadline():
    with FaultServer() as srv, Fetcher(timeout=1.0, total_timeout=0.5, retries=0, allow_hosts=LOCAL) as f:
        t0 = time.monotonic()
        with pytest.raises(ImageError, match="longer than"):
            f.fetch(srv.url + "drip.png")
        assert time.monotonic() - t0 < 3


def test_a_download_started_late_stops_when_the_books_budget_ends():
    """The book's download budget bounds a download that began just before it ran out (before: it
    had its whole deadline again, so the book's downloads could last twice the budget)."""
    with FaultServer() as srv, Fetcher(timeout=5.0, total_timeout=10, budget_seconds=2, retries=0,
                                       allow_hosts=LOCAL) as f:
        t0 = time.monotonic()
        assert f.fetch(srv.url + "ok.png").data       # the budget's clock starts
        time.sleep(1.2)
        with pytest.raises(ImageError, match=r"download budget of this book used up \(2 s\)"):
            f.fetch(srv.url + "drip-headers.png")     # no body yet: only the deadline stops the wait
        assert time.monotonic() - t0 < 2.6


def test_real_server_dripping_its_headers_hits_the_overall_deadline():
    """The deadline holds while the status line and headers are read too (each byte within the read
    timeout, 5 s in all), not only between pieces of the body."""
    with FaultServer() as srv, Fetcher(timeout=1.0, total_timeout=0.5, retries=0, allow_hosts=LOCAL) as f:
        t0 = time.monotonic()
        with pytest.raises(ImageError, match="longer than 0.5s"):
            f.fetch(srv.url + "drip-headers.png")
        assert time.monotonic() - t0 < 2


def test_real_server_chunked_body_over_the_cap_is_aborted():
    with FaultServer(big_body_size=2_000_000) as srv, Fetcher(max_bytes=100_000, retries=0, allow_hosts=LOCAL) as f:
        with pytest.raises(ImageError, match="too large"):
            f.fetch(srv.url + "big-chunked.png")


def test_dead_port_fails_after_retries_quickly():
    url = f"http://127.0.0.1:{dead_port()}/x.png"
    with Fetcher(timeout=1.0, retries=2, backoff=0.01, allow_hosts=LOCAL) as f:
        t0 = time.monotonic()
        with pytest.raises(ImageError, match="connection failed.*3 attempts"):
            f.fetch(url)
        assert time.monotonic() - t0 < 3
        assert f.network_requests == 3


def test_real_server_sees_our_user_agent():
    with FaultServer() as srv, Fetcher(retries=0, allow_hosts=LOCAL) as f:
        assert f.fetch(srv.url + "ok.png").data == srv.ok_png
        assert srv.httpd.user_agents == [user_agent()]


def test_broken_gzip_body_is_an_image_error_not_a_crash():
    rec = Recorder({"/a.png": lambda req, n: Reply(200, stream=[b"definitely not gzip"],
                                                   headers={"Content-Encoding": "gzip"})})
    with mock(rec) as f, pytest.raises(ImageError, match=r"download failed \(DecodingError"):
        f.fetch(X + "a.png")


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate", "br", "gzip, gzip", "identity", "unknown"])
def test_content_encodings_are_decoded(coding):
    """gzip, deflate (with or without its zlib header), br (the brotli package is installed with
    fontTools), stacked codings; identity and unknown ones pass through (as httpx did)."""
    body, header = PNG, coding
    if coding == "br":
        brotli = pytest.importorskip("brotli")
        body = brotli.compress(PNG)
    elif coding == "raw-deflate":
        c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body, header = c.compress(PNG) + c.flush(), "deflate"
    elif coding == "deflate":
        body = zlib.compress(PNG)
    elif coding.startswith("gzip"):
        for _ in coding.split(","):
            body = gzip.compress(body)
    rec = Recorder({"/a.png": Reply(200, body, headers={"Content-Encoding": header})})
    with mock(rec) as f:
        assert f.fetch(X + "a.png").data == (PNG if coding != "unknown" else body)
    assert "gzip" in rec.requests[0].headers["accept-encoding"]


def test_a_gzip_bomb_is_stopped_at_the_cap_while_decoding():
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)   # 50 MB in ~50 KB
    rec = Recorder({"/a.png": Reply(200, bomb, headers={"Content-Encoding": "gzip"})})
    with mock(rec, max_bytes=1024 * 1024) as f, pytest.raises(ImageError, match="too large"):
        f.fetch(X + "a.png")
    assert f._bytes_read <= 1024 * 1024 + 64 * 1024    # decoded in pieces, not all at once


def test_a_body_shorter_than_declared_is_a_connection_failure():
    rec = Recorder({"/a.png": Reply(200, PNG[:20], headers={"Content-Length": str(len(PNG)), "Connection": "close"})})
    with mock(rec, retries=1) as f, pytest.raises(ImageError, match=r"connection failed \(RemoteProtocolError.*2 attempts"):
        f.fetch(X + "a.png")
    assert len(rec.requests) == 2


def test_unresolvable_host_fails_at_once_without_backoff(monkeypatch):
    """A DNS failure is final: no 0.5 + 1 + 2 s of retries per image on an offline machine."""
    calls = []

    def no_such_name(host, *a, **kw):
        calls.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    with Fetcher(backoff=0.5) as f:
        t0 = time.monotonic()
        with pytest.raises(ImageError, match=r"host name not found \(\[Errno -2\] Name or service not known\)"):
            f.fetch("http://no-such-host.invalid/a.png")
        with pytest.raises(ImageError, match="unreachable"):
            f.fetch("http://no-such-host.invalid/b.png")
        assert time.monotonic() - t0 < 0.5 and calls == ["no-such-host.invalid"]


@pytest.fixture
def hung_resolver(monkeypatch):
    """A resolver that does not answer for names (addresses still resolve): the names asked, in order.
    Its threads are let go (a gaierror) when the test ends."""
    release, asked = threading.Event(), []
    real = socket.getaddrinfo

    def hang(host, port, *a, **kw):
        if host.replace(".", "").isdigit():
            return real(host, port, *a, **kw)
        asked.append(host)
        release.wait(5)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    yield asked
    release.set()
    for thread in threading.enumerate():
        if thread.name.startswith("ie-dns-"):
            thread.join(5)


def test_a_dns_lookup_that_does_not_answer_times_out(hung_resolver):
    """The lookup waits the connect timeout, not as long as the resolver likes; the host is then dead
    (no retries), and lookups of it running at the same time share the one that hangs."""
    with Fetcher(connect_timeout=0.3, backoff=0.5, max_workers=4) as f:
        t0 = time.monotonic()
        with pytest.raises(ImageError, match=r"timed out \(host name lookup: no answer from the resolver "
                                             r"for slow-dns.example within 0.3s\)"):
            f.fetch("http://slow-dns.example/a.png")
        assert time.monotonic() - t0 < 1.5
        with pytest.raises(ImageError, match="unreachable"):
            f.fetch("http://slow-dns.example/b.png")
        results = f.fetch_many([f"http://other-dns.example/{i}.png" for i in range(4)])
        assert all("timed out (host name lookup" in str(r) or "unreachable" in str(r) for r in results.values())
        assert time.monotonic() - t0 < 3
    assert hung_resolver == ["slow-dns.example", "other-dns.example"]


def test_a_forked_child_does_not_wait_for_its_parents_lookup(hung_resolver):
    """A lookup under way when the process forks (a batch worker, the PDF process): the child has
    no such thread, so it asks the resolver itself instead of waiting for an answer that never comes."""
    import os
    import warnings

    from interview_export import netpolicy

    def ask():
        with contextlib.suppress(OSError):   # it times out, or the fixture lets it go
            netpolicy.lookup("forked.example", 80, 3)

    parent = threading.Thread(target=ask)
    parent.start()
    deadline = time.monotonic() + 5
    while "forked.example" not in hung_resolver and time.monotonic() < deadline:
        time.sleep(0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)    # Python 3.12: fork() with threads running
        pid = os.fork()
    if pid == 0:   # the child: its own lookup, answered at once
        try:
            socket.getaddrinfo = lambda *a, **kw: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80))]
            os._exit(0 if netpolicy.lookup("forked.example", 80, 2.0) == ["93.184.216.34"] else 1)
        finally:
            os._exit(2)
    assert os.waitpid(pid, 0)[1] == 0
    parent.join(0)


def test_a_dns_lookup_stops_at_the_download_deadline(hung_resolver):
    with Fetcher(connect_timeout=5, total_timeout=0.3, retries=0) as f:
        t0 = time.monotonic()
        with pytest.raises(ImageError, match=r"download took longer than 0.3s; aborted"):
            f.fetch("http://slower-dns.example/a.png")
        assert time.monotonic() - t0 < 1.5


def test_trusted_hosts_and_proxies_are_looked_up_within_the_timeout_too(hung_resolver, no_proxies, monkeypatch):
    """A --mirror target or a proxy given by name: its lookup is bounded the same way."""
    mirror = ("https://img.example/", "http://slow-mirror.example:9/")
    with Fetcher(connect_timeout=0.3, retries=0, mirrors=[mirror]) as f:
        with pytest.raises(ImageError, match="timed out .*slow-mirror.example within 0.3s"):
            f.fetch("https://img.example/a.png")
    monkeypatch.setenv("HTTP_PROXY", "http://slow-proxy.example:3128")
    with Fetcher(connect_timeout=0.3, retries=0) as f:
        t0 = time.monotonic()
        with pytest.raises(ImageError, match="timed out .*slow-proxy.example within 0.3s"):
            f.fetch("http://img.example/a.png")
        assert time.monotonic() - t0 < 1.5
    assert hung_resolver == ["slow-mirror.example", "slow-proxy.example"]


@pytest.mark.parametrize("url, reason", [("http://x.test:99999/a.png", "invalid URL"),
                                         ("http:///a.png", "invalid URL"),
                                         ("http://[bad/a.png", r"invalid URL \(Invalid IPv6 URL"),
                                         ("http://a b.test/a.png", "invalid URL.*cannot have"),
                                         ("http://a\x00b.test/a.png", "invalid URL.*cannot have")])
def test_urls_that_cannot_be_sent_are_refused_without_a_crash(url, reason):
    rec = Recorder({})
    with mock(rec, mirrors=(("http://x.test/", "http://127.0.0.1:1/"),)) as f, pytest.raises(ImageError, match=reason):
        f.fetch(url)
    assert rec.requests == []


def test_a_redirect_to_an_invalid_url_is_an_image_error():
    rec = Recorder({"/a": Reply(302, headers={"Location": "http://[bad/"})})
    with mock(rec) as f, pytest.raises(ImageError, match="redirect to an invalid URL"):
        f.fetch(X + "a")


def test_non_ascii_paths_are_percent_encoded():
    rec = Recorder({"/%E5%9B%BE%20a.png?q=%E4%B8%AD": Reply(200, PNG)})
    with mock(rec) as f:
        got = f.fetch(X + "图 a.png?q=中")
    assert got.data == PNG and got.final_url == f.server.url + "%E5%9B%BE%20a.png?q=%E4%B8%AD"


def test_plain_http_downloads_never_build_the_tls_pool():
    with FaultServer() as srv, Fetcher(retries=0, allow_hosts=LOCAL) as f:
        assert f.fetch(srv.url + "ok.png").data == srv.ok_png
        assert f._client.keys_opened == {("http", "")}   # no CA bundle for a plain-HTTP mirror


def test_a_download_in_a_fresh_process_loads_neither_httpx_nor_tls_roots():
    import subprocess

    with FaultServer() as srv:
        script = (
            "import sys\n"
            "from interview_export.fetcher import Fetcher\n"
            "assert 'http.client' not in sys.modules and 'importlib.metadata' not in sys.modules\n"
            "with Fetcher(retries=0, allow_hosts=('127.0.0.1',)) as f:\n"
            f"    assert f.fetch({srv.url + 'ok.png'!r}).data[:4] == b'\\x89PNG'\n"
            "print(sorted(m for m in ('httpx', 'httpcore', 'certifi', 'urllib.request', 'rich', 'importlib.metadata')"
            " if m in sys.modules))\n")
        env = {k: v for k, v in __import__("os").environ.items() if not k.lower().endswith("_proxy")}
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
        assert srv.httpd.user_agents[0].startswith("interview-export/")
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------ TLS, and https through a proxy's tunnel
@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """(certificate file, server context) for 127.0.0.1 and img.example, self-signed."""
    import shutil
    import ssl

    from script_server import self_signed

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = self_signed(tmp_path_factory.mktemp("tls"), "img.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.fixture
def no_proxies(monkeypatch):
    for key in list(__import__("os").environ):
        if key.lower().endswith("_proxy") or key in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            monkeypatch.delenv(key)


def test_https_is_verified_against_certifi_and_an_unknown_certificate_is_refused(tls, no_proxies):
    rec = Recorder({"/a.png": Reply(200, PNG)})
    with ScriptServer(rec, tls[1]) as srv, Fetcher(retries=0, allow_hosts=LOCAL) as f:
        with pytest.raises(ImageError, match=r"connection failed \(ConnectError: .*CERTIFICATE_VERIFY_FAILED"):
            f.fetch(srv.url + "a.png")
        assert f._client.keys_opened == {("https", "")}
    assert rec.requests == []


def test_https_with_ssl_cert_file_trusting_the_server(tls, no_proxies, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls[0]))
    rec = Recorder({f"/{i}.png": Reply(200, PNG) for i in range(4)})
    with ScriptServer(rec, tls[1]) as srv, Fetcher(retries=0, allow_hosts=LOCAL, max_workers=2) as f:
        results = f.fetch_many([srv.url + f"{i}.png" for i in range(4)])
        assert all(r.data == PNG for r in results.values()), results
    assert rec.paths == [f"/{i}.png" for i in range(4)] or sorted(rec.paths) == [f"/{i}.png" for i in range(4)]
    assert srv.connections <= 2   # kept alive over TLS too
    assert rec.requests[0].headers["host"] == f"127.0.0.1:{srv.port}"


def test_https_through_the_proxy_goes_by_connect_tunnel(tls, no_proxies, monkeypatch):
    from script_server import TunnelProxy

    monkeypatch.setenv("SSL_CERT_FILE", str(tls[0]))
    rec = Recorder({"/img.png": Reply(200, PNG)})
    with ScriptServer(rec, tls[1]) as srv:
        proxy = TunnelProxy(srv.port)
        try:
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
            with Fetcher(retries=0) as f:
                assert f.fetch("https://img.example/img.png").data == PNG   # the name the certificate has
                with pytest.raises(ImageError, match="refused"):     # literal private hosts: still ours to refuse
                    f.fetch("https://10.0.0.1/a.png")
        finally:
            proxy.close()
    assert proxy.asked == ["CONNECT img.example:443 HTTP/1.1"]
    assert rec.requests[0].headers["host"] == "img.example"


def test_http_through_the_proxy_is_an_absolute_uri_request_with_credentials(no_proxies, monkeypatch):
    import base64

    rec = Recorder({"http://img.example/a.png": Reply(200, PNG)})
    with ScriptServer(rec) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://pu:p%40ss@127.0.0.1:{proxy.port}")
        with Fetcher(retries=0) as f:
            assert f.fetch("http://me:secret@img.example/a.png").data == PNG
    headers = rec.requests[0].headers
    assert rec.paths == ["http://img.example/a.png"] and headers["host"] == "img.example"
    assert headers["proxy-authorization"] == "Basic " + base64.b64encode(b"pu:p@ss").decode()
    assert headers["authorization"] == "Basic " + base64.b64encode(b"me:secret").decode()


def test_an_https_proxy_serves_http_urls_and_refuses_to_tunnel(tls, no_proxies, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls[0]))
    rec = Recorder({"http://img.example/a.png": Reply(200, PNG)})
    with ScriptServer(rec, tls[1]) as proxy:
        monkeypatch.setenv("ALL_PROXY", f"https://127.0.0.1:{proxy.port}")
        with Fetcher(retries=0) as f:
            assert f.fetch("http://img.example/a.png").data == PNG
            with pytest.raises(ImageError, match=r"download failed \(ProxyError: .*use an http:// proxy"):
                f.fetch("https://img.example/a.png")
    assert rec.paths == ["http://img.example/a.png"]


@contextlib.contextmanager
def trickler(first: bytes, piece: bytes, *, every: float = 0.2, lasting: float = 8.0):
    """A 127.0.0.1 server that reads what a client sends first, answers ``first`` and then ``piece``
    every ``every`` seconds for ``lasting`` seconds: a TLS handshake (a record that never ends) or a
    proxy's answer to CONNECT that never ends, yet is never silent for long. Yields (port, accepted)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def one(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.recv(4096)
            conn.sendall(first)
            end = time.monotonic() + lasting
            while time.monotonic() < end:
                time.sleep(every)
                conn.sendall(piece)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        listener.close()
        for conn in accepted:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


TLS_RECORD = b"\x16\x03\x03\x40\x00"   # a handshake record of 16 KB: the client waits for all of it


def test_a_trickled_tls_handshake_ends_at_the_download_deadline(no_proxies, monkeypatch):
    """A server that takes the connection and trickles its handshake: the download ends at its
    deadline even when the connection itself was slow to open (before: the handshake had the whole
    time left when the dial began, so a slow dial + a stalled handshake ran past the deadline)."""
    real = socket.create_connection

    def slow_dial(*a, **kw):    # a SYN answered late (retransmitted), as a real slow host does
        time.sleep(1.5)
        return real(*a, **kw)

    monkeypatch.setattr(socket, "create_connection", slow_dial)
    with trickler(TLS_RECORD, b"\x02") as (port, _), \
            Fetcher(retries=0, total_timeout=2, connect_timeout=5, allow_hosts=LOCAL) as f:
        start = time.monotonic()
        with pytest.raises(ImageError, match=r"download took longer than 2s; aborted"):
            f.fetch(f"https://127.0.0.1:{port}/a.png")
        assert time.monotonic() - start < 2.6


def test_a_stalled_tls_handshake_makes_the_host_dead_without_retries(no_proxies):
    """A host that took the connection and then stalled the handshake for the connect timeout is as
    dead as one that stalls its answer: one wait, no retries (before: 4 attempts, past the deadline)."""
    with trickler(TLS_RECORD, b"\x02") as (port, accepted), \
            Fetcher(retries=3, backoff=0.001, connect_timeout=1, total_timeout=3, allow_hosts=LOCAL) as f:
        start = time.monotonic()
        results = f.fetch_many([f"https://127.0.0.1:{port}/{i}.png" for i in range(3)])
        took = time.monotonic() - start
    reasons = sorted(r.reason for r in results.values())
    assert reasons[0] == "timed out (TLS handshake: not finished within 1s)", reasons
    assert len(accepted) <= 3 and took < 2.5, (len(accepted), took)   # one handshake per worker at most


def test_a_proxy_trickling_its_answer_to_connect_stops_at_the_connect_timeout(no_proxies, monkeypatch):
    with trickler(b"HTTP/1.1 200 Connection established\r\nX-Slow: ", b"a") as (port, accepted):
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        with Fetcher(retries=0, connect_timeout=1, total_timeout=3) as f:
            start = time.monotonic()
            with pytest.raises(ImageError, match=r"ConnectTimeout: proxy did not answer CONNECT within 1s"):
                f.fetch("https://img.example/a.png")
            assert time.monotonic() - start < 1.8
        with Fetcher(retries=0, connect_timeout=5, total_timeout=1) as f:
            start = time.monotonic()
            with pytest.raises(ImageError, match=r"download took longer than 1s; aborted"):
                f.fetch("https://img.example/a.png")
            assert time.monotonic() - start < 1.6


def _gzip_then(tail_pieces):
    """A gzip'd PNG followed by more bytes: after the end of the gzip stream they decode to nothing."""
    return lambda req, n: Reply(200, stream=itertools.chain([gzip.compress(PNG)], tail_pieces()),
                                headers={"Content-Encoding": "gzip"})


def test_bytes_that_decode_to_nothing_still_count_against_the_cap():
    """2 MB after the end of the gzip stream: the cap (100 KB) counts what came over the wire too."""
    junk = lambda: (b"\0" * 65536 for _ in range(32))
    rec = Recorder({"/a.png": _gzip_then(junk)})
    with mock(rec, max_bytes=100_000, retries=0) as f, pytest.raises(ImageError, match="too large"):
        f.fetch(X + "a.png")


def test_bytes_that_decode_to_nothing_still_meet_the_deadline():
    """A trickle after the end of the gzip stream (no decoded output at all) is still stopped by the
    overall deadline, not read to its end."""
    def trickle():
        for _ in range(60):
            time.sleep(0.05)
            yield b"x" * 100

    rec = Recorder({"/a.png": _gzip_then(trickle)})
    with mock(rec, timeout=1.0, total_timeout=0.4, retries=0) as f:
        t0 = time.monotonic()
        with pytest.raises(ImageError, match="longer than"):
            f.fetch(X + "a.png")
        assert time.monotonic() - t0 < 2
