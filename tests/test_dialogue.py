"""dialogue + speaker_labels: label forms, the per-document decision, roles, turns; scheme fixtures; the corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from interview_export.dialogue import HOST_WORDS, detect_dialogue
from interview_export.inspect import inspect_document
from interview_export.model import BlockQuote, DialogueTurn, Figure, Paragraph, Strong, plain_text, turn_count, turns
from interview_export.options import Options
from interview_export.reader import parse_text, read_path, read_text
from interview_export.speaker_labels import read_label

OPTS = Options()
FIXTURES = Path(__file__).parent / "fixtures" / "dialogue"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))


def texts(blocks):
    return [plain_text(b.children) for b in blocks if isinstance(b, Paragraph)]


def detect(src: str, options: Options = OPTS):
    return detect_dialogue(parse_text(src), options)


# ---------------------------------------------------------------- reading one label
@pytest.mark.parametrize("src, name, form, title, stamp, rest", [
    ("**王芳**：我们一周两次。", "王芳", "bold-colon-outside", "", "", "我们一周两次。"),
    ("**王芳** ：我们一周两次。", "王芳", "bold-colon-outside", "", "", "我们一周两次。"),
    ("**王芳**（产品总监）：好。", "王芳", "bold-colon-outside", "产品总监", "", "好。"),
    ("**李雷（CTO）：** 对。", "李雷", "bold-colon-inside", "CTO", "", "对。"),
    ("**Dana Reyes:** [00:00:05] Welcome back.", "Dana Reyes", "bold-colon-inside", "", "[00:00:05]", "Welcome back."),
    ("**Q3- follow-up: Will it stay?**", "Q", "bold-question", "", "", "Will it stay?"),
    ("**問：點解？**", "問", "bold-question", "", "", "點解？"),
    ("Linus： 实际上", "Linus", "plain", "", "", "实际上"),
    ("Aaron van Wirdum: 00:00:08", "Aaron van Wirdum", "plain", "", "00:00:08", ""),
    ("[00:12:01] Kai Brandt: Hello.", "Kai Brandt", "plain", "", "[00:12:01]", "Hello."),
    ("Adam Jonas (AJ): Welcome Matt", "Adam Jonas", "plain", "AJ", "", "Welcome Matt"),
    ("###问：你最喜欢哪个发行版？", "问", "plain", "", "", "你最喜欢哪个发行版？"),
    ("#### 问：第一个问题？####", "问", "heading", "", "", "第一个问题？"),
    ("### 陈默：", "陈默", "heading", "", "", ""),
    ("> **@river**: Will it drop?", "@river", "quoted", "", "", "Will it drop?"),
])
def test_label_forms(src, name, form, title, stamp, rest):
    doc = parse_text(src)
    block = (doc.lead or doc.sections[0].blocks)[0]
    label = read_label(block)
    assert (label.name, label.form, label.title, label.timestamp, label.text) == (name, form, title, stamp, rest)


@pytest.mark.parametrize("src", [
    "**这是一个很长的加粗句子，后面有冒号**：一",
    "https://example.com/a",
    "笼统地说，**重点**在这里",
    "**Qiir** 表示的是前海",
    "（LCTT 译注：本篇访谈……）",
    "目前来说，有三类目标：",
])
def test_not_labels(src):
    assert read_label(parse_text(src).lead[0]) is None


# ---------------------------------------------------------------- turns
INTERVIEW = """# 访谈

## 一

**主持人**：第一个问题？

**嘉宾**：第一段回答。

第二段回答。

> 回答里的引用。

![配图](a.png)

**主持人**：第二个问题？

**嘉宾**：简短回答。

---

结尾的话。

### 小标题

**主持人**：第三个问题？
"""


def test_turns_span_paragraphs_quotes_and_images_until_a_rule():
    doc = detect(INTERVIEW)
    blocks = doc.sections[0].blocks
    kinds = [type(b).__name__ for b in blocks]
    assert kinds == ["DialogueTurn"] * 4 + ["ThematicBreak", "Paragraph", "Heading", "DialogueTurn"]
    answer = blocks[1]
    assert (answer.speaker, answer.role) == ("嘉宾", "guest")
    assert [type(b) for b in answer.blocks] == [Paragraph, Paragraph, BlockQuote, Figure]
    assert texts(answer.blocks) == ["第一段回答。", "第二段回答。"]
    assert blocks[0].role == "host" and texts(blocks[0].blocks) == ["第一个问题？"]
    assert answer.line == 7


@pytest.mark.parametrize("label", ["**嘉宾**：", "**嘉宾**:", "**嘉宾：**", "**嘉宾:** ", "**嘉宾** ："])
def test_bold_label_forms_in_a_document(label):
    src = "\n\n".join(f"{'**主持人**：' if i % 2 == 0 else label}话{i}" for i in range(4))
    assert [(t.speaker, texts(t.blocks)) for t in turns(detect(src))] == [
        ("主持人", ["话0"]), ("嘉宾", ["话1"]), ("主持人", ["话2"]), ("嘉宾", ["话3"])]


@pytest.mark.parametrize("name, host", [("主持人", True), ("记者", True), ("記者", True), ("采访者", True),
                                        ("编者", True), ("Q", True), ("问", True), ("問", True), ("Host", True),
                                        ("Interviewer", True), ("Lex Fridman (host)", True), ("Ghost", False),
                                        ("答", False), ("Jerry", False), ("问题", False)])
def test_host_words(name, host):
    assert bool(HOST_WORDS.search(name)) is host


@pytest.mark.parametrize("src", [
    # one recurring label only (the corpus' 目的/指令 pattern)
    "**目的**：一\n\n**指令 1**：二\n\n**指令 2**：三\n\n**目的**：四\n\n**指令 3**：五\n\n**目的**：六",
    # two recurring labels that never alternate
    "**优点**：一\n\n**优点**：二\n\n**优点**：三\n\n**缺点**：四\n\n**缺点**：五\n\n**缺点**：六",
    # sentences in bold followed by a colon are not names
    "**这是一个很长的加粗句子，后面有冒号**：一\n\n**这是一个很长的加粗句子，后面有冒号**：二\n\n"
    "**另一句话，也很长**：三\n\n**另一句话，也很长**：四",
    # labels that alternate but never ask anything: field names, not people
    "**总览**：一。\n\n**甲**：二。\n\n**乙**：三。\n\n**总览**：四。\n\n**甲**：五。\n\n**乙**：六。",
])
def test_run_in_labels_are_not_dialogue(src):
    doc = parse_text(src)
    assert detect_dialogue(doc, OPTS) is doc


def test_front_matter_speakers_and_hosts_need_no_evidence():
    src = "---\nspeakers: [目的]\nhost: 目的\n---\n**目的**：一\n\n正文\n\n**方法**：二\n"
    [turn] = turns(detect(src))
    assert (turn.speaker, turn.role) == ("目的", "host")
    assert texts(turn.blocks) == ["一", "正文", "方法：二"]


def test_label_is_removed_from_the_first_paragraph():
    doc = detect("**甲**：**重点**在这里？\n\n**乙**：好\n\n**甲**：嗯？\n\n**乙**：是")
    first = turns(doc)[0].blocks[0]
    assert isinstance(first.children[0], Strong) and plain_text(first.children) == "重点在这里？"


def test_bold_question_keeps_its_words_in_bold():
    doc = detect("**主持人：为什么？**\n\n**嘉宾**：因为。\n\n**主持人：然后呢？**\n\n**嘉宾**：没有然后。")
    first = turns(doc)[0]
    assert (first.speaker, first.role) == ("主持人", "host")
    assert isinstance(first.blocks[0].children[0], Strong) and plain_text(first.blocks[0].children) == "为什么？"
    assert len(turns(doc)) == 4


def test_label_alone_takes_the_next_paragraphs():
    doc = detect("**甲**：\n\n问题在下一段？\n\n**乙**：答\n\n**甲**：再问？\n\n**乙**：再答")
    assert texts(turns(doc)[0].blocks) == ["问题在下一段？"]


def test_two_turns_in_one_paragraph_are_split_at_the_hard_break():
    doc = detect("记者：问一？\n\n官员：答一。\n\n记者：问二？  \n官员：答二。\n\n记者：问三？\n\n官员：答三。")
    assert [(t.speaker, texts(t.blocks)) for t in turns(doc)][2:4] == [("记者", ["问二？"]), ("官员", ["答二。"])]


def test_the_same_speaker_after_a_heading_is_one_turn():
    src = ("A: Why?\n\nB: Because it was late.\n\n### A chapter\n\nAnd later it was even later.\n\n"
           "A: Really?\n\nB: Yes.")
    doc = detect(src)
    assert [(t.speaker, t.continued) for t in turns(doc)] == [
        ("A", False), ("B", False), ("B", True), ("A", False), ("B", False)]
    assert turn_count(doc) == 4


def test_markers_and_notes_end_a_turn_and_stay_text():
    doc = read_path(FIXTURES / "legend-markers.md")
    outside = [plain_text(b.children) for b in doc.sections[0].blocks if isinstance(b, Paragraph)]
    assert outside == ["以下是节目的文字整理。", "问：节目主持人", "林：林小姐", "广告", "（编者注：访谈于周一上午录制。）"]


def test_timestamps_titles_and_two_hosts_are_kept():
    doc = read_path(FIXTURES / "timestamps.md")
    stamps = [t.timestamp for t in turns(doc) if t.timestamp]
    assert stamps == ["[00:00:05]", "[00:00:21]", "[00:15:02]"]
    assert doc.dialogue.hosts == ("Dana Reyes", "Sam Okafor")
    assert not any("[00:" in plain_text(b.children) for t in turns(doc) for b in t.blocks if isinstance(b, Paragraph))


# ---------------------------------------------------------------- roles
def test_host_option_beats_front_matter_and_detection():
    src = "---\nhost: Maria\n---\n" + (FIXTURES / "plain-en.md").read_text(encoding="utf-8")
    assert read_text(src).dialogue.hosts == ("Maria",)
    doc = read_text(src, options=Options(hosts=("alexander",)))
    assert {s.name: s.role for s in doc.dialogue.speakers} == {"Alexander": "host", "Maria": "guest"}


def test_the_one_who_asks_is_the_host_without_host_words():
    doc = read_path(FIXTURES / "plain-en.md")
    assert {s.name: s.role for s in doc.dialogue.speakers} == {"Alexander": "host", "Maria": "guest"}


def test_inspect_reports_scheme_hosts_titles_and_doubts():
    report = inspect_document(read_path(FIXTURES / "bold-outside.md"))
    assert report["dialogue"] == {"scheme": "bold-colon-outside", "hosts": ["主持人"], "warnings": []}
    assert report["speakers"][1] == {"name": "王芳", "role": "guest", "title": "产品总监", "turns": 2}
    thin = inspect_document(read_path(FIXTURES / "label-alone.md"))
    assert any("evidence for dialogue is thin" in w for w in thin["dialogue"]["warnings"])
    rivals = inspect_document(read_path(FIXTURES / "competing-schemes.md"))["dialogue"]["warnings"]
    assert any("two labelling schemes compete" in w and w.endswith("not taken as speakers: 总览, 甲框架")
               for w in rivals)


# ---------------------------------------------------------------- one fixture per scheme
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scheme_fixture(name):
    want = EXPECTED[name]
    report = inspect_document(read_path(FIXTURES / name))
    got = {"scheme": report["dialogue"]["scheme"], "turns": report["turns"],
           "speakers": [[s["name"], s["role"], s["title"], s["turns"]] for s in report["speakers"]]}
    assert got == want


def test_every_fixture_has_expectations():
    assert sorted(p.name for p in FIXTURES.glob("*.md")) == sorted(EXPECTED)


def test_transforms_leave_turns_alone_the_second_time():
    doc = read_path(FIXTURES / "timestamps.md")
    assert detect_dialogue(doc, OPTS) == doc
    assert all(isinstance(t, DialogueTurn) for t in turns(doc))


# ---------------------------------------------------------------- the shared hand-labelled transcripts
def test_transcripts_match_their_hand_labels(corpus):
    """Every TRUTH.json file within max(2, 5 %) turns, every labelled speaker found with its role."""
    truth_path = corpus / "transcripts" / "TRUTH.json"
    tool = corpus.parent / "tools" / "score_dialogue.py"
    if not truth_path.is_file() or not tool.is_file():
        pytest.skip("../shared/corpus/transcripts or score_dialogue.py is absent")
    cmd = f"{sys.executable} -m interview_export"
    result = subprocess.run([sys.executable, str(tool), "--cmd", cmd, str(truth_path)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.endswith(" ok")]
    assert len(rows) == len(json.loads(truth_path.read_text(encoding="utf-8")))


def test_seed_and_articles_keep_their_turns(corpus):
    seed = inspect_document(read_path(corpus / "seed" / "tworek-interview.md"))
    assert seed["turns"] == 48 and [(s["name"], s["role"], s["turns"]) for s in seed["speakers"]] == [
        ("主持人", "host", 24), ("Jerry", "guest", 24)]
    for name in ("claude-in-excel-vs-openai", "claude-code-efficiency-ask-user-question-tool"):
        assert turn_count(read_path(corpus / "articles" / name / f"{name}.md")) == 0


def _inspect(*args: str, cwd: Path | None = None) -> dict:
    result = subprocess.run([sys.executable, "-m", "interview_export", "inspect", "--json", *args],
                            capture_output=True, text=True, timeout=120, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_host_option_and_config_key(tmp_path):
    article = str(FIXTURES / "plain-en.md")
    assert _inspect(article)["dialogue"]["hosts"] == ["Alexander"]
    assert _inspect("--host", "Maria", article)["dialogue"]["hosts"] == ["Maria"]
    assert _inspect("--host", "Maria", "--host", "Alexander", article)["dialogue"]["hosts"] == ["Alexander", "Maria"]
    (tmp_path / "s.toml").write_text('host = ["Maria"]\n', encoding="utf-8")
    assert _inspect("--config", str(tmp_path / "s.toml"), article)["dialogue"]["hosts"] == ["Maria"]


def test_many_distinct_labels_and_headings_stay_linear():
    """20,000 one-time names and 10,000 headings: a name-against-name or scan-ahead loop took minutes."""
    import time

    names = [chr(0x4E00 + i // 60) + chr(0x4E00 + i % 60) + "某" for i in range(20000)]
    many_names = parse_text("\n\n".join(f"{n}：第{i}句？" for i, n in enumerate(names)))
    headings = parse_text("A: 00:00:01\n\nHello?\n\nB: 00:00:02\n\nHi.\n\n"
                          + "".join(f"### h{i}\n\ntext {i}\n\n" for i in range(10000))
                          + "A: 00:10:00\n\nBye?\n\nB: 00:10:01\n\nBye.\n")
    start = time.process_time()
    assert turn_count(detect_dialogue(many_names, OPTS)) == 0
    assert turn_count(detect_dialogue(headings, OPTS)) == 4
    assert time.process_time() - start < 10   # about 0.5 s here; the quadratic loops took over 60 s


def test_converted_book_keeps_speakers_and_turns_together():
    report = inspect_document(read_path(FIXTURES / "bold-outside.md", Options(convert="s2t")))
    assert [(s["name"], s["title"], s["turns"]) for s in report["speakers"]][:3] == [
        ("主持人", "", 4), ("王芳", "產品總監", 2), ("趙磊", "SRE", 2)]
    assert sum(s["turns"] for s in report["speakers"]) == report["turns"] == 10


def test_a_question_section_title_is_the_host_turn_and_renders_once():
    from interview_export import render

    doc = read_path(FIXTURES / "question-sections.md")
    first = doc.sections[0].blocks
    assert [(t.speaker, t.role, len(t.blocks)) for t in first] == [("问", "host", 0), ("答", "guest", 1)]
    part = next(p for p in render.render_parts(doc, None, OPTS) if p.kind == "section")
    assert part.body.count('class="turn ') == 1 and part.body.count("图书馆这些年最大的变化") == 1
