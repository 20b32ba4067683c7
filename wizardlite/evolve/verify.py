"""Verified evolution: constraints the program adds and code checks, and answers that must pass them.

The `verifiable_constraints` operation does not ask the evolver anything. It draws one to
`verify.max_constraints` constraints from the registry (`wizardlite.constraints`: the types of
`verify.types`, or all, within `verify.half`; never a test-only type) with a
generator private to (run seed, parent id, round), so the same run makes the same choices, and
appends their sentences to the parent's instruction. A constrained parent's constraints carry
over to a child whose instruction still contains their sentences word for word (after any
operation), so constraints accumulate round by round and never contradict each other: new
ones are drawn only among the types that conflict with none already there.

An answer to a constrained instruction must pass every checker. Up to `verify.k` answers are
sampled (seeded per attempt); the first that passes is kept. If none passes, the record is
eliminated with reason `constraint_failed`, and every attempt with its verdicts stays in the
record's `generation["attempts"]`.

With `verify.repair`, an instruction none of whose answers passes as written gets a second look:
each finished answer is put through its constraints' repairs (pure text transforms such as
lowercasing or wrapping in quotes, `ConstraintType.repair`) and the first that then passes is
kept, marked `repaired` in its attempt. The content is still the model's; the format is the
program's. Constraints without a repair (counts, keywords, sections) must pass as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wizardlite import constraints as C
from wizardlite.recipe import VerifyConfig
from wizardlite.records import Record, local_rng

OPERATION = "verifiable_constraints"
CONSTRAINT_FAILED = "constraint_failed"


def carried(parent: Record, child_text: str) -> tuple[list[C.Constraint], list[str]]:
    """The parent's constraints whose sentences the child still contains, with those sentences."""
    cons = C.from_ifeval(parent.constraints)
    phrases = list(parent.constraints.get("phrases", []))
    keep = [(c, p) for c, p in zip(cons, phrases, strict=True) if p in child_text]
    return [c for c, _ in keep], [p for _, p in keep]


def constrain(parent: Record, run_seed: int, round: int, cfg: VerifyConfig) -> tuple[str, dict[str, Any]]:
    """(the child instruction, its constraints in IFEval form plus their sentences). Empty
    constraints when the registry has nothing left that fits: the child is then unchanged, and
    the `unchanged` rule eliminates it."""
    rng = local_rng(run_seed, OPERATION, parent.id, round)
    have, phrases = carried(parent, parent.instruction)
    n = rng.randint(cfg.min_constraints, cfg.max_constraints)
    new = C.draw(rng, parent.instruction, have, n, allowed=C.pool(cfg.half, cfg.types))
    sentences = [C.phrase(c, rng) for c in new]
    text = parent.instruction.rstrip() + ("\n\n" + " ".join(sentences) if sentences else "")
    return text, as_record_field(have + new, phrases + sentences)


def inherit(parent: Record, child_text: str) -> dict[str, Any]:
    """The constraints field of a child made by any other operation."""
    cons, phrases = carried(parent, child_text)
    return as_record_field(cons, phrases)


def as_record_field(cons: Sequence[C.Constraint], phrases: Sequence[str]) -> dict[str, Any]:
    return {**C.to_ifeval(cons), "phrases": list(phrases)} if cons else {}


def check_answers(answers: Sequence[str], constraints: dict[str, Any]) -> list[list[bool]]:
    """Each answer's verdicts, one per constraint."""
    cons = C.from_ifeval(constraints)
    return [C.check(a, cons) for a in answers]


def first_pass(verdicts: Sequence[Sequence[bool]], usable: Sequence[bool] | None = None) -> int | None:
    """Index of the first answer that passes every checker (and is usable, when a mask is given), or None."""
    return next((i for i, v in enumerate(verdicts) if all(v) and (usable is None or usable[i])), None)


def repaired(answers: Sequence[str], constraints: dict[str, Any]) -> list[str]:
    """Each answer put through its constraints' repairs (`constraints.repair`)."""
    cons = C.from_ifeval(constraints)
    return [C.repair(a, cons) for a in answers]
