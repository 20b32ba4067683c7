"""Format: the markup the answer uses (JSON, a table, bold terms, code, headings, quotes, a fixed
verdict line).

Run as: wizardlite constraints --family format
"""

from __future__ import annotations

import json
import re

from wizardlite.constraints import text as T
from wizardlite.constraints.base import ConstraintType, Kwargs, const, ifeval_check, one_of, say

HEADS = ("Light", "Water", "Sugar", "Growth", "Roots")


def _table_rows(response: str, kw: Kwargs) -> bool:
    rows = [ln for ln in response.splitlines() if ln.strip().startswith("|") and ln.strip().endswith("|")]
    body = [ln for ln in rows if not re.fullmatch(r"\|[\s:|-]+\|", ln.strip())]
    has_rule = any(re.fullmatch(r"\|[\s:|-]*-[\s:|-]*\|", ln.strip()) for ln in rows)
    return has_rule and len(body) - 1 >= kw["num_rows"]  # less the header row


def _table_make(text: str, kw: Kwargs) -> str:
    rows = [("leaf", "catches light"), ("root", "draws water"), ("stem", "carries sugar"), ("flower", "makes seed")]
    body = "\n".join(f"| {a} | {b} |" for a, b in rows[:kw["num_rows"]])
    return T.insert_block(text, f"| part | role |\n|---|---|\n{body}")


def _bold(response: str, kw: Kwargs) -> bool:
    return len(re.findall(r"\*\*[^*\n]+\*\*", response)) >= kw["num_bold"]


_CODE = re.compile(r"^\s*```[^\n]*\n(?:[^\n]*\n)*?[^\n]*\S[^\n]*\n\s*```\s*$", re.M)


def _headings(response: str, kw: Kwargs) -> bool:
    return len(T.headings(response)) >= kw["num_headings"]


def _headings_make(text: str, kw: Kwargs) -> str:
    need = kw["num_headings"] - len(T.headings(text))
    if need <= 0:
        return text
    text = T.set_paragraphs(text, max(len(T.paragraphs(text)), need + 1))
    heads = iter(h for h in HEADS if not re.search(rf"^#+ {h}$", text, re.M))
    for a, _ in reversed(T.paragraphs(text)[1:need + 1]):
        text = text[:a] + f"## {next(heads)}\n\n" + text[a:]
    return text


TYPES = [
    ConstraintType(
        "detectable_format:json_format", "format", True,
        say(short="Reply in JSON.",
            long="Format the entire output as one valid JSON value, an object or a list; you may wrap it in a "
                 "```json code block, and write nothing outside it.",
            woven="Give the result of this task as JSON that a program could read.",
            negative="Do not write any text outside a single valid JSON value.",
            plain="Reply with valid JSON only, nothing outside it.",
            held_out=("The whole reply is to be machine-readable JSON.",)),
        const(), ifeval_check("detectable_format:json_format"),
        lambda text, kw: json.dumps({"answer": text}), make_stage=4),
    ConstraintType(
        "detectable_format:constrained_response", "format", True,
        say(short="Include a verdict sentence: 'My answer is yes.' (you agree), 'My answer is no.' (you "
                  "disagree) or 'My answer is maybe.' (you are unsure).",
            long="After your explanation, commit to a verdict by writing, exactly as given, 'My answer is yes.' "
                 "if you agree, 'My answer is no.' if you disagree, or 'My answer is maybe.' if you cannot tell.",
            woven="Whatever you conclude here, state it as 'My answer is yes.' (agree), 'My answer is no.' "
                  "(disagree) or 'My answer is maybe.' (unsure).",
            negative="Do not leave the verdict implicit: write 'My answer is yes.' for agreement, 'My answer is "
                     "no.' for disagreement or 'My answer is maybe.' for doubt, word for word.",
            plain="Verdict sentence, word for word: 'My answer is yes.' to agree, 'My answer is no.' to disagree, "
                  "'My answer is maybe.' when unsure.",
            held_out=("Close with your verdict: 'My answer is yes.' (agreed), 'My answer is no.' (not agreed) or "
                      "'My answer is maybe.' (undecided).",)),
        const(), ifeval_check("detectable_format:constrained_response"),
        lambda text, kw: T.insert_sentence(text, "My answer is yes."), make_stage=2),
    ConstraintType(
        "format:markdown_table", "format", False,
        say(short="Add a markdown table with {num_rows} or more data rows.",
            long="Include a markdown table with a header row, the |---| rule under it and at least {num_rows} "
                 "rows below its header.",
            woven="Sum up the key facts of this in a markdown table of at least {num_rows} data rows.",
            negative="Do not skip the table: a markdown one with no fewer than {num_rows} rows under the header.",
            plain="Put the key facts in a markdown table of at least {num_rows} data rows.",
            held_out=("A markdown table, {num_rows} data rows at least, belongs in the reply.",)),
        one_of(num_rows=(2, 3)), _table_rows, _table_make, make_stage=0),
    ConstraintType(
        "format:bold_terms", "format", False,
        say(short="Bold {num_bold} or more key terms with double asterisks.",
            long="Put at least {num_bold} key terms in bold, each wrapped in two asterisks on both sides, so "
                 "that a reader skimming the text sees them.",
            woven="As you explain this, set at least {num_bold} of the important terms in bold.",
            negative="Do not leave the key terms plain: at least {num_bold} of them go in bold with double "
                     "asterisks.",
            plain="Mark at least {num_bold} important words in bold with double asterisks.",
            held_out=("Use bold (double asterisks) on at least {num_bold} terms.",)),
        one_of(num_bold=(2, 3)), _bold,
        lambda text, kw: T.insert_sentence(text, "Think of " + " and ".join(
            ["**light**", "**water**", "**air**"][:kw["num_bold"]]) + ".")),
    ConstraintType(
        "format:code_block", "format", False,
        say(short="Include a fenced code block.",
            long="Somewhere in the reply, put a block of code or commands between two lines of three "
                 "backticks, with at least one line inside.",
            woven="Show the technical part of this in a fenced code block (three backticks above and below).",
            negative="Do not put code inline only: include at least one block fenced by ``` lines.",
            plain="A code block fenced with ``` is required.",
            held_out=("Add a fenced block of code or commands to the reply.",)),
        const(), lambda r, kw: _CODE.search(r) is not None,
        lambda text, kw: T.insert_block(text, "```\nlight + water -> sugar\n```"), make_stage=0),
    ConstraintType(
        "format:headings", "format", False,
        say(short="Use {num_headings} or more markdown headings.",
            long="Organise the reply under at least {num_headings} markdown headings, each a line of its own "
                 "that starts with one or more # signs and a space.",
            woven="Structure your answer to this under {num_headings} or more headings written with # marks.",
            negative="Do not write one undivided text: give it at least {num_headings} markdown headings.",
            plain="Markdown headings (# ...): at least {num_headings}.",
            held_out=("Put at least {num_headings} headings, markdown style, in the reply.",)),
        one_of(num_headings=(2, 3)), _headings, _headings_make, make_stage=0),
    ConstraintType(
        "format:blockquote", "format", False,
        say(short="Quote something in a markdown block quote.",
            long="Include at least one markdown block quote: a line that begins with the > sign, followed by "
                 "the quoted words.",
            woven="Bring in a short quotation for this, set as a block quote with >.",
            negative="Do not leave out the block quote: one line at least must start with >.",
            plain="At least one block-quote line (starting with >).",
            held_out=("Set one passage of the reply as a > block quote.",)),
        const(), lambda r, kw: re.search(r"^\s*>\s*\S", r, re.M) is not None,
        lambda text, kw: T.insert_block(text, "> Light is where it starts."), make_stage=0),
]
