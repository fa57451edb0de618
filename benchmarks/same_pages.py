#!/usr/bin/env python3
"""Two PDFs → do their pages look the same? Page images, text and line figures compared.

A speed change must not change the book. For each pair of PDFs (before, after) this prints: the
page count, the pixels that differ on each page rendered at 60 dpi (``pdftoppm -r 60 -png``,
Pillow's ImageChops), whether ``pdftotext`` gives the same text, whether the line-quality figures
of ``pdflines.py`` (the shared tools) are the same, whether the files are byte-identical, and
their sizes. Exit 1 when any page differs.

    python benchmarks/same_pages.py before-A4.pdf after-A4.pdf [before-A5.pdf after-A5.pdf …]

Needs poppler-utils and Pillow; pdflines.py is looked for at ../shared/tools (skipped if absent).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

PDFLINES = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "pdflines.py"


def page_images(pdf: Path, folder: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(folder / "page")], check=True)
    return sorted(folder.glob("page*.png"))


def differing_pixels(a: Path, b: Path) -> int:
    from PIL import Image, ImageChops

    with Image.open(a) as x, Image.open(b) as y:
        if x.size != y.size:
            return x.size[0] * x.size[1]
        red, green, blue = ImageChops.difference(x.convert("RGB"), y.convert("RGB")).split()
        largest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
        return x.size[0] * x.size[1] - largest.histogram()[0]


def text_of(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def line_figures(pdf: Path) -> dict | None:
    if not PDFLINES.is_file():
        return None
    out = subprocess.run([sys.executable, str(PDFLINES), str(pdf), "--json"], capture_output=True, text=True)
    try:
        return json.loads(out.stdout)
    except ValueError:
        return None


def compare(before: Path, after: Path) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        pages_a, pages_b = page_images(before, Path(tmp) / "a"), page_images(after, Path(tmp) / "b")
        diffs = [differing_pixels(a, b) for a, b in zip(pages_a, pages_b)]
    same_text = text_of(before) == text_of(after)
    figures_a, figures_b = line_figures(before), line_figures(after)
    same_pages = len(pages_a) == len(pages_b) and not any(diffs)
    print(f"{before.name} → {after.name}: {len(pages_a)} → {len(pages_b)} pages; pixels differing per page "
          f"(60 dpi): {diffs if any(diffs) else 'none'}; pdftotext {'same' if same_text else 'DIFFERENT'}; "
          f"pdflines {'same' if figures_a == figures_b else 'DIFFERENT'}"
          f"{'' if figures_a is None else ' ' + json.dumps(figures_b, ensure_ascii=False)}; "
          f"bytes {'identical' if before.read_bytes() == after.read_bytes() else 'differ'} "
          f"({before.stat().st_size:,} → {after.stat().st_size:,})")
    return same_pages and same_text and figures_a == figures_b


def main(argv: list[str]) -> int:
    if len(argv) < 2 or len(argv) % 2:
        print(__doc__.split("\n\n")[-2].strip(), file=sys.stderr)
        return 2
    results = [compare(Path(a), Path(b)) for a, b in zip(argv[::2], argv[1::2])]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
