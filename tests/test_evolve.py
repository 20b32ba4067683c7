"""The evolve stage on the scripted fake model: operations, rules, lineage, ids, dedup, outputs."""

import json
from collections import Counter
from pathlib import Path

import pytest

from wizardlite.backends import LENGTH, GenResult
from wizardlite.backends.fake import FakeGenerator
from wizardlite.evolve.dedup import Deduper
from wizardlite.evolve.operations import OPERATIONS, PARENT_MARKER
from wizardlite.evolve.pipeline import evolve_chunk
from wizardlite.evolve.step import Lineages, Models, choose_operation
from wizardlite.recipe import DedupConfig, recipe_from_dict
from wizardlite.records import DUPLICATE, ELIMINATED, KEPT, SEED, Record, read_records, record_id

ASSETS = Path(__file__).parent / "assets"


def seed(text: str) -> Record:
    rid = record_id(None, 0, "seed", text)
    return Record(id=rid, parent_id=None, root_id=rid, round=0, operation="seed", instruction=text, status=SEED)


def parent_of(prompt: str) -> str:
    return prompt.split(PARENT_MARKER, 1)[1].strip().split("\n\n")[0]


def models(gen: FakeGenerator) -> Models:
    return Models(gen, gen, gen.info.as_dict(), gen.info.as_dict())


def no_dedup() -> Deduper:
    return Deduper(DedupConfig(enabled=False))


def test_operation_choice_is_deterministic_weighted_and_recorded():
    w = {"deepen": 1.0, "breadth": 1.0, "constraints": 0.0}
    picks = [choose_operation(7, f"id{i}", 1, w) for i in range(400)]
    assert picks == [choose_operation(7, f"id{i}", 1, w) for i in range(400)]
    c = Counter(picks)
    assert set(c) == {"deepen", "breadth"} and 150 < c["deepen"] < 250
    assert picks != [choose_operation(8, f"id{i}", 1, w) for i in range(400)]


def test_chunk_records_lineage_rules_and_asks_only_what_is_needed():
    seeds = [seed("Name three rivers in Europe."), seed("Explain why the sky is blue."),
             seed("Write a haiku about autumn."), seed("What is 17 times 23?")]
    evolved = {
        "Name three rivers in Europe.": "Name three rivers in Europe and give each one's length in km.",
        "Explain why the sky is blue.": "Rewrite the given prompt about the sky.",  # rule 4
        "Write a haiku about autumn.": "Write a haiku about autumn that mentions a fox.",
        "What is 17 times 23?": "What is 17 times 23, shown step by step?",
    }
    answers = {
        evolved["Name three rivers in Europe."]: "The Danube (2850 km), the Rhine (1233 km), the Loire (1006 km).",
        evolved["Write a haiku about autumn."]: "Sorry, I cannot write poems.",  # rule 2
        evolved["What is 17 times 23?"]: "17 times 20 is 340, 17 times 3 is 51, so 391.",
    }

    def script(req):
        p = req.messages[-1]["content"]
        if req.task == "evolve":
            return evolved[parent_of(p)]
        if req.task == "equal":
            return "Equal" if "step by step" in p else "Not Equal"  # rule 1 for the last one
        return answers[p]

    gen = FakeGenerator(script)
    recipe = recipe_from_dict({"run": {"seed": 3}})
    out = evolve_chunk(seeds, 1, recipe, models(gen), no_dedup())

    assert [r.parent_id for r in out] == [s.id for s in seeds]
    assert all(r.root_id == s.id and r.round == 1 for r, s in zip(out, seeds, strict=True))
    assert all(r.operation in OPERATIONS and r.operation in recipe.evolve.operations for r in out)
    assert [r.id for r in out] == [record_id(s.id, 1, r.operation, r.instruction) for r, s in zip(out, seeds, strict=True)]
    assert [(r.status, r.reason) for r in out] == [
        (KEPT, ""), (ELIMINATED, "copied_prompt"), (ELIMINATED, "sorry_short"), (ELIMINATED, "no_gain")]
    assert out[0].response.startswith("The Danube")
    # the copied-prompt child is never answered nor compared: 4 evolutions + 3 answers + 3 checks
    assert Counter(r.task for r in gen.requests) == {"evolve": 4, "answer": 3, "equal": 3}
    assert out[3].generation["equality"] is True and out[0].generation["equality"] is False
    assert out[0].evolver["backend"] == "fake" and out[0].generation["evolve_seed"] != out[1].generation["evolve_seed"]


def test_cut_off_answers_and_evolutions_are_eliminated():
    s = seed("Name three rivers.")

    def script(req):
        if req.task == "evolve":
            return "Name three rivers and their lengths."
        if req.task == "equal":
            return "Not Equal"
        return GenResult("The Danube is", LENGTH, 5, 3)

    out = evolve_chunk([s], 1, recipe_from_dict({}), models(FakeGenerator(script)), no_dedup())
    assert out[0].reason == "answer_cut_off"
    out = evolve_chunk([s], 1, recipe_from_dict({"eliminate": {"truncated": False}}),
                       models(FakeGenerator(script)), no_dedup())
    assert out[0].status == KEPT


def test_near_duplicates_of_seeds_and_of_each_other_are_marked(bow_embedder):
    seeds = [seed("Name three rivers in Europe."), seed("Describe the water cycle."), seed("List four fruits.")]
    children = {
        "Name three rivers in Europe.": "Name three long rivers in Europe.",  # near the seed "Name three rivers..."
        "Describe the water cycle.": "Describe the water cycle for a child in simple words.",
        "List four fruits.": "Describe the water cycle for a child, in simple words!",  # exact dup of the one before
    }

    def script(req):
        if req.task == "evolve":
            return children[parent_of(req.messages[-1]["content"])]
        return "Not Equal" if req.task == "equal" else "A fine and complete answer about it."

    d = Deduper(DedupConfig(threshold=0.8), embedder=bow_embedder)
    d.add([(s.id, s.instruction) for s in seeds])
    out = evolve_chunk(seeds, 1, recipe_from_dict({}), models(FakeGenerator(script)), d)
    assert [r.status for r in out] == [DUPLICATE, KEPT, DUPLICATE]
    assert out[0].duplicate_of == seeds[0].id and out[2].duplicate_of == out[1].id
    assert out[1].scores["max_similarity"] is None or 0.7 <= out[1].scores["max_similarity"] < 0.8


def test_pool_keeps_the_parent_of_a_failed_evolution():
    a, b = seed("A?"), seed("B?")
    st = Lineages([a, b])
    kept = Record(id="k", parent_id=a.id, root_id=a.id, round=1, operation="deepen", instruction="A deeper?", status=KEPT)
    lost = Record(id="e", parent_id=b.id, root_id=b.id, round=1, operation="deepen", instruction="", status=ELIMINATED)
    st.add(kept)
    st.add(lost)
    assert [p.id for p in st.pool(1)] == [a.id, b.id]
    assert [p.id for p in st.pool(2)] == ["k", b.id]


# ---------------------------------------------------------------------------- whole runs


def fake_recipe(tmp_path: Path, **extra):
    data = {"run": {"out": str(tmp_path / "run"), "seed": 11},
            "seeds": {"path": str(ASSETS / "seeds_small.jsonl")},
            "evolver": {"backend": "fake"},
            "evolve": {"rounds": 3, "chunk_size": 4},
            "dedup": {"near": False},
            # the fake backend's answers are not about their instructions; test_relevance.py tests the rule
            "eliminate": {"off_topic": False},
            "output": {"formats": ["messages", "alpaca", "sharegpt"]}}
    for k, v in extra.items():
        data.setdefault(k, {}).update(v)
    return recipe_from_dict(data)


def test_run_writes_consistent_outputs(tmp_path):
    from wizardlite.evolve import run

    out = run(fake_recipe(tmp_path))
    recs = read_records(out / "records.jsonl")
    by_id = {r.id: r for r in recs}
    assert len(by_id) == len(recs)  # no record written twice
    seeds = [r for r in recs if r.status == SEED]
    evolved = [r for r in recs if r.status != SEED]
    assert len(seeds) == 6 and len(evolved) == 6 * 3
    for r in evolved:  # every record traces back to its seed
        node = r
        while node.parent_id is not None:
            node = by_id[node.parent_id]
        assert node.status == SEED and node.id == r.root_id
        assert by_id[r.parent_id].round < r.round
    kept = [r for r in evolved if r.status == KEPT]
    train = [json.loads(line) for line in (out / "data/train.jsonl").read_text().splitlines()]
    assert [t["id"] for t in train] == [r.id for r in kept]
    assert train[0]["messages"][0]["role"] == "user" and train[0]["messages"][1]["role"] == "assistant"
    assert len((out / "data/alpaca.jsonl").read_text().splitlines()) == len(kept)
    assert len((out / "data/sharegpt.jsonl").read_text().splitlines()) == len(kept)
    import datasets

    assert len(datasets.load_from_disk(str(out / "data/hf"))) == len(kept)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kept"] == len(kept) and summary["evolved"] == len(evolved)
    assert summary["eliminated"] == sum(summary["reasons"].values())
    report = (out / "report.md").read_text()
    assert "## Per round" in report and (out / "funnel.png").stat().st_size > 1000
    resolved = json.loads((out / "recipe.resolved.json").read_text())
    assert resolved["seeds_sha256"] and resolved["recipe"]["evolve"]["rounds"] == 3


def test_same_seed_same_records_and_more_rounds_extend_a_run(tmp_path):
    from wizardlite.evolve import run

    a = read_records(run(fake_recipe(tmp_path / "a")) / "records.jsonl")
    b = read_records(run(fake_recipe(tmp_path / "b")) / "records.jsonl")
    assert [r.id for r in a] == [r.id for r in b]
    # asking for a 4th round continues the same folder instead of starting over
    c = read_records(run(fake_recipe(tmp_path / "a", evolve={"rounds": 4})) / "records.jsonl")
    assert [r.id for r in c][: len(a)] == [r.id for r in a] and len(c) == len(a) + 6


def test_a_run_folder_refuses_other_settings(tmp_path):
    from wizardlite.errors import ConfigError
    from wizardlite.evolve import run

    run(fake_recipe(tmp_path, evolve={"rounds": 1}))
    with pytest.raises(ConfigError, match="other settings.*evolver"):
        run(fake_recipe(tmp_path, evolve={"rounds": 1}, evolver={"temperature": 0.1}))
