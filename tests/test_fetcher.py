"""fetcher.Fetcher: the one outside-I/O object (timeouts, cap, redirects, retries, mirrors, cache, offline)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from interview_export.cache import Cache
from interview_export.errors import ImageError
from interview_export.fetcher import Fetcher, apply_mirrors, user_agent
from interview_export.options import Options

from fault_server import FaultServer, dead_port
from helpers import png_bytes

PNG = png_bytes()
LOCAL = ("127.0.0.1",)   # the fault server's host: trusted explicitly, as --allow-host does


def mock(handler, **kw) -> Fetcher:
    kw.setdefault("backoff", 0.001)
    kw.setdefault("allow_hosts", LOCAL)
    return Fetcher(transport=httpx.MockTransport(handler), **kw)


class Recorder:
    """A MockTransport handler answering from a table and remembering every request."""

    def __init__(self, table):
        self.table = table
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            n = sum(1 for r in self.requests if r.url == request.url)
        answer = self.table[str(request.url)]
        if callable(answer):
            return answer(request, n)
        return answer

    @property
    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]


def test_apply_mirrors_uses_the_longest_matching_prefix():
    mirrors = (("https://cdn.jsdelivr.net/", "http://127.0.0.1:9/"),
               ("https://cdn.jsdelivr.net/gh/special/", "http://127.0.0.1:8/s/"))
    assert apply_mirrors("https://cdn.jsdelivr.net/gh/a/x.png", mirrors) == "http://127.0.0.1:9/gh/a/x.png"
    assert apply_mirrors("https://cdn.jsdelivr.net/gh/special/x.png", mirrors) == "http://127.0.0.1:8/s/x.png"
    assert apply_mirrors("https://example.org/x.png", mirrors) == "https://example.org/x.png"


def test_mirror_is_applied_before_fetching_and_user_agent_is_ours():
    rec = Recorder({"http://mirror.test/gh/x.png": httpx.Response(200, content=PNG)})
    with mock(rec, mirrors=(("https://cdn.jsdelivr.net/", "http://mirror.test/"),)) as f:
        got = f.fetch("https://cdn.jsdelivr.net/gh/x.png")
    assert got.data == PNG and got.url == "https://cdn.jsdelivr.net/gh/x.png"
    assert got.final_url == "http://mirror.test/gh/x.png"
    assert rec.urls == ["http://mirror.test/gh/x.png"]
    ua = rec.requests[0].headers["user-agent"]
    assert ua == user_agent() and ua.startswith("interview-export/")


def test_user_agent_names_the_installed_versions():
    # user_agent() reads version.py and httpx.__version__ (no metadata scan): they must be what
    # is installed, so version.py cannot drift from pyproject's version
    from importlib.metadata import version

    assert user_agent() == f"interview-export/{version('interview-export')} (python-httpx/{version('httpx')})"


@pytest.mark.parametrize("url", ["ftp://example.org/a.png", "file:///etc/passwd", "gopher://x/1"])
def test_other_schemes_are_refused_without_a_request(url):
    rec = Recorder({})
    with mock(rec) as f, pytest.raises(ImageError, match="scheme"):
        f.fetch(url)
    assert rec.requests == []


def test_mirror_to_a_forbidden_scheme_is_refused():
    with mock(Recorder({}), mirrors=(("https://x.test/", "file:///etc/"),)) as f:
        with pytest.raises(ImageError, match="scheme 'file'"):
            f.fetch("https://x.test/passwd")


def test_500_then_200_is_retried():
    rec = Recorder({"https://x.test/a.png": lambda req, n: httpx.Response(500 if n == 1 else 200, content=PNG)})
    with mock(rec, retries=3) as f:
        assert f.fetch("https://x.test/a.png").data == PNG
    assert len(rec.requests) == 2


def test_429_honours_retry_after_then_succeeds():
    rec = Recorder({"https://x.test/a.png": lambda req, n: httpx.Response(
        429, headers={"Retry-After": "0"}) if n == 1 else httpx.Response(200, content=PNG)})
    with mock(rec) as f:
        assert f.fetch("https://x.test/a.png").data == PNG
    assert len(rec.requests) == 2


def test_404_is_not_retried():
    rec = Recorder({"https://x.test/a.png": httpx.Response(404)})
    with mock(rec, retries=3) as f, pytest.raises(ImageError, match="HTTP 404"):
        f.fetch("https://x.test/a.png")
    assert len(rec.requests) == 1


def test_persistent_5xx_gives_up_after_the_retries():
    rec = Recorder({"https://x.test/a.png": httpx.Response(503)})
    with mock(rec, retries=2) as f, pytest.raises(ImageError, match=r"HTTP 503.*3 attempts"):
        f.fetch("https://x.test/a.png")
    assert len(rec.requests) == 3


def test_connection_errors_are_retried_with_backoff():
    calls = []

    def refuse(request):
        calls.append(time.monotonic())
        raise httpx.ConnectError("connection refused", request=request)

    with mock(refuse, retries=2, backoff=0.05) as f, pytest.raises(ImageError, match="connection failed"):
        f.fetch("https://x.test/a.png")
    assert len(calls) == 3
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # exponential backoff


def test_an_unreachable_host_is_given_up_once_not_per_image():
    calls = []

    def refuse(request):
        calls.append(request.url.host)
        raise httpx.ConnectError("connection refused", request=request)

    urls = [f"https://dead.test/{i}.png" for i in range(20)] + ["https://alive.test/x.png"]
    with mock(refuse, retries=2, backoff=0.01, max_workers=2) as f:
        res = f.fetch_many(urls)
    assert all(isinstance(r, ImageError) for r in res.values())
    assert calls.count("dead.test") <= 2 * 3  # only the two first downloads really tried
    assert calls.count("alive.test") == 3     # another host is not affected
    assert sum("unreachable" in r.reason for r in res.values()) >= 18


def test_redirects_are_followed_up_to_the_limit():
    table = {f"https://x.test/r{i}": httpx.Response(302, headers={"Location": f"/r{i - 1}"}) for i in range(1, 8)}
    table["https://x.test/r0"] = httpx.Response(200, content=PNG)
    rec = Recorder(table)
    with mock(rec) as f:
        assert f.fetch("https://x.test/r5").final_url == "https://x.test/r0"
        with pytest.raises(ImageError, match="too many redirects"):
            f.fetch("https://x.test/r7")


def test_redirect_loop_is_named():
    rec = Recorder({"https://x.test/a": httpx.Response(301, headers={"Location": "https://x.test/b"}),
                    "https://x.test/b": httpx.Response(301, headers={"Location": "/a"})})
    with mock(rec) as f, pytest.raises(ImageError, match="redirect loop"):
        f.fetch("https://x.test/a")
    assert len(rec.requests) == 2


def test_redirect_to_file_scheme_is_refused():
    rec = Recorder({"https://x.test/a": httpx.Response(302, headers={"Location": "file:///etc/passwd"})})
    with mock(rec) as f, pytest.raises(ImageError, match="scheme 'file'"):
        f.fetch("https://x.test/a")


def test_declared_length_over_the_cap_is_refused():
    rec = Recorder({"https://x.test/a.png": httpx.Response(200, content=b"x" * 5000)})
    with mock(rec, max_bytes=1000) as f, pytest.raises(ImageError, match="too large"):
        f.fetch("https://x.test/a.png")


def test_endless_body_is_aborted_at_the_cap():
    produced = []

    class Endless(httpx.SyncByteStream):
        def __iter__(self):
            while True:
                produced.append(1)
                yield b"\0" * 1024

    rec = Recorder({"https://x.test/a.png": lambda req, n: httpx.Response(200, stream=Endless())})
    with mock(rec, max_bytes=64 * 1024) as f, pytest.raises(ImageError, match="too large"):
        f.fetch("https://x.test/a.png")
    assert 64 <= len(produced) <= 70


def test_cache_serves_the_second_fetch_without_a_request(tmp_path):
    rec = Recorder({"https://x.test/a.png": httpx.Response(200, content=PNG, headers={"ETag": '"e1"'})})
    with mock(rec, cache=Cache(tmp_path)) as f:
        first = f.fetch("https://x.test/a.png")
    with mock(rec, cache=Cache(tmp_path)) as f:
        second = f.fetch("https://x.test/a.png")
        assert f.network_requests == 0
    assert not first.from_cache and second.from_cache and second.data == PNG
    assert len(rec.requests) == 1
    assert Cache(tmp_path).get("https://x.test/a.png").etag == '"e1"'


def test_bodies_failing_the_check_are_not_cached(tmp_path):
    rec = Recorder({"https://x.test/a.png": httpx.Response(200, content=b"<html>login</html>")})

    def check(data):
        if data.startswith(b"<"):
            raise ImageError("x", "not an image")

    with mock(rec, cache=Cache(tmp_path)) as f, pytest.raises(ImageError, match="not an image") as info:
        f.fetch("https://x.test/a.png", check=check)
    assert info.value.src == "https://x.test/a.png"
    assert Cache(tmp_path).get("https://x.test/a.png") is None


def test_offline_uses_only_the_cache(tmp_path):
    Cache(tmp_path).put("https://x.test/have.png", PNG)
    rec = Recorder({})
    with mock(rec, cache=Cache(tmp_path), offline=True) as f:
        assert f.fetch("https://x.test/have.png").data == PNG
        with pytest.raises(ImageError, match="offline"):
            f.fetch("https://x.test/missing.png")
    assert rec.requests == []


def test_revalidation_sends_validators_and_accepts_304(tmp_path):
    Cache(tmp_path).put("https://x.test/a.png", PNG, etag='"v1"')
    seen = []

    def handler(request):
        seen.append(request.headers.get("if-none-match"))
        return httpx.Response(304)

    with mock(handler, cache=Cache(tmp_path), revalidate=True) as f:
        got = f.fetch("https://x.test/a.png")
    assert seen == ['"v1"'] and got.data == PNG and got.from_cache


def test_fetch_many_runs_in_parallel_and_fetches_each_url_once():
    def slow(request):
        time.sleep(0.3)
        return httpx.Response(200, content=PNG)

    rec = Recorder({f"https://x.test/{i}.png": (lambda req, n: slow(req)) for i in range(8)})
    urls = [f"https://x.test/{i}.png" for i in range(8)] * 2
    with mock(rec, max_workers=8) as f:
        t0 = time.monotonic()
        results = f.fetch_many(urls)
        elapsed = time.monotonic() - t0
    assert len(results) == 8 and all(r.data == PNG for r in results.values())
    assert len(rec.requests) == 8
    assert elapsed < 1.5, f"8 × 0.3 s took {elapsed:.2f}s: not parallel"


def test_fetch_many_returns_failures_instead_of_raising():
    rec = Recorder({"https://x.test/ok.png": httpx.Response(200, content=PNG),
                    "https://x.test/no.png": httpx.Response(404)})
    with mock(rec) as f:
        res = f.fetch_many(["https://x.test/ok.png", "https://x.test/no.png"])
    assert res["https://x.test/ok.png"].data == PNG
    assert isinstance(res["https://x.test/no.png"], ImageError)


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
    rec = Recorder({"https://x.test/a.png": lambda req, n: httpx.Response(
        200, stream=httpx.ByteStream(b"definitely not gzip"), headers={"Content-Encoding": "gzip"})})
    with mock(rec) as f, pytest.raises(ImageError, match="download failed"):
        f.fetch("https://x.test/a.png")


def test_unresolvable_host_fails_at_once_without_backoff(tmp_path):
    """A DNS failure is final: no 0.5 + 1 + 2 s of retries per image on an offline machine."""
    import time as _time

    def refuse(request):
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    calls = []
    transport = httpx.MockTransport(lambda r: calls.append(r) or refuse(r))
    with Fetcher(transport=transport, backoff=0.5) as f:
        t0 = _time.monotonic()
        with pytest.raises(ImageError, match="host name not found"):
            f.fetch("http://no-such-host.invalid/a.png")
        with pytest.raises(ImageError, match="unreachable"):
            f.fetch("http://no-such-host.invalid/b.png")
        assert _time.monotonic() - t0 < 0.5 and len(calls) == 1


def test_plain_http_downloads_never_build_the_tls_pool():
    with FaultServer() as srv, Fetcher(retries=0, allow_hosts=LOCAL) as f:
        assert f.fetch(srv.url + "ok.png").data == srv.ok_png
        pools = f._client._transport._pools
        assert {scheme for scheme, _proxy in pools} == {"http"}  # no CA bundle for a plain-HTTP mirror


def test_a_download_in_a_fresh_process_loads_httpx_without_its_cli():
    import subprocess
    import sys

    with FaultServer() as srv:
        script = (
            "import sys\n"
            "from interview_export.fetcher import Fetcher\n"
            "assert 'httpx' not in sys.modules and 'importlib.metadata' not in sys.modules\n"
            "with Fetcher(retries=0, allow_hosts=('127.0.0.1',)) as f:\n"
            f"    assert f.fetch({srv.url + 'ok.png'!r}).data[:4] == b'\\x89PNG'\n"
            "print(sorted(m for m in ('rich', 'pygments', 'click', 'importlib.metadata') if m in sys.modules))\n"
            "import httpx._main  # still importable on demand\n")
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        assert srv.httpd.user_agents[0].startswith("interview-export/")
    assert out.stdout.strip() == "[]"
