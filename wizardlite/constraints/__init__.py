"""Constraints that code can check: the registry every verifiable feature draws on.

Each constraint type has an IFEval-style id ("family:name"), phrasings in the project's own words
(one is picked with the record's RNG), a parameter sampler (word counts, keywords taken from the
instruction, ...), a checker, and the types it must never be drawn with. Types that IFEval also
has are checked by the IFEval checkers of `if-verifiable` (the reference implementation's code,
packaged); the others have checkers here. `in_ifeval` says which is which: a model trained on
data constrained with IFEval's types and evaluated on IFEval has seen those *types* (never its
prompts, nor its wording), and reports must say so.

    draw(rng, instruction, have, n)    -> new constraints that conflict with none in `have`
    phrase(c, rng)                     -> the sentence that asks for it
    check(response, constraints)       -> one verdict per constraint
    repair(response, constraints)      -> the response with every repairable constraint applied

A constraint travels as `Constraint(id, kwargs)`; a record carries its list in IFEval's form
(`instruction_id_list`, `kwargs`), so a run's kept set can be written as an IFEval-format file.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wizardlite.constraints.types import TYPES, ConstraintType

__all__ = ["TYPES", "Constraint", "ConstraintType", "check", "conflicts", "draw", "from_ifeval", "phrase",
           "repair", "to_ifeval"]


@dataclass(frozen=True)
class Constraint:
    id: str
    kwargs: dict[str, Any]

    @property
    def type(self) -> ConstraintType:
        return TYPES[self.id]


def conflicts(a: str, b: str) -> bool:
    """Whether two constraint types may not be asked together (symmetric; a type conflicts with itself)."""
    return a == b or b in TYPES[a].conflicts or a in TYPES[b].conflicts


def draw(rng: random.Random, instruction: str, have: Sequence[Constraint], n: int,
         allowed: Sequence[str] | None = None) -> list[Constraint]:
    """Up to `n` new constraints for `instruction`, none conflicting with `have` or each other.
    `allowed` limits the types (default: all). Deterministic for a given `rng` state."""
    pool = sorted(allowed if allowed is not None else TYPES)
    taken = [c.id for c in have]
    out: list[Constraint] = []
    while len(out) < n:
        free = [t for t in pool if not any(conflicts(t, x) for x in taken)]
        if not free:
            break
        tid = rng.choice(free)
        kwargs = TYPES[tid].sample(rng, instruction)
        if kwargs is None:  # the instruction gives this type nothing to work with (e.g. no keyword)
            pool.remove(tid)
            continue
        out.append(Constraint(tid, kwargs))
        taken.append(tid)
    return out


def phrase(c: Constraint, rng: random.Random) -> str:
    """The sentence that asks for `c`, in one of its phrasings."""
    t = c.type
    return t.phrasings[rng.randrange(len(t.phrasings))].format(**t.display(c.kwargs))


def check(response: str, constraints: Sequence[Constraint]) -> list[bool]:
    """Strict verdicts, one per constraint: does `response` follow it?"""
    return [bool(c.type.check(response, c.kwargs)) for c in constraints]


def repair(response: str, constraints: Sequence[Constraint]) -> str:
    """`response` with the repair of every constraint that has one (lowercasing, quotes, an end
    phrase...), in stage order: the model's content in the format asked for. Constraints without
    a repair are left to the checkers; every repair is idempotent."""
    for c in sorted((c for c in constraints if c.type.repair), key=lambda c: c.type.repair_stage):
        assert c.type.repair is not None
        response = c.type.repair(response, c.kwargs)
    return response


def to_ifeval(constraints: Sequence[Constraint]) -> dict[str, Any]:
    return {"instruction_id_list": [c.id for c in constraints], "kwargs": [dict(c.kwargs) for c in constraints]}


def from_ifeval(d: dict[str, Any] | None) -> list[Constraint]:
    if not d:
        return []
    return [Constraint(i, dict(k or {})) for i, k in zip(d.get("instruction_id_list", []), d.get("kwargs", []),
                                                         strict=True)]
