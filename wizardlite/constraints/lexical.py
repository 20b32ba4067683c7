"""Lexical: which words the answer must use or avoid.

Run as: wizardlite constraints --family lexical
"""

from __future__ import annotations

import random
import re

from wizardlite.constraints import text as T
from wizardlite.constraints.base import (
    ConstraintType,
    Kwargs,
    const,
    content_words,
    ifeval_check,
    quoted,
    say,
)

FILLERS = ("very", "really", "basically", "actually", "simply", "just", "quite", "thing", "stuff", "nice")
TRANSITIONS = ("however", "therefore", "meanwhile", "moreover", "instead", "finally", "besides", "otherwise")
FIRST_PERSON = re.compile(r"\b(?:i|me|my|mine|myself|we|us|our|ours|ourselves)\b", re.I)
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
          "seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def _keywords(rng: random.Random, instruction: str) -> Kwargs | None:
    words = content_words(instruction)
    if not words:
        return None
    return {"keywords": rng.sample(words, k=min(len(words), rng.choice((1, 2))))}


def _forbidden(rng: random.Random, instruction: str) -> Kwargs | None:
    free = [w for w in FILLERS if not re.search(rf"\b{w}\b", instruction, re.I)]
    return {"forbidden_words": rng.sample(free, k=min(len(free), 2))} if free else None


def _has(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, re.I) is not None


def _keywords_make(text: str, kw: Kwargs) -> str:
    missing = [w for w in kw["keywords"] if not re.search(w, text, re.I)]
    return T.insert_sentence(text, f"It comes down to {' and '.join(missing)}.") if missing else text


def _phrase(rng: random.Random, instruction: str) -> Kwargs | None:
    toks = re.findall(r"[A-Za-z]+", instruction.lower())
    content = set(content_words(instruction))
    pairs = list(dict.fromkeys(f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False) if a in content and b in content))
    return {"phrase": rng.choice(pairs)} if pairs else None


def _in_words(n: int) -> str:
    if n < 20:
        return _UNITS[n]
    if n < 100:
        return _TENS[n // 10 - 2] + ("-" + _UNITS[n % 10] if n % 10 else "")
    return "many"


def _no_digits_make(text: str, kw: Kwargs) -> str:
    return re.sub(r"\d+", lambda m: _in_words(int(m.group())), text)


def _transitions(response: str, kw: Kwargs) -> bool:
    return sum(_has(response, w) for w in kw["transitions"]) >= kw["min_used"]


def _transitions_make(text: str, kw: Kwargs) -> str:
    for w in kw["transitions"]:
        if not _transitions(text, kw) and not _has(text, w):
            text = T.insert_sentence(text, f"{w.capitalize()} it holds.")
    return text


TYPES = [
    ConstraintType(
        "keywords:existence", "lexical", True,
        say(short="Mention {keywords}.",
            long="Make sure the words {keywords} appear somewhere in your answer, spelled as given here.",
            woven="In dealing with this, bring up {keywords} by name.",
            negative="Do not leave out {keywords}: each must be in the reply.",
            plain="Your reply must mention {keywords}.",
            held_out=("Work the words {keywords} into the reply.",)),
        _keywords, ifeval_check("keywords:existence"), _keywords_make,
        display=lambda k: {"keywords": quoted(k["keywords"])}),
    ConstraintType(
        "keywords:forbidden_words", "lexical", True,
        say(short="Avoid the words {forbidden_words}.",
            long="Choose your words with care: {forbidden_words} must not appear anywhere in the answer, not "
                 "even once.",
            woven="Respond to this without ever using {forbidden_words}.",
            negative="Do not use the words {forbidden_words}.",
            plain="Banned words: {forbidden_words}.",
            held_out=("Keep {forbidden_words} out of the reply entirely.",)),
        _forbidden, ifeval_check("keywords:forbidden_words"),
        lambda text, kw: re.sub(r"\b(?:" + "|".join(kw["forbidden_words"]) + r")\b\s?", "", text, flags=re.I),
        display=lambda k: {"forbidden_words": quoted(k["forbidden_words"])}),
    ConstraintType(
        "lexical:include_phrase", "lexical", False,
        say(short="Use the exact phrase \"{phrase}\".",
            long="Somewhere in the reply, write the two words \"{phrase}\" side by side, in that order, exactly "
                 "as they are written here.",
            woven="When you get to the heart of this, say \"{phrase}\" word for word.",
            negative="Do not paraphrase \"{phrase}\": use that exact phrase at least once.",
            plain="The reply must contain the phrase \"{phrase}\".",
            held_out=("Include the wording \"{phrase}\" verbatim.",)),
        _phrase, lambda r, kw: _has(r, kw["phrase"]),
        lambda text, kw: text if _has(text, kw["phrase"]) else T.insert_sentence(text, f"Think of {kw['phrase']} here.")),
    ConstraintType(
        "lexical:no_digits", "lexical", False,
        say(short="Write numbers out in words, never as digits.",
            long="Spell every number out in letters (twelve, not 12), so that not a single digit appears in "
                 "the reply.",
            woven="Deal with this without writing any digit: where a number comes up, spell it out.",
            negative="Do not use the characters 0 to 9 anywhere.",
            plain="No digits: numbers are written as words.",
            held_out=("Every number in the reply spelled out in letters, with no digits.",)),
        const(), lambda r, kw: re.search(r"\d", r) is None, _no_digits_make, make_stage=3),
    ConstraintType(
        "lexical:transition_words", "lexical", False,
        say(short="Use at least {min_used} of these linking words: {transitions}.",
            long="Connect your ideas with linking words, using {min_used} or more of the following: "
                 "{transitions}.",
            woven="Link the steps of your reasoning here with at least {min_used} of {transitions}.",
            negative="Do not use fewer than {min_used} of the linking words {transitions}.",
            plain="Linking words to use ({min_used} or more of them): {transitions}.",
            held_out=("Pick at least {min_used} of {transitions} and use them.",)),
        lambda rng, ins: {"transitions": rng.sample(TRANSITIONS, 3), "min_used": 2},
        _transitions, _transitions_make, display=lambda k: {**k, "transitions": quoted(k["transitions"])}),
    ConstraintType(
        "lexical:no_first_person", "lexical", False,
        say(short="Write without 'I', 'me', 'my', 'we', 'us' or 'our'.",
            long="Keep yourself out of the text: write impersonally, with no first-person words such as 'I', "
                 "'me', 'my', 'we', 'us' or 'our'.",
            woven="Present this impersonally, never speaking as 'I' or 'we'.",
            negative="Do not use first-person words ('I', 'me', 'my', 'we', 'us', 'our').",
            plain="No first person anywhere in the reply.",
            held_out=("Avoid every first-person pronoun, singular or plural.",)),
        const(), lambda r, kw: FIRST_PERSON.search(r) is None,
        lambda text, kw: FIRST_PERSON.sub("", text).replace("  ", " "), make_stage=3),
]
