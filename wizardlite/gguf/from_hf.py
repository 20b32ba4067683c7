"""Write a Hugging Face Llama model as a GGUF file that llama.cpp (and so llama-cpp-python and
Ollama) can load: F16 or Q8_0 weights, the byte-level BPE tokenizer, the special token ids and
the chat template. Written with the `gguf` library; no llama.cpp checkout is needed.

Run as: python -m wizardlite.gguf.from_hf MODEL_FOLDER OUT.gguf [f16|q8_0]
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wizardlite.errors import ModelError
from wizardlite.gguf.archs import CONTROL, NORMAL, UNUSED, USER_DEFINED, detect_pre, gguf_name, permute_qk

FILE_TYPES = {"f16": 1, "q8_0": 7}  # llama.cpp's general.file_type: MOSTLY_F16, MOSTLY_Q8_0


def export_folder(folder: str | Path, out: str | Path, ftype: str = "f16", pre: str | None = None) -> Path:
    """Export a saved HF model folder (config.json, *.safetensors, tokenizer)."""
    from safetensors.numpy import load_file
    from transformers import AutoConfig, AutoTokenizer

    folder = Path(folder)
    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    tensors: dict[str, np.ndarray] = {}
    for f in sorted(folder.glob("*.safetensors")):
        tensors |= load_file(str(f))
    return write_gguf(out, config, tensors, tokenizer, ftype, name=folder.name, pre=pre)


def check_exportable(config: Any, tokenizer: Any) -> None:
    """Raise ModelError now, before hours of training, if the model cannot be written as GGUF."""
    if getattr(config, "model_type", "") != "llama":
        raise ModelError(f"GGUF export supports the Llama architecture; this model is "
                         f"'{getattr(config, 'model_type', '?')}': drop \"gguf\" from finetune.export, "
                         "or use llama.cpp's convert_hf_to_gguf.py on merged/")
    spec = json.loads(tokenizer.backend_tokenizer.to_str()) if getattr(tokenizer, "is_fast", False) else {}
    if (spec.get("model") or {}).get("type") != "BPE" or (spec.get("decoder") or {}).get("type") != "ByteLevel":
        raise ModelError("GGUF export supports byte-level BPE tokenizers (GPT-2 style) only: drop \"gguf\" from "
                         "finetune.export, or use llama.cpp's convert_hf_to_gguf.py on merged/")


def write_gguf(out: str | Path, config: Any, tensors: Mapping[str, Any], tokenizer: Any, ftype: str = "f16",
               name: str = "model", pre: str | None = None) -> Path:
    """Write `tensors` (an HF Llama state dict, torch or numpy) as `out`. The file appears
    whole or not at all."""
    import gguf

    if ftype not in FILE_TYPES:
        raise ModelError(f"GGUF type '{ftype}' is not one of {', '.join(FILE_TYPES)}")
    check_exportable(config, tokenizer)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    writer = gguf.GGUFWriter(str(tmp), "llama")
    try:
        _hyperparameters(writer, config, name, ftype)
        _tokenizer(writer, tokenizer, int(config.vocab_size), pre)
        _tensors(writer, config, tensors, ftype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _rope(config: Any) -> tuple[float, dict[str, Any]]:
    params = dict(getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {})
    theta = params.get("rope_theta", getattr(config, "rope_theta", None) or 10000.0)
    return float(theta), params


def _hyperparameters(w: Any, config: Any, name: str, ftype: str) -> None:
    import gguf

    n_head = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // n_head)
    theta, rope = _rope(config)
    kind = rope.get("rope_type", rope.get("type", "default"))
    w.add_name(name)
    w.add_context_length(int(config.max_position_embeddings))
    w.add_embedding_length(int(config.hidden_size))
    w.add_block_count(int(config.num_hidden_layers))
    w.add_feed_forward_length(int(config.intermediate_size))
    w.add_head_count(n_head)
    w.add_head_count_kv(int(getattr(config, "num_key_value_heads", None) or n_head))
    w.add_rope_dimension_count(head_dim)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_freq_base(theta)
    if kind == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(rope["factor"]))
    elif kind not in ("default", None):
        raise ModelError(f"rope scaling '{kind}' is not supported by wizardlite's GGUF export: "
                         "use llama.cpp's convert_hf_to_gguf.py for this model")
    w.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    w.add_vocab_size(int(config.vocab_size))
    w.add_file_type(FILE_TYPES[ftype])
    if ftype != "f16":
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _tokenizer(w: Any, tokenizer: Any, n_vocab: int, pre: str | None) -> None:
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec["model"]
    vocab = tokenizer.backend_tokenizer.get_vocab(with_added_tokens=True)
    added = tokenizer.backend_tokenizer.get_added_tokens_decoder()
    if max(vocab.values()) >= n_vocab:
        raise ModelError(f"the tokenizer has ids up to {max(vocab.values())} but the model only {n_vocab} embeddings")
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    types = [UNUSED] * n_vocab
    for tok, i in vocab.items():
        tokens[i] = tok
        types[i] = NORMAL
    for i, tok in added.items():
        types[i] = CONTROL if tok.special else USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    if pre is None:
        pre = detect_pre(spec.get("pre_tokenizer"))
    if pre is None:
        print("warning: unknown pre-tokenizer; llama.cpp will use GPT-2's regex (tokens may differ slightly)",
              file=sys.stderr)
        pre = "default"
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for kind, tid in (("bos", tokenizer.bos_token_id), ("eos", tokenizer.eos_token_id),
                      ("unk", tokenizer.unk_token_id), ("pad", tokenizer.pad_token_id)):
        if tid is not None:
            getattr(w, f"add_{kind}_token_id")(int(tid))
    probe = tokenizer("a")["input_ids"]
    w.add_add_bos_token(bool(probe) and tokenizer.bos_token_id is not None and probe[0] == tokenizer.bos_token_id)
    template = tokenizer.chat_template
    if isinstance(template, str) and template:
        w.add_chat_template(template)


def _tensors(w: Any, config: Any, tensors: Mapping[str, Any], ftype: str) -> None:
    import gguf
    from gguf.quants import quantize

    n_head = int(config.num_attention_heads)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_head)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for hf, value in tensors.items():
        if hf.endswith("rotary_emb.inv_freq") or (tied and hf == "lm_head.weight"):
            continue  # recomputed by llama.cpp / shared with token_embd
        name = gguf_name(hf)
        if name is None:
            raise ModelError(f"tensor '{hf}' has no place in a Llama GGUF: is this a plain Llama model?")
        data = _numpy(value)
        if name.endswith("attn_q.weight"):
            data = permute_qk(data, n_head)
        elif name.endswith("attn_k.weight"):
            data = permute_qk(data, n_kv)
        if data.ndim == 1:
            w.add_tensor(name, data.astype(np.float32))  # norms stay F32, as llama.cpp's converter does
        elif ftype == "q8_0" and data.shape[-1] % 32 == 0:
            q = gguf.GGMLQuantizationType.Q8_0
            w.add_tensor(name, quantize(data.astype(np.float32), q), raw_dtype=q)
        else:
            w.add_tensor(name, data.astype(np.float16))


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return value.detach().float().cpu().numpy()  # a torch tensor; bf16 has no numpy dtype


# ---------------------------------------------------------------------------- Ollama

CHATML_GO = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""


def write_modelfile(folder: Path, gguf_file: str, tokenizer: Any) -> Path:
    """An Ollama Modelfile beside the GGUF: `ollama create NAME -f Modelfile`. Ollama cannot run
    Jinja, so a ChatML template is spelled in Go; other templates are left to Ollama's own
    detection from the GGUF's metadata."""
    lines = [f"# ollama create my-model -f {folder / 'Modelfile'}", f"FROM ./{gguf_file}", ""]
    if "<|im_start|>" in (tokenizer.chat_template or ""):
        lines += [f'TEMPLATE """{CHATML_GO}"""', 'PARAMETER stop "<|im_end|>"']
    elif tokenizer.eos_token:
        lines += [f'PARAMETER stop "{tokenizer.eos_token}"']
    path = folder / "Modelfile"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(export_folder(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "f16"))
