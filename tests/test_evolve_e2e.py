"""End to end on real models: the embedded SmolLM2 through llama.cpp evolves a handful of seeds
for 2 rounds with answers, elimination and dedup (all-MiniLM-L6-v2) on, offline."""

import json
import os
from collections import Counter
from pathlib import Path

import pytest

SELF_INSTRUCT_SEEDS = Path(__file__).resolve().parents[1] / "recipes" / "seeds" / "self_instruct.jsonl"


@pytest.mark.slow
def test_real_evolve_run_is_consistent(tmp_path):
    pytest.importorskip("llama_cpp")
    from wizardlite.evolve import run
    from wizardlite.recipe import recipe_from_dict
    from wizardlite.records import DUPLICATE, ELIMINATED, KEPT, SEED, read_records

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    recipe = recipe_from_dict({
        "run": {"out": str(tmp_path / "run"), "seed": 1},
        "seeds": {"path": str(SELF_INSTRUCT_SEEDS), "limit": 4},
        "evolver": {"backend": "llamacpp", "model": "smollm2", "max_tokens": 96, "parallel": 4},
        "answerer": {"max_tokens": 96},
        "evolve": {"rounds": 2},
        "dedup": {"threshold": 0.92},
    })
    out = run(recipe)
    recs = read_records(out / "records.jsonl")
    by_id = {r.id: r for r in recs}
    assert len(by_id) == len(recs)
    assert Counter(r.status for r in recs)[SEED] == 4
    evolved = [r for r in recs if r.status != SEED]
    assert len(evolved) == 4 * 2
    for r in evolved:
        assert by_id[r.root_id].status == SEED and r.parent_id in by_id
        assert r.evolver["name"].endswith(".gguf") and len(r.evolver["sha256"]) == 64
        assert r.status in (KEPT, ELIMINATED, DUPLICATE)
        assert (r.status == KEPT) == (r.reason == "")
    summary = json.loads((out / "summary.json").read_text())
    train = (out / "data" / "train.jsonl").read_text().splitlines()
    assert summary["kept"] == sum(r.status == KEPT for r in recs) == len(train)
    assert summary["eliminated"] == sum(r.status == ELIMINATED for r in recs)
    assert summary["duplicate"] == sum(r.status == DUPLICATE for r in recs)
    report = (out / "report.md").read_text()
    for rnd in (1, 2):
        c = Counter(r.status for r in evolved if r.round == rnd)
        assert f"| {rnd} | {sum(c.values())} | {c[KEPT]} | {c[ELIMINATED]} | {c[DUPLICATE]} |" in report
