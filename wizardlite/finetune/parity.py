"""Does the exported GGUF say what the tuned model says? The merged model in transformers and
each GGUF in llama.cpp answer the same few held-out prompts greedily, and we count how often
they agree; when they do not, we say why.

Run as: (run by `wizardlite finetune` after the export; finetune.parity = 0 turns it off)
        python -m wizardlite.finetune.parity MERGED_FOLDER MODEL.gguf [MORE.gguf ...] --data FILE

Two figures per GGUF, over `prompts` prompts of up to `tokens` answer tokens each:
  first_n  identical tokens of the two free-running greedy answers, counted up to the first
           difference (one early difference spoils the rest: what a user sees);
  argmax   the GGUF's next-token argmax fed the transformers answer, position by position
           (teacher-forced, so one early difference does not spoil the rest: what the weights do).
The GGUF side renders and tokenizes each prompt itself (its own chat template, its own
vocabulary, the way `wizardlite chat` and `wizardlite eval` run it), so a GGUF whose template,
end-of-turn token or vocabulary is not the tokenizer's is found as well as one whose weights
compute something else. The causes looked for, in order: template, tokenizer, EOS, weights.

Thresholds: THRESHOLDS, set below what good exports measured (the figures are beside them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wizardlite.errors import ModelError

TOKENS = 24  # answer tokens per prompt: enough for the argmax share, a few seconds on a CPU
MAX_PROMPT_TOKENS = 384  # longer prompts are passed over: the check is about the model, not the context
# The share of teacher-forced argmax agreement below which an export is called broken, per GGUF
# type. Set from good exports: the embedded SmolLM2 fine-tuned 30 steps (merged model as the export
# merges it, and merged/ in bf16), the embedded base converted, and tiny random Llama, Mistral, Qwen2,
# Qwen3 and Gemma 3 models; 48 prompts of 32 tokens each, cut into the check's own size (8 prompts of
# 24 tokens) to see how low one check can fall by chance. Lowest of those, over all good exports:
#   f16 0.977 (SmolLM2 against its bf16 merged/; 1.000 against the export's own merge), 0.990 tiny
#   q8_0 0.941 SmolLM2, 0.891 tiny;  q5_k_m 0.623 SmolLM2, 0.615 tiny;  q4_k_m 0.737 SmolLM2, 0.604 tiny
# (SmolLM2's 576-wide rows do not fit K-quant blocks, so llama.cpp falls back to other types for many of
# its tensors). Each threshold sits below that minimum; a GGUF of other weights scores near 0, and the
# template, tokenizer and EOS causes are found by what differs, whatever the share.
THRESHOLDS = {"f16": 0.95, "q8_0": 0.85, "q5_k_m": 0.55, "q4_k_m": 0.55}
DEFAULT_THRESHOLD = 0.55  # a type not measured


@dataclass
class Answer:
    """One prompt as transformers sees it, and its greedy answer."""

    messages: list[dict[str, str]]
    text: str  # the rendered prompt
    ids: list[int]  # its token ids (the training data's tokenization: no special tokens added)
    answer: list[int]  # greedy answer ids, the end-of-turn token included when reached


@dataclass
class Seen:
    """What one GGUF makes of one prompt."""

    text: str  # the prompt as its own chat template renders it
    ids: list[int]  # ... and as its own tokenizer reads that, BOS rule included (what it is run on)
    ids_of_hf_text: list[int]  # transformers' rendering read by its tokenizer, no BOS
    greedy: list[int]  # its own greedy answer from `ids`
    argmax: list[int]  # its next-token argmax along `ids` + the transformers answer


@dataclass
class Vocab:
    """The end-of-turn facts of a GGUF, beside the tokenizer's."""

    end_id: int  # the tokenizer's end of turn (chat template family's, else its EOS)
    end_token: str
    eos_id: int  # tokenizer.ggml.eos_token_id
    eot_id: int  # tokenizer.ggml.eot_token_id, -1 when absent
    end_is_eog: bool  # llama.cpp ends a generation at end_id
    has_template: bool
    texts: dict[int, str] = field(default_factory=dict)  # token texts for the messages


@dataclass
class Parity:
    gguf: str
    ftype: str
    prompts: int
    tokens: int  # answer tokens compared (the transformers answers' total)
    first_n: float
    argmax: float
    identical: int  # prompts whose whole answers are the same
    threshold: float
    causes: list[str]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.causes

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok, "first_n": round(self.first_n, 4), "argmax": round(self.argmax, 4),
                               "seconds": round(self.seconds, 2)}


# ---------------------------------------------------------------------------- prompts


def first_prompt(messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The turns before the first assistant turn: what the model is asked."""
    out = []
    for m in messages:
        if m["role"] == "assistant":
            break
        out.append(dict(m))
    return out


def select_prompts(conversations: Sequence[Sequence[dict[str, str]]], keys: Sequence[str], prefer: set[str],
                   n: int) -> list[list[dict[str, str]]]:
    """`n` prompts: those of conversations whose key is in `prefer` (the eval split) first, in
    the given order, then the others; no prompt twice, none without a user turn."""
    order = [i for i, k in enumerate(keys) if k in prefer] + [i for i, k in enumerate(keys) if k not in prefer]
    out: list[list[dict[str, str]]] = []
    seen: set[str] = set()
    for i in order:
        p = first_prompt(conversations[i])
        text = repr(p)
        if any(m["role"] == "user" and m["content"].strip() for m in p) and text not in seen:
            seen.add(text)
            out.append(p)
        if len(out) == n:
            break
    return out


def prompts_from_data(path: str | Path, eval_keys: Sequence[str], n: int) -> list[list[dict[str, str]]]:
    """Held-out prompts of a training set (the keys of its eval split), else training prompts."""
    from wizardlite.finetune.data import read_conversations
    from wizardlite.records import content_hash

    conversations, _, _ = read_conversations(path)
    keys = [content_hash(m) for m in conversations]  # data.Example.key
    return select_prompts(conversations, keys, set(eval_keys), n)


# ---------------------------------------------------------------------------- the two sides


def end_of_turn_id(tokenizer: Any) -> tuple[int, str]:
    from wizardlite.gguf.ollama import end_of_turn

    token = end_of_turn(tokenizer.chat_template, tokenizer.eos_token) or tokenizer.eos_token
    return int(tokenizer.convert_tokens_to_ids(token)), str(token)


def hf_answers(model: Any, tokenizer: Any, prompts: Sequence[list[dict[str, str]]], tokens: int) -> list[Answer]:
    """Greedy answers of a transformers model, one prompt at a time (no padding to round differently)."""
    import torch

    from wizardlite.finetune.data import render

    end_id, _ = end_of_turn_id(tokenizer)
    stops = {end_id, tokenizer.eos_token_id}
    device = next(model.parameters()).device
    out = []
    for messages in prompts:
        text = render(tokenizer, messages, generation_prompt=True)
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        if len(ids) > MAX_PROMPT_TOKENS:
            continue
        answer: list[int] = []
        with torch.no_grad():
            res = model(input_ids=torch.tensor([ids], device=device), use_cache=True)
            while len(answer) < tokens:
                answer.append(int(res.logits[0, -1].argmax()))
                if answer[-1] in stops:
                    break
                res = model(input_ids=torch.tensor([[answer[-1]]], device=device), past_key_values=res.past_key_values,
                            use_cache=True)
        out.append(Answer(list(messages), text, ids, answer))
    return out


def load_hf(folder: Path, adapter: Path | None = None) -> Any:
    """The model of `folder` in float32 (on the GPU when one has room for it), with `adapter`
    merged into it when given."""
    import torch
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, local_files_only=True)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return _to_device(model).eval()


def _greedy(llm: Any, ids: list[int], tokens: int, is_end: Any) -> list[int]:
    import numpy as np

    llm.reset()
    llm.eval(ids)
    out: list[int] = []
    while len(out) < tokens:
        out.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
        if is_end(out[-1]):
            break
        llm.eval([out[-1]])
    return out


def _forced(llm: Any, ids: list[int], answer: list[int]) -> list[int]:
    """The argmax at each answer position, the transformers answer fed in."""
    import numpy as np

    llm.reset()
    llm.eval(ids + answer[:-1])
    return [int(x) for x in np.argmax(llm.scores[len(ids) - 1: len(ids) - 1 + len(answer)], axis=-1)]


def gguf_side(path: Path, answers: Sequence[Answer], tokens: int, end_id: int, end_token: str,
              n_threads: int = 0) -> tuple[list[Seen], Vocab]:
    """Each prompt rendered, tokenized and answered by the GGUF, through the project's llama.cpp
    backend (its chat template, its BOS rule), and the GGUF's end-of-turn facts."""
    import llama_cpp as lc

    from wizardlite.backends.hardware import physical_cores
    from wizardlite.backends.llamacpp import LlamaCppGenerator
    from wizardlite.recipe import BackendConfig

    longest = max((max(len(a.ids), 1) + len(a.answer) for a in answers), default=1)
    n_ctx = longest + tokens + 64  # the GGUF's own rendering may be longer
    n_threads = n_threads or physical_cores()
    seen: list[Seen] = []
    with LlamaCppGenerator(BackendConfig(model=str(path), parallel=1, n_ctx=n_ctx, n_threads=n_threads,
                                         n_gpu_layers=0, prefix_cache=False)) as gen:
        llm = lc.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=min(512, n_ctx), logits_all=True, n_gpu_layers=0,
                       n_threads=n_threads, verbose=False)
        try:
            vocab = gen.vocab

            def is_end(t: int) -> bool:
                return bool(lc.llama_vocab_is_eog(vocab, t))

            for a in answers:
                text = gen.render(a.messages)
                ids = _prompt_ids(gen, text)
                seen.append(Seen(text, ids, gen.tokenize(a.text), _greedy(llm, ids, tokens, is_end),
                                 _forced(llm, ids, a.answer)))
            meta = llm.metadata
            facts = Vocab(end_id, end_token, int(meta.get("tokenizer.ggml.eos_token_id", -1)),
                          int(meta.get("tokenizer.ggml.eot_token_id", -1)), is_end(end_id),
                          bool(gen.template))
            wanted = {facts.eos_id, facts.eot_id, end_id} | {t for s in seen for t in s.ids + s.ids_of_hf_text}
            facts.texts = {t: _text(lc, vocab, t) for t in wanted if t >= 0}
        finally:
            llm.close()
    return seen, facts


def _prompt_ids(gen: Any, text: str) -> list[int]:
    """LlamaCppGenerator.prompt_tokens for an already rendered prompt: its BOS rule."""
    toks = gen.tokenize(text)
    lc, vocab = gen.lc, gen.vocab
    bos = lc.llama_vocab_bos(vocab)
    if lc.llama_vocab_get_add_bos(vocab) and bos >= 0 and (not toks or toks[0] != bos):
        toks.insert(0, bos)
    return list(toks)


def _text(lc: Any, vocab: Any, token: int) -> str:
    return (lc.llama_vocab_get_text(vocab, token) or b"").decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------- figures and causes


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def shares(answers: Sequence[Answer], seen: Sequence[Seen]) -> tuple[float, float, int]:
    """(first_n, argmax, identical) pooled over the prompts. first_n divides the common prefix
    by the longer answer, so a GGUF that runs on past the end of a turn scores below 1."""
    prefix = longest = hits = total = identical = 0
    for a, s in zip(answers, seen, strict=True):
        prefix += common_prefix(a.answer, s.greedy)
        longest += max(len(a.answer), len(s.greedy))
        hits += sum(x == y for x, y in zip(a.answer, s.argmax, strict=True))
        total += len(a.answer)
        identical += a.answer == s.greedy
    return prefix / max(longest, 1), hits / max(total, 1), identical


def _first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _snippet(text: str, at: int) -> str:
    return repr(text[max(0, at - 12): at + 12])


def diagnose(answers: Sequence[Answer], seen: Sequence[Seen], facts: Vocab, argmax: float, threshold: float,
             tokenizer: Any = None) -> list[str]:
    """The likely causes of a disagreement, each one line: what differs, and what to do."""
    causes = []
    if not facts.has_template:
        causes.append("template: the GGUF has no chat template (tokenizer.chat_template), so llama.cpp prompts it "
                      "in a layout it was not trained on: convert merged/ again with its chat_template.jinja")
    else:
        for a, s in zip(answers, seen, strict=True):
            if a.text != s.text:
                at = _first_difference(a.text, s.text)
                causes.append(f"template: the GGUF's chat template renders a prompt differently from the tokenizer's "
                              f"(character {at}: {_snippet(a.text, at)} in transformers, {_snippet(s.text, at)} in "
                              "llama.cpp): convert merged/ again, so that the GGUF carries the template it was "
                              "trained with (finetune.chat_template)")
                break
    for a, s in zip(answers, seen, strict=True):
        if a.ids != s.ids_of_hf_text:  # the same text, other ids: the vocabulary or its merges differ
            at = common_prefix(a.ids, s.ids_of_hf_text)
            got, want = _at(s.ids_of_hf_text, at), _at(a.ids, at)
            causes.append(f"tokenizer: the same prompt text becomes other token ids in the GGUF (token {at}: id "
                          f"{got} {_name(facts, got)} in llama.cpp, {want} {_hf_name(tokenizer, want)} "
                          "in the tokenizer): the GGUF's vocabulary is not merged/'s tokenizer; convert merged/ again")
            break
        if a.text == s.text and a.ids != s.ids:  # what llama.cpp adds around it (a BOS training never saw)
            extra = s.ids[0] if s.ids[1:] == a.ids else None
            causes.append("tokenizer: llama.cpp runs the prompt as other token ids than training did "
                          + (f"(it puts id {extra} {_name(facts, extra)} before it, "
                             "tokenizer.ggml.add_bos_token)" if extra is not None else "")
                          + ": convert merged/ again, with the base's tokenizer_config.json")
            break
    ends = {facts.eos_id, facts.eot_id}
    if facts.end_id not in ends or not facts.end_is_eog:
        names = ", ".join(f"{k} {v} {_name(facts, v)}" for k, v in (("eos", facts.eos_id), ("eot", facts.eot_id))
                          if v >= 0)
        stops = "" if facts.end_is_eog else ", and llama.cpp does not stop there"
        causes.append(f"EOS: the tokenizer ends a turn with id {facts.end_id} {facts.end_token!r} but the GGUF's end "
                      f"tokens are {names or 'unset'}{stops}: set tokenizer.ggml.eos_token_id to {facts.end_id} "
                      "(convert merged/ again, with its generation_config.json and tokenizer files)")
    if not causes and argmax < threshold:
        causes.append(f"weights: prompts, token ids and end of turn agree, but the next-token argmax agrees on only "
                      f"{argmax:.0%} (needs {threshold:.0%}): the GGUF computes something else; for f16 that is a "
                      "converter defect (report it with export.log), for a quantized type it is too coarse for this "
                      "model: ship q8_0 or f16")
    return causes


def _at(ids: Sequence[int], i: int) -> int | None:
    return ids[i] if i < len(ids) else None


def _name(facts: Vocab, token: int | None) -> str:
    """A token's text in the GGUF's vocabulary."""
    return "(none)" if token is None else repr(facts.texts.get(token, "?"))


def _hf_name(tokenizer: Any, token: int | None) -> str:
    """A token's text in the tokenizer's vocabulary."""
    if token is None:
        return "(none)"
    return repr(tokenizer.convert_ids_to_tokens(int(token))) if tokenizer is not None else ""


# ---------------------------------------------------------------------------- the check


def check_gguf(path: Path, ftype: str, answers: Sequence[Answer], tokenizer: Any, tokens: int = TOKENS) -> Parity:
    import time

    t = time.perf_counter()
    end_id, end_token = end_of_turn_id(tokenizer)
    seen, facts = gguf_side(path, answers, tokens, end_id, end_token)
    first_n, argmax, identical = shares(answers, seen)
    threshold = THRESHOLDS.get(ftype, DEFAULT_THRESHOLD)
    causes = diagnose(answers, seen, facts, argmax, threshold, tokenizer)
    return Parity(path.name, ftype, len(answers), sum(len(a.answer) for a in answers), first_n, argmax, identical,
                  threshold, causes, time.perf_counter() - t)


def check(model: Any, tokenizer: Any, ggufs: dict[str, Path], prompts: Sequence[list[dict[str, str]]],
          tokens: int = TOKENS) -> list[Parity]:
    """Parity of each GGUF (by type) with `model`, a transformers model in memory."""
    answers = hf_answers(model, tokenizer, prompts, tokens)
    if not answers:
        raise ModelError(f"no prompt of the data is shorter than {MAX_PROMPT_TOKENS} tokens: the parity check has "
                         "nothing to ask (set finetune.parity = 0 to skip it)")
    return [check_gguf(path, ftype, answers, tokenizer, tokens) for ftype, path in ggufs.items()]


@contextlib.contextmanager
def f16_of(model: Any, tokenizer: Any, base_dir: Path, merged: Path | None, ggufs: dict[str, Path],
           where: Path) -> Iterator[dict[str, Path]]:
    """`ggufs` with an F16 file. When none was shipped, one is converted for the check (and removed
    after) the way the export made the one its quantized files came from: from merged/ when that is
    F16 or F32, else from the merged model saved in F16. F16 is what the converter answers for; a
    quantized file adds its rounding."""
    if "f16" in ggufs:
        yield ggufs
        return
    import torch

    from wizardlite.finetune.export import save_tokenizer
    from wizardlite.gguf import convert

    with tempfile.TemporaryDirectory(dir=where, prefix=".parity-") as tmp:
        src = merged
        if src is None or _saved_dtype(src) not in ("float16", "float32"):
            src = Path(tmp) / "hf"  # the model rounded once, to F16, as the export's copy was
            model.save_pretrained(str(src), state_dict={k: v.to(torch.float16) for k, v in model.state_dict().items()})
            save_tokenizer(tokenizer, base_dir, src)
        f16 = convert.convert(src, Path(tmp) / "model.f16.gguf", name=f"{base_dir.name}-lora")
        yield {"f16": f16} | ggufs


def _saved_dtype(folder: Path) -> str:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return str(config.get("dtype") or config.get("torch_dtype") or "")


def after_export(prompts_n: int, out: Any, outputs: dict[str, str], gguf_types: Sequence[str], tokenizer: Any,
                 base_dir: Path, data_path: str | Path, eval_keys: Sequence[str], console: Any,
                 timings: dict[str, float], from_adapter: bool = True) -> list[Parity]:
    """The check `wizardlite finetune` runs on what it exported (`out` a FinetuneLayout): the
    merged model (base + adapter merged again as the export merged it, else merged/; only merged/
    when not `from_adapter`) against model.gguf and the other GGUFs, on `prompts_n` prompts of the
    eval split (else training ones)."""
    import time

    ggufs = {t: Path(outputs[f"gguf_{t}"]) for t in gguf_types if f"gguf_{t}" in outputs}
    if not prompts_n or not ggufs:
        return []
    t = time.perf_counter()
    merged = out.merged if (out.merged / "config.json").is_file() else None
    if from_adapter and (out.adapter / "adapter_config.json").is_file():
        from wizardlite.finetune.export import merge_adapter

        model = merge_adapter(base_dir, out.adapter).eval()
    elif merged is not None:
        model = load_hf(merged)
    else:
        console.print("parity: skipped (neither adapter/ nor merged/ was kept to compare the GGUF with)")
        return []
    prompts = prompts_from_data(data_path, eval_keys, prompts_n)
    with console.status("parity: the GGUFs against the merged model ..."), f16_of(model, tokenizer, base_dir, merged,
                                                                                  ggufs, out.root) as all_ggufs:
        results = check(_to_device(model), tokenizer, all_ggufs, prompts)
    timings["parity_s"] = time.perf_counter() - t
    for r in results:
        console.print(f"parity {r.ftype}: next-token argmax {r.argmax:.1%}, first {TOKENS} tokens {r.first_n:.1%} "
                      f"({r.prompts} prompts, {r.identical} identical){'' if r.ok else ': ' + r.causes[0]}")
    return results


def _to_device(model: Any) -> Any:
    """On the GPU when there is one with room for the model, else where it is."""
    import torch

    if torch.cuda.is_available():
        need = sum(p.numel() * p.element_size() for p in model.parameters())
        if 2 * need < torch.cuda.mem_get_info()[0]:
            return model.to("cuda")
    return model


def failure(results: Sequence[Parity]) -> str | None:
    """One line for the user when any GGUF disagrees, naming the first likely cause."""
    bad = [r for r in results if not r.ok]
    if not bad:
        return None
    r = bad[0]
    more = f" (and {len(bad) - 1} more GGUF{'s' if len(bad) > 2 else ''})" if len(bad) > 1 else ""
    return (f"parity: {r.gguf} does not answer as the merged model does (next-token argmax {r.argmax:.0%}, "
            f"first {TOKENS} tokens {r.first_n:.0%}){more}; likely cause: {r.causes[0]}")


def rows(results: Sequence[Parity]) -> list[tuple[str, str]]:
    """Summary-table rows: one per GGUF."""
    return [(f"parity {r.ftype}", f"argmax {r.argmax:.1%}, first-{TOKENS} {r.first_n:.1%}, "
                                  f"{r.identical}/{r.prompts} identical"
             + ("" if r.ok else f" [red]({r.causes[0].split(':')[0]})[/]")) for r in results]


# ---------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    from wizardlite.finetune import load_tokenizer

    ap = argparse.ArgumentParser(description="parity of GGUF files with a transformers model folder")
    ap.add_argument("folder", type=Path, help="merged model (HF folder with its tokenizer)")
    ap.add_argument("ggufs", type=Path, nargs="+", help="model.gguf files; the type is read from the name")
    ap.add_argument("--data", required=True, help="conversations to take prompts from (JSONL, ...)")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=TOKENS)
    args = ap.parse_args(argv)
    tokenizer = load_tokenizer(args.folder, "")
    prompts = prompts_from_data(args.data, [], args.prompts)
    ggufs = {_ftype(p): p for p in args.ggufs}
    results = check(load_hf(args.folder), tokenizer, ggufs, prompts, args.tokens)
    print(json.dumps([r.to_json() for r in results], indent=2, ensure_ascii=False))
    return 0 if failure(results) is None else 1


def _ftype(path: Path) -> str:
    """model.q8_0.gguf -> q8_0; a name without a type is read as f16 only when the file says so."""
    parts = path.name.split(".")
    if len(parts) >= 3:
        return parts[-2]
    from wizardlite.gguf.reader import GGUFFile

    return {1: "f16", 7: "q8_0", 15: "q4_k_m", 17: "q5_k_m"}.get(int(GGUFFile(path).meta.get("general.file_type", -1)),
                                                                   "unknown")


if __name__ == "__main__":
    raise SystemExit(main())
