"""What a fine-tune leaves behind: the adapter, the merged model in 16 bits, GGUF files written
by llama.cpp's own converter (wizardlite.gguf.convert), the adapter as a GGUF LoRA, and an
Ollama Modelfile whose template and stops come from the chat template's family.

Run as: (library module, used by `wizardlite finetune` and `wizardlite average`)

Every engine ends the same way: the trainer saves the adapter, the base is reloaded on the CPU
in 16 or 32 bits and the adapter merged into it by PEFT, and export_model writes the rest.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from wizardlite.gguf import convert
from wizardlite.gguf.ollama import end_of_turn, write_modelfile
from wizardlite.layout import FinetuneLayout
from wizardlite.recipe import FinetuneConfig

DTYPES = {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}
# What a tokenizer is made of on disk; the converter reads these, not transformers' objects.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json", "vocab.json", "merges.txt", "tekken.json")


def save_tokenizer(tokenizer: Any, base_dir: Path, folder: Path) -> None:
    """The base's own tokenizer files, with the chat template the model was trained with.
    transformers' save_pretrained alone is not enough for the converter: it rewrites the class
    name and leaves out tokenizer.model, which Phi-3's and Mistral's conversions read."""
    tokenizer.save_pretrained(str(folder))
    for name in TOKENIZER_FILES:
        if (base_dir / name).is_file():
            shutil.copyfile(base_dir / name, folder / name)
    config = folder / "tokenizer_config.json"
    if config.is_file():  # the template lives in chat_template.jinja alone, so no stale copy wins
        data = json.loads(config.read_text(encoding="utf-8"))
        if data.pop("chat_template", None) is not None:
            config.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    (folder / "chat_template.jinja").write_text(tokenizer.chat_template, encoding="utf-8")


def merge_dtype(base_dir: Path) -> Any:
    """fp32 for the merge when the base fits in RAM in fp32 with room to spare (the merged weights
    are then rounded once, to merged_dtype or the GGUF's F16), else bf16."""
    import psutil
    import torch

    stored = sum(f.stat().st_size for f in base_dir.glob("*.safetensors")) or 1
    need = 4 * stored  # fp32 is at most twice a 16-bit file; the copy export_model makes doubles it
    return torch.float32 if need < psutil.virtual_memory().available else torch.bfloat16


def _adapter_vocab(adapter: Path) -> int | None:
    """Rows of the embedding the adapter carries, when training resized it (Unsloth's added pad)."""
    from safetensors import safe_open

    path = adapter / "adapter_model.safetensors"
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            if key.endswith("embed_tokens.weight"):
                return int(f.get_slice(key).get_shape()[0])
    return None


def merge_adapter(base_dir: Path, adapter: Path) -> Any:
    """The base reloaded on the CPU in 16 or 32 bits, whatever the engine trained (a 4-bit base
    included), with the adapter merged in by PEFT: one export path for every engine."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=merge_dtype(base_dir), local_files_only=True)
    rows = _adapter_vocab(adapter)
    if rows is not None and rows != base.get_input_embeddings().num_embeddings:
        base.resize_token_embeddings(rows)
    return PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()


def export_adapter(cfg: FinetuneConfig, out: FinetuneLayout, tokenizer: Any, base_dir: Path,
                   timings: dict[str, float], console: Console | None = None) -> dict[str, str]:
    """Everything after training, from the adapter the trainer saved in out.adapter: merged/, the
    GGUFs, the Modelfile; adapter/ itself is kept only when finetune.export lists it."""
    t = time.perf_counter()
    merged = merge_adapter(base_dir, out.adapter)
    timings["merge_s"] = time.perf_counter() - t
    outputs = {"adapter": str(out.adapter)} if "adapter" in cfg.export else {}
    try:
        return outputs | export_model(cfg, merged, out, tokenizer, base_dir, timings, console)
    finally:
        if "adapter" not in cfg.export:
            shutil.rmtree(out.adapter, ignore_errors=True)


def export_model(cfg: FinetuneConfig, merged: Any, out: FinetuneLayout, tokenizer: Any, base_dir: Path,
                 timings: dict[str, float], console: Console | None = None) -> dict[str, str]:
    """merged/ and the GGUFs of a model whose adapter is already merged in (or saved apart)."""
    import torch

    outputs: dict[str, str] = {}
    t = time.perf_counter()
    if "merged" in cfg.export:
        copy.deepcopy(merged).to(getattr(torch, DTYPES[cfg.merged_dtype])).save_pretrained(str(out.merged))
        save_tokenizer(tokenizer, base_dir, out.merged)
        outputs["merged"] = str(out.merged)
    timings["save_s"] = timings.get("save_s", 0.0) + time.perf_counter() - t
    if "gguf" not in cfg.export:
        return outputs
    # The converter reads a saved folder. merged/ serves when it is F16 or F32 (the GGUF is F16
    # first, so it rounds once); a bf16 merged/ would round twice, so an F16 copy is made for it.
    if "merged" in cfg.export and cfg.merged_dtype in ("f16", "f32"):
        return outputs | write_ggufs(cfg, out.merged, tokenizer, out, base_dir, timings, console)
    src = out.root / ".gguf-source"
    try:
        merged.to(torch.float16).save_pretrained(str(src))
        save_tokenizer(tokenizer, base_dir, src)
        return outputs | write_ggufs(cfg, src, tokenizer, out, base_dir, timings, console)
    finally:
        shutil.rmtree(src, ignore_errors=True)


def write_ggufs(cfg: FinetuneConfig, src: Path, tokenizer: Any, out: FinetuneLayout, base_dir: Path,
                timings: dict[str, float], console: Console | None = None) -> dict[str, str]:
    """model.gguf (the first of `gguf_types`) and model.<type>.gguf for the others, all from one
    F16 conversion; adapter.gguf when the adapter was saved; the Modelfile."""
    console = console or Console(quiet=True)
    out.export_log.unlink(missing_ok=True)
    paths = {t: out.gguf if i == 0 else out.gguf_of(t) for i, t in enumerate(cfg.gguf_types)}
    f16 = paths.get("f16", out.root / ".model.f16.gguf")
    outputs: dict[str, str] = {}

    def step(label: str, key: str, fn: Any) -> Path:
        t = time.perf_counter()
        with console.status(f"{label} ..."):
            path: Path = fn()
        timings[key] = time.perf_counter() - t
        console.print(f"{label}: {path} ({path.stat().st_size / 2**20:.1f} MiB, {timings[key]:.1f} s)")
        return path

    try:
        step("GGUF f16 (llama.cpp's convert_hf_to_gguf.py)", "gguf_f16_s",
             lambda: convert.convert(src, f16, name=f"{base_dir.name}-lora", log=out.export_log))
        for t, path in paths.items():
            if t != "f16":
                step(f"GGUF {t} (llama_model_quantize)", f"gguf_{t}_s", lambda t=t, path=path: convert.derive(f16, path, t))
            outputs[f"gguf_{t}"] = str(path)
    finally:
        if "f16" not in paths:
            f16.unlink(missing_ok=True)
    end = end_of_turn(tokenizer.chat_template, tokenizer.eos_token)
    if end:
        convert.check_stop(out.gguf, end)  # the file ends its answers where the template says a turn ends
    outputs["modelfile"] = str(write_modelfile(out.modelfile, out.gguf.name, tokenizer.chat_template, tokenizer.eos_token))
    if "adapter" in cfg.export:
        step("GGUF LoRA (llama.cpp's convert_lora_to_gguf.py)", "lora_gguf_s",
             lambda: convert.convert_lora(out.adapter, base_dir, out.lora_gguf, log=out.export_log))
        outputs["lora_gguf"] = str(out.lora_gguf)
    return outputs
