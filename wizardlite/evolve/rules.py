"""Elimination: the paper's four rules for failed evolutions, and the obvious ones they miss.

The rules are two ordered tables, `INSTRUCTION_RULES` and `ANSWER_RULES`: adding a rule is one
entry there (and a switch in EliminateConfig when it should be optional). Rules that look only
at the instruction run before an answer is generated, so a failed evolution costs no answer.
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
from collections.abc import Callable
from dataclasses import dataclass

from wizardlite.backends import CONTEXT, LENGTH, GenRequest, GenResult, Sampling, user
from wizardlite.evolve.dedup import normalise
from wizardlite.evolve.operations import PROMPT_MARKERS
from wizardlite.recipe import EliminateConfig

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


@dataclass(frozen=True)
class Rule:
    """One elimination rule. `switch` names the EliminateConfig flag that turns it on ("" = always
    on); `test` says whether the candidate fails. Instruction rules see (child, parent, the
    evolver's result); answer rules see (the answer's result, the equality verdict)."""

    name: str  # the reason recorded in Record.reason
    switch: str
    test: Callable[..., bool]


def _markers(cfg: EliminateConfig) -> tuple[str, ...]:
    return PROMPT_MARKERS + tuple(m.lower() for m in cfg.extra_markers)


# Checked in this order, before any answer is generated, so a failed evolution costs no answer.
INSTRUCTION_RULES: tuple[Rule, ...] = (
    Rule(TOO_LONG, "", lambda child, parent, res, cfg: res.finish_reason == CONTEXT),
    Rule(EMPTY, "empty_or_unchanged", lambda child, parent, res, cfg: not child.strip()),
    Rule(UNCHANGED, "empty_or_unchanged", lambda child, parent, res, cfg: normalise(child) == normalise(parent)),
    Rule(COPIED_PROMPT, "copied_prompt", lambda child, parent, res, cfg: any(m in child.lower() for m in _markers(cfg))),
    Rule(EVOLVER_CUT_OFF, "truncated", lambda child, parent, res, cfg: res.finish_reason == LENGTH),
)


def _sorry_short(ans: GenResult, equal: bool | None, cfg: EliminateConfig) -> bool:
    return "sorry" in ans.text.lower() and len(ans.text.split()) < cfg.sorry_max_words


def _stopwords_only(ans: GenResult, equal: bool | None, cfg: EliminateConfig) -> bool:
    # also catches an empty answer or one of only punctuation
    return all(w.lower() in STOP_WORDS for w in _WORD.findall(ans.text))


# Checked in this order once the answer and the equality verdict are in.
ANSWER_RULES: tuple[Rule, ...] = (
    Rule(NO_GAIN, "no_gain", lambda ans, equal, cfg: equal is True),
    Rule(TOO_LONG, "", lambda ans, equal, cfg: ans.finish_reason == CONTEXT),
    Rule(SORRY_SHORT, "sorry_short", _sorry_short),
    Rule(STOPWORDS_ONLY, "stopwords_only", _stopwords_only),
    Rule(ANSWER_CUT_OFF, "truncated", lambda ans, equal, cfg: ans.finish_reason == LENGTH),
)


def _on(rule: Rule, cfg: EliminateConfig) -> bool:
    return not rule.switch or bool(getattr(cfg, rule.switch))


def check_instruction(child: str, parent: str, evolved: GenResult, cfg: EliminateConfig) -> str | None:
    """The first instruction rule the child fails, or None."""
    return next((r.name for r in INSTRUCTION_RULES if _on(r, cfg) and r.test(child, parent, evolved, cfg)), None)


def check_answer(answer: GenResult, cfg: EliminateConfig, equal: bool | None = None) -> str | None:
    """The first answer rule that fails, or None. `equal` is the no-gain verdict (rule 1)."""
    return next((r.name for r in ANSWER_RULES if _on(r, cfg) and r.test(answer, equal, cfg)), None)


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
