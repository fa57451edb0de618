"""Nothing → the example's images: draws examples/images/*.jpg|png with Pillow (deterministic, small)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent / "images"


def cover() -> Image.Image:
    """A 1200×1600 cover: a warm paper gradient with a stack of book spines."""
    img = Image.new("RGB", (1200, 1600))
    draw = ImageDraw.Draw(img)
    for y in range(1600):
        t = y / 1599
        draw.line([(0, y), (1199, y)], fill=(int(236 - 60 * t), int(222 - 80 * t), int(196 - 90 * t)))
    colours = [(120, 46, 40), (46, 72, 104), (164, 128, 60), (60, 96, 70), (96, 60, 100)]
    y = 1450
    for i in range(9):
        height = 60 + (i * 37) % 50
        width = 700 - (i * 53) % 220
        x = 250 + (i * 29) % 120
        draw.rectangle([x, y - height, x + width, y], fill=colours[i % len(colours)], outline=(30, 24, 20), width=4)
        y -= height + 6
    draw.ellipse([880, 160, 1080, 360], fill=(250, 244, 230))
    return img


def workbench() -> Image.Image:
    """A 1000×700 sketch of the scanning bench: glass plate, open book, camera on a stand."""
    img = Image.new("RGB", (1000, 700), (214, 200, 176))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 520, 999, 699], fill=(120, 84, 52))
    draw.polygon([(220, 520), (500, 470), (780, 520), (500, 560)], fill=(250, 246, 236), outline=(90, 80, 70))
    draw.line([(500, 470), (500, 560)], fill=(90, 80, 70), width=3)
    for k in range(6):
        draw.line([(260 + k * 6, 515 - k * 6), (470, 478 + k * 10)], fill=(150, 150, 150), width=2)
        draw.line([(530, 478 + k * 10), (740 - k * 6, 515 - k * 6)], fill=(150, 150, 150), width=2)
    draw.rectangle([190, 455, 810, 575], outline=(160, 200, 210), width=5)
    draw.rectangle([880, 120, 900, 540], fill=(60, 60, 60))
    draw.line([(890, 140), (560, 140)], fill=(60, 60, 60), width=14)
    draw.rectangle([460, 120, 580, 200], fill=(40, 40, 44))
    draw.ellipse([495, 190, 545, 240], fill=(20, 20, 24), outline=(120, 120, 130), width=4)
    return img


def pages_per_year() -> Image.Image:
    """A 1000×600 bar chart of pages scanned per year (the numbers the interview mentions)."""
    pages = [6200, 8100, 9400, 17800, 20500, 21300, 19800, 20900, 22100, 20300]
    img = Image.new("RGB", (1000, 600), "white")
    draw = ImageDraw.Draw(img)
    draw.line([(80, 40), (80, 540), (960, 540)], fill="black", width=3)
    for level in range(5000, 25001, 5000):
        y = 540 - level * 480 // 25000
        draw.line([(80, y), (960, y)], fill=(220, 220, 220), width=1)
    for i, value in enumerate(pages):
        x = 110 + i * 85
        top = 540 - value * 480 // 25000
        draw.rectangle([x, top, x + 55, 539], fill=(46, 72, 104))
    return img.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)


def qrcode() -> Image.Image:
    """A 330×330 QR-like pattern (not a real code): finder squares and a fixed module pattern."""
    modules = 29
    img = Image.new("1", (modules, modules), 1)
    px = img.load()
    for y in range(modules):
        for x in range(modules):
            if (x * 7 + y * 13 + x * y) % 5 < 2:
                px[x, y] = 0
    for ox, oy in ((0, 0), (modules - 7, 0), (0, modules - 7)):
        for y in range(7):
            for x in range(7):
                ring = max(abs(x - 3), abs(y - 3))
                px[ox + x, oy + y] = 0 if ring in (0, 1, 3) else 1
    big = img.resize((modules * 10, modules * 10), Image.Resampling.NEAREST)
    framed = Image.new("1", (modules * 10 + 40, modules * 10 + 40), 1)
    framed.paste(big, (20, 20))
    return framed


def main() -> None:
    OUT.mkdir(exist_ok=True)
    cover().save(OUT / "cover.jpg", quality=80, optimize=True)
    workbench().save(OUT / "workbench.jpg", quality=82, optimize=True)
    pages_per_year().save(OUT / "pages-per-year.png", optimize=True)
    qrcode().save(OUT / "qrcode.png", optimize=True)
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(OUT.parent)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
