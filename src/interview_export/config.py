"""interview-export.toml → option defaults for batch runs (the command line always wins).

The file is found as `--config FILE`, else `interview-export.toml` in the current folder.
Keys are the long option names without the dashes in front (`page-size`, `no-cache`, …;
underscores work too): the keys and their checks come from the option table (options.py).
Relative paths are relative to the config file's folder, and `output` follows -o's rule
(ending in .epub/.pdf: the book itself; anything else: a folder).

A file that was only *found* in the current folder (it may have arrived with a downloaded
folder) cannot widen access: its `css`, `cover`, fonts, `resource-dir` and `cache-dir` must stay
inside its own folder, and `mirror` and `allow-host` are refused; name it with `--config` (or
give the option on the command line) to use them. See SECURITY.md.
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
        """The value of `name` (an option's long name) in the config file, else `default`."""
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


# options that read or send data outside the config file's folder (see the module docstring)
_PATHS_KEPT_INSIDE = {"css", "cover", "font_serif", "font_sans", "resource_dirs", "cache_dir"}
_NEVER_FROM_FOUND = {"mirrors", "allow_hosts"}
_WHY = ("a config file found in the current folder may not widen access; give the option on the "
        "command line or name the file with --config")


def _check_found(raw_key: str, name: str, value: Any, folder: Path, source: str) -> None:
    """UsageError when a found (not named) config file's setting reaches outside its folder."""
    if name in _NEVER_FROM_FOUND:
        raise UsageError(f"setting {raw_key!r} refused ({_WHY})", path=source)
    if name not in _PATHS_KEPT_INSIDE or value is None:
        return
    root = folder.resolve()
    for item in value if isinstance(value, (list, tuple)) else [value]:
        path = Path(str(item))
        if name.startswith("font_") and not path.exists():
            path = Path(str(item).rpartition("#")[0] or str(item))
        if not path.resolve().is_relative_to(root):
            raise UsageError(f"setting {raw_key!r} refused: {path} is outside {root} ({_WHY})", path=source)


def parse_config(data: dict[str, Any], folder: Path, *, source: str = CONFIG_NAME,
                 found: bool = False) -> Config:
    """Validate a parsed TOML table → Config; UsageError names the file and key on a bad entry.
    Each value goes through its option's own parser and check (options.py), as on the command line.
    ``found``: the file was found in the current folder, not named: it may not widen access."""
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
        if found:   # before the option's own checks: "file not found" would tell what exists
            _check_found(raw_key, row.name, raw_value, folder, source)
        try:
            values[row.name] = row.from_config(raw_value)
        except (ValueError, UsageError) as exc:
            raise UsageError(f"setting {raw_key!r}: {getattr(exc, 'message', exc)}", path=source) from None
    return Config(Path(source), values)


def load_config(path: str | Path | None = None, *, cwd: str | Path | None = None) -> Config:
    """Read `path`, or `interview-export.toml` in `cwd` (default: the current folder) when present.

    A named file that is missing is an error; a missing default file is simply no config.
    """
    found = path is None
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
    return parse_config(data, path.resolve().parent, source=str(path), found=found)
