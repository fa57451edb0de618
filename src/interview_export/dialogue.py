"""Document → Document with DialogueTurns: which labels are speakers (decided per document, on evidence), who hosts.

The labels themselves are read by ``speaker_labels.read_label``. Here the whole document is weighed:

1. **Candidates.** Every top-level block that opens with a label. Two turns written in one paragraph
   (``記者：…？<br>林鄭：…``) are split at the hard break first. Not candidates: markers
   (``**Break:** [14:20]``, ``**广告**``, a label followed straight by another label), legend lines
   (``**問：主持人**`` / ``**陳：陳美齡**`` in a row: they give the speakers' titles), link lines
   (``FAQ: https://…``) and credits (``译者：``, ``via:``).
2. **Aliases.** ``Adam Jonas (AJ)`` then ``AJ``; ``Eben Upton`` then ``EU``; ``「开源之道」·适兕`` for ``适兕``.
3. **Evidence.** Names that follow each other inside one section form a candidate conversation;
   each is judged alone, so field labels in a later section do not join a real interview (and are
   reported as a competing scheme). A conversation needs two speakers who recur (or one who answers
   several one-time askers), labels that change speaker at least every other time, most label uses
   by those speakers, and questions (a ``?``/``？`` or a host word such as 主持人/问/Q). Declared speakers (front
   matter ``speakers:``, ``host:``, ``--host``) are speakers without evidence. Once it is a
   conversation, a name that speaks once in the same label form is a speaker too.
4. **Roles.** ``--host`` > front matter ``host:``/``speakers:`` roles > host words > who asks.
5. **Turns.** A turn runs to the next label, marker, rule or heading; a heading in the middle of a
   conversation does not end the speaker: the words after it continue the same turn
   (``continued``), and the same speaker labelled again after it is still one turn. Two labels of
   the same speaker in a row without a heading between stay two turns, as the author wrote them.
   A section titled ``## 问：…`` / ``## Q: …`` is that question: a host turn without blocks (the
   title shows it) opens the section, and the words below are the answer.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .model import (
    BlockQuote,
    Dialogue,
    DialogueTurn,
    Document,
    Heading,
    LineBreak,
    ListBlock,
    Paragraph,
    Role,
    Section,
    Speaker,
    Text,
    ThematicBreak,
    plain_text,
)
from .options import Options
from .speaker_labels import TIMESTAMP_PATTERN, Label, read_label, rest_paragraph

HOST_WORDS = re.compile(r"主持|记者|記者|采访者|採訪者|访问者|訪問者|编者|編者|提问|提問|^问$|^問$|^Q$|"
                        r"\b(?:host|hosts|interviewer|moderator|anchor|reporter|journalist)s?\b", re.I)
GUEST_WORDS = re.compile(r"嘉宾|嘉賓|受访|受訪|^答$|^A$|\b(?:guest|interviewee)\b", re.I)
_MARKERS = (r"break|jingle|music|intro|outro|ad|ads|advert|advertisement|sponsor|sponsors|interlude|pause|"
            r"commercial|广告|廣告|插播|音乐|音樂|片头|片頭|片尾|休息|中场休息|中場休息|暂停|暫停|间奏|間奏")
MARKER_WORDS = re.compile(rf"^(?:{_MARKERS})$", re.I)
CREDIT_NAMES = re.compile(r"^(?:来源|來源|出处|出處|原文|原文链接|原文連結|原文地址|原文作者|作者|译者|譯者|校对|校對|"
                          r"校对者|校對者|编辑|編輯|责编|責編|排版|翻译|翻譯|编译|編譯|整理|审校|審校|译文出自|"
                          r"本文永久链接|图片来源|圖片來源|图|圖|注|备注|備註|附|参考|参考资料|參考資料|链接|網址|网址|"
                          r"说明|說明|提示|日期|时间|時間|发布时间|發佈時間|via|source|sources|credit|credits|"
                          r"editor|photo|photos|links?|note|notes|tags?|see also|transcript|transcript by)$", re.I)
_QUESTION = re.compile(r"[?？]")
_CLAUSE_END = re.compile(r"(?:说|說|道|是|的|了|为|為|认为|認為|表示|指出|称|稱|如下|原话|原話|如此|时|時)$")
_URL_ONLY = re.compile(r"^\s*(?:<?https?://\S+>?\s*)+$", re.I)
_NOTE = re.compile(r"^\s*[（(【\[]\s*(?:[^）)】\]]{0,12}(?:译注|譯注|编者注|編者注|编注|編注|注|按)|editor'?s note|note)",
                   re.I)
_BARE_MARKER = re.compile(rf"^\s*[\[【（(]?\s*(?P<word>{_MARKERS})\s*[\]】）)]?\s*[:：]?\s*"
                          rf"(?P<time>{TIMESTAMP_PATTERN})?\s*$", re.I)
_SENTENCE = re.compile(r"[，。！？；,.!?;]")


# ---------------------------------------------------------------- candidates
@dataclass
class Use:
    """One label found at a block start, where it is, and what the block says."""

    label: Label
    where: tuple[int, int]           # (container index, block index)
    name: str = ""                   # canonical speaker name (after aliases)
    question: bool = False
    kind: str = "label"              # label | marker | legend | link | credit
    then_words: bool = False         # the next block is unlabelled speech
    title: str = ""                  # the label's bracketed title, unless it was the speaker's initials


def _containers(doc: Document) -> list[tuple]:
    return [doc.lead] + [s.blocks for s in doc.sections]


def split_double_turns(blocks: tuple, known: set[str]) -> tuple:
    """A paragraph holding two turns split by a hard break (``記者：…？<br>林鄭：…``) → two paragraphs."""
    out: list = []
    for block in blocks:
        pieces: list[list] = [[]]
        for child in block.children if isinstance(block, Paragraph) else ():
            if isinstance(child, LineBreak):
                pieces.append([])
            else:
                pieces[-1].append(child)
        if len(pieces) == 1:
            out.append(block)
            continue
        current, split = pieces[0], False
        for piece in pieces[1:]:
            label = read_label(Paragraph(tuple(piece), block.line)) if piece and current else None
            if label is not None and label.name in known:
                out.append(Paragraph(tuple(current), block.line))
                current, split = list(piece), True
            else:
                current += [LineBreak(block.line), *piece]   # in place: 200k breaks stay linear
        out.append(Paragraph(tuple(current), block.line) if split else block)
    return tuple(out) if len(out) != len(blocks) else blocks


def _text_after(label: Label, blocks: tuple, index: int) -> str:
    """What the speaker says first: the label's own words, or the next paragraph's when it stands alone."""
    if not label.alone:
        return label.text
    nxt = blocks[index + 1] if index + 1 < len(blocks) else None
    return plain_text(nxt.children) if isinstance(nxt, (Paragraph, Heading)) else ""


def _is_legend(label: Label) -> bool:
    """``**陳：陳美齡**``: a short description after the label, all in bold, no sentence."""
    return (label.form in ("bold-question", "bold-colon-inside") and 0 < len(label.text) <= 30
            and not _SENTENCE.search(label.text.replace("、", "")) and not _QUESTION.search(label.text))


def _bare_marker(block) -> Label | None:
    """A paragraph that is only a marker word (``**广告**``, ``[Music]``, ``（插播）``), maybe with a time."""
    if not isinstance(block, Paragraph):
        return None
    m = _BARE_MARKER.match(plain_text(block.children))
    return Label(m["word"], "marker", timestamp=(m["time"] or "").strip(), line=block.line) if m else None


def _title_question(section: Section) -> Label | None:
    """``## Q：…`` / ``## 问：…``: a section titled with an asker's label is that question."""
    label = read_label(Heading(2, (Text(section.title, section.line),), section.line))
    if label is None or label.alone or not (_ASKER.match(label.name) or HOST_WORDS.search(label.name)):
        return None
    return label


def collect(containers: list[tuple], sections: tuple = ()) -> list[Use]:
    """Every label at a block start (and question section titles), classified (label, marker, legend, …)."""
    found = [[read_label(b) for b in blocks] for blocks in containers]
    counts = Counter(label.name for labels in found for label in labels if label is not None)
    uses: list[Use] = []
    for c, blocks in enumerate(containers):
        title = _title_question(sections[c - 1]) if 0 < c <= len(sections) else None
        if title is not None:
            uses.append(Use(title, (c, -1), title.name, question=bool(_QUESTION.search(title.text)),
                            then_words=bool(blocks) and found[c][0] is None and _speech(blocks[0])))
        for i, block in enumerate(blocks):
            label = found[c][i]
            if label is None:
                marker = _bare_marker(block)
                if marker is not None:
                    uses.append(Use(marker, (c, i), marker.name, kind="marker"))
                continue
            use = Use(label, (c, i), label.name)
            nxt = found[c][i + 1] if i + 1 < len(blocks) else None
            if MARKER_WORDS.match(label.name) and (label.alone or not label.text.strip(" -–—…")):
                use.kind = "marker"
            elif label.alone and label.timestamp and (i + 1 == len(blocks) or nxt is not None and counts[nxt.name] > 1):
                use.kind = "marker"     # a time and then straight another speaker: nobody speaks here
            elif CREDIT_NAMES.match(label.written) or CREDIT_NAMES.match(label.name):
                use.kind = "credit"
            elif _URL_ONLY.match(label.text) and not label.alone:
                use.kind = "link"
            use.question = bool(_QUESTION.search(_text_after(label, blocks, i)))
            use.then_words = nxt is None and i + 1 < len(blocks) and _speech(blocks[i + 1])
            uses.append(use)
    _mark_legends(uses)
    return uses


def _mark_legends(uses: list[Use]) -> None:
    """Two or more legend-like lines in a row naming different labels are a legend, not turns."""
    run: list[Use] = []

    def flush():
        if len(run) >= 2 and len({u.label.name for u in run}) == len(run):
            for u in run:
                u.kind = "legend"
        run.clear()

    for use in uses:
        adjacent = run and use.where[0] == run[-1].where[0] and use.where[1] == run[-1].where[1] + 1
        if use.kind == "label" and _is_legend(use.label) and (not run or adjacent):
            run.append(use)
        else:
            flush()
            if use.kind == "label" and _is_legend(use.label):
                run.append(use)
    flush()


# ---------------------------------------------------------------- aliases
def _initials(name: str) -> str:
    words = name.split()
    if len(words) > 1:
        return "".join(w[0] for w in words if w[0].isalpha()).upper()
    return "".join(ch for ch in name if ch.isupper())


MAX_NAMES = 300   # more distinct label names than any conversation has: skip the name-matching guesses


def resolve_aliases(uses: list[Use]) -> dict[str, str]:
    """{label name: canonical speaker name} from explicit ``(AJ)``, initials and contained names."""
    labels = [u for u in uses if u.kind == "label"]
    counts = Counter(u.label.name for u in labels)
    canon: dict[str, str] = {}
    for u in labels:
        if u.label.alias and u.label.alias in counts:    # "Adam Jonas (AJ)" … "AJ:": initials, not a title
            canon[u.label.alias] = u.label.name
    names = list(counts)
    if len(names) > MAX_NAMES:
        return canon
    for short in names:
        if short in canon or not re.fullmatch(r"[A-Z]{2,4}", short):
            continue
        longer = [n for n in names if n != short and len(n) > len(short) and _initials(n) == short]
        if len(longer) == 1:
            canon[short] = longer[0]
    recurring = [n for n in names if counts[n] > 1 and len(n) >= 2]
    for name in names:
        if counts[name] > 1 or name in canon:
            continue
        inside = [n for n in recurring if n != name and name.endswith(n) and not name[: -len(n)][-1:].isalnum()]
        if len(inside) == 1:
            canon[name] = inside[0]
    return canon


# ---------------------------------------------------------------- evidence
@dataclass
class Decision:
    """What dialogue detection decided for one document: speakers, roles and warnings."""
    speakers: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    answerer: str = ""               # the unnamed voice answering question headings ("答" / "A")


_ASKER = re.compile(r"^(?:Q|问|問)$")


def _question_headings(labels: list[Use]) -> Decision:
    """``#### 问：…？`` headings each followed by an unlabelled answer: a Q&A whose answerer has no label."""
    asked = [u for u in labels if u.label.form == "heading" and _ASKER.match(u.name) and u.then_words]
    if len(asked) < 2 or len({u.name for u in labels}) > 1:
        return Decision()
    cjk = any(ord(ch) > 0x2E7F for u in asked for ch in u.label.text)
    answerer = "答" if cjk else "A"
    return Decision({asked[0].name, answerer}, answerer=answerer)


def _is_host_word(name: str, title: str = "") -> bool:
    return bool(HOST_WORDS.search(name) or (title and HOST_WORDS.search(title)))


def conversations(labels: list[Use]) -> list[list[Use]]:
    """Labels grouped into candidate conversations: names that follow each other inside one section
    belong together (a comparison table's 总览/React Native labels in later sections stay apart)."""
    parent: dict[str, str] = {u.name: u.name for u in labels}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in zip(labels, labels[1:]):
        if a.where[0] == b.where[0]:
            parent[root(a.name)] = root(b.name)
    groups: dict[str, list[Use]] = {}
    for u in labels:
        groups.setdefault(root(u.name), []).append(u)
    return list(groups.values())


def decide(uses: list[Use], declared: set[str], name: str) -> Decision:
    """Which names are speakers in this document, and the doubts worth reporting."""
    labels = [u for u in uses if u.kind == "label"]
    counts = Counter(u.name for u in labels)
    present_declared = {n for n in declared if n in counts}
    recurring = {n for n, k in counts.items() if k >= 2}
    if declared and present_declared and not recurring - present_declared:
        return Decision(present_declared)
    decision, rejected = Decision(), []
    for group in conversations(labels):
        found = judge(group, present_declared, name)
        if found.speakers:
            decision.speakers |= found.speakers
            decision.warnings += found.warnings
            decision.answerer = decision.answerer or found.answerer
        else:
            rejected += sorted({u.name for u in group if u.name in recurring})
    if decision.speakers and rejected:
        decision.warnings.append(f"{name}: two labelling schemes compete: speakers "
                                 f"{', '.join(sorted(decision.speakers))}; not taken as speakers: {', '.join(rejected)}")
    return decision


def judge(labels: list[Use], declared: set[str], name: str) -> Decision:
    """The evidence for one candidate conversation (see the module docstring, step 3)."""
    counts = Counter(u.name for u in labels)
    core = {n for n, k in counts.items() if k >= 2} | (declared & set(counts))
    decision = Decision()
    if not core:
        return decision
    if len(core) == 1 and (found := _question_headings(labels)).speakers:
        return found
    sequence = [u for u in labels if u.name in core]
    changes = sum(1 for a, b in zip(sequence, sequence[1:]) if a.name != b.name)
    once = [u for u in labels if u.name not in core]
    asked = sum(1 for u in sequence if u.question or _is_host_word(u.name, u.title))
    if len(core) == 1:
        # one recurring voice answering several one-time askers (an AMA, a press Q&A)
        alternating = sum(1 for a, b in zip(labels, labels[1:]) if (a.name in core) != (b.name in core))
        if len(once) < 2 or alternating * 2 < len(labels) - 1 or not any(u.question for u in once):
            return decision
        decision.speakers = core | {u.name for u in once if _speaker_like(u)}
        return decision
    if len(sequence) < 4 or changes * 2 < len(sequence) - 1 or len(sequence) * 2 < len(labels):
        return decision
    if not asked and not declared & core:
        return decision
    speakers = set(core)
    forms = Counter(u.label.form for u in sequence)
    alone = sum(u.label.alone for u in sequence) * 2 > len(sequence)
    first_at, last_at = sequence[0].where, sequence[-1].where
    for u in once:
        if u.label.form in forms and u.label.alone == alone and first_at <= u.where <= last_at and _speaker_like(u):
            speakers.add(u.name)
    decision.speakers = speakers
    if asked * 5 < len(sequence) or len(sequence) < 6:
        decision.warnings.append(f"{name}: evidence for dialogue is thin ({len(sequence)} labels, "
                                 f"{asked} with a question or a host word)")
    return decision


_PARTICLES = {"van", "von", "de", "der", "den", "da", "di", "du", "le", "la", "bin", "al", "el", "of", "the"}


def _speaker_like(use: Use) -> bool:
    """A one-time label that reads as a name, not as the start of a sentence (``但问题是：``, ``The fix is``)."""
    name = use.label.name
    if len(name) > 2 and _CLAUSE_END.search(name):
        return False
    words = name.lstrip("@").split()
    if name.isascii() and not name.startswith("@") and any(w[0].islower() and w not in _PARTICLES for w in words):
        return False
    return bool(use.label.text or use.label.alone)


# ---------------------------------------------------------------- roles
def _stats(uses: list[Use], speakers: set[str]) -> dict[str, tuple[int, int, int]]:
    """{name: (turns, turns with a question, characters said first)}."""
    out: dict[str, list[int]] = {}
    for u in uses:
        if u.kind == "label" and u.name in speakers:
            s = out.setdefault(u.name, [0, 0, 0])
            s[0] += 1
            s[1] += u.question
            s[2] += len(u.label.text) or 1
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def assign_roles(speakers: list[str], titles: dict[str, str], aliases: dict[str, list[str]],
                 uses: list[Use], hosts_given: tuple[str, ...], meta_hosts: tuple[str, ...],
                 quoted: set[str]) -> dict[str, Role]:
    """{speaker: "host"|"guest"}: --host > front matter > host words > who asks."""
    def matches(name: str, wanted: tuple[str, ...]) -> bool:
        forms = {name.casefold(), *(a.casefold() for a in aliases.get(name, ()))}
        return any(w.strip().casefold() in forms for w in wanted)

    for wanted in (hosts_given, meta_hosts):
        if wanted and any(matches(n, wanted) for n in speakers):
            return {n: "host" if matches(n, wanted) else "guest" for n in speakers}
    worded = {n for n in speakers if _is_host_word(n, titles.get(n, ""))} | quoted
    if worded:
        return {n: "host" if n in worded else "guest" for n in speakers}
    stats = _stats(uses, set(speakers))
    if not stats:
        return {n: "guest" for n in speakers}
    # The guest talks most per turn and asks least; an asker is a host when they ask clearly more
    # often than the guest and say much less.
    def weight(n):
        turns, asks, chars = stats.get(n, (1, 0, 0))
        return chars / turns * (1 - asks / turns)
    guest = max(stats, key=weight)
    g_turns, g_asks, g_chars = stats[guest]
    roles: dict[str, Role] = {}
    for n in speakers:
        turns, asks, chars = stats.get(n, (1, 0, 0))
        asks_more = asks / turns > g_asks / g_turns
        roles[n] = "host" if n != guest and asks_more and chars / turns < g_chars / g_turns else "guest"
    if "host" not in roles.values() and len(stats) >= 2:
        asker = max((n for n in stats if n != guest), key=lambda n: (stats[n][1], -stats[n][2]))
        roles[asker] = "host"
    return roles


# ---------------------------------------------------------------- turns
def _narrator(block, names: set[str], lengths: set[int]) -> bool:
    """``陸禧沒有回答。`` / ``（LCTT 译注：…）``: a reporter's or translator's note between turns."""
    if not isinstance(block, Paragraph):
        return False
    text = plain_text(block.children).strip()
    if _NOTE.match(text):
        return True
    if len(text) > 60:
        return False
    return any(text[:k] in names and len(text) > k and ord(text[k]) > 0x2E7F and text[k] not in "：:，,（("
               for k in lengths if k >= 2)


def _speech(block) -> bool:
    """Blocks that carry words a speaker says (a bare URL line or an image does not)."""
    if isinstance(block, Paragraph):
        return not _URL_ONLY.match(plain_text(block.children))
    return isinstance(block, (ListBlock, BlockQuote))


@dataclass
class _Builder:
    """Walks the containers in reading order and cuts them into turns."""

    accepted: dict[tuple[int, int], Use]
    roles: dict[str, Role]
    names: set[str]
    last_label_at: tuple[int, int]
    flowing: bool                    # labels stand alone (transcripts): words flow on across chapter headings
    two_voices: bool
    answerer: str = ""               # who answers a question heading when no label says so
    open: list | None = None         # [name, line, blocks, title, timestamp, continued, form]
    last: str | None = None          # the last speaker, still "on" across headings
    interrupted: bool = False        # a heading came since the last speaker's words
    crossed: bool = False            # … and it was a section (##) heading
    out: list = field(default_factory=list)
    lengths: set[int] = field(default_factory=set)
    next_label: list = field(default_factory=list)    # per block of the current container: the next label's Use

    def __post_init__(self):
        self.lengths = {len(n) for n in self.names}

    def close(self):
        if self.open is not None:
            name, line, blocks, title, stamp, continued, _ = self.open
            self.out.append(DialogueTurn(name, self.roles.get(name, "guest"), tuple(blocks), line,
                                         title, stamp, continued))
            self.last, self.open = name, None

    def start(self, name, line, blocks, title="", stamp="", continued=False, form=""):
        self.close()
        self.open = [name, line, list(blocks), title, stamp, continued, form]
        self.interrupted = self.crossed = False

    def stop(self):
        self.close()
        self.last = None

    def container(self, c: int, blocks: tuple, new_section: bool) -> tuple:
        self.out = []
        self.next_label, following = [None] * len(blocks), None
        for i in range(len(blocks) - 1, -1, -1):
            self.next_label[i] = following
            following = self.accepted.get((c, i), following)
        if new_section:
            self.interrupted = self.crossed = True
        asked = self.accepted.get((c, -1))
        if asked is not None:     # "## 问：…？": the title is the question; its turn holds no blocks
            self.start(asked.name, asked.label.line, [], asked.title, asked.label.timestamp, False, "heading")
        for i, block in enumerate(blocks):
            use = self.accepted.get((c, i))
            if use is not None and use.kind == "label":
                self.label(use, block)
            elif use is not None or isinstance(block, ThematicBreak) or _narrator(block, self.names, self.lengths):
                self.stop()                     # a marker, a rule or a reporter's note ends the speaker
                self.out.append(block)
            elif isinstance(block, Heading):
                if self.open is not None and self.open[6] == "heading" and _SENTENCE.search(plain_text(block.children)):
                    self.open[2].append(Paragraph(block.children, block.line))   # an answer written as a heading
                    continue
                self.close()
                self.interrupted = True
                self.out.append(block)
            elif self.open is not None and self.answerer and self.open[6] == "heading" and _speech(block) \
                    and _ASKER.match(self.open[0]):
                self.start(self.answerer, block.line, [block])              # the unlabelled answer
            elif self.open is not None:
                self.open[2].append(block)
            elif self.can_resume(c, i, block):
                self.resume(i, block)
            else:
                self.out.append(block)
        self.close()
        return tuple(self.out)

    def can_resume(self, c: int, i: int, block) -> bool:
        return (self.last is not None and self.interrupted and (c, i) < self.last_label_at and _speech(block)
                and (self.flowing or not self.crossed))

    def label(self, use: Use, block):
        label = use.label
        first: tuple = rest_paragraph(label, block.line)
        if isinstance(block, BlockQuote):
            first += tuple(block.blocks[1:])
        continued = use.name == self.last and self.interrupted
        self.start(use.name, block.line, first, use.title, label.timestamp, continued, label.form)

    def resume(self, i: int, block):
        """Words after a heading without a label: the last speaker goes on — unless the next label
        is that same speaker again, in a two-voice conversation: then the other one speaks."""
        nxt = self.next_label[i]
        if self.two_voices and nxt is not None and nxt.name == self.last:
            other = next(n for n in self.names if n != self.last)
            self.start(other, block.line, [block])
            return
        self.start(self.last, block.line, [block], continued=True)


def detect_dialogue(doc: Document, options: Options) -> Document:
    """Find the document's speakers and cut its blocks into DialogueTurns (see the module docstring)."""
    containers = _containers(doc)
    uses = collect(containers, doc.sections)
    known = {u.label.name for u in uses if u.kind == "label"}
    split = [split_double_turns(blocks, known) for blocks in containers]
    if any(a is not b for a, b in zip(split, containers)):
        containers, uses = split, collect(split, doc.sections)
    canon = resolve_aliases(uses)
    for u in uses:
        u.name = canon.get(u.label.name, u.label.name)
        u.title = "" if u.label.title in canon else u.label.title
    declared = set(doc.meta.speakers) | set(doc.meta.hosts) | set(options.hosts)
    decision = decide(uses, {canon.get(n, n) for n in declared}, doc.name)
    if not decision.speakers:
        if decision.warnings:
            return doc.replace(dialogue=Dialogue(warnings=tuple(decision.warnings)))
        return doc
    speakers = decision.speakers
    accepted = {u.where: u for u in uses if (u.kind == "label" and u.name in speakers) or u.kind == "marker"}
    spoken = [u for u in uses if u.kind == "label" and u.name in speakers]
    order = list(dict.fromkeys(u.name for u in spoken))
    order += sorted(speakers - set(order))
    titles = _titles(uses, speakers)
    aliases: dict[str, list[str]] = {}
    for short, full in canon.items():
        if full in speakers:
            aliases.setdefault(full, []).append(short)
    quoted = {u.name for u in spoken if u.label.form == "quoted"}
    roles = assign_roles(order, titles, aliases, uses, options.hosts,
                         doc.meta.hosts, quoted)
    builder = _Builder(accepted, roles, set(speakers), max(u.where for u in spoken),
                       flowing=sum(u.label.alone for u in spoken) * 2 > len(spoken),
                       two_voices=len(speakers) == 2, answerer=decision.answerer)
    lead = builder.container(0, containers[0], False)
    sections = []
    for c, section in enumerate(doc.sections, start=1):
        sections.append(Section(section.id, section.title, builder.container(c, containers[c], True),
                                section.number, section.line))
    forms = Counter(u.label.form for u in spoken)
    scheme = "+".join(f for f, _ in forms.most_common())
    if sum(u.label.alone for u in spoken) * 2 > len(spoken):
        scheme += " (label on its own line)"
    info = Dialogue(scheme=scheme,
                    speakers=tuple(Speaker(n, roles[n], titles.get(n, ""), tuple(aliases.get(n, ()))) for n in order),
                    warnings=tuple(decision.warnings))
    return doc.replace(lead=lead, sections=tuple(sections), dialogue=info)


def _titles(uses: list[Use], speakers: set[str]) -> dict[str, str]:
    """A speaker's title: the first bracketed title written with the label, else the legend's words."""
    titles: dict[str, str] = {}
    for u in uses:
        if u.kind == "label" and u.name in speakers and u.title:
            titles.setdefault(u.name, u.title)
    for u in uses:
        if u.kind == "legend" and u.name in speakers and u.label.text != u.name:
            titles.setdefault(u.name, u.label.text)
    return titles
