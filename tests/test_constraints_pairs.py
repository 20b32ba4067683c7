"""Every pair of constraint types is decided: either one answer can meet both (an answer is
built by the types' example builders and confirmed by both checkers, for several parameter
draws on several instructions), or the pair is in the conflict table, where a contradiction
must defeat every attempt and a parameter conflict at least one draw."""

from __future__ import annotations

import random
from itertools import combinations

import pytest

from wizardlite import constraints as C
from wizardlite.constraints.conflicts import KINDS, table

INSTRUCTIONS = ("Explain how photosynthesis converts sunlight into chemical energy inside green plants.",
                "Write a short guide to growing tomatoes on a balcony in a cold climate.",
                "Compare bicycles and trains for commuting.")
PAIRS = list(combinations(sorted(C.TYPES), 2))


def draws(a: str, b: str, n: int) -> list[list[C.Constraint]]:
    """n parameter draws for the pair, over the instructions in turn (deterministic per pair)."""
    rng = random.Random(f"{a}|{b}")
    out = []
    for i in range(n):
        ins = INSTRUCTIONS[i % len(INSTRUCTIONS)]
        ka, kb = C.TYPES[a].sample(rng, ins), C.TYPES[b].sample(rng, ins)
        assert ka is not None and kb is not None, (a, b, ins)
        out.append([C.Constraint(a, ka), C.Constraint(b, kb)])
    return out


def test_every_pair_not_in_the_table_has_an_answer_that_meets_both():
    missing = []
    for a, b in PAIRS:
        if C.conflicts(a, b):
            continue
        for cs in draws(a, b, 3):
            text = C.witness(cs)
            if text is None or C.check(text, cs) != [True, True]:
                missing.append((a, b, [c.kwargs for c in cs]))
                break
    assert not missing, f"{len(missing)} pairs neither met nor in the conflict table: {missing[:10]}"


def test_a_contradiction_defeats_every_attempt_and_a_parameter_conflict_some():
    wrong = []
    for pair, why in table().items():
        a, b = sorted(pair)
        if why.kind == "contradiction":
            found = [cs for cs in draws(a, b, 3) if C.witness(cs) is not None]
            if found:
                wrong.append((a, b, "contradiction, yet met", C.witness(found[0])))
        elif why.kind == "parameters" and all(C.witness(cs) is not None for cs in draws(a, b, 30)):
            wrong.append((a, b, "parameter conflict, yet every draw met", None))
    assert not wrong, wrong[:5]


def test_the_table_names_known_types_with_a_kind_and_a_reason():
    for pair, why in table().items():
        assert len(pair) == 2 and pair <= set(C.TYPES), pair
        assert why.kind in KINDS and len(why.why) > 10, (pair, why)
    assert C.conflicts("change_case:english_lowercase", "change_case:english_capital")
    assert C.conflicts("change_case:english_capital", "change_case:english_lowercase")  # symmetric
    assert C.conflict("punctuation:no_comma", "punctuation:no_comma") is not None  # never the same type twice
    assert C.conflict("punctuation:no_comma", "keywords:existence") is None


@pytest.mark.parametrize("half", ["all", "a", "b"])
def test_conflicting_types_are_never_drawn_together(half):
    rng = random.Random(0)
    pool = C.pool(half)
    seen = set()
    for i in range(1500):
        ins = INSTRUCTIONS[i % len(INSTRUCTIONS)]
        have = C.draw(rng, ins, [], 1, pool)
        more = C.draw(rng, ins, have, 2, pool)
        ids = [c.id for c in have + more]
        seen.update(ids)
        assert len(set(ids)) == len(ids)
        assert not any(C.conflicts(x, y) for j, x in enumerate(ids) for y in ids[j + 1:]), ids
    assert seen == set(pool)  # every type of the pool gets drawn


def test_a_drawn_triple_has_an_answer():
    """Evolution draws up to three at once: a sample of drawn triples can be met together."""
    rng = random.Random(5)
    met = 0
    for i in range(60):
        cs = C.draw(rng, INSTRUCTIONS[i % 3], [], 3)
        text = C.witness(cs)
        met += text is not None and all(C.check(text, cs))
    assert met >= 55, met  # pairs are proven; triples are only sampled
