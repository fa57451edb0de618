"""Image URL → bytes: the one object that does outside I/O, with the whole policy in its constructor.

Policy: only ``http``/``https`` (after mirrors are applied); connect and read timeouts plus an
overall deadline per download; a byte cap checked while streaming (the download is aborted as soon
as it is exceeded, before a declared ``Content-Length`` is even read); at most ``max_redirects``
redirects, followed by hand so loops are named as loops and every hop is checked again; retries
with exponential backoff on connection errors, 429 and 5xx, never on other 4xx; a
``interview-export/<version>`` User-Agent; ``fetch_many`` downloads in parallel (8 at a time by
default). No request goes to a loopback, private or link-local address (``netpolicy``: the URL's
host before connecting, the address really connected to when connecting, every redirect hop)
unless its host is trusted (``allow_hosts``, mirror targets). ``HTTP(S)_PROXY``/``ALL_PROXY``/
``NO_PROXY`` are honoured (the proxy then connects; literal private addresses are still refused
here). A host name lookup waits at most the connect timeout and the deadline (a resolver that does
not answer makes the host dead, as a DNS failure does), and so does the TLS handshake (a host that
takes the connection and stalls the handshake is dead, as one that stalls its answer is). Per book (per fetcher): a download budget
in seconds and bytes; a host that timed out once is dead for the rest of the book. The disk cache (``cache.Cache``) is consulted first and written only with bodies that
pass the caller's ``check``; ``offline`` serves the cache and nothing else.

The HTTP itself is ``webclient`` (the standard library's ``http.client``). Tests point a mirror at a
local server on 127.0.0.1.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable
from urllib.parse import urljoin, urlsplit

from .cache import Cache
from .errors import ImageError

if TYPE_CHECKING:  # http.client (with email and ssl behind it) loads only when a download happens,
    from . import webclient  # netpolicy (socket, selectors, ipaddress) only when a URL is checked
    from .netpolicy import Policy

log = logging.getLogger("interview_export.fetcher")

ALLOWED_SCHEMES = ("http", "https")
REDIRECT_CODES = (301, 302, 303, 307, 308)
MAX_RETRY_AFTER = 10.0  # seconds: a server asking for longer is not worth waiting for
BUDGET_SECONDS = 40.0   # all downloads of one book: a slow host cannot hold a conversion for long
BUDGET_BYTES = 200 * 1024 * 1024


@functools.lru_cache(maxsize=1)
def user_agent() -> str:
    """``interview-export/<version> (Python-http.client/<python version>)``: version.py, not
    importlib.metadata, which scans the installed distributions (~12 ms a process; version.py is
    pyproject's version, a test keeps them equal)."""
    import sys

    from .version import __version__

    return f"interview-export/{__version__} (Python-http.client/{'.'.join(map(str, sys.version_info[:3]))})"


def apply_mirrors(url: str, mirrors: Iterable[tuple[str, str]]) -> str:
    """Rewrite ``url`` with the longest matching ``(prefix, replacement)``; unchanged if none."""
    best = None
    for prefix, replacement in mirrors:
        if prefix and url.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, replacement)
    if best is None:
        return url
    return best[1] + url[len(best[0]):]


@dataclass(frozen=True)
class Fetched:
    """A body and where it came from."""

    url: str             # the URL asked for (as in the Markdown)
    final_url: str       # the URL that answered (after mirrors and redirects; == url if cached)
    data: bytes
    content_type: str = ""
    from_cache: bool = False
    etag: str = ""
    last_modified: str = ""


_DNS_FAILURES = ("name or service not known", "temporary failure in name resolution",
                 "nodename nor servname", "no address associated with hostname", "getaddrinfo failed")


def _is_dns_failure(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _DNS_FAILURES)


class _Retry(Exception):
    def __init__(self, reason: str, wait: float | None = None, *, connection: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.connection = connection  # the host could not be reached at all


class Fetcher:
    """Downloads image URLs under one policy; thread-safe; use as a context manager or close()."""

    def __init__(
        self,
        *,
        mirrors: Iterable[tuple[str, str]] = (),
        offline: bool = False,
        cache: Cache | None = None,
        timeout: float = 20.0,
        connect_timeout: float | None = None,
        total_timeout: float | None = None,
        max_bytes: int = 25 * 1024 * 1024,
        max_redirects: int = 5,
        retries: int = 3,
        backoff: float = 0.5,
        max_workers: int = 8,
        revalidate: bool = False,
        user_agent: str | None = None,   # None: user_agent()
        allow_hosts: Iterable[str] = (),
        budget_seconds: float = BUDGET_SECONDS,
        budget_bytes: int = BUDGET_BYTES,
    ):
        self.mirrors = tuple(mirrors)
        self._allow_hosts = tuple(allow_hosts)
        self._policy: Policy | None = None   # made when a URL is first checked: cache hits need none
        for _prefix, replacement in self.mirrors:   # a bad port fails here, as Policy() would
            urlsplit(replacement).port
        self.budget_seconds = budget_seconds
        self.budget_bytes = budget_bytes
        self._budget_end: float | None = None   # set by the first download
        self._bytes_read = 0
        self.offline = offline
        self.cache = cache
        self.timeout = timeout
        self.total_timeout = total_timeout if total_timeout is not None else max(min(timeout * 6, budget_seconds), 1.0)
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_workers = max(1, max_workers)
        self.revalidate = revalidate
        self.network_requests = 0  # counted for tests and the batch summary
        self._count_lock = threading.Lock()
        # hosts that could not be reached even after retrying: later images there fail at once
        # (25 images on a blackholed host must not each wait out every timeout and retry)
        self._dead_hosts: dict[str, str] = {}
        self._user_agent = user_agent
        self._connect_timeout = connect_timeout
        self._client_lock = threading.Lock()
        self._client_obj: webclient.Client | None = None  # made on first download: cache hits need none

    @property
    def policy(self) -> "Policy":
        """Which hosts this fetcher may connect to (``netpolicy.Policy``: public ones, the trusted)."""
        with self._client_lock:
            if self._policy is None:
                from .netpolicy import Policy

                self._policy = Policy(self._allow_hosts, self.mirrors)
            return self._policy

    @property
    def _client(self) -> "webclient.Client":
        policy = self.policy
        with self._client_lock:
            if self._client_obj is None:
                from . import webclient

                connect = self._connect_timeout if self._connect_timeout else min(self.timeout, 10.0)
                self._client_obj = webclient.Client(
                    policy, timeout=self.timeout, connect_timeout=connect, max_idle=self.max_workers,
                    headers={"User-Agent": self._user_agent or user_agent(), "Accept": "image/*,*/*;q=0.5"})
            return self._client_obj

    @classmethod
    def from_options(cls, options, **overrides) -> "Fetcher":
        """A fetcher configured from ``Options`` (mirrors, offline, cache, caps, timeout, parallelism)."""
        cache = None
        if options.use_cache:
            cache = Cache(options.cache_dir, max_bytes=options.max_image_bytes)
        kwargs = dict(
            mirrors=options.mirrors,
            offline=options.offline,
            cache=cache,
            timeout=options.timeout,
            max_bytes=options.max_image_bytes,
            max_workers=options.max_downloads,
            allow_hosts=options.allow_hosts,
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the HTTP connections (the fetcher can be used again: it reconnects)."""
        with self._client_lock:
            if self._client_obj is not None:
                self._client_obj.close()
                self._client_obj = None

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ public API
    def fetch(self, url: str, check: Callable[[bytes], object] | None = None) -> Fetched:
        """The body of ``url`` (cache first). ``check(data)`` may raise ImageError to refuse it;
        only bodies that pass are cached. Raises ImageError(url, reason) on any failure."""
        cached = self._cached(url, check)
        if cached is not None and (self.offline or not self.revalidate):
            return Fetched(url, url, cached.data, cached.content_type, from_cache=True)
        return self._fetch_rest(url, check, cached)

    def _cached(self, url: str, check: Callable[[bytes], object] | None):
        """The cache entry of ``url`` if there is one and its body passes ``check``."""
        cached = self.cache.get(url) if self.cache is not None else None
        if cached is not None and check is not None:
            try:
                check(cached.data)
            except ImageError:
                log.info("cached body of %s fails the checks; dropped", url)
                if self.cache is not None:
                    self.cache.discard(url)
                cached = None
        return cached

    def _fetch_rest(self, url: str, check: Callable[[bytes], object] | None, cached) -> Fetched:
        if self.offline:
            raise ImageError(url, "offline and not in the image cache" if self.cache is not None
                             else "offline and the image cache is off")
        result = self._download(url, cached)
        if check is not None:
            try:
                check(result.data)
            except ImageError as exc:
                raise ImageError(url, exc.reason) from None
        if self.cache is not None and not result.from_cache:
            self.cache.put(url, result.data, etag=result.etag, last_modified=result.last_modified,
                           content_type=result.content_type, fetched_url=result.final_url)
        return result

    def fetch_many(self, urls: Iterable[str], check: Callable[[bytes], object] | None = None
                   ) -> dict[str, Fetched | ImageError]:
        """Fetch each distinct URL once, ``max_workers`` at a time; failures are returned, not raised."""
        unique = list(dict.fromkeys(urls))
        results: dict[str, Fetched | ImageError] = {}
        if not unique:
            return results

        def one(u: str, cached) -> Fetched | ImageError:     # the cache was already looked at
            try:
                return self._fetch_rest(u, check, cached)
            except ImageError as exc:
                return exc
            except Exception as exc:  # a bug or an HTTP corner case must not sink the others
                log.exception("unexpected error fetching %s", u)
                return ImageError(u, f"unexpected error: {type(exc).__name__}: {exc}")

        # cache hits are served here, in order: threads only for what needs the network
        rest: dict[str, object] = {}
        for u in unique:
            cached = self._cached(u, check)
            if cached is not None and (self.offline or not self.revalidate):
                results[u] = Fetched(u, u, cached.data, cached.content_type, from_cache=True)
            else:
                rest[u] = cached
        if len(rest) <= 1 or self.max_workers == 1:
            results.update({u: one(u, cached) for u, cached in rest.items()})
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(self.max_workers, len(rest)),
                                    thread_name_prefix="ie-fetch") as pool:
                for u, res in zip(rest, pool.map(one, rest, rest.values())):
                    results[u] = res
        return {u: results[u] for u in unique}

    # ------------------------------------------------------------ network
    def _download(self, url: str, cached) -> Fetched:
        target = apply_mirrors(url, self.mirrors)
        self._check_scheme(url, target)
        self._check_address(url, target)
        host = urlsplit(target).netloc.lower()
        with self._count_lock:
            if self._budget_end is None:
                self._budget_end = time.monotonic() + self.budget_seconds
        last_reason, unreachable = "failed", False
        for attempt in range(self.retries + 1):
            self._check_budget(url)
            if host in self._dead_hosts:
                raise ImageError(url, f"host {host} unreachable ({self._dead_hosts[host]})")
            try:
                return self._download_once(url, target, cached)
            except _Retry as retry:
                last_reason, unreachable = retry.reason, retry.connection
                if attempt == self.retries:
                    break
                wait = self.backoff * (2 ** attempt)
                if retry.wait is not None:
                    wait = max(wait, min(retry.wait, MAX_RETRY_AFTER))
                log.info("%s: %s; retry %d/%d in %.1fs", url, retry.reason, attempt + 1, self.retries, wait)
                time.sleep(wait)
        tries = self.retries + 1
        reason = f"{last_reason} (after {tries} attempt{'s' if tries > 1 else ''})"
        if unreachable:
            with self._count_lock:
                self._dead_hosts.setdefault(host, reason)
        raise ImageError(url, reason)

    def _check_address(self, url: str, target: str) -> None:
        from .netpolicy import AddressRefused

        try:
            self.policy.check_url(target)
        except AddressRefused as exc:
            raise ImageError(url, exc.reason) from None
        except ValueError as exc:   # urlsplit: "Invalid IPv6 URL"
            raise ImageError(url, f"invalid URL ({exc})") from None

    def _out_of_time(self, url: str) -> ImageError | None:
        """The error when this book's download budget in seconds is used up, else None."""
        if self._budget_end is not None and time.monotonic() >= self._budget_end:
            return ImageError(url, f"download budget of this book used up ({self.budget_seconds:g} s)")
        return None

    def _check_budget(self, url: str) -> None:
        spent = self._out_of_time(url)
        if spent is not None:
            raise spent
        if self._bytes_read > self.budget_bytes:
            raise ImageError(url, f"download budget of this book used up ({self.budget_bytes} bytes)")

    def _mark_dead(self, url: str, reason: str) -> None:
        with self._count_lock:
            self._dead_hosts.setdefault(urlsplit(url).netloc.lower(), reason)

    def _too_slow(self, url: str, current: str) -> ImageError:
        spent = self._out_of_time(url)
        if spent is not None:   # not the host's fault
            return spent
        reason = f"download took longer than {self.total_timeout:g}s; aborted"
        self._mark_dead(current, "too slow: " + reason)
        return ImageError(url, reason)

    def _check_scheme(self, url: str, target: str) -> None:
        scheme = target.split(":", 1)[0].lower() if ":" in target else ""
        if scheme not in ALLOWED_SCHEMES:
            raise ImageError(url, f"URL scheme {scheme or '(none)'!r} is not allowed (only http and https)")

    def _download_once(self, url: str, target: str, cached) -> Fetched:
        client = self._client
        from . import webclient as web  # loaded by self._client; a dictionary lookup here
        from .netpolicy import AddressRefused

        deadline = time.monotonic() + self.total_timeout
        if self._budget_end is not None:    # a download begun late ends with the book's budget too
            deadline = min(deadline, self._budget_end)
        seen: set[str] = set()
        current = target
        for _ in range(self.max_redirects + 1):
            seen.add(current)
            headers = {}
            if cached is not None and self.revalidate:
                if cached.etag:
                    headers["If-None-Match"] = cached.etag
                if cached.last_modified:
                    headers["If-Modified-Since"] = cached.last_modified
            with self._count_lock:
                self.network_requests += 1
            try:
                with client.get(current, headers, deadline) as response:
                    status = response.status
                    if status in REDIRECT_CODES:
                        location = response.header("location")
                        if not location:
                            raise ImageError(url, f"HTTP {status} redirect without a Location")
                        try:
                            nxt = apply_mirrors(urljoin(response.url, location.strip()), self.mirrors)
                        except ValueError as exc:
                            raise ImageError(url, f"HTTP {status} redirect to an invalid URL ({exc})") from None
                        self._check_scheme(url, nxt)
                        self._check_address(url, nxt)
                        if nxt in seen:
                            raise ImageError(url, f"redirect loop ({current} → {nxt})")
                        current = nxt
                        continue
                    if status == 304 and cached is not None:
                        return Fetched(url, current, cached.data, cached.content_type, from_cache=True)
                    if status == 429 or 500 <= status <= 599:
                        raise _Retry(f"HTTP {status} {response.reason}".strip(),
                                     _retry_after(response.header("retry-after")))
                    if status != 200:
                        raise ImageError(url, f"HTTP {status} {response.reason}".strip())
                    data = self._read_capped(url, current, response, deadline)
                    return Fetched(url, response.url, data, response.header("content-type"),
                                   etag=response.header("etag"), last_modified=response.header("last-modified"))
            except (web.LookupTimeout, web.HandshakeTimeout) as exc:
                # a resolver that hangs once hangs again, a host that took the connection and then
                # stalled the TLS handshake is as dead as one that stalls its answer: no retries, host dead
                step = "host name lookup" if isinstance(exc, web.LookupTimeout) else "TLS handshake"
                reason = f"timed out ({step}: {exc})"
                self._mark_dead(current, reason)
                raise ImageError(url, reason)
            except (web.ConnectError, web.ConnectTimeout, web.RemoteProtocolError,
                    web.ReadError, web.WriteError) as exc:
                if isinstance(exc, web.ConnectError) and _is_dns_failure(exc):
                    # a name that does not resolve will not resolve in 2 s: no retries, host dead
                    reason = f"host name not found ({exc})"
                    self._mark_dead(current, reason)
                    raise ImageError(url, reason)
                raise _Retry(f"connection failed ({type(exc).__name__}: {exc or 'no detail'})",
                             connection=isinstance(exc, (web.ConnectError, web.ConnectTimeout)))
            except AddressRefused as exc:
                raise ImageError(url, exc.reason) from None
            except web.DeadlineExceeded:
                raise self._too_slow(url, current) from None
            except (web.ReadTimeout, web.WriteTimeout) as exc:
                reason = f"timed out (no data within {self.timeout:g}s: {type(exc).__name__})"
                self._mark_dead(current, reason)
                raise ImageError(url, reason)
            except web.InvalidURL as exc:
                raise ImageError(url, f"invalid URL ({exc})")
            except web.TransportError as exc:  # decoding errors, proxy errors
                raise ImageError(url, f"download failed ({type(exc).__name__}: {exc})")
        raise ImageError(url, f"too many redirects (more than {self.max_redirects})")

    def _read_capped(self, url: str, current: str, response: webclient.Response, deadline: float) -> bytes:
        declared = response.header("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise ImageError(url, f"too large ({int(declared)} bytes declared, limit {self.max_bytes})")
        buf = bytearray()
        for chunk in response.chunks():
            buf += chunk
            with self._count_lock:
                self._bytes_read += len(chunk)
            if len(buf) > self.max_bytes or response.received > self.max_bytes:   # decoded or on the wire
                raise ImageError(url, f"too large (more than {self.max_bytes} bytes; download aborted)")
            if time.monotonic() > deadline:
                raise self._too_slow(url, current)
            self._check_budget(url)
        return bytes(buf)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
