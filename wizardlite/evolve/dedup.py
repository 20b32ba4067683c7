"""Dedup: exact (normalised text hash) and near-duplicate (sentence-embedding cosine).

The index holds every instruction accepted so far (the seeds too, when `against_seeds`).
`check` walks new instructions in order: each is compared with the index and with those
before it in the same call, and joins the index only if it is not a duplicate. Decisions
therefore depend only on the order of records, which the evolve stage keeps fixed, so a
resumed run decides exactly as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from wizardlite.errors import ModelError
from wizardlite.recipe import DedupConfig


def normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def text_key(text: str) -> str:
    return hashlib.sha256(normalise(text).encode()).hexdigest()


class Embedder:
    """all-MiniLM-L6-v2 (or the configured model) through sentence-transformers, loaded once."""

    def __init__(self, model: str, batch_size: int = 64):
        from wizardlite.models import resolve

        path = resolve(model, kind="embedding")
        try:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(str(path), device="cpu")
        except Exception as e:  # a broken folder raises many kinds of errors
            raise ModelError(f"cannot load the embedding model at {path} ({e}): check dedup.model in the recipe") from None
        self.batch_size = batch_size
        self.name = str(model)

    def encode(self, texts: Sequence[str]) -> Any:
        return self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)


class Deduper:
    def __init__(self, cfg: DedupConfig, embedder: Any = None):
        self.cfg = cfg
        self._embedder = embedder
        self._keys: dict[str, str] = {}  # text key -> record id
        self._ids: list[str] = []
        self._vectors: Any = None  # (n, d) unit vectors, rows aligned with _ids

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            self._embedder = Embedder(self.cfg.model, self.cfg.batch_size)
        return self._embedder

    def _use_near(self) -> bool:
        return self.cfg.enabled and self.cfg.near

    def add(self, items: Sequence[tuple[str, str]]) -> None:
        """Put (id, instruction) pairs into the index without checking them."""
        if not items or not self.cfg.enabled:
            return
        for rid, text in items:
            self._keys.setdefault(text_key(text), rid)
        if self._use_near():
            self._append([rid for rid, _ in items], self.embedder.encode([t for _, t in items]))

    def _append(self, ids: list[str], vecs: Any) -> None:
        import numpy as np

        self._ids.extend(ids)
        self._vectors = vecs if self._vectors is None else np.vstack([self._vectors, vecs])

    def check(self, items: Sequence[tuple[str, str]]) -> list[tuple[str | None, float]]:
        """For each (id, instruction), in order: (id of the record it duplicates or None, best
        cosine similarity found). Non-duplicates join the index."""
        if not self.cfg.enabled:
            return [(None, 0.0)] * len(items)
        import numpy as np

        vecs = self.embedder.encode([t for _, t in items]) if self._use_near() and items else None
        out: list[tuple[str | None, float]] = []
        for i, (rid, text) in enumerate(items):
            key = text_key(text)
            if self.cfg.exact and key in self._keys:
                out.append((self._keys[key], 1.0))
                continue
            best, best_id = 0.0, None
            if vecs is not None and self._vectors is not None and len(self._ids):
                sims = self._vectors @ vecs[i]
                j = int(np.argmax(sims))
                best, best_id = float(sims[j]), self._ids[j]
            if best_id is not None and best >= self.cfg.threshold:
                out.append((best_id, best))
                continue
            self._keys.setdefault(key, rid)
            if vecs is not None:
                self._append([rid], vecs[i : i + 1])
            out.append((None, best))
        return out
