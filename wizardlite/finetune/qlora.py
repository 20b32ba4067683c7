"""The qlora engine's loader: the standard QLoRA. The HF model in 4-bit NF4 with double quantization
(bitsandbytes), prepare_model_for_kbit_training, then PEFT LoRA adapters; trained by the one
trainer (trainer.py) on a CUDA GPU, or on the CPU, where bitsandbytes (>= 0.50) has 4-bit kernels.

Run as: wizardlite finetune --set finetune.engine=qlora

Two things bitsandbytes does on a CPU that this loader undoes:
- on a CPU with AVX512-BF16, a Linear4bit that runs a forward without gradients (an eval pass
  before training) repacks its weights into a layout for its fused inference kernel, and from
  then on the LoRA adapters around it get zero gradients: training stalls. The repack is
  switched off on every 4-bit layer (`support_avx512bf16_for_cpu = False`).
- at import it tries to fetch that kernel from the Hugging Face Hub and warns when it cannot
  (always, offline); the warning is silenced, the fallback kernels are the ones used anyway.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wizardlite.finetune.engine import (
    Loaded,
    cuda_available,
    gradient_checkpointing,
    import_bitsandbytes,
    precision,
    wrap_lora,
)
from wizardlite.recipe import FinetuneConfig


def no_cpu_repack(model: Any) -> int:
    """Switch off the AVX512-BF16 weight repack of every 4-bit layer; the number of layers."""
    bnb = import_bitsandbytes()
    n = 0
    for m in model.modules():
        if isinstance(m, bnb.nn.Linear4bit):
            m.support_avx512bf16_for_cpu = False
            n += 1
    return n


def load(cfg: FinetuneConfig, base_dir: Path, tokenizer: Any) -> Loaded:
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    import_bitsandbytes()
    device = "cuda" if cuda_available() else "cpu"
    prec = precision(cfg.precision, device)
    compute = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[prec]
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=compute)
    # one whole model per process: under `accelerate launch` each rank takes its own GPU
    device_map = {"": int(os.environ.get("LOCAL_RANK", 0))} if device == "cuda" else {"": "cpu"}
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), quantization_config=quant, device_map=device_map,
                                                 dtype=compute, local_files_only=True)
    model.config.use_cache = False
    if device == "cpu":
        no_cpu_repack(model)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing(
        cfg.gradient_checkpointing, device))
    return Loaded(wrap_lora(cfg, model), tokenizer, device, prec)
