"""The off-topic rule (evolve/relevance.py): a kept answer far from its instruction is eliminated
with its own reason and its cosine kept; short answers are not judged; the rule runs in the
pipeline before dedup, so an off-topic record never joins the index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardlite.evolve.relevance import OFF_TOPIC, Relevance, relevance
from wizardlite.recipe import EliminateConfig, recipe_from_dict
from wizardlite.records import ELIMINATED, KEPT, Record

ASSETS = Path(__file__).parent / "assets"


def rec(instruction: str, response: str, status: str = KEPT) -> Record:
    return Record(id=instruction[:8], parent_id=None, root_id="r", round=1, operation="deepen",
                  instruction=instruction, response=response, status=status)


def test_an_answer_about_something_else_is_eliminated_and_scored(bow_embedder):
    on = rec("Explain how tides follow the moon and the sun around the earth",
             "Tides follow the moon because the moon pulls the sea toward it, and the sun adds its own pull on the earth.")
    off = rec("Explain how tides follow the moon and the sun around the earth",
              "Preheat an oven, whisk two eggs with flour plus sugar, then bake a cake for twenty minutes.")
    Relevance(EliminateConfig(), lambda: bow_embedder).mark([on, off])
    assert on.status == KEPT and on.scores["relevance"] >= 0.1
    assert off.status == ELIMINATED and off.reason == OFF_TOPIC and off.scores["relevance"] < 0.1


def test_short_answers_and_records_already_out_are_not_judged(bow_embedder):
    label = rec("Is this email spam? 'You won a prize, click here now'", "Yes")
    gone = rec("Write a poem about autumn leaves falling", "Bake the cake for twenty minutes in a hot oven please.",
               status=ELIMINATED)
    calls = []

    def embedder():
        calls.append(1)
        return bow_embedder

    Relevance(EliminateConfig(), embedder).mark([label, gone])
    assert label.status == KEPT and "relevance" not in label.scores
    assert gone.reason == "" and "relevance" not in gone.scores
    assert not calls  # nothing to judge: the embedding model is never loaded


@pytest.mark.parametrize(("threshold", "status"), [(-1.0, KEPT), (1.0, ELIMINATED)])
def test_the_threshold_is_the_recipes(bow_embedder, threshold: float, status: str):
    r = rec("Describe the water cycle in simple terms for a child",
            "Water in the sea warms, rises as vapour, cools into clouds and falls again as rain on the land.")
    Relevance(EliminateConfig(min_relevance=threshold), lambda: bow_embedder).mark([r])
    assert r.status == status


def test_the_rule_can_be_switched_off_and_its_threshold_is_checked():
    assert relevance(EliminateConfig(off_topic=False), lambda: None) is None
    assert EliminateConfig(min_relevance=2.0).check() == ["eliminate.min_relevance must be in [-1, 1]"]


def test_in_a_run_off_topic_records_are_eliminated_before_dedup(tmp_path: Path, monkeypatch, bow_embedder):
    """The fake backend's rule-based answers ("word12 word40 ...") share no word with any
    instruction: with the rule on, every answered record goes out as off_topic, none joins the
    dedup index, and each keeps its cosine."""
    from wizardlite.evolve import dedup, run

    bow_embedder.dim = 1 << 16  # wide enough that no hashed word of an answer collides with an instruction's
    monkeypatch.setattr(dedup, "Embedder", lambda *a, **k: bow_embedder)
    recipe = recipe_from_dict({"run": {"out": str(tmp_path / "run"), "seed": 11},
                               "seeds": {"path": str(ASSETS / "seeds_small.jsonl")},
                               "evolver": {"backend": "fake"}, "evolve": {"rounds": 2, "chunk_size": 4}})
    out = run(recipe)
    rows = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    judged = [r for r in rows if "relevance" in r["scores"]]
    assert judged and all(r["reason"] == OFF_TOPIC and r["scores"]["relevance"] < 0.1 for r in judged)
    assert not any(r["status"] == KEPT for r in rows)
    ids = set((out / "dedup_index.ids").read_text().splitlines()[1:])
    assert not ids & {r["id"] for r in judged}
