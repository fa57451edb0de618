"""interview-export.toml → option defaults for batch runs (the command line always wins).

The file is found as `--config FILE`, else `interview-export.toml` in the current folder.
Keys are the long option names without the dashes in front (`page-size`, `no-cache`, …;
underscores work too). Relative paths are relative to the config file's folder.
Example::

    format = ["epub", "pdf"]        # or "epub,pdf"
    output = "books"                # a folder, like -o with several inputs
    jobs = 2
    mirror = ["https://cdn.jsdelivr.net/=http://127.0.0.1:8000/"]   # or a [mirror] table
    offline = false
    page-size = "A5"
    css = ["extra.css"]
    no-clobber = true               # --force on the command line overrides it

    [metadata]
    publisher = "我的书架"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import UsageError

CONFIG_NAME = "interview-export.toml"


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("expected true or false")


def _str(value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected a string")


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("expected a whole number")


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("expected a string or a list of strings")


def _formats(value: Any) -> list[str]:
    return [f.strip() for item in _str_list(value) for f in item.split(",") if f.strip()]


def _pairs(value: Any) -> list[str]:
    """A table {key = value} or a list of "KEY=VALUE" strings → list of "KEY=VALUE"."""
    if isinstance(value, dict):
        return [f"{k}={_str(v) if not isinstance(v, list) else ','.join(map(str, v))}" for k, v in value.items()]
    items = _str_list(value)
    for item in items:
        if "=" not in item:
            raise ValueError(f"{item!r} is not KEY=VALUE")
    return items


# config key → (option name, converter, is_path)
_KEYS: dict[str, tuple[str, Callable[[Any], Any], bool]] = {
    "format": ("formats", _formats, False),
    "formats": ("formats", _formats, False),
    "output": ("output", _str, True),
    "jobs": ("jobs", _int, False),
    "metadata": ("metadata", _pairs, False),
    "css": ("css", _str_list, True),
    "cover": ("cover", _str, True),
    "no-cover": ("no_cover", _bool, False),
    "mirror": ("mirror", _pairs, False),
    "mirrors": ("mirror", _pairs, False),
    "offline": ("offline", _bool, False),
    "strict": ("strict", _bool, False),
    "cache-dir": ("cache_dir", _str, True),
    "no-cache": ("no_cache", _bool, False),
    "resource-dir": ("resource_dir", _str_list, True),
    "resource-dirs": ("resource_dir", _str_list, True),
    "font-serif": ("font_serif", _str, True),
    "font-sans": ("font_sans", _str, True),
    "no-embed-fonts": ("no_embed_fonts", _bool, False),
    "vertical": ("vertical", _bool, False),
    "grayscale": ("grayscale", _bool, False),
    "page-size": ("page_size", _str, False),
    "bleed": ("bleed", _str, False),
    "crop-marks": ("crop_marks", _bool, False),
    "simplex": ("simplex", _bool, False),
    "pdf-variant": ("pdf_variant", _str, False),
    "skip-variants": ("skip_variants", _bool, False),
    "no-clobber": ("no_clobber", _bool, False),
    "allow-html": ("allow_html", _bool, False),
}


@dataclass(frozen=True)
class Config:
    """Option defaults read from a config file: {option name: value}; `path` None = no file."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def _resolve_path(value: str, folder: Path) -> str:
    """Make a relative path absolute against the config folder; keeps a `#INDEX` font suffix."""
    base, sep, index = value.partition("#") if not Path(value).exists() else (value, "", "")
    path = Path(base).expanduser()
    if not path.is_absolute():
        path = folder / path
    return f"{path}{sep}{index}"


def parse_config(data: dict[str, Any], folder: Path, *, source: str = CONFIG_NAME) -> Config:
    """Validate a parsed TOML table → Config; UsageError names the file and key on a bad entry."""
    values: dict[str, Any] = {}
    for raw_key, raw_value in data.items():
        key = raw_key.replace("_", "-").lower()
        if key not in _KEYS:
            known = ", ".join(sorted(k for k in _KEYS))
            raise UsageError(f"unknown setting {raw_key!r} (known: {known})", path=source)
        name, convert, is_path = _KEYS[key]
        try:
            value = convert(raw_value)
        except ValueError as exc:
            raise UsageError(f"setting {raw_key!r}: {exc}", path=source) from None
        if is_path:
            value = [_resolve_path(v, folder) for v in value] if isinstance(value, list) else _resolve_path(value, folder)
        values[name] = value
    return Config(Path(source), values)


def load_config(path: str | Path | None = None, *, cwd: str | Path | None = None) -> Config:
    """Read `path`, or `interview-export.toml` in `cwd` (default: the current folder) when present.

    A named file that is missing is an error; a missing default file is simply no config.
    """
    if path is None:
        candidate = Path(cwd or Path.cwd()) / CONFIG_NAME
        if not candidate.is_file():
            return Config()
        path = candidate
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read config file: {exc.strerror or exc}", path=str(path)) from None
    import tomllib  # only runs that have a config file pay for the parser

    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"not a valid TOML config file: {exc}", path=str(path)) from None
    return parse_config(data, path.resolve().parent, source=str(path))
