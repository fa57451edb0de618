"""Package data → paths: where the shipped styles/ and fonts/ live, installed or in a checkout."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path


@cache
def data_dir(name: str) -> Path:
    """The folder `styles` or `fonts`: inside the wheel, or at the top of a source checkout."""
    packaged = Path(str(resources.files("interview_export"))) / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"interview-export data folder {name!r} is missing from the installation")


def styles_dir() -> Path:
    """The folder of the shipped stylesheets."""
    return data_dir("styles")


def fonts_dir() -> Path:
    """The folder of the shipped fonts."""
    return data_dir("fonts")


def read_style(name: str) -> str:
    """A shipped stylesheet's text (base.css, epub.css, print.css)."""
    return (styles_dir() / name).read_text(encoding="utf-8")
