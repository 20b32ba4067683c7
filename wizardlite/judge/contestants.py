"""Who plays which role in a judgement: the model a command-line spec names, the judge's
settings, and one loaded model at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wizardlite.backends import Generator
from wizardlite.backends.spec import backend_for
from wizardlite.errors import ConfigError
from wizardlite.recipe import BackendConfig, Recipe

Factory = Callable[[BackendConfig], Generator]  # tests pass one that returns scripted fakes


def judge_config(recipe: Recipe, spec: str | None) -> BackendConfig:
    return backend_for(spec, recipe.judge_model)


class OneAtATime:
    """Hands out generators with at most one loaded: asking for another model closes the
    current one first (memory); asking for the same model again reuses it (a load, and the
    backend's warm-up, saved when the judge is also a contestant)."""

    def __init__(self, factory: Factory):
        self.factory = factory
        self.key: BackendConfig | None = None
        self.gen: Generator | None = None

    def get(self, cfg: BackendConfig) -> Generator:
        # Sampling settings travel with each request; the rest decides what gets loaded.
        key = cfg.load_key()
        if self.gen is None or key != self.key:
            self.close()
            self.gen, self.key = self.factory(cfg), key
        return self.gen

    def close(self) -> None:
        if self.gen is not None:
            self.gen.close()
        self.gen = self.key = None


def base_gguf(base: str) -> str:
    """The contestant spec for `finetune.base`: a model name or .gguf passes through; an HF
    folder cannot be served by llama.cpp, unless a GGUF sits inside it."""
    p = Path(base)
    if p.is_dir():
        ggufs = sorted(p.glob("*.gguf"))
        if not ggufs:
            raise ConfigError(f"finetune.base is the HF folder {p}, which llama.cpp cannot load: pass --base PATH.gguf "
                              "(convert it with llama.cpp's convert_hf_to_gguf.py), or a name from `wizardlite models`")
        return str(ggufs[0])
    return base
