"""Which model a command-line spec names: an embedded model name, a GGUF path, an evolve run
folder or fine-tune folder (its `ft/model.gguf` or `model.gguf`), or an endpoint URL.

    backend_for("runs/default", recipe.evolver)          # llamacpp on runs/default/ft/model.gguf
    backend_for("http://127.0.0.1:8080/v1", base)        # http on that endpoint
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from wizardlite.errors import ConfigError
from wizardlite.layout import FinetuneLayout, RunLayout
from wizardlite.recipe import BackendConfig


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def gguf_in_folder(folder: Path) -> Path:
    """The fine-tuned GGUF a folder stands for: an evolve run's `ft/model.gguf`, or a fine-tune
    folder's own `model.gguf`."""
    for gguf in (RunLayout(folder).finetune().gguf, FinetuneLayout(folder).gguf):
        if gguf.is_file():
            return gguf
    raise ConfigError(f"{folder} is a folder without a fine-tuned model (no ft/model.gguf or model.gguf in it): "
                      "run `just finetune`, or pass a .gguf path or a name from `wizardlite models`")


def backend_for(spec: str | None, base: BackendConfig) -> BackendConfig:
    """The BackendConfig a command-line model spec names, on top of `base` (the settings of the
    role it plays): an endpoint URL -> http; a folder -> the GGUF in it; a GGUF path or model
    name -> llamacpp. A `base` on the `fake` backend keeps it, so a command can run without a
    model."""
    if not spec:
        return base
    if is_url(spec):
        return replace(base, backend="http", endpoints=(spec.rstrip("/"),))
    if base.backend == "fake":
        return replace(base, model=spec)
    if Path(spec).is_dir():
        spec = str(gguf_in_folder(Path(spec)))
    return replace(base, backend="llamacpp", model=spec, endpoints=())
