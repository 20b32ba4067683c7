"""IFEval's 25 instruction checkers, from the `if-verifiable` package (Apache-2.0; Google's
reference code, packaged without a download at import), and IFEval's strict and loose verdicts.

    strict  the response as it is follows the instruction
    loose   the response, or the response without its first line, without its last line,
            without both, each also with every `*` removed, follows it (IFEval's upper bound
            that forgives a "Sure, here is..." line and markdown emphasis)

`checkers()` is the registry: instruction id -> checker class. The library's 25 are loaded on
first use; add your own (a class with IFEval's `build_description`, `get_instruction_args`
and `check_following`) to `EXTRA` under a new id. An id that neither knows but the project's
constraint registry does (`wizardlite constraints`: `lexical:no_digits`, the test-only types...)
is checked by the registry's strict and loose checkers, so a file written with the registry's
`to_ifeval` (evolved records, benchmarks/proof/sets/) is scored as it was verified. `known()`
is every id a prompt may carry.

The library's table is loaded offline, punkt included, by `wizardlite.constraints.ifeval`, which
the constraint registry shares.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from wizardlite.constraints.ifeval import cache_dir, ifeval_checkers, offline_punkt
from wizardlite.constraints.types import TYPES
from wizardlite.eval.data import EvalPrompt

__all__ = ["EXTRA", "Verdict", "cache_dir", "check", "checkers", "known", "loose_variants", "offline_punkt"]

EXTRA: dict[str, type] = {}


def checkers() -> dict[str, type]:
    """The registry: the library's checkers, then `EXTRA` (which may replace one of them)."""
    return ifeval_checkers() | EXTRA


def known() -> set[str]:
    """Every instruction id that can be scored: the checkers' and the constraint registry's."""
    return set(checkers()) | set(TYPES)


@dataclass(frozen=True)
class Verdict:
    instruction_id: str
    strict: bool
    loose: bool
    error: str = ""  # a checker that raised: counted as not followed

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.instruction_id, "strict": self.strict, "loose": self.loose}
        return d | ({"error": self.error} if self.error else {})


def loose_variants(response: str) -> list[str]:
    """The response and its seven loose variants, in IFEval's order."""
    from if_verifiable.common import get_loose_transformations

    return get_loose_transformations(response)


def _follows(checker: Any, text: str) -> bool:
    return bool(text.strip() and checker.check_following(text))


def _build(checker: Any, kwargs: dict[str, Any], seed: str) -> None:
    """`build_description` with the library's random draws pinned to `seed`: a checker given no
    value (or one it rejects, like key 1129's letter "!") draws one from Python's global `random`,
    which would make the verdict change from run to run. The global state is put back after."""
    state = random.getstate()
    random.seed(seed)
    try:
        checker.build_description(**kwargs)
    finally:
        random.setstate(state)


def check(p: EvalPrompt, response: str) -> list[Verdict]:
    """One verdict per instruction of `p`, as IFEval's reference scorer makes it."""
    variants = loose_variants(response)
    registry = checkers()
    out = []
    for iid, kwargs in zip(p.instruction_ids, p.kwargs, strict=True):
        if iid not in registry:  # one of the project's own types: its checkers, its loose rule
            try:
                t = TYPES[iid]
                said = bool(response.strip())  # an empty answer follows nothing, as in IFEval's scorer
                out.append(Verdict(iid, said and t.verdict(response, kwargs), said and t.verdict(response, kwargs, True)))
            except Exception as e:
                out.append(Verdict(iid, False, False, f"{type(e).__name__}: {e}"))
            continue
        checker = registry[iid](iid)
        try:
            _build(checker, kwargs, f"{p.key}|{iid}")
            args = checker.get_instruction_args()
            if args and "prompt" in args:
                checker.build_description(prompt=p.prompt)
            strict = _follows(checker, response)
            loose = strict or any(_follows(checker, v) for v in variants)
        except Exception as e:  # a checker's bug must not end a run of hundreds of answers
            out.append(Verdict(iid, False, False, f"{type(e).__name__}: {e}"))
            continue
        out.append(Verdict(iid, strict, loose))
    return out
