"""The fine-tuning stage: an evolve run's training set in, a LoRA adapter, a merged model and a
GGUF out.

Run as: wizardlite finetune --recipe recipes/default.toml   (or: just finetune)

Steps: pick the engine (Unsloth on an NVIDIA GPU when installed, else the CPU engine), turn the
base into a plain HF folder (convert.py), render the data with the base's chat template
(ft_data.py), train (train_cpu.py or train_unsloth.py), then write adapter/, merged/,
model.gguf, a Modelfile for Ollama, metrics.jsonl, loss.png and recipe.resolved.json into the
output folder (default <run.out>/ft). Running the same command again resumes an interrupted
run from its last checkpoint.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from wizardlite import __version__
from wizardlite.config import FinetuneConfig, Recipe, recipe_to_dict
from wizardlite.errors import ConfigError
from wizardlite.records import atomic_write_text, content_hash, file_sha256

RESOLVED = "recipe.resolved.json"
# FinetuneConfig fields that do not change the trained weights: a checkpoint stays valid across them.
NOT_TRAINING = ("out", "export", "gguf_types", "log_every", "save_every", "merged_dtype", "data", "base", "engine")
DTYPES = {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}


def choose_engine(requested: str) -> str:
    """auto -> unsloth when torch sees a CUDA GPU and unsloth is installed, else cpu. Unsloth is
    never imported here: it refuses to import without a GPU."""
    import torch

    gpu = torch.cuda.is_available()
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    if requested == "unsloth":
        if not gpu:
            raise ConfigError('finetune.engine = "unsloth" needs an NVIDIA GPU and torch sees none: '
                              'set finetune.engine = "cpu" (or "auto")')
        if not has_unsloth:
            raise ConfigError('finetune.engine = "unsloth" but unsloth is not installed: pip install ".[gpu]"')
        return "unsloth"
    if requested == "cpu":
        return "cpu"
    return "unsloth" if gpu and has_unsloth else "cpu"


def load_tokenizer(base_dir: Path, chat_template: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_dir), local_files_only=True)
    if chat_template:
        tokenizer.chat_template = chat_template  # the recipe's template wins, and ships with the outputs
    if not tokenizer.chat_template:
        raise ConfigError(f"the base {base_dir} has no chat template: set finetune.chat_template to a Jinja template")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def base_identity(base_dir: Path) -> str:
    from wizardlite.convert import SOURCE
    from wizardlite.models import model_sha256

    stamp = base_dir / SOURCE
    if stamp.is_file():
        return str(json.loads(stamp.read_text(encoding="utf-8"))["sha256"])
    files = sorted(base_dir.glob("*.safetensors")) + [base_dir / "config.json"]
    return content_hash([model_sha256(f) for f in files if f.is_file()], n=64)


def run(recipe: Recipe, data: str | None = None, base: str | None = None, out: str | None = None,
        engine: str | None = None, console: Console | None = None, on_step: Any = None) -> Path:
    """Fine-tune `recipe.finetune.base` on the training set; return the output folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never touch a hub, whatever the caller forgot
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # OpenMP threads that spin while they wait for each other take the CPU from whatever else
    # runs on the machine, and from each other: with a second busy process on 2 cores a step
    # was 10x slower with the default policy, and as fast as one idle thread with PASSIVE.
    # Read when torch loads its OpenMP runtime, so it must be set before the first `import torch`.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from wizardlite import convert, ft_data

    console = console or Console(stderr=True)
    ft = recipe.finetune
    cfg = dataclasses.replace(ft, data=data or ft.data, base=base or ft.base, out=out or ft.out,
                              engine=engine or ft.engine)
    if errs := cfg.check():
        raise ConfigError("; ".join(errs))
    data_path = Path(cfg.data or Path(recipe.run.out) / "data" / "train.jsonl")
    out_dir = Path(cfg.out or Path(recipe.run.out) / "ft")
    timings: dict[str, float] = {}

    used = choose_engine(cfg.engine)
    console.print(f"engine: [bold]{used}[/] (asked: {cfg.engine})")
    t = time.perf_counter()
    base_dir = convert.base_folder(cfg.base)
    timings["base_s"] = time.perf_counter() - t
    console.print(f"base: {cfg.base} -> {base_dir}")
    tokenizer = load_tokenizer(base_dir, cfg.chat_template)
    if "gguf" in cfg.export:
        from transformers import AutoConfig

        from wizardlite.export_gguf import check_exportable

        check_exportable(AutoConfig.from_pretrained(str(base_dir), local_files_only=True), tokenizer)
    t = time.perf_counter()
    td = ft_data.prepare(data_path, tokenizer, cfg.max_length, cfg.loss_on, cfg.eval_fraction, cfg.seed)
    timings["data_s"] = time.perf_counter() - t
    data_info = {"path": str(data_path), "sha256": file_sha256(data_path), "formats": dict(td.formats),
                 "train": len(td.train), "eval": len(td.eval), "train_tokens": td.tokens,
                 "skipped_lines": [{"line": n, "reason": r} for n, r in td.report.skipped],
                 "truncated": td.truncated, "dropped_too_long": td.dropped}
    console.print(f"data: {data_path}: {len(td.train)} train + {len(td.eval)} eval conversations, "
                  f"{td.tokens} train tokens; {len(td.report.skipped)} lines skipped, {td.truncated} cut at "
                  f"max_length, {td.dropped} dropped")
    train_fields = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_TRAINING}
    fingerprint = content_hash(train_fields, data_info["sha256"], base_identity(base_dir), used, n=32)
    out_dir.mkdir(parents=True, exist_ok=True)
    resolved = {"recipe": recipe_to_dict(dataclasses.replace(recipe, finetune=cfg)), "wizardlite": __version__,
                "engine": used, "base": {"name": cfg.base, "folder": str(base_dir), "sha256": base_identity(base_dir)},
                "data": data_info, "versions": _versions(used), "status": "running"}
    atomic_write_text(out_dir / RESOLVED, json.dumps(resolved, indent=2, ensure_ascii=False))

    t = time.perf_counter()
    if used == "unsloth":
        from wizardlite import train_unsloth

        result, merged_dir = train_unsloth.train(cfg, base_dir, td, tokenizer, out_dir, console, fingerprint)
        timings["train_s"] = time.perf_counter() - t
        outputs = _export_from_folder(cfg, merged_dir, out_dir, tokenizer, base_dir, timings)
    else:
        from wizardlite import train_cpu

        model, result = train_cpu.train(cfg, base_dir, td, int(tokenizer.pad_token_id), out_dir, fingerprint,
                                        console, on_step)
        timings["train_s"] = time.perf_counter() - t
        outputs = _export_cpu(cfg, model, out_dir, tokenizer, base_dir, timings)
    _plot(out_dir)
    results = {"steps": result.steps, "resumed_from": result.resumed_from, "tokens_per_s": round(result.tokens_per_s, 1),
               "eval_loss_before": result.eval_before, "eval_loss_after": result.eval_after,
               "last_train_loss": result.last_loss, "seconds": {k: round(v, 2) for k, v in timings.items()},
               "outputs": outputs}
    resolved |= {"status": "done", "results": results}
    atomic_write_text(out_dir / RESOLVED, json.dumps(resolved, indent=2, ensure_ascii=False))
    _summary(console, used, cfg, td, result, timings, outputs)
    return out_dir


def _export_cpu(cfg: FinetuneConfig, model: Any, out_dir: Path, tokenizer: Any, base_dir: Path,
                timings: dict[str, float]) -> dict[str, str]:
    import torch

    outputs: dict[str, str] = {}
    t = time.perf_counter()
    if "adapter" in cfg.export:
        model.save_pretrained(str(out_dir / "adapter"))
        tokenizer.save_pretrained(str(out_dir / "adapter"))
        outputs["adapter"] = str(out_dir / "adapter")
    merged = model.merge_and_unload()
    if "merged" in cfg.export:
        # A 16-bit copy is saved; the fp32 weights stay for the GGUF, which rounds only once.
        copy.deepcopy(merged).to(getattr(torch, DTYPES[cfg.merged_dtype])).save_pretrained(str(out_dir / "merged"))
        tokenizer.save_pretrained(str(out_dir / "merged"))
        outputs["merged"] = str(out_dir / "merged")
    timings["save_s"] = time.perf_counter() - t
    if "gguf" in cfg.export:
        outputs |= _write_ggufs(cfg, merged.config, merged.state_dict(), tokenizer, out_dir, base_dir, timings)
    return outputs


def _export_from_folder(cfg: FinetuneConfig, merged_dir: Path, out_dir: Path, tokenizer: Any, base_dir: Path,
                        timings: dict[str, float]) -> dict[str, str]:
    from safetensors.numpy import load_file
    from transformers import AutoConfig

    outputs = {"adapter": str(out_dir / "adapter"), "merged": str(merged_dir)}
    if "gguf" in cfg.export:
        tensors: dict[str, Any] = {}
        for f in sorted(merged_dir.glob("*.safetensors")):
            tensors |= load_file(str(f))
        config = AutoConfig.from_pretrained(str(merged_dir), local_files_only=True)
        outputs |= _write_ggufs(cfg, config, tensors, tokenizer, out_dir, base_dir, timings)
    return outputs


def _write_ggufs(cfg: FinetuneConfig, config: Any, tensors: Any, tokenizer: Any, out_dir: Path, base_dir: Path,
                 timings: dict[str, float]) -> dict[str, str]:
    from wizardlite.convert import SOURCE
    from wizardlite.export_gguf import write_gguf, write_modelfile

    stamp = base_dir / SOURCE
    # A base converted from GGUF keeps the pre-tokenizer name llama.cpp used for it.
    pre = json.loads(stamp.read_text(encoding="utf-8")).get("tokenizer_pre") if stamp.is_file() else None
    outputs = {}
    t = time.perf_counter()
    for i, ftype in enumerate(cfg.gguf_types):
        name = "model.gguf" if i == 0 else f"model-{ftype}.gguf"
        write_gguf(out_dir / name, config, tensors, tokenizer, ftype, name=f"{base_dir.name}-lora", pre=pre)
        outputs[f"gguf_{ftype}"] = str(out_dir / name)
    if cfg.gguf_types:
        outputs["modelfile"] = str(write_modelfile(out_dir, "model.gguf", tokenizer))
    timings["gguf_s"] = time.perf_counter() - t
    return outputs


def _versions(engine: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["torch", "transformers", "peft", "gguf"] + (["unsloth", "trl", "bitsandbytes"] if engine == "unsloth" else [])
    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "missing"
    return out


def _plot(out_dir: Path) -> Path | None:
    """loss.png: train loss per step and eval loss where measured."""
    from wizardlite.records import iter_jsonl

    path = out_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(iter_jsonl(path))
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", lw=1.2)
    if evals:
        ax.plot(*zip(*evals, strict=True), "o--", label="eval loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (per trained token)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "loss.png")
    plt.close(fig)
    return out_dir / "loss.png"


def _summary(console: Console, engine: str, cfg: FinetuneConfig, td: Any, result: Any, timings: dict[str, float],
             outputs: dict[str, str]) -> None:
    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.4f}"

    table = Table(title="finetune")
    table.add_column("")
    table.add_column("value")
    table.add_row("engine", engine)
    table.add_row("base", cfg.base)
    table.add_row("conversations", f"{len(td.train)} train, {len(td.eval)} eval")
    table.add_row("steps", f"{result.steps}" + (f" (resumed at {result.resumed_from})" if result.resumed_from else ""))
    table.add_row("tokens/s", f"{result.tokens_per_s:.0f}")
    table.add_row("eval loss", f"{fmt(result.eval_before)} -> {fmt(result.eval_after)}")
    table.add_row("time", ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in timings.items()))
    for k, v in outputs.items():
        table.add_row(k, v)
    console.print(table)
