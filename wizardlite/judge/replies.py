"""Reading judge replies: the grammars that hold a reply to a rating or a verdict, and the
parsers for backends that ignore a grammar."""

from __future__ import annotations

import json
import math
import re

SCORE_GRAMMAR = 'root ::= [1-9] | "10"'
VERDICT_GRAMMAR = 'root ::= "A" | "B" | "tie"'

# Echoes of the scale ("on a scale of 1 to 10", "8/10", "out of 10") are cut before looking for
# the rating, so the 1 and the 10 of the scale are never read as the score.
_SCALE = re.compile(r"(?:\bout\s+of\s+10\b|/\s*10\b|\b(?:from\s+)?1\s*(?:-|–|to)\s*10\b)", re.I)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?!\d)")
_WORDS = {w: i for i, w in enumerate("one two three four five six seven eight nine ten".split(), start=1)}


def parse_score(text: str) -> int | None:
    """The rating in a judge reply: the first number from 1 to 10 once scale echoes are cut
    ("8/10" -> 8; "7.5" -> 8, halves round up). A number word counts only when it is nearly
    the whole reply ("Eight."), since "one of the hardest" is not a rating. None when no
    rating is there: we never guess."""
    t = _SCALE.sub(" ", text)
    for m in _NUMBER.finditer(t):
        x = float(m.group())
        if 1 <= x <= 10:
            return int(math.floor(x + 0.5))
    words = re.findall(r"[a-z]+", t.lower())
    if 0 < len(words) <= 3 and words[-1] in _WORDS:
        return _WORDS[words[-1]]
    return None


_BRACKETS = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.I)  # MT-bench style [[A]]; C is its tie
_BETTER = [
    re.compile(r"\b(?:answer|response|assistant)\s+([AB])\b[^.\n]{0,30}?\b(?:is|was)\s+(?:better|superior|preferable|"
               r"preferred|stronger|more)", re.I),
    re.compile(r"\b(?:better|best|winner|verdict|choice|prefer|preferred|choose|pick)\b\W{0,3}(?:\w+\W+){0,3}?"
               r"(?:answer|response|assistant)?\s*\(?([AB])\b"),
]
_TIE = re.compile(r"\b(?:tie|draw|equally\s+(?:good|bad|helpful|poor)|(?:are|is)\s+(?:equal|equivalent|the\s+same))\b",
                  re.I)


def parse_verdict(text: str) -> str | None:
    """The position a judge reply prefers: "A" (shown first), "B" (shown second), "tie", or
    None when the reply names none or names both."""
    t = text.strip()
    if t.startswith("{"):  # a small JSON verdict: {"winner": "A"}
        try:
            obj = json.loads(t)
            if isinstance(obj, dict):
                t = str(next((obj[k] for k in ("winner", "verdict", "better") if k in obj), t))
        except json.JSONDecodeError:
            pass
    core = re.sub(r"[\W_]+", " ", t).strip().lower()
    core = re.sub(r"^(?:answer|response|assistant|verdict)\s+", "", core)
    if core in ("a", "b"):
        return core.upper()
    if core in ("tie", "draw", "equal", "c"):
        return "tie"
    if m := _BRACKETS.search(t):
        v = m.group(1).upper()
        return "tie" if v in ("C", "TIE") else v
    found = {m.group(1).upper() for p in _BETTER for m in p.finditer(t)}
    if len(found) == 1:
        return found.pop()
    if found:
        return None  # it argues for both: no verdict
    if _TIE.search(t):
        return "tie"
    if m := re.match(r"\(?([AB])\)?(?:[\s.,:;!)]|$)", t):  # "A. Because ..." (capital only: "a" is an article)
        return m.group(1)
    return None
