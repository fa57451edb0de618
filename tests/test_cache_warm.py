"""A warm image cache: what a conversion whose images all come from the cache still loads and does."""

from __future__ import annotations

import json
import subprocess
import sys
from io import BytesIO
from pathlib import Path

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
           "interview_export.images", "concurrent.futures")
print(json.dumps({{"status": [a.status for a in bag.assets.values()], "warnings": bag.warnings,
                  "loaded": [m for m in watched if m in sys.modules]}}))
""".format(mirror=MIRROR)


def _photo(seed: int) -> bytes:
    im = Image.new("RGB", (64, 48), (seed * 40 % 256, 90, 160))
    buf = BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


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
    assert {"interview_export.netpolicy", "interview_export.images", "PIL.Image"} <= set(cold["loaded"])
    assert warm["status"] == ["cached"] * 3 and len(server.requests) == asked and warm["warnings"] == []
    # the URLs' host policy (socket, selectors) is made for a download only, the normalising code
    # (images) is loaded for a miss only
    assert warm["loaded"] == []


def test_a_warm_collection_hashes_each_body_once(tmp_path, monkeypatch):
    import collections
    import hashlib

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
        hashed: collections.Counter = collections.Counter()
        real = hashlib.sha256

        def counting(data=b"", *args, **kw):
            hashed[bytes(data)] += 1
            return real(data, *args, **kw)

        monkeypatch.setattr(hashlib, "sha256", counting)
        warm = collect_media(read_path(article), tmp_path, options, targets=("epub",))
    finally:
        server.stop()
    assert [a.status for a in warm.assets.values()] == ["cached"] * 3
    assert [a.data for a in warm.assets.values()] == [a.data for a in cold.assets.values()]
    # by the cache's check of the stored entry; not again for the rendition key, nor to group bodies
    assert [hashed[b] for b in bodies] == [1, 1, 1]
