"""Verified evolution on the scripted fake model: the program adds constraints, they carry over
round by round without conflicts, answers are resampled until one passes, and a run that keeps
none eliminates the record with every attempt kept."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wizardlite import constraints as C
from wizardlite.backends.fake import FakeGenerator
from wizardlite.evolve.dedup import Deduper
from wizardlite.evolve.pipeline import evolve_chunk
from wizardlite.evolve.step import Models
from wizardlite.evolve.verify import CONSTRAINT_FAILED, OPERATION, carried
from wizardlite.recipe import DedupConfig, recipe_from_dict
from wizardlite.records import ELIMINATED, KEPT, SEED, Record, record_id

SEEDS = ["Explain how photosynthesis converts sunlight into chemical energy.", "Describe the water cycle of rivers.",
         "Summarise the history of printing presses.", "Compare bicycles and trains for commuting."]


def seed(text: str) -> Record:
    rid = record_id(None, 0, "seed", text)
    return Record(id=rid, parent_id=None, root_id=rid, round=0, operation="seed", instruction=text, status=SEED)


def recipe(**verify):
    return recipe_from_dict({"run": {"seed": 11}, "evolve": {"operations": {OPERATION: 1.0}},
                             "verify": {"k": 3, **verify}})


def models(gen: FakeGenerator) -> Models:
    return Models(gen, gen, gen.info.as_dict(), gen.info.as_dict())


def run_chunk(parents, rnd, rec, script):
    gen = FakeGenerator(script)
    return evolve_chunk(parents, rnd, rec, models(gen), Deduper(DedupConfig(enabled=False))), gen


def test_the_program_adds_checkable_constraints_without_asking_the_evolver():
    out, gen = run_chunk([seed(s) for s in SEEDS], 1, recipe(), lambda req: "whatever")
    assert not [r for r in gen.requests if r.task in ("evolve", "equal")]  # no evolver call, no rule-1 question
    for r, s in zip(out, SEEDS, strict=True):
        cons = C.from_ifeval(r.constraints)
        assert r.operation == OPERATION and 1 <= len(cons) <= 3
        assert r.instruction.startswith(s) and all(p in r.instruction for p in r.constraints["phrases"])
        assert not any(C.conflicts(a.id, b.id) for i, a in enumerate(cons) for b in cons[i + 1:])
    # the same run seed makes the same choices
    again, _ = run_chunk([seed(s) for s in SEEDS], 1, recipe(), lambda req: "whatever")
    assert [r.constraints for r in again] == [r.constraints for r in out]


def test_resampling_keeps_the_first_passing_answer_and_records_every_attempt():
    parents = [seed(SEEDS[0])]
    probe, _ = run_chunk(parents, 1, recipe(), lambda req: "x")
    cons = C.from_ifeval(probe[0].constraints)
    good = comply_all(cons)
    calls: list[int] = []

    bad = fail_some(cons)

    def script(req):  # attempts 0 and 1 fail, attempt 2 passes
        calls.append(req.seed)
        return good if len(calls) == 3 else bad

    out, gen = run_chunk(parents, 1, recipe(), script)
    r = out[0]
    assert [q.task for q in gen.requests] == ["answer"] * 3  # k attempts, sent together
    assert r.status == KEPT and r.response == good
    attempts = r.generation["attempts"]
    assert len(attempts) == 3 and [all(a["verdicts"]) for a in attempts] == [False, False, True]
    assert r.generation["answer_seed"] == attempts[2]["seed"] and len({a["seed"] for a in attempts}) == 3

    out, _ = run_chunk(parents, 1, recipe(), lambda req: bad)
    r = out[0]
    assert (r.status, r.reason) == (ELIMINATED, CONSTRAINT_FAILED)
    assert len(r.generation["attempts"]) == 3 and not any(all(a["verdicts"]) for a in r.generation["attempts"])


def test_repair_keeps_the_first_answer_that_passes_once_repaired():
    rec = recipe(min_constraints=1, max_constraints=1, types=["change_case:english_lowercase"])
    parents = [seed(SEEDS[0])]
    replies = iter(["Photosynthesis Makes Sugar.", "Plants Store Energy.", "Leaves Are Green."])
    out, _ = run_chunk(parents, 1, rec, lambda req: next(replies))
    assert (out[0].status, out[0].reason) == (ELIMINATED, CONSTRAINT_FAILED)  # without repair, none passes

    rec = recipe(min_constraints=1, max_constraints=1, types=["change_case:english_lowercase"], repair=True)
    replies = iter(["Photosynthesis Makes Sugar.", "Plants Store Energy.", "Leaves Are Green."])
    out, _ = run_chunk(parents, 1, rec, lambda req: next(replies))
    r = out[0]
    assert r.status == KEPT and r.response == "photosynthesis makes sugar."
    first, *rest = r.generation["attempts"]
    assert first["text"] == "Photosynthesis Makes Sugar." and first["verdicts"] == [False]  # the raw answer stays
    assert first["repaired"] == r.response and first["repaired_verdicts"] == [True]
    assert not any("repaired" in a for a in rest)

    # an answer that passes as written is preferred to an earlier one that needs a repair
    replies = iter(["Needs Repair.", "already fine.", "Also Fine."])
    out, _ = run_chunk(parents, 1, rec, lambda req: next(replies))
    assert out[0].response == "already fine." and not any("repaired" in a for a in out[0].generation["attempts"])


def fail_some(cons: list[C.Constraint]) -> str:
    """A reply with real words in it that breaks at least one of these constraints."""
    for text in ("Plants, grow fast in sunlight!", " ".join(["Plants grow."] * 200), "PLANTS GROW IN SUNLIGHT"):
        if not all(C.check(text, cons)):
            return text
    raise AssertionError("every candidate passes; add one")


def comply_all(cons: list[C.Constraint]) -> str:
    """A reply that passes these constraints, built by the registry's example builders."""
    text = C.witness(cons)
    if text is None or not all(C.check(text, cons)):
        raise AssertionError("no single reply passes all of these; pick another seed")
    return text


def test_constraints_accumulate_across_rounds_and_follow_the_text():
    parent = seed(SEEDS[1])
    rec = recipe(min_constraints=1, max_constraints=1)
    first, _ = run_chunk([parent], 1, rec, lambda req: "x")
    child = first[0]
    child.status = KEPT  # as if an answer had passed
    second, _ = run_chunk([child], 2, rec, lambda req: "x")
    grand = second[0]
    ids = C.from_ifeval(grand.constraints)
    assert len(ids) == 2 and ids[0] == C.from_ifeval(child.constraints)[0]  # the parent's first, one more
    assert not C.conflicts(ids[0].id, ids[1].id)
    # another operation's child keeps only the constraints whose sentences it still has
    kept, phrases = carried(grand, child.instruction)
    assert [c.id for c in kept] == [ids[0].id] and phrases == grand.constraints["phrases"][:1]
    assert carried(grand, "An unrelated rewrite.") == ([], [])


def test_a_verified_run_end_to_end_on_the_fake_backend(tmp_path: Path):
    from wizardlite.evolve import run

    r = recipe_from_dict({"run": {"out": str(tmp_path / "run"), "seed": 5},
                          "seeds": {"path": "tests/assets/seeds_small.jsonl"}, "evolver": {"backend": "fake"},
                          "evolve": {"rounds": 3, "operations": {OPERATION: 2.0, "deepen": 1.0}},
                          "dedup": {"near": False}, "verify": {"k": 2}})
    out = run(r)
    rows = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    constrained = [x for x in rows if x["constraints"]]
    assert constrained and all(x["reason"] in ("", CONSTRAINT_FAILED, "duplicate") or x["status"] != KEPT
                               for x in constrained)
    failed = [x for x in constrained if x["reason"] == CONSTRAINT_FAILED]
    assert all(len(x["generation"]["attempts"]) == 2 for x in failed)
    # every kept constrained record's answer passes its constraints
    for x in constrained:
        if x["status"] == KEPT:
            assert all(C.check(x["response"], C.from_ifeval(x["constraints"])))
    assert re.search(r"constraint_failed", (out / "report.md").read_text()) or not failed


@pytest.mark.slow
def test_the_verified_recipe_on_the_embedded_model(tmp_path: Path):
    """recipes/verified.toml on real SmolLM2 over a few seeds: constrained records are checked,
    and the training set holds exactly the kept records."""
    pytest.importorskip("llama_cpp")
    from wizardlite.evolve import run
    from wizardlite.recipe import load_recipe

    r = load_recipe("recipes/verified.toml", {"run.out": str(tmp_path / "run"), "seeds.limit": 4,
                                              "evolve.rounds": 2, "verify.k": 2, "evolver.parallel": 4,
                                              "answerer.max_tokens": 160})
    out = run(r)
    rows = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    evolved = [x for x in rows if x["status"] != SEED]
    assert len(evolved) == 8
    constrained = [x for x in evolved if x["operation"] == OPERATION]
    for x in constrained:
        if x["reason"] in ("", CONSTRAINT_FAILED):
            assert len(x["generation"]["attempts"]) == 2
        if x["status"] == KEPT:
            assert all(C.check(x["response"], C.from_ifeval(x["constraints"])))
    train = [json.loads(x) for x in (out / "data" / "train.jsonl").read_text().splitlines()]
    assert {t["id"] for t in train} == {x["id"] for x in evolved if x["status"] == KEPT and x["response"].strip()}


def test_the_report_counts_repaired_answers_per_type():
    from wizardlite.evolve.report import verify_section

    lower = "change_case:english_lowercase"
    rec = recipe(min_constraints=1, max_constraints=1, types=[lower], repair=True)
    replies = {SEEDS[0]: "Plants Turn Light Into Sugar.", SEEDS[1]: "rivers run to the sea and rain falls again."}
    out, _ = run_chunk([seed(s) for s in SEEDS[:2]], 1, rec,
                       lambda req: next(v for k, v in replies.items() if k in req.messages[-1]["content"]))
    assert [r.status for r in out] == [KEPT, KEPT]
    line = next(x for x in "\n".join(verify_section(out)).splitlines() if x.startswith(f"| {lower} |"))
    assert [c.strip() for c in line.split("|")[2:6]] == ["2", "1", "1", "0"]  # answered, as written, repaired, failed
