"""Length: how many words, sentences, paragraphs or characters the answer has.

Run as: wizardlite constraints --family length
"""

from __future__ import annotations

import random
from collections.abc import Callable

from wizardlite.constraints import text as T
from wizardlite.constraints.base import ConstraintType, Kwargs, ifeval_check, one_of, say


def _number_words(rng: random.Random, instruction: str) -> Kwargs:
    if rng.random() < 0.5:
        return {"num_words": rng.choice((40, 60, 80, 100)), "relation": "less than"}
    return {"num_words": rng.choice((30, 50, 80)), "relation": "at least"}


def _negated(unit: str, key: str) -> Callable[[Kwargs], Kwargs]:
    """display(): adds `neg`, the count that breaks the rule, for the negative phrasing."""
    def display(k: Kwargs) -> Kwargs:
        n = k[key]
        neg = f"{n} {unit} or more" if k["relation"] == "less than" else f"fewer than {n} {unit}"
        return {**k, "neg": neg}
    return display


def _count_rule(tid: str) -> Callable[[str, Kwargs], str]:
    check = ifeval_check(tid)

    def make(text: str, kw: Kwargs) -> str:
        if kw["relation"] == "at least":
            for _ in range(60):
                if check(text, kw):
                    break
                text = T.insert_short(text, T.FILLER[T.count_words(text) % len(T.FILLER)])
            return text
        return T.shrink(text, lambda t: check(t, kw))
    return make


def _paragraphs_make(text: str, kw: Kwargs) -> str:
    plain = "\n".join(ln for ln in text.split("\n") if ln.strip() not in ("***",))
    plain = T.set_paragraphs(plain, kw["num_paragraphs"])
    starts = [a for a, _ in T.paragraphs(plain)][1:]
    for a in reversed(starts):
        plain = plain[:a].rstrip() + "\n\n***\n\n" + plain[a:]
    return plain


def _in_range(text: str, kw: Kwargs) -> bool:
    return kw["min_words"] <= T.count_words(text) <= kw["max_words"]


def _range_make(text: str, kw: Kwargs) -> str:
    text = T.grow(text, lambda t: T.count_words(t) >= kw["min_words"], lambda t: T.FILLER[0])
    return T.shrink(text, lambda t: T.count_words(t) <= kw["max_words"])


def _short_sentences(text: str, kw: Kwargs) -> bool:
    spans = T.sentences(text)
    return bool(spans) and all(T.count_words(s) <= kw["max_words"] for s in T.parts(text, spans))


def _cut_sentence(n: int) -> Callable[[str], str]:
    def cut(s: str) -> str:
        out: list[str] = []
        cur: list[str] = []
        tokens = s.split()
        for tok in tokens:
            if cur and T.count_words(" ".join(cur + [tok])) > n:
                out.append(" ".join(cur).rstrip(",;:") + ".")
                cur = []
            cur.append(tok)
        out.append(" ".join(cur))
        return " ".join(out)
    return cut


def _max_chars(response: str, kw: Kwargs) -> bool:
    return 0 < len(response.strip()) <= kw["max_chars"]


TYPES = [
    ConstraintType(
        "length_constraints:number_words", "length", True,
        say(short="Use {relation} {num_words} words.",
            long="Count your words before you finish: the reply should come to {relation} {num_words} words "
                 "in total, headings and lists included.",
            woven="Treat this as a task to be done in {relation} {num_words} words.",
            negative="Do not write {neg}: the limit is {relation} {num_words} words.",
            plain="Aim for {relation} {num_words} words overall.",
            held_out=("The length of the reply is fixed: {relation} {num_words} words.",)),
        _number_words, ifeval_check("length_constraints:number_words"),
        _count_rule("length_constraints:number_words"), display=_negated("words", "num_words")),
    ConstraintType(
        "length_constraints:number_sentences", "length", True,
        say(short="Write {relation} {num_sentences} sentences.",
            long="Pay attention to how many sentences you write: the whole reply should hold {relation} "
                 "{num_sentences} of them, counting every sentence in every part.",
            woven="Deal with this in {relation} {num_sentences} sentences.",
            negative="Do not write {neg}; keep to {relation} {num_sentences} sentences.",
            plain="The sentence count of the answer: {relation} {num_sentences}.",
            held_out=("Make it {relation} {num_sentences} sentences long.",)),
        lambda rng, ins: ({"num_sentences": rng.choice((4, 6, 8)), "relation": "less than"} if rng.random() < 0.5
                          else {"num_sentences": rng.choice((3, 5, 8)), "relation": "at least"}),
        ifeval_check("length_constraints:number_sentences"),
        _count_rule("length_constraints:number_sentences"),
        display=_negated("sentences", "num_sentences")),
    ConstraintType(
        "length_constraints:number_paragraphs", "length", True,
        say(short="Use {num_paragraphs} paragraphs with a *** line between each two.",
            long="Write exactly {num_paragraphs} paragraphs, and put a line with only *** between consecutive "
                 "paragraphs.",
            woven="Lay out what you write here as {num_paragraphs} paragraphs, each pair parted by a line "
                  "holding only ***.",
            negative="Do not write more or fewer than {num_paragraphs} paragraphs, and do not part them any way "
                     "other than by a line of ***.",
            plain="Split the reply into {num_paragraphs} paragraphs separated from each other by the markdown "
                  "divider ***.",
            held_out=("{num_paragraphs} paragraphs, please, kept apart by *** dividers.",)),
        one_of(num_paragraphs=(2, 3)), ifeval_check("length_constraints:number_paragraphs"), _paragraphs_make,
        make_stage=0),
    ConstraintType(
        "length:max_characters", "length", False,
        say(short="Stay under {max_chars} characters.",
            long="Keep the whole reply under {max_chars} characters, spaces and punctuation included, so it "
                 "fits in a small box.",
            woven="Answer this in no more than {max_chars} characters.",
            negative="Do not go past {max_chars} characters in total.",
            plain="Use no more than {max_chars} characters in total.",
            held_out=("The reply may hold {max_chars} characters at most.",)),
        one_of(max_chars=(300, 500, 800)), _max_chars,
        lambda text, kw: T.shrink(text, lambda t: _max_chars(t, kw))),
    ConstraintType(
        "length:word_range", "length", False,
        say(short="Write between {min_words} and {max_words} words.",
            long="Make the reply neither short nor long: somewhere from {min_words} to {max_words} words, both "
                 "ends included.",
            woven="Handle this request in {min_words} to {max_words} words.",
            negative="Do not write fewer than {min_words} words, and do not write more than {max_words}.",
            plain="Word count: at least {min_words}, at most {max_words}.",
            held_out=("Between {min_words} and {max_words} words is the length wanted.",)),
        lambda rng, ins: dict(zip(("min_words", "max_words"), rng.choice(((20, 40), (40, 70), (60, 100))),
                                  strict=True)),
        _in_range, _range_make),
    ConstraintType(
        "length:max_sentence_words", "length", False,
        say(short="Keep every sentence to {max_words} words or fewer.",
            long="Write in short sentences: none of them, list items and headings included, may run past "
                 "{max_words} words.",
            woven="Explain it in plain short sentences of at most {max_words} words each.",
            negative="Do not let any sentence go beyond {max_words} words.",
            plain="Each sentence: {max_words} words at most.",
            held_out=("No sentence longer than {max_words} words.",)),
        one_of(max_words=(10, 12, 15)), _short_sentences,
        lambda text, kw: T.rewrite(text, T.sentences(text), _cut_sentence(kw["max_words"]))),
]

