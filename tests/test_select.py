"""IFD scoring and selection: the loss arithmetic by hand, a real scorer on a tiny model, and
which rows `[select]` keeps."""

from __future__ import annotations

import math

import pytest

from wizardlite.evolve.select import answer_nll, select
from wizardlite.recipe import SelectConfig
from wizardlite.records import KEPT, Record


def test_answer_nll_by_hand():
    # Vocabulary of 2. Position i's row predicts token i + 1.
    lp = [[math.log(0.5), math.log(0.5)], [math.log(0.9), math.log(0.1)], [math.log(0.2), math.log(0.8)]]
    ids = [0, 0, 1, 0]
    # tokens 2 and 3 (ids 1, 0) are predicted by rows 1 and 2: -log 0.1 and -log 0.2
    assert answer_nll(lp, ids, 2) == pytest.approx((-math.log(0.1) - math.log(0.2)) / 2)
    # from 1: token 1 (id 0) by row 0 too
    assert answer_nll(lp, ids, 1) == pytest.approx((-math.log(0.5) - math.log(0.1) - math.log(0.2)) / 3)
    assert math.isnan(answer_nll(lp, ids, 4))


def rec(i: int) -> Record:
    return Record(f"r{i}", "p", "p", 1, "deepen", f"Task {i}", response="ok", status=KEPT)


def test_select_drops_unhelpful_instructions_then_keeps_the_hardest():
    records = [rec(i) for i in range(6)]
    ifd = {"r0": {"ifd": 0.2}, "r1": {"ifd": 0.9}, "r2": {"ifd": 1.3}, "r3": {"ifd": 0.5}, "r4": {"ifd": float("nan")}}
    keep, dropped = select(records, ifd, SelectConfig(ifd=True, max_ifd=1.0, top_fraction=0.5))
    # r2 (>= 1), r4 (nan) and r5 (no score) go; of r0, r1, r3 the top half by IFD (ceil 1.5 = 2) stay
    assert [r.id for r in keep] == ["r1", "r3"]
    assert set(dropped) == {"r0", "r2", "r4", "r5"}
    assert "1.300 >= 1" in dropped["r2"] and dropped["r5"] == "no IFD score"
    keep, _ = select(records, ifd, SelectConfig(ifd=True, max_ifd=2.0, top_fraction=1.0))
    assert [r.id for r in keep] == ["r0", "r1", "r2", "r3"]  # journal order kept


@pytest.mark.slow
def test_ifd_scorer_on_a_tiny_model(tmp_path):
    import tiny_llama

    from wizardlite.evolve.select import IFDScorer, score_records

    base = tiny_llama.build(tmp_path / "tiny")
    scorer = IFDScorer(base)
    s = scorer.score("Name a colour.", "Blue is a colour.")
    assert s["loss_given"] > 0 and s["loss_alone"] > 0
    assert s["ifd"] == pytest.approx(s["loss_given"] / s["loss_alone"])
    # Journaled and reused: a second call for the same base computes nothing.
    records = [Record("a", "p", "p", 1, "deepen", "Name a colour.", response="Blue is a colour.", status=KEPT),
               Record("b", "p", "p", 1, "deepen", "Say hi.", response="", status=KEPT)]
    rows = score_records(records, base, "tiny", tmp_path / "ifd.jsonl")
    assert set(rows) == {"a"} and rows["a"]["ifd"] == pytest.approx(s["ifd"], rel=1e-4)
    calls = []
    again = score_records(records, base, "tiny", tmp_path / "ifd.jsonl", on_done=lambda: calls.append(1))
    assert again == rows and calls == []


@pytest.mark.slow
def test_evolve_with_select_trains_on_the_records_it_chose(tmp_path):
    import json

    import tiny_llama

    from wizardlite.evolve import run
    from wizardlite.recipe import recipe_from_dict
    from wizardlite.records import read_records

    base = tiny_llama.build(tmp_path / "tiny")
    recipe = recipe_from_dict({
        "run": {"out": str(tmp_path / "run")}, "seeds": {"path": "tests/assets/seeds_small.jsonl"},
        "evolver": {"backend": "fake"}, "evolve": {"rounds": 2}, "dedup": {"near": False},
        "finetune": {"base": str(base)}, "select": {"ifd": True, "max_ifd": 100.0, "top_fraction": 0.5}})
    out = run(recipe)
    kept = [r for r in read_records(out / "records.jsonl") if r.status == KEPT and r.response.strip()]
    ifd = [json.loads(x) for x in (out / "ifd.jsonl").read_text().splitlines()]
    assert kept and {r["id"] for r in ifd} == {r.id for r in kept}
    train = [json.loads(x) for x in (out / "data" / "train.jsonl").read_text().splitlines()]
    assert len(train) == math.ceil(len(kept) * 0.5)
    top = sorted(ifd, key=lambda r: (-r["ifd"], r["id"]))[: len(train)]
    assert {t["id"] for t in train} == {r["id"] for r in top}  # the highest IFD ones
    assert "## Instruction-following difficulty (IFD)" in (out / "report.md").read_text()
