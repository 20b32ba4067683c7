"""Backends: the generator interface (base.py) and the registry of backends that implement it.

A backend is one module plus one entry in `BACKENDS`: its name (the recipe's `backend = ...`),
how to load it from a `BackendConfig`, how to identify its model without loading it, and the
checks its settings need. Heavy libraries are imported inside each backend's functions, so
this registry imports fast.

    llamacpp   in-process llama-cpp-python, continuous batching (llamacpp.py, llamacpp_batch.py)
    http       OpenAI-compatible endpoints: llama-server, vLLM, Ollama (http.py)
    fake       scripted replies, for tests and for running the CLI without a model (fake.py)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wizardlite.backends import fake, http, llamacpp
from wizardlite.backends.base import (
    CONTEXT,
    ERROR,
    LENGTH,
    STOP,
    Callback,
    Generator,
    GenRequest,
    GenResult,
    ModelIdentity,
    ModelInfo,
    Sampling,
    user,
)
from wizardlite.errors import ConfigError
from wizardlite.recipe import BackendConfig, Recipe

__all__ = ["BACKENDS", "CONTEXT", "ERROR", "LENGTH", "STOP", "Backend", "Callback", "GenRequest", "GenResult",
           "Generator", "ModelIdentity", "ModelInfo", "Sampling", "check_recipe", "identity", "make_generator", "user"]


@dataclass(frozen=True)
class Backend:
    name: str
    load: Callable[[BackendConfig], Generator]
    identity: Callable[[BackendConfig], ModelIdentity]
    check: Callable[[BackendConfig, str], list[str]]  # (settings, section name) -> problems


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("llamacpp", llamacpp.load, llamacpp.identity, llamacpp.check),
        Backend("http", http.load, http.identity, http.check),
        Backend("fake", fake.load, fake.identity, fake.check),
    )
}


def _entry(cfg: BackendConfig, where: str = "backend") -> Backend:
    try:
        return BACKENDS[cfg.backend]
    except KeyError:
        raise ConfigError(f"{where}: unknown backend '{cfg.backend}' (known: {', '.join(BACKENDS)})") from None


def make_generator(cfg: BackendConfig) -> Generator:
    """Load the backend a config names."""
    return _entry(cfg).load(cfg)


def identity(cfg: BackendConfig) -> ModelIdentity:
    """What model a config names, without loading it."""
    return _entry(cfg).identity(cfg)


def check_recipe(recipe: Recipe) -> list[str]:
    """The checks each model section's backend asks for (the recipe's own checks are typed only)."""
    errs = []
    for where in ("evolver", "answerer", "judge_model"):
        cfg: BackendConfig = getattr(recipe, where)
        if cfg.backend not in BACKENDS:
            errs.append(f"{where}.backend: '{cfg.backend}' is not one of {', '.join(BACKENDS)}")
        else:
            errs += BACKENDS[cfg.backend].check(cfg, where)
    return errs
