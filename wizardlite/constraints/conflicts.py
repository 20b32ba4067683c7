"""Which constraint types may not be asked together, and why: every pair of types is either in
this table or can be met by one answer (tests/test_constraints_pairs.py proves each such pair
by building an answer that passes both checkers).

Run as: python -c "from wizardlite.constraints import conflict; print(conflict('change_case:english_lowercase', 'change_case:english_capital'))"

Three kinds:

    contradiction  no answer can meet both (all lowercase and all capitals)
    parameters     some drawn parameters rule it out (at least 80 words in under 300 characters)
    policy         both can hold, but together they make a poor request (a JSON reply with a
                   title line) or one makes the other trivial
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

KINDS = ("contradiction", "parameters", "policy")


@dataclass(frozen=True)
class Conflict:
    kind: str
    why: str


_TABLE: dict[frozenset[str], Conflict] = {}


def _add(a: str, b: str, kind: str, why: str) -> None:
    assert kind in KINDS and a != b, (a, b, kind)
    _TABLE[frozenset((a, b))] = Conflict(kind, why)


def _group(ids: list[str], kind: str, why: str) -> None:
    for a, b in combinations(ids, 2):
        _add(a, b, kind, why)


def _one_to_many(a: str, others: list[str], kind: str, why: str) -> None:
    for b in others:
        _add(a, b, kind, why)


def conflict(a: str, b: str) -> Conflict | None:
    """Why `a` and `b` may not be drawn together, or None when they may."""
    if a == b:
        return Conflict("policy", "the same type twice")
    return _TABLE.get(frozenset((a, b)))


def table() -> dict[frozenset[str], Conflict]:
    return dict(_TABLE)


# ---------------------------------------------------------------------------- the table

C, P, Y = "contradiction", "parameters", "policy"
JSON = "detectable_format:json_format"
LAYOUTS = [JSON, "detectable_format:number_bullet_lists", "format:numbered_steps", "format:markdown_table",
           "detectable_format:multiple_sections", "length_constraints:number_paragraphs", "startend:quotation",
           "combination:two_responses"]
_group(LAYOUTS, Y, "two whole-answer layouts at once make an awkward request")

_add("change_case:english_lowercase", "change_case:english_capital", C, "all small letters and all capitals")
_add("change_case:english_lowercase", "startend:first_word", Y, "the opening word is given with a capital")
for _b in ("keywords:existence", "keywords:frequency", "startend:end_checker", "detectable_content:postscript",
           "startend:first_word"):
    _add("change_case:english_capital", _b, Y, "its words are given in small letters; in capitals they read "
                                                "as something else to copy")
_add("length_constraints:number_words", "length:max_characters", P, "80 words do not fit in 300 characters")
for _b in ("startend:quotation", "startend:first_word"):
    _add("detectable_format:title", _b, Y, "both claim the very start of the reply")
for _b in ("detectable_content:postscript", "startend:end_checker", "detectable_format:title",
           "detectable_format:number_highlighted_sections", "detectable_content:number_placeholders",
           "startend:first_word", "content:ends_with_question", "format:bold_terms", "change_case:english_capital"):
    _add(JSON, _b, Y, "a JSON reply has no room for text outside its values")
for _b in ("startend:end_checker", "startend:quotation", "content:ends_with_question"):
    _add("detectable_content:postscript", _b, Y, "both claim the very end of the reply")
_add("startend:end_checker", "startend:quotation", Y, "both claim the very end of the reply")
_add("startend:end_checker", "content:ends_with_question", P, "only one end phrase ends with a question mark")
_add("startend:end_checker", "combination:two_responses", Y, "which of the two answers would end with the phrase")
_add("startend:quotation", "content:ends_with_question", C, "the last character cannot be both \" and ?")
_add("startend:quotation", "startend:first_word", Y, "both claim the very start of the reply")
for _b in ("length_constraints:number_paragraphs", "combination:two_responses"):
    _add("length:max_characters", _b, Y, "a layout of several parts in a few hundred characters")
_add("format:bold_terms", "detectable_format:number_highlighted_sections", Y,
     "both are asked with asterisks, and bold text also counts as highlighted")

_one_to_many(JSON, ["case:alternating_paragraphs", "compose:heading_title_case", "compose:item_capitalized",
                    "compose:item_max_words", "compose:item_period", "compose:last_paragraph_opener",
                    "compose:paragraph_ends_question", "compose:paragraph_first_word", "compose:section_bullets",
                    "compose:section_keyword", "counting:countdown", "format:blockquote", "format:code_block",
                    "format:headings", "format:term_definitions", "length_constraints:nth_paragraph_first_word",
                    "ordering:acrostic", "ordering:alphabetical_list", "ordering:growing_paragraphs",
                    "punctuation:no_colons", "structure:labeled_parts", "structure:lead_line",
                    "structure:nested_bullets", "structure:signature"],
             Y, "a JSON reply has no markdown lines, paragraphs or text outside its values")

# case
_one_to_many("case:alternating_paragraphs", ["case:capitalized_sentences", "change_case:english_capital",
                                             "change_case:english_lowercase", "case:no_all_caps"],
             C, "every other paragraph is all small letters, the others all capitals")
_add("case:alternating_paragraphs", "change_case:capital_word_frequency", P,
     "a paragraph in capitals is many words in capitals")
_add("case:alternating_paragraphs", "detectable_format:constrained_response", Y,
     "the verdict sentence is mixed case and no paragraph may be")
_add("case:alternating_paragraphs", "detectable_format:multiple_sections", Y,
     "section headers in a given case inside paragraphs of the other case")
_one_to_many("case:capitalized_sentences", ["change_case:english_lowercase", "compose:first_paragraph_lowercase"],
             C, "a sentence cannot open with a capital in a text without capitals")
_add("case:no_all_caps", "change_case:english_capital", C, "an all-capitals reply is words in full capitals")
_add("case:no_all_caps", "change_case:capital_word_frequency", Y,
     "asks for words in capitals and forbids them (only one-letter words would do)")
_add("case:no_all_caps", "detectable_format:multiple_sections", P, "the SECTION header is a word in capitals")
_add("change_case:capital_word_frequency", "change_case:english_capital", P,
     "an all-capitals reply has more capital words than a low limit allows")
_add("change_case:capital_word_frequency", "change_case:english_lowercase", P,
     "words in capitals in a reply without capitals")
_one_to_many("change_case:english_capital", ["compose:first_paragraph_lowercase",
                                             "detectable_format:constrained_response"],
             C, "the reply is all capitals and this part must have small letters")
_add("change_case:english_capital", "detectable_format:multiple_sections", P,
     "the 'Section' and 'Part' headers are checked with their small letters")
_one_to_many("change_case:english_lowercase", ["compose:heading_title_case", "compose:item_capitalized",
                                               "detectable_format:constrained_response",
                                               "detectable_format:multiple_sections"],
             C, "this needs capital letters in a reply that may have none")
_add("compose:first_paragraph_lowercase", "detectable_format:constrained_response", Y,
     "the verdict sentence has a capital and would have to wait for a later paragraph")

# digits
for _b in ("compose:paragraph_number", "counting:countdown", "counting:numbers", "detectable_format:multiple_sections",
           "format:numbered_steps", "ordering:numbers_ascending"):
    _add("lexical:no_digits", _b, C, "needs digits in a reply that may have none")
_add("counting:countdown", "ordering:numbers_ascending", C, "a countdown's numbers go down")
_add("counting:countdown", "format:numbered_steps", P, "both count the numbered lines")

# the start of the reply
_one_to_many("startend:first_word", ["structure:labeled_parts", "structure:lead_line", "ordering:acrostic"],
             C, "the reply must open with another word or letter")
_one_to_many("compose:paragraph_first_word", ["structure:labeled_parts", "structure:lead_line", "ordering:acrostic"],
             C, "the paragraphs must open with another word or letter")
_add("compose:paragraph_first_word", "startend:first_word", P, "two different opening words")
_add("compose:paragraph_first_word", "length_constraints:nth_paragraph_first_word", P,
     "two different first words for the same paragraph")
_add("compose:paragraph_first_word", "compose:last_paragraph_opener", P, "two openings for the last paragraph")
_add("compose:paragraph_first_word", "detectable_format:multiple_sections", Y,
     "sections open with their header, paragraphs with the word")
_one_to_many("length_constraints:nth_paragraph_first_word", ["startend:first_word", "structure:lead_line",
                                                             "ordering:acrostic"],
             P, "two different openings for the same paragraph")
_one_to_many("length_constraints:nth_paragraph_first_word",
             ["length_constraints:number_paragraphs", "combination:two_responses", "ordering:growing_paragraphs",
              "compose:section_bullets", "compose:section_keyword"],
             Y, "paragraphs split by blank lines and another way of cutting the reply count differently")
_add("compose:last_paragraph_opener", "ordering:acrostic", P, "the last paragraph must open with another letter")
_add("compose:last_paragraph_opener", "structure:labeled_parts", Y, "the closing part opens with its label")
_add("ordering:acrostic", "structure:labeled_parts", P, "the labels' initials would have to spell the word")
_add("ordering:acrostic", "ordering:growing_paragraphs", P, "the word's length fixes another number of paragraphs")

# the end of the reply
_one_to_many("startend:end_checker", ["structure:signature", "position:last_word", "position:sentence_end_word",
                                      "length:sentence_word_count"],
             C, "the end phrase is last and cannot end or be shaped that way")
_add("startend:end_checker", "compose:paragraph_ends_question", P, "only one end phrase ends with a question mark")
_one_to_many("structure:signature", ["content:ends_with_question", "position:last_word"],
             C, "the signature line is last")
_add("position:last_word", "position:sentence_end_word", P, "two different last words for the last sentence")
_one_to_many("position:first_last_same", ["position:last_word", "position:sentence_end_word",
                                          "startend:end_checker", "structure:signature",
                                          "length:sentence_word_count"],
             Y, "the last word is fixed by the other, so the first word is too")

# exact sentence shapes (test-only types)
_one_to_many("length:sentence_word_count", ["repetition:repeat_sentence",
                                            "detectable_format:constrained_response"],
             C, "a fixed sentence of another length")
_one_to_many("length:sentence_word_count", ["position:last_word", "position:sentence_end_word",
                                            "detectable_content:postscript", "compose:first_paragraph_keywords",
                                            "compose:paragraph_bold", "compose:paragraph_number"],
             Y, "sentences of an exact length leave no room for a required word or marker")
_add("length:sentence_word_count", "compose:item_max_words", P, "list items are sentences of a fixed length")
_one_to_many("position:sentence_end_word", ["repetition:repeat_sentence", "detectable_format:constrained_response"],
             C, "a fixed sentence that ends in another word")
_add("position:sentence_end_word", "detectable_content:postscript", Y, "the marker P.S. reads as a sentence")
_add("detectable_format:constrained_response", "lexical:no_first_person", C, "the verdict begins with 'My'")

# colons
_one_to_many("punctuation:no_colons", ["format:term_definitions", "structure:labeled_parts", "structure:lead_line"],
             C, "its lines are written with a colon")

# counts that pull against each other
_one_to_many("detectable_format:number_bullet_lists", ["ordering:alphabetical_list", "structure:nested_bullets",
                                                       "compose:section_bullets"],
             P, "IFEval counts every line that starts with * or - as a bullet")
_one_to_many("length:word_range", ["length_constraints:number_words", "length_constraints:number_sentences"],
             P, "two length limits that may not overlap")
_add("compose:paragraph_max_words", "length_constraints:number_words", P, "short paragraphs and a long reply")
_add("compose:item_max_words", "length:sentence_word_count", P, "list items are sentences of a fixed length")
_add("compose:last_paragraph_max_words", "ordering:growing_paragraphs", Y,
     "the last paragraph is the longest, and is capped")
_one_to_many("ordering:growing_paragraphs", ["length_constraints:number_sentences", "length_constraints:number_words"],
             Y, "paragraphs that keep growing against a cap on the whole")
_one_to_many("length_constraints:number_sentences", ["counting:countdown", "format:term_definitions",
                                                     "repetition:repeat_sentence"],
             Y, "its lines count as sentences against a cap")
_one_to_many("repetition:max_word_repeats", ["keywords:frequency", "repetition:repeat_sentence"],
             P, "a required repeat above the cap")
_add("repetition:max_word_repeats", "compose:section_keyword", Y, "a keyword in every section against a cap")
_add("compose:first_paragraph_one_sentence", "compose:paragraph_min_sentences", C,
     "the first paragraph is one of the paragraphs")

# short words against the words the instruction gives
for _b in ("keywords:existence", "keywords:frequency", "lexical:include_phrase", "lexical:transition_words",
           "length_constraints:nth_paragraph_first_word", "ordering:keywords_in_order", "startend:first_word",
           "structure:labeled_parts", "compose:first_paragraph_keywords", "compose:paragraph_keyword",
           "compose:last_sentence_keyword", "compose:section_keyword", "compose:paragraph_first_word"):
    _add("lexical:short_words", _b, P, "a given word may be longer than the limit")

_add("compose:last_paragraph_max_words", "compose:paragraph_min_sentences", P, "several sentences in a few words")
_add("compose:paragraph_max_words", "length:word_range", P, "short paragraphs and a long reply")
_add("length:max_characters", "length:word_range", P, "many words in few characters")
_one_to_many("ordering:growing_paragraphs", ["length:max_characters", "length:word_range"], Y,
             "paragraphs that keep growing against a cap on the whole")
_add("length:sentence_word_count", "compose:paragraph_keyword", Y,
     "sentences of an exact length leave no room for a required word or marker")
_one_to_many("length_constraints:number_sentences", ["counting:questions", "length_constraints:number_words"], Y,
             "a cap on sentences with a count that adds sentences or words")
_add("length_constraints:number_sentences", "format:numbered_steps", P, "each numbered step is a sentence")
_add("length_constraints:number_sentences", "ordering:acrostic", P, "each paragraph of the acrostic is a sentence")
_add("lexical:short_words", "position:last_word", P, "a given word may be longer than the limit")
_add("ordering:acrostic", "structure:lead_line", P, "the lead word's initial would have to begin the word")
_add("structure:labeled_parts", "structure:lead_line", P, "the lead may be one of the labels, out of order")
_add("length_constraints:nth_paragraph_first_word", "structure:labeled_parts", Y,
     "the labels and the given first word both decide how paragraphs open")
_add("length_constraints:nth_paragraph_first_word", "compose:last_paragraph_opener", P,
     "two openings for the last paragraph")
_add("length_constraints:nth_paragraph_first_word", "ordering:keywords_in_order", P,
     "the reply may have to open with the keyword that must come second")
_add("length_constraints:number_sentences", "keywords:frequency", Y,
     "a cap on sentences with a count that adds sentences or words")
_add("counting:countdown", "length:word_range", Y, "a countdown of full items against a word cap")
_add("detectable_format:multiple_sections", "repetition:max_word_repeats", P,
     "the section header is a long word repeated once per section")
_add("length:max_characters", "length_constraints:number_sentences", Y, "many sentences in few characters")
_add("length_constraints:nth_paragraph_first_word", "length_constraints:number_sentences", P,
     "each paragraph is at least one sentence")
_add("lexical:short_words", "startend:end_checker", P, "a given word may be longer than the limit")
_add("compose:section_bullets", "length_constraints:number_sentences", P, "each bullet is a sentence")
