"""Front matter, sidecar YAML, header lines and --metadata pairs → Meta fields (merged by priority).

Priority, lowest first: the document itself (H1 title, header blockquote), the sidecar
``NAME.metadata.yaml`` beside ``NAME.md``, YAML front matter, then ``--metadata key=value``.
Every source is first turned into a plain ``{meta_field: value}`` dict by ``meta_fields``;
``merge`` lays the dicts over a ``Meta`` in that order.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from pathlib import Path
from typing import Any

from .model import Meta

# Keys accepted in front matter, sidecars and --metadata, mapped onto Meta field names.
KEY_ALIASES: dict[str, str] = {
    "title": "title", "标题": "title", "標題": "title",
    "subtitle": "subtitle", "副标题": "subtitle", "副標題": "subtitle",
    "source": "source", "publication": "source", "publisher": "source", "platform": "source", "来源": "source",
    "來源": "source", "出处": "source", "出處": "source",
    "author": "author", "authors": "author", "作者": "author",
    "translator": "translator", "compiler": "translator", "编译": "translator", "翻译": "translator",
    "译者": "translator", "整理": "translator", "編譯": "translator", "翻譯": "translator", "譯者": "translator",
    "date": "date", "publish_date": "date", "published": "date", "日期": "date", "发布日期": "date",
    "發佈日期": "date", "发布时间": "date", "發佈時間": "date", "发表日期": "date",
    "url": "url", "original_url": "url", "link": "url", "原文链接": "url", "原文地址": "url", "原文連結": "url",
    "链接": "url", "連結": "url",
    "language": "language", "lang": "language", "语言": "language", "語言": "language",
    "tags": "tags", "keywords": "tags", "标签": "tags", "標籤": "tags", "关键词": "tags", "關鍵詞": "tags",
    "description": "description", "summary": "description", "摘要": "description", "简介": "description",
    "簡介": "description",
    "cover": "cover", "cover_image": "cover", "封面": "cover", "封面图": "cover", "封面圖": "cover",
    "speakers": "speakers", "嘉宾": "speakers", "嘉賓": "speakers",
    "host": "hosts", "hosts": "hosts", "主持人": "hosts", "主持": "hosts",
    "quotes_section": "quotes_section",
    "short_title": "short_title", "running_head": "short_title", "短标题": "short_title",
}
TUPLE_FIELDS = {"tags", "speakers", "hosts"}

_DATE_RES = (
    re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)"),
    re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"),
    re.compile(r"(?<!\d)(\d{4})/(\d{1,2})/(\d{1,2})(?!\d)"),
    re.compile(r"(?<!\d)(\d{4})\.(\d{1,2})\.(\d{1,2})(?!\d)"),
)


# ---------------------------------------------------------------- values
def normalize_date(value: object) -> str:
    """A date in any usual form (2026-01-23, 2026年1月23日, 2026/1/23, YAML date) → YYYY-MM-DD, else ""."""
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.strftime("%Y-%m-%d")
    text = str(value or "")
    for pattern in _DATE_RES:
        m = pattern.search(text)
        if m:
            try:
                return _dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
            except ValueError:
                continue
    return ""


def _as_tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts = re.split(r"[,，、;；]", value)
    elif isinstance(value, (list, tuple)):
        parts = [str(v) for v in value if v is not None]
    else:
        parts = [str(value)]
    return tuple(p.strip() for p in parts if p and p.strip())


def _field_value(field: str, value: object) -> object:
    if field in TUPLE_FIELDS:
        return _as_tuple(value)
    if field == "date":
        return normalize_date(value) or str(value or "").strip()
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value).strip()


def meta_fields(mapping: dict | None) -> dict[str, Any]:
    """A front-matter or sidecar mapping → {Meta field: value}; unknown keys are ignored.

    The sidecar's nested ``source: {platform, url, author, publish_date}`` is flattened and its
    ``content.core_point`` is the description; a plain string ``source:`` is the publication.
    """
    out: dict[str, Any] = {}
    if not isinstance(mapping, dict):
        return out
    nested = mapping.get("source")
    if isinstance(nested, dict):
        for key, field in (("platform", "source"), ("url", "url"), ("author", "author"),
                           ("publish_date", "date"), ("date", "date"), ("translator", "translator")):
            if nested.get(key) not in (None, ""):
                out[field] = _field_value(field, nested[key])
    speakers = mapping.get("speakers")
    if isinstance(speakers, dict):  # speakers: {主持人: host, Jerry: guest}
        out["speakers"] = _as_tuple(list(speakers))
        out["hosts"] = tuple(str(k) for k, v in speakers.items() if str(v).strip().lower() in ("host", "主持人"))
    content = mapping.get("content")
    if isinstance(content, dict) and content.get("core_point"):  # the corpus sidecars' one-line summary
        out["description"] = str(content["core_point"]).strip()
    for key, value in mapping.items():
        field = KEY_ALIASES.get(str(key).strip().lower()) or KEY_ALIASES.get(str(key).strip()) or ""
        if not field or isinstance(value, dict) or value in (None, ""):
            continue
        out[field] = _field_value(field, value)
    if _URL.fullmatch(str(out.get("source", "")).strip()):   # 来源: https://… is where it came from
        url = str(out.pop("source")).strip()
        out.setdefault("url", url)
    if out.get("hosts") and "speakers" in out:                # 主持人 + 嘉宾: both are speakers
        out["speakers"] = tuple(dict.fromkeys((*out["hosts"], *out["speakers"])))
    return {k: v for k, v in out.items() if v not in ("", ())}


def cli_fields(pairs) -> dict[str, Any]:
    """``--metadata key=value`` pairs → {Meta field: value} (lists are comma-separated)."""
    return meta_fields({k: v for k, v in pairs})


def merge(base: Meta, *layers: dict[str, Any]) -> Meta:
    """Lay field dicts over ``base`` in order: later layers win; empty values never erase."""
    changes: dict[str, Any] = {}
    for layer in layers:
        changes.update({k: v for k, v in layer.items() if v not in ("", (), None)})
    return dataclasses.replace(base, **changes)


def fill_missing(meta: Meta, fields: dict[str, Any]) -> Meta:
    """Set only the fields ``meta`` does not have yet (document-derived data has the lowest priority)."""
    return dataclasses.replace(meta, **{k: v for k, v in fields.items()
                                        if v not in ("", ()) and not getattr(meta, k)})


# ---------------------------------------------------------------- front matter and sidecar
MAX_YAML_DEPTH = 40          # nesting levels of a front matter or sidecar
MAX_YAML_NODES = 20_000      # values after aliases are expanded (an alias bomb has billions)


class YAMLTooComplex(ValueError):
    """YAML past the bounds: nested too deep, or too many values once aliases are expanded."""

    def __init__(self, reason: str, line: int):
        super().__init__(reason)
        self.reason = reason
        self.line = line     # 0-based, in the YAML text


def _yaml_loader():
    """PyYAML's safe loader with bounds: depth and expanded size (aliases counted in full) raise
    YAMLTooComplex; an impossible date or time (2026-02-30, hour 25) is kept as text with a note."""
    import yaml

    class Loader(yaml.SafeLoader):
        def __init__(self, stream):
            super().__init__(stream)
            self.notes: list[tuple[int, str]] = []
            self._depth = 0
            self._sizes: dict[int, int] = {}

        def compose_node(self, parent, index):
            event = self.peek_event()
            if self._depth >= MAX_YAML_DEPTH:
                raise YAMLTooComplex(f"nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark.line)
            self._depth += 1
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            if id(node) not in self._sizes:
                children = node.value if isinstance(node, yaml.SequenceNode) else (
                    [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
                size = 1 + sum(self._sizes.get(id(child), 1) for child in children)
                if size > MAX_YAML_NODES:
                    raise YAMLTooComplex(f"more than {MAX_YAML_NODES:,} values once aliases are "
                                         "expanded (an alias bomb?)", event.start_mark.line)
                self._sizes[id(node)] = size
            return node

        def construct_timestamp_or_text(self, node):
            try:
                return self.construct_yaml_timestamp(node)
            except ValueError as exc:
                self.notes.append((node.start_mark.line, f"{node.value!r} is not a valid date or time "
                                   f"({exc}); kept as text"))
                return node.value

    Loader.add_constructor("tag:yaml.org,2002:timestamp", Loader.construct_timestamp_or_text)
    return Loader


def load_yaml(text: str, where: str, first_line: int) -> tuple[object, list[str]]:
    """YAML text → (data, warnings ``where:LINE: …``); raises yaml.YAMLError or YAMLTooComplex."""
    loader = _yaml_loader()(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    return data, [f"{where}:{line + first_line}: {note}" for line, note in loader.notes]


_FENCE_END = re.compile(r"^(---|\.\.\.)[ \t]*$")


def split_front_matter(text: str, name: str = "<string>") -> tuple[dict, str, list[str]]:
    """Leading ``---`` YAML block → (mapping, text with those lines blanked, warnings).

    The lines are replaced by empty lines so every later line number stays right. A block
    that is not a YAML mapping is left in the text (it may be a rule followed by prose).
    """
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return {}, text, []
    end = next((i for i in range(1, len(lines)) if _FENCE_END.match(lines[i])), None)
    if end is None:
        return {}, text, []
    body = "\n".join(lines[1:end])
    import yaml  # only documents with front matter or a sidecar pay for it

    notes: list[str] = []
    blanked = "\n" * end + "\n" + "\n".join(lines[end + 1:])
    try:
        data, notes = load_yaml(body, name, 2) if body.strip() else ({}, [])
    except YAMLTooComplex as exc:  # it is front matter, only too much of it: leave it out
        return {}, blanked, [f"{name}:{exc.line + 2}: front matter ignored ({exc.reason})"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 2) if mark is not None else 1
        return {}, text, [f"{name}:{line}: front matter is not valid YAML, read as Markdown ({_first_line(exc)})"]
    if not isinstance(data, dict):
        return {}, text, []
    return data, blanked, notes


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def find_sidecar(path: Path) -> Path | None:
    """``NAME.metadata.yaml`` beside ``NAME.md`` (also for the ``NAME-remote``/``NAME-standalone`` variants)."""
    stems = [path.stem]
    for suffix in ("-remote", "-standalone"):
        if path.stem.endswith(suffix):
            stems.append(path.stem[: -len(suffix)])
    for stem in stems:
        for ext in (".metadata.yaml", ".metadata.yml"):
            candidate = path.with_name(stem + ext)
            if candidate.is_file():
                return candidate
    return None


def load_sidecar(path: Path) -> tuple[dict, list[str]]:
    """Read a sidecar YAML file → (mapping, warnings); a broken sidecar is a warning, not an error."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [f"{path}: metadata file ignored ({_first_line(exc)})"]
    try:
        data, notes = load_yaml(text, str(path), 1)
    except YAMLTooComplex as exc:
        return {}, [f"{path}:{exc.line + 1}: metadata file ignored ({exc.reason})"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        kept = salvage_mapping(text)
        if not kept:
            return {}, [f"{where}: metadata file ignored ({_first_line(exc)})"]
        return kept, [f"{where}: metadata file is not valid YAML ({_first_line(exc)}); kept the {len(kept)} "
                      f"key(s) that parse ({', '.join(map(str, kept))})"]
    if not isinstance(data, dict):
        return {}, [f"{path}: metadata file ignored (not a YAML mapping)"]
    return data, notes


_TOP_KEY = re.compile(r"^[^\s#:-][^:]*:(\s|$)")


def salvage_mapping(text: str) -> dict:
    """A YAML mapping that does not parse as a whole → the top-level entries that parse one by one."""
    import yaml

    chunks: list[list[str]] = []
    for line in text.splitlines():
        if line.strip() in ("---", "..."):
            continue
        if _TOP_KEY.match(line) or not chunks:
            chunks.append([line])
        else:
            chunks[-1].append(line)
    kept: dict = {}
    for chunk in chunks:
        try:
            data, _notes = load_yaml("\n".join(chunk), "", 1)   # bounded like the whole file
        except (yaml.YAMLError, YAMLTooComplex):
            continue
        if isinstance(data, dict):
            kept.update(data)
    return kept


# ---------------------------------------------------------------- header lines in the document
_KEYWORDS = r"来源|出处|原文链接|原文地址|原文|编译|翻译|译者|整理|作者|原创|发布日期|日期|发布时间|发布于"
_SPLIT = re.compile(rf"(?=(?:{_KEYWORDS})\s*[:：|｜])|[，,；;|｜·•\n]")
_PAIR = re.compile(rf"^\s*({_KEYWORDS})\s*[:：|｜]\s*(.*?)\s*$")
_URL = re.compile(r"https?://[^\s\u3000-\u303f\uff00-\uffef<>\"“”（）]+")
_HEADER_FIELD = {"来源": "source", "出处": "source", "编译": "translator", "翻译": "translator",
                 "译者": "translator", "整理": "translator", "作者": "author", "原创": "author"}


def parse_header(text: str) -> dict[str, Any]:
    """Header lines like ``来源：InfoQ 公众号，编译 | Tina，2026-01-23`` → {source, translator, date, url, …}.

    Segments are split at separators (，, | · ; and line ends) and before keywords, so lines
    that were joined without a space still separate.
    """
    out: dict[str, Any] = {}
    url = _URL.search(text)
    if url:
        out["url"] = url.group(0).rstrip(".,;:)")
    date = normalize_date(text)
    if date:
        out["date"] = date
    masked = re.sub(rf"({_KEYWORDS})\s*[|｜]\s*", r"\1：", _URL.sub(" ", text))
    for segment in _SPLIT.split(masked):
        m = _PAIR.match(segment or "")
        if not m:
            continue
        field = _HEADER_FIELD.get(m[1])
        value = m[2].strip(" ：:|｜")
        if field and value and not normalize_date(value) and field not in out:
            out[field] = value
    return out


_LINE = re.compile(rf"^\s*({_KEYWORDS})\s*[:：|｜]\s*(\S.*?)\s*$")
_LINE_FIELD = {**_HEADER_FIELD, "原文链接": "url", "原文地址": "url", "原文": "url", "发布日期": "date", "日期": "date",
               "发布时间": "date", "发布于": "date"}


def header_line(text: str) -> dict[str, Any] | None:
    """One credit line such as ``作者：小周`` / ``发布日期：2024年3月5日`` / ``来源：https://…`` → {field: value}.

    Bold markers left as text (``**发布日期：**2024…`` is not bold in CommonMark: a digit follows) are ignored.
    """
    m = _LINE.match(text.replace("**", ""))
    if not m:
        return None
    field, value = _LINE_FIELD[m[1]], m[2].strip(" *")
    url = _URL.search(value)
    if field == "date":
        value = normalize_date(value) or value
    elif field == "url" or (field == "source" and url and url.group(0) == value):
        if not url:
            return None
        field, value = "url", url.group(0).rstrip(".,;:)")
    return {field: value} if value else None


def is_header_text(text: str) -> bool:
    """Does a leading blockquote read like a source box (来源/原文链接/编译 or a date and a link)?"""
    if re.search(rf"(?:{_KEYWORDS})\s*[:：|｜]", text):
        return True
    return bool(_URL.search(text) and normalize_date(text)) and len(text) < 300


# ---------------------------------------------------------------- language
