"""Talk to a GGUF model through llama.cpp: one prompt, or a small read-eval-print loop. The
chat template comes from the GGUF itself, so this also checks that an exported model carries
a working template.

Run as: wizardlite chat runs/default/ft/model.gguf [--prompt "Hello"]
        wizardlite chat smollm2 --lora runs/default/ft/adapter.gguf    (the base with the tuned LoRA)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from wizardlite.errors import ModelError
from wizardlite.models import check_gguf, resolve


def load(model: str, n_ctx: int = 2048, seed: int = 0, lora: str | Path | None = None) -> Any:
    """The model, with a GGUF LoRA applied at load time when `lora` is given."""
    if lora is not None:
        if not Path(lora).is_file():
            raise ModelError(f"no LoRA at {lora}: pass the adapter.gguf that `wizardlite finetune` wrote beside model.gguf")
        check_gguf(Path(lora))
    path = resolve(model, "gguf")
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ModelError("llama-cpp-python is not installed: pip install llama-cpp-python") from None
    try:
        return Llama(model_path=str(path), n_ctx=n_ctx, seed=seed, verbose=False,
                     lora_path=str(lora) if lora is not None else None)
    except (ValueError, RuntimeError) as e:
        if lora is not None:
            raise ModelError(f"llama.cpp cannot apply the LoRA {lora} to {path} ({e}): pass the base that was "
                             "fine-tuned as the model") from None
        raise ModelError(f"llama.cpp cannot load {path} ({e}): re-export it with `wizardlite finetune`") from None


def reply(llm: Any, messages: list[dict[str, str]], max_tokens: int, temperature: float, stream: bool = False) -> str:
    """The assistant's answer to `messages`; with `stream`, also written to stdout as it comes."""
    chunks = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=temperature,
                                        stream=stream)
    if not stream:
        return str(chunks["choices"][0]["message"]["content"] or "")
    parts = []
    for chunk in chunks:
        piece = chunk["choices"][0]["delta"].get("content") or ""
        parts.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return "".join(parts)


def run(model: str | Path, prompt: str | None = None, system: str | None = None, max_tokens: int = 256,
        temperature: float = 0.7, n_ctx: int = 2048, seed: int = 0, lora: str | Path | None = None) -> str | None:
    """With `prompt`: print the reply and return it. Without: a REPL (/reset, /exit)."""
    llm = load(str(model), n_ctx, seed, lora)
    start = [{"role": "system", "content": system}] if system else []
    if prompt is not None:
        text = reply(llm, start + [{"role": "user", "content": prompt}], max_tokens, temperature)
        print(text)
        return text
    history = list(start)
    print(f"chatting with {model}: /reset clears the conversation, /exit or Ctrl-D leaves", file=sys.stderr)
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print(file=sys.stderr)
            return None
        if line in ("/exit", "/quit"):
            return None
        if line == "/reset":
            history = list(start)
            continue
        if not line:
            continue
        history.append({"role": "user", "content": line})
        answer = reply(llm, history, max_tokens, temperature, stream=True)
        history.append({"role": "assistant", "content": answer})
