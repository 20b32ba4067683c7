"""GGUF export and conversion: the Q/K permutation, the tokenizer metadata, and round trips
HF -> GGUF -> HF (our converter and transformers' loader) and HF -> GGUF -> llama.cpp.

Tolerances, stated: F16 weights differ from fp32 by at most 2^-11 relative, which moves the
tiny model's next-token logits by < 0.02 absolute (logits have std ~1; measured 0.003), and
the greedy next token agrees on >= 95% of positions (measured 100%); Q8_0 (8-bit blocks of 32)
by < 0.15 (measured 0.09), agreeing on >= 80% (measured 93%). SmolLM2 in F16: < 0.5 on logits
spanning +-40 (measured 0.10), >= 90% agreement (measured 100%).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tiny_llama

from wizardlite.errors import ModelError
from wizardlite.gguf.archs import detect_pre, gguf_name, hf_name, permute_qk, unpermute_qk
from wizardlite.gguf.reader import GGUFFile

F16_TOL, Q8_TOL = 0.02, 0.15  # max |logit difference| on the tiny model (measured: 0.003, 0.09)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_llama.build(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def exported(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from wizardlite.gguf.from_hf import export_folder

    out = tmp_path_factory.mktemp("gguf")
    return {t: export_folder(tiny, out / f"tiny-{t}.gguf", t) for t in ("f16", "q8_0")}


def test_permutation_is_inverted_and_moves_rows():
    w = np.arange(8 * 16 * 3, dtype=np.float32).reshape(8 * 16, 3)  # 8 heads of 16 rows
    p = permute_qk(w, 8)
    assert not np.array_equal(p, w)
    assert np.array_equal(unpermute_qk(p, 8), w)
    # within a head, HF rows j and j + d/2 become llama.cpp rows 2j and 2j + 1
    assert np.array_equal(p[0], w[0]) and np.array_equal(p[1], w[8]) and np.array_equal(p[2], w[1])


def test_tensor_names_map_both_ways():
    for name in ("model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                 "model.layers.7.self_attn.k_proj.weight", "model.layers.0.mlp.down_proj.weight"):
        assert hf_name(gguf_name(name)) == name
    assert gguf_name("model.layers.3.self_attn.q_proj.weight") == "blk.3.attn_q.weight"
    assert gguf_name("model.layers.0.self_attn.q_proj.bias") is None


def test_pre_tokenizer_detection():
    byte_level = {"type": "ByteLevel", "use_regex": True}
    assert detect_pre(byte_level) == "gpt-2"
    assert detect_pre({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                              byte_level]}) == "smollm"
    assert detect_pre({"type": "Whitespace"}) is None


def test_gguf_holds_weights_and_tokenizer(tiny: Path, exported: dict[str, Path]):
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer

    hf = load_file(str(tiny / "model.safetensors"))
    tok = AutoTokenizer.from_pretrained(str(tiny))
    g = GGUFFile(exported["f16"])
    assert g.meta["general.architecture"] == "llama" and g.meta["general.file_type"] == 1
    assert g.meta["tokenizer.ggml.model"] == "gpt2" and g.meta["tokenizer.ggml.pre"] == "gpt-2"
    vocab = tok.get_vocab()
    assert g.meta["tokenizer.ggml.tokens"] == sorted(vocab, key=vocab.get)
    assert g.meta["tokenizer.ggml.eos_token_id"] == tok.eos_token_id
    assert g.meta["tokenizer.chat_template"] == tok.chat_template
    merges = json.loads(tok.backend_tokenizer.to_str())["model"]["merges"]
    assert g.meta["tokenizer.ggml.merges"] == [m if isinstance(m, str) else " ".join(m) for m in merges]
    assert g.meta["tokenizer.ggml.token_type"][tok.convert_tokens_to_ids("<|im_end|>")] == 3  # control
    assert "output.weight" in g.tensors  # the tiny model does not tie its head
    q = g.tensor("blk.1.attn_q.weight")
    assert np.allclose(unpermute_qk(q, 4), hf["model.layers.1.self_attn.q_proj.weight"], atol=1e-3)
    assert np.allclose(g.tensor("blk.0.ffn_down.weight"), hf["model.layers.0.mlp.down_proj.weight"], atol=1e-3)
    q8 = GGUFFile(exported["q8_0"])
    assert q8.meta["general.file_type"] == 7 and q8.tensors["blk.0.ffn_up.weight"].ggml_type == 8
    assert q8.tensors["blk.0.attn_norm.weight"].ggml_type == 0  # norms stay F32


@pytest.mark.parametrize("fast", [True, False], ids=["wizardlite-reader", "transformers-loader"])
def test_gguf_converts_back_to_the_same_model(tiny: Path, exported: dict[str, Path], tmp_path: Path, fast: bool):
    """Our exporter and two independent readers agree: the permutation is llama.cpp's."""
    from safetensors.numpy import load_file

    from wizardlite.gguf.to_hf import SOURCE, from_gguf

    folder = from_gguf(exported["f16"], tmp_path, fast=fast)
    assert json.loads((folder / SOURCE).read_text())["converter"] == ("wizardlite" if fast else "transformers")
    a, b = load_file(str(tiny / "model.safetensors")), load_file(str(next(folder.glob("*.safetensors"))))
    for name, w in a.items():
        assert np.allclose(b[name], w, atol=2e-3), name
    assert from_gguf(exported["f16"], tmp_path, fast=fast) == folder  # reused, not converted again


def test_reused_conversion_is_hash_checked(tiny: Path, exported: dict[str, Path], tmp_path: Path):
    from wizardlite.gguf.to_hf import SOURCE, from_gguf

    folder = from_gguf(exported["q8_0"], tmp_path)
    stamp = folder / SOURCE
    stamp.write_text(json.dumps({**json.loads(stamp.read_text()), "sha256": "0" * 64}))
    assert from_gguf(exported["q8_0"], tmp_path) == folder  # converted again
    assert json.loads(stamp.read_text())["sha256"] != "0" * 64


def test_export_refuses_other_architectures(tiny: Path, tmp_path: Path):
    from transformers import AutoConfig, AutoTokenizer

    from wizardlite.gguf.from_hf import write_gguf

    config = AutoConfig.from_pretrained(str(tiny))
    config.model_type = "gpt2"
    with pytest.raises(ModelError, match="Llama"):
        write_gguf(tmp_path / "x.gguf", config, {}, AutoTokenizer.from_pretrained(str(tiny)))
    assert not (tmp_path / "x.gguf").exists()


# ---------------------------------------------------------------------------- llama.cpp


def _llama(path: Path):
    llama_cpp = pytest.importorskip("llama_cpp")
    return llama_cpp.Llama(model_path=str(path), n_ctx=128, logits_all=True, verbose=False, n_threads=2)


def _hf_logits(folder: Path, ids: list[int]) -> np.ndarray:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


@pytest.mark.slow
def test_llama_cpp_reads_the_export_like_transformers(tiny: Path, exported: dict[str, Path]):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny))
    text = tok.apply_chat_template([{"role": "user", "content": "What is 12 times 11? Name three colours."}],
                                   tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    ref = _hf_logits(tiny, ids)
    for ftype, tol, agree in (("f16", F16_TOL, 0.95), ("q8_0", Q8_TOL, 0.8)):
        llm = _llama(exported[ftype])
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids  # same tokenizer
        llm.eval(ids)
        got = np.asarray(llm.scores[: len(ids)])
        assert np.abs(got - ref).max() < tol, ftype
        # a random model has near-ties, so 8-bit rounding may flip a few (measured: 100%, 93%)
        assert (got.argmax(-1) == ref.argmax(-1)).mean() >= agree, ftype


@pytest.mark.slow
def test_embedded_model_round_trip(tmp_path: Path):
    """SmolLM2 (tied embeddings, the 'smollm' pre-tokenizer) -> HF -> F16 GGUF -> llama.cpp."""
    pytest.importorskip("llama_cpp")
    from transformers import AutoTokenizer

    from wizardlite.gguf.from_hf import export_folder
    from wizardlite.gguf.to_hf import base_folder

    try:
        folder = base_folder("smollm2")
    except ModelError as e:
        pytest.skip(str(e))
    path = export_folder(folder, tmp_path / "smol-f16.gguf", "f16", pre="smollm")
    tok = AutoTokenizer.from_pretrained(str(folder))
    text = "The capital of France is Paris. 2 + 2 = 4, and 12345 apples"
    ids = tok(text)["input_ids"]
    llm = _llama(path)
    assert llm.tokenize(text.encode(), add_bos=False) == ids
    llm.eval(ids)
    ref = _hf_logits(folder, ids)
    got = np.asarray(llm.scores[: len(ids)])
    assert np.abs(got - ref).max() < 0.5  # 30 layers of F16 rounding; logits span ~±30
    assert (got.argmax(-1) == ref.argmax(-1)).mean() >= 0.9
