"""One problem, one line: each failure and warning printed once, in our words; WeasyPrint's own
log only with -vv."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from interview_export import cli
from interview_export.backends import pdf

NOTDEF = '.notdef glyph rendered for Unicode string unsupported by fonts: "{}" (U+{:04X})'
ODD = 0xF0001            # Supplementary Private Use Area-A: no font here or anywhere usual has it


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_notdef_lines_are_dropped_when_named_and_said_once_otherwise():
    named = SimpleNamespace(missing=[ODD])
    messages = [NOTDEF.format(chr(ODD), ODD), "Ignored `x` at 1:1", NOTDEF.format("\U000F0002", 0xF0002)]
    assert pdf._in_our_words(messages, named) == [
        "Ignored `x` at 1:1", "no font has \U000F0002 U+F0002: printed as an empty box"]
    assert pdf._in_our_words(messages[:1], None) == [f"no font has {chr(ODD)} U+F0001: printed as an empty box"]


def test_an_uncovered_character_is_one_warning_line_and_v_shows_no_weasyprint(workdir):
    (workdir / "a.md").write_text(f"# 标题\n\n正文 {chr(ODD)} 这里。\n", encoding="utf-8")
    runner = CliRunner()
    for extra in ([], ["-v"]):
        result = runner.invoke(cli.cli, ["pdf", "a.md", "--offline", "--no-cache", "-j", "1", *extra])
        assert result.exit_code == 0, result.stderr
        lines = [line for line in result.stderr.splitlines() if "U+F0001" in line]
        assert lines == ["interview-export: warning: a.md: no font covers 1 character: \U000F0001 U+F0001"], \
            result.stderr
        assert "weasyprint" not in result.stderr.lower() and ".notdef" not in result.stderr
    result = runner.invoke(cli.cli, ["pdf", "a.md", "--offline", "--no-cache", "-j", "1", "-vv"])
    assert result.exit_code == 0 and "log: interview_export.pdf: WeasyPrint: " in result.stderr
    assert sum("warning:" in line for line in result.stderr.splitlines()) == 1


def test_a_missing_file_is_one_line(workdir):
    result = CliRunner().invoke(cli.cli, ["epub", "nope.md", "-j", "1"])
    assert result.exit_code == 1
    assert result.stderr.count("nope.md") == 1, result.stderr
