"""Shared test setup: no hub access, ever; the repo root as working directory for recipes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# llama.cpp's OpenMP threads spin-wait at each barrier; on a busy 2-core machine a descheduled
# partner turns a 20 ms decode step into ~500 ms (measured, see benchmarks/notes/generate.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> Path:
    return REPO


class BagOfWordsEmbedder:
    """A stand-in for sentence-transformers in fast tests: hashed bag-of-words unit vectors,
    so texts sharing most words are near, unrelated ones far. The hash is crc32, not `hash()`,
    which Python salts per process: collisions, and so the similarities, must not change
    from one run to the next."""

    def __init__(self, dim: int = 256):
        self.dim = dim

    def encode(self, texts):  # noqa: ANN001, ANN201
        import re
        import zlib

        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype="float32")
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, zlib.crc32(w.encode()) % self.dim] += 1.0
            n = np.linalg.norm(out[i])
            if n:
                out[i] /= n
        return out


@pytest.fixture
def bow_embedder() -> BagOfWordsEmbedder:
    return BagOfWordsEmbedder()
