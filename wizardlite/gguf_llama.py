"""The Llama layout in GGUF, shared by the GGUF -> HF conversion (convert.py) and the HF -> GGUF
export (export_gguf.py): tensor names, the Q/K row permutation, the pre-tokenizer names
llama.cpp knows, and a small reader for the GGUF container.

Run as: (library module)

Why a reader of our own: gguf.GGUFReader builds a Python object per array element, which
costs ~20 s per read on the 49k-token vocabulary of a small model; this one reads the
metadata with struct and numpy in well under a second.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wizardlite.errors import ModelError

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


# ---------------------------------------------------------------------------- GGUF reader

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}
STRING, ARRAY = 8, 9


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # numpy order (rows first), the reverse of GGUF's dims
    ggml_type: int
    offset: int  # absolute offset in the file


class GGUFFile:
    """Metadata and tensors of a GGUF file, memory-mapped; tensors are read on demand."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            self._buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._pos = 0
        try:
            self._parse()
        except (struct.error, UnicodeDecodeError, ValueError, IndexError) as e:
            raise ModelError(f"{self.path}: not a readable GGUF file ({e}): re-download or re-export it") from None

    def _read(self, fmt: str) -> Any:
        (v,) = struct.unpack_from(fmt, self._buf, self._pos)
        self._pos += struct.calcsize(fmt)
        return v

    def _string(self) -> str:
        n = self._read("<Q")
        s = bytes(self._buf[self._pos:self._pos + n]).decode("utf-8")
        self._pos += n
        return s

    def _value(self, vtype: int) -> Any:
        if vtype == STRING:
            return self._string()
        if vtype == ARRAY:
            etype, n = self._read("<I"), self._read("<Q")
            if etype == STRING:
                return [self._string() for _ in range(n)]
            if etype in _NUMPY:
                arr = np.frombuffer(self._buf, dtype=_NUMPY[etype], count=n, offset=self._pos).copy()
                self._pos += arr.nbytes
                return arr
            return [self._value(etype) for _ in range(n)]
        return self._read(_SCALARS[vtype])

    def _parse(self) -> None:
        if bytes(self._buf[:4]) != b"GGUF":
            raise ValueError("bad magic")
        self._pos = 4
        self.version = self._read("<I")
        n_tensors, n_kv = self._read("<Q"), self._read("<Q")
        self.meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = self._string()
            self.meta[key] = self._value(self._read("<I"))
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            dims = [self._read("<Q") for _ in range(self._read("<I"))]
            infos.append((name, tuple(reversed(dims)), self._read("<I"), self._read("<Q")))
        align = int(self.meta.get("general.alignment", 32))
        start = (self._pos + align - 1) // align * align
        self.tensors = {n: TensorInfo(n, s, t, start + o) for n, s, t, o in infos}

    def tensor(self, name: str) -> np.ndarray:
        """A tensor as float32, dequantized, in numpy (rows-first) order."""
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
        from gguf.quants import dequantize

        info = self.tensors[name]
        qtype = GGMLQuantizationType(info.ggml_type)
        block, size = GGML_QUANT_SIZES[qtype]
        n = int(np.prod(info.shape))
        raw = np.frombuffer(self._buf, dtype=np.uint8, count=n // block * size, offset=info.offset)
        if qtype == GGMLQuantizationType.F32:
            return raw.view("<f4").reshape(info.shape).copy()
        if qtype == GGMLQuantizationType.F16:
            return raw.view("<f2").astype(np.float32).reshape(info.shape)
        rows = raw.reshape(-1, info.shape[-1] // block * size)
        return dequantize(rows, qtype).astype(np.float32).reshape(info.shape)

    def close(self) -> None:
        self._buf.close()
