"""What the two training engines share: which one runs, what a run reports, and its progress bar.

    cpu.py      LoRA with PEFT in a plain PyTorch loop (any machine)
    unsloth.py  QLoRA through Unsloth and TRL's SFTTrainer (an NVIDIA GPU and the [gpu] extra)
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from wizardlite.errors import ConfigError
from wizardlite.report import bar


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
