"""One judged pair: both answers, both raw judge replies, the verdict per order and overall.
A row of judgements.jsonl."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from wizardlite.backends import GenRequest, GenResult
from wizardlite.judge.replies import parse_verdict
from wizardlite.judge.stats import band
from wizardlite.judge.testset import TestItem

ORDERS = ("a_first", "b_first")


@dataclass
class Judgement:
    id: str
    line: int = 0
    instruction: str = ""
    skill: str | None = None
    difficulty: Any = None
    band: str | None = None
    answer_a: str = ""
    answer_b: str = ""
    finish_a: str = ""
    finish_b: str = ""
    raw_a_first: str = ""
    raw_b_first: str = ""
    position_a_first: str | None = None  # the judge's pick by position: "A" = the answer shown first
    position_b_first: str | None = None
    verdict_a_first: str | None = None  # the same mapped to a model: "a", "b", "tie"
    verdict_b_first: str | None = None
    verdict: str | None = None  # both orders combined; None when either reply had no verdict
    flipped: bool | None = None  # the outcome changed with the order
    judge_finish: dict[str, str] = field(default_factory=dict)
    judge_seeds: dict[str, int] = field(default_factory=dict)
    judge: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Judgement:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def to_model(position: str | None, order: str) -> str | None:
    """Map a positional verdict (A = shown first) to a model ("a", "b") for one order."""
    if position is None or position == "tie":
        return position
    first, second = ("a", "b") if order == "a_first" else ("b", "a")
    return first if position == "A" else second


def combine(v_a_first: str | None, v_b_first: str | None) -> str | None:
    """Both orders pick the same model -> that model; they disagree or either says tie ->
    tie; either unparseable -> None."""
    if v_a_first is None or v_b_first is None:
        return None
    if v_a_first == v_b_first and v_a_first in ("a", "b"):
        return v_a_first
    return "tie"


def judgement_row(item: TestItem, ans: dict[str, dict[str, Any]], results: dict[str, GenResult],
                  reqs: dict[str, GenRequest], judge_info: dict[str, Any]) -> Judgement:
    pos = {o: parse_verdict(results[o].text) for o in ORDERS}
    ver = {o: to_model(pos[o], o) for o in ORDERS}
    both = ver["a_first"] is not None and ver["b_first"] is not None
    return Judgement(
        id=item.id, line=item.line, instruction=item.instruction, skill=item.skill,
        difficulty=item.difficulty, band=band(item.difficulty),
        answer_a=ans["a"]["answer"], answer_b=ans["b"]["answer"],
        finish_a=ans["a"]["finish_reason"], finish_b=ans["b"]["finish_reason"],
        raw_a_first=results["a_first"].text, raw_b_first=results["b_first"].text,
        position_a_first=pos["a_first"], position_b_first=pos["b_first"],
        verdict_a_first=ver["a_first"], verdict_b_first=ver["b_first"],
        verdict=combine(ver["a_first"], ver["b_first"]),
        flipped=(ver["a_first"] != ver["b_first"]) if both else None,
        judge_finish={o: results[o].finish_reason for o in ORDERS},
        judge_seeds={o: reqs[o].seed for o in ORDERS}, judge=judge_info,
    )
