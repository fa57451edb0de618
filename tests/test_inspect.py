"""inspect: the JSON keys, counts per section and speaker, data: URI shortening, media status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interview_export.inspect import DATA_URI_KEEP, format_report, inspect_document, short_src
from interview_export.reader import read_path, read_text

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample-interview.md"
KEYS = {"meta", "sections", "dialogue", "speakers", "turns", "quotes_title", "quotes", "images", "cover", "warnings"}

SRC = """---
date: 2026年1月2日
---
# 标题

> 来源：某刊
> 原文链接：https://e.com/a

![封面图](cover.jpg)

导语

## 1 第一节

**主持人**：问

**嘉宾**：答 ![小图](inline.png)

![配图](data:image/png;base64,{data})

**主持人**：再问

**嘉宾**：再答

## 2 第二节

没有对话。

## 金句

> 一句话——嘉宾

---

*图片来源：某处*
"""


def make_doc():
    return read_text(SRC.replace("{data}", "A" * 5000), name="t.md")


def test_keys_and_values():
    report = inspect_document(make_doc())
    assert KEYS <= set(report)
    json.dumps(report, ensure_ascii=False)  # JSON-able
    m = report["meta"]
    assert {"title", "source", "author", "date", "url", "language"} <= set(m)
    assert (m["title"], m["source"], m["date"], m["url"], m["language"]) == (
        "标题", "某刊", "2026-01-02", "https://e.com/a", "zh-CN")
    assert report["sections"] == [{"id": "sec-1", "number": 1, "title": "第一节", "turns": 4},
                                  {"id": "sec-2", "number": 2, "title": "第二节", "turns": 0}]
    assert report["speakers"] == [{"name": "主持人", "role": "host", "title": "", "turns": 2},
                                  {"name": "嘉宾", "role": "guest", "title": "", "turns": 2}]
    assert (report["dialogue"]["scheme"], report["dialogue"]["hosts"]) == ("bold-colon-outside", ["主持人"])
    assert report["turns"] == 4
    assert report["quotes_title"] == "金句"
    assert report["quotes"] == [{"text": "一句话", "attribution": "嘉宾"}]
    assert report["cover"] == "cover.jpg"
    assert [i["src"][:21] for i in report["images"]] == ["cover.jpg", "inline.png", "data:image/png;base64"]
    assert report["colophon"] == ["图片来源：某处"]
    assert report["warnings"] == []


def test_data_uris_are_shortened():
    report = inspect_document(make_doc())
    src = report["images"][2]["src"]
    full = "data:image/png;base64," + "A" * 5000
    assert src == short_src(full) and src.startswith(full[:DATA_URI_KEEP]) and f"[{len(full)} chars]" in src
    assert len(json.dumps(report)) < 4000
    assert short_src("https://e.com/" + "x" * 200) == "https://e.com/" + "x" * 200


def test_empty_document():
    report = inspect_document(read_text("", name="e.md"))
    assert report["sections"] == [] and report["turns"] == 0 and report["cover"] is None
    assert report["quotes_title"] is None and report["meta"]["date"] is None
    assert report["warnings"] == ["e.md: empty document"]


def test_media_status_is_added():
    media_mod = pytest.importorskip("interview_export.media")
    doc = make_doc()
    data_src = next(src for src, _, _ in __import__("interview_export.model", fromlist=["x"]).image_refs(doc)
                    if src.startswith("data:"))
    bag = media_mod.MediaBag(assets={
        "cover.jpg": media_mod.ImageAsset(src="cover.jpg", status="ok", filename="images/ab.jpg",
                                          media_type="image/jpeg", data=b"x" * 123, width=40, height=30,
                                          format="JPEG"),
        data_src: media_mod.ImageAsset(src=data_src, status="placeholder", reason="not a PNG"),
    }, warnings=["t.md:17: image inline.png: missing"])
    images = inspect_document(doc, bag)["images"]
    cover, inline, data = images
    assert (cover["status"], cover["format"], cover["size"], cover["width"], cover["height"]) == (
        "ok", "JPEG", 123, 40, 30)
    assert (data["status"], data["reason"]) == ("placeholder", "not a PNG")
    assert inline["status"] == "missing"
    assert inspect_document(doc, bag)["warnings"] == ["t.md:17: image inline.png: missing"]


def test_format_report_mentions_everything():
    text = format_report(inspect_document(make_doc()))
    for needle in ("标题", "某刊", "sec-1", "第一节", "主持人 (host): 2", "嘉宾 (guest): 2", "一句话  ——嘉宾",
                   "cover.jpg", "图片来源：某处", "warnings:   0"):
        assert needle in text


def test_example_interview():
    report = inspect_document(read_path(EXAMPLE))
    assert report["meta"]["date"] == "2025-06-18" and report["cover"] == "images/cover.jpg"
    assert [s["number"] for s in report["sections"]] == [1, 2, 3]
    assert {s["name"]: s["role"] for s in report["speakers"]} == {"主持人": "host", "林晓舟": "guest", "陈默": "guest"}
    assert len(report["quotes"]) == 3 and all(q["attribution"] for q in report["quotes"])
    assert report["warnings"] == []
    for image in report["images"]:
        path = EXAMPLE.parent / image["src"]
        assert path.is_file() and path.stat().st_size < 100_000 and image["src"].isascii()


@pytest.mark.corpus
def test_seed_json(seed):
    report = inspect_document(read_path(seed))
    assert report["turns"] == 48 and len(report["sections"]) == 10 and len(report["quotes"]) == 9
    assert [s["number"] for s in report["sections"]] == list(range(1, 11))
    assert report["quotes_title"] == "总结：对话金句"
    assert report["meta"]["translator"] == report["meta"]["compiler"] == "Tina" and report["meta"]["date"] == "2026-01-23"
    assert len(report["images"]) == 5 and report["cover"].endswith("image_01.png")
    assert sum(s["turns"] for s in report["sections"]) == 48
