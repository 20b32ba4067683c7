"""The unsloth engine's loader: Unsloth's FastLanguageModel (4-bit QLoRA by default, its own
gradient checkpointing and kernels) and its get_peft_model; trained by the one trainer
(trainer.py), which Unsloth's import has patched.

Run as: wizardlite finetune --set finetune.engine=unsloth   (an NVIDIA GPU and `pip install ".[gpu]"`)

Unsloth is imported by engine.choose_engine, before anything imports transformers, so that its
patches of transformers and TRL apply. The tokenizer it returns is the one trained with and
exported: it may add a pad token (and resize the embeddings) where the pad token was the end of
sequence; the data's token ids are unchanged by that, since only padding uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wizardlite.errors import ConfigError
from wizardlite.finetune.engine import Loaded, gradient_checkpointing, lora_targets
from wizardlite.recipe import FinetuneConfig

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def load(cfg: FinetuneConfig, base_dir: Path, tokenizer: Any) -> Loaded:
    from unsloth import FastLanguageModel  # noqa: I001 (already imported, before transformers)

    import torch

    dtype = None if cfg.precision == "auto" else getattr(torch, DTYPES[cfg.precision])
    checkpointing = "unsloth" if gradient_checkpointing(cfg.gradient_checkpointing, "cuda") else False
    model, theirs = FastLanguageModel.from_pretrained(
        model_name=str(base_dir), max_seq_length=cfg.max_length, dtype=dtype, load_in_4bit=cfg.load_in_4bit,
        use_gradient_checkpointing=checkpointing, random_state=cfg.seed, local_files_only=True)
    theirs.chat_template = tokenizer.chat_template  # the recipe's template, as the data were rendered with
    if theirs.pad_token_id is None:
        theirs.pad_token = theirs.eos_token
    model = FastLanguageModel.get_peft_model(
        model, r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, bias="none",
        target_modules=lora_targets(model, cfg.target_modules), random_state=cfg.seed,
        use_gradient_checkpointing=checkpointing, max_seq_length=cfg.max_length)
    dtype_name = str(getattr(model, "dtype", torch.float32)).removeprefix("torch.")
    prec = {v: k for k, v in DTYPES.items()}.get(dtype_name)
    if prec is None:
        raise ConfigError(f"Unsloth loaded the model in {dtype_name}: set finetune.precision to bf16 or fp16")
    device = next(model.parameters()).device.type
    return Loaded(model, theirs, device, prec, own_checkpointing=True)
