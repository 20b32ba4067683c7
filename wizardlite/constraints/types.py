"""The constraint types: phrasings (the project's own words), parameter samplers and checkers.

Adding a type is one `ConstraintType` in `_TYPES`. Ids of types that IFEval also has are IFEval's
own ids, with IFEval's kwargs, and are checked by IFEval's checkers (from `if-verifiable`), so a
constrained record can be written out in IFEval's format and scored by any IFEval scorer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wizardlite.constraints.ifeval import ifeval_checkers

Kwargs = dict[str, Any]


@dataclass(frozen=True)
class ConstraintType:
    id: str
    family: str  # length | keywords | format | case | punctuation | startend | content | combination
    in_ifeval: bool
    phrasings: tuple[str, ...]  # str.format templates over `display(kwargs)`
    sample: Callable[[random.Random, str], Kwargs | None]  # None: nothing in this instruction to build on
    check: Callable[[str, Kwargs], bool]
    conflicts: frozenset[str] = field(default_factory=frozenset)
    display: Callable[[Kwargs], Kwargs] = lambda k: k
    # A pure text transform that makes an answer comply and keeps its content (lowercasing,
    # wrapping in quotes...), for `verify.repair`; None where compliance needs new content.
    repair: Callable[[str, Kwargs], str] | None = None
    repair_stage: int = 0  # repairs run in this order: edits, then appended text, case, wrapping


# ---------------------------------------------------------------------------- IFEval's checkers


def _ifeval(tid: str) -> Callable[[str, Kwargs], bool]:
    """A checker that runs IFEval's own check for `tid` with these kwargs."""

    def check(response: str, kwargs: Kwargs) -> bool:
        checker = ifeval_checkers()[tid](tid)
        checker.build_description(**{k: v for k, v in kwargs.items() if v is not None})
        return bool(response.strip()) and bool(checker.check_following(response))

    return check


# ---------------------------------------------------------------------------- samplers

_STOP = frozenset("""a about above after again all also an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having here
how i if in into is it its itself just me more most my no nor not now of off on once only or other our out over
own same should so some such than that the their them then there these they this those through to too under until
up very was we were what when where which while who whom why will with would you your give write explain describe
list make create provide using given following answer question task example examples please word words""".split())

_FILLERS = ("very", "really", "basically", "actually", "simply", "just", "quite", "thing", "stuff", "nice")
_END_PHRASES = ("That is all.", "Hope this helps.", "Any other questions?", "End of answer.", "Thanks for reading.")
_START_WORDS = ("Certainly", "First", "Overall", "Briefly", "Honestly", "Today")


def _content_words(instruction: str) -> list[str]:
    seen: dict[str, None] = {}
    for w in re.findall(r"[A-Za-z]{4,}", instruction.lower()):
        if w not in _STOP:
            seen.setdefault(w)
    return list(seen)


def _keywords(rng: random.Random, instruction: str) -> Kwargs | None:
    words = _content_words(instruction)
    if not words:
        return None
    return {"keywords": rng.sample(words, k=min(len(words), rng.choice((1, 2))))}


def _keyword_frequency(rng: random.Random, instruction: str) -> Kwargs | None:
    words = _content_words(instruction)
    if not words:
        return None
    return {"keyword": rng.choice(words), "frequency": rng.choice((2, 3)), "relation": "at least"}


def _forbidden(rng: random.Random, instruction: str) -> Kwargs | None:
    free = [w for w in _FILLERS if not re.search(rf"\b{w}\b", instruction, re.I)]
    return {"forbidden_words": rng.sample(free, k=min(len(free), 2))} if free else None


def _number_words(rng: random.Random, instruction: str) -> Kwargs:
    if rng.random() < 0.5:
        return {"num_words": rng.choice((40, 60, 80, 100)), "relation": "less than"}
    return {"num_words": rng.choice((30, 50, 80)), "relation": "at least"}


def _quoted(words: list[str]) -> str:
    q = [f"'{w}'" for w in words]
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + " and " + q[-1]


# ---------------------------------------------------------------------------- own checkers (types IFEval lacks)


def _numbered_steps(response: str, kw: Kwargs) -> bool:
    return len(re.findall(r"^\s*\d+[.)]\s+\S", response, re.M)) == kw["num_steps"]


def _starts_with(response: str, kw: Kwargs) -> bool:
    m = re.match(r"\W*([A-Za-z']+)", response)
    return m is not None and m.group(1).lower() == kw["first_word"].lower()


def _table_rows(response: str, kw: Kwargs) -> bool:
    rows = [ln for ln in response.splitlines() if ln.strip().startswith("|") and ln.strip().endswith("|")]
    body = [ln for ln in rows if not re.fullmatch(r"\|[\s:|-]+\|", ln.strip())]
    has_rule = any(re.fullmatch(r"\|[\s:|-]*-[\s:|-]*\|", ln.strip()) for ln in rows)
    return has_rule and len(body) - 1 >= kw["num_rows"]  # less the header row


def _max_chars(response: str, kw: Kwargs) -> bool:
    return 0 < len(response.strip()) <= kw["max_chars"]


def _no_exclamation(response: str, kw: Kwargs) -> bool:
    return "!" not in response


def _bold_terms(response: str, kw: Kwargs) -> bool:
    return len(re.findall(r"\*\*[^*\n]+\*\*", response)) >= kw["num_bold"]


def _ends_with_question(response: str, kw: Kwargs) -> bool:
    return response.rstrip().endswith("?")


# ---------------------------------------------------------------------------- repairs (verify.repair)


def _end_with(response: str, kw: Kwargs) -> str:
    text = response.rstrip()
    return text if text.lower().endswith(kw["end_phrase"].lower()) else f"{text}\n\n{kw['end_phrase']}"


def _wrap_quotes(response: str, kw: Kwargs) -> str:
    text = response.strip()
    return text if len(text) > 1 and text[0] == text[-1] == '"' else f'"{text}"'


# ---------------------------------------------------------------------------- the table

_FORMATS = {"detectable_format:json_format", "detectable_format:number_bullet_lists", "format:numbered_steps",
            "format:markdown_table", "detectable_format:multiple_sections", "length_constraints:number_paragraphs",
            "startend:quotation", "combination:two_responses"}

_TYPES: list[ConstraintType] = [
    # -- IFEval's types, with IFEval's ids and kwargs
    ConstraintType(
        "punctuation:no_comma", "punctuation", True,
        ("Do not use a single comma anywhere in your reply.", "Write the whole answer without any commas.",
         "Leave out commas entirely: not one may appear."),
        lambda rng, ins: {}, _ifeval("punctuation:no_comma"),
        repair=lambda r, kw: re.sub(r",\s*", " ", r)),
    ConstraintType(
        "change_case:english_lowercase", "case", True,
        ("Write your entire reply in lowercase letters, with no capitals at all.",
         "Use only lowercase letters in the answer; capital letters are not allowed."),
        lambda rng, ins: {}, _ifeval("change_case:english_lowercase"),
        frozenset({"change_case:english_capital", "detectable_format:title",
                   "startend:first_word", "format:bold_terms"}),
        repair=lambda r, kw: r.lower(), repair_stage=2),
    ConstraintType(
        "change_case:english_capital", "case", True,
        ("Write your entire reply in capital letters.", "The whole answer must be in uppercase letters only."),
        lambda rng, ins: {}, _ifeval("change_case:english_capital"),
        frozenset({"keywords:existence", "keywords:frequency",
                   "startend:end_checker", "detectable_content:postscript", "startend:first_word"}),
        repair=lambda r, kw: r.upper(), repair_stage=2),
    ConstraintType(
        "length_constraints:number_words", "length", True,
        ("Your answer should contain {relation} {num_words} words.", "Keep the reply to {relation} {num_words} words.",
         "Aim for {relation} {num_words} words in total."),
        _number_words, _ifeval("length_constraints:number_words"),
        frozenset({"length:max_characters"})),
    ConstraintType(
        "length_constraints:number_paragraphs", "length", True,
        ("Write exactly {num_paragraphs} paragraphs, and put a line with only *** between consecutive paragraphs.",
         "Split the reply into {num_paragraphs} paragraphs separated from each other by the markdown divider ***."),
        lambda rng, ins: {"num_paragraphs": rng.choice((2, 3))}, _ifeval("length_constraints:number_paragraphs"),
        frozenset(_FORMATS)),
    ConstraintType(
        "detectable_format:number_bullet_lists", "format", True,
        ("Answer with exactly {num_bullets} bullet points, each a markdown item starting with '* '.",
         "Use exactly {num_bullets} bullet points (markdown, like: * point) and no other list items."),
        lambda rng, ins: {"num_bullets": rng.choice((2, 3, 4, 5))}, _ifeval("detectable_format:number_bullet_lists"),
        frozenset(_FORMATS)),
    ConstraintType(
        "detectable_format:title", "format", True,
        ("Give the answer a title wrapped in double angle brackets, such as <<a fitting title>>.",
         "Start with a title inside double angular brackets, like <<title here>>."),
        lambda rng, ins: {}, _ifeval("detectable_format:title"),
        frozenset({"startend:quotation", "detectable_format:json_format", "startend:first_word"})),
    ConstraintType(
        "detectable_format:json_format", "format", True,
        ("Format the entire output as JSON; you may wrap it in a ```json code block.",
         "Reply with valid JSON only, nothing outside it."),
        lambda rng, ins: {}, _ifeval("detectable_format:json_format"),
        frozenset(_FORMATS | {"detectable_content:postscript", "startend:end_checker", "detectable_format:title",
                              "detectable_format:number_highlighted_sections", "detectable_content:number_placeholders",
                              "startend:first_word", "content:ends_with_question", "format:bold_terms",
                              "change_case:english_capital"})),
    ConstraintType(
        "detectable_format:number_highlighted_sections", "format", True,
        ("Highlight at least {num_highlights} parts of the answer with markdown italics, e.g. *a highlighted part*.",
         "Mark at least {num_highlights} key passages with single asterisks, like *this*."),
        lambda rng, ins: {"num_highlights": rng.choice((2, 3))},
        _ifeval("detectable_format:number_highlighted_sections")),
    ConstraintType(
        "detectable_format:multiple_sections", "format", True,
        ("Organise the reply into {num_sections} sections, each opening with a line '{section_spliter} N', "
         "where N is its number.",
         "Use {num_sections} sections; begin each one with '{section_spliter} 1', '{section_spliter} 2' and so on."),
        lambda rng, ins: {"section_spliter": rng.choice(("Section", "SECTION", "Part")),
                          "num_sections": rng.choice((2, 3))},
        _ifeval("detectable_format:multiple_sections"), frozenset(_FORMATS)),
    ConstraintType(
        "detectable_content:postscript", "content", True,
        ("After the answer, add a postscript that begins with {postscript_marker}",
         "Close with a postscript starting with {postscript_marker}"),
        lambda rng, ins: {"postscript_marker": rng.choice(("P.S.", "P.P.S"))},
        _ifeval("detectable_content:postscript"),
        frozenset({"startend:end_checker", "startend:quotation", "content:ends_with_question"})),
    ConstraintType(
        "detectable_content:number_placeholders", "content", True,
        ("Include at least {num_placeholders} placeholders in square brackets, such as [name] or [date].",
         "Leave at least {num_placeholders} fill-in placeholders written in square brackets, like [address]."),
        lambda rng, ins: {"num_placeholders": rng.choice((1, 2, 3))},
        _ifeval("detectable_content:number_placeholders")),
    ConstraintType(
        "keywords:existence", "keywords", True,
        ("Make sure the words {keywords} appear in your answer.", "Your reply must mention {keywords}."),
        _keywords, _ifeval("keywords:existence"), display=lambda k: {"keywords": _quoted(k["keywords"])}),
    ConstraintType(
        "keywords:frequency", "keywords", True,
        ("Use the word '{keyword}' {relation} {frequency} times.",
         "The word '{keyword}' should appear {relation} {frequency} times in the answer."),
        _keyword_frequency, _ifeval("keywords:frequency")),
    ConstraintType(
        "keywords:forbidden_words", "keywords", True,
        ("Do not use the words {forbidden_words}.", "Avoid the words {forbidden_words} completely."),
        _forbidden, _ifeval("keywords:forbidden_words"),
        display=lambda k: {"forbidden_words": _quoted(k["forbidden_words"])}),
    ConstraintType(
        "startend:end_checker", "startend", True,
        ("Finish your reply with the exact phrase \"{end_phrase}\" and write nothing after it.",
         "The very last words of the answer must be \"{end_phrase}\""),
        lambda rng, ins: {"end_phrase": rng.choice(_END_PHRASES)}, _ifeval("startend:end_checker"),
        frozenset({"startend:quotation", "content:ends_with_question", "combination:two_responses"}),
        repair=_end_with, repair_stage=1),
    ConstraintType(
        "startend:quotation", "startend", True,
        ("Put the whole reply inside double quotation marks.", "Wrap your entire answer in double quotes."),
        lambda rng, ins: {}, _ifeval("startend:quotation"),
        frozenset({"content:ends_with_question", "startend:first_word"}), repair=_wrap_quotes, repair_stage=3),
    ConstraintType(
        "combination:two_responses", "combination", True,
        ("Give two different answers, separated by a line of six asterisks: ******.",
         "Write two distinct replies and separate them with six asterisks (******)."),
        lambda rng, ins: {}, _ifeval("combination:two_responses"), frozenset(_FORMATS)),
    # -- types of our own, which IFEval does not have
    ConstraintType(
        "format:numbered_steps", "format", False,
        ("Lay the answer out as exactly {num_steps} numbered steps (1., 2., ...).",
         "Present it as a numbered list of exactly {num_steps} steps."),
        lambda rng, ins: {"num_steps": rng.choice((3, 4, 5))}, _numbered_steps, frozenset(_FORMATS)),
    ConstraintType(
        "startend:first_word", "startend", False,
        ("Begin your reply with the word \"{first_word}\".", "The first word of the answer must be \"{first_word}\"."),
        lambda rng, ins: {"first_word": rng.choice(_START_WORDS)}, _starts_with),
    ConstraintType(
        "format:markdown_table", "format", False,
        ("Include a markdown table with at least {num_rows} rows below its header.",
         "Put the key facts in a markdown table of at least {num_rows} data rows."),
        lambda rng, ins: {"num_rows": rng.choice((2, 3))}, _table_rows, frozenset(_FORMATS)),
    ConstraintType(
        "length:max_characters", "length", False,
        ("Keep the whole reply under {max_chars} characters.", "Use no more than {max_chars} characters in total."),
        lambda rng, ins: {"max_chars": rng.choice((300, 500, 800))}, _max_chars,
        frozenset({"length_constraints:number_paragraphs", "combination:two_responses"})),
    ConstraintType(
        "punctuation:no_exclamation", "punctuation", False,
        ("Do not use any exclamation marks.", "Not a single exclamation mark may appear in the answer."),
        lambda rng, ins: {}, _no_exclamation, repair=lambda r, kw: r.replace("!", ".")),
    ConstraintType(
        "format:bold_terms", "format", False,
        ("Put at least {num_bold} key terms in bold, written like **term**.",
         "Mark at least {num_bold} important words in bold with double asterisks."),
        lambda rng, ins: {"num_bold": rng.choice((2, 3))}, _bold_terms,
        frozenset({"detectable_format:number_highlighted_sections"})),
    ConstraintType(
        "content:ends_with_question", "content", False,
        ("End the reply with a question to the reader: the last character must be a question mark.",
         "Finish with a question for the reader, ending in a question mark."),
        lambda rng, ins: {}, _ends_with_question),
]

TYPES: dict[str, ConstraintType] = {t.id: t for t in _TYPES}
