"""Shared fixtures: the corpus folder (skip when absent) and local HTTP servers on 127.0.0.1."""

from __future__ import annotations

import http.server
import signal
import threading
from functools import partial
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
SEED = CORPUS / "seed" / "tworek-interview.md"
CDN_PREFIX = "https://cdn.jsdelivr.net/"


@pytest.fixture(scope="session", autouse=True)
def _interruptible_children():
    """Tests send SIGINT to the processes they start. A suite started in the background by a
    non-interactive shell (`cmd &`, many CI runners) inherits SIGINT *ignored*, and so would every
    child: Python then never raises KeyboardInterrupt and those tests hang. A handler here is reset
    to the default in each child at exec, so children are interruptible again."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        yield
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        yield


def pytest_configure(config):
    """Out of the real user cache from the start, before collection imports our modules: every
    command line a test runs reads (and at exit writes) the engine cache, dataclass_code's table too."""
    import os
    import tempfile

    config._real_xdg_cache = os.environ.get("XDG_CACHE_HOME")
    folder = Path(tempfile.gettempdir()) / f"interview-export-tests-{os.getuid()}"   # one per user, reused
    folder.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_CACHE_HOME"] = str(folder)


def pytest_unconfigure(config):
    import os

    old = getattr(config, "_real_xdg_cache", None)
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="session", autouse=True)
def _private_user_cache(tmp_path_factory):
    """Keep tests out of the real user cache (and its hits out of request counts)."""
    import os

    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="session", autouse=True)
def _no_machine_proxies():
    """The machine's HTTP(S)_PROXY/ALL_PROXY/NO_PROXY would send the tests' requests to 127.0.0.1
    through that proxy (the fetcher honours them): tests that want a proxy set their own."""
    import os

    saved = {key: os.environ.pop(key) for key in list(os.environ) if key.lower().endswith("_proxy")}
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    return CORPUS


@pytest.fixture(scope="session")
def seed(corpus) -> Path:
    return SEED


class _LoggingHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):  # keep pytest output quiet, remember the paths asked for
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()


class StaticServer:
    """A threaded static file server on 127.0.0.1 that records every request path."""

    def __init__(self, root: Path):
        handler = partial(_LoggingHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.requests = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def start(self) -> "StaticServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def chromium() -> str:
    """The system Chromium's path; the test is skipped (saying why) only when there is none."""
    from browsers import chromium_path

    path = chromium_path()
    if path is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; scripts/setup.sh test does it)")
    return path


@pytest.fixture(scope="session")
def browser(chromium):
    """One headless Chromium for the session, driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        engine = pw.chromium.launch(executable_path=chromium)
        yield engine
        engine.close()


@pytest.fixture
def cdn_server(corpus):
    """Serves ../shared/corpus/cdn; map CDN_PREFIX onto server.url with the mirror option."""
    server = StaticServer(corpus / "cdn").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cdn_session_server(corpus):
    """Like cdn_server, shared by a whole session (for slow EPUB/PDF corpus sweeps)."""
    server = StaticServer(corpus / "cdn").start()
    yield server
    server.stop()


# the longest files (~45 s and ~30 s of the ~290 s): under pytest-xdist a worker takes a whole file at a
# time, in collection order; started first, neither is left running alone on one worker at the end
LONGEST_FIRST = ("test_readers.py", "test_epub.py")


def pytest_collection_modifyitems(config, items):
    """In an xdist worker, collect the longest test files first (the order is otherwise unchanged)."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)


def pytest_terminal_summary(terminalreporter):
    """Say where tests/test_readers.py put its screenshots, so a person can look at them."""
    base = getattr(terminalreporter.config, "_tmp_path_factory", None)
    import os

    folders = [Path(os.environ["READER_SHOTS"])] if os.environ.get("READER_SHOTS") else []
    if not folders and base is not None:   # under pytest-xdist each worker has a basetemp/popen-gwN of its own
        root = base.getbasetemp()
        folders = [root / "reader-screenshots", *sorted(root.glob("popen-gw*/reader-screenshots"))]
    for folder in folders:
        if folder.is_dir() and any(folder.glob("*.png")):
            terminalreporter.write_line(f"reader screenshots and reader-report.json: {folder}")
