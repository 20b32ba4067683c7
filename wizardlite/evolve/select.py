"""Self-scored selection: the instruction-following difficulty (IFD) of each kept record, measured
with the base model that will be fine-tuned, and the selection it allows.

IFD (Cherry LLM, Li et al. 2024) compares two losses of the same answer tokens: given the
instruction (the chat template's user turn, then the answer), and alone. IFD = loss given the
instruction / loss alone. Near 1 or above, the instruction does not help the model predict the
answer (the pair teaches little, or they do not belong together); lower means the instruction
carries the answer. Cherry keeps the records with the highest IFD below 1: the instruction helps,
but the model has not learned to follow it yet.

Scores go to `ifd.jsonl` in the run folder (a journal: a killed scoring resumes), keyed by record
id and the base model's hash; the report shows them per round and operation; `[select]` decides
which kept records go into the training set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wizardlite.io import Journal
from wizardlite.recipe import Recipe, SelectConfig
from wizardlite.records import Record


def answer_nll(logprobs: Sequence[Sequence[float]], ids: Sequence[int], start: int) -> float:
    """Mean negative log-likelihood of tokens ids[start:], where logprobs[i] is the model's
    log-distribution over the token at position i + 1 (a causal LM's shifted output)."""
    terms = [-float(logprobs[i - 1][ids[i]]) for i in range(max(start, 1), len(ids))]
    return sum(terms) / len(terms) if terms else math.nan


class IFDScorer:
    """The base model in fp32 on the CPU (or the GPU when torch sees one), and its tokenizer."""

    def __init__(self, base_dir: Path, max_length: int = 1024):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(str(base_dir), local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(str(base_dir), local_files_only=True,
                                                          dtype=torch.float32).eval()
        self.max_length = max_length

    def _logprobs(self, ids: list[int]) -> Any:
        # a tensor, not a list: .tolist() of a (tokens x 49k vocabulary) array took seconds a record
        with self.torch.no_grad():
            logits = self.model(self.torch.tensor([ids])).logits[0].float()
        return self.torch.log_softmax(logits, dim=-1)

    def score(self, instruction: str, answer: str) -> dict[str, float]:
        """IFD of one pair, with both losses. The losses are over the answer's own tokens: the
        first answer token is left out of both, since alone it has nothing to be predicted from."""
        tok = self.tok
        prefix = tok.apply_chat_template([{"role": "user", "content": instruction}], tokenize=False,
                                         add_generation_prompt=True)
        p_ids = tok(prefix, add_special_tokens=False)["input_ids"]
        a_ids = tok(answer, add_special_tokens=False)["input_ids"][: max(2, self.max_length - len(p_ids))]
        given = answer_nll(self._logprobs(p_ids + a_ids), p_ids + a_ids, len(p_ids) + 1)
        alone = answer_nll(self._logprobs(a_ids), a_ids, 1)
        return {"ifd": given / alone if alone > 0 else math.nan, "loss_given": given, "loss_alone": alone}


def score_records(records: Sequence[Record], base_dir: Path, base_key: str, journal_path: Path,
                  on_done: Any = None) -> dict[str, dict[str, Any]]:
    """IFD rows by record id for every record that has an answer; scores already journaled for
    this base are reused, new ones are journaled as they come."""
    journal = Journal(journal_path)
    done = {r["id"]: r for r in journal.read() if r.get("base") == base_key}
    todo = [r for r in records if r.id not in done and r.response.strip()]
    if todo:
        scorer = IFDScorer(base_dir)
        for r in todo:
            row = {"id": r.id, "base": base_key, **{k: round(v, 5) for k, v in scorer.score(r.instruction, r.response).items()}}
            journal.append([row])
            done[r.id] = row
            if on_done is not None:
                on_done()
    return done


def select(records: Sequence[Record], ifd: dict[str, dict[str, Any]], cfg: SelectConfig) -> tuple[list[Record], dict[str, str]]:
    """The records `[select]` keeps, in their order, and why each other one was left out."""
    dropped: dict[str, str] = {}
    scored = []
    for r in records:
        row = ifd.get(r.id)
        value = row["ifd"] if row else math.nan
        if math.isnan(value):
            dropped[r.id] = "no IFD score"
        elif value >= cfg.max_ifd:
            dropped[r.id] = f"IFD {value:.3f} >= {cfg.max_ifd:g}"
        else:
            scored.append((value, r))
    n = math.ceil(len(scored) * cfg.top_fraction)
    ranked = sorted(scored, key=lambda x: (-x[0], x[1].id))  # highest IFD first; ties by id
    keep = {r.id for _, r in ranked[:n]}
    for value, r in ranked[n:]:
        dropped[r.id] = f"IFD {value:.3f} below the top {cfg.top_fraction:.0%}"
    return [r for r in records if r.id in keep], dropped


def base_key(base_dir: Path) -> str:
    """What identifies the scoring model: the source GGUF's hash when the folder was converted
    from one, else the weights files' names and sizes."""
    import json

    from wizardlite.gguf.to_hf import SOURCE
    from wizardlite.records import content_hash

    stamp = base_dir / SOURCE
    if stamp.is_file():
        return str(json.loads(stamp.read_text(encoding="utf-8")).get("sha256", ""))[:16]
    return content_hash(sorted((f.name, f.stat().st_size) for f in base_dir.glob("*.safetensors")))


def run_selection(records: Sequence[Record], recipe: Recipe, journal_path: Path) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Score the kept records with finetune.base (journaled) and apply [select]: (IFD rows by id,
    the ids selected)."""
    from rich.console import Console

    from wizardlite.gguf.to_hf import base_folder
    from wizardlite.records import KEPT
    from wizardlite.report import counting_bar

    kept = [r for r in records if r.status == KEPT and r.response.strip()]
    base_dir = base_folder(recipe.finetune.base)
    with counting_bar("IFD", len(kept)) as advance:
        rows = score_records(kept, base_dir, base_key(base_dir), journal_path, on_done=advance)
    chosen, dropped = select(kept, rows, recipe.select)
    Console(stderr=True).print(f"select: {len(chosen)} of {len(kept)} kept records by IFD ({len(dropped)} left out)")
    return rows, {r.id for r in chosen}
