"""A warm image cache: what a conversion whose images all come from the cache still loads and does."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from conftest import StaticServer

MIRROR = "https://img.example/"
# run in a fresh process: media collected for `article` with images through a mirror at argv[2]
WARM = """
import json, sys
from pathlib import Path
from interview_export.media import collect_media
from interview_export.options import Options
from interview_export.reader import read_path

article, server, cache = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
options = Options(cache_dir=Path(cache), mirrors=(({mirror!r}, server),), allow_hosts=("127.0.0.1",))
bag = collect_media(read_path(article), article.parent, options, targets=("epub",))
watched = ("interview_export.netpolicy", "interview_export.webclient", "socket", "http.client", "PIL.Image",
           "interview_export.images", "concurrent.futures", "interview_export.fetcher")
print(json.dumps({{"status": [a.status for a in bag.assets.values()], "warnings": bag.warnings,
                  "loaded": [m for m in watched if m in sys.modules]}}))
""".format(mirror=MIRROR)


def _photo(seed: int) -> bytes:
    im = Image.new("RGB", (64, 48), (seed * 40 % 256, 90, 160))
    buf = BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _red(bag, src: str) -> int:
    """The red of the picture ``bag`` holds for ``src`` (``_photo(i)`` is one colour, its red i * 40)."""
    return Image.open(BytesIO(bag.get(src).data)).convert("RGB").getpixel((0, 0))[0]


def _collect(article: Path, server: StaticServer, cache: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", WARM, str(article), server.url, str(cache)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_a_warm_collection_loads_no_network_code_and_no_pillow(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    for i in range(3):
        (site / f"p{i}.jpg").write_bytes(_photo(i))
    article = tmp_path / "a.md"
    article.write_text("# 标题\n\n" + "".join(f"![图{i}]({MIRROR}p{i}.jpg)\n\n" for i in range(3)), encoding="utf-8")
    server = StaticServer(site).start()
    try:
        cold = _collect(article, server, tmp_path / "cache")
        asked = len(server.requests)
        warm = _collect(article, server, tmp_path / "cache")
    finally:
        server.stop()
    assert cold["status"] == ["ok"] * 3 and asked == 3 and cold["warnings"] == []
    assert {"interview_export.netpolicy", "interview_export.images", "PIL.Image",
            "interview_export.fetcher"} <= set(cold["loaded"])
    assert warm["status"] == ["cached"] * 3 and len(server.requests) == asked and warm["warnings"] == []
    # the URLs' host policy (socket, selectors) is made for a download only, the normalising code
    # (images) is loaded for a miss only; the photos are kept as they are (renditions stored as the
    # downloads' bytes): their links lead to the cache entries, no fetcher is made
    assert warm["loaded"] == []


def _count_hashes(monkeypatch) -> collections.Counter:
    """bytes → how often hashlib.sha256 is asked for them from now on."""
    import hashlib

    hashed: collections.Counter = collections.Counter()
    real = hashlib.sha256

    def counting(data=b"", *args, **kw):
        hashed[bytes(data)] += 1
        return real(data, *args, **kw)

    monkeypatch.setattr(hashlib, "sha256", counting)
    return hashed


def test_a_warm_collection_hashes_each_body_once(tmp_path, monkeypatch):
    from interview_export.media import collect_media
    from interview_export.options import Options
    from interview_export.reader import read_path

    site = tmp_path / "site"
    site.mkdir()
    bodies = [_photo(i) for i in range(3)]
    for i, body in enumerate(bodies):
        (site / f"p{i}.jpg").write_bytes(body)
    article = tmp_path / "a.md"   # p0 twice: one URL, one body
    article.write_text("# 标题\n\n" + "".join(f"![图]({MIRROR}p{i}.jpg)\n\n" for i in (0, 1, 2, 0)), encoding="utf-8")
    server = StaticServer(site).start()
    options = Options(cache_dir=tmp_path / "cache", mirrors=((MIRROR, server.url),), allow_hosts=("127.0.0.1",))
    try:
        cold = collect_media(read_path(article), tmp_path, options, targets=("epub",))
        hashed = _count_hashes(monkeypatch)
        warm = collect_media(read_path(article), tmp_path, options, targets=("epub",))
    finally:
        server.stop()
    assert [a.status for a in warm.assets.values()] == ["cached"] * 3
    assert [a.data for a in warm.assets.values()] == [a.data for a in cold.assets.values()]
    # by the cache's check of the stored entry; not again for the rendition key, nor to group bodies
    assert [hashed[b] for b in bodies] == [1, 1, 1]


# ------------------------------------------------------------ links: URL → the renditions, download unread
def _article(tmp_path: Path, n: int, folder: str, prefix: str) -> Path:
    """a.md showing n photos p0.jpg … written into tmp_path/folder, as prefix + name."""
    pics = tmp_path / folder
    pics.mkdir()
    for i in range(n):
        (pics / f"p{i}.jpg").write_bytes(_photo(i))
    article = tmp_path / "a.md"
    article.write_text("# 标题\n\n" + "".join(f"![图{i}]({prefix}p{i}.jpg)\n\n" for i in range(n)), encoding="utf-8")
    return article


def _site(tmp_path: Path, n: int) -> tuple[Path, StaticServer]:
    return _article(tmp_path, n, "site", MIRROR), StaticServer(tmp_path / "site").start()


def _options(tmp_path: Path, server: StaticServer, **kw):
    from interview_export.options import Options

    kw.setdefault("epub_image_long_side", 32)   # the photos are made smaller: renditions with bodies
    return Options(cache_dir=tmp_path / "cache", mirrors=((MIRROR, server.url),), allow_hosts=("127.0.0.1",), **kw)


def _fields(bag) -> list:
    import dataclasses

    return [dataclasses.astuple(a) for a in bag.assets.values()]


def _collect_in_process(article: Path, options, targets=("epub",)):
    from interview_export.media import collect_media
    from interview_export.reader import read_path

    return collect_media(read_path(article), article.parent, options, targets=targets)


def test_a_warm_collection_follows_links_and_never_reads_the_downloads(tmp_path, monkeypatch):
    from interview_export.cache import Cache

    article, server = _site(tmp_path, 2)
    try:
        o = _options(tmp_path, server)
        cold = _collect_in_process(article, o)
        assert sorted(p.name for p in (tmp_path / "cache").rglob("*.link")) == sorted(
            Cache(tmp_path / "cache").link_path(MIRROR + f"p{i}.jpg").name for i in range(2))

        def unread(self, url):
            raise AssertionError(f"download of {url} read")

        monkeypatch.setattr(Cache, "get", unread)
        warm = _collect_in_process(article, o)
    finally:
        server.stop()
    assert [a.status for a in cold.assets.values()] == ["ok"] * 2
    assert [a.status for a in warm.assets.values()] == ["cached"] * 2 and warm.warnings == []
    assert _fields(warm) == [(f[0], "cached", *f[2:]) for f in _fields(cold)]
    assert len(server.requests) == 2
    assert warm.get(MIRROR + "p0.jpg").source_size == len(_photo(0))


def test_a_forged_or_damaged_link_is_a_miss(tmp_path):
    import json

    from interview_export.cache import Cache

    article, server = _site(tmp_path, 2)
    try:
        o = _options(tmp_path, server)
        cold = _collect_in_process(article, o)
        cache = Cache(tmp_path / "cache")
        a, b = (cache.link_path(MIRROR + f"p{i}.jpg") for i in range(2))
        head_a, head_b = json.loads(a.read_bytes()), json.loads(b.read_bytes())
        # p0's link sends it to p1's renditions, its MAC kept: must not serve p1's picture for p0
        a.write_bytes(json.dumps({**head_a, "sha256": head_b["sha256"], "size": head_b["size"]}).encode() + b"\n")
        b.write_bytes(b"\x00garbage\n")
        again = _collect_in_process(article, o)
        relinked = json.loads(a.read_bytes()) == head_a and json.loads(b.read_bytes()) == head_b
    finally:
        server.stop()
    assert _fields(again) == [(f[0], "cached", *f[2:]) for f in _fields(cold)] and again.warnings == []
    assert len(server.requests) == 2   # the downloads in the cache, read and checked as before
    assert relinked                    # and the links written again


def test_a_link_does_not_outlive_its_download(tmp_path):
    """A download stored again (as a caller's revalidating fetcher stores a changed picture) or
    discarded drops its URL's link: the next warm conversion shows the entry's picture or fetches."""
    from interview_export.cache import Cache

    article, server = _site(tmp_path, 1)
    url = MIRROR + "p0.jpg"

    try:
        o = _options(tmp_path, server)
        cold = _collect_in_process(article, o)
        cache = Cache(tmp_path / "cache")
        cache.put(url, _photo(5))
        stored_again = _collect_in_process(article, o)
        (tmp_path / "site" / "p0.jpg").write_bytes(_photo(6))
        cache.discard(url)
        discarded = _collect_in_process(article, o)
    finally:
        server.stop()
    assert abs(_red(cold, url) - 0) < 8 and cold.get(url).status == "ok"
    assert abs(_red(stored_again, url) - 200) < 8 and stored_again.get(url).status == "cached"
    assert abs(_red(discarded, url) - 240) < 8 and discarded.get(url).status == "ok"
    assert len(server.requests) == 2


def test_a_link_to_a_rendition_stored_as_the_source_reads_each_record_once(tmp_path, monkeypatch):
    """Link, rendition, download: each file read once, and no fetcher made (the link says which
    content the download must have; the entry's check hashes it)."""
    from interview_export import cache as cache_mod, fetcher as fetcher_mod

    article, server = _site(tmp_path, 2)
    try:
        o = _options(tmp_path, server, epub_image_long_side=1600)   # kept as they are: no bodies of their own
        cold = _collect_in_process(article, o, targets=("epub",))
        read: collections.Counter = collections.Counter()
        real = cache_mod._read_record

        def counting(path, *args):
            read[Path(path).suffix] += 1
            return real(path, *args)

        def no_fetcher(*args, **kw):
            raise AssertionError("a fetcher made")

        monkeypatch.setattr(cache_mod, "_read_record", counting)
        monkeypatch.setattr(fetcher_mod.Fetcher, "from_options", no_fetcher)
        warm = _collect_in_process(article, o, targets=("epub",))
    finally:
        server.stop()
    assert _fields(warm) == [(f[0], "cached", *f[2:]) for f in _fields(cold)] and warm.warnings == []
    assert read == {".link": 2, ".rendition": 2, ".entry": 2}
    assert len(server.requests) == 2


def test_a_link_to_a_rendition_stored_as_the_source_reads_and_checks_the_download(tmp_path):
    from interview_export.cache import Cache

    article, server = _site(tmp_path, 1)
    url = MIRROR + "p0.jpg"
    try:
        o = _options(tmp_path, server, epub_image_long_side=1600)   # kept as it is: no body of its own
        cold = _collect_in_process(article, o, targets=("epub",))
        cache = Cache(tmp_path / "cache")
        assert cache.get_link(url) is not None
        entry = cache.path(url)
        raw = entry.read_bytes()
        entry.write_bytes(raw[:-9] + bytes([raw[-9] ^ 0x20]) + raw[-8:])   # the download damaged
        again = _collect_in_process(article, o, targets=("epub",))
    finally:
        server.stop()
    assert _fields(again) == _fields(cold) and again.warnings == []   # fetched anew: "ok", not "cached"
    assert len(server.requests) == 2


# ------------------------------------------------------------ local files: real path + stamp → the renditions
def _local_article(tmp_path: Path, n: int) -> Path:
    return _article(tmp_path, n, "pics", "pics/")


def _local_options(tmp_path: Path, **kw):
    from interview_export.options import Options

    kw.setdefault("epub_image_long_side", 32)   # made smaller: renditions with bodies of their own
    return Options(cache_dir=tmp_path / "cache", **kw)


def test_a_warm_collection_of_local_files_follows_their_links_and_hashes_none(tmp_path, monkeypatch):
    from interview_export import media

    monkeypatch.setattr(media, "LOCAL_SETTLED_NS", 0)   # the files were written just now
    article = _local_article(tmp_path, 2)
    o = _local_options(tmp_path)
    cold = _collect_in_process(article, o)
    assert len(list((tmp_path / "cache").rglob("*.link"))) == 2
    hashed = _count_hashes(monkeypatch)
    warm = _collect_in_process(article, o)
    assert _fields(warm) == _fields(cold) and warm.warnings == []
    assert [hashed[_photo(i)] for i in range(2)] == [0, 0]
    # the file is still opened and checked: a missing one is a placeholder, link or not
    (tmp_path / "pics" / "p1.jpg").unlink()
    gone = _collect_in_process(article, o)
    assert [a.status for a in gone.assets.values()] == ["ok", "placeholder"]


def test_a_local_file_rewritten_with_its_size_and_mtime_is_read_again(tmp_path, monkeypatch):
    """Same size, mtime set back (cp -p, rsync -t, touch -r): the ctime still moves, so the link is stale."""
    import os

    from interview_export import media

    monkeypatch.setattr(media, "LOCAL_SETTLED_NS", 0)
    article = _local_article(tmp_path, 1)
    pic = tmp_path / "pics" / "p0.jpg"
    o = _local_options(tmp_path)
    cold = _collect_in_process(article, o)
    before = os.stat(pic)
    other = _photo(7)   # red 280 % 256 = 24, the same length as _photo(0)
    assert len(other) == before.st_size
    with open(pic, "r+b") as fh:   # in place: same inode
        fh.write(other)
    os.utime(pic, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(pic)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    again = _collect_in_process(article, o)
    assert abs(_red(cold, "pics/p0.jpg") - 0) < 8 and abs(_red(again, "pics/p0.jpg") - 24) < 8


def test_a_local_file_changed_just_before_it_is_read_gets_no_link(tmp_path, monkeypatch):
    """A write in the same clock tick as the file's ctime would not move it: such a file is linked
    only once it has not changed for LOCAL_SETTLED_NS (it is read and hashed until then)."""
    from interview_export import media

    # "just before": within the hour, so a stalled machine (> 3 s between writing and reading) passes too
    monkeypatch.setattr(media, "LOCAL_SETTLED_NS", 3600 * 10**9)
    article = _local_article(tmp_path, 1)
    o = _local_options(tmp_path)
    first = _collect_in_process(article, o)
    again = _collect_in_process(article, o)
    assert list((tmp_path / "cache").rglob("*.link")) == []
    assert _fields(again) == _fields(first) and first.get("pics/p0.jpg").status == "ok"


@pytest.mark.skipif(not Path("/proc/self/mountinfo").is_file(), reason="Linux: /proc/self/mountinfo tells the file system")
@pytest.mark.parametrize("fs", ["vfat", "msdos", "exfat", "fuse.sshfs", "fuseblk", "hfs", "ntfs3", "ntfs", "cifs",
                                "smb3"])
def test_a_local_file_on_a_file_system_whose_ctime_a_program_sets_gets_no_link(tmp_path, monkeypatch, fs):
    """On FAT (Linux >= 5.19 keeps its ctime equal to its mtime, which utime sets: a same-size
    rewrite with its mtime put back, as exiv2 -k or cp -p do, leaves the very stamp) or a FUSE file
    system (times are what its daemon says), a stamp does not stand for one content: such a file is
    read and hashed every time, as before links (the picture in the book is never an old one)."""
    import os

    from interview_export import media

    monkeypatch.setattr(media, "LOCAL_SETTLED_NS", 0)
    article = _local_article(tmp_path, 1)
    dev = os.stat(tmp_path / "pics" / "p0.jpg").st_dev
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
                         f"98 27 {os.major(dev)}:{os.minor(dev)} / /media/stick rw,relatime shared:1 - {fs} /dev/sdb1 rw\n")
    monkeypatch.setattr(media, "MOUNTINFO", str(mountinfo), raising=False)
    o = _local_options(tmp_path)
    cold = _collect_in_process(article, o)
    hashed = _count_hashes(monkeypatch)
    warm = _collect_in_process(article, o)
    assert list((tmp_path / "cache").rglob("*.link")) == []
    assert _fields(warm) == _fields(cold) and hashed[_photo(0)] == 1
