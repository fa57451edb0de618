"""backends/weasy_passes.py: a page whose target counters change (a TOC) is made twice, not three
times, with the right numbers and the same PDF as WeasyPrint's own three passes."""

from __future__ import annotations

import collections

import pytest

from interview_export.backends import weasy_passes, weasy_speed

# a TOC page pointing at three later pages (as print.css: target-counter on a::after); the pages
# are filled by fixed-height blocks, so the numbers do not depend on the machine's fonts
TOC_HTML = ("<html lang='zh'><head><title>t</title><style>"
            "nav a::after { content: target-counter(attr(href url), page); }"
            "section { break-before: page; } @page { @bottom-center { content: counter(page); } }"
            "</style></head><body><nav>"
            + "".join(f"<p><a href='#s{i}'>第 {i} 节</a></p>" for i in range(1, 4)) + "</nav>"
            + "".join(f"<section id='s{i}'>" + "<div style='height: 100mm'></div>" * n + "</section>"
                      for i, n in ((1, 1), (2, 3), (3, 1)))   # 2 blocks a page: s2 takes pages 3–4
            + "</body></html>")


def _render(monkeypatch, stock: bool):
    """(how often each page was made, the TOC's numbers, the PDF bytes)."""
    weasyprint = weasy_speed.import_weasyprint()
    from weasyprint.formatting_structure import boxes
    from weasyprint.layout import page

    assert weasy_passes.install() is True                 # WeasyPrint 70.0, functions unchanged
    if stock:   # WeasyPrint's own remake_page, as without install()
        monkeypatch.setattr(page, "remake_page", page.remake_page.__wrapped__)
    made, make_page = collections.Counter(), page.make_page

    def counting(context, root_box, page_type, resume_at, page_number, page_state):
        made[page_number] += 1
        return make_page(context, root_box, page_type, resume_at, page_number, page_state)

    monkeypatch.setattr(page, "make_page", counting)
    document = weasyprint.HTML(string=TOC_HTML).render()
    numbers = [b.text for b in document.pages[0]._page_box.descendants()
               if isinstance(b, boxes.TextBox) and b.element_tag == "a::after"]
    pdf = document.write_pdf(pdf_identifier=True)
    monkeypatch.undo()
    return made, numbers, pdf


def test_toc_page_is_made_twice_with_the_final_numbers_and_the_same_pdf(monkeypatch):
    made, numbers, pdf = _render(monkeypatch, stock=False)
    stock_made, stock_numbers, stock_pdf = _render(monkeypatch, stock=True)
    assert stock_made[1] == 3                       # WeasyPrint's own: the 2nd pass still shows "0"
    assert made[1] == 2                             # first with "0", then with the pages found
    assert all(made[n] == 1 for n in made if n != 1)
    assert numbers == stock_numbers == ["2", "3", "5"]
    assert pdf == stock_pdf


def test_not_installed_when_a_pinned_function_changed(monkeypatch):
    weasy_speed.import_weasyprint()
    from weasyprint.layout import page

    monkeypatch.setattr(page, "remake_page", getattr(page.remake_page, "__wrapped__", page.remake_page))
    monkeypatch.setattr(weasy_passes, "SOURCE_DIGESTS", dict(weasy_passes.SOURCE_DIGESTS, make_page="0" * 64))
    before = page.remake_page
    assert weasy_passes.install() is False
    assert page.remake_page is before


@pytest.mark.parametrize("name", sorted(weasy_passes.SOURCE_DIGESTS))
def test_digests_pin_weasyprints_own_functions(name):
    weasy_speed.import_weasyprint()
    from weasyprint import layout
    from weasyprint.layout import page

    from interview_export.compat import source_digest

    obj = getattr(layout if name == "layout_document" else page, name)
    assert source_digest(obj) == weasy_passes.SOURCE_DIGESTS[name]


def test_the_pdf_backend_installs_it():
    """A PDF build in a fresh process leaves WeasyPrint's remake_page wrapped (not only a test's own
    install() call)."""
    import subprocess
    import sys

    probe = ("import pathlib, tempfile\n"
             "d = pathlib.Path(tempfile.mkdtemp()); src = d / 'a.md'\n"
             "src.write_text('# 标题\\n\\n## 一\\n\\n正文。\\n\\n## 二\\n\\n正文。\\n', encoding='utf-8')\n"
             "from interview_export import pipeline\n"
             "from interview_export.backends import pdf\n"
             "pdf.build(pipeline.prepare_book(pipeline.load(str(src)), targets=('pdf',)))\n"
             "from weasyprint.layout import page\n"
             "print(hasattr(page.remake_page, '__wrapped__'))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "True"
