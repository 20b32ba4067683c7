"""Compositions: a check that applies to a part of the answer (every paragraph, the first or
last paragraph, each list item, each section under a heading, the first or last sentence, every
sentence), not to the whole of it.

Run as: wizardlite constraints --tag composed

A scope reads the parts from the answer; the composed type passes when the answer has at least
the parts the scope needs (two list items, two sections...) and every one passes the inner
check. Its example builder makes the parts (a list, headings) when they are missing, then
applies the inner builder to each part.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from wizardlite.constraints import text as T
from wizardlite.constraints.base import Checker, ConstraintType, Kwargs, Maker, Phrasings, content_words, say
from wizardlite.constraints.counting import ITEMS
from wizardlite.constraints.formats import HEADS

# scope -> (its parts, how many it needs, how to make them)
SCOPES: dict[str, tuple[Callable[[str], list[T.Span]], int, Callable[[str], str]]] = {}


def _scope(name: str, read: Callable[[str], list[T.Span]], need: int = 1,
           ensure: Callable[[str], str] = lambda t: t) -> None:
    SCOPES[name] = (read, need, ensure)


def _ensure_items(text: str) -> str:
    return text if len(T.items(text)) >= 2 else T.insert_block(text, "\n".join(f"- {x}" for x in ITEMS[:2]))


def _ensure_headings(text: str) -> str:
    have = len(T.headings(text))
    if have >= 2:
        return text
    text = T.set_paragraphs(text, max(len(T.paragraphs(text)), 3 - have))
    for head, (a, _) in reversed(list(zip(HEADS, T.paragraphs(text)[1:3 - have], strict=False))):
        text = text[:a] + f"## {head}\n\n" + text[a:]
    return text


_scope("each paragraph", T.paragraphs)
_scope("first paragraph", lambda t: T.paragraphs(t)[:1])
_scope("last paragraph", lambda t: T.paragraphs(t)[-1:])
_scope("each list item", T.items, 2, _ensure_items)
_scope("each section", T.sections, 2, _ensure_headings)
_scope("each heading", T.headings, 2, _ensure_headings)
_scope("first sentence", lambda t: T.sentences(t)[:1])
_scope("last sentence", lambda t: T.sentences(t)[-1:])
_scope("each sentence", T.sentences)


def composed(tid: str, family: str, scope: str, says: Phrasings, sample: Callable[[random.Random, str], Kwargs | None],
             inner: Checker, inner_make: Maker, stage: int = 1,
             display: Callable[[Kwargs], Kwargs] = lambda k: k) -> ConstraintType:
    """A type whose check is `inner` on every part of `scope` (and that the scope has its parts)."""
    read, need, ensure = SCOPES[scope]

    def check(response: str, kw: Kwargs) -> bool:
        spans = read(response)
        return len(spans) >= need and all(inner(T.part(response, s), kw) for s in spans)

    def make(text: str, kw: Kwargs) -> str:
        text = ensure(text)
        return T.rewrite(text, [s for s in read(text) if not inner(T.part(text, s), kw)], lambda p: inner_make(p, kw))

    return ConstraintType(tid, family, False, says, sample, check, make, make_stage=stage, scope=scope,
                          display=display)


# ---------------------------------------------------------------------------- inner checks and builders


def _keyword(rng: random.Random, instruction: str) -> Kwargs | None:
    words = content_words(instruction)
    return {"keyword": rng.choice(words)} if words else None


def _keywords(rng: random.Random, instruction: str) -> Kwargs | None:
    words = content_words(instruction)
    return {"keywords": rng.sample(words, k=min(len(words), 2))} if words else None


def _has(word: str) -> Checker:
    return lambda p, kw: re.search(rf"\b{re.escape(kw[word])}", p, re.I) is not None


def _max_words(p: str, kw: Kwargs) -> bool:
    return T.count_words(p) <= kw["max_words"]


def _cut_words(p: str, kw: Kwargs) -> str:
    p = T.shrink(p, lambda x: _max_words(x, kw))
    if _max_words(p, kw):
        return p
    end = re.search(r"[.!?]+[\"')\]*]*$", p)
    toks = p[:end.start() if end else len(p)].split()
    while T.count_words(" ".join(toks)) > kw["max_words"] and len(toks) > 1:
        toks.pop()
    return " ".join(toks) + (end.group() if end else "")


def _sentences_at_least(p: str, kw: Kwargs) -> bool:
    return len(T.sentences(p)) >= kw["min_sentences"]


def _title_case(p: str, kw: Kwargs) -> bool:
    return all(w[0].isupper() for w in T.words(p) if len(w) >= 4)


def _cap(p: str) -> str:
    m = re.search(r"[A-Za-z]", p)
    return p if m is None else p[:m.start()] + m.group().upper() + p[m.end():]


def _comma_cap(p: str, kw: Kwargs) -> str:
    out, seen = [], 0
    for ch in p:
        if ch == ",":
            seen += 1
            if seen > kw["max_commas"]:
                continue
        out.append(ch)
    return "".join(out)


def _one_sentence_make(p: str, kw: Kwargs) -> str:
    s = T.sentences(p)
    return p if len(s) <= 1 else p[:s[0][1]] + "\n\n" + p[s[1][0]:]


def _opener(p: str, kw: Kwargs) -> bool:
    return p.lstrip("\"'*#> ").lower().startswith(kw["opener"].lower() + " ")


def _opener_make(p: str, kw: Kwargs) -> str:
    lead = len(p) - len(p.lstrip("\"'*#> "))
    rest = p[lead:]
    return p[:lead] + kw["opener"] + " " + (rest[:1].lower() + rest[1:] if rest[:1].isalpha() else rest)


def _bullets_in(p: str, kw: Kwargs) -> bool:
    return len(T.items(p)) == kw["num_bullets"]


def _bullets_make(p: str, kw: Kwargs) -> str:
    body = re.sub(r"^(\s*)(?:[-*+]|\d+[.)])\s+(?=\S)", r"\1", p, flags=re.M).rstrip("\n")
    tail = p[len(p.rstrip("\n")):]
    block = "\n".join(f"- {x}" for x in ITEMS[:kw["num_bullets"]])
    return (body + "\n\n" if body.strip() else "") + block + (tail or "\n\n")


def phrasings(short: str, long: str, woven: str, negative: str, plain: str, held_out: str) -> Phrasings:
    return say(short=short, long=long, woven=woven, negative=negative, plain=plain, held_out=(held_out,))
