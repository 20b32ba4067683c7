"""Statistics of judgements: Wilson intervals, difficulty bands, win/tie/loss tallies and how
consistent the judge is when the order of the answers is swapped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wizardlite.report import wilson

__all__ = ["Consistency", "Tally", "band", "consistency", "position_flags", "tally", "wilson"]

def band(difficulty: Any) -> str | None:
    """Difficulty band of a test item: 1-3, 4-6, 7-10; a non-numeric label is its own band."""
    if difficulty is None or difficulty == "":
        return None
    try:
        x = float(difficulty)
    except (TypeError, ValueError):
        return str(difficulty)
    return "1-3" if x < 3.5 else "4-6" if x < 6.5 else "7-10"


@dataclass(frozen=True)
class Tally:
    """Wins, ties and losses of one group of judgements, with 95% Wilson intervals on the win
    rates. Rates are over the decided pairs (wins + ties + losses); unparseable pairs are apart."""

    group: str
    n: int
    a: int
    tie: int
    b: int
    unparseable: int
    a_rate: float | None
    a_ci: tuple[float, float]
    b_rate: float | None
    b_ci: tuple[float, float]
    tie_rate: float | None


def tally(group: str, verdicts: Sequence[str | None]) -> Tally:
    """`verdicts`: "a", "b", "tie", or None (unparseable), one per pair."""
    a, b, tie = (sum(v == x for v in verdicts) for x in ("a", "b", "tie"))
    n = a + b + tie
    return Tally(group, n, a, tie, b, len(verdicts) - n, a / n if n else None, wilson(a, n),
                 b / n if n else None, wilson(b, n), tie / n if n else None)


@dataclass(frozen=True)
class Consistency:
    """How the judge behaves when the order is swapped: flips (the two orders name different
    outcomes) and how often a non-tie reply picks the answer shown first."""

    both_parsed: int
    flipped: int
    flip_rate: float | None
    agreement: float | None
    positional_picks: int
    first_shown: int
    unparseable_replies: int
    replies: int


def consistency(flips: Sequence[bool | None], positions: Sequence[str | None]) -> Consistency:
    """`flips`: per pair, whether the outcome changed with the order (None: a reply had no
    verdict); `positions`: every reply's pick by position ("A" = shown first, "B", "tie", None)."""
    both = [f for f in flips if f is not None]
    flipped = sum(both)
    picks = [p for p in positions if p in ("A", "B")]
    return Consistency(len(both), flipped, flipped / len(both) if both else None,
                       1 - flipped / len(both) if both else None, len(picks), sum(p == "A" for p in picks),
                       sum(p is None for p in positions), len(positions))


POSITION_FLIP = 0.5  # above this flip rate (over 10 or more pairs) the verdicts are called positional


def position_flags(c: Consistency) -> list[str]:
    """A warning when the judge's verdicts follow the order of the answers more than their content."""
    if c.both_parsed < 10 or c.flip_rate is None or c.flip_rate <= POSITION_FLIP:
        return []
    return [f"the verdict flipped with the order in {c.flipped} of {c.both_parsed} pairs and "
            f"{c.first_shown} of {c.positional_picks} picks went to the answer shown first: this judge follows "
            "position, not content, so the ties above say nothing about A and B; use a stronger judge"]
