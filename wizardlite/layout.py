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

from wizardlite.errors import ConfigError

RESOLVED = "recipe.resolved.json"  # every stage writes its resolved recipe into its own folder


def out_folder(path: Path) -> Path:
    """`path`, refused with one line when a file stands where the folder (or a folder above
    it) would go: an output folder is made with its parents, and a file cannot be one."""
    blocker = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        what = "is a file, not a folder" if blocker == path else f"is a file, so {path} cannot be a folder"
        raise ConfigError(f"{blocker} {what}: pass --out another path (a folder, made if missing), or move the file")
    return path


@dataclass(frozen=True)
class FinetuneLayout:
    root: Path

    def __post_init__(self) -> None:
        out_folder(self.root)

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
        return self.root / f"model.{ftype}.gguf"

    @property
    def lora_gguf(self) -> Path:
        """The adapter as a GGUF LoRA, which llama.cpp applies to the base at load time."""
        return self.root / "adapter.gguf"

    @property
    def export_log(self) -> Path:
        """What llama.cpp's converter printed."""
        return self.root / "export.log"

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
class EvalLayout:
    """A verifiable-instruction evaluation (`wizardlite eval`): `<run>/eval` or `eval.out`."""

    root: Path

    @property
    def resolved(self) -> Path:
        return self.root / RESOLVED

    @property
    def responses(self) -> Path:
        """Every answer with its per-instruction verdicts: the journal a resumed eval reads."""
        return self.root / "responses.jsonl"

    @property
    def runlog(self) -> Path:
        return self.root / "runlog.jsonl"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def report(self) -> Path:
        return self.root / "report.md"

    @property
    def plot(self) -> Path:
        return self.root / "per_type.png"


@dataclass(frozen=True)
class RunLayout:
    """The folder of one evolve run (`run.out`) and what later stages put beside it."""

    root: Path

    def __post_init__(self) -> None:
        out_folder(self.root)

    # ---- evolve
    @property
    def records(self) -> Path:
        return self.root / "records.jsonl"

    @property
    def dedup_index(self) -> Path:
        """The near-duplicate index's vectors (`.f32`) and ids (`.ids`), so a resume need not
        embed every kept instruction again."""
        return self.root / "dedup_index"

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

    @property
    def ifd(self) -> Path:
        """IFD scores of the kept records ([select]), written by evolve."""
        return self.root / "ifd.jsonl"

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

    # ---- view: the run's files as one SQLite database (`wizardlite view`)
    @property
    def view_db(self) -> Path:
        return self.root / "run.db"

    # ---- later stages' default folders
    def finetune(self, out: str = "") -> FinetuneLayout:
        """The fine-tune folder: `finetune.out` when set, else `<run>/ft`."""
        return FinetuneLayout(Path(out) if out else self.root / "ft")

    def compare_dir(self, out: str = "") -> Path:
        return out_folder(Path(out) if out else self.root / "judge")

    def eval_dir(self, out: str = "") -> Path:
        return out_folder(Path(out) if out else self.root / "eval")


def run_layout(recipe_run_out: str | Path) -> RunLayout:
    return RunLayout(Path(recipe_run_out))
