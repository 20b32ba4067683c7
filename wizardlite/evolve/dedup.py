"""Dedup: exact (normalised text hash) and near-duplicate (sentence-embedding cosine).

The index holds every instruction accepted so far (the seeds too, when `against_seeds`).
`check` walks new instructions in order: each is compared with the index and with those
before it in the same call, and joins the index only if it is not a duplicate. Decisions
therefore depend only on the order of records, which the evolve stage keeps fixed, so a
resumed run decides exactly as an uninterrupted one.

The near-duplicate search (`VectorIndex`) narrows each batch's candidates with 256-bit SimHash
codes in faiss's exact binary range search, then scores the candidates with exact cosines. Its
radius guarantees, but for a chance below 1e-11 per pair, that every earlier instruction at
`dedup.threshold - FLOOR_MARGIN` or closer is found, so its decisions are a plain scan's (the
benchmark measured recall 1.0 against exact search at 250k) at a small fraction of the cost:
benchmarks/bench_scale.py has the figures against the exact blocked search and HNSW indexes.
A run folder keeps the vectors (`VectorStore`); a resumed run reads them back and recomputes
their codes instead of embedding every kept instruction again.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wizardlite.errors import ModelError
from wizardlite.quiet import library_bars_off
from wizardlite.recipe import DedupConfig

BLOCK_ROWS = 1 << 16  # rows coded per matrix product when vectors join the index
CODE_BITS = 256  # SimHash bits per vector in the near-duplicate index
CODE_SEED = 20260  # the random hyperplanes: fixed, so that codes and decisions never change
FLOOR_MARGIN = 0.1  # the index finds every earlier instruction at dedup.threshold - this, or closer


def normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def text_key(text: str) -> str:
    return hashlib.sha256(normalise(text).encode()).hexdigest()


class Embedder:
    """all-MiniLM-L6-v2 (or the configured model) through sentence-transformers, loaded once.
    Callers pass large lists: sentence-transformers sorts each call by length, so a large call
    pads less than many small ones."""

    def __init__(self, model: str, batch_size: int = 64):
        from wizardlite.models import resolve

        path = resolve(model, kind="embedding")
        try:
            from sentence_transformers import SentenceTransformer

            with library_bars_off():  # its "Loading weights" bar would break into evolve's display
                self.model = SentenceTransformer(str(path), device="cpu")
        except Exception as e:  # a broken folder raises many kinds of errors
            raise ModelError(f"cannot load the embedding model at {path} ({e}): check dedup.model in the recipe") from None
        self.batch_size = batch_size
        self.name = str(model)

    def encode(self, texts: Sequence[str]) -> Any:
        return self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)


class VectorIndex:
    """Unit vectors in one preallocated float32 array (doubling when full), with their ids, and
    a search for each query's most similar row among those at cosine `floor` or more.

    Each vector also gets a 256-bit SimHash code (the signs of its products with fixed random
    hyperplanes, `CODE_SEED`). Two vectors at angle t differ in each bit with probability t/pi,
    so their Hamming distance is binomial; every row within `radius` bits of the query (faiss's
    exact binary range search, which compares codes with popcount) is re-scored with the exact
    cosine. The radius sits 7 standard deviations above the mean distance of a pair at cosine
    `floor`, so such a pair is missed with probability below 1e-11; unrelated rows (cosine
    near 0, 128 bits apart) almost never come back as candidates. Codes are 12x smaller than
    the vectors and cheaper to compare by about as much, and nothing here is approximate in a
    way that depends on insertion order: a candidate set, then exact cosines, so decisions
    depend only on the vectors and the order of records."""

    def __init__(self, floor: float = -1.0, bits: int = CODE_BITS):
        import faiss

        self.ids: list[str] = []
        self._data: Any = None
        self._planes: Any = None
        self.floor, self.bits = floor, bits
        self.radius = hamming_radius(floor, bits)
        self._codes = faiss.IndexBinaryFlat(bits)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def vectors(self) -> Any:
        return self._data[: len(self.ids)]

    def _code(self, vecs: Any) -> Any:
        import numpy as np

        if self._planes is None or self._planes.shape[0] != vecs.shape[1]:
            rng = np.random.default_rng(CODE_SEED)
            self._planes = rng.standard_normal((vecs.shape[1], self.bits), dtype=np.float32)
        return np.packbits(np.asarray(vecs, dtype=np.float32) @ self._planes > 0, axis=1)

    def add(self, ids: Sequence[str], vecs: Any) -> None:
        import numpy as np

        if not len(ids):
            return
        n, need = len(self.ids), len(self.ids) + len(ids)
        if self._data is None or need > len(self._data):
            grown = np.empty((max(need, 2 * (0 if self._data is None else len(self._data)), 1024), vecs.shape[1]),
                             dtype=np.float32)
            if self._data is not None:
                grown[:n] = self._data[:n]
            self._data = grown
        self._data[n:need] = vecs
        for start in range(0, len(ids), BLOCK_ROWS):  # coded in blocks: a resumed index can be large
            self._codes.add(self._code(self._data[n + start : min(n + start + BLOCK_ROWS, need)]))
        self.ids.extend(ids)

    def best(self, queries: Any) -> tuple[Any, Any]:
        """For each query row: the highest inner product with a row of the index at `floor` or
        more, and that row (the first on a tie); (-inf, -1) when there is none. Rows below the
        floor may or may not be seen, so a best below it is only a lower bound."""
        import numpy as np

        best = np.full(len(queries), -np.inf, dtype=np.float32)
        where = np.full(len(queries), -1, dtype=np.int64)
        if not self.ids or not len(queries):
            return best, where
        lims, _, rows = self._codes.range_search(self._code(queries), self.radius + 1)  # faiss: distance < radius
        owner = np.repeat(np.arange(len(queries)), np.diff(lims.astype(np.int64)))
        if not len(rows):
            return best, where
        sims = np.einsum("ij,ij->i", self._data[rows], queries[owner])
        order = np.lexsort((rows, -sims, owner))  # per query: highest cosine first, then the earliest row
        first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]]
        best[owner[first]], where[owner[first]] = sims[first], rows[first]
        return best, where


def hamming_radius(floor: float, bits: int, sigmas: float = 7.0) -> int:
    """Bits within which the SimHash codes of two unit vectors at cosine >= `floor` fall, but
    for a chance below the normal tail at `sigmas`."""
    import math

    p = math.acos(max(-1.0, min(1.0, floor))) / math.pi
    return min(bits, math.ceil(bits * p + sigmas * math.sqrt(bits * p * (1 - p))))


class VectorStore:
    """The index's vectors beside the journal: `<name>.f32` (raw float32 rows) and `<name>.ids`
    (a header naming the model, then one id a line), appended and synced before the records
    that caused them are journaled. On resume the rows whose ids match the index's members, in
    order, are read back; rows a killed run wrote past its journal are cut off, and a store made
    with another model is started over."""

    def __init__(self, path: Path, dim: int, model: str):
        self.vec_path, self.id_path, self.dim = path.with_suffix(".f32"), path.with_suffix(".ids"), dim
        self.header = f"# {model} {dim}"

    def load(self, ids: Sequence[str]) -> Any:
        """The stored vectors of the longest prefix of `ids` the store holds; the files are cut
        to that prefix."""
        import numpy as np

        stored = self.id_path.read_text().splitlines() if self.id_path.is_file() else []
        if not self.vec_path.is_file() or stored[:1] != [self.header]:
            self.vec_path.write_bytes(b"")
            self.id_path.write_text(self.header + "\n")
            return np.empty((0, self.dim), dtype=np.float32)
        stored = stored[1:]
        rows = min(len(stored), self.vec_path.stat().st_size // (4 * self.dim))
        n = 0
        while n < min(rows, len(ids)) and stored[n] == ids[n]:
            n += 1
        with open(self.vec_path, "r+b") as f:
            f.truncate(n * 4 * self.dim)
        self.id_path.write_text("".join(i + "\n" for i in [self.header, *stored[:n]]))
        if not n:
            return np.empty((0, self.dim), dtype=np.float32)
        # mapped, not read: the index copies the rows into its own array in one pass
        return np.memmap(self.vec_path, dtype=np.float32, mode="r", shape=(n, self.dim))

    def append(self, ids: Sequence[str], vecs: Any) -> None:
        import numpy as np

        if not len(ids):
            return
        for path, data in ((self.vec_path, np.ascontiguousarray(vecs, dtype=np.float32).tobytes()),
                           (self.id_path, "".join(i + "\n" for i in ids).encode())):
            with open(path, "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())


class Deduper:
    def __init__(self, cfg: DedupConfig, embedder: Any = None, store: Path | None = None):
        self.cfg = cfg
        self._embedder = embedder
        self._keys: dict[str, str] = {}  # text key -> record id
        self.index = VectorIndex(floor=cfg.threshold - FLOOR_MARGIN)
        self._store_path = store
        self._store: VectorStore | None = None

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            self._embedder = Embedder(self.cfg.model, self.cfg.batch_size)
        return self._embedder

    def _use_near(self) -> bool:
        return self.cfg.enabled and self.cfg.near

    def _encode(self, texts: Sequence[str]) -> Any:
        import numpy as np

        return np.asarray(self.embedder.encode(list(texts)), dtype=np.float32)

    def _join(self, ids: list[str], vecs: Any) -> None:
        if self._store_path is not None and self._store is None:
            self._store = VectorStore(self._store_path, vecs.shape[1], self.cfg.model)
            self._store.load([])
        if self._store is not None:
            self._store.append(ids, vecs)
        self.index.add(ids, vecs)

    def add(self, items: Sequence[tuple[str, str]]) -> None:
        """Put (id, instruction) pairs into the index without checking them. With a store, the
        vectors it holds for them are read back and only the rest are embedded."""
        if not items or not self.cfg.enabled:
            return
        for rid, text in items:
            self._keys.setdefault(text_key(text), rid)
        if not self._use_near():
            return
        ids = [rid for rid, _ in items]
        done = 0
        if self._store_path is not None and self._store is None and not len(self.index):
            probe = self._encode([items[0][1]])
            self._store = VectorStore(self._store_path, probe.shape[1], self.cfg.model)
            stored = self._store.load(ids)
            self.index.add(ids[: len(stored)], stored)
            done = len(stored)
        if done < len(items):
            self._join(ids[done:], self._encode([t for _, t in items[done:]]))

    def check(self, items: Sequence[tuple[str, str]]) -> list[tuple[str | None, float | None]]:
        """For each (id, instruction), in order: (id of the record it duplicates or None, the
        highest cosine similarity with an earlier instruction). The similarity is None when no
        earlier one is as close as the index's floor (dedup.threshold - FLOOR_MARGIN): below it
        the index does not look, and a number would depend on how records were batched; 1.0
        for an exact duplicate; 0.0 when near-duplicate search is off. Non-duplicates join the
        index."""
        if not self.cfg.enabled or not items:
            return [(None, 0.0)] * len(items)
        import numpy as np

        near = self._use_near()
        vecs: Any = self._encode([t for _, t in items]) if near else None
        best: Any
        where: Any
        best, where = self.index.best(vecs) if near else (None, None)
        among: Any = vecs @ vecs.T if near else None  # the batch against itself, for earlier joiners
        joined: list[int] = []
        out: list[tuple[str | None, float | None]] = []
        for i, (rid, text) in enumerate(items):
            key = text_key(text)
            if self.cfg.exact and key in self._keys:
                out.append((self._keys[key], 1.0))
                continue
            sim, dup_of = 0.0, None
            if near:
                if where[i] >= 0:
                    sim, dup_of = float(best[i]), self.index.ids[where[i]]
                if joined:
                    row = among[i, joined]
                    k = int(np.argmax(row))
                    if dup_of is None or row[k] > sim:  # a tie goes to the index (the earlier one)
                        sim, dup_of = float(row[k]), items[joined[k]][0]
            if dup_of is not None and sim >= self.cfg.threshold:
                out.append((dup_of, sim))
                continue
            self._keys.setdefault(key, rid)
            joined.append(i)
            out.append((None, sim if not near or sim >= self.index.floor else None))
        if near and joined:
            self._join([items[i][0] for i in joined], vecs[joined])
        return out
