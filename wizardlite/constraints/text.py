"""How the project's own checkers read an answer: words, sentences, lines, paragraphs, list items,
sections; and the small edits the example-answer builders (`ConstraintType.make`) are made of.

Run as: python -c "from wizardlite.constraints.text import sentences; print(sentences('One. Two?'))"

Every reader returns spans (start, end) into the text, so that a builder can rewrite one part
in place. IFEval's own types keep IFEval's readings (their checkers are IFEval's); these are
for the types the project adds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

Span = tuple[int, int]

WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*")
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])")
DIVIDER = re.compile(r"^\s*(?:\*{3,}|-{3,}|_{3,})\s*$")
FENCE = re.compile(r"^\s*```")
HEADING = re.compile(r"^\s*#{1,6}\s+\S")
TITLE = re.compile(r"^\s*<<[^\n]*>>\s*$")
ITEM = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(?=\S)")
TABLE = re.compile(r"^\s*\|")
SIGNATURE = re.compile(r"^\s*— ?\S")
_TERM = re.compile(r"[.!?]+[\"'”’)\]*]*(?=\s|$)")
_MARKER = re.compile(r"\s*(?:[-*+]\s+|\d+[.)]\s+|#{1,6}\s+|>\s*)?")


def words(text: str) -> list[str]:
    return WORD.findall(text)


def count_words(text: str) -> int:
    return len(WORD.findall(text))


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for m in re.finditer(r"[^\n]*", text):
        if m.start() == 0 or text[m.start() - 1] == "\n":
            yield m.start(), m.group()


def line_kinds(text: str) -> list[tuple[int, str, str]]:
    """(start, line, kind) for every line: blank, divider, fence, code, heading, title, item,
    table, signature or prose."""
    out, in_code = [], False
    for start, line in _lines(text):
        if FENCE.match(line):
            kind, in_code = "fence", not in_code
        elif in_code:
            kind = "code"
        elif not line.strip():
            kind = "blank"
        elif DIVIDER.match(line):
            kind = "divider"
        else:
            kind = next((k for k, rx in (("heading", HEADING), ("title", TITLE), ("item", ITEM), ("table", TABLE),
                                         ("signature", SIGNATURE)) if rx.match(line)), "prose")
        out.append((start, line, kind))
    return out


def lines(text: str) -> list[str]:
    """The non-blank lines, stripped."""
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def blocks(text: str) -> list[Span]:
    """Runs of lines between blank lines and dividers (*** or ---), as spans."""
    out: list[Span] = []
    start = end = -1
    for s, line, kind in line_kinds(text):
        if kind in ("blank", "divider"):
            if start >= 0:
                out.append((start, end))
            start = -1
            continue
        if start < 0:
            start = s
        end = s + len(line)
    if start >= 0:
        out.append((start, end))
    return out


def paragraphs(text: str) -> list[Span]:
    """Blocks with at least one line of running text (a block of only list items, headings, a
    title, a table or code is not a paragraph)."""
    kinds = line_kinds(text)
    return [(s, e) for s, e in blocks(text) if any(k == "prose" and s <= ls < e for ls, _, k in kinds)]


def items(text: str) -> list[Span]:
    """List items (-, *, + or 1.), as the spans of their text after the marker."""
    out = []
    for s, line, kind in line_kinds(text):
        m = ITEM.match(line) if kind == "item" else None
        if m:
            out.append((s + m.end(), s + len(line.rstrip())))
    return out


def item_levels(text: str) -> list[tuple[int, str]]:
    """(indent in spaces, text) of every list item."""
    out = []
    for _, line, kind in line_kinds(text):
        m = ITEM.match(line) if kind == "item" else None
        if m:
            out.append((len(m.group(1).expandtabs(4)), line[m.end():].strip()))
    return out


def headings(text: str) -> list[Span]:
    out = []
    for s, line, kind in line_kinds(text):
        if kind == "heading":
            m = re.match(r"\s*#{1,6}\s+", line)
            assert m is not None
            out.append((s + m.end(), s + len(line.rstrip())))
    return out


def sections(text: str) -> list[Span]:
    """What follows each markdown heading, up to the next heading (the heading line excluded)."""
    heads = [(s, line) for s, line, kind in line_kinds(text) if kind == "heading"]
    out = []
    for i, (s, line) in enumerate(heads):
        start = s + len(line) + 1
        end = heads[i + 1][0] if i + 1 < len(heads) else len(text)
        out.append((min(start, len(text)), max(min(start, len(text)), end)))
    return out


def sentences(text: str) -> list[Span]:
    """Sentences: each line (less its list, heading or quote marker) cut after . ! or ?; a piece
    with no letter or digit is not a sentence. Code and divider lines have none."""
    out: list[Span] = []
    for s, line, kind in line_kinds(text):
        if kind in ("blank", "divider", "fence", "code", "table", "signature"):
            continue
        m = _MARKER.match(line)
        pos = m.end() if m else 0
        for t in _TERM.finditer(line, pos):
            _add_sentence(out, line, s, pos, t.end())
            pos = t.end()
        _add_sentence(out, line, s, pos, len(line))
    return out


def _add_sentence(out: list[Span], line: str, offset: int, a: int, b: int) -> None:
    piece = line[a:b]
    if re.search(r"[A-Za-z0-9]", piece):
        lead = len(piece) - len(piece.lstrip())
        out.append((offset + a + lead, offset + a + len(piece.rstrip())))


def part(text: str, span: Span) -> str:
    return text[span[0]:span[1]]


def parts(text: str, spans: list[Span]) -> list[str]:
    return [text[a:b] for a, b in spans]


def first_letter(s: str) -> str:
    m = re.search(r"[A-Za-z]", s)
    return m.group() if m else ""


# ---------------------------------------------------------------------------- edits (example answers)


def rewrite(text: str, spans: list[Span], fn: Callable[[str], str]) -> str:
    """`text` with each span replaced by `fn` of it (right to left, so the spans stay valid)."""
    for a, b in sorted(spans, reverse=True):
        text = text[:a] + fn(text[a:b]) + text[b:]
    return text


def insert_sentence(text: str, sentence: str) -> str:
    """`sentence` put inside the answer, away from its first and last words: after the first
    sentence of the first paragraph (at its end if it has one sentence), or as a paragraph of
    its own after the first block when there is no paragraph."""
    paras = paragraphs(text)
    if paras:
        a, b = paras[0]
        inner = [s for s in sentences(text) if a <= s[0] < b]
        at = inner[0][1] if len(inner) > 1 else b
        return text[:at] + " " + sentence + text[at:]
    bl = blocks(text)
    if not bl:
        return sentence
    at = bl[0][1]
    return text[:at] + "\n\n" + sentence + text[at:]


def longest_sentence(text: str) -> Span | None:
    """The sentence with the most words (the later one of equals)."""
    s = sentences(text)
    return max(reversed(s), key=lambda x: count_words(text[x[0]:x[1]])) if s else None


def inject(text: str, words: str) -> str:
    """`words` added at the end of the longest sentence, before its closing mark."""
    s = longest_sentence(text)
    if s is None:
        return (text.rstrip() + " " + words).strip()
    a, b = s
    m = re.search(r"[.!?]*[\"'”’)\]*]*$", text[a:b])
    at = a + (m.start() if m else b - a)
    return text[:at] + " " + words + text[at:]


def insert_short(text: str, sentence: str) -> str:
    """`sentence` put into the paragraph with the fewest words (not the last one), after its
    first sentence."""
    paras = paragraphs(text)[:-1]
    if len(paras) < 2:
        return insert_sentence(text, sentence)
    a, b = min(paras, key=lambda p: count_words(text[p[0]:p[1]]))
    inner = [s for s in sentences(text) if a <= s[0] < b]
    at = inner[0][1] if len(inner) > 1 else b
    return text[:at] + " " + sentence + text[at:]


def insert_block(text: str, block: str) -> str:
    """`block` (a list, a table...) as a block of its own after the first block, or at the end
    of an answer of one block."""
    bl = blocks(text)
    if not bl:
        return block
    at = bl[0][1]
    return text[:at] + "\n\n" + block + text[at:]


def drop_sentence(text: str, keep: Callable[[str], bool] = lambda s: False) -> str | None:
    """`text` less one sentence: the last one of the longest paragraph that has two or more,
    passing over those `keep` protects; None when none can go."""
    spans = sentences(text)
    paras = sorted(paragraphs(text), key=lambda p: -(p[1] - p[0]))
    for a, b in paras:
        inner = [s for s in spans if a <= s[0] < b]
        for s in reversed(inner[1:]):
            if not keep(part(text, s)):
                return (text[:s[0]].rstrip(" ") + text[s[1]:]).replace("  ", " ")
    # no paragraph has two sentences: drop the shortest paragraph after the first
    rest = sorted(paragraphs(text)[1:], key=lambda p: p[1] - p[0])
    for a, b in rest:
        if not keep(part(text, (a, b))):
            return (text[:a].rstrip() + text[b:]).strip("\n") if text[b:].strip() else text[:a].rstrip()
    return None


def set_paragraphs(text: str, n: int) -> str:
    """The answer with exactly `n` paragraphs: the one with the most sentences split in two, or
    the last merged into the one before, in place; other blocks (lists, tables) stay."""
    for _ in range(4 * n + 20):
        paras = paragraphs(text)
        if len(paras) == n:
            return text
        if len(paras) < n:
            spans = sentences(text)
            inner = [[s for s in spans if a <= s[0] < b] for a, b in paras]
            best = max(range(len(paras)), key=lambda i: len(inner[i]), default=-1)
            if best < 0 or len(inner[best]) < 2:
                text = (text.rstrip() + "\n\n" if text.strip() else "") + FILLER[len(paras) % len(FILLER)]
                continue
            cut = inner[best][len(inner[best]) // 2][0]
            text = text[:cut].rstrip() + "\n\n" + text[cut:]
        else:
            (_, b1), (a2, b2) = paras[-2], paras[-1]
            between = text[b1:a2]
            keep = between if re.search(r"\n[ \t]*[^\s*_-]", between) else ""
            text = text[:b1] + " " + text[a2:b2].replace("\n", " ") + keep + text[b2:]
    return text


def _sent_list(text: str) -> list[str]:
    return [part(text, s) for s in sentences(text)] or [text]


FILLER = ("Light reaches the leaf and starts the work.", "Water rises from the roots to the leaves.",
          "The plant stores what it makes for later.", "Air enters through tiny pores on the leaf.",
          "Each season changes how much the plant can make.", "Roots hold the soil and drink from it.")


def filler_words(n: int) -> str:
    """At least `n` words of plain sentences (no commas, capitals only at sentence starts)."""
    out, count, i = [], 0, 0
    while count < n:
        s = FILLER[i % len(FILLER)]
        out.append(s)
        count += count_words(s)
        i += 1
    return " ".join(out)


def grow(text: str, ok: Callable[[str], bool], piece: Callable[[str], str], limit: int = 40) -> str:
    """Insert `piece(text)` (a sentence) until `ok` holds, at most `limit` times."""
    for _ in range(limit):
        if ok(text):
            break
        text = insert_sentence(text, piece(text))
    return text


def shrink(text: str, ok: Callable[[str], bool], keep: Callable[[str], bool] = lambda s: False,
           limit: int = 80) -> str:
    """Drop sentences (`drop_sentence`) until `ok` holds or none can go."""
    for _ in range(limit):
        if ok(text):
            break
        nxt = drop_sentence(text, keep)
        if nxt is None:
            break
        text = nxt
    return text
