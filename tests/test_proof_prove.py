"""`just prove` (benchmarks/proof/prove.py): it refuses to run what the protocol did not register,
plans every step (the per-half runs of T2, the shipped recipe's members on every test), estimates
the time left from the steps done, and reports shipped against base and seeds with the goals."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks" / "proof"))
sys.path.insert(0, str(REPO / "benchmarks"))

import prove  # noqa: E402

HELDOUT = REPO / "recipes" / "testsets" / "heldout.jsonl"


def _protocol(tmp_path: Path, ops: str = "verifiable_constraints = 9, deepen = 1") -> Path:
    """A protocol folder of the four arms, its shipped recipe decontaminated as the driver asks."""
    recipe = tmp_path / "shipped.toml"
    recipe.write_text(f"""
[seeds]
path = "{REPO / 'recipes' / 'seeds' / 'general.jsonl'}"
[evolve]
operations = {{ {ops} }}
[decontaminate]
files = ["{prove.IFEVAL}", "{HELDOUT}"]
[finetune]
seeds = [1, 2]
""")
    arms = tmp_path / "protocol"
    arms.mkdir()
    (arms / "base.toml").write_text('about = "b"\norder = 1\ndata = "none"\n')
    (arms / "seeds.toml").write_text('about = "s"\norder = 2\ndata = "answered-seeds"\n')
    (arms / "paper.toml").write_text(f'about = "p"\norder = 3\ndata = "evolve"\nrecipe = "{REPO / "recipes/default.toml"}"\n')
    (arms / "shipped.toml").write_text(f'about = "v"\norder = 4\ndata = "evolve"\nrecipe = "{recipe}"\n')
    return arms


def test_the_plan_has_the_halves_of_t2_and_the_members_on_every_test(tmp_path: Path):
    proof = prove.Proof(tmp_path / "w", quick=True, arms_dir=_protocol(tmp_path))
    steps = {s.id: s for s in proof.plan()}
    # the shipped recipe draws verifiable constraints: evolved and tuned once per half as well
    for half in ("a", "b"):
        assert f"shipped-half-{half}/evolve" in steps and f"shipped-half-{half}/finetune" in steps
    assert "paper-half-a/evolve" not in steps  # the paper's method has no verifiable constraints
    assert "base/finetune" not in steps and "seeds/seeds" in steps
    assert proof.specs["shipped-half-b"].evolve == ("verify.half=b",)
    evals = {name: (data, model) for _, name, data, model in proof.evals("shipped")}
    # T2: the model that never saw half a answers half a's prompts, and each member as well
    assert evals["heldout_types-a"] == (prove.HALVES["a"], str(tmp_path / "w/shipped-half-b/ft/model.gguf"))
    assert evals["heldout_types-b-seed-2"] == (prove.HALVES["b"],
                                               str(tmp_path / "w/shipped-half-a/ft/seed-2/model.gguf"))
    assert set(evals) == {f"{t}{s}" for t in ("ifeval", "heldout_types-a", "heldout_types-b", "new_types")
                          for s in ("", "-seed-1", "-seed-2")}
    paper = {name: model for _, name, _, model in proof.evals("paper")}
    assert paper["heldout_types-a"] == paper["heldout_types-b"] == str(tmp_path / "w/paper/ft/model.gguf")
    assert {name: model for _, name, _, model in proof.evals("base")}["new_types"] == "smollm2-q8_0"


def test_the_time_left_is_the_mean_of_the_done_steps_of_each_kind_and_a_finetune_goes_by_its_rows(tmp_path: Path):
    proof = prove.Proof(tmp_path / "w", quick=True, arms_dir=_protocol(tmp_path))
    for name in ("ifeval", "new_types"):
        (tmp_path / "w" / "base" / name).mkdir(parents=True)
        (tmp_path / "w" / "base" / name / "results.json").write_text("{}")
    (tmp_path / "w" / "steps.json").write_text(json.dumps({"base/ifeval": 600.0, "base/new_types": 200.0}))
    steps = proof.plan()
    left, unknown = proof.time_left(steps)
    ifeval_left = sum(1 for s in steps if s.kind == "eval:ifeval" and not s.done())
    new_left = sum(1 for s in steps if s.kind == "eval:new_types" and not s.done())
    assert ifeval_left > 0 and new_left > 0
    assert left == pytest.approx(600 * ifeval_left + 200 * new_left)
    assert unknown == ["eval:heldout_types", "evolve:paper", "evolve:shipped", "finetune", "seeds"]
    status = proof.status(steps)
    assert status.startswith(f"2 of {len(steps)} steps done; {left / 3600:.1f} h for the kinds begun")
    assert status.endswith("no estimate yet for eval:heldout_types, evolve:paper, evolve:shipped, finetune, "
                           "seeds (none done)")
    (tmp_path / "w" / "steps.json").write_text("{}")  # nothing timed: no figure at all, not 0.0 h
    assert proof.status(steps) == (f"2 of {len(steps)} steps done; no estimate yet for eval:heldout_types, "
                                   "eval:ifeval, eval:new_types, evolve:paper, evolve:shipped, finetune, seeds "
                                   "(none done)")
    # a fine-tune is estimated by its rows: 100 s for 10 rows done, so 40 rows take 400 s; a half
    # that has no rows yet is guessed at its arm's; without rows anywhere, the kind's mean
    for arm, n in (("seeds", 10), ("paper", 40), ("shipped", 20)):
        proof.rows(arm).parent.mkdir(parents=True, exist_ok=True)
        proof.rows(arm).write_text('{"instruction": "x"}\n' * n)
    for _, name, _, _ in proof.evals("seeds"):
        _answers(tmp_path / "w" / "seeds" / name, {"k": True})  # seeds/finetune done by its answers
    (tmp_path / "w" / "steps.json").write_text(json.dumps({"seeds/finetune": 100.0}))
    tunes = {s.id: s for s in proof.plan() if s.kind == "finetune"}
    assert tunes["seeds/finetune"].done() and tunes["shipped-half-a/finetune"].size() == 20
    fine, _ = proof.time_left(list(tunes.values()))
    assert fine == pytest.approx(400 + 200 + 200 + 200)  # paper, shipped and its two halves
    proof.rows("paper").unlink()
    assert proof.time_left(list(tunes.values()))[0] == pytest.approx(100 + 200 + 200 + 200)


def test_one_step_runs_alone_by_its_id_once_the_fine_tune_of_its_model_is_done(tmp_path: Path):
    proof = prove.Proof(tmp_path / "w", quick=True, arms_dir=_protocol(tmp_path))
    ran: list[tuple[str, str, str]] = []

    def evaluate(arm: str, model: str, data: Path, name: str) -> Path:
        ran.append((arm, name, model))
        (tmp_path / "w" / arm / name).mkdir(parents=True)
        (tmp_path / "w" / arm / name / "results.json").write_text("{}")
        return tmp_path / "w" / arm / name

    proof.exp.evaluate = evaluate  # type: ignore[method-assign]
    with pytest.raises(prove.ProtocolError, match="no arm or step of that name"):
        proof.run("shipped/heldout")
    # T2's half b is answered by the model tuned on half a: refused before that fine-tune, not begun
    with pytest.raises(prove.ProtocolError, match=r"shipped-half-a/finetune, not done yet: run `just prove "
                       r"--arm shipped-half-a/finetune` first"):
        proof.run("shipped/heldout_types-b")
    assert ran == []
    model = tmp_path / "w" / "shipped-half-a" / "ft" / "model.gguf"
    model.parent.mkdir(parents=True)
    model.write_text("gguf")
    proof.run("shipped/heldout_types-b")
    assert ran == [("shipped", "heldout_types-b", str(model))]  # not its members, nor shipped's fine-tune
    proof.run("shipped/heldout_types-b")  # done: not run again
    assert len(ran) == 1 and "shipped/heldout_types-b" in proof.timings


def test_shipped_without_decontamination_or_with_overrides_is_refused(tmp_path: Path):
    arms = _protocol(tmp_path)
    recipe = tmp_path / "shipped.toml"
    recipe.write_text(recipe.read_text().replace(f', "{HELDOUT}"', ""))
    with pytest.raises(prove.ProtocolError, match="heldout.jsonl to \\[decontaminate\\] files"):
        prove.Proof(tmp_path / "w", quick=True, arms_dir=arms)
    (arms / "shipped.toml").write_text((arms / "shipped.toml").read_text() + 'evolve = ["evolve.rounds=8"]\n')
    with pytest.raises(prove.ProtocolError, match="no overrides"):
        prove.Proof(tmp_path / "w", quick=True, arms_dir=arms)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


def test_only_a_committed_protocol_naming_the_recipe_runs(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "protocol").mkdir(parents=True)
    recipe = repo / "r.toml"
    recipe.write_text("[evolve]\nrounds = 8\n")
    protocol, arms = repo / "PROTOCOL.md", repo / "protocol"
    _git(repo, "init", "-q")
    with pytest.raises(prove.ProtocolError, match="no PROTOCOL.md"):
        prove.registered(protocol, arms, recipe, cwd=repo)
    (arms / "base.toml").write_text('about = "b"\norder = 1\ndata = "none"\n')
    protocol.write_text(f"recipe_sha256: {hashlib.sha256(recipe.read_bytes()).hexdigest()}\n")
    with pytest.raises(prove.ProtocolError, match="uncommitted"):
        prove.registered(protocol, arms, recipe, cwd=repo)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "protocol")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert prove.registered(protocol, arms, recipe, cwd=repo) == commit
    recipe.write_text("[evolve]\nrounds = 4\n")  # the recipe changed after registration
    with pytest.raises(prove.ProtocolError, match="not the recipe the protocol registered"):
        prove.registered(protocol, arms, recipe, cwd=repo)
    _git(repo, "checkout", "--", "r.toml")
    (arms / "base.toml").write_text('about = "b2"\norder = 1\ndata = "none"\n')  # an arm edited afterwards
    with pytest.raises(prove.ProtocolError, match="uncommitted"):
        prove.registered(protocol, arms, recipe, cwd=repo)


def _answers(folder: Path, passed: dict[str, bool]) -> None:
    folder.mkdir(parents=True)
    (folder / "results.json").write_text("{}")
    rows = [{"role": "model", "key": k, "instruction_ids": ["punctuation:no_comma"], "finish": "stop",
             "verdicts": [{"strict": ok, "loose": ok}]} for k, ok in passed.items()]
    (folder / "responses.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_the_results_pair_shipped_with_base_and_seeds_and_say_whether_each_goal_was_met(tmp_path: Path):
    proof = prove.Proof(tmp_path / "w", quick=True, arms_dir=_protocol(tmp_path))
    keys = [f"k{i}" for i in range(40)]
    share = {"base": 10, "seeds": 12, "paper": 11, "shipped": 20, "seed-1": 18, "seed-2": 22}
    for arm in ("base", "seeds", "paper", "shipped"):
        for _, name, _, _ in proof.evals(arm):
            who = name.rsplit("-", 2)[-2] + "-" + name.rsplit("-", 1)[-1] if "-seed-" in name else arm
            # T2's two halves are two files: their keys differ, as the real files' do
            prefix = name.split("-seed-")[0]
            _answers(tmp_path / "w" / arm / name, {f"{prefix}-{k}": i < share[who] for i, k in enumerate(keys)})
    s = proof.summarise(commit="abc")
    t1 = s["tests"]["ifeval"]
    assert t1["shipped_vs_base"]["diff_points"] == pytest.approx(25.0) and t1["shipped_vs_base"]["n"] == 40
    assert t1["shipped_vs_seeds"]["diff_points"] == pytest.approx(20.0)
    assert t1["shipped_members_vs_base"]["each"] == pytest.approx({"seed-1": 20.0, "seed-2": 30.0})
    assert t1["goal"]["met"] is True
    t2 = s["tests"]["heldout_types"]
    assert t2["shipped_vs_base"]["n"] == 80  # both halves, paired as one set
    assert s["recipe_sha256"] == hashlib.sha256((tmp_path / "shipped.toml").read_bytes()).hexdigest()
    assert s["protocol_commit"] == "abc"
    prove.write_results(s, tmp_path, "proof")
    md = (tmp_path / "proof.md").read_text()
    assert "goal (shipped - base >= +5): **met**" in md
    # 10 prompts only shipped passes, none only base does: the exact McNemar p is 2 / 2**10
    assert "shipped_vs_base: +25.0 [" in md and "McNemar p 0.00195" in md
    assert "| shipped | 40 | 50.0 | +25.0 [" in md


def test_the_committed_protocol_and_the_shipped_recipe_make_the_whole_plan(tmp_path: Path):
    """benchmarks/proof/protocol/ with recipes/verified.toml as it ships: four arms, the shipped
    one's two per-half runs for T2, its three fine-tune seeds evaluated on every test."""
    proof = prove.Proof(tmp_path / "w", quick=False)
    assert list(proof.specs) == ["base", "seeds", "paper", "shipped", "shipped-half-a", "shipped-half-b"]
    assert proof.members("shipped") == ["seed-3407", "seed-2", "seed-3"]
    steps = proof.plan()
    kinds = [s.kind for s in steps]
    assert kinds.count("evolve:shipped") == 3 and kinds.count("evolve:paper") == 1  # a half is timed as its arm
    assert kinds.count("seeds") == 1 and kinds.count("finetune") == 5
    # base, seeds, paper and shipped's mean, then its three members: T1, T2's two halves, T3 each
    assert len([k for k in kinds if k.startswith("eval:")]) == 7 * 4 and not any(s.done() for s in steps)


def test_the_shipped_recipe_is_the_one_the_protocol_registered():
    """recipes/verified.toml is what the proof measures: an edit to it (a key, a comment) leaves the
    proof's figures about another file, so it fails here until a new protocol registers it."""
    named = re.search(r"recipe_sha256:\s*`?([0-9a-f]{64})", prove.PROTOCOL.read_text(encoding="utf-8"))
    assert named, "PROTOCOL.md registers no recipe_sha256"
    assert named.group(1) == hashlib.sha256((REPO / "recipes" / "verified.toml").read_bytes()).hexdigest()


def test_a_clone_without_work_resumes_from_the_published_runs(tmp_path: Path):
    """What publish() puts in runs/ is what restore() gives a fresh --work: the rows and the
    finished answers come back, so their steps are done, and a fine-tune whose every evaluation
    came back is done without its model; an unfinished evaluation's answers are not published."""
    arms, runs = _protocol(tmp_path), tmp_path / "runs"
    first = prove.Proof(tmp_path / "w1", quick=True, arms_dir=arms, runs=runs)
    (first.rows("paper")).parent.mkdir(parents=True)
    first.rows("paper").write_text('{"instruction": "x"}\n')
    for _, name, _, _ in first.evals("paper"):
        _answers(tmp_path / "w1" / "paper" / name, {"k": True})
    (tmp_path / "w1" / "seeds" / "ifeval").mkdir(parents=True)  # cut off: answers, no results.json
    (tmp_path / "w1" / "seeds" / "ifeval" / "responses.jsonl").write_text("{}\n")
    # seeds/ifeval's 7 s timed answers that only w1 has: a fresh --work starts it from 0 s
    (tmp_path / "w1" / "steps.json").write_text(json.dumps({"paper/evolve": 100.0, "seeds/ifeval": 7.0}))
    first.publish()
    assert (runs / "paper" / "train.jsonl").is_file() and (runs / "paper" / "ifeval.results.json").is_file()
    assert not (runs / "seeds").exists()
    assert json.loads((runs / "steps.json").read_text()) == {"paper/evolve": 100.0}  # done steps' times only

    fresh = prove.Proof(tmp_path / "w2", quick=True, arms_dir=arms, runs=runs)
    (tmp_path / "w2").mkdir()
    (tmp_path / "w2" / "steps.json").write_text(json.dumps({"base/ifeval": 5.0}))
    before = {s.id: s.done() for s in fresh.plan()}
    fresh.restore()
    after = {s.id: s.done() for s in fresh.plan()}
    now_done = {k for k in after if after[k] and not before[k]}
    assert now_done == {"paper/evolve", "paper/finetune"} | {f"paper/{n}" for _, n, _, _ in fresh.evals("paper")}
    assert not (tmp_path / "w2" / "paper" / "ft" / "model.gguf").exists()  # done from its answers alone
    assert fresh.verdicts("paper", "ifeval") == first.verdicts("paper", "ifeval")
    assert fresh.timings == {"paper/evolve": 100.0, "base/ifeval": 5.0}
    # a tune with an evaluation still to run is not done without its model
    (tmp_path / "w2" / "paper" / "new_types" / "results.json").unlink()
    assert not next(s for s in fresh.plan() if s.id == "paper/finetune").done()


def test_the_published_runs_are_not_ignored_by_git():
    """runs/ is committed: a .gitignore pattern that hid it would lose every finished step with
    the next checkout that has no benchmarks/work/."""
    for path in ("train.jsonl", "ifeval.responses.jsonl", "steps.json"):
        hidden = subprocess.run(["git", "check-ignore", "-q", str(prove.PROOF / "runs" / "shipped" / path)],
                                cwd=REPO, capture_output=True)
        assert hidden.returncode == 1, f"benchmarks/proof/runs/shipped/{path} is ignored by git"


def test_an_unfinished_evolve_resumes_on_another_machine_from_its_published_journal(tmp_path: Path):
    """publish() copies an evolve's journal (not its binary vectors) to runs/<arm>/journal/ while
    its rows are not made; a fresh --work gets it back with the step's time so far; once the rows
    are made, the journal leaves runs/."""
    arms, runs = _protocol(tmp_path), tmp_path / "runs"
    first = prove.Proof(tmp_path / "w1", quick=True, arms_dir=arms, runs=runs)
    (tmp_path / "w1" / "shipped").mkdir(parents=True)
    for f in prove.JOURNAL:
        (tmp_path / "w1" / "shipped" / f).write_text(f"{f}\n")
    (tmp_path / "w1" / "shipped" / "dedup_index.f32").write_bytes(b"\0" * 8)
    (tmp_path / "w1" / "steps.json").write_text(json.dumps({"shipped/evolve": 50.0, "paper/evolve": 9.0}))
    first.publish()
    assert sorted(p.name for p in (runs / "shipped" / "journal").iterdir()) == sorted(prove.JOURNAL)
    assert not (runs / "paper").exists()  # paper's 9 s timed nothing this checkout can resume
    assert json.loads((runs / "steps.json").read_text()) == {"shipped/evolve": 50.0}

    fresh = prove.Proof(tmp_path / "w2", quick=True, arms_dir=arms, runs=runs)
    fresh.restore()
    assert all((tmp_path / "w2" / "shipped" / f).read_text() == f"{f}\n" for f in prove.JOURNAL)
    assert fresh.timings == {"shipped/evolve": 50.0}
    fresh.rows("shipped").parent.mkdir(parents=True)
    fresh.rows("shipped").write_text('{"instruction": "x"}\n')
    fresh.publish()
    assert not (runs / "shipped" / "journal").exists() and (runs / "shipped" / "train.jsonl").is_file()
