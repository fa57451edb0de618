"""backends/weasy_tags.py: the tagged-PDF pass reads the page references made once — the same PDF
bytes as WeasyPrint's own pass (no timings asserted here)."""

from __future__ import annotations

from interview_export.backends import weasy_speed, weasy_tags

HTML = ("<html lang='zh'><head><title>t</title><style>p { break-after: page }</style></head><body>"
        + "".join(f"<h2>第 {i} 节</h2><p>中文与 <a href='#x{i}'>Latin</a> 混排。</p><p id='x{i}'>下一页</p>"
                  for i in range(6)) + "</body></html>")


def test_same_bytes_page_references_made_once_in_the_pass(monkeypatch):
    import pydyf
    from weasyprint import pdf

    weasyprint = weasy_speed.import_weasyprint()
    assert weasy_tags.install() is True                  # WeasyPrint 70.0, pydyf 0.13, unchanged
    reads = []
    fget = pydyf.PDF.page_references.fget

    def counted(self):
        reads.append(1)
        return fget(self)

    monkeypatch.setattr(pydyf.PDF, "page_references", property(counted))
    weasy_tags._pages_kept.cache_clear()                 # its subclass made anew, from the counted one
    document = weasyprint.HTML(string=HTML).render()
    ours = document.write_pdf(pdf_tags=True)
    ours_reads, reads[:] = len(reads), []
    monkeypatch.setattr(pdf, "add_tags", pdf.add_tags.__wrapped__)
    stock = document.write_pdf(pdf_tags=True)
    weasy_tags._pages_kept.cache_clear()
    assert ours == stock and len(document.pages) == 12
    assert ours_reads < len(reads) - 12                  # the pass read them once, not once per element


def test_installed_only_on_the_pinned_source(monkeypatch):
    weasy_speed.import_weasyprint()
    from weasyprint import pdf

    monkeypatch.setattr(pdf, "add_tags", getattr(pdf.add_tags, "__wrapped__", pdf.add_tags))
    monkeypatch.setattr(weasy_tags, "SOURCE_DIGESTS", dict(weasy_tags.SOURCE_DIGESTS, add_tags="0" * 64))
    assert weasy_tags.install() is False
    assert not hasattr(pdf.add_tags, "__wrapped__")
