"""Where every file of a run lives. Stages meet through these files, never through each other's
code, so their paths are named once, here.

    runs/default/                 RunLayout(Path("runs/default"))
      records.jsonl               written by evolve alone (the journal a resumed evolve reads)
      data/train.jsonl ...        evolve's training set
      scores.jsonl, difficulty.*  the judge's difficulty scores of the run's instructions
      ft/                         FinetuneLayout: adapter, merged model, GGUF
      judge/                      a pairwise comparison
      eval/                       a verifiable-instruction evaluation
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESOLVED = "recipe.resolved.json"  # every stage writes its resolved recipe into its own folder


@dataclass(frozen=True)
class FinetuneLayout:
    root: Path

    @property
    def resolved(self) -> Path:
        return self.root / RESOLVED

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    @property
    def merged(self) -> Path:
        return self.root / "merged"

    @property
    def gguf(self) -> Path:
        """The first of `finetune.gguf_types`; the others are `gguf_of(type)`."""
        return self.root / "model.gguf"

    def gguf_of(self, ftype: str) -> Path:
        return self.root / f"model-{ftype}.gguf"

    @property
    def modelfile(self) -> Path:
        return self.root / "Modelfile"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    @property
    def loss_plot(self) -> Path:
        return self.root / "loss.png"


@dataclass(frozen=True)
class RunLayout:
    """The folder of one evolve run (`run.out`) and what later stages put beside it."""

    root: Path

    # ---- evolve
    @property
    def records(self) -> Path:
        return self.root / "records.jsonl"

    @property
    def runlog(self) -> Path:
        return self.root / "runlog.jsonl"

    @property
    def resolved(self) -> Path:
        return self.root / RESOLVED

    @property
    def report(self) -> Path:
        return self.root / "report.md"

    @property
    def funnel_plot(self) -> Path:
        return self.root / "funnel.png"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def train(self) -> Path:
        return self.data / "train.jsonl"

    @property
    def hf(self) -> Path:
        return self.data / "hf"

    def export(self, fmt: str) -> Path:
        """`data/<fmt>.jsonl` for the extra formats (alpaca, sharegpt)."""
        return self.data / f"{fmt}.jsonl"

    # ---- judge: difficulty scores of this run
    @property
    def scores(self) -> Path:
        return self.root / "scores.jsonl"

    @property
    def difficulty_report(self) -> Path:
        return self.root / "difficulty.md"

    @property
    def difficulty_plot(self) -> Path:
        return self.root / "difficulty.png"

    # ---- later stages' default folders
    def finetune(self, out: str = "") -> FinetuneLayout:
        """The fine-tune folder: `finetune.out` when set, else `<run>/ft`."""
        return FinetuneLayout(Path(out) if out else self.root / "ft")

    def compare_dir(self, out: str = "") -> Path:
        return Path(out) if out else self.root / "judge"

    def eval_dir(self, out: str = "") -> Path:
        return Path(out) if out else self.root / "eval"


def run_layout(recipe_run_out: str | Path) -> RunLayout:
    return RunLayout(Path(recipe_run_out))
