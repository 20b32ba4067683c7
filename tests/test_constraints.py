"""The constraint registry: every type's phrasing asks for what its checker checks, draws never
combine conflicting types, and the IFEval form round-trips."""

from __future__ import annotations

import random

import pytest

from wizardlite import constraints as C

INSTRUCTION = "Explain how photosynthesis converts sunlight into chemical energy inside green plants."


def comply(c: C.Constraint) -> tuple[str, str]:
    """(an answer that follows c, one that does not), built from its parameters."""
    k = c.kwargs
    n = next((v for key, v in k.items() if isinstance(v, int) and key not in ("frequency",)), 0)
    match c.id:
        case "punctuation:no_comma":
            return "Plain words here.", "One, two."
        case "change_case:english_lowercase":
            return "all lowercase here.", "Not lowercase here."
        case "change_case:english_capital":
            return "ALL CAPITALS HERE.", "Mixed Case here."
        case "length_constraints:number_words":
            few, many = " ".join(["word"] * (n - 5)), " ".join(["word"] * (n + 5))
            return (few, many) if k["relation"] == "less than" else (many, few)
        case "length_constraints:number_paragraphs":
            return "\n\n***\n\n".join(["Some text."] * n), "\n\n***\n\n".join(["Some text."] * (n + 1))
        case "detectable_format:number_bullet_lists":
            return "\n".join(["* item"] * n), "\n".join(["* item"] * (n + 1))
        case "detectable_format:title":
            return "<<A Title>>\nThe body.", "A Title\nThe body."
        case "detectable_format:json_format":
            return '{"answer": 42}', "The answer is 42."
        case "detectable_format:number_highlighted_sections":
            return " and ".join(["*a part*"] * n), "Nothing highlighted."
        case "detectable_format:multiple_sections":
            sp = k["section_spliter"]
            return ("\n".join(f"{sp} {i}\nText." for i in range(1, n + 1)),
                    "\n".join(f"{sp} {i}\nText." for i in range(1, n)))
        case "detectable_content:postscript":
            return f"The answer.\n\n{k['postscript_marker']} One more thing.", "The answer."
        case "detectable_content:number_placeholders":
            return " ".join(f"[slot{i}]" for i in range(n)), "No slots."
        case "keywords:existence":
            return " ".join(k["keywords"]) + ".", "Nothing relevant."
        case "keywords:frequency":
            return " ".join([k["keyword"]] * k["frequency"]) + ".", f"{k['keyword']} once."
        case "keywords:forbidden_words":
            return "A clean sentence.", f"This is {k['forbidden_words'][0]} it."
        case "startend:end_checker":
            return f"The answer. {k['end_phrase']}", f"{k['end_phrase']} And more."
        case "startend:quotation":
            return '"A quoted reply."', "An unquoted reply."
        case "combination:two_responses":
            return "First reply.\n******\nSecond reply.", "Only one reply."
        case "format:numbered_steps":
            return ("\n".join(f"{i}. Step." for i in range(1, n + 1)),
                    "\n".join(f"{i}. Step." for i in range(1, n + 2)))
        case "startend:first_word":
            return f"{k['first_word']}, here it is.", "Here it is."
        case "format:markdown_table":
            head = "| a | b |\n|---|---|\n"
            return head + "| 1 | 2 |\n" * n, head + "| 1 | 2 |\n" * (n - 1)
        case "length:max_characters":
            return "x" * (n - 1), "x" * (n + 1)
        case "punctuation:no_exclamation":
            return "Calm.", "Wow!"
        case "format:bold_terms":
            return " ".join(["**term**"] * n), "**term** only once" if n > 1 else "none"
        case "content:ends_with_question":
            return "Is that clear?", "That is clear."
    raise AssertionError(f"no test answer for {c.id}: add one")


@pytest.mark.parametrize("tid", sorted(C.TYPES))
def test_each_type_checks_what_its_phrasing_asks(tid):
    rng = random.Random(tid)
    for _ in range(5):  # several parameter draws per type
        kwargs = C.TYPES[tid].sample(rng, INSTRUCTION)
        assert kwargs is not None
        c = C.Constraint(tid, kwargs)
        good, bad = comply(c)
        assert C.check(good, [c]) == [True], (tid, kwargs, good)
        assert C.check(bad, [c]) == [False], (tid, kwargs, bad)
        text = C.phrase(c, rng)
        for v in kwargs.values():  # every parameter the checker uses is stated in the request
            for part in (v if isinstance(v, list) else [v]):
                assert str(part) in text, (tid, text)


def test_conflicting_types_are_never_drawn_together():
    rng = random.Random(0)
    seen = set()
    for _ in range(2000):
        have = C.draw(rng, INSTRUCTION, [], 1)
        more = C.draw(rng, INSTRUCTION, have, 2)
        ids = [c.id for c in have + more]
        seen.update(ids)
        assert len(set(ids)) == len(ids)
        assert not any(C.conflicts(a, b) for j, a in enumerate(ids) for b in ids[j + 1:]), ids
    assert seen == set(C.TYPES)  # every type gets drawn


def test_conflicts_are_symmetric_and_known():
    for t in C.TYPES.values():
        assert t.conflicts <= set(C.TYPES), t.id
    assert C.conflicts("change_case:english_lowercase", "change_case:english_capital")
    assert C.conflicts("change_case:english_capital", "change_case:english_lowercase")


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


def test_in_ifeval_marks_the_shared_types():
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    for t in C.TYPES.values():
        assert t.in_ifeval == (t.id in INSTRUCTION_DICT), t.id


REPAIRABLE = sorted(t for t, ct in C.TYPES.items() if ct.repair)


def test_the_repairable_types_are_the_pure_format_ones():
    assert REPAIRABLE == ["change_case:english_capital", "change_case:english_lowercase", "punctuation:no_comma",
                          "punctuation:no_exclamation", "startend:end_checker", "startend:quotation"]


@pytest.mark.parametrize("tid", REPAIRABLE)
def test_a_repair_makes_a_failing_answer_pass_and_keeps_its_words(tid):
    rng = random.Random(tid)
    c = C.Constraint(tid, C.TYPES[tid].sample(rng, INSTRUCTION) or {})
    # English enough for the case checkers' language test, and breaking every repairable type
    bad = "The Sun gives plants the energy they need to grow, and they keep it as sugar in their leaves!"
    fixed = C.repair(bad, [c])
    assert C.check(bad, [c]) == [False] and C.check(fixed, [c]) == [True], (bad, fixed)
    assert C.repair(fixed, [c]) == fixed  # idempotent: a passing answer is left as it is
    words = lambda s: [w for w in __import__("re").findall(r"[a-z]+", s.lower())]  # noqa: E731
    assert words(bad) == words(fixed)[: len(words(bad))]  # the model's words, in order (an end phrase may follow)


def test_repairs_compose_in_stage_order():
    cons = [C.Constraint("startend:quotation", {}), C.Constraint("change_case:english_lowercase", {}),
            C.Constraint("punctuation:no_comma", {}), C.Constraint("startend:end_checker", {"end_phrase": "That is all."})]
    assert C.repair("Paris, France. Lovely!", cons) == '"paris france. lovely!\n\nthat is all."'
    assert C.check(C.repair("Paris, France. Lovely!", cons), cons) == [True] * 4
    # a constraint without a repair is left to its checker
    words = [C.Constraint("length_constraints:number_words", {"num_words": 50, "relation": "at least"})]
    assert C.repair("Too short, sadly.", words) == "Too short, sadly."
