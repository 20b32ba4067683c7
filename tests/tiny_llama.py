"""A tiny randomly initialised Llama with a tiny byte-level BPE tokenizer, built with a fixed
seed for the fine-tuning and GGUF tests. Nothing is downloaded.

Run as: (imported by tests/test_finetune.py and tests/test_gguf_export.py)
"""

from __future__ import annotations

import json
from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tokenizer(vocab_size: int = 384):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = []
    for line in (ASSETS / "ft_messages.jsonl").read_text(encoding="utf-8").splitlines():
        for m in json.loads(line)["messages"]:
            texts.append(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts * 4, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                   pad_token="<|im_end|>", chat_template=CHATML, clean_up_tokenization_spaces=False)


def build(folder: Path, tie: bool = False, seed: int = 0) -> Path:
    """Save a tiny Llama (hidden 64, 2 layers, 4 heads, 2 KV heads) and its tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=tie, initializer_range=0.1,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
