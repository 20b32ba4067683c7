"""Test-only types: constraints IFEval does not have and evolution never draws, kept for the
new-type test set (an answer's gain there cannot come from training on the type).

Run as: wizardlite constraints --tag test-only
"""

from __future__ import annotations

import re
from collections.abc import Callable

from wizardlite.constraints import text as T
from wizardlite.constraints.base import ConstraintType, Kwargs, const, one_of, say

_LEAD_WORDS = {"L": "Light", "E": "Energy", "A": "Air", "F": "Food", "S": "Sun", "T": "Time", "M": "Moisture",
               "R": "Roots", "O": "Oxygen", "D": "Dew", "G": "Growth", "W": "Water", "P": "Plants", "N": "Nature"}
_PADDING = ("as", "well", "too", "in", "turn", "over", "time")
_TERM_LINE = re.compile(r"^\s*(?:[-*+]\s+)?\*\*[^*\n]+\*\*:\s+\S", re.M)
_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+\S", re.M)


def _ends_with_word(response: str, kw: Kwargs) -> bool:
    got = [T.words(s) for s in T.parts(response, T.sentences(response))]
    return bool(got) and all(w and w[-1].lower() == kw["word"] for w in got)


def _end_each_sentence(word: str) -> Callable[[str], str]:
    def fix(s: str) -> str:
        found = list(T.WORD.finditer(s))
        if found and found[-1].group().lower() == word:
            return s
        at = found[-1].end() if found else len(s)
        return s[:at] + " " + word + s[at:]
    return fix


def _levels(response: str) -> list[int]:
    return [0 if i == 0 else 1 if i <= 5 else 2 for i, _ in T.item_levels(response)]


def _nested(response: str, kw: Kwargs) -> bool:
    lv = _levels(response)
    return bool(lv) and lv[0] == 0 and 2 not in lv and lv.count(1) == kw["num_sub"]


def _nested_make(text: str, kw: Kwargs) -> str:
    text = re.sub(r"^(\s*)(?:[-*+]|\d+[.)])\s+(?=\S)", "", text, flags=re.M)
    subs = ["catches light", "holds water", "makes sugar", "draws water", "holds the soil", "stores food"]
    n = kw["num_sub"]
    first, second = subs[:(n + 1) // 2], subs[3:3 + n // 2]
    block = "- Leaf\n" + "".join(f"  - {s}\n" for s in first) + "- Root\n" + "".join(f"  - {s}\n" for s in second)
    return T.insert_block(text, block.rstrip())


def _dups(sentence: str) -> bool:
    w = [x.lower() for x in T.words(sentence) if len(x) > 1]
    return len(w) != len(set(w))


def _dedup(s: str) -> str:
    seen: set[str] = set()

    def once(m: re.Match[str]) -> str:
        w = m.group().lower()
        if len(w) > 1 and w in seen:
            return ""
        seen.add(w)
        return m.group()
    return re.sub(r"\s{2,}", " ", T.WORD.sub(once, s))


def _acrostic(response: str, kw: Kwargs) -> bool:
    got = "".join(T.first_letter(p) for p in T.parts(response, T.paragraphs(response)))
    return got.upper() == kw["word"]


def _acrostic_make(text: str, kw: Kwargs) -> str:
    word = kw["word"]
    text = T.set_paragraphs(text, len(word))
    for letter, (a, _) in reversed(list(zip(word, T.paragraphs(text), strict=True))):
        if T.first_letter(text[a:]).upper() != letter:
            sep = " " if text[a:a + 1].isalpha() else "\n"
            text = text[:a] + f"{_LEAD_WORDS[letter]} matters.{sep}" + text[a:]
    return text


def _growing(response: str, kw: Kwargs) -> bool:
    sizes = [T.count_words(p) for p in T.parts(response, T.paragraphs(response))]
    return len(sizes) == kw["num_paragraphs"] and all(x < y for x, y in zip(sizes, sizes[1:], strict=False))


def _growing_make(text: str, kw: Kwargs) -> str:
    text = T.set_paragraphs(text, kw["num_paragraphs"])
    for i in range(1, kw["num_paragraphs"]):
        for _ in range(30):
            paras = T.paragraphs(text)
            if T.count_words(T.part(text, paras[i])) > T.count_words(T.part(text, paras[i - 1])):
                break
            a, b = paras[i]
            inner = [s for s in T.sentences(text) if a <= s[0] < b]
            at = inner[0][1] if len(inner) > 1 else b
            text = text[:at] + " " + T.FILLER[i % len(T.FILLER)] + text[at:]
    return text


def _one_question_each(response: str, kw: Kwargs) -> bool:
    paras = T.parts(response, T.paragraphs(response))
    return bool(paras) and all(p.count("?") == 1 for p in paras)


def _one_question(p: str) -> str:
    while p.count("?") > 1:
        p = p.replace("?", ".", 1)
    s = T.longest_sentence(p)
    if "?" not in p and s:
        return p[:s[1] - 1] + "?" + p[s[1]:] if p[s[1] - 1] in ".!" else p[:s[1]] + "?" + p[s[1]:]
    return p


def _short_words_make(text: str, kw: Kwargs) -> str:
    return re.sub(r"[ \t]{2,}", " ", T.WORD.sub(lambda m: m.group() if len(m.group()) <= kw["max_len"] else "", text))


def _first_last(response: str, kw: Kwargs) -> bool:
    w = T.words(response)
    return len(w) > 1 and w[0].lower() == w[-1].lower()


def _exact_words(n: int) -> Callable[[str], str]:
    def fix(s: str) -> str:
        end = re.search(r"[.!?]+[\"')\]*]*$", s)
        tail = end.group() if end else ""
        body = s[:end.start()] if end else s
        toks = body.split()
        while T.count_words(" ".join(toks)) > n and len(toks) > 1:
            toks.pop()
        i = 0
        while T.count_words(" ".join(toks)) < n:
            toks.append(_PADDING[i % len(_PADDING)])
            i += 1
        return " ".join(toks) + tail
    return fix


def _countdown(response: str, kw: Kwargs) -> bool:
    return [int(x) for x in _NUMBERED.findall(response)] == list(range(kw["start"], 0, -1))


def _countdown_make(text: str, kw: Kwargs) -> str:
    text = re.sub(r"^(\s*)\d+[.)]\s+", r"\1", text, flags=re.M)
    return T.insert_block(text, "\n".join(f"{n}. {T.FILLER[n % len(T.FILLER)]}" for n in range(kw["start"], 0, -1)))


def _alternating(response: str, kw: Kwargs) -> bool:
    paras = T.parts(response, T.paragraphs(response))
    return len(paras) >= 2 and all((p == p.lower()) if i % 2 == 0 else (p == p.upper()) for i, p in enumerate(paras))


def _alternating_make(text: str, kw: Kwargs) -> str:
    text = T.set_paragraphs(text, max(2, len(T.paragraphs(text))))
    for i, (a, b) in reversed(list(enumerate(T.paragraphs(text)))):
        text = text[:a] + (text[a:b].lower() if i % 2 == 0 else text[a:b].upper()) + text[b:]
    return text


def _terms_make(text: str, kw: Kwargs) -> str:
    text = re.sub(r"\*\*([^*\n]+)\*\*:", r"\1 -", text)
    terms = [("Leaf", "where light is caught."), ("Root", "where water comes in."), ("Stem", "what carries sugar."),
             ("Seed", "what the plant leaves behind.")]
    return T.insert_block(text, "\n".join(f"**{t}**: {d}" for t, d in terms[:kw["num_terms"]]))


TYPES = [
    ConstraintType(
        "position:sentence_end_word", "position", False,
        say(short="End every sentence with the word \"{word}\".",
            long="Shape each sentence so that its final word, just before the full stop or other mark, is "
                 "\"{word}\", with no exception.",
            woven="Answer this in sentences that all close on the word \"{word}\".",
            negative="Do not let any sentence finish on a word other than \"{word}\".",
            plain="Last word of each sentence: \"{word}\".",
            held_out=("Every sentence's closing word is \"{word}\".",)),
        one_of(word=("today", "here", "now", "again")), _ends_with_word,
        lambda text, kw: T.rewrite(text, T.sentences(text), _end_each_sentence(kw["word"])), make_stage=3,
        test_only=True),
    ConstraintType(
        "structure:nested_bullets", "structure", False,
        say(short="Use a bulleted list with exactly {num_sub} sub-items nested one level down.",
            long="Include a bulleted list that goes two levels deep: top-level bullets, and under them exactly "
                 "{num_sub} indented sub-bullets in all, with nothing nested deeper.",
            woven="Organise this as a two-level bullet list holding exactly {num_sub} indented sub-points.",
            negative="Do not nest deeper than two levels, and do not write more or fewer than {num_sub} "
                     "second-level bullets.",
            plain="Two-level bullet list: exactly {num_sub} indented sub-items.",
            held_out=("A nested list (two levels), {num_sub} sub-bullets in total.",)),
        one_of(num_sub=(2, 3, 4)), _nested, _nested_make, make_stage=0, test_only=True),
    ConstraintType(
        "repetition:no_repeat_in_sentence", "repetition", False,
        say(short="Never use a word twice in one sentence.",
            long="Within each sentence every word must be different: no word of two or more letters may occur "
                 "twice in the same sentence, small words like 'the' included.",
            woven="Write this so that no sentence repeats any of its words.",
            negative="Do not repeat a word inside a sentence.",
            plain="Each sentence uses each of its words once.",
            held_out=("No sentence may contain the same word twice.",)),
        const(), lambda r, kw: bool(T.sentences(r)) and not any(_dups(s) for s in T.parts(r, T.sentences(r))),
        lambda text, kw: T.rewrite(text, T.sentences(text), _dedup), make_stage=3, test_only=True),
    ConstraintType(
        "ordering:acrostic", "ordering", False,
        say(short="Write {n} paragraphs whose first letters spell {word}.",
            long="Make the answer an acrostic: exactly {n} paragraphs, and reading the first letter of each "
                 "paragraph from top to bottom spells {word}.",
            woven="Hide the word {word} in this: {n} paragraphs, one for each of its letters, in order.",
            negative="Do not write more or fewer than {n} paragraphs, and do not start them with letters "
                     "that fail to spell {word}.",
            plain="Paragraph first letters, in order, spell {word}; {n} paragraphs.",
            held_out=("The initials of the {n} paragraphs spell {word}.",)),
        one_of(word=("LEAF", "STEM", "ROOT", "SEED", "GROW")), _acrostic, _acrostic_make, make_stage=0,
        display=lambda k: {**k, "n": len(k["word"])}, test_only=True),
    ConstraintType(
        "ordering:growing_paragraphs", "ordering", False,
        say(short="Write {num_paragraphs} paragraphs, each longer than the one before.",
            long="Let the answer build up: exactly {num_paragraphs} paragraphs, and each one has more words "
                 "than the paragraph just above it.",
            woven="Develop this over {num_paragraphs} paragraphs that grow longer one after another.",
            negative="Do not let any paragraph be as short as or shorter than the one before it; write "
                     "{num_paragraphs}.",
            plain="{num_paragraphs} paragraphs in increasing length (in words).",
            held_out=("Each of the {num_paragraphs} paragraphs is wordier than the previous one.",)),
        one_of(num_paragraphs=(3, 4)), _growing, _growing_make, make_stage=0, test_only=True),
    ConstraintType(
        "punctuation:one_question_per_paragraph", "punctuation", False,
        say(short="Put exactly one question mark in each paragraph.",
            long="In every paragraph ask exactly one question: each paragraph holds a single question mark, "
                 "no more and no less.",
            woven="Raise one question, and only one, in each paragraph of your answer to this.",
            negative="Do not write a paragraph with no question or with two or more question marks.",
            plain="One question mark per paragraph.",
            held_out=("Every paragraph asks exactly one question.",)),
        const(), _one_question_each, lambda text, kw: T.rewrite(text, T.paragraphs(text), _one_question),
        make_stage=3, test_only=True),
    ConstraintType(
        "lexical:short_words", "lexical", False,
        say(short="Use no word longer than {max_len} letters.",
            long="Keep to plain short words: none of the words in the reply may have more than {max_len} "
                 "letters.",
            woven="Explain this with words of at most {max_len} letters each.",
            negative="Do not use any word of more than {max_len} letters.",
            plain="Longest word allowed: {max_len} letters.",
            held_out=("Every word at most {max_len} letters long.",)),
        one_of(max_len=(7, 8)), lambda r, kw: bool(T.words(r)) and max(len(w) for w in T.words(r)) <= kw["max_len"],
        _short_words_make, make_stage=3, test_only=True),
    ConstraintType(
        "position:first_last_same", "position", False,
        say(short="End on the same word you start with.",
            long="Come full circle: the very last word of the reply must be the same word as the very first "
                 "one.",
            woven="Make your answer to this begin and end with one and the same word.",
            negative="Do not end on a word different from your opening word.",
            plain="First word = last word.",
            held_out=("The reply opens and closes with the same word.",)),
        const(), _first_last,
        lambda text, kw: text.rstrip() + f" It all comes back to {T.words(text)[0].lower() if T.words(text) else 'this'}.",
        make_stage=2, test_only=True),
    ConstraintType(
        "length:sentence_word_count", "length", False,
        say(short="Make every sentence exactly {num} words long.",
            long="Count as you write: each sentence of the reply, headings and list items included, has "
                 "exactly {num} words.",
            woven="Answer this in sentences of exactly {num} words each.",
            negative="Do not write any sentence shorter or longer than {num} words.",
            plain="Words per sentence: exactly {num}.",
            held_out=("All sentences are {num} words long.",)),
        one_of(num=(6, 7, 8)),
        lambda r, kw: bool(T.sentences(r)) and all(T.count_words(s) == kw["num"] for s in T.parts(r, T.sentences(r))),
        lambda text, kw: T.rewrite(text, T.sentences(text), _exact_words(kw["num"])), make_stage=3, test_only=True),
    ConstraintType(
        "counting:countdown", "counting", False,
        say(short="Include a numbered list that counts down from {start} to 1.",
            long="Give a numbered list that runs backwards: its items are numbered {start}, then one less each "
                 "time, down to 1, and no other line is numbered.",
            woven="Rank the points of this as a countdown list numbered from {start} down to 1.",
            negative="Do not number upwards: the list goes {start}, ..., 1.",
            plain="Countdown list: {start} to 1.",
            held_out=("A numbered list from {start} down to 1.",)),
        one_of(start=(3, 4, 5)), _countdown, _countdown_make, make_stage=0, test_only=True),
    ConstraintType(
        "case:alternating_paragraphs", "case", False,
        say(short="Alternate the paragraphs: lowercase, then capitals, and so on.",
            long="Write two or more paragraphs and alternate their case: the first entirely in small letters, "
                 "the second entirely in capitals, the third in small letters again, and so on.",
            woven="Set this out in paragraphs that switch between all lowercase and all capitals, lowercase "
                  "first.",
            negative="Do not mix cases within a paragraph: odd paragraphs lowercase, even ones uppercase.",
            plain="Paragraph case alternates: lower, upper, lower...",
            held_out=("Paragraphs alternate between lowercase and uppercase, starting lowercase.",)),
        const(), _alternating, _alternating_make, make_stage=3, test_only=True),
    ConstraintType(
        "format:term_definitions", "format", False,
        say(short="Define exactly {num_terms} terms, each on a line as **term**: meaning.",
            long="Include a small glossary: exactly {num_terms} lines, each giving a term in bold, a colon and "
                 "then what it means.",
            woven="Explain the vocabulary of this in exactly {num_terms} glossary lines, bold term, colon, "
                  "meaning.",
            negative="Do not define more or fewer than {num_terms} terms in the bold-term-colon form.",
            plain="Glossary lines (**term**: meaning): exactly {num_terms}.",
            held_out=("{num_terms} definitions, each a bold term followed by a colon.",)),
        one_of(num_terms=(3, 4)), lambda r, kw: len(_TERM_LINE.findall(r)) == kw["num_terms"], _terms_make,
        make_stage=0, test_only=True),
]
