"""The registry's phrasings are its own words: none shares a run of eight words with any of
IFEval's 541 prompts, so a gain on IFEval cannot come from wording a model memorised in training."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from wizardlite import constraints as C

IFEVAL = Path(__file__).parent.parent / "recipes" / "testsets" / "ifeval_input_data.jsonl"
RUN = 8
INSTRUCTIONS = ("Explain how photosynthesis converts sunlight into chemical energy inside green plants.",
                "Write a short guide to growing tomatoes on a balcony in a cold climate.")


def runs(text: str, n: int = RUN) -> set[tuple[str, ...]]:
    w = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def ifeval_runs() -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for line in IFEVAL.read_text(encoding="utf-8").splitlines():
        out |= runs(json.loads(line)["prompt"])
    return out


def rendered() -> list[tuple[str, str]]:
    """(type id, sentence) for every phrasing of every type, each with several parameter draws."""
    out = []
    for tid, t in C.TYPES.items():
        rng = random.Random(tid)
        for i in range(4):
            kw = t.sample(rng, INSTRUCTIONS[i % 2])
            assert kw is not None
            for template in t.phrasings + t.says.held_out:
                out.append((tid, template.format(**t.display(kw))))
    return out


def test_no_phrasing_shares_an_eight_word_run_with_an_ifeval_prompt():
    theirs = ifeval_runs()
    assert len(theirs) > 10_000  # the 541 prompts were read
    shared = [(tid, s, " ".join(sorted(runs(s) & theirs)[0])) for tid, s in rendered() if runs(s) & theirs]
    assert not shared, shared[:10]


def test_the_check_would_catch_ifeval_wording():
    theirs = ifeval_runs()
    copied = "Your entire response should be in English, and in all lowercase letters."
    assert runs(copied) & theirs
    assert not runs("Use small letters only, please, from start to end of it all.") & theirs
