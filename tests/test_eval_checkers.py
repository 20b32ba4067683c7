"""IFEval's checkers as wizardlite runs them: every instruction type, with a response that
follows it and one that does not, strict and loose; the loose variants; offline sentence
splitting; reading IFEval's JSONL (null kwargs, unknown ids, malformed lines); the project's own
constraint ids scored by the registry's checkers."""

from __future__ import annotations

import json

import pytest

from wizardlite import constraints as C
from wizardlite.eval.checkers import check, checkers, known
from wizardlite.eval.data import EvalPrompt, read_prompts

# id -> (kwargs, a response that follows it, one that does not)
CASES: dict[str, tuple[dict, str, str]] = {
    "change_case:capital_word_frequency": ({"capital_frequency": 2, "capital_relation": "at least"},
                                           "This is VERY IMPORTANT news.", "This is very important news."),
    "change_case:english_capital": ({}, "THIS ANSWER IS WRITTEN ENTIRELY IN CAPITAL LETTERS FOR THE TEST.",
                                    "This answer is written in ordinary case for the test."),
    "change_case:english_lowercase": ({}, "this answer is written entirely in lowercase english letters for the test.",
                                      "This Answer Has Capital Letters In It For The Test."),
    "combination:repeat_prompt": ({"prompt_to_repeat": "Write a haiku about rain."},
                                  "Write a haiku about rain. Soft rain on the roof.", "Soft rain on the roof."),
    "combination:two_responses": ({}, "The first answer.\n******\nThe second answer.", "Only one answer."),
    "detectable_content:number_placeholders": ({"num_placeholders": 2}, "Dear [name], meet me at [address].",
                                               "Dear [name], see you soon."),
    "detectable_content:postscript": ({"postscript_marker": "P.S."}, "The letter.\n\nP.S. Bring an umbrella.",
                                      "The letter, with no postscript."),
    "detectable_format:constrained_response": ({}, "My answer is yes.", "Perhaps, who knows."),
    "detectable_format:json_format": ({}, '```json\n{"city": "Lyon"}\n```', "city: Lyon"),
    "detectable_format:multiple_sections": ({"section_spliter": "Section", "num_sections": 2},
                                            "Section 1\nThe start.\nSection 2\nThe end.", "The start. The end."),
    "detectable_format:number_bullet_lists": ({"num_bullets": 2}, "* apples\n* pears", "Apples and pears.\n* apples"),
    "detectable_format:number_highlighted_sections": ({"num_highlights": 2}, "See *the first part* and *the second*.",
                                                      "Nothing is highlighted here."),
    "detectable_format:title": ({}, "<<Rain in Spring>>\nA short poem.", "Rain in Spring\nA short poem."),
    "keywords:existence": ({"keywords": ["river", "stone"]}, "The river runs over the stone.", "The river runs."),
    "keywords:forbidden_words": ({"forbidden_words": ["cat"]}, "A dog sleeps on the mat.", "A cat sleeps on the mat."),
    "keywords:frequency": ({"keyword": "rain", "frequency": 2, "relation": "at least"},
                           "Rain today and rain tomorrow.", "Rain today, sun tomorrow."),
    "keywords:letter_frequency": ({"letter": "z", "let_frequency": 2, "let_relation": "at least"},
                                  "A zebra in the zoo.", "A zebra in the park."),
    "language:response_language": ({"language": "fr"},
                                   "Bonjour, je suis très heureux de vous aider aujourd'hui avec cette question difficile.",
                                   "Hello, I am very happy to help you today with this difficult question."),
    "length_constraints:nth_paragraph_first_word": ({"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
                                                    "First we plan.\n\nThen we build.", "First we plan.\n\nNext we build."),
    "length_constraints:number_paragraphs": ({"num_paragraphs": 2}, "One paragraph.\n***\nAnother one.",
                                             "One paragraph with no divider at all."),
    # punkt knows "Dr." and "p.m." are not sentence ends: 2 sentences, where a naive split finds 4
    "length_constraints:number_sentences": ({"num_sentences": 3, "relation": "less than"},
                                            "Dr. Smith came home at 5 p.m. yesterday. He slept.",
                                            "It rained. We stayed in. We read. We slept."),
    "length_constraints:number_words": ({"num_words": 5, "relation": "at least"}, "one two three four five six",
                                        "one two"),
    "punctuation:no_comma": ({}, "No commas appear in this answer.", "Yes, there is a comma."),
    "startend:end_checker": ({"end_phrase": "Any other questions?"}, "That is all. Any other questions?", "That is all."),
    "startend:quotation": ({}, '"The whole answer is quoted."', "The answer is not quoted."),
}

PROMPT = "Write a haiku about rain."


def verdict(iid: str, kwargs: dict, response: str) -> tuple[bool, bool]:
    [v] = check(EvalPrompt("k", PROMPT, (iid,), (kwargs,), 1), response)
    assert not v.error
    return v.strict, v.loose


def test_every_ifeval_type_has_a_case():
    assert set(CASES) == set(checkers()), "a checker without a test case, or a case without a checker"
    assert len(CASES) == 25


@pytest.mark.parametrize("iid", sorted(CASES))
def test_a_following_response_passes_strict_and_loose(iid):
    kwargs, good, _ = CASES[iid]
    assert verdict(iid, kwargs, good) == (True, True)


@pytest.mark.parametrize("iid", sorted(CASES))
def test_a_response_that_ignores_it_fails_strict_and_loose(iid):
    kwargs, _, bad = CASES[iid]
    assert verdict(iid, kwargs, bad) == (False, False)


@pytest.mark.parametrize("iid, kwargs, response", [
    # a chatty first line before the JSON
    ("detectable_format:json_format", {}, 'Here is the JSON you asked for:\n{"city": "Lyon"}'),
    # the comma is only in the first line
    ("punctuation:no_comma", {}, "Sure, here it is\nNo commas appear below this line."),
    # a sign-off after the end phrase
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "That is all. Any other questions?\n(end)"),
    # markdown bold around the title: removing `*` leaves the title, which still passes; around the
    # language-checked text the asterisks do no harm, so use lowercase: bold markers are not letters
    ("startend:quotation", {}, '**"The whole answer is quoted."**'),
])
def test_loose_forgives_a_first_or_last_line_and_asterisks(iid, kwargs, response):
    assert verdict(iid, kwargs, response) == (False, True)


def test_an_empty_response_follows_nothing():
    assert verdict("punctuation:no_comma", {}, "   ") == (False, False)


def test_prompt_level_needs_every_instruction():
    p = EvalPrompt("k", PROMPT, ("punctuation:no_comma", "startend:quotation"), ({}, {}), 1)
    assert [(v.strict, v.loose) for v in check(p, '"No commas here."')] == [(True, True), (True, True)]
    assert [(v.strict, v.loose) for v in check(p, "No commas here.")] == [(True, True), (False, False)]


def write(tmp_path, lines: list[str]):
    path = tmp_path / "ifeval.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_null_kwargs_are_ignored(tmp_path):
    rows = [
        {"key": 1, "prompt": "No commas please.", "instruction_id_list": ["punctuation:no_comma"],
         "kwargs": [{"num_highlights": None, "relation": None, "num_words": None}]},  # the HF dataset's layout
        {"key": 2, "prompt": "No commas please.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": None},
        {"key": 3, "prompt": "Quote it, no commas.", "instruction_id_list": ["punctuation:no_comma", "startend:quotation"],
         "kwargs": [None, {"relation": None}]},
    ]
    prompts, report = read_prompts(write(tmp_path, [json.dumps(r) for r in rows]), checkers())
    assert not report.skipped
    assert [p.kwargs for p in prompts] == [({},), ({},), ({}, {})]
    assert [v.strict for v in check(prompts[2], '"no commas here"')] == [True, True]


def test_unknown_ids_and_malformed_lines_are_skipped_with_their_line_numbers(tmp_path):
    ok = {"key": 7, "prompt": "No commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
    lines = [
        json.dumps(ok),
        json.dumps({**ok, "key": 8, "instruction_id_list": ["punctuation:no_comma", "made_up:rhymes"],
                    "kwargs": [{}, {}]}),
        "{not json",
        json.dumps({**ok, "key": 9, "kwargs": [{}, {}]}),  # one instruction, two kwargs
        json.dumps({"key": 10, "instruction_id_list": ["punctuation:no_comma"]}),  # no prompt
        "[1, 2]",
        json.dumps(ok),  # the same key again
        json.dumps({**ok, "key": 11}),
    ]
    prompts, report = read_prompts(write(tmp_path, lines), checkers())
    assert [p.key for p in prompts] == ["7", "11"]
    assert [p.line for p in prompts] == [1, 8]
    skipped = dict(report.skipped)
    assert sorted(skipped) == [2, 3, 4, 5, 6, 7]
    assert "made_up:rhymes" in skipped[2]
    assert "kwargs" in skipped[4] and "prompt" in skipped[5] and "twice" in skipped[7]


def test_the_shipped_ifeval_file_reads_whole(repo):
    path = repo / "recipes" / "testsets" / "ifeval_input_data.jsonl"
    prompts, report = read_prompts(path, checkers())
    assert (len(prompts), report.skipped) == (541, [])
    assert sum(len(p.instruction_ids) for p in prompts) == 834


def test_the_registrys_own_ids_are_read_and_scored_by_its_checkers(tmp_path):
    own = {"key": 1, "prompt": "Explain rain.", "instruction_id_list": ["lexical:no_digits", "position:sentence_end_word"],
           "kwargs": [{}, {"word": "now"}]}
    made_up = {**own, "key": 2, "instruction_id_list": ["made_up:rhymes"], "kwargs": [{}]}
    path = write(tmp_path, [json.dumps(own), json.dumps(made_up)])
    assert read_prompts(path, checkers())[0] == []  # IFEval's checkers alone know neither id
    prompts, report = read_prompts(path, known())
    assert [p.key for p in prompts] == ["1"] and "made_up:rhymes" in dict(report.skipped)[2]
    [p] = prompts
    cons = C.from_ifeval(own)

    def verdicts(answer: str) -> list[tuple[bool, bool]]:
        got = check(p, answer)
        assert not any(v.error for v in got)
        assert [v.strict for v in got] == ([False, False] if not answer.strip() else C.check(answer, cons))
        return [(v.strict, v.loose) for v in got]

    assert verdicts("Rain falls now. It stops now.") == [(True, True), (True, True)]
    assert verdicts("Rain fell 3 times now. It stops now.") == [(False, False), (True, True)]
    # IFEval's loose rule: without the first line, every sentence ends on the word
    assert verdicts("Sure, here it is\nRain falls now. It stops now.") == [(True, True), (False, True)]
    # an empty answer follows nothing, though it holds no digit
    assert C.check("", cons)[0] and verdicts("") == [(False, False), (False, False)]
