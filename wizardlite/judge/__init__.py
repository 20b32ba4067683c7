"""The judge stage: a local model rates instructions and compares two models' answers.

Run as: wizardlite judge --recipe recipes/default.toml   (or: just judge)

    score.py           the judge rates each instruction of an evolve run for difficulty, 1 to 10, the
                       WizardLM paper's way; scores.jsonl, difficulty.md and difficulty.png
    compare.py         two models answer a test set, the judge compares the answers in both orders
    compare_report.py  wins, ties and losses with intervals: report.md, summary.json, comparison.png
    contestants.py     which model a spec names; one loaded model at a time
    replies.py         grammars and parsers for ratings and verdicts
    stats.py           Wilson intervals, tallies, the judge's consistency
    testset.py         the test set reader

`run` does what `just judge` means: score the recipe's run, then compare the fine-tuned GGUF
with its base when the fine-tune stage has left one.
"""

from __future__ import annotations

from pathlib import Path

from wizardlite.backends import make_generator
from wizardlite.judge.compare import compare_models
from wizardlite.judge.contestants import Factory, base_gguf
from wizardlite.judge.score import score_run
from wizardlite.layout import RunLayout, out_folder
from wizardlite.recipe import Recipe

__all__ = ["base_gguf", "compare", "run", "score"]

# ---------------------------------------------------------------------------- entry points


def score(recipe: Recipe, run_dir: Path, judge: str | None = None, include_eliminated: bool = False,
          *, factory: Factory = make_generator) -> Path:
    """Rate the instructions of an evolve run; return the path of difficulty.png."""
    return score_run(recipe, Path(run_dir), judge, include_eliminated, factory=factory)


def compare(recipe: Recipe, testset: str | Path, a: str, b: str, judge: str | None = None,
            out: str | Path | None = None, *, factory: Factory = make_generator) -> Path:
    """Answer a test set with models a and b, judge the pairs; return the path of report.md."""
    out = out_folder(Path(out)) if out else default_compare_out(recipe)
    return compare_models(recipe, Path(testset), a, b, judge, out, factory=factory)


def default_compare_out(recipe: Recipe) -> Path:
    return RunLayout(Path(recipe.run.out)).compare_dir(recipe.judge.out)


def run(recipe: Recipe, base: str | None = None, *, factory: Factory = make_generator) -> Path:
    """`wizardlite judge`: score the run of the recipe, then compare its fine-tuned GGUF
    (`<finetune.out or run.out/ft>/model.gguf`) against the base when it exists."""
    from rich.console import Console

    layout = RunLayout(Path(recipe.run.out))
    out = score(recipe, layout.root, include_eliminated=recipe.judge.include_eliminated, factory=factory)
    tuned = layout.finetune(recipe.finetune.out).gguf
    if not tuned.is_file():
        Console(stderr=True).print(f"[yellow]no fine-tuned model at {tuned}: only the difficulty scores were made "
                                   "(run `just finetune` first to compare base and tuned)[/]")
        return out
    base = base or base_gguf(recipe.finetune.base)
    return compare(recipe, recipe.judge.testset, str(tuned), base, None, default_compare_out(recipe), factory=factory)


