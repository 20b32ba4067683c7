"""Turn the fine-tuning base into a plain Hugging Face folder: an HF folder is used as it is; a
GGUF (such as the embedded SmolLM2) is dequantized once into models/hf/<name>-<hash8>/ and
reused while the GGUF's sha256 matches the one stored beside it.

Run as: python -m wizardlite.gguf.to_hf MODEL_OR_GGUF

Two ways to convert. The fast one reads a Llama GGUF with our own reader, undoes llama.cpp's
Q/K row order, and writes safetensors and a tokenizer directly (seconds). Anything else goes
through transformers' own GGUF loader (`gguf_file=`), which is general but slow (about a
minute for a 135M model on 2 cores), and whose result cannot be saved: save_pretrained
refuses a GGUF-quantized model, so its weights are copied into a model built from the config.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from wizardlite import __version__
from wizardlite.errors import ModelError
from wizardlite.gguf.archs import CONTROL, USER_DEFINED, build_pre, hf_name, unpermute_qk
from wizardlite.gguf.reader import GGUFFile
from wizardlite.models import MODELS_DIR, model_sha256, resolve

SOURCE = "wizardlite-source.json"  # beside a converted model: where it came from, and the hash
FAST_PRE = ("gpt-2", "default", "smollm")


def base_folder(base: str, models_dir: Path = MODELS_DIR, fast: bool = True) -> Path:
    """The recipe's `base` (a model name, an HF folder, or a .gguf) as a plain HF folder."""
    path = resolve(base, "gguf", models_dir)  # a ModelError that names the choices if nothing is there
    if path.is_dir():
        check_causal_lm(path)
        return path
    return from_gguf(path, models_dir / "hf", fast=fast)


def check_causal_lm(folder: Path) -> None:
    cfg = folder / "config.json"
    if not cfg.is_file():
        raise ModelError(f"{folder} has no config.json: pass a Hugging Face model folder or a .gguf as finetune.base")
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config = json.loads(cfg.read_text(encoding="utf-8"))
    model_type, archs = config.get("model_type", ""), config.get("architectures") or []
    # The saved architecture says what the weights are for; BERT, say, has a causal-LM class
    # too, but a BertForMaskedLM checkpoint is no decoder.
    causal = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs) if archs else (
        model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    if not causal:
        raise ModelError(f"{folder} is a '{'/'.join(archs) or model_type or 'unknown'}' model, not a causal language model: "
                         "fine-tuning needs a decoder such as Llama, Qwen or SmolLM")
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise ModelError(f"{folder} has no weights (*.safetensors): copy the whole model folder")


def from_gguf(gguf_path: Path, root: Path, fast: bool = True) -> Path:
    sha = model_sha256(gguf_path)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", gguf_path.stem)
    dest = root / f"{slug}-{sha[:8]}"
    stamp = dest / SOURCE
    if stamp.is_file():
        try:
            known = json.loads(stamp.read_text(encoding="utf-8")).get("sha256")
        except ValueError:
            known = None
        if known == sha and any(dest.glob("*.safetensors")):
            return dest
        shutil.rmtree(dest)  # a stale or half-written folder: convert again
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{slug}-"))
    try:
        gg = GGUFFile(gguf_path)
        try:
            pre = str(gg.meta.get("tokenizer.ggml.pre", "default"))
            if fast and _fast_ok(gg):
                _convert_fast(gg, tmp)
                how = "wizardlite"
            else:
                how = "transformers"
        finally:
            gg.close()
        if how == "transformers":
            _convert_transformers(gguf_path, tmp)
        info = {"gguf": str(gguf_path), "sha256": sha, "tokenizer_pre": pre, "converter": how,
                "wizardlite": __version__}
        (tmp / SOURCE).write_text(json.dumps(info, indent=2), encoding="utf-8")  # written last: marks it complete
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _fast_ok(gg: GGUFFile) -> bool:
    m = gg.meta
    return (m.get("general.architecture") == "llama" and m.get("tokenizer.ggml.model") == "gpt2"
            and m.get("tokenizer.ggml.pre", "default") in FAST_PRE
            and m.get("llama.rope.scaling.type", "none") in ("none", "")
            and all(hf_name(n) is not None for n in gg.tensors))


def _convert_fast(gg: GGUFFile, out: Path) -> None:
    from safetensors.numpy import save_file

    m = gg.meta
    n_head, n_kv = int(m["llama.attention.head_count"]), int(m.get("llama.attention.head_count_kv", m["llama.attention.head_count"]))
    tensors = {}
    for name in gg.tensors:
        w = gg.tensor(name)
        if name.endswith("attn_q.weight"):
            w = unpermute_qk(w, n_head)
        elif name.endswith("attn_k.weight"):
            w = unpermute_qk(w, n_kv)
        tensors[str(hf_name(name))] = w  # _fast_ok checked that every name maps
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    tokens = m["tokenizer.ggml.tokens"]
    hidden = int(m["llama.embedding_length"])
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": int(tensors["model.embed_tokens.weight"].shape[0]), "hidden_size": hidden,
        "intermediate_size": int(m["llama.feed_forward_length"]), "num_hidden_layers": int(m["llama.block_count"]),
        "num_attention_heads": n_head, "num_key_value_heads": n_kv,
        "head_dim": int(m.get("llama.rope.dimension_count", hidden // n_head)),
        "max_position_embeddings": int(m.get("llama.context_length", 2048)),
        "rms_norm_eps": float(m.get("llama.attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": float(m.get("llama.rope.freq_base", 10000.0)),
        "tie_word_embeddings": "lm_head.weight" not in tensors, "hidden_act": "silu",
        "attention_bias": False, "mlp_bias": False, "torch_dtype": "float32", "use_cache": True,
        "bos_token_id": _id(m, "bos"), "eos_token_id": _id(m, "eos"), "pad_token_id": _id(m, "padding"),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    gen = {k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if config[k] is not None}
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2), encoding="utf-8")
    _tokenizer(m, tokens).save_pretrained(str(out))


def _id(meta: dict[str, Any], which: str) -> int | None:
    v = meta.get(f"tokenizer.ggml.{which}_token_id")
    return int(v) if v is not None else None


def _tokenizer(m: dict[str, Any], tokens: list[str]) -> Any:
    """An HF fast tokenizer equal to the GGUF's byte-level BPE vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    types = m.get("tokenizer.ggml.token_type")
    merges = [tuple(x.split(" ", 1)) for x in m["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = build_pre(str(m.get("tokenizer.ggml.pre", "default")))
    tok.decoder = decoders.ByteLevel()
    if types is not None:
        special = [AddedToken(tokens[i], special=True, normalized=False) for i in range(len(tokens)) if types[i] == CONTROL]
        plain = [AddedToken(tokens[i], special=False, normalized=False) for i in range(len(tokens)) if types[i] == USER_DEFINED]
        tok.add_special_tokens(special)
        tok.add_tokens(plain)
    names = {k: tokens[i] for k in ("bos", "eos", "unknown", "padding") if (i := _id(m, k)) is not None and i < len(tokens)}
    if m.get("tokenizer.ggml.add_bos_token") and "bos" in names:
        bos = names["bos"]
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                           special_tokens=[(bos, _id(m, "bos"))])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=names.get("bos"), eos_token=names.get("eos"), unk_token=names.get("unknown"),
        pad_token=names.get("padding"), chat_template=m.get("tokenizer.chat_template"),
        clean_up_tokenization_spaces=False,
    )


def _convert_transformers(gguf_path: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw: dict[str, Any] = {"gguf_file": gguf_path.name, "local_files_only": True}
    try:
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kw)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kw)
    except (ValueError, KeyError, OSError) as e:
        raise ModelError(f"{gguf_path}: transformers cannot read this GGUF ({e}); pass an HF folder as finetune.base") from None
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


if __name__ == "__main__":
    print(base_folder(sys.argv[1]))
