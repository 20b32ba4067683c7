"""The Llama architecture as llama.cpp lays it out in GGUF, shared by the GGUF -> HF conversion
(to_hf.py) and the HF -> GGUF export (from_hf.py): tensor names, the Q/K row permutation, the
token types, and the pre-tokenizer names llama.cpp knows."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from wizardlite.errors import ModelError

NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5  # llama.cpp's token types (tokenizer.ggml.token_type)

# HF parameter name (inside layer i) -> GGUF tensor name (inside blk.i), for LlamaForCausalLM.
LAYER_TENSORS = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
GLOBAL_TENSORS = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


def gguf_name(hf_name: str) -> str | None:
    if hf_name in GLOBAL_TENSORS:
        return GLOBAL_TENSORS[hf_name]
    m = _LAYER_RE.match(hf_name)
    if m and m.group(2) in LAYER_TENSORS:
        return f"blk.{m.group(1)}.{LAYER_TENSORS[m.group(2)]}"
    return None


def hf_name(gguf_tensor: str) -> str | None:
    for hf, gg in GLOBAL_TENSORS.items():
        if gg == gguf_tensor:
            return hf
    m = re.match(r"^blk\.(\d+)\.(.+)$", gguf_tensor)
    if m:
        for hf, gg in LAYER_TENSORS.items():
            if gg == m.group(2):
                return f"model.layers.{m.group(1)}.{hf}"
    return None


# HF applies rotary embeddings to the two halves of each head ("rotate_half"); llama.cpp's
# Llama graph rotates adjacent pairs. Reordering the output rows of W_q and W_k so that row
# pairs (j, j + d/2) become (2j, 2j + 1) makes both compute the same attention scores.
def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF row order -> llama.cpp row order."""
    out, rest = w.shape[0], w.shape[1:]
    return w.reshape(n_head, 2, out // n_head // 2, *rest).swapaxes(1, 2).reshape(w.shape)


def unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp row order -> HF row order (the inverse of permute_qk)."""
    out, rest = w.shape[0], w.shape[1:]
    return w.reshape(n_head, out // n_head // 2, 2, *rest).swapaxes(1, 2).reshape(w.shape)


# ---------------------------------------------------------------------------- tokenizer

# llama.cpp picks its pre-tokenizer regexes by the name in `tokenizer.ggml.pre`. We map the
# HF `pre_tokenizer` structures we can recognise with certainty; anything else is "default"
# (GPT-2's regex) with a warning, or the name recorded when the base came from a GGUF.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def detect_pre(pre: dict[str, Any] | None) -> str | None:
    """The llama.cpp pre-tokenizer name for an HF tokenizer.json `pre_tokenizer`, or None."""
    if not pre:
        return None
    steps = pre["pretokenizers"] if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        if steps[0].get("pattern", {}).get("Regex") == LLAMA3_SPLIT:
            return "llama-bpe"
    return None


def build_pre(name: str) -> Any:
    """An HF pre-tokenizer equal to llama.cpp's `name` (for the names we convert from GGUF)."""
    from tokenizers import pre_tokenizers as pt

    byte_level = pt.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if name in ("gpt-2", "default"):
        return byte_level
    if name == "smollm":
        return pt.Sequence([pt.Digits(individual_digits=True), byte_level])
    raise ModelError(f"pre-tokenizer '{name}' has no fast conversion")
