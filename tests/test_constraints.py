"""The constraint registry: tags, phrasings by style, parameters stated in every request,
example answers that pass strictly and loosely, copied examples that fail, draws limited to the
pool evolution may use (never a test-only type), the two halves, repairs and the IFEval form.
Per-type answers are in test_constraints_cases.py, pairs in test_constraints_pairs.py, wording
against IFEval's in test_constraints_wording.py."""

from __future__ import annotations

import random
import re

import pytest

from wizardlite import constraints as C
from wizardlite.constraints.base import STYLES
from wizardlite.errors import ConfigError

INSTRUCTION = "Explain how photosynthesis converts sunlight into chemical energy inside green plants."
_NOT_FOLLOWED = ("", "x", "Plants, grow fast in sunlight!", "I have 12 notes: all mine.", "PLANTS GROW IN SUNLIGHT", "plants grow.\n\nyes",
                 " ".join(["Plants grow."] * 200))


def comply(c: C.Constraint) -> tuple[str, str]:
    """(an answer that follows c, one that does not), built from its parameters."""
    good = C.witness([c])
    assert good is not None, c
    bad = next((t for t in _NOT_FOLLOWED if not all(C.check(t, [c]))), None)
    assert bad is not None, c
    return good, bad


def draws(tid: str, n: int = 5) -> list[C.Constraint]:
    rng = random.Random(tid)
    out = []
    for _ in range(n):
        kwargs = C.TYPES[tid].sample(rng, INSTRUCTION)
        assert kwargs is not None, tid
        out.append(C.Constraint(tid, kwargs))
    return out


# ---------------------------------------------------------------------------- the registry's shape


def test_the_registry_has_the_breadth_asked_for():
    types = list(C.TYPES.values())
    plain = [t for t in types if not t.scope]
    assert len(plain) >= 60 and len([t for t in types if t.scope]) >= 20
    assert {t.family for t in types} == set(C.FAMILIES)
    held = [t for t in types if t.test_only]
    assert len(held) >= 10 and not any(t.in_ifeval for t in held)
    assert {t.family for t in held} >= {"position", "structure", "repetition", "ordering"}


def test_in_ifeval_marks_the_shared_types_and_every_ifeval_id_has_a_family():
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    for t in C.TYPES.values():
        assert t.in_ifeval == (t.id in INSTRUCTION_DICT), t.id
    for iid in INSTRUCTION_DICT:
        assert C.family_of(iid) in C.FAMILIES and C.half_of(iid) in ("a", "b"), iid
    assert set(C.IFEVAL_ONLY) == set(INSTRUCTION_DICT) - set(C.TYPES)


def test_the_halves_split_the_pool_by_family():
    a, b, both = C.pool("a"), C.pool("b"), C.pool()
    assert set(a) | set(b) == set(both) and not set(a) & set(b)
    fam = lambda ids: {C.TYPES[t].family for t in ids}  # noqa: E731
    assert not fam(a) & fam(b)  # a family lies wholly in one half
    assert min(len(a), len(b)) >= 20 and all(C.TYPES[t].half == "a" for t in a)
    ifeval = lambda ids: [t for t in ids if C.TYPES[t].in_ifeval]  # noqa: E731
    assert len(ifeval(a)) >= 8 and len(ifeval(b)) >= 8  # each half holds IFEval types to test the other on


def test_test_only_types_are_never_in_a_pool_and_naming_one_is_refused():
    held = {t for t, ct in C.TYPES.items() if ct.test_only}
    for half in C.HALF_CHOICES:
        assert not held & set(C.pool(half))
    with pytest.raises(ConfigError, match="test-only"):
        C.pool(types=[sorted(held)[0]])
    with pytest.raises(ConfigError, match="unknown"):
        C.pool(types=["no:such_type"])
    with pytest.raises(ConfigError, match="half"):
        C.pool("c")
    assert C.pool("a", ["punctuation:no_comma", "length:word_range"]) == ["length:word_range"]


def test_evolution_never_draws_a_test_only_type():
    from wizardlite.evolve.verify import constrain
    from wizardlite.recipe import VerifyConfig
    from wizardlite.records import SEED, Record, record_id

    held = {t for t, ct in C.TYPES.items() if ct.test_only}
    seen: set[str] = set()
    for half in C.HALF_CHOICES:
        cfg = VerifyConfig(min_constraints=3, max_constraints=3, half=half)
        for i in range(300):
            text = f"{INSTRUCTION} Case {i}."
            rid = record_id(None, 0, "seed", text)
            parent = Record(id=rid, parent_id=None, root_id=rid, round=0, operation="seed", instruction=text,
                            status=SEED)
            _, field = constrain(parent, i, 1, cfg)
            ids = field.get("instruction_id_list", [])
            seen.update(ids)
            assert not held & set(ids), ids
            assert half == "all" or all(C.TYPES[t].half == half for t in ids), (half, ids)
    assert len(seen) > 40  # the draws do range over the registry


# ---------------------------------------------------------------------------- phrasings


@pytest.mark.parametrize("tid", sorted(C.TYPES))
def test_each_type_states_its_parameters_in_every_phrasing(tid):
    t = C.TYPES[tid]
    assert t.says.styles == STYLES and len(t.phrasings) >= 5 and t.says.held_out, tid
    assert len(set(t.phrasings + t.says.held_out)) == len(t.phrasings) + len(t.says.held_out)  # all different
    rng = random.Random(tid)
    for c in draws(tid):
        for text in [p.format(**t.display(c.kwargs)) for p in t.phrasings + t.says.held_out]:
            for v in c.kwargs.values():  # every parameter the checker uses is stated in the request
                for part in (v if isinstance(v, list) else [v]):
                    assert str(part) in text, (tid, text)
        assert C.phrase(c, rng) in [p.format(**t.display(c.kwargs)) for p in t.phrasings]
        assert C.phrase(c, rng, held_out=True) in [p.format(**t.display(c.kwargs)) for p in t.says.held_out]


@pytest.mark.parametrize("tid", sorted(C.TYPES))
def test_the_styles_are_what_they_say(tid):
    says = dict(zip(C.TYPES[tid].says.styles, C.TYPES[tid].phrasings, strict=True))
    assert len(says["short"]) < len(says["long"]), tid
    assert re.search(r"\b(do not|not|no|never|without)\b", says["negative"], re.I), tid


@pytest.mark.parametrize("tid", sorted(C.TYPES))
def test_examples_shown_in_phrasings_are_listed_and_fail_when_copied(tid):
    t = C.TYPES[tid]
    shown = set()
    for p in t.phrasings + t.says.held_out:
        shown |= set(re.findall(r"<<[^>]*>>|\[[^\]{}]*\]", p))
    assert shown <= set(t.examples), (tid, shown - set(t.examples))
    for c in draws(tid, 2):
        good = C.witness([c])
        assert good is not None
        for example in t.examples:
            assert C.check(good + "\n\n" + example, [c]) == [False], (tid, example)


def test_a_title_that_only_stands_in_for_one_fails():
    title = [C.Constraint("detectable_format:title", {})]
    for copied in ("<<a fitting title>>", "<<title here>>", "<<Your Title>>", "<<Title>>"):
        assert C.check(f"{copied}\n\nPlants make sugar.", title) == [False], copied
    assert C.check("<<Light Into Sugar>>\n\nPlants make sugar.", title) == [True]
    # IFEval's own checker, which the eval stage scores with, is left as it is
    from wizardlite.eval.checkers import checkers

    ifeval = checkers()["detectable_format:title"]("detectable_format:title")
    ifeval.build_description()
    assert ifeval.check_following("<<title here>>\n\nPlants make sugar.")


# ---------------------------------------------------------------------------- checkers


@pytest.mark.parametrize("tid", sorted(C.TYPES))
def test_an_example_answer_passes_strictly_and_loosely_with_chatter_around_it(tid):
    for c in draws(tid):
        good, bad = comply(c)
        assert C.check(good, [c]) == [True] and C.check(good, [c], loose=True) == [True], (tid, good)
        assert C.check(bad, [c]) == [False], (tid, bad)
        chatty = f"Sure! Here is my answer:\n{good}\nLet me know if you need more."
        assert C.check(chatty, [c], loose=True) == [True], (tid, chatty)
        # markdown emphasis around the whole reply is forgiven too (when the check does not need it)
        if "*" not in good:
            assert C.check(f"**{good}**", [c], loose=True) == [True], (tid, good)


def test_loose_variants_are_ifevals():
    from wizardlite.eval.checkers import loose_variants

    for text in ("Sure:\n**Plants** grow.\nBye", "one line", "a\nb", "\n*x*\n"):
        assert C.loose_variants(text) == loose_variants(text)


def test_draws_are_deterministic_and_build_on_the_instruction():
    a = C.draw(random.Random(7), INSTRUCTION, [], 3)
    b = C.draw(random.Random(7), INSTRUCTION, [], 3)
    assert a == b
    kw = C.TYPES["keywords:existence"].sample(random.Random(1), INSTRUCTION)
    assert kw is not None and all(w in INSTRUCTION.lower() for w in kw["keywords"])
    assert C.TYPES["keywords:existence"].sample(random.Random(1), "Do it.") is None  # nothing to build on


def test_ifeval_form_round_trips():
    cs = C.draw(random.Random(3), INSTRUCTION, [], 3)
    form = C.to_ifeval(cs)
    assert set(form) == {"instruction_id_list", "kwargs"} and len(form["kwargs"]) == 3
    assert C.from_ifeval(form) == cs
    assert C.from_ifeval(None) == []


def test_records_made_before_the_breadth_check_as_they_did():
    """A record of an older run keeps its ids and kwargs, and its answers get the verdicts the
    first registry gave (IFEval's checkers for IFEval's ids, the same rules for the others)."""
    old = {"instruction_id_list": ["punctuation:no_comma", "format:numbered_steps", "startend:first_word",
                                   "length_constraints:number_words", "format:markdown_table"],
           "kwargs": [{}, {"num_steps": 2}, {"first_word": "Certainly"}, {"num_words": 40, "relation": "less than"},
                      {"num_rows": 1}]}
    cons = C.from_ifeval(old)
    good = "Certainly here it is.\n1. Mix.\n2. Bake.\n| a | b |\n|---|---|\n| 1 | 2 |"
    assert C.check(good, cons) == [True] * 5
    assert C.check(good.replace("Mix.", "Mix, stir."), cons) == [False, True, True, True, True]


# ---------------------------------------------------------------------------- repairs

REPAIRABLE = sorted(t for t, ct in C.TYPES.items() if ct.repair)
BROKEN = {"case:capitalized_sentences": "the sun gives plants energy. they keep it as sugar in their leaves.",
          "case:no_all_caps": "The SUN gives plants the ENERGY they need to grow, and they keep it as sugar!"}


def test_the_repairable_types_are_the_pure_format_ones():
    assert REPAIRABLE == ["case:capitalized_sentences", "case:no_all_caps", "change_case:english_capital",
                          "change_case:english_lowercase", "punctuation:no_comma", "punctuation:no_exclamation",
                          "startend:end_checker", "startend:quotation"]


@pytest.mark.parametrize("tid", REPAIRABLE)
def test_a_repair_makes_a_failing_answer_pass_and_keeps_its_words(tid):
    rng = random.Random(tid)
    c = C.Constraint(tid, C.TYPES[tid].sample(rng, INSTRUCTION) or {})
    # English enough for the case checkers' language test, and breaking every repairable type
    bad = BROKEN.get(tid, "The Sun gives plants the energy they need to grow, and they keep it as sugar in their leaves!")
    fixed = C.repair(bad, [c])
    assert C.check(bad, [c]) == [False] and C.check(fixed, [c]) == [True], (bad, fixed)
    assert C.repair(fixed, [c]) == fixed  # idempotent: a passing answer is left as it is
    words = lambda s: re.findall(r"[a-z]+", s.lower())  # noqa: E731
    assert words(bad) == words(fixed)[: len(words(bad))]  # the model's words, in order (an end phrase may follow)


def test_repairs_compose_in_stage_order():
    cons = [C.Constraint("startend:quotation", {}), C.Constraint("change_case:english_lowercase", {}),
            C.Constraint("punctuation:no_comma", {}), C.Constraint("startend:end_checker", {"end_phrase": "That is all."})]
    assert C.repair("Paris, France. Lovely!", cons) == '"paris france. lovely!\n\nthat is all."'
    assert C.check(C.repair("Paris, France. Lovely!", cons), cons) == [True] * 4
    # a constraint without a repair is left to its checker
    words = [C.Constraint("length_constraints:number_words", {"num_words": 50, "relation": "at least"})]
    assert C.repair("Too short, sadly.", words) == "Too short, sadly."
