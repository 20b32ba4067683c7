"""Punctuation: marks the answer must use or avoid (commas, exclamation marks, colons,
semicolons, parentheses, quotation marks around the whole reply).

Run as: wizardlite constraints --family punctuation
"""

from __future__ import annotations

import re

from wizardlite.constraints import text as T
from wizardlite.constraints.base import ConstraintType, Kwargs, const, ifeval_check, one_of, say


def _wrap_quotes(response: str, kw: Kwargs) -> str:
    text = response.strip()
    return text if len(text) > 1 and text[0] == text[-1] == '"' else f'"{text}"'


_PAREN = re.compile(r"\([^()\n]*[A-Za-z][^()\n]*\)")


def _parens_make(text: str, kw: Kwargs) -> str:
    asides = ["(the green parts)", "(and air)", "(in daylight)"]
    need = kw["num_parens"] - len(_PAREN.findall(text))
    return T.insert_sentence(text, "Leaves " + " hold water ".join(asides[:need]) + " matter.") if need > 0 else text


def _semis_make(text: str, kw: Kwargs) -> str:
    need = kw["num_semicolons"] - text.count(";")
    if need <= 0:
        return text
    return T.insert_sentence(text, "; ".join(["Light arrives", "the leaf responds", "sugar forms"][:need + 1]) + ".")


TYPES = [
    ConstraintType(
        "punctuation:no_comma", "punctuation", True,
        say(short="Use no commas.",
            long="Do not use a single comma anywhere in your reply; where one would go, start a new sentence "
                 "or rephrase.",
            woven="Write your answer to this without any commas.",
            negative="Leave out commas entirely: not one may appear.",
            plain="Write the whole answer without any commas.",
            held_out=("Not one comma in the reply.",)),
        const(), ifeval_check("punctuation:no_comma"), lambda text, kw: re.sub(r",\s*", " ", text), make_stage=3,
        repair=lambda r, kw: re.sub(r",\s*", " ", r)),
    ConstraintType(
        "startend:quotation", "punctuation", True,
        say(short="Put the reply in double quotes.",
            long="Put the whole reply inside double quotation marks: the very first character is \" and so is "
                 "the very last.",
            woven="Present your answer to this as one quotation, wrapped in double quotes.",
            negative="Do not leave the reply unquoted: open and close it with a double quotation mark.",
            plain="Wrap your entire answer in double quotes.",
            held_out=("Enclose all of the reply in a pair of double quotation marks.",)),
        const(), ifeval_check("startend:quotation"), _wrap_quotes, make_stage=4, repair=_wrap_quotes, repair_stage=3),
    ConstraintType(
        "punctuation:no_exclamation", "punctuation", False,
        say(short="Use no exclamation marks.",
            long="Keep the tone level and leave out exclamation marks altogether, even where something is "
                 "surprising.",
            woven="Answer this calmly, without any exclamation mark.",
            negative="Do not use any exclamation marks.",
            plain="Not a single exclamation mark may appear in the answer.",
            held_out=("The reply has no exclamation marks.",)),
        const(), lambda r, kw: "!" not in r, lambda text, kw: text.replace("!", "."), make_stage=3,
        repair=lambda r, kw: r.replace("!", ".")),
    ConstraintType(
        "punctuation:parentheses", "punctuation", False,
        say(short="Add {num_parens} or more remarks in parentheses.",
            long="Add side remarks in round brackets as you go: at least {num_parens} of them, each with some "
                 "words inside the brackets.",
            woven="Explain this with asides in parentheses, {num_parens} at least.",
            negative="Do not write fewer than {num_parens} parenthetical remarks.",
            plain="Parenthetical remarks in round brackets: at least {num_parens}.",
            held_out=("Use round brackets for at least {num_parens} asides.",)),
        one_of(num_parens=(1, 2, 3)), lambda r, kw: len(_PAREN.findall(r)) >= kw["num_parens"], _parens_make),
    ConstraintType(
        "punctuation:semicolons", "punctuation", False,
        say(short="Use at least {num_semicolons} semicolons.",
            long="Join closely related clauses with semicolons; the reply should hold {num_semicolons} or "
                 "more of them.",
            woven="Link the parts of your answer to this with semicolons, at least {num_semicolons}.",
            negative="Do not use fewer than {num_semicolons} semicolons.",
            plain="Semicolons in the reply: {num_semicolons} or more.",
            held_out=("Include a minimum of {num_semicolons} semicolons.",)),
        one_of(num_semicolons=(1, 2)), lambda r, kw: r.count(";") >= kw["num_semicolons"], _semis_make),
    ConstraintType(
        "punctuation:no_colons", "punctuation", False,
        say(short="Use no colons.",
            long="Write without colons: introduce lists and explanations with words or full sentences instead "
                 "of the : sign.",
            woven="Set out your answer to this without a single colon.",
            negative="Do not use the colon anywhere.",
            plain="Colons are not allowed in the reply.",
            held_out=("The reply contains no colon characters.",)),
        const(), lambda r, kw: ":" not in r, lambda text, kw: text.replace(":", " -"), make_stage=3),
]
