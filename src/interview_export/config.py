"""interview-export.toml → option defaults for batch runs (the command line always wins).

The file is found as `--config FILE`, else `interview-export.toml` in the current folder.
Keys are the long option names without the dashes in front (`page-size`, `no-cache`, …;
underscores work too): the keys and their checks come from the option table (options.py).
Relative paths are relative to the config file's folder, and `output` follows -o's rule
(ending in .epub/.pdf: the book itself; anything else: a folder).
Example::

    format = ["epub", "pdf"]        # or "epub,pdf"
    output = "books"                # a folder (no .epub/.pdf ending), like -o books
    jobs = 2
    dask = "tcp://scheduler:8786"   # or "local:4": convert on a Dask cluster (interview-export[dask])
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
from typing import Any

from .errors import UsageError
from .options import CONFIG_KEYS, PATH_KINDS

CONFIG_NAME = "interview-export.toml"


@dataclass(frozen=True)
class Config:
    """Option defaults read from a config file: {field name: value}; `path` None = no file."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def _resolve_path(value: str, folder: Path) -> str:
    """Make a relative path absolute against the config folder; keeps a `#INDEX` font suffix
    (and `-`, standard output, as it is)."""
    if value == "-":
        return value
    base, sep, index = value.partition("#") if not Path(value).exists() else (value, "", "")
    path = Path(base).expanduser()
    if not path.is_absolute():
        path = folder / path
    return f"{path}{sep}{index}"


def parse_config(data: dict[str, Any], folder: Path, *, source: str = CONFIG_NAME) -> Config:
    """Validate a parsed TOML table → Config; UsageError names the file and key on a bad entry.
    Each value goes through its option's own parser and check (options.py), as on the command line."""
    values: dict[str, Any] = {}
    for raw_key, raw_value in data.items():
        key = raw_key.replace("_", "-").lower()
        row = CONFIG_KEYS.get(key)
        if row is None:
            raise UsageError(f"unknown setting {raw_key!r} (known: {', '.join(sorted(CONFIG_KEYS))})", path=source)
        if row.kind in PATH_KINDS:
            if isinstance(raw_value, str):
                raw_value = _resolve_path(raw_value, folder)
            elif isinstance(raw_value, list):
                raw_value = [_resolve_path(v, folder) if isinstance(v, str) else v for v in raw_value]
        try:
            values[row.name] = row.from_config(raw_value)
        except (ValueError, UsageError) as exc:
            raise UsageError(f"setting {raw_key!r}: {getattr(exc, 'message', exc)}", path=source) from None
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
