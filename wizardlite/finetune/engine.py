"""The engines: one trainer (TRL's SFTTrainer, trainer.py) and three ways to load the model it trains.

    cpu      cpu.py      the HF model in fp32 (or bf16) with PEFT LoRA adapters, on the CPU
    qlora    qlora.py    the HF model in 4-bit NF4 (bitsandbytes), prepare_model_for_kbit_training,
                         PEFT LoRA: the standard QLoRA, on a CUDA GPU or on the CPU
    unsloth  unsloth.py  Unsloth's FastLanguageModel (4-bit) and its get_peft_model, on a CUDA GPU

Run as: (library module; `finetune.engine` in a recipe names one of these, or "auto")

`auto` takes unsloth when torch sees a CUDA GPU and Unsloth imports, qlora on a CUDA GPU without
it, else cpu, and says which and why in one line. The engine only loads: the data, the batches,
the loss, the schedule, checkpoints and export are the same code for all three.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from wizardlite.errors import ConfigError
from wizardlite.quiet import quiet_handled_loggers
from wizardlite.report import bar

# engine name -> module under wizardlite.finetune with `load(cfg, base_dir, tokenizer) -> Loaded`
LOADERS = {"cpu": "cpu", "qlora": "qlora", "unsloth": "unsloth"}
ENGINES = ("auto", *LOADERS)


@dataclass
class Loaded:
    """What a loader hands the trainer: a PEFT model ready to train and the tokenizer to train with
    (Unsloth may return its own, with a pad token added)."""

    model: Any
    tokenizer: Any
    device: str  # "cpu" | "cuda"
    precision: str  # "fp32" | "bf16" | "fp16": the trainer's autocast
    own_checkpointing: bool = False  # the model does its own gradient checkpointing (Unsloth's)


@dataclass(frozen=True)
class Choice:
    engine: str
    why: str


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _unsloth_imports() -> str | None:
    """None when Unsloth imports, else why not (its first line). Importing it is the only honest
    test (an installed Unsloth can still fail on its CUDA checks), and it has to happen before
    transformers is imported, so that its patches apply: this runs before anything loads it."""
    try:
        importlib.import_module("unsloth")
    except Exception as e:  # ImportError, or its own RuntimeError/NotImplementedError about the GPU
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return f"{type(e).__name__}: {first}"
    return None


def import_bitsandbytes() -> Any:
    quiet_handled_loggers()  # its Hub-kernel warning (wizardlite.quiet), for callers outside the CLI
    return importlib.import_module("bitsandbytes")


def bitsandbytes_missing() -> str | None:
    try:
        import_bitsandbytes()
    except Exception as e:
        return f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"
    return None


def choose_engine(requested: str) -> Choice:
    if requested not in ENGINES:
        raise ConfigError(f"finetune.engine: '{requested}' is not one of {', '.join(ENGINES)}")
    gpu = cuda_available()
    if requested == "cpu":
        return Choice("cpu", "asked for: LoRA on the CPU")
    if requested == "unsloth":
        if not gpu:
            raise ConfigError('finetune.engine = "unsloth" needs an NVIDIA GPU and torch sees none: '
                              'set finetune.engine = "cpu" or "qlora" (or "auto")')
        if why := _unsloth_imports():
            raise ConfigError(f'finetune.engine = "unsloth" but unsloth does not import ({why}): '
                              'pip install ".[gpu]", or set finetune.engine = "qlora"')
        return Choice("unsloth", "asked for: Unsloth QLoRA on the GPU")
    if requested == "qlora":
        if why := bitsandbytes_missing():
            raise ConfigError(f'finetune.engine = "qlora" needs bitsandbytes, which does not import ({why}): '
                              'reinstall with ./install.sh')
        return Choice("qlora", f"asked for: 4-bit NF4 base + LoRA on the {'GPU' if gpu else 'CPU'}")
    if not gpu:
        return Choice("cpu", "no CUDA GPU: LoRA on the CPU")
    if why := _unsloth_imports():
        return Choice("qlora", f"CUDA GPU, but unsloth does not import ({why}): QLoRA through bitsandbytes")
    return Choice("unsloth", "CUDA GPU and unsloth imports")


def load_model(engine: str, cfg: Any, base_dir: Any, tokenizer: Any) -> Loaded:
    module = importlib.import_module(f"wizardlite.finetune.{LOADERS[engine]}")
    loaded: Loaded = module.load(cfg, base_dir, tokenizer)
    return loaded


def precision(cfg_precision: str, device: str) -> str:
    """finetune.precision on this device: auto is bf16 on a GPU that has it (fp16 on older ones),
    fp32 on the CPU (bf16 autocast there was 20x slower on a CPU without bf16 arithmetic)."""
    if cfg_precision != "auto":
        if device == "cpu" and cfg_precision == "fp16":
            raise ConfigError('finetune.precision = "fp16" needs a GPU: use "fp32" or "bf16" on the CPU')
        return cfg_precision
    if device == "cpu":
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def gradient_checkpointing(cfg_value: bool | None, device: str) -> bool:
    """Unset: on with a GPU, where memory is what limits; off on the CPU, where it runs every
    layer's forward twice (1.6x slower) and LoRA's activations fit in RAM."""
    return (device != "cpu") if cfg_value is None else cfg_value


@dataclass
class TrainResult:
    steps: int
    resumed_from: int
    tokens: int  # real (non-padding) tokens seen in this process
    seconds: float
    eval_before: float | None
    eval_after: float | None
    last_loss: float | None

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def progress(console: Console) -> Any:
    return bar("[bold]{task.description}", "loss {task.fields[loss]}", "{task.fields[tps]} tok/s", console=console,
               eta_label="ETA")


# Projections some architectures fuse into one matrix (Phi-3: qkv_proj, gate_up_proj).
FUSED = {"q_proj": "qkv_proj", "k_proj": "qkv_proj", "v_proj": "qkv_proj", "gate_proj": "gate_up_proj",
         "up_proj": "gate_up_proj"}


def lora_targets(model: Any, wanted: tuple[str, ...]) -> list[str]:
    """`finetune.target_modules` for this model: a projection it fuses is replaced by the fused
    one, so the default list adapts Phi-3's attention and MLP as it does Llama's."""
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    out: list[str] = []
    for w in wanted:
        t = FUSED[w] if w not in names and FUSED.get(w) in names else w
        if t not in out:
            out.append(t)
    return out


def lora_config(cfg: Any, model: Any) -> Any:
    """The one LoraConfig of the cpu and qlora engines (Unsloth takes the same values as arguments)."""
    from peft import LoraConfig

    return LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, bias="none",
                      target_modules=lora_targets(model, cfg.target_modules), task_type="CAUSAL_LM")


def wrap_lora(cfg: Any, model: Any) -> Any:
    """PEFT LoRA adapters on `model`, drawn from the recipe's seed."""
    import warnings

    import torch
    from peft import get_peft_model

    torch.manual_seed(cfg.seed)  # the LoRA A matrices are drawn from torch's global generator
    try:
        with warnings.catch_warnings():
            # PEFT asks transformers for a property that transformers 5 renamed: a FutureWarning
            # meant for PEFT's authors, not for our users.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            return get_peft_model(model, lora_config(cfg, model))
    except ValueError as e:
        raise ConfigError(f"finetune.target_modules {list(cfg.target_modules)} do not fit this model ({e})") from None
