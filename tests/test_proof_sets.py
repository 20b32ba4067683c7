"""The proof's evaluation sets (benchmarks/proof/sets/): a rebuild gives the committed bytes; dev
and T3 come from held-out prompts that no training seed file holds and that they do not share;
dev asks only for types evolution draws, T3 only for test-only ones, both in the held-out
phrasings; each T2 file holds the IFEval prompts of one half, all of them; and every constraint
read back from the files is met by the registry's own example answer and failed by an empty one,
through the checkers `wizardlite eval` scores with."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from wizardlite import constraints as C
from wizardlite.evolve.dedup import normalise
from wizardlite.evolve.seeds import load_seeds
from wizardlite.recipe import SeedsConfig

REPO = Path(__file__).resolve().parents[1]
SETS = REPO / "benchmarks" / "proof" / "sets"
SCRIPT = REPO / "benchmarks" / "proof" / "sets.py"
sys.path.insert(0, str(SCRIPT.parent))
sys.path.insert(0, str(REPO / "benchmarks"))

import sets  # noqa: E402

# The types whose checker asks for an absence (no digits, no colons...): an empty text has none.
ABSENCE = {"case:no_all_caps", "lexical:no_digits", "lexical:no_first_person", "punctuation:no_colons",
           "punctuation:no_exclamation", "repetition:max_word_repeats"}


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (SETS / name).read_text(encoding="utf-8").splitlines()]


def base(prompt: str) -> str:
    """The held-out prompt under a constrained row: all but its last paragraph, the constraints'."""
    return prompt.rsplit("\n\n", 1)[0]


def grams(text: str, n: int = 8) -> set[tuple[str, ...]]:
    w = normalise(text).split()
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)} or {tuple(w)}


def shared(prompts: list[str], seeds: list[str]) -> list[str]:
    """The prompts that are a seed (normalised) or share an 8-word run with one."""
    exact = {normalise(s) for s in seeds}
    runs = set().union(*(grams(s) for s in seeds))
    return [p for p in prompts if normalise(p) in exact or grams(p) & runs]


def training_seed_files() -> set[Path]:
    """Every seed file a recipe or an arm evolves: each recipe's [seeds] path (an arm's recipe is
    one of them) and the two files the ifeval_gain driver joins for every arm."""
    import ifeval_gain

    named = {(REPO / tomllib.loads(p.read_text())["seeds"]["path"]).resolve() for p in (REPO / "recipes").glob("*.toml")}
    for arm in (REPO / "benchmarks" / "arms").rglob("*.toml"):
        if recipe := tomllib.loads(arm.read_text()).get("recipe"):
            named.add((REPO / tomllib.loads((REPO / recipe).read_text())["seeds"]["path"]).resolve())
    return named | {ifeval_gain.SELF_INSTRUCT_SEEDS.resolve(), ifeval_gain.OWN_SEEDS.resolve()}


@pytest.fixture(scope="module")
def training_seeds() -> list[str]:
    files = training_seed_files() | set((REPO / "recipes" / "seeds").glob("*.jsonl"))  # and any seed file beside them
    return [s.instruction for f in sorted(files) for s in load_seeds(SeedsConfig(path=str(f)))[0]]


# ---------------------------------------------------------------------------- deterministic


def test_a_rebuild_in_a_fresh_process_gives_the_committed_bytes(tmp_path):
    env = {**os.environ, "PYTHONHASHSEED": "4321"}  # set order must not leak into the files
    res = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "dev.jsonl" in res.stdout and "t3_new.jsonl" in res.stdout  # the counts table
    for name in sets.FILES:
        assert (tmp_path / name).read_bytes() == (SETS / name).read_bytes(), \
            f"{name} differs from a rebuild: run `python benchmarks/proof/sets.py` and pre-register the new sets"


def test_stale_names_a_changed_or_missing_file(tmp_path):
    shutil.copytree(SETS, tmp_path, dirs_exist_ok=True)
    files = {n: (SETS / n).read_text(encoding="utf-8") for n in sets.FILES}
    assert sets.stale(tmp_path, files) == []
    (tmp_path / "dev.jsonl").write_text(files["dev.jsonl"].replace("reply", "answer", 1), encoding="utf-8")
    (tmp_path / "t3_new.jsonl").unlink()
    assert sets.stale(tmp_path, files) == ["dev.jsonl", "t3_new.jsonl"]


def test_the_split_is_by_each_prompts_own_hash():
    prompts = sets.heldout_prompts()
    assert len(prompts) == len(set(prompts))
    assert [p for p in prompts if sets.set_of(p) == "dev"] == [base(r["prompt"]) for r in rows("dev.jsonl")]
    assert [p for p in prompts if sets.set_of(p) == "t3"] == [base(r["prompt"]) for r in rows("t3_new.jsonl")]
    assert sets.set_of("  " + prompts[0] + "\n") == sets.set_of(prompts[0])


def test_the_readme_counts_are_the_files():
    readme = (SETS / "README.md").read_text(encoding="utf-8")
    manifest = json.loads((SETS / "manifest.json").read_text(encoding="utf-8"))
    for name, s in manifest["sets"].items():
        assert re.search(rf"\| `{re.escape(name)}` \| {s['prompts']} \| {s['instructions']} \|", readme), name


# ---------------------------------------------------------------------------- held out


def test_the_heldout_file_is_no_training_seed_file():
    files = training_seed_files()
    assert {f.name for f in files} >= {"self_instruct.jsonl", "general.jsonl", "code.jsonl"}  # the search finds them
    assert sets.HELDOUT.resolve() not in files
    for toml in [*(REPO / "recipes").glob("*.toml"), *(REPO / "benchmarks" / "arms").rglob("*.toml")]:
        recipe = tomllib.loads(toml.read_text())
        recipe.pop("decontaminate", None)  # the one place a recipe may name them: what must not be trained on
        assert sets.HELDOUT.name not in json.dumps(recipe), f"{toml} names the held-out prompts"


def test_dev_and_t3_share_no_seed_with_training_or_each_other(training_seeds):
    dev, t3 = [base(r["prompt"]) for r in rows("dev.jsonl")], [base(r["prompt"]) for r in rows("t3_new.jsonl")]
    assert 150 <= len(dev) <= 300 and len(t3) >= 100
    heldout = set(sets.heldout_prompts())
    assert set(dev) <= heldout and set(t3) <= heldout
    assert shared(dev, training_seeds) == [] and shared(t3, training_seeds) == []
    assert not {normalise(p) for p in dev} & {normalise(p) for p in t3}
    assert shared(dev, t3) == []


def test_no_heldout_prompt_overlaps_a_test_set():
    testsets = REPO / "recipes" / "testsets"
    others = [json.loads(line)["prompt"] for line in (testsets / "ifeval_input_data.jsonl").read_text().splitlines()]
    others += [json.loads(line)["instruction"] for line in (testsets / "general.jsonl").read_text().splitlines()]
    assert shared(sets.heldout_prompts(), others) == []


def test_the_overlap_check_catches_a_planted_seed(training_seeds):
    dev = [base(r["prompt"]) for r in rows("dev.jsonl")][:5]
    copied, reworded = training_seeds[3], training_seeds[40].upper() + " Thanks!"
    assert shared([*dev, copied, reworded], training_seeds) == [copied, reworded]


# ---------------------------------------------------------------------------- what each set asks


def asked(name: str) -> list[tuple[dict, list[C.Constraint]]]:
    return [(r, C.from_ifeval(r)) for r in rows(name)]


def assert_held_out_phrasings(row: dict, cons: list[C.Constraint]) -> None:
    said = row["prompt"].rsplit("\n\n", 1)[1]
    for c in cons:
        shown = c.type.display(c.kwargs)
        assert any(p.format(**shown) in said for p in c.type.says.held_out), (row["key"], c.id)
        assert not any(p.format(**shown) in said for p in c.type.phrasings), (row["key"], c.id)


def assert_drawn_together(cons: list[C.Constraint]) -> None:
    assert 1 <= len(cons) <= 3
    assert not any(C.conflicts(a.id, b.id) for i, a in enumerate(cons) for b in cons[i + 1:])


def test_dev_asks_what_evolution_draws_in_words_it_never_trains_on():
    drawable = set(C.pool())
    for row, cons in asked("dev.jsonl"):
        assert {c.id for c in cons} <= drawable, row["key"]
        assert not any(c.type.test_only for c in cons), row["key"]
        assert_drawn_together(cons)
        assert_held_out_phrasings(row, cons)
    used = {c.id for _, cons in asked("dev.jsonl") for c in cons}
    assert len(used) >= 60  # the draw reaches most of the registry, IFEval's types and its own


def test_t3_asks_only_for_test_only_types_in_their_held_out_words():
    for row, cons in asked("t3_new.jsonl"):
        assert all(c.type.test_only for c in cons), row["key"]
        assert_drawn_together(cons)
        assert_held_out_phrasings(row, cons)
    used = {c.id for _, cons in asked("t3_new.jsonl") for c in cons}
    assert len(used) >= 10 and used <= set(sets.test_only_types())


@pytest.mark.parametrize("half", ["a", "b"])
def test_each_t2_file_holds_every_ifeval_prompt_of_its_half_verbatim(half):
    lines = (SETS / f"t2_half_{half}.jsonl").read_text(encoding="utf-8").splitlines()
    ifeval = sets.IFEVAL.read_text(encoding="utf-8").splitlines()
    assert all(C.half_of(i) == half for line in lines for i in json.loads(line)["instruction_id_list"])
    assert lines == [line for line in ifeval if {C.half_of(i) for i in json.loads(line)["instruction_id_list"]} == {half}]
    assert 150 <= len(lines) < len(ifeval)


def test_a_prompt_with_both_halves_is_in_neither_t2_file():
    keys = {json.loads(line)["key"] for h in "ab" for line in (SETS / f"t2_half_{h}.jsonl").read_text().splitlines()}
    mixed = [json.loads(line) for line in sets.IFEVAL.read_text().splitlines()
             if len(sets.halves(json.loads(line))) == 2]
    assert mixed and not keys & {r["key"] for r in mixed}
    assert sets.halves({"instruction_id_list": ["punctuation:no_comma", "keywords:frequency"]}) == {"a", "b"}


# ---------------------------------------------------------------------------- scored as verified


@pytest.mark.parametrize("name", ["dev.jsonl", "t3_new.jsonl"])
def test_every_constraint_round_trips_through_the_checkers(name):
    from wizardlite.eval.checkers import check, known
    from wizardlite.eval.data import read_prompts

    prompts, report = read_prompts(SETS / name, known())
    assert report.skipped == [] and len(prompts) == len(rows(name))  # `wizardlite eval --data` reads it whole
    for p, (row, cons) in zip(prompts, asked(name), strict=True):
        answer = C.witness(cons)  # the registry's example answer, from the kwargs as the file has them
        assert answer is not None, row["key"]
        assert all(C.check(answer, cons)) and all(C.check(answer, cons, loose=True)), row["key"]
        verdicts = check(p, answer)
        assert all(v.strict and v.loose and not v.error for v in verdicts), (row["key"], verdicts)
        assert not any(v.strict or v.loose for v in check(p, "")), row["key"]  # an empty answer follows nothing
        assert {c.id for c, ok in zip(cons, C.check("", cons), strict=True) if ok} <= ABSENCE, row["key"]
