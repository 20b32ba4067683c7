"""Structure: the parts the answer is built from (a title, sections, a postscript, two answers,
a lead line, labelled parts, a signature).

Run as: wizardlite constraints --family structure
"""

from __future__ import annotations

import re

from wizardlite.constraints import text as T
from wizardlite.constraints.base import ConstraintType, Kwargs, const, ifeval_check, one_of, say

LEADS = ("In brief:", "Summary:", "Short answer:")
LABELS = (("Context", "Answer"), ("Claim", "Evidence", "Conclusion"), ("Problem", "Solution"),
          ("Overview", "Details", "Summary"))
NAMES = ("Alex", "Sam", "Robin", "Jo")
# What a title phrasing shows as an example, and titles that only stand in for one: none is a title.
TITLE_EXAMPLES = ("<<your title>>", "<<a fitting title>>", "<<title here>>", "<< and >>")
_NOT_TITLES = {"title", "title here", "your title", "a title", "the title", "a fitting title", "fitting title",
               "insert title", "title goes here", "a title here", "a good title", "your title here"}
_title_ifeval = ifeval_check("detectable_format:title")


def _title(response: str, kw: Kwargs) -> bool:
    titles = [t.strip("<> ").lower() for t in re.findall(r"<<[^\n]+>>", response)]
    return _title_ifeval(response, kw) and any(t and t not in _NOT_TITLES for t in titles)


def _sections_make(text: str, kw: Kwargs) -> str:
    n, sp = kw["num_sections"], kw["section_spliter"]
    text = T.set_paragraphs(text, n)
    for i, (a, _) in reversed(list(enumerate(T.paragraphs(text)))):
        text = text[:a] + f"{sp} {i + 1}\n" + text[a:]
    return text


def _two_make(text: str, kw: Kwargs) -> str:
    if "******" in text:
        return text
    text = T.set_paragraphs(text, max(2, len(T.paragraphs(text))))
    paras = T.paragraphs(text)
    cut = paras[len(paras) // 2][0]
    return text[:cut].rstrip() + "\n\n******\n\n" + text[cut:]


def _first_line(response: str) -> str:
    rows = T.lines(response)
    return rows[0].lstrip("\"'*#> ") if rows else ""


def _lead(response: str, kw: Kwargs) -> bool:
    first, lead = _first_line(response), kw["lead"]
    return (first.lower().startswith(lead.lower()) and bool(T.words(first[len(lead):]))
            and len(T.lines(response)) > 1)


def _labels(response: str, kw: Kwargs) -> bool:
    found = [m.group(1).lower() for m in re.finditer(r"^[\s*#>\"']*([A-Za-z]+)\*{0,2}:", response, re.M)
             if m.group(1).lower() in {x.lower() for x in kw["labels"]}]
    return found == [x.lower() for x in kw["labels"]]


def _labels_make(text: str, kw: Kwargs) -> str:
    labels = kw["labels"]
    text = re.sub(r"^([\s*#>]*)(" + "|".join(labels) + r")\*{0,2}:\s*", r"\1", text, flags=re.M | re.I)
    text = T.set_paragraphs(text, len(labels))
    for label, (a, _) in reversed(list(zip(labels, T.paragraphs(text), strict=True))):
        text = text[:a] + f"{label}: " + text[a:]
    return text


def _signed(response: str, kw: Kwargs) -> bool:
    rows = T.lines(response)
    return len(rows) > 1 and re.fullmatch(rf"— ?{re.escape(kw['name'])}[\"'”]?", rows[-1], re.I) is not None


def _sign(text: str, kw: Kwargs) -> str:
    body = "\n".join(ln for ln in text.rstrip().split("\n") if not re.match(r"\s*— ?\w+\s*$", ln)).rstrip()
    return f"{body}\n\n— {kw['name']}"


TYPES = [
    ConstraintType(
        "detectable_content:postscript", "structure", True,
        say(short="Add a postscript that opens with {postscript_marker}",
            long="After the main answer, add a short postscript: a final note that begins with "
                 "{postscript_marker} and adds one more thought.",
            woven="Once you have dealt with this, tack on a postscript opening with {postscript_marker}",
            negative="Do not end without a postscript; begin it with {postscript_marker}",
            plain="Close with a postscript whose first word is {postscript_marker}",
            held_out=("Put a {postscript_marker} note after the answer.",)),
        one_of(postscript_marker=("P.S.", "P.P.S")), ifeval_check("detectable_content:postscript"),
        lambda text, kw: text.rstrip() + f"\n\n{kw['postscript_marker']} Light comes first.", make_stage=2),
    ConstraintType(
        "detectable_format:multiple_sections", "structure", True,
        say(short="Split it into {num_sections} parts headed '{section_spliter} 1', '{section_spliter} 2' and "
                  "so on.",
            long="Organise the reply into {num_sections} sections, each opening with a line "
                 "'{section_spliter} N', where N is its number, counting from 1.",
            woven="Take this in {num_sections} sections, the first headed '{section_spliter} 1', the next "
                  "'{section_spliter} 2', and so on.",
            negative="Do not run everything together: write {num_sections} sections, each introduced by "
                     "'{section_spliter}' and its number.",
            plain="Use {num_sections} sections; begin each one with '{section_spliter} 1', '{section_spliter} 2' "
                  "and so on.",
            held_out=("{num_sections} numbered sections, each headed '{section_spliter}' plus its number.",)),
        one_of(section_spliter=("Section", "SECTION", "Part"), num_sections=(2, 3)),
        ifeval_check("detectable_format:multiple_sections"), _sections_make, make_stage=0),
    ConstraintType(
        "detectable_format:title", "structure", True,
        say(short="Give it a title in double angle brackets.",
            long="Put a title of your own at the top, wrapped in double angular brackets: two < signs before "
                 "it and two > signs after it.",
            woven="Head your answer to this with a title of your own between << and >>.",
            negative="Do not leave the reply untitled: write a title of your own between << and >>.",
            plain="Give the answer a title wrapped in double angle brackets, such as <<your title>>, with your "
                  "own words in it.",
            held_out=("Title the reply, enclosing the title in << and >>.",)),
        const(), _title, lambda text, kw: "<<Light Into Sugar>>\n\n" + text, make_stage=2,
        examples=TITLE_EXAMPLES),
    ConstraintType(
        "combination:two_responses", "structure", True,
        say(short="Give two different answers separated by ******.",
            long="Give two distinct replies to the same request, one after the other, with a line of exactly "
                 "six asterisks (******) between them and nowhere else.",
            woven="Answer this twice, in two different ways, parting the two by ******.",
            negative="Do not give just one answer: write two different ones, split by six asterisks.",
            plain="Write two distinct replies and separate them with six asterisks (******).",
            held_out=("Two alternative answers, with ****** between them.",)),
        const(), ifeval_check("combination:two_responses"), _two_make, make_stage=0),
    ConstraintType(
        "structure:lead_line", "structure", False,
        say(short="Open with a line starting '{lead}' that sums up the answer.",
            long="Put the gist first: the opening line begins with '{lead}' and gives the answer in one "
                 "sentence; the full explanation follows below it.",
            woven="Before going into the details of this, give a first line starting '{lead}' with the short "
                  "version.",
            negative="Do not bury the answer: the first line starts with '{lead}' and sums it up.",
            plain="First line: '{lead}' followed by a one-sentence summary; the rest follows.",
            held_out=("Lead with a '{lead}' line, then explain.",)),
        one_of(lead=LEADS), _lead, lambda text, kw: f"{kw['lead']} Here is the short version.\n\n{text}",
        make_stage=2),
    ConstraintType(
        "structure:labeled_parts", "structure", False,
        say(short="Use the parts {shown}, each starting with its label and a colon.",
            long="Structure the reply as labelled parts in this order: {shown}; each part starts on a new "
                 "line with its label followed by a colon, and each label is used once.",
            woven="Work through this under the labels {shown}, in that order, each written as 'Label:'.",
            negative="Do not change, repeat or reorder the labels {shown}; each opens its own part with a "
                     "colon.",
            plain="Labelled parts, in order: {shown} (label, colon, then the text).",
            held_out=("Parts labelled {shown}, in this order, each label followed by a colon.",)),
        lambda rng, ins: {"labels": list(rng.choice(LABELS))}, _labels, _labels_make, make_stage=0,
        display=lambda k: {**k, "shown": ", ".join(f"'{x}'" for x in k["labels"])}),
    ConstraintType(
        "structure:signature", "structure", False,
        say(short="Sign off on the last line as '— {name}'.",
            long="End the reply with a signature on a line of its own: an em dash, a space and the name "
                 "{name}, exactly '— {name}', with nothing after it.",
            woven="Write this as a note from {name}, signed '— {name}' on the final line.",
            negative="Do not end without the signature line '— {name}', and put nothing after it.",
            plain="Last line: the signature '— {name}'.",
            held_out=("Close with the line '— {name}'.",)),
        one_of(name=NAMES), _signed, _sign, make_stage=2),
]
