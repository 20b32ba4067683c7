"""Training data for the fine-tuning stage: find the training set, read its conversations in
any of three layouts, render each with the base model's chat template, mark the tokens the
loss is taken on, hold out an eval split, and order the rest into length-grouped batches.

Run as: (library module, used by `wizardlite finetune`)

Where (`find_data`): an evolve run folder or its data/ folder (their train.jsonl, else their
`datasets` folder hf/), a `datasets` folder, or a JSONL, JSON or parquet file.

Layouts, detected row by row:
  messages  {"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}
  alpaca    {"instruction": ..., "input": ..., "output": ...}
  sharegpt  {"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}]}
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizardlite.errors import ConfigError, DataError
from wizardlite.io import ReadReport, detect_format, is_datasets_folder, read_rows
from wizardlite.layout import RunLayout
from wizardlite.records import content_hash

IGNORE = -100  # label of a token the loss skips (PyTorch's cross_entropy default)
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "model": "assistant", "chatgpt": "assistant", "bard": "assistant", "system": "system"}


@dataclass(frozen=True)
class Example:
    key: str  # content hash of the conversation: the eval split and batch order depend on it only
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]  # IGNORE where no loss is taken


@dataclass
class TrainData:
    train: list[Example]
    eval: list[Example]
    report: ReadReport
    formats: Counter[str] = field(default_factory=Counter)
    truncated: int = 0  # conversations cut at max_length
    dropped: int = 0  # conversations with no trained token left after the cut

    @property
    def tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.train)


# ---------------------------------------------------------------------------- reading


def to_messages(obj: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    """(layout, messages) of one JSON object; ValueError says why it is not a conversation."""
    if isinstance(obj.get("messages"), list):
        layout, raw = "messages", [(m.get("role"), m.get("content")) for m in obj["messages"] if isinstance(m, dict)]
    elif isinstance(obj.get("conversations"), list):
        layout = "sharegpt"
        raw = [(SHAREGPT_ROLES.get(str(m.get("from", "")).lower(), m.get("from")), m.get("value"))
               for m in obj["conversations"] if isinstance(m, dict)]
    elif "instruction" in obj and "output" in obj:
        layout = "alpaca"
        prompt = str(obj["instruction"]).strip()
        if str(obj.get("input") or "").strip():
            prompt += "\n\n" + str(obj["input"]).strip()
        raw = ([("system", obj["system"])] if obj.get("system") else []) + [("user", prompt), ("assistant", obj["output"])]
    else:
        raise ValueError("unknown layout (expected messages, conversations, or instruction/output)")
    messages = []
    for role, content in raw:
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise ValueError(f"bad turn: role {role!r} with {type(content).__name__} content")
        messages.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise ValueError("no non-empty assistant turn to learn from")
    return layout, messages


def find_data(path: Path) -> Path:
    """The training set `path` names: itself when it is a file or a `datasets` folder; in an
    evolve run folder or a data/ folder, its train.jsonl, else its `datasets` folder hf/."""
    if path.is_file() or is_datasets_folder(path):
        return path
    if not path.is_dir():
        raise DataError(f"no training data at {path}: pass --data a JSONL, JSON or parquet file, a `datasets` folder, "
                        "or an evolve run folder (by default run.out, which `wizardlite evolve` makes)")
    run = RunLayout(path)
    looked = [run.train, run.hf, path / run.train.name, path / run.hf.name]  # a run folder, then a data/ folder
    for p in looked:
        if p.is_file() or is_datasets_folder(p):
            return p
    names = [f"{p}/ (a `datasets` folder)" if p.name == run.hf.name else str(p) for p in looked]
    raise DataError(f"no training data in {path}: looked for {', '.join(names)}: run `wizardlite evolve --out {path}` "
                    "first, or pass --data a JSONL, JSON or parquet file")


def read_conversations(path: str | Path) -> tuple[list[list[dict[str, str]]], ReadReport, Counter[str]]:
    p = find_data(Path(path))
    fmt = detect_format(p)
    if fmt is None:
        raise DataError(f"cannot tell the format of {p}: pass --data a .jsonl, .json or .parquet file, "
                        "a `datasets` folder, or an evolve run folder")
    report = ReadReport(str(p))
    formats: Counter[str] = Counter()
    out = []
    try:
        for n, obj in read_rows(p, fmt, report):
            try:
                layout, messages = to_messages(obj)
            except ValueError as e:
                report.skip(n, str(e))
                continue
            report.rows += 1
            formats[layout] += 1
            out.append(messages)
    except (OSError, ValueError) as e:  # a broken parquet file or datasets folder
        raise DataError(f"cannot read {p} as {fmt}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if not out:
        why = "; ".join(f"line {n}: {r}" for n, r in report.skipped[:3]) or "the file is empty"
        raise DataError(f"{p}: no usable conversation ({why}). Expected rows in messages, Alpaca "
                        "(instruction/input/output) or ShareGPT (conversations from/value) layout")
    return out, report, formats


# ---------------------------------------------------------------------------- tokenizing


def render(tokenizer: Any, messages: Sequence[dict[str, str]], generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)


def assistant_spans(tokenizer: Any, messages: Sequence[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns, end marker
    included (so the model learns to stop). Templates render a conversation's prefix as a
    prefix of the whole, which is what lets us find the spans by rendering growing prefixes."""
    full = render(tokenizer, messages)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = len(render(tokenizer, messages[:i], generation_prompt=True)) if i else 0
        end = len(render(tokenizer, messages[: i + 1]))
        if full[:end] != render(tokenizer, messages[: i + 1]):
            raise DataError("the chat template does not render a conversation's start as a prefix of the whole: "
                            "set finetune.loss_on = \"all\" or use another finetune.chat_template")
        spans.append((start, end))
    return full, spans


def encode(tokenizer: Any, messages: Sequence[dict[str, str]], max_length: int, loss_on: str) -> tuple[Example | None, bool]:
    """(example, was_truncated). The example is None when no trained token survives the cut."""
    text, spans = assistant_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    if loss_on == "all":
        labels = list(ids)
    else:
        labels = [tok if any(a <= s < b for a, b in spans) else IGNORE for tok, (s, _) in zip(ids, offsets, strict=True)]
    truncated = len(ids) > max_length
    ids, labels = ids[:max_length], labels[:max_length]
    # The first token is never predicted, so a label there trains nothing.
    if not any(x != IGNORE for x in labels[1:]):
        return None, truncated
    return Example(content_hash(messages), tuple(ids), tuple(labels)), truncated


def template_overhead(tokenizer: Any) -> int:
    """Tokens the chat template spends on an empty one-turn exchange."""
    text = render(tokenizer, [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}])
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def prepare(path: str | Path, tokenizer: Any, max_length: int, loss_on: str, eval_fraction: float, seed: int,
            eval_min: int = 0) -> TrainData:
    conversations, report, formats = read_conversations(path)
    overhead = template_overhead(tokenizer)
    if overhead >= max_length:
        raise ConfigError(f"finetune.max_length = {max_length} is shorter than the chat template itself "
                          f"({overhead} tokens for an empty exchange): raise finetune.max_length")
    examples: dict[str, Example] = {}  # exact duplicates collapse to one
    truncated = dropped = 0
    for messages in conversations:
        ex, cut = encode(tokenizer, messages, max_length, loss_on)
        truncated += cut
        if ex is None:
            dropped += 1
        else:
            examples[ex.key] = ex
    if not examples:
        raise DataError(f"{path}: every conversation lost its answer to the cut at max_length = {max_length}: "
                        "raise finetune.max_length")
    train, held = split(list(examples.values()), eval_fraction, seed, eval_min)
    return TrainData(train, held, report, formats, truncated, dropped)


def split(examples: list[Example], fraction: float, seed: int, minimum: int = 0) -> tuple[list[Example], list[Example]]:
    """Seeded split by content hash: an example stays on its side when others are added (as
    long as the held-out count stays the same). `fraction` of the examples are held out, and at
    least `minimum` (at least 1 when there are 4 or more) but never more than a quarter, so
    most of a small set still trains."""
    order = sorted(examples, key=lambda e: content_hash(seed, "eval", e.key))
    n_eval = round(fraction * len(order)) if fraction > 0 else 0
    if fraction > 0:
        n_eval = max(n_eval, min(max(minimum, 1), len(order) // 4))
    n_eval = min(n_eval, len(order) - 1)
    return sorted(order[n_eval:], key=lambda e: e.key), sorted(order[:n_eval], key=lambda e: e.key)


# ---------------------------------------------------------------------------- batching


def grouped_order(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[int]:
    """One epoch's order of the examples (their indices), to be cut into batches of `batch_size`
    as it comes: shuffle, sort by length within windows of 8 batches, shuffle the batches. Rows of
    a batch have similar lengths, so little compute goes to padding, and the order stays random.
    The one short batch (when the count does not divide) comes last, so the cut stays aligned.
    It depends only on (seed, epoch), so a resumed run sees the batches it would have seen."""
    rng = random.Random(int(content_hash(seed, "epoch", epoch), 16))
    items = list(range(len(lengths)))
    rng.shuffle(items)
    window = batch_size * 8
    batches: list[list[int]] = []
    for w in range(0, len(items), window):
        chunk = sorted(items[w:w + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    batches.sort(key=lambda b: len(b) < batch_size)  # stable: only the short one moves, to the end
    return [i for b in batches for i in b]


def collate(batch: Sequence[Example], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors of a batch, as TRL's collator makes them (labels padded with IGNORE)."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, e in enumerate(batch):
        n = len(e.input_ids)
        ids[r, :n] = torch.tensor(e.input_ids)
        labels[r, :n] = torch.tensor(e.labels)
        mask[r, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}
