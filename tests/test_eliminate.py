import pytest

from wizardlite.backends import CONTEXT, LENGTH, STOP, GenResult
from wizardlite.evolve.rules import (
    ANSWER_CUT_OFF,
    COPIED_PROMPT,
    EMPTY,
    EVOLVER_CUT_OFF,
    SORRY_SHORT,
    STOPWORDS_ONLY,
    TOO_LONG,
    UNCHANGED,
    check_answer,
    check_instruction,
    equality_request,
    parse_equality,
)
from wizardlite.recipe import EliminateConfig

ON = EliminateConfig()
OFF = EliminateConfig(no_gain=False, sorry_short=False, stopwords_only=False, copied_prompt=False,
                      empty_or_unchanged=False, truncated=False)
ok = GenResult("x", STOP)


@pytest.mark.parametrize("child, reason", [
    ("", EMPTY),
    ("Name three rivers in Europe!", UNCHANGED),  # same words as the parent, punctuation aside
    ("Rewrite the given prompt so that it asks for rivers.", COPIED_PROMPT),
    ("#Rewritten Prompt#: Name rivers", COPIED_PROMPT),
    ("Here is the created prompt about rivers", COPIED_PROMPT),
    ("### New instruction\nName rivers", COPIED_PROMPT),
    ("Name three rivers in Europe and their lengths.", None),
])
def test_instruction_rules(child, reason):
    assert check_instruction(child, "Name three rivers in Europe.", ok, ON) == reason
    assert check_instruction(child, "Name three rivers in Europe.", ok, OFF) is None


def test_instruction_cut_off_and_too_long():
    child = "Name three rivers in Europe and their lengths"
    assert check_instruction(child, "p", GenResult(child, LENGTH), ON) == EVOLVER_CUT_OFF
    assert check_instruction(child, "p", GenResult(child, LENGTH), OFF) is None
    assert check_instruction("", "p", GenResult("", CONTEXT), ON) == TOO_LONG


def test_extra_markers_from_the_recipe():
    cfg = EliminateConfig(extra_markers=("As an AI",))
    assert check_instruction("As an AI, list rivers", "p", ok, cfg) == COPIED_PROMPT


@pytest.mark.parametrize("answer, reason", [
    ("Sorry, I can't help with that.", SORRY_SHORT),
    ("I'm SORRY but no.", SORRY_SHORT),
    ("sorry " + "word " * 80, None),  # long answers may apologise
    ("The Danube, the Rhine and the Loire are long European rivers.", None),
    ("It is what it is.", STOPWORDS_ONLY),
    ("... !!! ?", STOPWORDS_ONLY),
    ("", STOPWORDS_ONLY),
    ("Yes.", STOPWORDS_ONLY),
    ("42", None),
])
def test_answer_rules(answer, reason):
    assert check_answer(GenResult(answer, STOP), ON) == reason
    assert check_answer(GenResult(answer, STOP), OFF) is None


def test_answer_cut_off_is_eliminated_only_when_the_rule_is_on():
    text = "The Danube is the second longest river in Europe and it"
    assert check_answer(GenResult(text, LENGTH), ON) == ANSWER_CUT_OFF
    assert check_answer(GenResult(text, LENGTH), OFF) is None


def test_sorry_threshold_is_configurable():
    text = "Sorry, " + "fine words here " * 10  # 31 words
    assert check_answer(GenResult(text, STOP), EliminateConfig(sorry_max_words=20)) is None
    assert check_answer(GenResult(text, STOP), EliminateConfig(sorry_max_words=80)) == SORRY_SHORT


@pytest.mark.parametrize("reply, equal", [
    ("Equal", True), ("equal.", True), ("Not Equal", False), ("Not Equ", False), ("not equal", False), ("NOT EQUAL", False),
    ("They are the same.", True), ("They are different.", False), ("banana", None), ("", None),
])
def test_parse_equality(reply, equal):
    assert parse_equality(reply) is equal


def test_equality_request_is_greedy_constrained_and_shows_both():
    req = equality_request("Parent text", "Child text", seed=7)
    assert req.task == "equal" and req.sampling.temperature == 0.0 and req.grammar
    prompt = req.messages[-1]["content"]
    assert "Parent text" in prompt and "Child text" in prompt
