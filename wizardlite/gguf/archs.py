"""The Llama architecture as llama.cpp lays it out in GGUF, for the fast GGUF -> HF conversion of
the embedded base (to_hf.py): tensor names, the Q/K row order, the token types, and the
pre-tokenizers that have a fast HF equivalent. The other direction is llama.cpp's own converter
(convert.py)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from wizardlite.errors import ModelError

CONTROL, USER_DEFINED = 3, 4  # llama.cpp's token types (tokenizer.ggml.token_type)

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
# Llama graph rotates adjacent pairs, so its converter reorders the rows of W_q and W_k so that
# row pairs (j, j + d/2) become (2j, 2j + 1). Reading a GGUF back undoes that.
def unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp row order -> HF row order."""
    out, rest = w.shape[0], w.shape[1:]
    return w.reshape(n_head, out // n_head // 2, 2, *rest).swapaxes(1, 2).reshape(w.shape)


# ---------------------------------------------------------------------------- tokenizer

# llama.cpp picks its pre-tokenizer regexes by the name in `tokenizer.ggml.pre`.
def build_pre(name: str) -> Any:
    """An HF pre-tokenizer equal to llama.cpp's `name` (for the names we convert from GGUF)."""
    from tokenizers import pre_tokenizers as pt

    byte_level = pt.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if name in ("gpt-2", "default"):
        return byte_level
    if name == "smollm":
        return pt.Sequence([pt.Digits(individual_digits=True), byte_level])
    raise ModelError(f"pre-tokenizer '{name}' has no fast conversion")
