import pytest

from wizardlite.evolve.operations import (
    CHILD_MARKER,
    OPERATIONS,
    PARENT_MARKER,
    build_prompt,
    clean_evolved,
    prompt_prefix,
)
from wizardlite.recipe import OPERATIONS_GENERAL


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_each_operation_has_its_own_prompt_with_the_parent_last(op):
    p = build_prompt(op, "Name three rivers in Europe.")
    assert p.startswith(prompt_prefix(op))
    assert p.index(PARENT_MARKER) < p.index("Name three rivers") < p.index(CHILD_MARKER)
    assert OPERATIONS[op].task in p
    others = [build_prompt(o, "Name three rivers in Europe.") for o in OPERATIONS if o != op]
    assert p not in others


def test_the_six_general_operations_exist_and_complicate_input_has_an_example():
    assert set(OPERATIONS_GENERAL) <= set(OPERATIONS)
    assert OPERATIONS["breadth"].kind == "breadth"
    assert "|" in OPERATIONS["complicate_input"].example  # a table as input data
    assert "```" in OPERATIONS["code_misdirection"].example  # erroneous code


def test_prompts_of_one_operation_share_a_long_prefix():
    a, b = build_prompt("deepen", "Why is the sky blue?"), build_prompt("deepen", "How do vaccines work?")
    shared = len(prompt_prefix("deepen"))
    assert a[:shared] == b[:shared] and shared > 0.7 * min(len(a), len(b))


@pytest.mark.parametrize("reply, expected", [
    ("Explain photosynthesis to a 10-year-old.", "Explain photosynthesis to a 10-year-old."),
    ("Sure! Here is the rewritten prompt:\n\nExplain photosynthesis in 3 steps.", "Explain photosynthesis in 3 steps."),
    ("### New instruction\nList 5 prime numbers above 100.", "List 5 prime numbers above 100."),
    ("#Rewritten Prompt#: List 5 prime numbers above 100.", "List 5 prime numbers above 100."),
    ("**Rewritten Prompt:** Compare TCP and UDP for video calls.", "Compare TCP and UDP for video calls."),
    ('"Describe a sunset using only colours."', "Describe a sunset using only colours."),
    ("Write a haiku about rain.\n\nNote: I added the haiku form as a constraint.", "Write a haiku about rain."),
    ("Write a haiku about rain.\n\nThis rewritten prompt adds a form constraint.", "Write a haiku about rain."),
    ("Certainly.\nHere's the new instruction:\nSummarise the text in 20 words.", "Summarise the text in 20 words."),
    ("", ""),
    ("   \n  ", ""),
])
def test_clean_evolved(reply, expected):
    assert clean_evolved(reply) == expected


def test_cleaning_keeps_tables_and_code_in_the_instruction():
    reply = "New instruction: Find the bug.\n```python\nx = [1, 2]\nprint(x[2])\n```"
    out = clean_evolved(reply)
    assert out.startswith("Find the bug.") and "print(x[2])" in out
    table = "Which city is largest?\n| city | pop |\n|---|---|\n| A | 3 |"
    assert clean_evolved(table) == table


def test_cleaning_does_not_cut_on_a_mid_sentence_mention():
    text = "Explain why a new instruction set architecture can speed up phones."
    assert clean_evolved(text) == text
