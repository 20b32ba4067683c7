"""Every constraint type against hand-written answers: ones that pass, ones that fail, and near
misses (one word, line or mark away from passing), strictly and loosely. Loose checking is
IFEval's: an extra first or last line, or markdown asterisks, are forgiven."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from wizardlite import constraints as C


def words(n: int, w: str = "word") -> str:
    return " ".join([w] * n) + "."


def paras(*ps: str, sep: str = "\n\n") -> str:
    return sep.join(ps)


@dataclass
class Case:
    tid: str
    kwargs: dict[str, Any]
    good: list[str]
    bad: list[str]
    near: list[str]
    loose: list[str] = field(default_factory=list)  # fail strictly, pass loosely


PLAIN = "Plants make sugar from light. The leaves do the work."
CASES = [
    # ---------------------------------------------------------------- length
    Case("length_constraints:number_words", {"num_words": 10, "relation": "less than"},
         [words(9), "Short reply."], [words(30)], [words(10)], ["Sure thing here is what you asked for now\nShort."]),
    Case("length_constraints:number_words", {"num_words": 10, "relation": "at least"},
         [words(10), words(40)], ["Too short."], [words(9)]),
    Case("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
         ["One. Two.", "Just one sentence."], ["One. Two. Three. Four. Five."], ["One. Two. Three."]),
    Case("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"},
         ["One. Two. Three.", "One here. Two here. Three here. Four here."], ["Only one."], ["One. Two."]),
    Case("length_constraints:number_paragraphs", {"num_paragraphs": 2},
         ["First part.\n\n***\n\nSecond part."], ["No dividers at all."],
         ["One.\n\n***\n\nTwo.\n\n***\n\nThree.", "First.\n\nSecond."]),
    Case("length:max_characters", {"max_chars": 20},
         ["Short and sweet.", "x" * 20], ["x" * 50], ["x" * 21, ""]),
    Case("length:word_range", {"min_words": 5, "max_words": 8},
         [words(5), words(8)], ["Two words.", words(30)], [words(4), words(9)]),
    Case("length:max_sentence_words", {"max_words": 5},
         ["Plants grow. Leaves catch light.", "- Short item.\n- Another one."],
         ["This sentence has far too many words in it to pass."], ["Fine here. This one has got six words."]),
    # ---------------------------------------------------------------- counting
    Case("keywords:frequency", {"keyword": "light", "frequency": 2, "relation": "at least"},
         ["Light and more light.", "LIGHT light LIGHT"], ["No such word."], ["Light once."]),
    Case("keywords:letter_frequency", {"letter": "z", "let_frequency": 2, "let_relation": "less than"},
         ["A quiet zone.", "Nothing here."], ["Zebras zigzag."], ["Jazz."]),
    Case("keywords:letter_frequency", {"letter": "b", "let_frequency": 3, "let_relation": "at least"},
         ["Big blue bees.", "BBB"], ["No such letter here."], ["Bob."]),
    Case("detectable_content:number_placeholders", {"num_placeholders": 2},
         ["Dear [recipient], meet me at [street]."], ["No slots."], ["Dear [recipient], see you."]),
    Case("detectable_format:number_bullet_lists", {"num_bullets": 3},
         ["* a\n* b\n* c", "Intro.\n- one\n- two\n- three"], ["Plain text."], ["* a\n* b", "* a\n* b\n* c\n* d"]),
    Case("detectable_format:number_highlighted_sections", {"num_highlights": 2},
         ["A *first* and a *second* point.", "*one* **two**"], ["Nothing marked."], ["Only *one* here."]),
    Case("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
         ["This is VERY IMPORTANT.", "NOTE THIS"], ["nothing in capitals."], ["Only ONE here."]),
    Case("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"},
         ["Only ONE here.", "none at all."], ["THREE BIG WORDS."], ["TWO WORDS here."]),
    Case("format:numbered_steps", {"num_steps": 3},
         ["1. Mix.\n2. Bake.\n3. Eat.", "1) a\n2) b\n3) c"], ["Mix, bake, eat."], ["1. Mix.\n2. Bake."]),
    Case("counting:numbers", {"num_numbers": 2},
         ["It took 3 days and 40 minutes.", "Years 1999 and 2024."], ["No figures."], ["7 and 7 again."]),
    Case("counting:questions", {"num_questions": 2},
         ["Why? And how?", "What is it? Nobody knows? Indeed."], ["No questions."],
         ["Why?", "Why? How? When?"]),
    # ---------------------------------------------------------------- lexical
    Case("keywords:existence", {"keywords": ["sugar", "light"]},
         [PLAIN, "SUGAR and LIGHT."], ["Nothing relevant."], ["Only sugar here."]),
    Case("keywords:forbidden_words", {"forbidden_words": ["very", "just"]},
         [PLAIN, "Justice is served."], ["It is very good."], ["Just so."]),
    Case("lexical:include_phrase", {"phrase": "chemical energy"},
         ["Light becomes chemical energy.", "CHEMICAL ENERGY"], ["Energy that is chemical."],
         ["Chemical  energy split.", "chemical energies"]),
    Case("lexical:no_digits", {}, ["Twelve apples and three pears.", PLAIN], ["It costs 12 dollars."], ["Room 1."]),
    Case("lexical:transition_words", {"transitions": ["however", "therefore", "meanwhile"], "min_used": 2},
         ["However it rains. Therefore we stay.", "MEANWHILE. however."], ["Nothing to link."],
         ["However it rains.", "However again however."]),
    Case("lexical:no_first_person", {}, [PLAIN, "You and they agree."], ["I think so."],
         ["Plants feed us.", "Our leaves."]),
    # ---------------------------------------------------------------- position
    Case("startend:end_checker", {"end_phrase": "That is all."},
         ["Here it is. That is all.", "Answer.\nthat is all."], ["That is all. More text."],
         ["Here it is. That is all"], ["Answer. That is all.\nBye"]),
    Case("length_constraints:nth_paragraph_first_word",
         {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "light"},
         ["Intro here.\n\nLight is key.", "One.\n\n\"Light, yes.\""], ["Intro.\n\nDark is key."],
         ["Intro.\n\nLight.\n\nThird.", "Intro.\nLight is key."]),
    Case("startend:first_word", {"first_word": "Certainly"},
         ["Certainly, here it is.", "**Certainly** so."], ["Here it is."], ["Certain things.", "Yes certainly."],
         ["Sure\nCertainly, here."]),
    Case("content:ends_with_question", {}, ["Is that clear?", "Done. Any more?  "], ["That is clear."],
         ["Is it? Yes."], ["Is it clear?\nBye."]),
    Case("position:last_word", {"word": "together"},
         ["We grow together.", "All together!\n"], ["Together we grow."], ["We grow altogether."],
         ["We grow together.\nSigned"]),
    Case("position:opening_question", {}, ["Why do plants grow? Light.", "**What is it?** A leaf."],
         ["Plants grow. Why?"], ["Why plants grow."]),
    # ---------------------------------------------------------------- format
    Case("detectable_format:json_format", {}, ['{"a": 1}', '```json\n[1, 2]\n```'], ["Not JSON."],
         ['{"a": 1', 'Here: {"a": 1}'], ['Here you go:\n{"a": 1}']),
    Case("detectable_format:constrained_response", {}, ["Thinking done. My answer is yes.", "My answer is maybe."],
         ["Yes."], ["my answer is yes.", "My answer is yes"]),
    Case("format:markdown_table", {"num_rows": 2},
         ["| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |"], ["a b\n1 2"], ["| a | b |\n|---|---|\n| 1 | 2 |",
                                                                "| a | b |\n| 1 | 2 |\n| 3 | 4 |"]),
    Case("format:bold_terms", {"num_bold": 2}, ["**Light** and **water**."], ["Plain."], ["Only **one**."]),
    Case("format:code_block", {}, ["Run:\n```\nls -l\n```", "```python\nprint(1)\n```\nDone."], ["Run ls -l."],
         ["```\n```", "```\nls -l"]),
    Case("format:headings", {"num_headings": 2}, ["# One\ntext\n## Two\ntext"], ["No headings."],
         ["# One\ntext", "#Two\n#Three"]),
    Case("format:blockquote", {}, ["As they say:\n> Light first."], ["As they say, light first."], [">", "a > b"]),
    # ---------------------------------------------------------------- case
    Case("change_case:english_lowercase", {}, ["plants make sugar from light and water."],
         ["Plants make sugar from light."], ["plants make sugar from Light."]),
    Case("change_case:english_capital", {}, ["PLANTS MAKE SUGAR FROM THE LIGHT OF THE SUN AND THE WATER IN THE SOIL."],
         ["Plants make sugar from light."], ["PLANTS MAKE SUGAR FROM THE LIGHT OF THE SUN AND THE WATER IN THE SOIl."]),
    Case("case:capitalized_sentences", {}, [PLAIN, "- Item one.\n- Item two."], ["plants grow. leaves too."],
         ["Plants grow. leaves too."]),
    Case("case:no_all_caps", {}, [PLAIN, "A leaf. I see it."], ["This is VERY good."], ["Use the DNA."]),
    # ---------------------------------------------------------------- punctuation
    Case("punctuation:no_comma", {}, [PLAIN], ["Light, water and air."], ["One comma,"]),
    Case("startend:quotation", {}, ['"Plants grow."', '  "Quoted"  '], ["Plants grow."], ['"Plants grow.', '"'],
         ['Here:\n"Plants grow."']),
    Case("punctuation:no_exclamation", {}, [PLAIN], ["Wow! Plants!"], ["Nearly done!"]),
    Case("punctuation:parentheses", {"num_parens": 2}, ["Leaves (green) and roots (brown)."], ["No asides."],
         ["Leaves (green) and roots.", "Empty () and (1)."]),
    Case("punctuation:semicolons", {"num_semicolons": 2}, ["Light; water; air."], ["No semicolons."],
         ["Light; water."]),
    Case("punctuation:no_colons", {}, [PLAIN], ["Note: light."], ["Time 12:30."]),
    # ---------------------------------------------------------------- structure
    Case("detectable_content:postscript", {"postscript_marker": "P.S."}, ["Answer.\n\nP.S. One more thing."],
         ["Answer only."], ["Answer.\n\nPS one more thing."]),
    Case("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
         ["Section 1\nA.\nSection 2\nB."], ["One block."], ["Section 1\nA.", "section 1\nA.\nsection 2\nB."]),
    Case("detectable_format:title", {}, ["<<Light Into Sugar>>\nBody."], ["Light Into Sugar\nBody."],
         ["<< >>\nBody.", "<<your title>>\nBody.", "<<Title here>>\nBody.", "<<a fitting title>>\nBody."]),
    Case("combination:two_responses", {}, ["First answer.\n******\nSecond answer."], ["Only one."],
         ["Same.\n******\nSame.", "One.\n******\nTwo.\n******\nThree."]),
    Case("structure:lead_line", {"lead": "In brief:"}, ["In brief: plants eat light.\n\nThe details follow."],
         ["Plants eat light.\nIn brief: yes."], ["In brief: plants eat light.", "In brief:\nDetails."]),
    Case("structure:labeled_parts", {"labels": ["Context", "Answer"]},
         ["Context: a question.\nAnswer: a reply.", "**Context**: x\n\n**Answer**: y"], ["A question and a reply."],
         ["Answer: a reply.\nContext: a question.", "Context: x\nContext: y\nAnswer: z"]),
    Case("structure:signature", {"name": "Alex"}, ["Thanks for the help.\n\n— Alex", "Note.\n—Alex"],
         ["Thanks.\n\nAlex"], ["— Alex", "Thanks.\n— Alex.", "Thanks.\n- Alex"]),
    # ---------------------------------------------------------------- repetition
    Case("repetition:repeat_sentence", {"sentence": "Every detail counts.", "times": 2},
         ["Every detail counts. Plants grow. Every detail counts!"], ["Plants grow."],
         ["Every detail counts.", "Every detail counts. Every detail counts. Every detail counts."]),
    Case("repetition:max_word_repeats", {"max_repeats": 2}, [PLAIN, "Light light and sun."],
         ["Plants plants plants grow."], ["Green GREEN green."]),
    # ---------------------------------------------------------------- ordering
    Case("ordering:keywords_in_order", {"first": "light", "second": "sugar"},
         ["Light becomes sugar.", "lights then sugars"], ["Sugar comes from light."], ["Light alone."]),
    Case("ordering:alphabetical_list", {"num_items": 3}, ["- apple\n- banana\n- cherry", "1. Air\n2. bark\n3. Cells"],
         ["No list."], ["- apple\n- cherry\n- banana", "- apple\n- banana"]),
    Case("ordering:numbers_ascending", {}, ["From 2 to 5 and then 40.", "1. a\n2. b"], ["No numbers."],
         ["From 5 to 2.", "Only 7.", "3 and 3."]),
    # ---------------------------------------------------------------- test-only
    Case("position:sentence_end_word", {"word": "today"}, ["We grow today. They rest today!"],
         ["We grow. They rest."], ["We grow today. They rest."]),
    Case("structure:nested_bullets", {"num_sub": 2}, ["- Leaf\n  - green\n  - flat\n- Root"], ["No list."],
         ["- Leaf\n  - green\n- Root", "- Leaf\n  - green\n  - flat\n        - deeper", "  - a\n  - b"]),
    Case("repetition:no_repeat_in_sentence", {}, ["The leaf grows. The root drinks."], ["The leaf and the root."],
         ["Plants need light and Light."]),
    Case("ordering:acrostic", {"word": "LEAF"},
         [paras("Light first.", "Energy next.", "Air too.", "Food last.")], [PLAIN],
         [paras("Light first.", "Energy next.", "Air too."), paras("Light.", "Energy.", "Air.", "Water.")]),
    Case("ordering:growing_paragraphs", {"num_paragraphs": 3}, [paras("One.", "One two.", "One two three.")],
         [paras("One two three.", "One.", "One two.")], [paras("One.", "One two.", "One two."),
                                                           paras("One.", "One two.")]),
    Case("punctuation:one_question_per_paragraph", {}, [paras("Why? Because.", "How? Like so.")],
         [paras("No question.", "None here.")], [paras("Why? How?", "One?"), paras("Why?", "None.")]),
    Case("lexical:short_words", {"max_len": 7}, ["Plants make sugar."], ["Photosynthesis matters."],
         ["Plants capture sunlight."]),
    Case("position:first_last_same", {}, ["Light feeds us all, and all needs light.", "Green is green."],
         ["Light feeds plants."], ["Light feeds the lights."]),
    Case("length:sentence_word_count", {"num": 3}, ["Plants need light. Roots drink water."],
         ["Plants need lots of light."], ["Plants need light. Roots drink."]),
    Case("counting:countdown", {"start": 3}, ["3. Third.\n2. Second.\n1. First."], ["1. a\n2. b\n3. c"],
         ["3. a\n2. b", "3. a\n2. b\n1. c\n0. d"]),
    Case("case:alternating_paragraphs", {}, [paras("all small here.", "ALL CAPS HERE.", "small again.")],
         [paras("Mixed Case.", "More Mixed.")], [paras("all small.", "NOT ALL caps."), "just one paragraph."]),
    Case("format:term_definitions", {"num_terms": 2}, ["**Leaf**: where light is caught.\n**Root**: where water enters."],
         ["Leaf: a part."], ["**Leaf**: one.", "**Leaf** - one.\n**Root** - two."]),
    # ---------------------------------------------------------------- compositions
    Case("compose:paragraph_max_words", {"max_words": 5}, [paras("Short one here.", "Another short one.")],
         [words(20)], [paras("Fine.", "This one has six words in.")]),
    Case("compose:paragraph_min_sentences", {"min_sentences": 2}, [paras("A. B.", "C. D. E.")], ["One only."],
         [paras("A. B.", "C.")]),
    Case("compose:first_paragraph_keywords", {"keywords": ["light"]}, [paras("Light first.", "Then more.")],
         ["No word."], [paras("First.", "Then light.")]),
    Case("compose:last_paragraph_max_words", {"max_words": 3}, [paras(words(20), "Short end.")], [words(20)],
         [paras("Start.", "Four words end here.")]),
    Case("compose:paragraph_keyword", {"keyword": "leaf"}, [paras("The leaf.", "Leafy too.")], ["No."],
         [paras("The leaf.", "The root.")]),
    Case("compose:paragraph_bold", {}, [paras("A **term**.", "Another **one**.")], ["Plain."],
         [paras("A **term**.", "Plain.")]),
    Case("compose:item_max_words", {"max_words": 3}, ["- one two\n- three four five"], ["No list."],
         ["- one\n- two three four five", "- only one"]),
    Case("compose:item_capitalized", {}, ["- One\n- Two"], ["- one\n- two"], ["- One\n- two", "- One"]),
    Case("compose:item_period", {}, ["- One.\n- Two."], ["- One\n- Two"], ["- One.\n- Two", "- One."]),
    Case("compose:section_bullets", {"num_bullets": 2}, ["# A\n- x\n- y\n# B\n- z\n- w"], ["No sections."],
         ["# A\n- x\n- y\n# B\n- z", "# A\n- x\n- y"]),
    Case("compose:first_sentence_max_words", {"max_words": 4}, ["Plants grow fast. Then much more is said."],
         [words(10)], ["Plants grow very fast indeed. Then."]),
    Case("compose:last_sentence_keyword", {"keyword": "light"}, ["Plants grow. They need light."],
         ["Light. Plants grow."], ["They need light. Plants grow."]),
    Case("compose:first_paragraph_lowercase", {}, [paras("all small here.", "Then Normal.")], [PLAIN],
         [paras("all small Here.", "then.")]),
    Case("compose:last_paragraph_no_comma", {}, [paras("One, two.", "Three four.")], ["One, two."],
         [paras("One.", "Three, four.")]),
    Case("compose:paragraph_first_word", {"first_word": "First"}, [paras("First a.", "First b.")], [PLAIN],
         [paras("First a.", "Second b.")]),
    Case("compose:paragraph_ends_question", {}, [paras("Why?", "And how?")], [PLAIN], [paras("Why?", "Because.")]),
    Case("compose:section_keyword", {"keyword": "leaf"}, ["# A\nThe leaf.\n# B\nLeaf again."], ["The leaf."],
         ["# A\nThe leaf.\n# B\nThe root."]),
    Case("compose:heading_title_case", {}, ["# Light Into Sugar\nx\n## Roots and Water\ny"], ["No headings."],
         ["# Light into sugar\nx\n## Roots\ny", "# Light Into Sugar\nx"]),
    Case("compose:paragraph_number", {}, [paras("It took 3 days.", "Then 5 more.")], [PLAIN],
         [paras("It took 3 days.", "Then more.")]),
    Case("compose:first_paragraph_one_sentence", {}, [paras("One sentence.", "Then two. Or three.")],
         ["One. Two. Three."], [paras("One. Two", "Three.")]),
    Case("compose:sentence_max_commas", {"max_commas": 1}, ["One, two. Three, four."], ["One, two, three, four."],
         ["One, two, three."]),
    Case("compose:last_paragraph_opener", {"opener": "In short"}, [paras("Start.", "In short it works.")],
         [PLAIN], [paras("Start.", "In shortness it works."), paras("In short first.", "Then.")]),
]

BY_TYPE = {tid: [c for c in CASES if c.tid == tid] for tid in C.TYPES}


def test_every_type_has_passing_failing_and_near_miss_cases():
    missing = [t for t, cs in BY_TYPE.items() if not (any(c.good for c in cs) and any(c.bad for c in cs)
                                                       and any(c.near for c in cs))]
    assert not missing, f"types without cases: {missing}"
    assert {c.tid for c in CASES} <= set(C.TYPES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.tid)
def test_cases(case: Case):
    con = [C.Constraint(case.tid, case.kwargs)]
    for text in case.good:
        assert C.check(text, con) == [True], ("should pass", text)
        assert C.check(text, con, loose=True) == [True], ("loose accepts what strict does", text)
    for text in case.bad:
        assert C.check(text, con) == [False], ("should fail", text)
        assert C.check(text, con, loose=True) == [False], ("should fail loosely too", text)
    for text in case.near:  # strictly; loosely, dropping a first or last line may rescue a near miss
        assert C.check(text, con) == [False], ("a near miss should fail", text)
    for text in case.loose:
        assert C.check(text, con) == [False] and C.check(text, con, loose=True) == [True], ("loose only", text)
