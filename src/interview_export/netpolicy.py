"""URL hosts and the addresses actually connected to → allowed or refused (no requests to private addresses).

A document's image URLs may not reach loopback, private (RFC 1918, 100.64/10, fc00::/7), link-local
(169.254/16, fe80::/10), unspecified, multicast, broadcast or reserved addresses, in any spelling:
``127.1``, ``0x7f000001``, ``2130706433``, ``017700000001``, ``[::ffff:127.0.0.1]``, ``::127.0.0.1``,
NAT64 (``64:ff9b::…``), 6to4 (``2002:…``) and Teredo addresses that embed one, ``localhost`` and
``*.localhost``. The URL's host is checked before any connection (so a literal address is never
contacted), and ``Policy.resolve`` gives the addresses each connection really goes to (webclient dials
them in turn): one DNS lookup, every address it returns checked, then connections to those very
addresses (no second lookup to rebind). Hosts the user names (``--allow-host``, the targets of ``--mirror``) are trusted.
A lookup given a time limit (``lookup``) gives up when it passes: the C resolver cannot be interrupted.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from typing import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_NUMERIC = set("0123456789abcdefx.")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_LABELS = (("is_loopback", "loopback"), ("is_unspecified", "unspecified"), ("is_link_local", "link-local"),
           ("is_multicast", "multicast"), ("is_private", "private"), ("is_reserved", "reserved"))


class AddressRefused(Exception):
    """A connection the fetch policy does not allow (the reason names host and address)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def normal_host(host: str) -> str:
    """``[::1]`` → ``::1``, ``Example.COM.`` → ``example.com`` (how hosts are compared)."""
    return host.strip().strip("[]").rstrip(".").lower()


def parse_address(host: str) -> IPAddress | None:
    """The address a host spells, in any form the C library or a browser would accept, else None."""
    h = normal_host(host).split("%", 1)[0]
    if not h:
        return None
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if set(h) <= _NUMERIC and all(part for part in h.split(".")):
        try:  # 127.1, 0x7f000001, 2130706433, 017700000001: inet_aton reads them all
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except OSError:
            return None
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why connecting to ``ip`` is refused, or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded, how = None, ""
        if ip.ipv4_mapped is not None:
            embedded, how = ip.ipv4_mapped, "IPv4-mapped"
        elif any(ip in net for net in _NAT64):
            embedded, how = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
        elif ip.sixtofour is not None:
            embedded, how = ip.sixtofour, "6to4"
        elif ip.teredo is not None:
            embedded, how = ip.teredo[1], "Teredo"
        elif ip in _V4_COMPATIBLE:
            return "an IPv4-compatible IPv6 address"
        if embedded is not None:
            inner = refusal(embedded)
            return f"the {how} form of {embedded}, {inner}" if inner else None
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "a private (shared, 100.64/10) address"
    for attribute, label in _LABELS:
        if getattr(ip, attribute):
            return f"a {label} address"
    if not ip.is_global:
        return "not a public address"
    return None


class Policy:
    """Which hosts a fetcher may connect to: public addresses, plus the trusted hosts."""

    def __init__(self, allow_hosts: Iterable[str] = (), mirrors: Iterable[tuple[str, str]] = ()):
        trusted = {normal_host(h) for h in allow_hosts if h.strip()}
        for _prefix, replacement in mirrors:
            parts = urlsplit(replacement)
            if parts.hostname:
                trusted.add(f"{normal_host(parts.hostname)}:{_port(parts)}")
        self.trusted = frozenset(trusted)

    def trusts(self, host: str, port: int | None) -> bool:
        """Whether the user named this host (--allow-host, a --mirror target): any address is allowed."""
        h = normal_host(host)
        return h in self.trusted or f"{h}:{port}" in self.trusted

    def check_url(self, url: str) -> None:
        """Raise AddressRefused when the URL's host is a refused address or a loopback name."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            port = _port(parts)
        except ValueError:
            return  # the fetch itself reports the bad port
        if not host or self.trusts(host, port):
            return
        name = normal_host(host)
        if name == "localhost" or name.endswith(".localhost"):
            raise AddressRefused(f"host {host} is a loopback name (refused: use --allow-host {name} to allow it)")
        ip = parse_address(host)
        if ip is not None:
            reason = refusal(ip)
            if reason:
                raise AddressRefused(f"host {host} is {reason} (refused: use --allow-host to allow it)")

    def resolve(self, host: str, port: int, timeout: float | None = None) -> list[str]:
        """The addresses to try in turn (the resolver's order): one DNS lookup (``lookup``: at most
        `timeout` seconds), every answer checked unless the host is trusted."""
        addresses = lookup(host, port, timeout)
        if self.trusts(host, port):
            return addresses
        for address in addresses:
            reason = refusal(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason:
                raise AddressRefused(f"host {host} resolves to {address}, {reason} "
                                     "(refused: use --allow-host to allow it)")
        return addresses


def lookup(host: str, port: int, timeout: float | None = None) -> list[str]:
    """A host's addresses, each once, in the resolver's order; OSError when it has none. With a
    `timeout`, a name (not an address) is looked up in a daemon thread waited for that long, else
    TimeoutError: getaddrinfo cannot be interrupted, so the thread is left to finish on its own, and
    lookups of the same name and port while it runs wait for that one instead of starting another."""
    name = normal_host(host)
    try:
        if timeout is None or parse_address(name) is not None:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        else:
            infos = _lookup_waited(name, port, timeout)
    except UnicodeError as exc:
        raise OSError(f"invalid host name {host!r} ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OSError(f"no address for {host}")
    return addresses


_running: dict[tuple[str, int], tuple[threading.Event, list]] = {}   # lookups under way: (done, [answer])
_running_lock = threading.Lock()


def _forget_lookups() -> None:
    """In a forked child: the lookup threads (and a lock one of them may hold) stayed behind."""
    global _running_lock
    _running_lock = threading.Lock()
    _running.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_lookups)


def _lookup_waited(name: str, port: int, timeout: float) -> list:
    key = (name, port)
    with _running_lock:
        entry = _running.get(key)
        if entry is None:
            entry = _running[key] = (threading.Event(), [])
            try:
                threading.Thread(target=_look_up, args=(key, *entry), name=f"ie-dns-{name}", daemon=True).start()
            except RuntimeError as exc:    # no thread to be had: no lookup left behind for others to wait on
                del _running[key]
                raise OSError(f"cannot look up {name}: {exc}") from None
    done, answer = entry
    if not done.wait(max(timeout, 0.0)):
        raise TimeoutError(f"no answer from the resolver for {name} within {timeout:.3g}s")
    if isinstance(answer[0], BaseException):
        raise answer[0]
    return answer[0]


def _look_up(key: tuple[str, int], done: threading.Event, answer: list) -> None:
    try:
        answer.append(socket.getaddrinfo(key[0], key[1], type=socket.SOCK_STREAM))
    except BaseException as exc:   # handed to the waiting callers (gaierror, UnicodeError)
        answer.append(exc)
    with _running_lock:
        del _running[key]
    done.set()


def _port(parts) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)

