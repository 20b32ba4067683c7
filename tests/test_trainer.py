"""The one trainer (TRL's SFTTrainer) under every engine: the tokens it trains on, resume after
kill -9, DDP on two CPU processes, the qlora engine end to end on CPU (4-bit base, merge, GGUF), and
the unsloth engine against a scripted stand-in (and for real where a GPU and Unsloth are present)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tiny_llama

from wizardlite.finetune import data as ft_data
from wizardlite.recipe import Recipe, load_recipe

ASSETS = Path(__file__).parent / "assets"
MESSAGES = ASSETS / "ft_messages.jsonl"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_llama.build(tmp_path_factory.mktemp("tiny") / "model")


def recipe(base: Path, out: Path, data: Path = MESSAGES, **finetune) -> Recipe:
    r = load_recipe(None)
    settings = dict(base=str(base), data=str(data), out=str(out), engine="cpu", batch_size=4, max_length=128,
                    max_steps=4, save_every=2, warmup_ratio=0.0, gguf_types=("f16",), export=("adapter",))
    return dataclasses.replace(r, finetune=dataclasses.replace(r.finetune, **(settings | finetune)))


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _adapter(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter" / "adapter_model.safetensors"))


# ---------------------------------------------------------------------------- what reaches the model


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["cpu", "qlora"])
def test_the_trainer_sees_exactly_the_tokens_and_mask_data_py_makes(engine: str, tiny: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch):
    """Three conversations, one epoch: every row the model is given, once its padding is taken
    off, is one of data.encode's (input_ids, labels) pairs, each exactly once; padding carries no
    label and no attention."""
    from rich.console import Console
    from transformers import AutoTokenizer
    from trl import SFTTrainer

    from wizardlite import finetune

    three = tmp_path / "three.jsonl"
    three.write_text("".join(MESSAGES.read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8")
    seen: list[dict] = []
    original = SFTTrainer.compute_loss

    def spy(self, model, inputs, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if model.training:
            seen.append({k: v.detach().clone() for k, v in inputs.items() if k in ("input_ids", "labels", "attention_mask")})
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(SFTTrainer, "compute_loss", spy)
    finetune.run(recipe(tiny, tmp_path / "ft", data=three, engine=engine, max_steps=0, epochs=1.0, batch_size=2,
                        eval_fraction=0.0), console=Console(quiet=True))

    tok = AutoTokenizer.from_pretrained(str(tiny))
    convs, _, _ = ft_data.read_conversations(three)
    expected = sorted((ex.input_ids, ex.labels) for ex in (ft_data.encode(tok, c, 128, "responses")[0] for c in convs))
    got = []
    for batch in seen:
        for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True):
            n = int(mask.sum())
            assert mask[:n].all() and not mask[n:].any()  # right padding
            assert (labels[n:] == ft_data.IGNORE).all() and (ids[n:] == tok.pad_token_id).all()
            got.append((tuple(ids[:n].tolist()), tuple(labels[:n].tolist())))
    assert [len(b["input_ids"]) for b in seen] == [2, 1]  # batch_size 2 over 3 conversations
    assert sorted(got) == expected
    assert all(any(x != ft_data.IGNORE for x in lab) and any(x == ft_data.IGNORE for x in lab) for _, lab in got)


# ---------------------------------------------------------------------------- kill -9, then resume

CHILD = """
import json, sys, time, dataclasses
from pathlib import Path
from rich.console import Console
from wizardlite import finetune
from wizardlite.recipe import load_recipe
settings, marker, stop_at = json.loads(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
settings = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
r = load_recipe(None)
r = dataclasses.replace(r, finetune=dataclasses.replace(r.finetune, **settings))
def on_step(step):
    if step == stop_at:
        marker.write_text(str(step))
        time.sleep(600)  # the parent kills this process here, mid-run
finetune.run(r, console=Console(quiet=True), on_step=on_step)
"""


@pytest.mark.slow
def test_a_run_killed_mid_training_resumes_from_trl_checkpoint_to_the_same_adapter(tiny: Path, tmp_path: Path):
    """kill -9 in step 6 of 7 (after its optimizer step, before it is logged or saved; checkpoints
    every 2 steps): the rerun starts from checkpoint-4, metrics.jsonl has each step once (step 5's
    row, written before the kill, is not repeated), and the adapter equals an uninterrupted run's
    to within 1e-6, the rounding of a few fp32 steps: the same batches, optimizer and RNG come back."""
    import torch
    from rich.console import Console

    from wizardlite import finetune

    quiet = Console(quiet=True)
    straight = finetune.run(recipe(tiny, tmp_path / "a", max_steps=7), console=quiet)
    r = recipe(tiny, tmp_path / "b", max_steps=7)
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(r.finetune).items()}
    marker = tmp_path / "at-step"
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(settings), str(marker), "6"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()[-3000:] if child.stderr else "child died"
            assert time.monotonic() < deadline, "the child never reached step 6"
            time.sleep(0.2)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    ckpts = sorted(p.name for p in (tmp_path / "b" / "checkpoints").glob("checkpoint-*"))
    assert ckpts == ["checkpoint-4"]
    assert [row["step"] for row in _rows(tmp_path / "b" / "metrics.jsonl") if "loss" in row] == [1, 2, 3, 4, 5]

    resumed = finetune.run(r, console=quiet)
    info = json.loads((resumed / "recipe.resolved.json").read_text())
    assert info["results"]["resumed_from"] == 4 and info["results"]["steps"] == 7
    rows = _rows(resumed / "metrics.jsonl")
    assert [row["step"] for row in rows if "loss" in row] == [1, 2, 3, 4, 5, 6, 7]  # step 5 once, as trained again
    assert [row["step"] for row in rows if "eval_loss" in row] == [0, 7]
    a, b = _adapter(straight), _adapter(resumed)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)
    assert any(float(b[k].abs().sum()) > 0 for k in b if "lora_B" in k)  # it trained


# ---------------------------------------------------------------------------- two processes


@pytest.mark.slow
def test_two_processes_with_accelerate_train_to_the_loss_of_one(tiny: Path, tmp_path: Path):
    """`accelerate launch --multi_gpu --num_processes 2` on a CPU machine: DDP over gloo (without
    --multi_gpu, accelerate's launcher starts a single process where there is no GPU). Each step
    takes the whole training set, split in two halves across the processes, against one process
    taking it whole: TRL's loss is normalised over the tokens of all processes, so the two runs are
    the same gradient descent, and their losses agree to within 1e-3 relative (measured: ~1e-6;
    the difference is the order of floating-point sums)."""
    rows = [json.loads(x) for x in MESSAGES.read_text(encoding="utf-8").splitlines()][:8]
    data = tmp_path / "eight.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    common = ["--data", str(data), "--set", "finetune.engine=cpu", "--set", f"finetune.base={tiny}", "--set",
              "finetune.max_steps=3", "--set", "finetune.eval_fraction=0.0", "--set", "finetune.warmup_ratio=0.0",
              "--set", "finetune.learning_rate=5e-3", "--set", 'finetune.export=["adapter"]', "--set",
              "finetune.max_length=128"]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    one = subprocess.run([sys.executable, "-m", "wizardlite", "finetune", "--out", str(tmp_path / "one"), *common,
                          "--set", "finetune.batch_size=8"], env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert one.returncode == 0, one.stdout[-2000:] + one.stderr[-3000:]
    two = subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
                          "-m", "wizardlite", "finetune", "--out", str(tmp_path / "two"), *common,
                          "--set", "finetune.batch_size=4"], env=env, capture_output=True, text=True, timeout=600,
                         cwd=REPO)
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-3000:]
    losses = [[row["loss"] for row in _rows(tmp_path / name / "metrics.jsonl") if "loss" in row] for name in ("one", "two")]
    assert len(losses[0]) == len(losses[1]) == 3
    assert losses[0][-1] < losses[0][0]  # it learned
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)
    info = json.loads((tmp_path / "two" / "recipe.resolved.json").read_text())
    assert info["results"]["steps"] == 3 and info["status"] == "done"


# ---------------------------------------------------------------------------- qlora end to end


@pytest.mark.slow
def test_qlora_on_cpu_loads_in_4_bit_trains_merges_in_16_bit_and_exports_a_gguf(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch):
    """The standard QLoRA through bitsandbytes' CPU kernels: every adapted projection of the base is
    a 4-bit NF4 layer, the adapters move (LoRA B starts at zero; on AVX512-BF16 CPUs it stays zero
    unless the eval pass's weight repack is switched off), the merge is into the base reloaded in
    16 or 32 bits, and llama.cpp reads the GGUF and stops where the template ends a turn."""
    import tiny_models
    import torch
    from rich.console import Console

    from wizardlite import finetune
    from wizardlite.errors import ModelError
    from wizardlite.finetune import qlora
    from wizardlite.gguf.reader import GGUFFile
    from wizardlite.gguf.to_hf import base_folder

    try:
        smol = base_folder("smollm2")
    except ModelError as e:
        pytest.skip(str(e))
    base = tiny_models.build(tmp_path / "base", "llama", smol)
    loaded_models: list = []
    load = qlora.load

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        out = load(*args, **kwargs)
        loaded_models.append(out.model)
        return out

    monkeypatch.setattr(qlora, "load", spy)
    r = recipe(base, tmp_path / "ft", engine="qlora", max_steps=2, learning_rate=5e-3, merged_dtype="f16",
               export=("adapter", "merged", "gguf"))
    out = finetune.run(r, console=Console(quiet=True))

    bnb = pytest.importorskip("bitsandbytes")
    model = loaded_models[0]
    four_bit = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(four_bit) == 2 * 7  # two layers, seven projections each
    assert all(m.weight.quant_state.quant_type == "nf4" for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    adapter = _adapter(out)
    lora_b = [k for k in adapter if "lora_B" in k]
    assert len(lora_b) == 14 and all(float(adapter[k].abs().sum()) > 0 for k in lora_b)
    info = json.loads((out / "recipe.resolved.json").read_text())
    assert info["engine"] == "qlora" and info["trainer"]["library"] == "trl" and info["results"]["steps"] == 2
    merged_config = json.loads((out / "merged" / "config.json").read_text())
    assert merged_config.get("dtype", merged_config.get("torch_dtype")) == "float16"
    assert "quantization_config" not in merged_config  # a plain 16-bit model, not the 4-bit one
    from safetensors.torch import load_file

    merged = load_file(str(out / "merged" / "model.safetensors"))
    base_w = load_file(str(base / "model.safetensors"))
    q = "model.layers.0.self_attn.q_proj.weight"
    assert merged[q].dtype == torch.float16 and not torch.allclose(merged[q].float(), base_w[q].float(), atol=1e-4)
    meta = GGUFFile(out / "model.gguf").meta
    assert meta["general.architecture"] == "llama" and (out / "adapter.gguf").is_file()


# ---------------------------------------------------------------------------- the unsloth engine


class ScriptedUnsloth:
    """A stand-in for `unsloth.FastLanguageModel` that records what the engine gives it and
    returns what Unsloth would: a (model, tokenizer) pair, then a PEFT model (here: transformers
    and PEFT on the CPU, so that the one trainer can train it for real)."""

    calls: list[tuple[str, dict]] = []

    @classmethod
    def from_pretrained(cls, **kw):  # noqa: ANN003, ANN206
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cls.calls.append(("from_pretrained", kw))
        model = AutoModelForCausalLM.from_pretrained(kw["model_name"], dtype=kw["dtype"] or torch.float32)
        tok = AutoTokenizer.from_pretrained(kw["model_name"])
        tok.chat_template, tok.pad_token = None, None  # Unsloth's own tokenizer: the engine must set both
        return model, tok

    @classmethod
    def get_peft_model(cls, model, **kw):  # noqa: ANN001, ANN003, ANN206
        from peft import LoraConfig, get_peft_model

        cls.calls.append(("get_peft_model", kw))
        return get_peft_model(model, LoraConfig(r=kw["r"], lora_alpha=kw["lora_alpha"], lora_dropout=kw["lora_dropout"],
                                                target_modules=kw["target_modules"], task_type="CAUSAL_LM"))


@pytest.mark.slow
def test_the_unsloth_engine_gives_unsloth_the_recipe_and_trains_what_it_returns(tiny: Path, tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch):
    import types

    from rich.console import Console
    from transformers import AutoTokenizer

    from wizardlite import finetune
    from wizardlite.finetune import engine

    fake = types.ModuleType("unsloth")
    fake.FastLanguageModel = ScriptedUnsloth  # type: ignore[attr-defined]
    ScriptedUnsloth.calls = []
    monkeypatch.setitem(sys.modules, "unsloth", fake)
    monkeypatch.setattr(engine, "cuda_available", lambda: True)
    r = recipe(tiny, tmp_path / "ft", engine="unsloth", max_steps=2, rank=4, alpha=8, max_length=96, seed=11)
    out = finetune.run(r, console=Console(quiet=True))

    (name1, load), (name2, peft) = ScriptedUnsloth.calls
    assert (name1, name2) == ("from_pretrained", "get_peft_model")
    assert load["model_name"] == str(tiny) and load["max_seq_length"] == 96 and load["load_in_4bit"] is True
    assert load["dtype"] is None and load["random_state"] == 11 and load["local_files_only"] is True
    assert load["use_gradient_checkpointing"] == "unsloth"  # unset in the recipe: on, as on any GPU
    assert (peft["r"], peft["lora_alpha"], peft["lora_dropout"], peft["random_state"]) == (4, 8, 0.0, 11)
    assert peft["target_modules"] == list(r.finetune.target_modules) and peft["max_seq_length"] == 96
    info = json.loads((out / "recipe.resolved.json").read_text())
    assert info["engine"] == "unsloth" and info["status"] == "done" and "unsloth" in info["versions"]
    assert [row["step"] for row in _rows(out / "metrics.jsonl") if "loss" in row] == [1, 2]
    saved = AutoTokenizer.from_pretrained(str(out / "adapter"))
    # the tokenizer trained with and saved is Unsloth's, given the recipe's template and a pad token
    assert saved.chat_template == AutoTokenizer.from_pretrained(str(tiny)).chat_template
    assert saved.pad_token is not None
    assert any(v.abs().sum() > 0 for k, v in _adapter(out).items() if "lora_B" in k)  # it trained


def _cuda_and_unsloth() -> str | None:
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        return "needs an NVIDIA GPU (the unsloth engine runs on CUDA only)"
    if importlib.util.find_spec("unsloth") is None:
        return 'needs Unsloth: pip install ".[gpu]"'
    return None


@pytest.mark.slow
@pytest.mark.skipif(_cuda_and_unsloth() is not None, reason=str(_cuda_and_unsloth()))
def test_the_unsloth_engine_for_real_on_a_gpu(tiny: Path, tmp_path: Path):
    from rich.console import Console

    from wizardlite import finetune

    out = finetune.run(recipe(tiny, tmp_path / "ft", engine="unsloth", max_steps=2, export=("adapter", "merged")),
                       console=Console(quiet=True))
    info = json.loads((out / "recipe.resolved.json").read_text())
    assert info["engine"] == "unsloth" and info["status"] == "done"
    assert (out / "merged" / "config.json").is_file()
