"""Our book's HTML → WeasyPrint's ``HTML``, its tree built by expat instead of tinyhtml5 (the same tree).

WeasyPrint parses a document with tinyhtml5, an HTML5 parser in pure Python: ~25 ms for the seed's
57 kB (~50 ms on a loaded machine), on the critical path of every PDF (``overlap.py``'s rendering
process starts with it). Our HTML is made by our own renderer and is well-formed XML; expat (C)
builds its ``ElementTree`` in under 1 ms. :func:`html_document` gives WeasyPrint that tree through
its own ``HTML.__init__`` (the parse call answered with it), so everything else WeasyPrint does
with a string is unchanged.

The two parsers build the same tree only where HTML5's tree construction has nothing to fix:
:func:`expat_tree` returns None — and the HTML is parsed by tinyhtml5 as before — for anything
where they could differ: markup other than elements, text and the five references our escaping
writes; a name not in lower case; a control character inside a tag (XML turns it into a space);
an element outside :data:`ELEMENTS`; ``<x/>`` for an element that is not void, or a void one with
content; an element that closes an open ``<p>``, a heading in a heading, a link in a link; list
items, table parts or ruby text outside their parent; text between table parts; a ``<pre>``
starting with a newline (HTML5 drops it); a document not shaped ``<!DOCTYPE html>\\n<html><head>
(meta, title)</head><body>…</body></html>``. tests/test_weasy_html.py shows each case differing
and checks the trees equal for books made from every construct we write.

Installed only on the WeasyPrint version whose ``HTML.__init__`` was read (digest below) and with
the tinyhtml5 release the tests compared against (``TINYHTML5``).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING

from ..compat import unpinned

if TYPE_CHECKING:
    from xml.etree import ElementTree

log = logging.getLogger("interview_export.pdf")

#: sha256 of the WeasyPrint function whose parse call is answered here (an upgrade is checked by hand)
SOURCE_DIGESTS = {"HTML.__init__": "5f19f40b81837f87ae7af8e5c53d5f11e7c98ba245094a86d45f5f14d001b943"}
#: the tinyhtml5 whose trees the tests compare with expat's (WeasyPrint asks only for >= 2.0)
TINYHTML5 = "2.1.0"
DOCTYPE = "<!DOCTYPE html>\n"
VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
#: start tags that close an open <p> in HTML5 ("in body" insertion mode)
CLOSES_P = frozenset("""address article aside blockquote center details dialog dir div dl fieldset
    figcaption figure footer header hgroup main menu nav ol p search section summary ul h1 h2 h3
    h4 h5 h6 pre listing form li dd dt plaintext table hr xmp""".split())
#: the elements our renderer writes in a body, and where the ones HTML5 places have to be
ELEMENTS = frozenset("""div section nav aside header footer article figure figcaption blockquote
    p h1 h2 h3 h4 h5 h6 hr pre ol ul li dl dt dd table caption colgroup col thead tbody tfoot tr
    td th span a em strong b i u s del ins sub sup code kbd samp var mark small q cite abbr dfn
    time data br wbr img ruby rt rp""".split())
PARENTS = {"li": {"ol", "ul"}, "dt": {"dl"}, "dd": {"dl"}, "caption": {"table"},
           "colgroup": {"table"}, "thead": {"table"}, "tbody": {"table"}, "tfoot": {"table"},
           "tr": {"thead", "tbody", "tfoot"}, "td": {"tr"}, "th": {"tr"}, "col": {"colgroup"},
           "rt": {"ruby"}, "rp": {"ruby"}}
#: table parts whose content is elements only (HTML5 moves text and other elements out of them)
TABLE_PARTS = {"table": {"caption", "colgroup", "thead", "tbody", "tfoot"}, "thead": {"tr"},
               "tbody": {"tr"}, "tfoot": {"tr"}, "tr": {"td", "th"}, "colgroup": {"col"}}
_REFERENCE = re.compile(r"&(?!(?:lt|gt|amp|quot|#x27);)")    # any other: HTML5 and XML may differ
_CONTROL_IN_TAG = re.compile(r"<[^<>]*[\t\n\r][^<>]*>")       # XML makes it a space in a value
_SELF_CLOSED = re.compile(r"<([^\s/>]+)[^<>]*/>")
_lock = threading.Lock()
_tree = threading.local()       # .root: the tree the next parse call in this thread answers with


def html_document(string: str, **kwargs):
    """``weasyprint.HTML(string=string, **kwargs)``, its tree from :func:`expat_tree` when that
    builds one (else tinyhtml5 parses, as WeasyPrint does)."""
    from weasyprint import HTML

    root = expat_tree(string) if install() else None
    _tree.root = root
    try:
        return HTML(string=string, **kwargs)
    finally:
        _tree.root = None


def expat_tree(string: str) -> "ElementTree.Element | None":
    """The tree tinyhtml5 makes of `string` (``namespace_html_elements=False``), built by expat;
    None when `string` has anything for which the two could differ (module docstring)."""
    if not string.startswith(DOCTYPE):
        return None
    markup = string[len(DOCTYPE):]
    if ("<!" in markup or "<?" in markup or _REFERENCE.search(markup) or _CONTROL_IN_TAG.search(markup)
            or any(name not in VOID for name in _SELF_CLOSED.findall(markup))):
        return None
    import xml.parsers.expat
    from xml.etree import ElementTree

    builder = ElementTree.TreeBuilder()
    parser = xml.parsers.expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(markup, True)
        root = builder.close()
    except (xml.parsers.expat.ExpatError, ValueError, UnicodeError):
        return None
    return root if _plain_document(root) else None


def _plain_document(root: "ElementTree.Element") -> bool:
    if root.tag != "html" or root.text or root.tail or [child.tag for child in root] != ["head", "body"]:
        return False
    head, body = root
    if head.text or head.tail or body.tail or not _names_lower(root) or not _names_lower(body):
        return False
    for element in head:
        if element.tag not in ("meta", "title") or element.tail or len(element) or not _names_lower(element):
            return False
        if element.tag == "meta" and element.text:
            return False
    return all(_plain(child, "body", False, False) for child in body)


def _names_lower(element: "ElementTree.Element") -> bool:
    return element.tag.islower() and all(name.islower() for name in element.attrib)


def _plain(element: "ElementTree.Element", parent: str, in_p: bool, in_a: bool) -> bool:
    """Whether HTML5 builds `element` (inside `parent`, an open <p> or <a> around it or not) as
    XML does: each check is a case where it does not."""
    tag = element.tag
    if tag not in ELEMENTS or not _names_lower(element):
        return False
    if (in_p and tag in CLOSES_P) or (tag in HEADINGS and parent in HEADINGS) or (in_a and tag == "a"):
        return False
    if parent not in PARENTS.get(tag, (parent,)):
        return False
    if tag in VOID and (element.text or len(element)):
        return False
    if tag == "pre" and (element.text or "").startswith("\n"):
        return False
    parts = TABLE_PARTS.get(tag)
    if parts is not None and (element.text or any(child.tag not in parts or child.tail for child in element)):
        return False
    in_p, in_a = in_p or tag == "p", in_a or tag == "a"
    return all(_plain(child, tag, in_p, in_a) for child in element)


def install() -> bool:
    """Have WeasyPrint's ``HTML.__init__`` take the tree :func:`html_document` built (once per
    process); False when the installed WeasyPrint is not the one this was checked against."""
    import weasyprint

    with _lock:
        if isinstance(weasyprint.tinyhtml5, _Parser):
            return True
        problem = unpinned(SOURCE_DIGESTS, lambda: {"HTML.__init__": weasyprint.HTML.__init__})
        found = getattr(weasyprint.tinyhtml5, "__version__", None)
        if not problem and found != TINYHTML5:
            problem = f"tinyhtml5 {found} is not the {TINYHTML5} whose trees were compared"
        if problem:
            log.debug("HTML parsed by tinyhtml5: %s", problem)
            return False
        weasyprint.tinyhtml5 = _Parser(weasyprint.tinyhtml5)
        return True


class _Parser:
    """tinyhtml5 as weasyprint/__init__.py sees it: ``parse`` answers with the tree
    :func:`html_document` built for this thread's call, once; everything else is tinyhtml5's."""

    def __init__(self, module) -> None:
        self.module = module

    def parse(self, source, **kwargs):
        """The tree built already (WeasyPrint's options: HTML elements not namespaced), else
        tinyhtml5's parse."""
        root = getattr(_tree, "root", None)
        if root is not None and kwargs == {"namespace_html_elements": False}:
            _tree.root = None
            return root
        return self.module.parse(source, **kwargs)

    def __getattr__(self, name):
        return getattr(self.module, name)
