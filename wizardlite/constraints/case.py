"""Case: capital and small letters (all lowercase, all capitals, sentences that open with a
capital, no words in full capitals).

Run as: wizardlite constraints --family case
"""

from __future__ import annotations

import re

from wizardlite.constraints import text as T
from wizardlite.constraints.base import ConstraintType, Kwargs, const, ifeval_check, say


def _capitalized(response: str, kw: Kwargs) -> bool:
    spans = T.sentences(response)
    return bool(spans) and all(T.first_letter(s).isupper() for s in T.parts(response, spans))


def _capitalize_sentences(text: str, kw: Kwargs) -> str:
    def up(s: str) -> str:
        m = re.search(r"[A-Za-z]", s)
        return s if m is None else s[:m.start()] + m.group().upper() + s[m.end():]
    return T.rewrite(text, T.sentences(text), up)


_CAPS = re.compile(r"\b[A-Z]{2,}\b")


TYPES = [
    ConstraintType(
        "change_case:english_lowercase", "case", True,
        say(short="Use small letters only.",
            long="Write your entire reply in lowercase letters, with no capitals at all, not even at the start "
                 "of a sentence or in names.",
            woven="Answer this entirely in lowercase.",
            negative="Do not use a single capital letter.",
            plain="Use only lowercase letters in the answer; capital letters are not allowed.",
            held_out=("Every letter of the reply in lower case.",)),
        const(), ifeval_check("change_case:english_lowercase"), lambda text, kw: text.lower(), make_stage=3,
        repair=lambda r, kw: r.lower(), repair_stage=2),
    ConstraintType(
        "change_case:english_capital", "case", True,
        say(short="Write it all in capitals.",
            long="Write your entire reply in capital letters, every word of it, as if the caps-lock key were "
                 "stuck.",
            woven="Give your answer to this in uppercase from start to finish.",
            negative="Do not use any lowercase letter.",
            plain="The whole answer must be in uppercase letters only.",
            held_out=("Every letter of the reply in upper case.",)),
        const(), ifeval_check("change_case:english_capital"), lambda text, kw: text.upper(), make_stage=3,
        repair=lambda r, kw: r.upper(), repair_stage=2),
    ConstraintType(
        "case:capitalized_sentences", "case", False,
        say(short="Start every sentence with a capital letter.",
            long="Follow ordinary sentence case throughout: each sentence, list item and heading begins with a "
                 "capital letter.",
            woven="Write this up in careful sentence case, each sentence opening with a capital.",
            negative="Do not begin any sentence with a small letter.",
            plain="Capital letter at the start of every sentence.",
            held_out=("Each sentence opens with an uppercase letter.",)),
        const(), _capitalized, _capitalize_sentences, make_stage=3, repair=_capitalize_sentences, repair_stage=2),
    ConstraintType(
        "case:no_all_caps", "case", False,
        say(short="Write no word in full capitals.",
            long="Keep the tone calm: no word of two or more letters may be written entirely in capitals, "
                 "acronyms included.",
            woven="Explain this without shouting: no words in all capitals.",
            negative="Do not write any word entirely in uppercase.",
            plain="Words in all capitals are not allowed.",
            held_out=("No all-caps words anywhere in the reply.",)),
        const(), lambda r, kw: _CAPS.search(r) is None,
        lambda text, kw: _CAPS.sub(lambda m: m.group().capitalize(), text), make_stage=3,
        repair=lambda r, kw: _CAPS.sub(lambda m: m.group().capitalize(), r), repair_stage=2),
]
