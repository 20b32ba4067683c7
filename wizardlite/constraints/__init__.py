"""Constraints that code can check: the registry every verifiable feature draws on.

Each constraint type has an IFEval-style id ("family:name"), tags (its family, the half of the
registry that family is in, whether IFEval has it, whether it is kept for tests only), phrasings
in the project's own words by style (one is picked with the record's RNG; some are kept out of
training for dev and test sets), a parameter sampler (word counts, keywords taken from the
instruction, ...), a strict and a loose checker, and an example-answer builder that shows it can
be met. Types that IFEval also has are checked by the IFEval checkers of `if-verifiable` (the
reference implementation's code, packaged); the others have checkers here. `in_ifeval` says
which is which: a model trained on data constrained with IFEval's types and evaluated on IFEval
has seen those *types* (never its prompts, nor its wording), and reports must say so.

    pool(half, types)                  -> the type ids evolution may draw (never a test-only one)
    draw(rng, instruction, have, n)    -> new constraints that conflict with none in `have`
    phrase(c, rng)                     -> the sentence that asks for it
    check(response, constraints)       -> one verdict per constraint (loose=True: IFEval's loose)
    repair(response, constraints)      -> the response with every repairable constraint applied
    conflict(a, b)                     -> why two types may not be drawn together, or None
    witness(constraints)               -> an answer that passes them all, if the builders find one

Run as: wizardlite constraints   (the registry as a table)

A constraint travels as `Constraint(id, kwargs)`; a record carries its list in IFEval's form
(`instruction_id_list`, `kwargs`), so a run's kept set can be written as an IFEval-format file.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wizardlite.constraints.base import FAMILIES, HALVES, ConstraintType, loose_variants
from wizardlite.constraints.conflicts import Conflict, conflict
from wizardlite.constraints.types import IFEVAL_ONLY, TYPES
from wizardlite.errors import ConfigError

__all__ = ["FAMILIES", "HALVES", "HALF_CHOICES", "IFEVAL_ONLY", "TYPES", "Conflict", "Constraint", "ConstraintType",
           "check", "conflict", "conflicts", "draw", "family_of", "from_ifeval", "half_of", "loose_variants",
           "phrase", "pool", "repair", "to_ifeval", "witness"]

HALF_CHOICES = ("all", "a", "b")  # verify.half


@dataclass(frozen=True)
class Constraint:
    id: str
    kwargs: dict[str, Any]

    @property
    def type(self) -> ConstraintType:
        return TYPES[self.id]


def conflicts(a: str, b: str) -> bool:
    """Whether two constraint types may not be asked together (symmetric; a type conflicts with itself)."""
    return conflict(a, b) is not None


def pool(half: str = "all", types: Sequence[str] = ()) -> list[str]:
    """The type ids evolution may draw from: `types` (default: every type that is not test-only),
    within `half` ("a", "b" or "all") of the registry. A test-only type is never among them."""
    if half not in HALF_CHOICES:
        raise ConfigError(f"verify.half: '{half}' is not one of {', '.join(HALF_CHOICES)}")
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        raise ConfigError(f"verify.types: unknown constraint type(s) {', '.join(unknown)}: "
                          "`wizardlite constraints` lists them")
    held = [t for t in types if TYPES[t].test_only]
    if held:
        raise ConfigError(f"verify.types: {', '.join(held)} are test-only (kept for held-out tests): remove them")
    ids = list(types) or [t for t, ct in TYPES.items() if not ct.test_only]
    return sorted(t for t in ids if half == "all" or TYPES[t].half == half)


def family_of(iid: str) -> str:
    """The family of a registry type or of one of IFEval's ids."""
    return TYPES[iid].family if iid in TYPES else IFEVAL_ONLY[iid]


def half_of(iid: str) -> str:
    return HALVES[family_of(iid)]


def draw(rng: random.Random, instruction: str, have: Sequence[Constraint], n: int,
         allowed: Sequence[str] | None = None) -> list[Constraint]:
    """Up to `n` new constraints for `instruction`, none conflicting with `have` or each other.
    `allowed` limits the types (default: `pool()`, every type but the test-only ones).
    Deterministic for a given `rng` state."""
    candidates = sorted(allowed if allowed is not None else pool())
    taken = [c.id for c in have]
    out: list[Constraint] = []
    while len(out) < n:
        free = [t for t in candidates if not any(conflicts(t, x) for x in taken)]
        if not free:
            break
        tid = rng.choice(free)
        kwargs = TYPES[tid].sample(rng, instruction)
        if kwargs is None:  # the instruction gives this type nothing to work with (e.g. no keyword)
            candidates.remove(tid)
            continue
        out.append(Constraint(tid, kwargs))
        taken.append(tid)
    return out


def phrase(c: Constraint, rng: random.Random, held_out: bool = False) -> str:
    """The sentence that asks for `c`: one of its training phrasings, or with `held_out` one of
    the phrasings training never uses (for dev and test sets)."""
    t = c.type
    choices = t.says.held_out if held_out else t.phrasings
    return choices[rng.randrange(len(choices))].format(**t.display(c.kwargs))


def check(response: str, constraints: Sequence[Constraint], loose: bool = False) -> list[bool]:
    """Verdicts, one per constraint: does `response` follow it (strictly, or by IFEval's loose
    rule)? An answer that copies an example from the type's phrasings fails."""
    return [c.type.verdict(response, c.kwargs, loose) for c in constraints]


def repair(response: str, constraints: Sequence[Constraint]) -> str:
    """`response` with the repair of every constraint that has one (lowercasing, quotes, an end
    phrase...), in stage order: the model's content in the format asked for. Constraints without
    a repair are left to the checkers; every repair is idempotent."""
    for c in sorted((c for c in constraints if c.type.repair), key=lambda c: c.type.repair_stage):
        assert c.type.repair is not None
        response = c.type.repair(response, c.kwargs)
    return response


def witness(constraints: Sequence[Constraint]) -> str | None:
    """An answer that passes every one of `constraints`, built by their types' example builders
    and confirmed by their checkers; None when the builders find none."""
    from wizardlite.constraints.satisfy import build

    return build(constraints)


def to_ifeval(constraints: Sequence[Constraint]) -> dict[str, Any]:
    return {"instruction_id_list": [c.id for c in constraints], "kwargs": [dict(c.kwargs) for c in constraints]}


def from_ifeval(d: dict[str, Any] | None) -> list[Constraint]:
    if not d:
        return []
    return [Constraint(i, dict(k or {})) for i, k in zip(d.get("instruction_id_list", []), d.get("kwargs", []),
                                                         strict=True)]
