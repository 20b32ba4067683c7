"""Seed loading: every format, every field layout, and bad input that must not crash."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from wizardlite.backends import CONTEXT, GenRequest, GenResult
from wizardlite.backends.fake import FakeGenerator
from wizardlite.errors import DataError
from wizardlite.evolve.seeds import load_seeds, summary
from wizardlite.recipe import SeedsConfig, recipe_from_dict
from wizardlite.records import SEED, read_records, record_id

ASSETS = Path(__file__).parent / "assets" / "seeds"
SELF_INSTRUCT_SEEDS = Path(__file__).resolve().parents[1] / "recipes" / "seeds" / "self_instruct.jsonl"
REPO = Path(__file__).parents[1]


def load(name: str | Path, **kw: object):
    return load_seeds(SeedsConfig(path=str(name), **kw), base_dir=ASSETS)  # type: ignore[arg-type]


def by_instruction(seeds):  # noqa: ANN001, ANN201
    return {s.instruction: s for s in seeds}


# ---------------------------------------------------------------------------- layouts


def test_alpaca_jsonl_with_bad_lines():
    seeds, report = load("alpaca.jsonl")
    assert [s.meta["line"] for s in seeds] == [1, 2, 10, 11]
    skipped = dict(report.skipped)
    assert sorted(skipped) == [3, 4, 6, 7, 8, 9]
    assert skipped[3].startswith("invalid JSON")
    assert "not a JSON object" in skipped[4]
    assert "no instruction field" in skipped[6] and "text" in skipped[6]
    assert skipped[7] == "empty instruction"
    assert "not text" in skipped[8]
    assert skipped[9] == "duplicate of line 1"
    assert report.rows == 8  # JSON objects read: lines 3 and 4 are not objects

    first, french = seeds[0], seeds[1]
    assert first.instruction == "Name three primary colours."
    assert first.response == "Red, yellow and blue."
    assert first.meta == {"source": "alpaca.jsonl", "line": 1, "source_id": "a1", "category": "knowledge"}
    assert french.instruction == "Translate to French.\n\nGood morning"
    assert seeds[3].instruction == "Sum the numbers." and seeds[3].response == ""  # nulls are empty


def test_seed_record_shape():
    seeds, _ = load("alpaca.jsonl")
    for s in seeds:
        assert s.id == record_id(None, 0, "seed", s.instruction)
        assert (s.parent_id, s.root_id, s.round, s.operation, s.status) == (None, s.id, 0, "seed", SEED)
    assert len({s.id for s in seeds}) == len(seeds)


def test_ids_are_stable_across_loads_and_formats(tmp_path):
    a, _ = load("alpaca.jsonl")
    b, _ = load("alpaca.jsonl")
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    # The same seeds written as CSV get the same ids: ids depend on content, not on the file.
    csv_path = tmp_path / "same.csv"
    csv_path.write_text("instruction,input,output\nTranslate to French.,Good morning,Bonjour\n")
    (c,), _ = load_seeds(SeedsConfig(path=str(csv_path)))
    assert c.id == a[1].id


def test_sharegpt_json():
    seeds, report = load("sharegpt.json")
    (s,) = seeds
    # The first human turn, and the first assistant turn after it (not the greeting before it).
    assert s.instruction == "What is the capital of Italy?"
    assert s.response == "Rome."
    assert s.meta["system"] == "You are terse."
    assert s.meta["source_id"] == "conv-1"
    reasons = dict(report.skipped)
    assert "no user turn" in reasons[2]
    assert "not a JSON object" in reasons[3]


def test_messages_jsonl():
    seeds, report = load("messages.jsonl")
    assert [s.instruction for s in seeds] == ["Opposite of hot?", "Tell me a joke."]
    assert seeds[0].response == "Cold." and seeds[1].response == ""
    assert seeds[0].meta["system"] == "Answer in one word."
    assert seeds[0].meta["skill"] == "knowledge"
    assert report.skipped == [(3, "field 'messages' is not a list")]


def test_wrapped_json_with_prompt_question_and_dolly_fields():
    seeds, report = load("wrapped.json")
    got = {s.instruction: s.response for s in seeds}
    assert got == {
        "Write a limerick about a cat.": "There once was a cat...",
        "How many legs does a spider have?": "Eight.",
        "Describe rain.\n\nfor a five-year-old": "Water falling from clouds.",
    }
    assert report.skipped == []


def test_json_list_named_json_but_holding_jsonl(tmp_path):
    p = tmp_path / "lines.json"
    p.write_text('{"instruction": "one"}\n{"instruction": "two"}\n')
    seeds, _ = load_seeds(SeedsConfig(path=str(p)))
    assert [s.instruction for s in seeds] == ["one", "two"]


def test_csv_with_multiline_cells_and_bad_rows():
    seeds, report = load("seeds.csv")
    assert [s.meta["line"] for s in seeds] == [2, 3]
    add, poem = seeds
    assert add.instruction == "Add the numbers.\n\n2, 3" and add.response == "5"
    assert add.meta["skill"] == "math"
    assert poem.instruction == "Write two lines\nabout the sea."
    assert poem.response == "Waves roll in,\nwaves roll out."
    reasons = dict(report.skipped)
    assert "cells" in reasons[6]  # the quoted row above spans lines 3-5
    assert reasons[7] == "empty instruction"


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "seeds.parquet"
    pq.write_table(pa.table({"instruction": ["Say hi.", "Count to three.", None],
                             "input": [None, "in French", None],
                             "output": ["Hi!", "un, deux, trois", None]}), p)
    seeds, report = load_seeds(SeedsConfig(path=str(p)))
    assert [s.instruction for s in seeds] == ["Say hi.", "Count to three.\n\nin French"]
    assert seeds[1].response == "un, deux, trois"
    assert report.skipped == [(3, "empty instruction")]


def test_datasets_folder(tmp_path):
    import datasets

    rows = {"question": ["What is ice?", "What is steam?"], "answer": ["Frozen water.", "Water vapour."]}
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows)}).save_to_disk(str(tmp_path / "dd"))
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "ds"))
    for folder in ("dd", "ds"):
        seeds, _ = load_seeds(SeedsConfig(path=folder), base_dir=tmp_path)
        assert [(s.instruction, s.response) for s in seeds] == [("What is ice?", "Frozen water."),
                                                                ("What is steam?", "Water vapour.")]
    seeds, _ = load_seeds(SeedsConfig(path="ds", format="hf", limit=1), base_dir=tmp_path)
    assert len(seeds) == 1


def test_self_instruct_layout():
    seeds, _ = load("self_instruct.jsonl")
    antonym, fact = seeds
    assert antonym.instruction == "Give the antonym of the word.\n\nhappy"
    assert antonym.response == "sad"
    assert antonym.meta["source_id"] == "seed_task_0" and antonym.meta["name"] == "antonyms"
    assert fact.instruction == "Tell me a fun fact about octopuses."


def test_shipped_self_instruct_file_loads_as_is():
    seeds, report = load_seeds(SeedsConfig(path=str(SELF_INSTRUCT_SEEDS)))
    assert len(seeds) == 175
    assert report.skipped == []
    rows = [json.loads(line) for line in SELF_INSTRUCT_SEEDS.read_text().splitlines()]
    for s, row in zip(seeds, rows, strict=True):
        inst = row["instances"][0]
        expected = row["instruction"].strip()
        if inst["input"].strip():
            expected += "\n\n" + inst["input"].strip()
        assert s.instruction == expected
        assert s.response == inst["output"].strip()
        assert s.meta["source_id"] == row["id"]
    assert sum("\n\n" in s.instruction for s in seeds) > 50  # many tasks carry an input


# ---------------------------------------------------------------------------- explicit fields


def test_explicit_fields_and_dotted_paths():
    seeds, report = load("custom.jsonl", instruction_field="query", input_field="ctx", output_field="gold")
    assert [(s.instruction, s.response) for s in seeds] == [
        ("What is 2 + 2?\n\nAnswer with a digit.", "4"), ("Spell cat backwards.", "tac")]
    assert report.skipped == [(3, "no field 'query'")]
    seeds, _ = load("custom.jsonl", instruction_field="query", output_field="meta.task")
    assert seeds[0].response == "math" and seeds[0].instruction == "What is 2 + 2?"


def test_explicit_output_field_overrides_detected_layout():
    seeds, _ = load("alpaca.jsonl", output_field="category")
    assert seeds[0].response == "knowledge"


# ---------------------------------------------------------------------------- limits and errors


def test_limit_keeps_first_usable_seeds():
    seeds, _ = load("alpaca.jsonl", limit=3)
    assert [s.meta["line"] for s in seeds] == [1, 2, 10]
    all_seeds, _ = load("alpaca.jsonl")
    assert [s.id for s in seeds] == [s.id for s in all_seeds[:3]]


def test_relative_path_resolves_against_base_dir_or_cwd(tmp_path, monkeypatch):
    shutil.copy(ASSETS / "self_instruct.jsonl", tmp_path / "s.jsonl")
    monkeypatch.chdir(tmp_path)
    assert len(load_seeds(SeedsConfig(path="s.jsonl"))[0]) == 2
    assert len(load_seeds(SeedsConfig(path="alpaca.jsonl"), base_dir=ASSETS)[0]) == 4


def test_missing_file_says_what_to_do():
    with pytest.raises(DataError, match=r"no seeds at .*nope\.jsonl: pass --seeds PATH"):
        load("nope.jsonl")


def test_no_usable_field_names_the_fields_seen():
    with pytest.raises(DataError, match=r"set seeds.instruction_field.*fields seen: query, ctx, gold, meta"):
        load("custom.jsonl")
    with pytest.raises(DataError, match="fields seen: a, b"):
        load("unusable.jsonl")


def test_all_lines_malformed_or_empty_file(tmp_path):
    with pytest.raises(DataError, match=r"no readable rows.*2 line\(s\) skipped, first: line 1: invalid JSON"):
        load("garbage.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="no readable rows"):
        load_seeds(SeedsConfig(path=str(tmp_path / "empty.jsonl")))


def test_unreadable_formats_raise_data_error(tmp_path):
    (tmp_path / "x.parquet").write_text("not parquet")
    (tmp_path / "x.bin").write_bytes(b"\x00\x01binary")
    (tmp_path / "folder").mkdir()
    (tmp_path / "bad.json").write_text('{"instruction": ')
    (tmp_path / "obj.json").write_text('{"a": 1, "b": 2}')
    for name, pattern in [("x.parquet", "cannot read .* as parquet"), ("x.bin", "cannot tell the format"),
                          ("folder", "not a `datasets` save_to_disk folder"), ("bad.json", "not valid JSON"),
                          ("obj.json", "without an obvious list of rows")]:
        with pytest.raises(DataError, match=pattern):
            load_seeds(SeedsConfig(path=name), base_dir=tmp_path)
    # An explicit format that does not match the file is a DataError too, not a traceback.
    with pytest.raises(DataError, match="as parquet"):
        load("alpaca.jsonl", format="parquet")


def test_summary_lists_skipped_lines():
    seeds, report = load("alpaca.jsonl")
    text = summary(seeds, report, show=2)
    assert text.startswith("4 seeds from") and "6 skipped" in text
    assert "line 3: invalid JSON" in text and "... and 4 more" in text


@pytest.mark.parametrize("path", ["recipes/seeds/general.jsonl", "recipes/seeds/code.jsonl",
                                  "recipes/testsets/general.jsonl"])
def test_project_seed_and_test_files_load_clean(path):
    seeds, report = load_seeds(SeedsConfig(path=path), base_dir=REPO)
    assert report.skipped == []
    assert len(seeds) == {"general.jsonl": 16 if "seeds" in path else 24, "code.jsonl": 10}[Path(path).name]
    assert all(len(s.instruction) < 400 for s in seeds)  # short: the default evolver has 2048 tokens


def test_testset_fields_and_no_overlap_with_seeds():
    rows = [json.loads(line) for line in (REPO / "recipes/testsets/general.jsonl").read_text().splitlines()]
    assert all(set(r) == {"instruction", "skill", "difficulty"} for r in rows)
    assert all(isinstance(r["difficulty"], int) and 1 <= r["difficulty"] <= 10 for r in rows)
    assert {r["skill"] for r in rows} >= {"writing", "math", "reasoning", "knowledge", "code", "planning"}
    seeds = set()
    for name in ("general.jsonl", "code.jsonl"):
        seeds |= {s.instruction.lower() for s in load_seeds(SeedsConfig(path=f"recipes/seeds/{name}"), REPO)[0]}
    assert not seeds & {r["instruction"].lower() for r in rows}


# ---------------------------------------------------------------------------- seeds longer than the context


class ContextLimited(FakeGenerator):
    """A fake that counts prompt tokens (one per word) and fails a prompt longer than its
    context the way the llama.cpp backend does: finish_reason CONTEXT with an error."""

    n_ctx = 300

    def prompt_tokens(self, req: GenRequest) -> list[int]:
        return [0] * sum(len(m["content"].split()) for m in req.messages)

    def _reply(self, req: GenRequest) -> GenResult:
        n = len(self.prompt_tokens(req))
        if n + 1 > self.n_ctx:
            return GenResult("", CONTEXT, n, 0, 0.0, f"prompt has {n} tokens; n_ctx is {self.n_ctx}")
        return super()._reply(req)


def test_a_seed_longer_than_the_context_is_skipped_once_at_load(tmp_path, monkeypatch):
    from wizardlite import evolve

    long_text = "Summarise this report: " + " ".join(f"word{i}" for i in range(400))
    rows = [{"instruction": "Name three rivers in Europe."}, {"instruction": "Explain why the sky is blue."},
            {"instruction": long_text}, {"instruction": "What is 17 times 23?"}]
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gen = ContextLimited.rule_based()
    gen.__class__ = ContextLimited
    monkeypatch.setattr(evolve, "make_generator", lambda cfg: gen)
    recipe = recipe_from_dict({"run": {"out": str(tmp_path / "run")}, "seeds": {"path": str(seeds)},
                               "evolver": {"backend": "fake"}, "evolve": {"rounds": 2}, "dedup": {"near": False}})
    out = evolve.run(recipe)

    records = read_records(out / "records.jsonl")
    long_id = record_id(None, 0, "seed", long_text)
    assert long_id not in {r.root_id for r in records}  # never tried, in no round
    assert not [r for r in records if r.reason == "backend_error"]
    assert not any(long_text in r.subject for r in gen.requests)
    assert len([r for r in records if r.status == SEED]) == 3 and len(records) == 3 + 3 * 2
    report = (out / "report.md").read_text()
    assert re.search(r"line 3: too long for the evolver's context \(its evolve prompt is \d+ tokens; n_ctx is 300\)",
                     report), report
    assert json.loads((out / "summary.json").read_text())["seed_lines_skipped"] == 1


def test_verified_seeds_are_the_self_instruct_and_general_seeds_as_the_seed_reader_reads_them():
    """recipes/seeds/verified.jsonl is derived, not written: the 175 Self-Instruct seeds then the
    16 general ones, each as `load_seeds` makes its prompt (instruction, then the input)."""
    rows = []
    for src in ("recipes/seeds/self_instruct.jsonl", "recipes/seeds/general.jsonl"):
        seeds, _ = load_seeds(SeedsConfig(path=src), base_dir=REPO)
        rows += [{"instruction": s.instruction} for s in seeds]
    expected = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    assert (REPO / "recipes/seeds/verified.jsonl").read_text(encoding="utf-8") == expected
    assert len(rows) == 191
