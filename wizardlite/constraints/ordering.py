"""Ordering: the order things come in (two keywords, the items of a list, the numbers).

Run as: wizardlite constraints --family ordering
"""

from __future__ import annotations

import random
import re

from wizardlite.constraints import text as T
from wizardlite.constraints.base import ConstraintType, Kwargs, const, content_words, one_of, say
from wizardlite.constraints.counting import ITEMS


def _pair(rng: random.Random, instruction: str) -> Kwargs | None:
    words = content_words(instruction)
    if len(words) < 2:
        return None
    first, second = rng.sample(words, 2)
    return {"first": first, "second": second}


def _at(text: str, word: str) -> int:
    m = re.search(rf"\b{re.escape(word)}", text, re.I)
    return m.start() if m else -1


def _in_order(response: str, kw: Kwargs) -> bool:
    a, b = _at(response, kw["first"]), _at(response, kw["second"])
    return a >= 0 and b >= 0 and a < b


def _in_order_make(text: str, kw: Kwargs) -> str:
    b = _at(text, kw["second"])
    if b < 0:
        text = T.insert_sentence(text, f"Then comes {kw['second']}.")
        b = _at(text, kw["second"])
    a = _at(text, kw["first"])
    if 0 <= a < b:
        return text
    start = max((s for s, _ in T.sentences(text) if s <= b), default=0)
    return text[:start] + f"{kw['first'].capitalize()} comes first. " + text[start:]


def _sort_key(item: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", item.lower()).strip()


def _alphabetical(response: str, kw: Kwargs) -> bool:
    got = T.parts(response, T.items(response))
    return len(got) >= kw["num_items"] and [_sort_key(x) for x in got] == sorted(_sort_key(x) for x in got)


def _alphabetical_make(text: str, kw: Kwargs) -> str:
    spans = T.items(text)
    if len(spans) < kw["num_items"]:
        text = T.insert_block(text, "\n".join(f"- {ITEMS[i]}" for i in range(kw["num_items"] - len(spans))))
        spans = T.items(text)
    ordered = sorted(T.parts(text, spans), key=_sort_key)
    for (a, b), v in reversed(list(zip(spans, ordered, strict=True))):
        text = text[:a] + v + text[b:]
    return text


def _ascending(response: str, kw: Kwargs) -> bool:
    nums = [float(x) for x in T.numbers(response)]
    return len(nums) >= 2 and all(x < y for x, y in zip(nums, nums[1:], strict=False))


def _ascending_make(text: str, kw: Kwargs) -> str:
    if len(T.numbers(text)) < 2:
        text = T.insert_sentence(text, "It takes 2 or 3 weeks.")
    prev = [float("-inf")]

    def renumber(m: re.Match[str]) -> str:
        v = float(m.group())
        if v <= prev[0]:
            v = float(int(prev[0]) + 1)
        prev[0] = v
        return str(int(v)) if v == int(v) else str(v)
    return T.NUMBER.sub(renumber, text)


TYPES = [
    ConstraintType(
        "ordering:keywords_in_order", "ordering", False,
        say(short="Mention '{first}' before '{second}'.",
            long="Order your points so that the word '{first}' first appears earlier in the reply than the word "
                 "'{second}'; both must be there.",
            woven="In answering this, bring up '{first}' first and only later '{second}'.",
            negative="Do not mention '{second}' before '{first}' has come up.",
            plain="Both '{first}' and '{second}' appear, '{first}' first.",
            held_out=("'{first}' comes up in the reply before '{second}' does.",)),
        _pair, _in_order, _in_order_make),
    ConstraintType(
        "ordering:alphabetical_list", "ordering", False,
        say(short="Include a list of {num_items} or more items in alphabetical order.",
            long="Give a list (bulleted or numbered) of at least {num_items} items and sort its items "
                 "alphabetically from A to Z by their first words.",
            woven="Sort the options for this into an alphabetical list of at least {num_items} items.",
            negative="Do not list items out of alphabetical order; the list needs {num_items} or more of them.",
            plain="A list of at least {num_items} items, sorted A to Z.",
            held_out=("List {num_items} or more items, alphabetised.",)),
        one_of(num_items=(3, 4, 5)), _alphabetical, _alphabetical_make, make_stage=0),
    ConstraintType(
        "ordering:numbers_ascending", "ordering", False,
        say(short="Use two or more numbers in digits, in rising order.",
            long="Mention at least two numbers written as digits, and arrange the text so that each number is "
                 "larger than every number before it.",
            woven="Walk through this with figures in digits that only go up from one to the next.",
            negative="Do not let a number be smaller than or equal to one mentioned before it; use at least two "
                     "numbers in digits.",
            plain="Numbers in digits (two or more) in strictly increasing order.",
            held_out=("Every number in the reply (at least two, in digits) is bigger than the one before.",)),
        const(), _ascending, _ascending_make, make_stage=3),
]
