"""netpolicy + fetcher: no request to a private address in any spelling, redirects and DNS
answers included; trusted hosts, proxies from the environment, the per-book download budget."""

from __future__ import annotations

import socket
import time

import pytest

from hostile_corpus import ProbeServer
from interview_export.errors import ImageError
from interview_export.fetcher import Fetcher
from interview_export.netpolicy import AddressRefused, Policy, parse_address, refusal

from fault_server import FaultServer, png_bytes

PNG = png_bytes()

REFUSED_HOSTS = [
    "127.0.0.1", "127.1", "0x7f000001", "2130706433", "017700000001", "0.0.0.0", "0", "[::1]", "[::]",
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "localhost", "LOCALHOST.", "a.b.localhost",
    "169.254.169.254", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "[fc00::1]", "[fd12::1]",
    "[fe80::1]", "[64:ff9b::7f00:1]", "[64:ff9b::a9fe:a9fe]", "[2002:7f00:1::]", "[2002:c0a8:101::1]",
    "224.0.0.1", "[ff02::1]", "255.255.255.255", "240.0.0.1",
]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_every_spelling_of_a_private_address_is_refused_before_connecting(host):
    with pytest.raises(AddressRefused, match="refused"):
        Policy().check_url(f"http://user@{host}:8080/a.png")


@pytest.mark.parametrize("host", ["93.184.216.34", "[2606:2800:220:1::]", "cdn.example", "1e100.net",
                                  "[64:ff9b::5db8:d822]"])
def test_public_hosts_pass_the_url_check(host):
    Policy().check_url(f"https://{host}/a.png")


def test_spellings_parse_to_the_address_the_c_library_would_use():
    assert str(parse_address("0x7f000001")) == str(parse_address("2130706433")) == "127.0.0.1"
    assert str(parse_address("017700000001")) == str(parse_address("127.1")) == "127.0.0.1"
    assert parse_address("cdn.example") is None and parse_address("deadbeef.example") is None
    assert "IPv4-mapped" in refusal(parse_address("::ffff:10.0.0.1"))


def test_trusted_hosts_are_exact():
    policy = Policy(["lan.example"], [("https://cdn.example/", "http://127.0.0.1:8000/")])
    policy.check_url("http://127.0.0.1:8000/a.png")          # the mirror target
    policy.check_url("http://lan.example:9/a.png")           # --allow-host, any port
    for url in ("http://127.0.0.1:8001/a.png", "http://127.1:8000/a.png"):
        with pytest.raises(AddressRefused):
            policy.check_url(url)


def test_loopback_spellings_never_reach_the_server():
    with FaultServer() as srv, Fetcher(retries=0) as f:
        port = srv.httpd.server_address[1]
        for host in ("127.0.0.1", "127.1", "0x7f000001", "2130706433", "[::ffff:127.0.0.1]", "localhost"):
            with pytest.raises(ImageError, match="refused"):
                f.fetch(f"http://{host}:{port}/ok.png")
        assert f.network_requests == 0


def test_a_name_resolving_to_loopback_is_refused_at_connect(monkeypatch):
    """DNS rebinding: the address checked is the address connected to (one lookup)."""
    calls = []
    real = socket.getaddrinfo

    def fake(host, port, *a, **kw):
        calls.append(host)
        if host == "rebind.example":
            return real("127.0.0.1", port, *a, **kw)
        return real(host, port, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with FaultServer() as srv, Fetcher(retries=0) as f:
        port = srv.httpd.server_address[1]
        with pytest.raises(ImageError, match="resolves to 127.0.0.1, a loopback address"):
            f.fetch(f"http://rebind.example:{port}/ok.png")
    assert calls == ["rebind.example"]


def test_a_redirect_from_a_trusted_mirror_to_another_local_port_is_refused():
    with _probe() as (srv, other):
        mirror = ("https://img.example/", f"http://127.0.0.1:{srv.port}/")
        with Fetcher(retries=0, mirrors=[mirror]) as f:
            assert f.fetch("https://img.example/img.png").data == PNG      # the mirror works
            target = f"http://127.0.0.1:{other.port}/img.png?second"
            with pytest.raises(ImageError, match="loopback address"):
                f.fetch(f"https://img.example/to?u={target}")
        assert not any("second" in r for r in other.requests)


class _probe:
    def __enter__(self):
        self.servers = (ProbeServer(PNG), ProbeServer(PNG))
        return self.servers

    def __exit__(self, *exc):
        for s in self.servers:
            s.close()


def test_allow_host_lets_a_local_server_through():
    with FaultServer() as srv, Fetcher(retries=0, allow_hosts=["127.0.0.1"]) as f:
        assert f.fetch(srv.url + "ok.png").data == srv.ok_png


def test_the_address_checked_is_the_address_dialled(monkeypatch):
    """One lookup, every answer checked, that very address connected to: a name whose second
    answer is private is refused even though the first is public, and nothing is dialled."""
    dialled = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **kw: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))])
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **kw: dialled.append(address))
    with Fetcher(retries=0) as f, pytest.raises(ImageError, match="resolves to 10.1.2.3, a private address"):
        f.fetch("http://two-faced.example/a.png")
    assert dialled == []


def test_proxy_variables_are_honoured(monkeypatch):
    with _probe() as (proxy, _unused):
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with Fetcher(retries=0) as f:
            assert f.fetch("http://img.example/img.png?viaproxy").data == PNG
            with pytest.raises(ImageError, match="refused"):   # literal private hosts: still ours to refuse
                f.fetch("http://169.254.169.254/latest/meta-data")
        assert proxy.requests == ["http://img.example/img.png?viaproxy"]


def test_no_proxy_and_unsupported_proxies(monkeypatch):
    """NO_PROXY sends a host direct; a proxy kind we do not speak is one clear failure."""
    with _probe() as (srv, proxy):
        for key in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
        mirror = ("https://img.example/", f"http://127.0.0.1:{srv.port}/")
        with Fetcher(retries=0, mirrors=[mirror]) as f:
            assert f.fetch("https://img.example/img.png").data == PNG
        assert srv.requests == ["/img.png"] and proxy.requests == []
        monkeypatch.delenv("no_proxy")
        monkeypatch.delenv("http_proxy")
        monkeypatch.setenv("all_proxy", "socks5://127.0.0.1:9")
        with Fetcher(retries=0) as f, pytest.raises(ImageError, match=r"download failed \(ProxyError: .*socks5"):
            f.fetch("http://img.example/img.png")


def test_no_body_bytes_in_the_message_for_a_non_image():
    from interview_export.images import ImageRefused, load_checked

    with pytest.raises(ImageRefused) as info:
        load_checked(b"\x00\x01SECRET-BYTES-\x02" * 10)
    assert "SECRET" not in str(info.value) and "\\x00" not in str(info.value)


def test_download_budget_and_a_slow_host_dead_after_one_timeout():
    with _probe() as (srv, _unused):
        mirror = ("https://slow.example/", f"http://127.0.0.1:{srv.port}/")
        with Fetcher(retries=0, mirrors=[mirror], budget_seconds=1.5, cache=None) as f:
            t0 = time.monotonic()
            results = f.fetch_many([f"https://slow.example/slow/{i}.png" for i in range(20)])
            elapsed = time.monotonic() - t0
        reasons = [r.reason for r in results.values()]
        assert all(isinstance(r, ImageError) for r in results.values())
        assert elapsed < 8, elapsed
        assert any("budget of this book used up" in r or "longer than" in r for r in reasons), reasons
        assert len(srv.requests) <= 8       # the others never started: budget gone, host dead


def test_a_command_line_mirror_to_127_0_0_1_still_works(tmp_path):
    import subprocess
    import sys
    import zipfile

    with _probe() as (srv, _unused):
        (tmp_path / "a.md").write_text("# 镜像\n\n正文。\n\n![图](https://img.example/img.png)\n")
        out = subprocess.run([sys.executable, "-m", "interview_export", "epub", "--no-cache", "a.md",
                              "--mirror", f"https://img.example/=http://127.0.0.1:{srv.port}/"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300,
                             env={**__import__("os").environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")})
        assert out.returncode == 0 and "warning:" not in out.stderr, out.stderr
        assert srv.requests == ["/img.png"]
    with zipfile.ZipFile(tmp_path / "a.epub") as z:
        assert any(n.endswith(".png") and z.read(n) == PNG for n in z.namelist())


def test_every_checked_address_is_tried_in_turn(monkeypatch):
    """A name with several (public) answers whose first does not answer: the next one is dialled,
    as socket.create_connection (httpx) did; each is an address that was checked."""
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **kw: [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:2800:220:1::1", port, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))])
    dialled = []

    def dial(address, timeout):
        dialled.append(address[0])
        if address[0] != "93.184.216.34":
            raise OSError(101, "Network is unreachable")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)   # the second answer is our server
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", address[1]))
        return sock

    monkeypatch.setattr(socket, "create_connection", dial)
    with FaultServer() as srv, Fetcher(retries=0) as f:
        port = srv.httpd.server_address[1]
        assert f.fetch(f"http://two-homed.example:{port}/ok.png").data == srv.ok_png
    assert dialled == ["2606:2800:220:1::1", "93.184.216.34"]
