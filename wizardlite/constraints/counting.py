"""Counting: how often something occurs (a keyword, a letter, bullets, highlights, numbers,
question marks, words in capitals, numbered steps).

Run as: wizardlite constraints --family counting
"""

from __future__ import annotations

import random
import re

from wizardlite.constraints import text as T
from wizardlite.constraints.base import ConstraintType, Kwargs, content_words, ifeval_check, one_of, say

_LETTER_WORDS = {"b": "big bright bees buzz by", "c": "cool calm clean cells", "d": "deep dark damp ditches",
                 "g": "green grass grows again", "m": "many more moist meadows", "p": "plants pull up power",
                 "w": "warm water washes west", "y": "young yellow yarrow yearly"}
ITEMS = ("Air enters the leaf.", "Bark guards the stem.", "Cells hold the green pigment.", "Dew wets the ground.",
         "Earth feeds the roots.", "Flowers draw the bees.", "Grass covers the field.")
_BULLET_LINE = re.compile(r"^(\s*)(?:\*(?!\*)|-)\s*", re.M)


def _keyword_frequency(rng: random.Random, instruction: str) -> Kwargs | None:
    words = content_words(instruction)
    if not words:
        return None
    return {"keyword": rng.choice(words), "frequency": rng.choice((2, 3)), "relation": "at least"}


def _letter_frequency(rng: random.Random, instruction: str) -> Kwargs:
    if rng.random() < 0.5:
        return {"letter": rng.choice(sorted(_LETTER_WORDS)), "let_frequency": rng.choice((5, 8, 12)),
                "let_relation": "at least"}
    return {"letter": rng.choice("jqxz"), "let_frequency": rng.choice((2, 3)), "let_relation": "less than"}


def _letter_make(text: str, kw: Kwargs) -> str:
    check = ifeval_check("keywords:letter_frequency")
    letter = kw["letter"]
    if kw["let_relation"] == "at least":
        return T.grow(text, lambda t: check(t, kw), lambda t: _LETTER_WORDS[letter].capitalize() + ".")
    return re.sub(rf"\S*{letter}\S*\s?", "", text, flags=re.I)


def _unbullet(text: str) -> str:
    """Every line IFEval counts as a bullet (starting with * or -) made a plain line."""
    return _BULLET_LINE.sub(r"\1", text)


def _bullets_make(text: str, kw: Kwargs) -> str:
    block = "\n".join(f"* {ITEMS[i % len(ITEMS)].rstrip('.')}" for i in range(kw["num_bullets"]))
    return T.insert_block(_unbullet(text), block)


def _steps(response: str, kw: Kwargs) -> bool:
    return len(re.findall(r"^\s*\d+[.)]\s+\S", response, re.M)) == kw["num_steps"]


def _steps_make(text: str, kw: Kwargs) -> str:
    text = re.sub(r"^(\s*)\d+[.)]\s+", r"\1", text, flags=re.M)
    return T.insert_block(text, "\n".join(f"{i + 1}. {ITEMS[i % len(ITEMS)]}" for i in range(kw["num_steps"])))


def _capital_frequency(rng: random.Random, instruction: str) -> Kwargs:
    if rng.random() < 0.5:
        return {"capital_frequency": rng.choice((2, 3)), "capital_relation": "at least"}
    return {"capital_frequency": rng.choice((2, 3, 4)), "capital_relation": "less than"}


def _capital_make(text: str, kw: Kwargs) -> str:
    if kw["capital_relation"] == "at least":
        return T.insert_short(text, " ".join(["KEEP", "THIS", "IN", "MIND"][:max(2, kw["capital_frequency"])]) + ".")
    return re.sub(r"\b[A-Z]+\b", lambda m: m.group().capitalize() if len(m.group()) > 1 else m.group().lower(), text)


def _numbers(response: str, kw: Kwargs) -> bool:
    return len(set(T.numbers(response))) >= kw["num_numbers"]


def _numbers_make(text: str, kw: Kwargs) -> str:
    have = set(T.numbers(text))
    new = [n for n in ("12", "40", "75", "300", "950") if n not in have][:kw["num_numbers"] - len(have)]
    return T.insert_sentence(text, "Count " + " then ".join(new) + ".") if new else text


def _questions(response: str, kw: Kwargs) -> bool:
    return response.count("?") == kw["num_questions"]


def _questions_make(text: str, kw: Kwargs) -> str:
    n = kw["num_questions"]
    while text.count("?") > n:
        text = text.replace("?", ".", 1)
    while text.count("?") < n:
        text = T.insert_sentence(text, ("Why does it matter?", "What comes next?", "How long does it take?")[text.count("?") % 3])
    return text


TYPES = [
    ConstraintType(
        "keywords:frequency", "counting", True,
        say(short="Use the word '{keyword}' {relation} {frequency} times.",
            long="The word '{keyword}' should appear {relation} {frequency} times in the answer; every use "
                 "counts, including in headings.",
            woven="Talk about '{keyword}' a good deal here: {relation} {frequency} mentions of the word.",
            negative="Do not mention '{keyword}' fewer than {frequency} times ({relation} {frequency}).",
            plain="'{keyword}': {relation} {frequency} occurrences.",
            held_out=("Repeat the word '{keyword}' {relation} {frequency} times.",)),
        _keyword_frequency, ifeval_check("keywords:frequency"),
        lambda text, kw: T.grow(text, lambda t: ifeval_check("keywords:frequency")(t, kw),
                                lambda t: f"Think about {kw['keyword']} again.")),
    ConstraintType(
        "keywords:letter_frequency", "counting", True,
        say(short="Let the letter '{letter}' appear {let_relation} {let_frequency} times.",
            long="Mind one letter as you write: '{letter}', in capitals or not, should turn up {let_relation} "
                 "{let_frequency} times across the whole reply.",
            woven="Write about this so that the letter '{letter}' shows up {let_relation} {let_frequency} times.",
            negative="Do not get the count of the letter '{letter}' wrong: {let_relation} {let_frequency}.",
            plain="The letter '{letter}' occurs {let_relation} {let_frequency} times.",
            held_out=("Count the letter '{letter}': {let_relation} {let_frequency} times in all.",)),
        _letter_frequency, ifeval_check("keywords:letter_frequency"), _letter_make),
    ConstraintType(
        "detectable_content:number_placeholders", "counting", True,
        say(short="Leave {num_placeholders} or more blanks in square brackets for the reader to fill in.",
            long="Write it as a template: put at least {num_placeholders} fill-in slots in square brackets, "
                 "each one naming what goes there.",
            woven="Make the result reusable by leaving at least {num_placeholders} bracketed slots, written "
                  "in square brackets, for details to be filled in.",
            negative="Do not fill in every detail: leave at least {num_placeholders} of them as slots in "
                     "square brackets.",
            plain="Square-bracket placeholders: {num_placeholders} at least.",
            held_out=("Include no fewer than {num_placeholders} fill-in slots in square brackets.",)),
        one_of(num_placeholders=(1, 2, 3)), ifeval_check("detectable_content:number_placeholders"),
        lambda text, kw: T.insert_sentence(text, "Write to " + " and ".join(
            ["[recipient]", "[street]", "[weekday]"][:kw["num_placeholders"]]) + ".")),
    ConstraintType(
        "detectable_format:number_bullet_lists", "counting", True,
        say(short="Give exactly {num_bullets} bullet points, each line starting with '* '.",
            long="Present the main points as a markdown list of exactly {num_bullets} bullets, each on its own "
                 "line opening with an asterisk and a space, and use no other list lines.",
            woven="Break this down into {num_bullets} bullet points (lines that open with an asterisk and a "
                  "space), no more and no fewer.",
            negative="Do not use more or fewer than {num_bullets} bullets, and do not start any other line "
                     "with an asterisk or a dash.",
            plain="Exactly {num_bullets} markdown bullets, marked with '* '.",
            held_out=("Use {num_bullets} bullet points marked with asterisks, and no other list.",)),
        one_of(num_bullets=(2, 3, 4, 5)), ifeval_check("detectable_format:number_bullet_lists"), _bullets_make,
        make_stage=0),
    ConstraintType(
        "detectable_format:number_highlighted_sections", "counting", True,
        say(short="Highlight {num_highlights} or more phrases by putting single asterisks around them.",
            long="Mark at least {num_highlights} key passages in markdown italics: a single asterisk right "
                 "before and right after each one.",
            woven="Point out the parts of this that matter most by setting at least {num_highlights} of them "
                  "in italics with single asterisks.",
            negative="Do not leave the key points unmarked: at least {num_highlights} of them go between single "
                     "asterisks.",
            plain="Italicised passages with asterisks: at least {num_highlights}.",
            held_out=("Put asterisks around at least {num_highlights} important phrases.",)),
        one_of(num_highlights=(2, 3)), ifeval_check("detectable_format:number_highlighted_sections"),
        lambda text, kw: T.insert_sentence(text, "Think of " + " and ".join(
            ["*light*", "*water*", "*air*"][:kw["num_highlights"]]) + ".")),
    ConstraintType(
        "change_case:capital_word_frequency", "counting", True,
        say(short="Write {capital_relation} {capital_frequency} words in full capitals.",
            long="Stress a few words by writing them entirely in capital letters; the number of such words in "
                 "the reply should be {capital_relation} {capital_frequency}.",
            woven="When you stress words in this answer by putting them in capitals, use {capital_relation} "
                  "{capital_frequency} of them.",
            negative="Do not get the number of all-capital words wrong: {capital_relation} {capital_frequency}.",
            plain="Words in all capitals: {capital_relation} {capital_frequency}.",
            held_out=("All-caps words should number {capital_relation} {capital_frequency}.",)),
        _capital_frequency,
        ifeval_check("change_case:capital_word_frequency"), _capital_make, make_stage=3),
    ConstraintType(
        "format:numbered_steps", "counting", False,
        say(short="Give exactly {num_steps} numbered steps (1., 2., ...).",
            long="Lay the answer out as exactly {num_steps} numbered steps (1., 2., ...), one per line, and "
                 "number no other lines.",
            woven="Walk through this in {num_steps} numbered steps.",
            negative="Do not number more or fewer than {num_steps} lines.",
            plain="Present it as a numbered list of exactly {num_steps} steps.",
            held_out=("Number the steps: {num_steps} of them, as 1., 2. and so on.",)),
        one_of(num_steps=(3, 4, 5)), _steps, _steps_make, make_stage=0),
    ConstraintType(
        "counting:numbers", "counting", False,
        say(short="Mention at least {num_numbers} different numbers, written in digits.",
            long="Be concrete with figures: the reply should contain {num_numbers} or more distinct numbers "
                 "written as digits (like quantities, years or sizes).",
            woven="Answer with facts and figures, giving at least {num_numbers} different numbers in digits.",
            negative="Do not stay vague: use no fewer than {num_numbers} distinct numbers in digits.",
            plain="Distinct numbers in digits: {num_numbers} or more.",
            held_out=("Put {num_numbers} or more different figures in digits into the reply.",)),
        one_of(num_numbers=(2, 3, 4)), _numbers, _numbers_make),
    ConstraintType(
        "counting:questions", "counting", False,
        say(short="Use exactly {num_questions} question marks.",
            long="Ask the reader questions along the way: exactly {num_questions} of them, so that the reply "
                 "holds {num_questions} question marks in all.",
            woven="As you go through this, raise exactly {num_questions} questions, each ending in a question "
                  "mark.",
            negative="Do not use more or fewer than {num_questions} question marks.",
            plain="Question marks in the reply: exactly {num_questions}.",
            held_out=("The reply should ask exactly {num_questions} questions.",)),
        one_of(num_questions=(1, 2, 3)), _questions, _questions_make),
]
