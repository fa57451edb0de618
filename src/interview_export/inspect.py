"""Document (+ MediaBag) → the plain dict behind ``interview-export inspect [--json]``, and its text form.

Keys: meta, sections, dialogue, speakers, turns, quotes_title, quotes, images, cover, colophon, warnings.
``dialogue`` is ``{scheme, hosts, warnings}`` (what the detector decided and its doubts); each of
``speakers`` is ``{name, role, title, turns}``. ``turns`` counts as a reader does: a speaker going
on after a heading is one turn.
``data:`` URIs are shortened to their first 64 characters plus their length, so the JSON of a
standalone article with MBs of inline images stays readable.
"""

from __future__ import annotations

from .model import (
    DialogueTurn,
    Document,
    Figure,
    Paragraph,
    block_inlines,
    image_refs,
    plain_text,
    turn_count,
    turns,
    walk_blocks,
)

DATA_URI_KEEP = 64


def short_src(src: str) -> str:
    """A ``data:`` URI → its first 64 characters + ``…[N chars]``; other sources unchanged."""
    if src[:5].lower() == "data:" and len(src) > DATA_URI_KEEP:
        return f"{src[:DATA_URI_KEEP]}…[{len(src)} chars]"
    return src


def _meta(doc: Document) -> dict:
    m = doc.meta
    return {"title": m.title, "subtitle": m.subtitle, "source": m.source, "author": m.author,
            "translator": m.translator,
            "compiler": m.translator,  # 编译/整理: the same field, under the name Chinese credits use
            "date": m.date or None, "url": m.url, "language": m.language,
            "tags": list(m.tags), "description": m.description,
            "cover": short_src(m.cover) if m.cover else None,
            "speakers": list(m.speakers), "hosts": list(m.hosts)}


def _speakers(doc: Document) -> list[dict]:
    """Each speaker with role, title and turns: the detector's list, then any name only the turns carry."""
    found: dict[tuple[str, str], int] = {}
    for turn in turns(doc):
        key = (turn.speaker, turn.role)
        found[key] = found.get(key, 0) + (not turn.continued)
    out = [{"name": s.name, "role": s.role, "title": s.title, "turns": found.pop((s.name, s.role), 0)}
           for s in doc.dialogue.speakers]
    return out + [{"name": name, "role": role, "title": "", "turns": n} for (name, role), n in found.items()]


def _dialogue(doc: Document) -> dict:
    d = doc.dialogue
    return {"scheme": d.scheme or None, "hosts": list(d.hosts), "warnings": list(d.warnings)}


def _image(src: str, alt: str, line: int, media) -> dict:
    entry: dict[str, object] = {"src": short_src(src), "alt": alt, "line": line}
    if media is not None:
        asset = media.get(src)
        if asset is None:
            entry.update(status="missing", reason="not collected", format=None, size=None, width=None, height=None)
        else:
            data = getattr(asset, "data", b"") or b""
            entry.update(status=asset.status, reason=asset.reason or "",
                         format=(getattr(asset, "source_format", "") or getattr(asset, "format", "")
                                 or (asset.media_type or "").partition("/")[2].upper()) or None,
                         size=getattr(asset, "source_size", 0) or len(data) or None,
                         width=getattr(asset, "source_width", 0) or asset.width or None,
                         height=getattr(asset, "source_height", 0) or asset.height or None)
    return entry


def _block_text(block) -> str:
    if isinstance(block, Figure):
        return f"[image] {short_src(block.src)}"
    return plain_text(block_inlines(block))


def inspect_document(doc: Document, media=None) -> dict:
    """What the model made of the article, as JSON-able data (with image status when ``media`` is given)."""
    sections = [{"id": s.id, "number": s.number, "title": s.title,
                 "turns": sum(1 for b in walk_blocks(s.blocks) if isinstance(b, DialogueTurn) and not b.continued)}
                for s in doc.sections]
    return {
        "meta": _meta(doc),
        "sections": sections,
        "dialogue": _dialogue(doc),
        "speakers": _speakers(doc),
        "turns": turn_count(doc),
        "quotes_title": doc.quotes_title or None,
        "quotes": [{"text": plain_text(q.children), "attribution": q.attribution or None} for q in doc.quotes],
        "images": [_image(src, alt, line, media) for src, alt, line in image_refs(doc)],
        "cover": short_src(doc.meta.cover) if doc.meta.cover else None,
        "colophon": [_block_text(b) for b in doc.colophon],
        "lead_paragraphs": sum(1 for b in doc.lead if isinstance(b, Paragraph)),
        "warnings": list(doc.warnings) + (list(media.warnings) if media is not None else []),
    }


def format_report(report: dict) -> str:
    """The inspect dict → the human-readable summary the CLI prints without ``--json``."""
    m = report["meta"]
    lines = [f"title:      {m['title']}"]
    for key in ("subtitle", "source", "author", "translator", "date", "url", "language"):
        if m.get(key):
            lines.append(f"{key + ':':<11} {m[key]}")
    if m.get("tags"):
        lines.append(f"tags:       {', '.join(m['tags'])}")
    lines.append(f"cover:      {report['cover'] or '-'}")
    lines.append(f"lead:       {report['lead_paragraphs']} paragraph(s)")
    lines.append(f"sections:   {len(report['sections'])}")
    for s in report["sections"]:
        number = f"{s['number']:>3}" if s["number"] is not None else "  -"
        lines.append(f"  {s['id']:<8} {number}  {s['title'] or '(untitled)'}  [{s['turns']} turns]")
    lines.append(f"turns:      {report['turns']}" + (f"  ({report['dialogue']['scheme']})"
                                                      if report["dialogue"]["scheme"] else ""))
    for sp in report["speakers"]:
        title = f", {sp['title']}" if sp.get("title") else ""
        lines.append(f"  {sp['name']} ({sp['role']}{title}): {sp['turns']}")
    lines += [f"  ? {w}" for w in report["dialogue"]["warnings"]]
    lines.append(f"quotes:     {len(report['quotes'])}" + (f"  ({report['quotes_title']})" if report["quotes_title"] else ""))
    for q in report["quotes"]:
        lines.append(f"  - {q['text']}" + (f"  ——{q['attribution']}" if q["attribution"] else ""))
    lines.append(f"images:     {len(report['images'])}")
    for img in report["images"]:
        status = f" [{img['status']}{': ' + img['reason'] if img.get('reason') else ''}]" if "status" in img else ""
        size = f" {img['format']} {img['width']}×{img['height']} {img['size']} B" if img.get("width") else ""
        lines.append(f"  {img['src']}  alt={img['alt']!r}{status}{size}")
    lines.append(f"colophon:   {len(report['colophon'])}")
    lines += [f"  {text}" for text in report["colophon"]]
    lines.append(f"warnings:   {len(report['warnings'])}")
    lines += [f"  {w}" for w in report["warnings"]]
    return "\n".join(lines)
