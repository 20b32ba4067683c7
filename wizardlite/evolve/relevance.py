"""Off-topic answers: a kept answer that does not address its instruction is eliminated.

Checkers verify the form of an answer (three bullets, no commas) and say nothing of whether it
answers the question; a small evolver often writes a well-formed answer to some other question.
This rule compares the instruction and the answer as sentence embeddings (dedup.model,
all-MiniLM-L6-v2 by default) and eliminates the record, with reason "off_topic", when their cosine
is below `eliminate.min_relevance`.

The default threshold was set on human answers, not on the model's: over the 175 Self-Instruct
seeds and their reference answers (recipes/seeds/self_instruct.jsonl), no answer of 8 words or
more has a cosine below 0.108, while 83% of instructions paired with another seed's answer fall
below 0.1. Answers shorter than `relevance_min_words` are not judged: a label ("Yes", "3",
"science") is a right answer with nothing to compare. Every judged record keeps its cosine in
`scores.relevance`, so the threshold can be revisited on a run's own records
(benchmarks/relevance/NOTES.md lists 50 records read by hand against it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from wizardlite.recipe import EliminateConfig
from wizardlite.records import ELIMINATED, KEPT, Record

OFF_TOPIC = "off_topic"


class Relevance:
    def __init__(self, cfg: EliminateConfig, embedder: Callable[[], Any]):
        """`embedder` returns an object with `encode(texts) -> unit vectors` (evolve's Embedder);
        it is called only when there is something to judge."""
        self.cfg = cfg
        self._embedder = embedder

    def judged(self, rec: Record) -> bool:
        return rec.status == KEPT and len(rec.response.split()) >= self.cfg.relevance_min_words

    def mark(self, records: Sequence[Record]) -> None:
        """Score every kept record with a long enough answer; eliminate those below the threshold."""
        todo = [r for r in records if self.judged(r)]
        if not todo:
            return
        vecs = self._embedder().encode([r.instruction for r in todo] + [r.response for r in todo])
        n = len(todo)
        for i, rec in enumerate(todo):
            cos = float(vecs[i] @ vecs[n + i])
            rec.scores["relevance"] = round(cos, 4)
            if cos < self.cfg.min_relevance:
                rec.status, rec.reason = ELIMINATED, OFF_TOPIC


def relevance(cfg: EliminateConfig, embedder: Callable[[], Any]) -> Relevance | None:
    """The rule, or None when the recipe turns it off."""
    return Relevance(cfg, embedder) if cfg.off_topic else None
