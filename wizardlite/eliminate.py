"""Elimination: the paper's four rules for failed evolutions, and the obvious ones they miss.

Rules that look only at the instruction run before an answer is generated, so a failed
evolution costs no answer. Each rule returns a reason (a short name) or None.
Order matters only for which reason is recorded when several apply.

1. no_gain        the model judges parent and child equal (asked separately, see `equality_request`)
2. sorry_short    the answer contains "sorry" and is shorter than 80 words
3. stopwords_only the answer is only punctuation and stop words
4. copied_prompt  the instruction copies words of the evolving prompt ("given prompt", ...)
+  empty / unchanged     nothing left after cleaning, or the same text as the parent
+  evolver_cut_off / answer_cut_off   generation stopped at the token limit
+  too_long              the prompt did not fit the model's context
"""

from __future__ import annotations

import re

from wizardlite.backends import CONTEXT, LENGTH, GenRequest, GenResult, Sampling, user
from wizardlite.config import EliminateConfig
from wizardlite.operations import PROMPT_MARKERS

# Reasons, as recorded in Record.reason.
EMPTY = "empty"
UNCHANGED = "unchanged"
COPIED_PROMPT = "copied_prompt"
EVOLVER_CUT_OFF = "evolver_cut_off"
ANSWER_CUT_OFF = "answer_cut_off"
TOO_LONG = "too_long"
NO_GAIN = "no_gain"
SORRY_SHORT = "sorry_short"
STOPWORDS_ONLY = "stopwords_only"
BACKEND_ERROR = "backend_error"

# A plain English stop-word list: function words that carry no content on their own.
STOP_WORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been before being below between
both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each few for from
further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his
how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor
not of off on once only or other ought our ours ourselves out over own same shan't she she'd she'll she's should
shouldn't so some such than that that's the their theirs them themselves then there there's these they they'd
they'll they're they've this those through to too under until up very was wasn't we we'd we'll we're we've were
weren't what what's when when's where where's which while who who's whom why why's with won't would wouldn't you
you'd you'll you're you've your yours yourself yourselves yes ok okay oh uh um well just also etc
""".split())

_WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def check_instruction(child: str, parent: str, evolved: GenResult, cfg: EliminateConfig) -> str | None:
    """Rules that need only the evolver's reply (run before answering)."""
    if evolved.finish_reason == CONTEXT:
        return TOO_LONG
    if cfg.empty_or_unchanged:
        if not child.strip():
            return EMPTY
        if _norm(child) == _norm(parent):
            return UNCHANGED
    if cfg.copied_prompt:
        low = child.lower()
        markers = PROMPT_MARKERS + tuple(m.lower() for m in cfg.extra_markers)
        if any(m in low for m in markers):
            return COPIED_PROMPT
    if cfg.truncated and evolved.finish_reason == LENGTH:
        return EVOLVER_CUT_OFF
    return None


def check_answer(answer: GenResult, cfg: EliminateConfig) -> str | None:
    """Rules on the generated answer (2, 3 and the cut-off rule)."""
    if answer.finish_reason == CONTEXT:
        return TOO_LONG
    text = answer.text
    words = _WORD.findall(text)
    if cfg.sorry_short and "sorry" in text.lower() and len(text.split()) < cfg.sorry_max_words:
        return SORRY_SHORT
    if cfg.stopwords_only and all(w.lower() in STOP_WORDS for w in words):
        return STOPWORDS_ONLY  # also catches an empty answer or one of only punctuation
    if cfg.truncated and answer.finish_reason == LENGTH:
        return ANSWER_CUT_OFF
    return None


# ---------------------------------------------------------------------------- rule 1

EQUALITY_GRAMMAR = 'root ::= "Equal" | "Not Equal"'

_EQUALITY_PROMPT = (
    "Compare the two instructions below. Are they equal: the same constraints and requirements, and the same "
    "depth and breadth of inquiry? Reply with one phrase: Equal or Not Equal.\n\n"
    "First instruction:\n{parent}\n\nSecond instruction:\n{child}\n"
)


def equality_request(parent: str, child: str, seed: int) -> GenRequest:
    return GenRequest(
        user(_EQUALITY_PROMPT.format(parent=parent.strip(), child=child.strip())),
        Sampling(temperature=0.0, max_tokens=8),  # a grammar may spend a token per letter
        seed=seed,
        grammar=EQUALITY_GRAMMAR,
        task="equal",
    )


def parse_equality(text: str) -> bool | None:
    """True when the judge says the two are equal, False when not, None when it said neither."""
    t = text.strip().lower()
    if re.search(r"^not\b|\bnot\s+equal\b|\bunequal\b|\bdifferent\b", t):
        return False
    if re.search(r"\bequal\b|\bsame\b|\bidentical\b", t):
        return True
    return None
