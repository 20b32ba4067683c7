"""Decontamination: a kept instruction that overlaps a prompt of an evaluation set is
eliminated, so that no evaluation prompt leaks into the training data.

Two tests, either one is enough (`[decontaminate]` in the recipe):

    n-gram     the instruction and an evaluation prompt share a run of `ngram` words (13 by
               default, the test of the GPT-3 and Llama 2 reports), after lower-casing and
               dropping punctuation; a prompt shorter than that must appear whole
    embedding  cosine similarity of their embeddings (dedup.model, all-MiniLM-L6-v2 by
               default) at or above `threshold`: a light paraphrase keeps few 13-grams

A contaminated record gets status "eliminated", reason "contaminated", and
`meta["contaminated"] = {"file", "key", "test", "similarity"}`: the evaluation file, the key
of the prompt it matched (IFEval's `key`, else the line number), which test caught it, and the
cosine similarity. Evolve's report counts it among the eliminations by rule.

Evaluation files are IFEval's JSONL or any JSONL with an instruction field (`field`, or the
first of prompt, instruction, question, input).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizardlite.errors import ConfigError, DataError
from wizardlite.evolve.dedup import normalise
from wizardlite.io import ReadReport, iter_jsonl_numbered
from wizardlite.recipe import DecontaminateConfig
from wizardlite.records import ELIMINATED, KEPT, Record

CONTAMINATED = "contaminated"
FIELDS = ("prompt", "instruction", "question", "input")


@dataclass(frozen=True)
class EvalText:
    file: str
    key: str
    text: str


def read_eval_texts(files: Sequence[str], field: str = "") -> list[EvalText]:
    out = []
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"decontaminate.files: no file at {path}: fix the path or remove it from the recipe")
        report = ReadReport(str(path))
        for n, obj in iter_jsonl_numbered(path, report, errors="replace"):
            text = obj.get(field) if field else next((obj[f] for f in FIELDS if isinstance(obj.get(f), str)), None)
            if isinstance(text, str) and text.strip():
                out.append(EvalText(path.name, str(obj.get("key", f"line {n}")), text))
        if not any(t.file == path.name for t in out):
            raise DataError(f"decontaminate.files: {path} holds no prompt in a field "
                            f"{field or ' / '.join(FIELDS)}: set decontaminate.field")
    return out


class Decontaminator:
    def __init__(self, cfg: DecontaminateConfig, embedder: Callable[[], Any]):
        """`embedder` returns an object with `encode(texts) -> unit vectors` (evolve's
        Embedder); it is called only when the embedding test is on."""
        self.cfg = cfg
        self.texts = read_eval_texts(cfg.files, cfg.field)
        self.grams: dict[tuple[str, ...], int] = {}  # word run -> index into texts
        self.lengths: set[int] = set()
        for i, t in enumerate(self.texts):
            words = tuple(normalise(t.text).split())
            n = min(cfg.ngram, len(words))
            if cfg.ngram and n:
                self.lengths.add(n)
                for j in range(len(words) - n + 1):
                    self.grams.setdefault(words[j : j + n], i)
        self._embedder = embedder if cfg.threshold > 0 else None
        self._vectors: Any = None

    def _ngram_match(self, text: str) -> int | None:
        words = tuple(normalise(text).split())
        for n in sorted(self.lengths, reverse=True):
            for j in range(len(words) - n + 1):
                if (i := self.grams.get(words[j : j + n])) is not None:
                    return i
        return None

    def _similarities(self, texts: Sequence[str]) -> Any:
        """(len(texts), len(eval texts)) cosine similarities, or None with the test off."""
        if self._embedder is None or not texts:
            return None
        enc = self._embedder()
        if self._vectors is None:
            self._vectors = enc.encode([t.text for t in self.texts])
        return enc.encode(list(texts)) @ self._vectors.T

    def mark(self, records: Sequence[Record]) -> None:
        """Eliminate the kept records that overlap an evaluation prompt (in place)."""
        kept = [r for r in records if r.status == KEPT]
        sims = self._similarities([r.instruction for r in kept])
        for k, rec in enumerate(kept):
            best = int(sims[k].argmax()) if sims is not None else None
            sim = float(sims[k][best]) if sims is not None else None
            hit, test = self._ngram_match(rec.instruction), f"{self.cfg.ngram}-gram"
            if hit is None and sim is not None and sim >= self.cfg.threshold:
                hit, test = best, "embedding"
            if hit is None:
                continue
            t = self.texts[hit]
            rec.status, rec.reason = ELIMINATED, CONTAMINATED
            rec.meta["contaminated"] = {"file": t.file, "key": t.key, "test": test,
                                        "similarity": None if sims is None else round(float(sims[k][hit]), 4)}


def decontaminator(cfg: DecontaminateConfig, embedder: Callable[[], Any]) -> Decontaminator | None:
    """None when no evaluation file is listed: the check is off."""
    return Decontaminator(cfg, embedder) if cfg.files else None
