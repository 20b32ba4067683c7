"""What a constraint type is: its tags (family, half, in IFEval, test-only), phrasings by style,
parameter sampler, strict and loose checkers, example-answer builder and repair.

Run as: wizardlite constraints   (lists every type with these tags)

Loose checking follows IFEval's definition: an answer also passes when it passes with its
first line, its last line or both taken away, each with or without markdown asterisks, which
forgives a "Sure, here it is:" line or bold markup around what was asked.

A phrasing that shows an example (`<<a title like this>>`, `[a bracketed slot]`) names it in
the type's `examples`; an answer that contains one fails the check, so copying the example
never passes.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wizardlite.constraints.ifeval import ifeval_checkers

Kwargs = dict[str, Any]
Sampler = Callable[[random.Random, str], Kwargs | None]
Checker = Callable[[str, Kwargs], bool]
Maker = Callable[[str, Kwargs], str]

# Families, and the two halves of the registry that held-out-type tests train on one and test on the other.
HALVES: dict[str, str] = {
    "length": "a", "counting": "a", "position": "a", "repetition": "a", "ordering": "a",
    "lexical": "b", "format": "b", "case": "b", "punctuation": "b", "structure": "b",
}
FAMILIES = tuple(HALVES)
STYLES = ("short", "long", "woven", "negative", "plain")  # one training phrasing of each


@dataclass(frozen=True)
class Phrasings:
    """A type's sentences: one per style for training, and some training never uses (for dev
    and test sets). Each is a str.format template over the type's `display(kwargs)`."""

    train: tuple[str, ...]
    styles: tuple[str, ...]
    held_out: tuple[str, ...]


def say(*, short: str, long: str, woven: str, negative: str, plain: str, held_out: tuple[str, ...]) -> Phrasings:
    """The phrasings of a type: short, long, woven into the task, stated negatively, plain; and
    the held-out ones."""
    return Phrasings((short, long, woven, negative, plain), STYLES, held_out)


@dataclass(frozen=True)
class ConstraintType:
    id: str
    family: str
    in_ifeval: bool
    says: Phrasings
    sample: Sampler  # None: nothing in this instruction to build on
    check: Checker  # strict, as written
    make: Maker  # an example answer: the text changed until it passes (tests; proofs that pairs can hold)
    make_stage: int = 1  # builders run in this order: 0 layout, 1 content, 2 edges, 3 characters, 4 wrapping
    test_only: bool = False  # never drawn in evolution: for held-out test sets
    scope: str = ""  # a composition: the part of the answer its inner check applies to
    examples: tuple[str, ...] = ()  # examples shown in phrasings: an answer containing one fails
    display: Callable[[Kwargs], Kwargs] = lambda k: k
    # A pure text transform that makes an answer comply and keeps its content (lowercasing,
    # wrapping in quotes...), for `verify.repair`; None where compliance needs new content.
    repair: Callable[[str, Kwargs], str] | None = None
    repair_stage: int = 0  # repairs run in this order: edits, then appended text, case, wrapping
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.family not in HALVES:
            raise ValueError(f"{self.id}: unknown family '{self.family}'")

    @property
    def half(self) -> str:
        return HALVES[self.family]

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The training phrasings."""
        return self.says.train

    def verdict(self, response: str, kwargs: Kwargs, loose: bool = False) -> bool:
        """Strict (or loose) verdict, with the rule that a copied example fails."""
        if copies_example(response, self.examples):
            return False
        if not loose:
            return bool(self.check(response, kwargs))
        return any(v.strip() and self.check(v, kwargs) for v in loose_variants(response))


def loose_variants(response: str) -> list[str]:
    """The answer, then without its first line, its last line and both, each also without `*`."""
    rows = response.split("\n")
    cut = ["\n".join(rows[1:]).strip(), "\n".join(rows[:-1]).strip(), "\n".join(rows[1:-1]).strip()]
    return [response, response.replace("*", ""), *cut, *(v.replace("*", "") for v in cut)]


def copies_example(response: str, examples: tuple[str, ...]) -> bool:
    low = response.lower()
    return any(re.search(rf"(?<!\w){re.escape(e.lower())}(?!\w)", low) for e in examples)


# ---------------------------------------------------------------------------- IFEval's checkers


def ifeval_check(tid: str) -> Checker:
    """A checker that runs IFEval's own check for `tid` with these kwargs."""

    def check(response: str, kwargs: Kwargs) -> bool:
        checker = ifeval_checkers()[tid](tid)
        checker.build_description(**{k: v for k, v in kwargs.items() if v is not None})
        return bool(response.strip()) and bool(checker.check_following(response))

    return check


# ---------------------------------------------------------------------------- samplers shared by families

STOP = frozenset("""a about above after again all also an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having here
how i if in into is it its itself just me more most my no nor not now of off on once only or other our out over
own same should so some such than that the their them then there these they this those through to too under until
up very was we were what when where which while who whom why will with would you your give write explain describe
list make create provide using given following answer question task example examples please word words""".split())


def content_words(instruction: str) -> list[str]:
    """The instruction's words of four letters or more that are not stop words, in order."""
    seen: dict[str, None] = {}
    for w in re.findall(r"[A-Za-z]{4,}", instruction.lower()):
        if w not in STOP:
            seen.setdefault(w)
    return list(seen)


def quoted(words: list[str]) -> str:
    q = [f"'{w}'" for w in words]
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + " and " + q[-1]


def const(**kw: Any) -> Sampler:
    """A sampler that always gives these kwargs."""
    return lambda rng, ins: dict(kw)


def one_of(**choices: tuple[Any, ...]) -> Sampler:
    """A sampler that picks each kwarg from its choices."""
    return lambda rng, ins: {k: rng.choice(v) for k, v in choices.items()}
