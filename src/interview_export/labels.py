"""Book language (BCP 47) → the words and marks we generate: one table for zh-Hans, zh-Hant and en.

Every label the renderer and the backends add on their own (目录/Contents, 封面, 导语, 来源, the
colon after a speaker's name, the quotes page's marks) comes from here, so a Traditional Chinese
book says 目錄 and an English one says "Contents" and "Name: ".
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

# script of the generated text → label key → text
_TABLE: dict[str, dict[str, str]] = {
    "zh-Hans": {
        "toc": "目录", "source": "来源", "author": "作者", "translator": "编译", "date": "日期",
        "url": "原文链接", "cover": "封面", "lead": "导语", "quotes": "金句", "colophon": "出处",
        "title_page": "扉页", "tags": "标签", "missing_image": "图片缺失", "embedded_image": "内嵌图片",
        "made_with": "本电子书由 interview-export 生成", "body": "正文", "host": "主持人",
        "speaker_colon": "：",
    },
    "zh-Hant": {
        "toc": "目錄", "source": "來源", "author": "作者", "translator": "編譯", "date": "日期",
        "url": "原文連結", "cover": "封面", "lead": "導語", "quotes": "金句", "colophon": "出處",
        "title_page": "扉頁", "tags": "標籤", "missing_image": "圖片缺失", "embedded_image": "內嵌圖片",
        "made_with": "本電子書由 interview-export 生成", "body": "正文", "host": "主持人",
        "speaker_colon": "：",
    },
    "en": {
        "toc": "Contents", "source": "Source", "author": "Author", "translator": "Translator",
        "date": "Date", "url": "Original article", "cover": "Cover", "lead": "Introduction",
        "quotes": "Quotes", "colophon": "Credits", "title_page": "Title page", "tags": "Tags",
        "missing_image": "Missing image", "embedded_image": "embedded image",
        "made_with": "This e-book was made with interview-export", "body": "Text", "host": "Host",
        "speaker_colon": ": ",
    },
}
SCRIPTS = tuple(_TABLE)

# quotation marks: style → (outer open, outer close, inner open, inner close)
QUOTE_STYLES = {"curly": ("\u201c", "\u201d", "\u2018", "\u2019"),      # “ ” ‘ ’
                "corner": ("\u300c", "\u300d", "\u300e", "\u300f")}     # 「 」 『 』
QUOTE_STYLE_NAMES = tuple(QUOTE_STYLES)

_TRADITIONAL = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")


def is_traditional(lang: str) -> bool:
    """zh-Hant, zh-TW, zh-HK, zh-MO (and their subtags) are written in Traditional characters."""
    lang = lang.strip().lower().replace("_", "-")
    return any(lang == t or lang.startswith(t + "-") for t in _TRADITIONAL) or "-hant" in lang


def script_of(lang: str) -> str:
    """A BCP 47 tag → the key of the label table: zh-Hant, zh-Hans (any other Chinese or CJK) or en."""
    lang = lang.strip().lower()
    if is_traditional(lang):
        return "zh-Hant"
    if not lang or lang.split("-")[0] in ("zh", "cmn", "yue", "ja", "ko"):
        return "zh-Hans"
    return "en"


def labels_for(lang: str) -> Mapping[str, str]:
    """The generated labels for a book in `lang` (read-only)."""
    return MappingProxyType(_TABLE[script_of(lang)])


def quote_style(lang: str, choice: str = "") -> str:
    """The quotation-mark style of a book: the explicit choice, else corner 「」 for Traditional
    Chinese and curly “” otherwise."""
    if choice:
        return choice
    return "corner" if is_traditional(lang) else "curly"

