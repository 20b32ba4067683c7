"""The fine-tuning stage: data layouts and loss masks, LoRA invariants, resume, outputs, errors,
and (slow) the embedded model end to end with a GGUF that llama.cpp runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import tiny_llama

from wizardlite.errors import ConfigError, DataError, ModelError
from wizardlite.finetune import data as ft_data
from wizardlite.io import tree_sha256
from wizardlite.layout import RunLayout
from wizardlite.recipe import Recipe, load_recipe

ASSETS = Path(__file__).parent / "assets"
MESSAGES = ASSETS / "ft_messages.jsonl"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_llama.build(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def tokenizer(tiny: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny))


def recipe(tiny: Path, out: Path, **finetune) -> Recipe:
    r = load_recipe(None)
    settings = dict(base=str(tiny), data=str(MESSAGES), out=str(out), engine="cpu", batch_size=4, max_length=128,
                    max_steps=4, save_every=2, warmup_ratio=0.0, gguf_types=("f16",))
    ft = dataclasses.replace(r.finetune, **(settings | finetune))
    return dataclasses.replace(r, finetune=ft)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- data


def test_three_layouts_give_the_same_conversation():
    expect = [{"role": "user", "content": "Add 2 and 3.\n\nShow your work."}, {"role": "assistant", "content": "5"}]
    layouts = [
        {"messages": expect},
        {"instruction": "Add 2 and 3.", "input": "Show your work.", "output": "5"},
        {"conversations": [{"from": "human", "value": "Add 2 and 3.\n\nShow your work."}, {"from": "gpt", "value": "5"}]},
    ]
    assert [ft_data.to_messages(x) for x in layouts] == [(n, expect) for n in ("messages", "alpaca", "sharegpt")]
    for bad in ({"prompt": "x"}, {"messages": [{"role": "user", "content": "only a question"}]},
                {"conversations": [{"from": "robot", "value": "?"}]}):
        with pytest.raises(ValueError):
            ft_data.to_messages(bad)


def test_bad_lines_are_skipped_with_their_line_number(tmp_path: Path):
    good = {"instruction": "Say hi.", "output": "Hi!"}
    path = write_jsonl(tmp_path / "d.jsonl", [good, "{not json", {"text": "no layout"}, good])
    convs, report, formats = ft_data.read_conversations(path)
    assert len(convs) == 2 and formats == {"alpaca": 2}
    assert [n for n, _ in report.skipped] == [2, 3]


@pytest.mark.parametrize("rows", [[], [{"text": "a"}, {"foo": 1}]], ids=["empty", "unknown-layout"])
def test_no_usable_data_is_a_clear_error(tmp_path: Path, rows: list):
    with pytest.raises(DataError, match="messages, Alpaca"):
        ft_data.read_conversations(write_jsonl(tmp_path / "d.jsonl", rows))
    with pytest.raises(DataError, match="evolve"):
        ft_data.read_conversations(tmp_path / "missing.jsonl")


def _training_sets(root: Path) -> dict[str, Path]:
    """The ft_messages rows in every form `finetune --data` takes: an evolve run folder (its
    data/train.jsonl), that data/ folder, a run holding only its datasets folder (data/hf), the
    datasets folder itself, and JSONL, JSON and parquet files."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(x) for x in MESSAGES.read_text(encoding="utf-8").splitlines() if x.strip()]
    run = RunLayout(root / "runs" / "x")
    run.data.mkdir(parents=True)
    write_jsonl(run.train, rows)
    hf_only = RunLayout(root / "runs" / "hf-only")
    datasets.Dataset.from_list(rows).save_to_disk(str(hf_only.hf))
    (root / "rows.json").write_text(json.dumps({"data": rows}), encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(rows), root / "rows.parquet")
    return {"run": run.root, "data-folder": run.data, "run-with-datasets-folder": hf_only.root,
            "datasets-folder": hf_only.hf, "jsonl": run.train, "json": root / "rows.json",
            "parquet": root / "rows.parquet"}


FORMS = ["run", "data-folder", "run-with-datasets-folder", "datasets-folder", "jsonl", "json", "parquet"]


@pytest.mark.parametrize("form", FORMS)
def test_data_is_a_run_folder_its_data_folder_a_datasets_folder_or_a_file(tmp_path: Path, tokenizer, form: str):
    path = _training_sets(tmp_path)[form]
    found = ft_data.find_data(path)
    td = ft_data.prepare(found, tokenizer, 128, "responses", 0.25, seed=1)
    reference = ft_data.prepare(MESSAGES, tokenizer, 128, "responses", 0.25, seed=1)
    assert [e.key for e in td.train] == [e.key for e in reference.train] and len(td.eval) == len(reference.eval)
    assert len(tree_sha256(found)) == 64  # the resolved recipe records what was trained on


def test_data_that_is_none_of_those_names_what_was_looked_for(tmp_path: Path):
    empty_run = tmp_path / "runs" / "empty"
    empty_run.mkdir(parents=True)
    with pytest.raises(DataError) as e:
        ft_data.find_data(empty_run)
    for looked in (RunLayout(empty_run).train, RunLayout(empty_run).hf, empty_run / "train.jsonl"):
        assert str(looked) in str(e.value)
    assert "wizardlite evolve" in str(e.value)
    with pytest.raises(DataError, match="JSONL, JSON or parquet file, a `datasets` folder"):
        ft_data.find_data(tmp_path / "missing")
    odd = tmp_path / "train.txt"
    odd.write_text("instruction\toutput\n")
    with pytest.raises(DataError, match="cannot tell"):
        ft_data.read_conversations(odd)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="cannot read .*broken.parquet as parquet"):
        ft_data.read_conversations(broken)


def test_loss_is_on_the_answers_only(tokenizer):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 12 times 11?"},
            {"role": "assistant", "content": "It is 132."}, {"role": "user", "content": "And 2 times 3?"},
            {"role": "assistant", "content": "6."}]
    ex, cut = ft_data.encode(tokenizer, msgs, 512, "responses")
    trained = [t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != ft_data.IGNORE]
    assert not cut
    assert tokenizer.decode(trained) == "It is 132.<|im_end|>\n6.<|im_end|>\n"
    everything, _ = ft_data.encode(tokenizer, msgs, 512, "all")
    assert list(everything.labels) == list(everything.input_ids)


def test_max_length_shorter_than_the_template_is_refused(tokenizer):
    with pytest.raises(ConfigError, match="max_length"):
        ft_data.prepare(MESSAGES, tokenizer, 4, "responses", 0.1, 0)
    with pytest.raises(DataError, match="max_length"):  # room for the template, none for any answer
        ft_data.prepare(MESSAGES, tokenizer, ft_data.template_overhead(tokenizer) + 2, "responses", 0.1, 0)


def test_eval_split_is_seeded_and_disjoint(tokenizer):
    a = ft_data.prepare(MESSAGES, tokenizer, 128, "responses", 0.25, seed=1)
    b = ft_data.prepare(MESSAGES, tokenizer, 128, "responses", 0.25, seed=1)
    c = ft_data.prepare(MESSAGES, tokenizer, 128, "responses", 0.25, seed=2)
    keys = lambda xs: {e.key for e in xs}  # noqa: E731
    assert keys(a.eval) == keys(b.eval) and len(a.eval) == 4 and len(a.train) == 12
    assert not keys(a.eval) & keys(a.train)
    assert keys(a.eval) != keys(c.eval)


def _examples(n: int) -> list:
    return [ft_data.Example(f"conversation-{i}", (1, 2, 3), (1, 2, 3)) for i in range(n)]


@pytest.mark.parametrize("n, held_out", [(3, 0), (4, 1), (16, 4), (24, 6), (40, 8), (100, 10), (1000, 100)])
def test_the_default_split_holds_out_enough_to_measure(n: int, held_out: int):
    """The default recipe's 10% with a floor of finetune.eval_min (8), never more than a quarter
    of the data: the default run's 24 conversations used to give 2 eval conversations."""
    cfg = Recipe().finetune
    train, held = ft_data.split(_examples(n), cfg.eval_fraction, cfg.seed, cfg.eval_min)
    assert len(held) == held_out and len(train) == n - held_out
    assert not {e.key for e in train} & {e.key for e in held}
    assert ft_data.split(_examples(n), 0.0, cfg.seed, cfg.eval_min)[1] == []  # eval_fraction 0: no eval at all


@pytest.mark.parametrize("n_eval, warned", [(6, True), (8, False)])
def test_the_summary_says_how_many_examples_the_eval_loss_is_on(n_eval: int, warned: bool):
    from rich.console import Console

    from wizardlite.finetune import _summary
    from wizardlite.finetune.engine import TrainResult

    td = ft_data.TrainData(_examples(20), _examples(n_eval), ft_data.ReadReport("x"))
    console = Console(record=True, width=200)
    _summary(console, "cpu", Recipe().finetune, td, TrainResult(10, 0, 1000, 1.0, 2.5, 2.1, 2.0), {}, {})
    text = console.export_text()
    assert "cpu (TRL SFTTrainer)" in text
    assert f"2.5000 -> 2.1000 on {n_eval} held-out conversations" in text
    assert ("too few to tell a change from noise" in text) == warned


def test_batches_are_grouped_by_length_seeded_per_epoch_and_cover_every_example():
    import random

    rng = random.Random(7)
    lengths = [rng.randint(10, 500) for _ in range(70)]
    orders = [ft_data.grouped_order(lengths, 4, seed=1, epoch=e) for e in (0, 1)]
    assert all(sorted(o) == list(range(70)) for o in orders)  # each example once per epoch
    assert orders[0] == ft_data.grouped_order(lengths, 4, seed=1, epoch=0)  # what a resumed run sees again
    assert orders[0] != orders[1] and orders[0] != ft_data.grouped_order(lengths, 4, seed=2, epoch=0)

    def padding(order: list[int]) -> int:
        batches = [order[i:i + 4] for i in range(0, len(order), 4)]
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    shuffled = list(range(70))
    random.Random(0).shuffle(shuffled)
    assert padding(orders[0]) < padding(shuffled) / 3
    sizes = [len(orders[0][i:i + 4]) for i in range(0, 70, 4)]
    assert sizes == [4] * 17 + [2]  # the one short batch last, so cutting the order in fours stays aligned


# ---------------------------------------------------------------------------- training


@pytest.mark.slow
def test_lora_changes_only_the_adapter_and_merges_exactly(tiny: Path, tmp_path: Path):
    import torch
    from rich.console import Console
    from safetensors.torch import load_file

    from wizardlite import finetune

    r = recipe(tiny, tmp_path / "ft", export=("adapter", "merged"), merged_dtype="f32")
    out = finetune.run(r, console=Console(quiet=True))
    info = json.loads((out / "recipe.resolved.json").read_text())["results"]
    assert info["steps"] == 4 and info["eval_loss_after"] < info["eval_loss_before"]
    base = load_file(str(tiny / "model.safetensors"))
    adapter = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    merged = load_file(str(out / "merged" / "model.safetensors"))
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    b, a = adapter[f"{prefix}.lora_B.weight"], adapter[f"{prefix}.lora_A.weight"]
    assert b.abs().sum() > 0  # LoRA B starts at zero: any change means it trained
    assert not any("base_layer" in k for k in adapter)  # only the adapters were saved, the base stays the base
    q = "model.layers.0.self_attn.q_proj.weight"
    cfg = r.finetune
    assert torch.allclose(merged[q], base[q] + (cfg.alpha / cfg.rank) * (b @ a), atol=1e-6)
    assert torch.equal(merged["model.embed_tokens.weight"], base["model.embed_tokens.weight"])  # not a target


@pytest.mark.slow
def test_ctrl_c_saves_the_step_and_the_rerun_resumes_there(tiny: Path, tmp_path: Path):
    """Ctrl-C (SIGINT) during step 3: the step finishes, TRL's checkpoint-3 is written, the run
    stops with KeyboardInterrupt; running the same recipe again continues from step 3 to the
    adapter an uninterrupted run makes."""
    import os
    import signal

    import torch
    from rich.console import Console
    from safetensors.torch import load_file

    from wizardlite import finetune

    quiet = Console(quiet=True)
    straight = finetune.run(recipe(tiny, tmp_path / "a", export=("adapter",), save_every=50), console=quiet)

    def ctrl_c_at_3(step: int) -> None:
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    r = recipe(tiny, tmp_path / "b", export=("adapter",), save_every=50)
    with pytest.raises(KeyboardInterrupt):
        finetune.run(r, console=quiet, on_step=ctrl_c_at_3)
    assert [p.name for p in (tmp_path / "b" / "checkpoints").glob("checkpoint-*")] == ["checkpoint-3"]
    resumed = finetune.run(r, console=quiet)
    info = json.loads((resumed / "recipe.resolved.json").read_text())
    assert info["results"]["resumed_from"] == 3 and info["results"]["steps"] == 4
    steps = [row["step"] for row in map(json.loads, (resumed / "metrics.jsonl").read_text().splitlines()) if "loss" in row]
    assert steps == [1, 2, 3, 4]
    a = load_file(str(straight / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(resumed / "adapter" / "adapter_model.safetensors"))
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)  # the same run, cut in two


@pytest.mark.slow
def test_outputs_and_resolved_recipe(tmp_path: Path):
    import tiny_models
    from rich.console import Console

    from wizardlite import __version__, finetune
    from wizardlite.gguf.to_hf import base_folder
    from wizardlite.io import file_sha256

    # llama.cpp's converter writes only tokenizers it knows: the tiny Llama with SmolLM2's
    tiny = tiny_models.build(tmp_path / "base", "llama", base_folder("smollm2"))
    out = finetune.run(recipe(tiny, tmp_path / "ft"), console=Console(quiet=True))
    for name in ("adapter/adapter_model.safetensors", "merged/model.safetensors", "merged/tokenizer.json",
                 "model.gguf", "adapter.gguf", "Modelfile", "metrics.jsonl", "loss.png"):
        assert (out / name).is_file(), name
    info = json.loads((out / "recipe.resolved.json").read_text())
    assert info["engine"] == "cpu" and info["wizardlite"] == __version__ and info["status"] == "done"
    assert info["data"]["sha256"] == file_sha256(MESSAGES)
    assert info["recipe"]["finetune"]["max_steps"] == 4
    assert "FROM ./model.gguf" in (out / "Modelfile").read_text()


# ---------------------------------------------------------------------------- errors


def test_unsloth_without_a_gpu_is_a_config_error(monkeypatch: pytest.MonkeyPatch):
    import torch

    from wizardlite.finetune import choose_engine

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="GPU") as e:
        choose_engine("unsloth")
    assert "\n" not in str(e.value)
    assert choose_engine("auto").engine == "cpu" and choose_engine("cpu").engine == "cpu"
    assert choose_engine("qlora").engine == "qlora"  # bitsandbytes' CPU kernels
    with pytest.raises(ConfigError, match="not one of auto, cpu, qlora, unsloth"):
        choose_engine("tpu")


def test_auto_on_a_gpu_takes_unsloth_when_it_imports_else_qlora_never_the_cpu(monkeypatch: pytest.MonkeyPatch):
    from wizardlite.finetune import engine

    monkeypatch.setattr(engine, "cuda_available", lambda: True)
    monkeypatch.setattr(engine, "_unsloth_imports", lambda: "ModuleNotFoundError: No module named 'unsloth'")
    choice = engine.choose_engine("auto")
    assert choice.engine == "qlora" and "unsloth does not import (ModuleNotFoundError" in choice.why
    with pytest.raises(ConfigError, match='pip install ".\\[gpu\\]"'):
        engine.choose_engine("unsloth")
    monkeypatch.setattr(engine, "_unsloth_imports", lambda: None)
    assert engine.choose_engine("auto") == engine.Choice("unsloth", "CUDA GPU and unsloth imports")
    assert engine.choose_engine("cpu").engine == "cpu"  # asked for: the CPU, even with a GPU


@pytest.mark.parametrize("key, value, message", [
    ("engine", "gpu", "not one of auto, cpu, qlora, unsloth"), ("precision", "fp8", "not one of auto, fp32, bf16, fp16"),
    ("warmup_ratio", 1.5, "warmup_ratio must be in"), ("save_every", 0, "save_every must be >= 1"),
    ("seeds", [7], "set finetune.seed instead"), ("seeds", [1, 2, 1], "a seed is named twice")])
def test_finetune_settings_are_validated(key: str, value: object, message: str):
    with pytest.raises(ConfigError, match=message):
        load_recipe(None, {f"finetune.{key}": value})


def test_missing_or_wrong_base_is_a_model_error(tmp_path: Path):
    from wizardlite.gguf.to_hf import base_folder

    with pytest.raises(ModelError):
        base_folder(str(tmp_path / "nothing-here"))
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertForMaskedLM"]}))
    with pytest.raises(ModelError, match="not a causal language model"):
        base_folder(str(tmp_path / "bert"))


def test_out_of_memory_names_the_settings_to_lower(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from rich.console import Console
    from trl import SFTTrainer

    from wizardlite import finetune

    def oom(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 123 bytes")

    monkeypatch.setattr(SFTTrainer, "compute_loss", oom)
    with pytest.raises(ConfigError, match="batch_size") as e:
        finetune.run(recipe(tiny, tmp_path / "ft", export=("adapter",)), console=Console(quiet=True))
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_embedded_model_end_to_end(tmp_path: Path):
    """A few LoRA steps on SmolLM2, GGUF export, and a reply from llama.cpp via `wizardlite chat`."""
    pytest.importorskip("llama_cpp")
    from rich.console import Console
    from typer.testing import CliRunner

    from wizardlite import finetune
    from wizardlite.cli import app
    from wizardlite.gguf.to_hf import base_folder

    try:
        base_folder("smollm2")
    except ModelError as e:
        pytest.skip(str(e))
    r = load_recipe(None)
    r = dataclasses.replace(r, finetune=dataclasses.replace(
        r.finetune, base="smollm2", data=str(MESSAGES), out=str(tmp_path / "ft"), engine="cpu", max_steps=2,
        batch_size=2, max_length=256, export=("gguf",)))
    out = finetune.run(r, console=Console(quiet=True))
    info = json.loads((out / "recipe.resolved.json").read_text())
    assert info["results"]["eval_loss_after"] < info["results"]["eval_loss_before"]
    res = CliRunner().invoke(app, ["chat", str(out / "model.gguf"), "--prompt", "What is the capital of France?",
                                   "--max-tokens", "24", "--temperature", "0"])
    assert res.exit_code == 0, res.output
    assert len(res.stdout.strip()) > 0


# ---------------------------------------------------------------------------- averaging fine-tunes


@pytest.mark.slow
def test_average_is_the_mean_of_the_members_updates(tiny: Path, tmp_path: Path):
    """Two tunes that differ only in their seed, averaged: every weight is the mean of the two
    merged models (merged by PEFT, each on its own), and what no adapter touched stays the base's."""
    import torch
    from rich.console import Console
    from safetensors.torch import load_file

    from wizardlite import finetune
    from wizardlite.finetune.average import average

    quiet = Console(quiet=True)
    members = [finetune.run(recipe(tiny, tmp_path / f"s{seed}", seed=seed, export=("adapter", "merged"),
                                   merged_dtype="f32"), console=quiet) for seed in (1, 2)]
    out = average(members, tmp_path / "avg", console=quiet)
    a, b = (load_file(str(m / "merged" / "model.safetensors")) for m in members)
    mean = load_file(str(out / "merged" / "model.safetensors"))
    base = load_file(str(tiny / "model.safetensors"))
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(a[q], b[q], atol=1e-4)  # the seeds tuned apart: the mean is not either one
    assert set(mean) == set(a)
    assert all(torch.allclose(mean[k], (a[k] + b[k]) / 2, atol=1e-6) for k in mean)
    assert torch.equal(mean["model.embed_tokens.weight"], base["model.embed_tokens.weight"])
    info = json.loads((out / "average.json").read_text())
    assert [m["seed"] for m in info["members"]] == [1, 2] and "merged" in info["outputs"]
    assert not (out / "adapter").exists()  # no one adapter stands for the mean
    # the sizes it reports are those of each member's change to the base, read back from merged/
    norms = [sum(float(((m[k] - base[k]) ** 2).sum()) for k in base) ** 0.5 for m in (a, b)]
    assert info["agreement"]["update_norms"] == pytest.approx(norms, rel=1e-3)
    mean_norm = sum(float(((mean[k] - base[k]) ** 2).sum()) for k in base) ** 0.5
    assert info["agreement"]["kept"] == pytest.approx(mean_norm / (sum(norms) / 2), rel=1e-3)


@pytest.mark.slow
def test_finetune_seeds_trains_each_then_ships_their_mean_checked_and_a_rerun_keeps_them(tmp_path: Path):
    """`finetune.seeds = [1, 2]`: two whole fine-tunes in seed-1/ and seed-2/, their mean in the
    output folder as the model (its GGUF checked against merged/), and the same command again
    trains nothing; another setting trains the members again."""
    import tiny_models
    from rich.console import Console

    from wizardlite import finetune
    from wizardlite.gguf.to_hf import base_folder

    tiny = tiny_models.build(tmp_path / "base", "llama", base_folder("smollm2"))  # a tokenizer the converter knows
    steps: list[int] = []
    r = recipe(tiny, tmp_path / "ft", seeds=(1, 2), max_steps=2)
    out = finetune.run(r, console=Console(quiet=True), on_step=steps.append)
    assert out == tmp_path / "ft" and len(steps) == 4  # two steps for each seed
    for seed in (1, 2):
        member = json.loads((out / f"seed-{seed}" / "recipe.resolved.json").read_text())
        assert member["status"] == "done" and member["recipe"]["finetune"]["seed"] == seed
        assert (out / f"seed-{seed}" / "model.gguf").is_file()
    info = json.loads((out / "average.json").read_text())
    assert [m["seed"] for m in info["members"]] == [1, 2]
    assert (out / "model.gguf").is_file() and [p["ftype"] for p in info["parity"]] == ["f16"]
    assert info["parity"][0]["ok"] and info["parity"][0]["argmax"] >= 0.95
    def mtimes() -> list[int]:
        return [p.stat().st_mtime_ns for p in (out / "seed-1" / "adapter" / "adapter_model.safetensors",
                                               out / "average.json", out / "model.gguf")]

    before = mtimes()
    finetune.run(r, console=Console(quiet=True), on_step=steps.append)
    assert len(steps) == 4  # both members were finished: nothing trained again
    assert mtimes() == before  # nor averaged and exported again: the mean of these members is there
    (out / "model.gguf").unlink()
    finetune.run(r, console=Console(quiet=True), on_step=steps.append)
    assert len(steps) == 4 and (out / "model.gguf").is_file()  # an output gone: averaged again, not trained
    finetune.run(dataclasses.replace(r, finetune=dataclasses.replace(r.finetune, learning_rate=1e-4)),
                 console=Console(quiet=True), on_step=steps.append)
    assert len(steps) == 8  # a setting that changes the weights: both trained anew
    assert json.loads((out / "average.json").read_text())["members"] != info["members"]  # and averaged anew


def test_agreement_of_equal_unrelated_and_opposite_updates():
    from wizardlite.finetune.average import Agreement

    same, unrelated, opposite = Agreement(((4.0, 4.0), (4.0, 4.0))), Agreement(((4.0, 0.0), (0.0, 4.0))), \
        Agreement(((4.0, -4.0), (-4.0, 4.0)))
    assert same.norms == [2.0, 2.0] and same.cosines == [1.0] and same.kept == pytest.approx(1.0)
    assert unrelated.cosines == [0.0] and unrelated.kept == pytest.approx(2 ** -0.5)
    assert opposite.cosines == [-1.0] and opposite.kept == pytest.approx(0.0)
    three = Agreement(((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)))
    assert three.cosines == [0.0, 0.0, 0.0] and three.kept == pytest.approx(3 ** -0.5)


def test_averaging_refuses_what_cannot_be_averaged(tmp_path: Path):
    from wizardlite.finetune.average import read_members

    def ft(name: str, status: str = "done", base: str = "aaa", adapter: bool = True) -> Path:
        folder = tmp_path / name
        (folder / "adapter").mkdir(parents=True)
        if adapter:
            (folder / "adapter" / "adapter_config.json").write_text("{}")
        info = {"status": status, "base": {"name": base, "sha256": base}, "recipe": {"finetune": {"seed": 1}}}
        (folder / "recipe.resolved.json").write_text(json.dumps(info))
        return folder

    one, two = ft("one"), ft("two")
    assert [m.folder for m in read_members([one, two])] == [one, two]
    cases = {"at least two": [one], "named twice": [one, one], "not a fine-tune output folder": [one, tmp_path],
             "not finished": [one, ft("running", status="running")], "no adapter": [one, ft("bare", adapter=False)],
             "another base": [one, ft("other", base="bbb")]}
    for message, folders in cases.items():
        with pytest.raises(ConfigError, match=message):
            read_members(folders)
