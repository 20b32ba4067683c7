"""Decontamination: evolve eliminates a kept instruction that copies or lightly paraphrases an
evaluation prompt, names the prompt it matched, and keeps unrelated ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizardlite.errors import ConfigError
from wizardlite.evolve import _check_resume, _resolved
from wizardlite.evolve import run as evolve_run
from wizardlite.evolve.decontam import CONTAMINATED, Decontaminator
from wizardlite.layout import RunLayout
from wizardlite.recipe import DecontaminateConfig, Recipe, load_recipe, recipe_to_dict
from wizardlite.records import ELIMINATED, KEPT, Record

ASSETS = Path(__file__).parent / "assets"
EVAL_PROMPT = ("Write a letter to your landlord about the broken heater in the kitchen and ask for a repair "
               "date, in fewer than 120 words and without any commas.")
COPY = f"Please help me with this. {EVAL_PROMPT} Thanks!"
PARAPHRASE = ("Write your landlord a letter about the kitchen heater that is broken and ask him for a date "
              "for the repair, using fewer than 120 words and no commas at all.")
UNRELATED = "Explain how a bicycle gear system trades speed for force when climbing a hill."


def kept(text: str) -> Record:
    return Record(id=text[:8], parent_id="p", root_id="p", round=1, operation="deepen", instruction=text,
                  response="an answer", status=KEPT)


@pytest.fixture
def eval_file(tmp_path):
    path = tmp_path / "eval.jsonl"
    rows = [{"key": 3001, "prompt": EVAL_PROMPT, "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
            {"key": 3002, "prompt": "Describe the water cycle to a ten year old in three short paragraphs.",
             "instruction_id_list": ["length_constraints:number_paragraphs"], "kwargs": [{"num_paragraphs": 3}]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def marked(cfg: DecontaminateConfig, embedder, texts):
    recs = [kept(t) for t in texts]
    Decontaminator(cfg, lambda: embedder).mark(recs)
    return recs


def test_a_copy_and_a_paraphrase_are_caught_and_an_unrelated_instruction_kept(eval_file, bow_embedder):
    copy, para, other = marked(DecontaminateConfig(files=(str(eval_file),), threshold=0.8), bow_embedder,
                               [COPY, PARAPHRASE, UNRELATED])
    assert (copy.status, copy.reason) == (ELIMINATED, CONTAMINATED)
    assert copy.meta["contaminated"]["key"] == "3001" and copy.meta["contaminated"]["test"] == "13-gram"
    assert (para.status, para.reason) == (ELIMINATED, CONTAMINATED)
    assert para.meta["contaminated"]["test"] == "embedding" and para.meta["contaminated"]["key"] == "3001"
    assert para.meta["contaminated"]["similarity"] >= 0.8
    assert other.status == KEPT and "contaminated" not in other.meta


def test_the_paraphrase_shares_no_13_gram_so_only_embeddings_catch_it(eval_file, bow_embedder):
    copy, para = marked(DecontaminateConfig(files=(str(eval_file),), threshold=0.0), bow_embedder, [COPY, PARAPHRASE])
    assert copy.status == ELIMINATED and para.status == KEPT


def test_a_short_prompt_must_appear_whole_and_other_layouts_are_read(tmp_path, bow_embedder):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"instruction": "Name three rivers in Europe."}) + "\n" + "not json\n")
    cfg = DecontaminateConfig(files=(str(path),), threshold=0.0)
    hit, miss = marked(cfg, bow_embedder, ["Name three rivers in Europe, within 50 words.", "Name three rivers."])
    assert hit.status == ELIMINATED and hit.meta["contaminated"]["key"] == "line 1"
    assert miss.status == KEPT


def test_a_missing_file_is_one_clear_error(tmp_path, bow_embedder):
    with pytest.raises(ConfigError, match="decontaminate.files"):
        Decontaminator(DecontaminateConfig(files=(str(tmp_path / "nope.jsonl"),)), lambda: bow_embedder)


def evolve_recipe(tmp_path, files=()):
    return load_recipe(None, {"run.seed": 5, "run.out": str(tmp_path / "run"),
                              "seeds.path": str(ASSETS / "seeds_small.jsonl"), "evolver.backend": "fake",
                              "evolve.rounds": 2, "dedup.near": False,
                              "decontaminate.files": list(files), "decontaminate.threshold": 0.0})


def test_evolve_eliminates_contaminated_records_and_counts_them(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"key": 42, "prompt": "Write a haiku about autumn leaves."}) + "\n")
    evolve_run(evolve_recipe(tmp_path, [str(path)]))
    run = RunLayout(tmp_path / "run")
    recs = [json.loads(x) for x in run.records.read_text().splitlines()]
    dirty = [r for r in recs if r["reason"] == CONTAMINATED]
    assert dirty and all(r["meta"]["contaminated"]["key"] == "42" for r in dirty)
    assert all("write a haiku about autumn leaves" in r["instruction"].lower() for r in dirty)
    assert not any("haiku about autumn" in r["instruction"].lower() for r in recs if r["status"] == KEPT)
    assert json.loads(run.summary.read_text())["reasons"][CONTAMINATED] == len(dirty)
    assert "haiku about autumn" not in run.train.read_text().lower()


def test_resume_accepts_a_run_made_before_the_section_existed(tmp_path):
    recipe = Recipe()
    run = RunLayout(tmp_path / "run")
    run.root.mkdir(parents=True)
    run.records.write_text("{}\n")
    old = recipe_to_dict(recipe)
    del old["decontaminate"], old["eval"]
    run.resolved.write_text(json.dumps({"recipe": old, "seeds_sha256": None}))
    _check_resume(run, {"recipe": recipe_to_dict(recipe), "seeds_sha256": None})  # no error
    now = recipe_to_dict(recipe)
    now["decontaminate"]["files"] = ["eval.jsonl"]  # listing a file later would leave earlier records unchecked
    with pytest.raises(ConfigError, match="decontaminate"):
        _check_resume(run, {"recipe": now, "seeds_sha256": None})


@pytest.mark.slow
def test_ifeval_copies_and_paraphrases_with_the_real_embedder(repo):
    path = repo / "recipes" / "testsets" / "ifeval_input_data.jsonl"
    from wizardlite.evolve.dedup import Embedder

    prompt = next(json.loads(x)["prompt"] for x in path.read_text().splitlines() if json.loads(x)["key"] == 1001)
    paraphrase = ("Plan a trip to Japan for me and write the itinerary in the style of Shakespeare. "
                  "Commas are not allowed in your answer.")
    embedder = Embedder("all-MiniLM-L6-v2")
    copy, para, other = marked(DecontaminateConfig(files=(str(path),)), embedder, [prompt, paraphrase, UNRELATED])
    assert copy.meta["contaminated"]["key"] == "1001" and copy.meta["contaminated"]["test"] == "13-gram"
    assert para.meta["contaminated"]["key"] == "1001" and para.meta["contaminated"]["test"] == "embedding"
    assert other.status == KEPT


def test_resume_compares_input_files_by_content_not_by_path(tmp_path):
    """A journal copied to a clone at another path resumes there; a changed file is still refused."""
    def recipe_in(folder: Path, seeds: str = "seed one\n", evals: str = "eval one\n") -> Recipe:
        folder.mkdir()
        (folder / "seeds.txt").write_text(seeds)
        (folder / "eval.jsonl").write_text(json.dumps({"prompt": evals}) + "\n")
        return load_recipe(None, [f"seeds.path={folder / 'seeds.txt'}",
                                  f"decontaminate.files=['{folder / 'eval.jsonl'}']", f"run.out={folder / 'run'}"])

    first = recipe_in(tmp_path / "a")
    run = RunLayout(tmp_path / "a" / "run")
    run.root.mkdir()
    run.records.write_text("{}\n")
    run.resolved.write_text(json.dumps(_resolved(first)))
    _check_resume(run, _resolved(recipe_in(tmp_path / "b")))  # same files elsewhere: no error
    with pytest.raises(ConfigError, match="seed file content"):
        _check_resume(run, _resolved(recipe_in(tmp_path / "c", seeds="seed two\n")))
    with pytest.raises(ConfigError, match="decontaminate"):
        _check_resume(run, _resolved(recipe_in(tmp_path / "d", evals="eval two\n")))
