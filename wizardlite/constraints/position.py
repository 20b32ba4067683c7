"""Position: what comes first and last (a first word, an end phrase, a closing question, the
first word of a given paragraph, the very last word).

Run as: wizardlite constraints --family position
"""

from __future__ import annotations

import random
import re

from wizardlite.constraints import text as T
from wizardlite.constraints.base import (
    ConstraintType,
    Kwargs,
    const,
    content_words,
    ifeval_check,
    one_of,
    say,
)

END_PHRASES = ("That is all.", "Hope this helps.", "Any other questions?", "End of answer.", "Thanks for reading.")
START_WORDS = ("Certainly", "First", "Overall", "Briefly", "Honestly", "Today")
LAST_WORDS = {"together": "It all works together.", "today": "It matters today.", "again": "Read it again.",
              "forward": "Look forward.", "ahead": "Plan ahead."}


def _end_with(response: str, kw: Kwargs) -> str:
    text = response.rstrip()
    return text if text.lower().endswith(kw["end_phrase"].lower()) else f"{text}\n\n{kw['end_phrase']}"


def _end_make(text: str, kw: Kwargs) -> str:
    """The end phrase as the last sentence of the last paragraph (or on its own line)."""
    body = text.rstrip()
    if body.lower().endswith(kw["end_phrase"].lower()):
        return body
    return f"{body} {kw['end_phrase']}" if body[-1:] in ".!?" else f"{body}\n\n{kw['end_phrase']}"


def _starts_with(response: str, kw: Kwargs) -> bool:
    m = re.match(r"\W*([A-Za-z']+)", response)
    return m is not None and m.group(1).lower() == kw["first_word"].lower()


def _first_word_make(text: str, kw: Kwargs) -> str:
    w = kw["first_word"]
    if text[:1].isalpha():
        return f"{w} {text[0].lower()}{text[1:]}"
    return f"{w}.\n{text}"


def _nth(rng: random.Random, instruction: str) -> Kwargs | None:
    words = content_words(instruction)
    if not words:
        return None
    n = rng.choice((2, 3, 4))
    return {"num_paragraphs": n, "nth_paragraph": rng.randint(1, n), "first_word": rng.choice(words)}


def _nth_make(text: str, kw: Kwargs) -> str:
    n, k, w = kw["num_paragraphs"], kw["nth_paragraph"], kw["first_word"]
    chunks = [c.strip("\n") for c in text.split("\n\n") if c.strip()]
    while len(chunks) > n:
        chunks[-2] += "\n" + chunks.pop()
    while len(chunks) < n:
        sizes = [(len(T.sentences(c)), i) for i, c in enumerate(chunks)]
        size, i = max(sizes) if sizes else (0, -1)
        if size < 2:
            chunks.append(T.FILLER[len(chunks) % len(T.FILLER)])
            continue
        cut = T.sentences(chunks[i])[size // 2][0]
        chunks[i:i + 1] = [chunks[i][:cut].rstrip(), chunks[i][cut:]]
    first = re.match(r"['\"]*([^\s.,?!'\"]*)", chunks[k - 1].split()[0] if chunks[k - 1].split() else "")
    if not first or first.group(1).lower() != w:
        c = chunks[k - 1]
        chunks[k - 1] = f"{w.capitalize()} {c[0].lower()}{c[1:]}" if c[:1].isalpha() else f"{w.capitalize()}.\n{c}"
    return "\n\n".join(chunks)


def _ends_question_make(text: str, kw: Kwargs) -> str:
    body = text.rstrip()
    if body[-1:] in ".!":
        return body[:-1] + "?"
    return body + "\n\nIs that clear?"


def _last_word(response: str, kw: Kwargs) -> bool:
    w = T.words(response)
    return bool(w) and w[-1].lower() == kw["word"]


def _last_word_make(text: str, kw: Kwargs) -> str:
    return text.rstrip() + " " + LAST_WORDS[kw["word"]]


def _opens_with_question(response: str, kw: Kwargs) -> bool:
    s = T.sentences(response)
    return bool(s) and T.part(response, s[0]).rstrip("\"')*]”’").endswith("?")


def _opening_question_make(text: str, kw: Kwargs) -> str:
    s = T.sentences(text)
    if not s:
        return "Why does it matter? " + text
    a, b = s[0]
    first = text[a:b]
    m = re.search(r"[.!?]+(?=[\"')*\]”’]*$)", first)
    new = first[:m.start()] + "?" + first[m.end():] if m else first + "?"
    return text[:a] + new + text[b:]


TYPES = [
    ConstraintType(
        "startend:end_checker", "position", True,
        say(short="End with the exact words \"{end_phrase}\"",
            long="Finish your reply with the exact phrase \"{end_phrase}\" and write nothing after it, not even "
                 "a signature.",
            woven="Wrap this up by closing on the words \"{end_phrase}\"",
            negative="Do not write anything after the closing phrase \"{end_phrase}\"; it has to be last.",
            plain="The very last words of the answer must be \"{end_phrase}\"",
            held_out=("Sign off with \"{end_phrase}\" as the final words.",)),
        one_of(end_phrase=END_PHRASES), ifeval_check("startend:end_checker"), _end_make, make_stage=2,
        repair=_end_with, repair_stage=1),
    ConstraintType(
        "length_constraints:nth_paragraph_first_word", "position", True,
        say(short="Write {num_paragraphs} paragraphs split by blank lines; paragraph {nth_paragraph} opens with "
                  "'{first_word}'.",
            long="Use {num_paragraphs} paragraphs in all, with one empty line between each two and no other "
                 "blank lines, and let paragraph number {nth_paragraph} begin with the word '{first_word}'.",
            woven="Set this out in {num_paragraphs} paragraphs parted by blank lines, starting paragraph "
                  "{nth_paragraph} with '{first_word}'.",
            negative="Do not write more or fewer than {num_paragraphs} blank-line-separated paragraphs, and do "
                     "not open paragraph {nth_paragraph} with any word but '{first_word}'.",
            plain="Paragraphs: {num_paragraphs}, separated by empty lines. First word of paragraph "
                  "{nth_paragraph}: '{first_word}'.",
            held_out=("Make paragraph {nth_paragraph} of {num_paragraphs} (blank lines between them) begin "
                      "with '{first_word}'.",)),
        _nth, ifeval_check("length_constraints:nth_paragraph_first_word"), _nth_make, make_stage=0),
    ConstraintType(
        "startend:first_word", "position", False,
        say(short="Open with the word \"{first_word}\".",
            long="Begin your reply with the word \"{first_word}\", before any title, heading or greeting.",
            woven="Start your response to this with \"{first_word}\".",
            negative="Do not begin with any word other than \"{first_word}\".",
            plain="The first word of the answer must be \"{first_word}\".",
            held_out=("Let \"{first_word}\" be the reply's opening word.",)),
        one_of(first_word=START_WORDS), _starts_with, _first_word_make, make_stage=2),
    ConstraintType(
        "content:ends_with_question", "position", False,
        say(short="Close with a question to the reader.",
            long="End the reply with a question to the reader: the last character must be a question mark, "
                 "with nothing after it.",
            woven="Round off your answer to this by asking the reader something.",
            negative="Do not end on a statement: the final character is a question mark.",
            plain="Finish with a question for the reader, ending in a question mark.",
            held_out=("The reply's last sentence is a question to the reader.",)),
        const(), lambda r, kw: r.rstrip().endswith("?"), _ends_question_make, make_stage=2),
    ConstraintType(
        "position:last_word", "position", False,
        say(short="Make \"{word}\" the last word.",
            long="Arrange the closing sentence so that the very last word of the reply is \"{word}\"; only "
                 "punctuation may follow it.",
            woven="Bring this to an end with the word \"{word}\".",
            negative="Do not let any word come after the final \"{word}\".",
            plain="Final word of the reply: \"{word}\".",
            held_out=("The reply's closing word has to be \"{word}\".",)),
        one_of(word=tuple(LAST_WORDS)), _last_word, _last_word_make, make_stage=2),
    ConstraintType(
        "position:opening_question", "position", False,
        say(short="Open with a question.",
            long="Let the very first sentence of the reply be a question, ending in a question mark, that the "
                 "rest then answers.",
            woven="Lead into this by asking a question in your first sentence.",
            negative="Do not start with a statement: the first sentence is a question.",
            plain="The first sentence must be a question.",
            held_out=("Begin by posing a question.",)),
        const(), _opens_with_question, _opening_question_make, make_stage=2),
]
