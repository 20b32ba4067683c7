"""What a fine-tune leaves behind: the adapter, the merged model in 16 bits, and GGUF files
with an Ollama Modelfile."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from wizardlite.gguf.from_hf import write_gguf, write_modelfile
from wizardlite.gguf.to_hf import SOURCE
from wizardlite.layout import FinetuneLayout
from wizardlite.recipe import FinetuneConfig

DTYPES = {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}


def export_peft(cfg: FinetuneConfig, model: Any, out: FinetuneLayout, tokenizer: Any, base_dir: Path,
                timings: dict[str, float]) -> dict[str, str]:
    import torch

    outputs: dict[str, str] = {}
    t = time.perf_counter()
    if "adapter" in cfg.export:
        model.save_pretrained(str(out.adapter))
        tokenizer.save_pretrained(str(out.adapter))
        outputs["adapter"] = str(out.adapter)
    merged = model.merge_and_unload()
    if "merged" in cfg.export:
        # A 16-bit copy is saved; the fp32 weights stay for the GGUF, which rounds only once.
        copy.deepcopy(merged).to(getattr(torch, DTYPES[cfg.merged_dtype])).save_pretrained(str(out.merged))
        tokenizer.save_pretrained(str(out.merged))
        outputs["merged"] = str(out.merged)
    timings["save_s"] = time.perf_counter() - t
    if "gguf" in cfg.export:
        outputs |= write_ggufs(cfg, merged.config, merged.state_dict(), tokenizer, out, base_dir, timings)
    return outputs


def export_merged_folder(cfg: FinetuneConfig, merged_dir: Path, out: FinetuneLayout, tokenizer: Any, base_dir: Path,
                         timings: dict[str, float]) -> dict[str, str]:
    from safetensors.numpy import load_file
    from transformers import AutoConfig

    outputs = {"adapter": str(out.adapter), "merged": str(merged_dir)}
    if "gguf" in cfg.export:
        tensors: dict[str, Any] = {}
        for f in sorted(merged_dir.glob("*.safetensors")):
            tensors |= load_file(str(f))
        config = AutoConfig.from_pretrained(str(merged_dir), local_files_only=True)
        outputs |= write_ggufs(cfg, config, tensors, tokenizer, out, base_dir, timings)
    return outputs


def write_ggufs(cfg: FinetuneConfig, config: Any, tensors: Any, tokenizer: Any, out: FinetuneLayout, base_dir: Path,
                timings: dict[str, float]) -> dict[str, str]:
    stamp = base_dir / SOURCE
    # A base converted from GGUF keeps the pre-tokenizer name llama.cpp used for it.
    pre = json.loads(stamp.read_text(encoding="utf-8")).get("tokenizer_pre") if stamp.is_file() else None
    outputs = {}
    t = time.perf_counter()
    for i, ftype in enumerate(cfg.gguf_types):
        path = out.gguf if i == 0 else out.gguf_of(ftype)
        write_gguf(path, config, tensors, tokenizer, ftype, name=f"{base_dir.name}-lora", pre=pre)
        outputs[f"gguf_{ftype}"] = str(path)
    if cfg.gguf_types:
        outputs["modelfile"] = str(write_modelfile(out.root, out.gguf.name, tokenizer))
    timings["gguf_s"] = time.perf_counter() - t
    return outputs
