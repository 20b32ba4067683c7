"""The cpu engine's loader: the HF model in fp32 (or bf16) with PEFT LoRA adapters, trained on the
CPU by the one trainer (trainer.py).

Run as: wizardlite finetune --set finetune.engine=cpu

fp32 by default (finetune.precision = "auto"): bf16 autocast was ~20x slower on a CPU without
bf16 arithmetic (benchmarks/notes/finetune.md, TRL with its bf16 default). With precision =
"bf16" the base's weights are loaded in bf16 (half the memory) and the adapters stay fp32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wizardlite.finetune.engine import Loaded, precision, wrap_lora
from wizardlite.recipe import FinetuneConfig


def load(cfg: FinetuneConfig, base_dir: Path, tokenizer: Any) -> Loaded:
    import torch
    from transformers import AutoModelForCausalLM

    prec = precision(cfg.precision, "cpu")
    dtype = torch.bfloat16 if prec == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=dtype, local_files_only=True)
    model.config.use_cache = False
    return Loaded(wrap_lora(cfg, model), tokenizer, "cpu", prec)
