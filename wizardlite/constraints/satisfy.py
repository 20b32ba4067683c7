"""Example answers: one text that passes several constraints at once, found by running their
types' builders (`ConstraintType.make`) in turn until every checker agrees.

Run as: python -c "from wizardlite import constraints as C; print(C.witness(C.draw(__import__('random').Random(1), 'Explain rain.', [], 2)))"

The builders only propose; the verdict is always the checkers'. A builder that breaks what
another made is run again in the next round, and other orders and starting texts are tried, so
a pair that no order satisfies is evidence (not proof) that it conflicts.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from wizardlite.constraints.types import TYPES

if TYPE_CHECKING:
    from wizardlite.constraints import Constraint

BASES = (
    "Green plants capture light in their leaves. They turn water and air into sugar.\n\n"
    "The sugar feeds the plant as it grows. Oxygen leaves the leaf as a by-product.\n\n"
    "This is how most food on land begins.",
    "Green plants capture light in their leaves. They turn water and air into sugar.",
    "Green plants capture light in their leaves. They turn water and air into sugar. The sugar feeds the plant "
    "as it grows.\n\nOxygen leaves the leaf as a by-product. Animals breathe it in. This is how most food on "
    "land begins.",
)
ROUNDS = 4
SHUFFLES = 4


@functools.lru_cache(maxsize=200_000)
def _passes(tid: str, kwargs_json: str, text: str) -> bool:
    try:
        return TYPES[tid].verdict(text, json.loads(kwargs_json))
    except Exception:  # a checker that raises on an odd text has not passed it
        return False


def passes(c: Constraint, text: str) -> bool:
    return _passes(c.id, json.dumps(c.kwargs, sort_keys=True), text)


def _orders(cs: list[Constraint]) -> list[list[Constraint]]:
    staged = sorted(cs, key=lambda c: c.type.make_stage)
    out = [staged, staged[::-1]]
    rng = random.Random(len(cs))
    for _ in range(SHUFFLES):
        out.append(rng.sample(cs, len(cs)))
    return out


def build(constraints: Sequence[Constraint]) -> str | None:
    cs = list(constraints)
    for base in BASES:
        for order in _orders(cs):
            text = base
            for _ in range(ROUNDS):
                for c in order:
                    if not passes(c, text):
                        try:
                            text = c.type.make(text, c.kwargs)
                        except Exception:  # a builder that cannot handle this text: try another order
                            break
                if all(passes(c, text) for c in cs):
                    return text
    return None
