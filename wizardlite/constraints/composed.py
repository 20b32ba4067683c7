"""The composition patterns: one inner check applied to one scope of the answer each.

Run as: wizardlite constraints --tag composed
"""

from __future__ import annotations

import re
from collections.abc import Callable

from wizardlite.constraints import text as T
from wizardlite.constraints.base import Kwargs, const, ifeval_check, one_of, quoted
from wizardlite.constraints.compose import (
    _bullets_in,
    _bullets_make,
    _cap,
    _comma_cap,
    _cut_words,
    _has,
    _keyword,
    _keywords,
    _max_words,
    _one_sentence_make,
    _opener,
    _opener_make,
    _sentences_at_least,
    _title_case,
    composed,
)
from wizardlite.constraints.compose import phrasings as _phr
from wizardlite.constraints.position import START_WORDS, _ends_question_make, _first_word_make, _starts_with

_kw_in = ifeval_check("keywords:existence")


def _add(sentence: str) -> Callable[[str, Kwargs], str]:
    return lambda p, kw: T.insert_sentence(p, sentence.format(**kw))


TYPES = [
    composed("compose:paragraph_max_words", "length", "each paragraph", _phr(
        "Keep each paragraph to {max_words} words or fewer.",
        "Write compact paragraphs: every paragraph of the reply has at most {max_words} words; start a new one "
        "rather than let one grow.",
        "Break your answer to this into paragraphs of no more than {max_words} words each.",
        "Do not let any paragraph run past {max_words} words.",
        "Paragraph length: {max_words} words at most, each.",
        "No paragraph longer than {max_words} words."),
        one_of(max_words=(30, 40, 50)), _max_words, _cut_words),
    composed("compose:paragraph_min_sentences", "length", "each paragraph", _phr(
        "Give every paragraph at least {min_sentences} sentences.",
        "Develop each paragraph properly: every one of them holds {min_sentences} or more full sentences, no "
        "one-line paragraphs.",
        "Explain this in paragraphs of {min_sentences} sentences or more.",
        "Do not write a paragraph of fewer than {min_sentences} sentences.",
        "Sentences per paragraph: {min_sentences} or more.",
        "Each paragraph needs at least {min_sentences} sentences."),
        one_of(min_sentences=(2, 3)), _sentences_at_least,
        lambda p, kw: T.grow(p, lambda x: _sentences_at_least(x, kw), lambda x: T.FILLER[len(T.sentences(x)) % 6])),
    composed("compose:first_paragraph_keywords", "lexical", "first paragraph", _phr(
        "Name {shown} in the first paragraph.",
        "Get to the point at once: the opening paragraph already mentions {shown}, before anything else is "
        "said.",
        "Start your answer to this with a paragraph that brings up {shown}.",
        "Do not leave {shown} for later: they belong in the first paragraph.",
        "First paragraph: mentions {shown}.",
        "The opening paragraph has to mention {shown}."),
        _keywords, _kw_in, lambda p, kw: T.inject(p, "with " + " and ".join(kw["keywords"])), display=lambda k: {**k, "shown": quoted(k["keywords"])}),
    composed("compose:last_paragraph_max_words", "length", "last paragraph", _phr(
        "Keep the last paragraph to {max_words} words or fewer.",
        "Close briefly: the final paragraph of the reply is a short wrap-up of at most {max_words} words.",
        "End your answer to this with a closing paragraph of no more than {max_words} words.",
        "Do not let the final paragraph exceed {max_words} words.",
        "Last paragraph: {max_words} words at most.",
        "A short final paragraph, {max_words} words or fewer."),
        one_of(max_words=(15, 25)), _max_words, _cut_words),
    composed("compose:paragraph_keyword", "repetition", "each paragraph", _phr(
        "Mention '{keyword}' in every paragraph.",
        "Keep coming back to the topic: each paragraph of the reply uses the word '{keyword}' at least once.",
        "Tie every paragraph of your answer to this back to '{keyword}' by name.",
        "Do not write a paragraph without the word '{keyword}'.",
        "Each paragraph contains '{keyword}'.",
        "'{keyword}' appears in each paragraph."),
        _keyword, _has("keyword"), lambda p, kw: T.inject(p, f"and {kw['keyword']}")),
    composed("compose:paragraph_bold", "format", "each paragraph", _phr(
        "Put at least one bold term in every paragraph.",
        "Help a skimming reader: each paragraph contains at least one key term in bold, written with double "
        "asterisks on both sides.",
        "In your answer to this, give every paragraph one or more **bold** terms.",
        "Do not leave any paragraph without a bold term.",
        "Every paragraph: one bold term or more.",
        "Each paragraph carries a term in bold."),
        const(), lambda p, kw: re.search(r"\*\*[^*\n]+\*\*", p) is not None, lambda p, kw: T.inject(p, "with **light**")),
    composed("compose:item_max_words", "length", "each list item", _phr(
        "Include a list whose items are {max_words} words or fewer.",
        "Give a list (bulleted or numbered) of two or more items, and keep each item short: {max_words} words "
        "at most.",
        "Sum this up in a list of brief items, none over {max_words} words.",
        "Do not let any list item run past {max_words} words; the list needs two items or more.",
        "List items: at least two, each {max_words} words at most.",
        "A list of short items ({max_words} words at most each)."),
        one_of(max_words=(6, 8, 10)), _max_words, _cut_words),
    composed("compose:item_capitalized", "case", "each list item", _phr(
        "Include a list; start every item with a capital letter.",
        "Give a list of at least two items, bulleted or numbered, and begin the text of each item with a "
        "capital letter.",
        "List the main points of this, each item opening with a capital.",
        "Do not start any list item with a small letter; use two items or more.",
        "List items (two or more) begin with capitals.",
        "Each item of your list opens with an uppercase letter."),
        const(), lambda p, kw: T.first_letter(p).isupper(), lambda p, kw: _cap(p), stage=3),
    composed("compose:item_period", "punctuation", "each list item", _phr(
        "Include a list; end every item with a full stop.",
        "Give a list of at least two items and write each item as a full sentence that ends with a period.",
        "Put the points of this in a list whose every item closes with a full stop.",
        "Do not leave a list item without a final period; use two items or more.",
        "List items (two or more) end with '.'.",
        "Each list item finishes with a period."),
        const(), lambda p, kw: p.rstrip().endswith("."), lambda p, kw: p.rstrip().rstrip("!?;:,") + ".", stage=3),
    composed("compose:section_bullets", "counting", "each section", _phr(
        "Use two or more headed sections, each with exactly {num_bullets} bullets.",
        "Organise the reply under at least two markdown headings, and under each heading give exactly "
        "{num_bullets} list items.",
        "Treat this in sections with # headings, every section holding {num_bullets} bullet points.",
        "Do not put more or fewer than {num_bullets} bullets under any heading; use two headings or more.",
        "Sections under # headings (two or more), {num_bullets} bullets in each.",
        "Every headed section lists exactly {num_bullets} items."),
        one_of(num_bullets=(2, 3)), _bullets_in, _bullets_make, stage=0),
    composed("compose:first_sentence_max_words", "length", "first sentence", _phr(
        "Keep the first sentence to {max_words} words or fewer.",
        "Open crisply: the reply's first sentence is short, {max_words} words at most, and the detail comes "
        "after.",
        "Lead into this with a first sentence of no more than {max_words} words.",
        "Do not make the opening sentence longer than {max_words} words.",
        "First sentence: {max_words} words at most.",
        "A short opening sentence ({max_words} words or fewer)."),
        one_of(max_words=(8, 10, 12)), _max_words, _cut_words),
    composed("compose:last_sentence_keyword", "position", "last sentence", _phr(
        "Mention '{keyword}' in the last sentence.",
        "Bring it home: the final sentence of the reply uses the word '{keyword}'.",
        "Finish your answer to this with a sentence that names '{keyword}'.",
        "Do not end on a sentence that leaves out '{keyword}'.",
        "Last sentence contains '{keyword}'.",
        "The closing sentence mentions '{keyword}'."),
        _keyword, _has("keyword"),
        lambda p, kw: f"{kw['keyword'].capitalize()} aside {p[:1].lower()}{p[1:]}"),
    composed("compose:first_paragraph_lowercase", "case", "first paragraph", _phr(
        "Write the first paragraph in lowercase only.",
        "Set the opening paragraph entirely in small letters, with no capitals; the rest of the reply is "
        "written normally.",
        "Begin your answer to this with a paragraph in all lowercase.",
        "Do not use capital letters in the first paragraph.",
        "First paragraph: lowercase letters only.",
        "The opening paragraph has no capital letters."),
        const(), lambda p, kw: p == p.lower() and re.search(r"[a-z]", p) is not None, lambda p, kw: p.lower(),
        stage=3),
    composed("compose:last_paragraph_no_comma", "punctuation", "last paragraph", _phr(
        "Use no commas in the last paragraph.",
        "Write the closing paragraph without a single comma; commas are fine elsewhere in the reply.",
        "Wrap up this answer with a final paragraph free of commas.",
        "Do not put a comma in the final paragraph.",
        "Last paragraph: no commas.",
        "The final paragraph has no commas in it."),
        const(), lambda p, kw: "," not in p, lambda p, kw: re.sub(r",\s*", " ", p), stage=3),
    composed("compose:paragraph_first_word", "repetition", "each paragraph", _phr(
        "Start every paragraph with \"{first_word}\".",
        "Give the paragraphs a common opening: each of them begins with the word \"{first_word}\".",
        "Answer this in paragraphs that all open with \"{first_word}\".",
        "Do not begin any paragraph with a word other than \"{first_word}\".",
        "First word of each paragraph: \"{first_word}\".",
        "Every paragraph begins with \"{first_word}\"."),
        one_of(first_word=START_WORDS), _starts_with, _first_word_make, stage=2),
    composed("compose:paragraph_ends_question", "punctuation", "each paragraph", _phr(
        "End every paragraph with a question.",
        "Keep the reader thinking: each paragraph closes with a question, its last character a question mark.",
        "Answer this in paragraphs that each finish by asking something.",
        "Do not end any paragraph with a statement.",
        "Each paragraph ends with '?'.",
        "Every paragraph's last sentence is a question."),
        const(), lambda p, kw: p.rstrip().rstrip("\"'*)”’").endswith("?"), _ends_question_make, stage=2),
    composed("compose:section_keyword", "lexical", "each section", _phr(
        "Use two or more headed sections, each mentioning '{keyword}'.",
        "Organise the reply under at least two markdown headings, and make the text of every section use the "
        "word '{keyword}'.",
        "Set this out under # headings, with '{keyword}' named in each section.",
        "Do not write a section without '{keyword}'; use two headings or more.",
        "Sections under # headings (two or more), each containing '{keyword}'.",
        "Every headed section mentions '{keyword}'."),
        _keyword, _has("keyword"), _add("It ties back to {keyword}."), stage=0),
    composed("compose:heading_title_case", "case", "each heading", _phr(
        "Use two or more headings in Title Case.",
        "Give the reply at least two markdown headings, and capitalise every word of four letters or more in "
        "each heading.",
        "Head the parts of your answer to this with # headings written in Title Case.",
        "Do not write a heading in sentence case: longer words (four letters and up) start with capitals, in "
        "two headings or more.",
        "Headings (two or more) in Title Case.",
        "Each markdown heading is in Title Case."),
        const(), _title_case, lambda p, kw: re.sub(r"\b[a-z](?=[a-z]{3})", lambda m: m.group().upper(), p),
        stage=0),
    composed("compose:paragraph_number", "counting", "each paragraph", _phr(
        "Put a number in digits in every paragraph.",
        "Be specific throughout: each paragraph of the reply contains at least one figure written in digits.",
        "Support each paragraph of your answer to this with a number in digits.",
        "Do not write a paragraph without a number in digits.",
        "Every paragraph: at least one number in digits.",
        "Each paragraph includes a figure in digits."),
        const(), lambda p, kw: bool(T.numbers(p)), lambda p, kw: T.inject(p, "in 3 days")),
    composed("compose:first_paragraph_one_sentence", "structure", "first paragraph", _phr(
        "Make the first paragraph a single sentence.",
        "Open with a one-sentence paragraph that states the answer, then leave a blank line before the "
        "explanation.",
        "Start this with a paragraph of exactly one sentence.",
        "Do not put more than one sentence in the opening paragraph.",
        "First paragraph: one sentence.",
        "The reply opens with a one-sentence paragraph."),
        const(), lambda p, kw: len(T.sentences(p)) == 1, _one_sentence_make, stage=0),
    composed("compose:sentence_max_commas", "punctuation", "each sentence", _phr(
        "Use at most {max_commas} commas in any sentence.",
        "Keep sentences simple: none of them may hold more than {max_commas} commas; split long ones instead.",
        "Write this up in sentences with no more than {max_commas} commas each.",
        "Do not put more than {max_commas} commas in one sentence.",
        "Commas per sentence: {max_commas} at most.",
        "No sentence with over {max_commas} commas."),
        one_of(max_commas=(1, 2)), lambda p, kw: p.count(",") <= kw["max_commas"], _comma_cap, stage=3),
    composed("compose:last_paragraph_opener", "position", "last paragraph", _phr(
        "Begin the last paragraph with \"{opener}\".",
        "Signal the end: the final paragraph of the reply starts with the words \"{opener}\" and sums up.",
        "Close your answer to this with a paragraph that opens \"{opener}\".",
        "Do not start the final paragraph with anything but \"{opener}\".",
        "Last paragraph opens with \"{opener}\".",
        "The concluding paragraph starts \"{opener}\"."),
        one_of(opener=("In short", "Overall", "To sum up")), _opener, _opener_make, stage=2),
]
