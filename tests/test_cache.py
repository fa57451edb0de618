"""cache.Cache: URL-keyed bodies + validators on disk, atomic writes, consistency checks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading

import pytest

from interview_export.cache import Cache, default_cache_dir, url_key

URL = "https://cdn.example.org/a/b/image_01.png"


def test_put_then_get_returns_bytes_and_validators(tmp_path):
    cache = Cache(tmp_path)
    assert cache.get(URL) is None
    assert cache.put(URL, b"\x89PNG body", etag='"abc"', last_modified="Wed, 21 Oct 2015 07:28:00 GMT",
                     content_type="image/png", fetched_url="http://127.0.0.1:1/a/b/image_01.png")
    entry = cache.get(URL)
    assert entry.data == b"\x89PNG body"
    assert entry.etag == '"abc"'
    assert entry.last_modified == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert entry.content_type == "image/png"
    assert entry.meta["fetched_url"] == "http://127.0.0.1:1/a/b/image_01.png"
    assert cache.get(URL + "?other") is None


def test_layout_is_keyed_by_sha256_of_the_url_and_leaves_no_temp_files(tmp_path):
    cache = Cache(tmp_path)
    cache.put(URL, b"x" * 10, etag='"e"')
    key = url_key(URL)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == [f"{key[:2]}/{key}.entry"]
    header, _, body = (tmp_path / key[:2] / f"{key}.entry").read_bytes().partition(b"\n")
    meta = json.loads(header)
    assert meta["url"] == URL and meta["size"] == 10 and meta["etag"] == '"e"' and body == b"x" * 10


def test_damaged_entries_are_misses(tmp_path):
    cache = Cache(tmp_path)
    cache.put(URL, b"original body")
    entry = cache.path(URL)
    good = entry.read_bytes()
    entry.write_bytes(good[:-3])                        # half a file
    assert cache.get(URL) is None
    entry.write_bytes(good[:-4] + b"XXXX")              # same size, other bytes
    assert cache.get(URL) is None
    entry.write_bytes(b"{not json\n" + b"original body")
    assert cache.get(URL) is None
    entry.write_bytes(good)
    assert cache.get(URL).data == b"original body"


def test_discard_forgets(tmp_path):
    cache = Cache(tmp_path)
    cache.put(URL, b"data")
    cache.discard(URL)
    assert cache.get(URL) is None
    cache.discard(URL)  # twice is fine


def test_unwritable_cache_folder_does_not_raise(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = Cache(blocker / "cache")  # mkdir below a regular file fails on every OS and for root
    assert cache.put(URL, b"data") is False
    assert cache.get(URL) is None


def test_default_folder_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_cache_dir() == tmp_path / "xdg" / "interview-export" / "images"
    assert Cache().root == default_cache_dir()


def test_concurrent_writers_and_readers_never_see_a_mixed_entry(tmp_path):
    cache = Cache(tmp_path)
    bodies = [bytes([i]) * (50_000 + i * 1000) for i in range(4)]
    seen: list[bytes | None] = []
    stop = threading.Event()

    def writer(body):
        for _ in range(40):
            Cache(tmp_path).put(URL, body)

    def reader():
        while not stop.is_set():
            entry = Cache(tmp_path).get(URL)
            seen.append(None if entry is None else entry.data)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(b,)) for b in bodies]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert any(s is not None for s in seen)
    assert all(s is None or s in bodies for s in seen)
    assert cache.get(URL).data in bodies
    leftovers = [p.name for p in tmp_path.rglob(".tmp-*")]
    assert leftovers == []


def test_two_processes_writing_at_once_leave_a_consistent_entry(tmp_path):
    code = (
        "import sys; from interview_export.cache import Cache\n"
        "c = Cache(sys.argv[1]); body = sys.argv[2].encode() * 200000\n"
        "for _ in range(20): c.put('https://x.test/i.png', body)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), ch]) for ch in "ab"]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    data = Cache(tmp_path).get("https://x.test/i.png").data
    assert data in (b"a" * 200000, b"b" * 200000)
    assert not [n for n in os.listdir(next(tmp_path.iterdir())) if n.startswith(".tmp-")]
    assert len(list(tmp_path.rglob("*.entry"))) == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"), reason="no FIFOs")
def test_a_fifo_or_a_device_planted_in_the_cache_is_a_miss(tmp_path):
    """Whoever can write a shared cache could plant a FIFO (opening it waits for a writer) or a
    symlink to /dev/zero (reading it never ends) where an entry, a link or a rendition goes."""
    code = (
        "import os, resource, sys; from interview_export.cache import Cache\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))   # /dev/zero read: MemoryError, soon\n"
        "c = Cache(sys.argv[1]); u = 'https://x.test/i.png'; key = 'ab' * 32\n"
        "for p in (c.path(u), c.link_path(u), c.rendition_path(key)):\n"
        "    p.parent.mkdir(parents=True, exist_ok=True)\n"
        "os.mkfifo(c.path(u)); os.mkfifo(c.link_path(u)); os.symlink('/dev/zero', c.rendition_path(key))\n"
        "print(c.get(u), c.get_link(u), c.get_rendition(key, None, ''))\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "user-cache")}
    try:
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "cache")], capture_output=True,
                             text=True, timeout=30, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("reading a FIFO in the cache waited for a writer")
    assert out.stdout.split() == ["None"] * 3, out.stderr[-400:]


def test_a_huge_file_planted_in_the_cache_is_a_miss_without_reading_it(tmp_path):
    """A symlink to (or a regular file the size of) a huge file where an entry, a link or a
    rendition goes is a miss, read no further than a header line: never the whole file (a
    sparse 2 GiB file under a 768 MiB address-space limit: reading it whole is a MemoryError)."""
    code = (
        "import os, resource, sys, time; from interview_export.cache import Cache\n"
        "resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))\n"
        "c = Cache(sys.argv[1]); u = 'https://x.test/i.png'; key = 'ab' * 32; big = 2 << 30\n"
        "def huge(name, head=b''):\n"
        "    path = os.path.join(sys.argv[1], name)\n"
        "    with open(path, 'wb') as fh:\n"
        "        fh.write(head); fh.truncate(big)\n"
        "    return path\n"
        "for p in (c.path(u), c.link_path(u), c.rendition_path(key)):\n"
        "    p.parent.mkdir(parents=True, exist_ok=True)\n"
        "head = b'{\"url\":\"%s\",\"size\":%d,\"sha256\":\"%s\"}\\n' % (u.encode(), big - 80, b'0' * 64)\n"
        "huge('entry', head.ljust(80)); os.rename(os.path.join(sys.argv[1], 'entry'), c.path(u))\n"
        "os.symlink(huge('zeros'), c.link_path(u))\n"
        "rhead = b'{\"key\":\"%s\",\"size\":%d,\"sha256\":\"0\",\"same_as_source\":false,\"meta\":{},\"mac\":\"0\"}\\n'\n"
        "os.symlink(huge('rendition', rhead % (key.encode(), big)), c.rendition_path(key))\n"
        "t = time.perf_counter()\n"
        "print(c.get(u), c.get_link(u), c.get_rendition(key, None, ''), c.get_rendition(key, b's', 'x'))\n"
        "print(time.perf_counter() - t < 2)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "user-cache")}
    (tmp_path / "cache").mkdir()
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "cache")], capture_output=True,
                         text=True, timeout=120, env=env)
    assert out.stdout.split() == ["None"] * 4 + ["True"], out.stderr[-400:]


def test_an_entry_over_the_byte_cap_is_a_miss(tmp_path):
    """A cached download is never larger than the fetcher's byte cap: a bigger one was not made
    by us and is not read."""
    Cache(tmp_path).put(URL, b"x" * 1000)
    assert Cache(tmp_path, max_bytes=1000).get(URL).data == b"x" * 1000
    assert Cache(tmp_path, max_bytes=999).get(URL) is None


# ---------------------------------------------------------------- renditions
def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_rendition_round_trip_layout_and_no_temp_files(tmp_path):
    cache, key, body, source = Cache(tmp_path), "ab" * 32, b"JPEG bytes", b"source bytes"
    assert cache.get_rendition(key, source, _sha(source)) is None
    assert cache.put_rendition(key, body, {"format": "JPEG", "width": 3})
    got = cache.get_rendition(key, source, _sha(source))
    assert (got.data, got.sha256, got.meta) == (body, _sha(body), {"format": "JPEG", "width": 3})
    files = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [f"renditions/ab/{key}.rendition"]
    assert cache.get(URL) is None  # a separate namespace from the URL entries


def test_rendition_header_and_body_damage_are_misses(tmp_path):
    cache, key, body = Cache(tmp_path), "cd" * 32, b"x" * 100
    cache.put_rendition(key, body, {"format": "PNG", "width": 1})
    path = cache.rendition_path(key)
    good = path.read_bytes()
    header = good.partition(b"\n")[0]
    variants = [good[:-1], good + b"!", good.replace(b'"width":1', b'"width":2'),
                good.replace(b'"PNG"', b'"GIF"'), header, b"", good[: len(header) // 2]]
    for raw in variants:
        path.write_bytes(raw)
        assert cache.get_rendition(key, b"s", _sha(b"s")) is None, raw[:80]
    path.write_bytes(good)
    assert cache.get_rendition(key, b"s", _sha(b"s")).data == body
    assert cache.get_rendition("ef" * 32, b"s", _sha(b"s")) is None  # another key's file


def test_rendition_write_failure_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert Cache(blocker).put_rendition("ab" * 32, b"x", {}) is False


def test_a_keys_folder_others_can_write_is_not_trusted(tmp_path, monkeypatch, caplog):
    """keys/ follows the rule engine/ and fonts/ follow: in a shared (0777) folder someone else could
    have planted the key, and with it forge renditions. Such a key is not used, with one warning;
    the run goes on without cached renditions (downloads are still cached)."""
    import hashlib
    import hmac
    import logging

    from interview_export import cache as cache_module

    xdg = tmp_path / "xdg"
    keys = xdg / "interview-export" / "keys"
    keys.mkdir(parents=True)
    keys.chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.setattr(cache_module, "_secret", cache_module._secret.__wrapped__)   # no memo across tests
    root, key, forged = tmp_path / "cache", "ab" * 32, b"<svg onload=alert(1)>"
    planted = b"k" * 32
    (keys / hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:32]).write_bytes(planted)
    head = {"key": key, "size": len(forged), "sha256": _sha(forged), "same_as_source": False,
            "meta": {"format": "JPEG"}}
    text = json.dumps(head, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    head["mac"] = hmac.new(planted, text.encode(), hashlib.sha256).hexdigest()
    cache = Cache(root)
    path = cache.rendition_path(key)
    path.parent.mkdir(parents=True)
    path.write_bytes(json.dumps(head, sort_keys=True, separators=(",", ":")).encode() + b"\n" + forged)
    with caplog.at_level(logging.WARNING, logger="interview_export.cache"):
        assert cache.get_rendition(key, b"s", _sha(b"s")) is None
        assert cache.put_rendition("cd" * 32, b"x", {}) is False
        cache.put(URL, b"body")
    assert cache.get(URL).data == b"body"
    assert f"image cache keys not used (others can write {keys}): cached renditions are not used (set XDG_CACHE_HOME to a folder of your own)" in caplog.text
    keys.chmod(0o700)   # the user's own folder: the key in it is used
    assert cache.get_rendition(key, b"s", _sha(b"s")).data == forged


def test_a_book_made_without_cached_renditions_says_why(tmp_path, monkeypatch):
    from interview_export import api, cache as cache_module
    from interview_export.options import Options

    from helpers import png_bytes

    keys = tmp_path / "xdg" / "interview-export" / "keys"
    keys.mkdir(parents=True)
    keys.chmod(0o757)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(cache_module, "_secret", cache_module._secret.__wrapped__)
    (tmp_path / "p.png").write_bytes(png_bytes())
    (tmp_path / "a.md").write_text("# t\n\n![p](p.png)\n")
    options = Options(cache_dir=tmp_path / "cache")
    bag = api.collect_media(api.load(tmp_path / "a.md"), options, base_dir=tmp_path)
    assert next(iter(bag.assets.values())).ok
    assert bag.warnings == [f"{tmp_path / 'a.md'}: image cache keys not used (others can write {keys}): cached renditions are not used"
                            " (set XDG_CACHE_HOME to a folder of your own)"]
    assert list(keys.iterdir()) == [] and not (tmp_path / "cache" / "renditions").exists()


def test_keys_in_a_folder_under_one_others_can_write_are_not_used(tmp_path, monkeypatch):
    """XDG_CACHE_HOME=/tmp/evil/xdg with /tmp/evil open to all (not sticky): keys/ itself is ours
    and 0700, but whoever can write /tmp/evil can swap xdg for a folder holding their own key."""
    from interview_export import api, cache as cache_module, util
    from interview_export.options import Options

    from helpers import png_bytes

    evil = tmp_path / "evil"
    evil.mkdir()
    evil.chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(evil / "xdg"))
    monkeypatch.setattr(cache_module, "_secret", cache_module._secret.__wrapped__)
    monkeypatch.setattr(util, "_UNCHANGEABLE", {}, raising=False)
    (tmp_path / "p.png").write_bytes(png_bytes())
    (tmp_path / "a.md").write_text("# t\n\n![p](p.png)\n")
    bag = api.collect_media(api.load(tmp_path / "a.md"), Options(cache_dir=tmp_path / "cache"), base_dir=tmp_path)
    assert next(iter(bag.assets.values())).ok
    assert bag.warnings == [f"{tmp_path / 'a.md'}: image cache keys not used (others can write {evil}):"
                            " cached renditions are not used (set XDG_CACHE_HOME to a folder of your own)"]
    assert not list((evil / "xdg" / "interview-export" / "keys").iterdir())


def test_threads_making_the_key_at_once_all_get_it_whole(tmp_path, monkeypatch):
    """The first writer wins and the others read its key, never a part of it (which turned the
    renditions off, with a warning, for a book whose image threads asked at the same moment)."""
    from concurrent.futures import ThreadPoolExecutor

    from interview_export import cache as cache_module

    for round_ in range(20):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"xdg{round_}"))
        barrier = threading.Barrier(8)

        def make(_):
            barrier.wait()
            return cache_module._secret.__wrapped__(tmp_path / "cache")

        with ThreadPoolExecutor(8) as pool:
            keys = set(pool.map(make, range(8)))
        assert len(keys) == 1 and len(keys.pop() or b"") == 32
        assert [p.name for p in (tmp_path / f"xdg{round_}" / "interview-export" / "keys").iterdir()] == [
            hashlib.sha256(os.path.realpath(tmp_path / "cache").encode()).hexdigest()[:32]]


def test_a_killed_runs_leftover_temporary_key_does_not_stop_the_key(tmp_path):
    # c089171 named the temporary key after the pid and thread id: a run killed between writing and
    # linking left it behind, and a later process with the same pid and thread (pid 1 in a container)
    # could never write the key (renditions off, 'unreadable (No such file …)')
    import threading

    from interview_export import cache as cache_module

    folder, name = tmp_path / "keys", "k" * 32
    folder.mkdir(mode=0o700)
    leftover = folder / f".tmp-{name}-{os.getpid()}-{threading.get_ident()}"
    leftover.write_bytes(b"half")
    key, problem = cache_module._key_in(folder, name)
    assert problem == "" and key is not None and len(key) == 32
    assert (folder / name).read_bytes() == key
