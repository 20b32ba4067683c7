"""Repetition: what the answer must repeat, and how often a word may come back.

Run as: wizardlite constraints --family repetition
"""

from __future__ import annotations

import re
from collections import Counter

from wizardlite.constraints import text as T
from wizardlite.constraints.base import ConstraintType, Kwargs, one_of, say

REFRAINS = ("Small steps add up.", "Keep the goal in view.", "Every detail counts.")


def _refrain_count(response: str, sentence: str) -> int:
    return len(re.findall(re.escape(sentence[:-1]) + r"[.!?]", response, re.I))


def _refrain_make(text: str, kw: Kwargs) -> str:
    s, n = kw["sentence"], kw["times"]
    while _refrain_count(text, s) > n:
        text = re.sub(re.escape(s[:-1]) + r"[.!?]\s?", "", text, count=1, flags=re.I)
    spots = T.paragraphs(text)
    while _refrain_count(text, s) < n:
        if not spots:
            text = T.insert_sentence(text, s)
            continue
        _, b = spots.pop()
        text = text[:b] + " " + s + text[b:]
    return text


def _long_words(response: str) -> Counter[str]:
    return Counter(w.lower() for w in T.words(response) if len(w) >= 5)


def _max_repeats(response: str, kw: Kwargs) -> bool:
    return max(_long_words(response).values(), default=0) <= kw["max_repeats"]


def _repeats_make(text: str, kw: Kwargs) -> str:
    for _ in range(40):
        over = [w for w, c in _long_words(text).items() if c > kw["max_repeats"]]
        if not over:
            break
        spans = [s for s in T.sentences(text)[1:] if re.search(rf"\b{over[0]}\b", T.part(text, s), re.I)]
        if not spans:
            break
        a, b = spans[-1]
        text = text[:a] + re.sub(rf"\b{over[0]}\b\s?", "", text[a:b], count=1, flags=re.I) + text[b:]
    return text


TYPES = [
    ConstraintType(
        "repetition:repeat_sentence", "repetition", False,
        say(short="Repeat the sentence \"{sentence}\" exactly {times} times.",
            long="Use a refrain: the sentence \"{sentence}\" should come back word for word exactly {times} "
                 "times in the reply, in different places.",
            woven="Weave the line \"{sentence}\" into your answer to this {times} times, no more and no fewer.",
            negative="Do not use the sentence \"{sentence}\" more or fewer than {times} times.",
            plain="The sentence \"{sentence}\" appears exactly {times} times.",
            held_out=("Say \"{sentence}\" exactly {times} times over the course of the reply.",)),
        one_of(sentence=REFRAINS, times=(2, 3)),
        lambda r, kw: _refrain_count(r, kw["sentence"]) == kw["times"], _refrain_make),
    ConstraintType(
        "repetition:max_word_repeats", "repetition", False,
        say(short="Use no word of five or more letters more than {max_repeats} times.",
            long="Vary your vocabulary: no word five letters long or longer may appear more than "
                 "{max_repeats} times in the whole reply; find other words instead.",
            woven="Explain this with varied wording, never using a longer word (five letters or more) over "
                  "{max_repeats} times.",
            negative="Do not repeat any word of five or more letters more than {max_repeats} times.",
            plain="Each word of five letters or more: at most {max_repeats} uses.",
            held_out=("Any word with five or more letters may be used {max_repeats} times at most.",)),
        one_of(max_repeats=(2, 3)), _max_repeats, _repeats_make, make_stage=3),
]
