"""The command line: one command per stage, and the tools around them.

Run as: wizardlite --help
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from wizardlite.errors import WizardliteError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Evol-Instruct data and LoRA fine-tuning, offline.")
console = Console(stderr=True)
_state = {"debug": False}

F = TypeVar("F", bound=Callable[..., Any])

RecipeOpt = Annotated[Path | None, typer.Option("--recipe", "-r", help="TOML recipe (see recipes/)")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override a recipe value: section.key=value")]


def friendly(fn: F) -> F:
    """Turn the package's errors into one red line and exit code 1 (a traceback with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WizardliteError as e:
            if _state["debug"]:
                raise
            console.print(f"[bold red]error:[/] {e}", highlight=False)
            raise typer.Exit(1) from None
        except (FileExistsError, NotADirectoryError) as e:  # a file where an output folder goes
            if _state["debug"]:
                raise
            console.print(f"[bold red]error:[/] {e.filename} is a file where a folder is needed: pass --out "
                          "another path, or move the file", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: the run folder keeps what was finished; run the same command to resume[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
         verbose: Annotated[bool, typer.Option("--verbose", help="also show the libraries' own logs and "
                                               "progress bars (llama.cpp, transformers)")] = False) -> None:
    from wizardlite.quiet import quiet_handled_loggers, set_verbose

    _state["debug"] = debug or bool(os.environ.get("WIZARDLITE_DEBUG"))
    if verbose:
        set_verbose()
    quiet_handled_loggers()  # before any command imports the libraries that warn


def load(recipe: Path | None, sets: list[str] | None, flags: dict[str, Any]) -> Any:
    """Load a recipe with command-line overrides (a command's flags first, then --set), checked
    against every registry: backends and evolution operations."""
    from wizardlite.backends import check_recipe as backends_check
    from wizardlite.evolve import check_recipe as evolve_check
    from wizardlite.recipe import load_recipe

    return load_recipe(recipe, sets or [], checks=(backends_check, evolve_check), flags=flags)


# ---------------------------------------------------------------------------- evolve


@app.command()
@friendly
def evolve(
    recipe: RecipeOpt = Path("recipes/default.toml"),
    seeds: Annotated[str | None, typer.Option(help="seed file or datasets folder")] = None,
    rounds: Annotated[int | None, typer.Option(help="evolution rounds")] = None,
    model: Annotated[str | None, typer.Option(help="evolver GGUF path or model name")] = None,
    endpoint: Annotated[list[str] | None, typer.Option(help="OpenAI-compatible base URL (repeatable)")] = None,
    out: Annotated[str | None, typer.Option(help="run folder")] = None,
    limit: Annotated[int | None, typer.Option(help="use only the first N seeds")] = None,
    fmt: Annotated[list[str] | None, typer.Option("--format", help="also export alpaca / sharegpt (repeatable)")] = None,
    sets: SetOpt = None,
) -> None:
    """Evolve seed instructions into a harder, more diverse training set."""
    from wizardlite import evolve as stage

    extra: dict[str, Any] = {"seeds.path": seeds, "evolve.rounds": rounds, "evolver.model": model,
                             "run.out": out, "seeds.limit": limit,
                             "output.formats": ["messages", *fmt] if fmt else None}
    if endpoint:
        extra |= {"evolver.backend": "http", "evolver.endpoints": list(endpoint)}
    stage.run(load(recipe, sets, extra))


# ---------------------------------------------------------------------------- finetune, chat


@app.command()
@friendly
def finetune(
    recipe: RecipeOpt = Path("recipes/default.toml"),
    data: Annotated[str | None, typer.Option(help="training set (messages, Alpaca or ShareGPT): an evolve run folder, its "
                                             "data/ folder, a datasets folder, or a JSONL, JSON or parquet file; "
                                             "default: run.out")] = None,
    base: Annotated[str | None, typer.Option(help="base model: a name from `wizardlite models`, an HF folder, or a .gguf")] = None,
    out: Annotated[str | None, typer.Option(help="output folder; default <run.out>/ft")] = None,
    engine: Annotated[str | None, typer.Option(help="auto | cpu | qlora | unsloth")] = None,
    max_steps: Annotated[int | None, typer.Option(help="stop after N optimizer steps (overrides epochs)")] = None,
    sets: SetOpt = None,
) -> None:
    """Fine-tune the base model with LoRA on the training set; write adapter, merged model and GGUF."""
    from wizardlite import finetune as stage

    extra: dict[str, Any] = {"finetune.data": data, "finetune.base": base, "finetune.out": out,
                             "finetune.engine": engine, "finetune.max_steps": max_steps}
    stage.run(load(recipe, sets, extra))


@app.command()
@friendly
def average(
    folders: Annotated[list[Path], typer.Argument(help="two or more `wizardlite finetune` output folders of one base")],
    out: Annotated[Path, typer.Option(help="output folder for the averaged model")],
) -> None:
    """Average several LoRA fine-tunes of one base (say, one setting tuned with several seeds) into
    one model: merged/, model.gguf and a Modelfile, as `finetune` writes them."""
    from wizardlite.finetune import average as stage

    stage.average(folders, out, console)


@app.command()
@friendly
def chat(
    model: Annotated[str, typer.Argument(help="a GGUF file, e.g. runs/default/ft/model.gguf, or a model name")],
    prompt: Annotated[str | None, typer.Option(help="send one message, print the reply, exit")] = None,
    system: Annotated[str | None, typer.Option(help="system message")] = None,
    max_tokens: Annotated[int, typer.Option(help="longest reply, in tokens")] = 256,
    temperature: Annotated[float, typer.Option(help="0 = greedy")] = 0.7,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    lora: Annotated[Path | None, typer.Option(help="a GGUF LoRA (a fine-tune's adapter.gguf) applied to MODEL, its base")] = None,
) -> None:
    """Chat with a GGUF model through llama.cpp (a REPL, or one shot with --prompt)."""
    from wizardlite.tools import chat as stage

    stage.run(model, prompt=prompt, system=system, max_tokens=max_tokens, temperature=temperature, seed=seed,
              lora=lora)


# ---------------------------------------------------------------------------- score, compare, judge

JudgeOpt = Annotated[str | None, typer.Option("--judge", help="judge GGUF path, model name or endpoint URL "
                                              "(default: the recipe's judge_model section)")]


@app.command()
@friendly
def score(
    run_dir: Annotated[Path | None, typer.Argument(help="evolve run folder (default: the recipe's run.out)")] = None,
    recipe: RecipeOpt = Path("recipes/default.toml"),
    judge: JudgeOpt = None,
    include_eliminated: Annotated[bool, typer.Option("--include-eliminated", help="rate eliminated ones too")] = False,
    sets: SetOpt = None,
) -> None:
    """Rate the difficulty (1-10) of every seed and kept instruction of an evolve run."""
    from wizardlite import judge as stage

    cfg = load(recipe, sets, {})
    stage.score(cfg, run_dir or Path(cfg.run.out), judge, include_eliminated or cfg.judge.include_eliminated)


@app.command()
@friendly
def compare(
    a: Annotated[str, typer.Option("--a", help="contestant A: GGUF path, model name or endpoint URL")],
    b: Annotated[str | None, typer.Option("--b", help="contestant B (default: finetune.base)")] = None,
    testset: Annotated[str | None, typer.Option(help="JSONL test set (default: judge.testset)")] = None,
    judge: JudgeOpt = None,
    out: Annotated[str | None, typer.Option(help="output folder (default: judge.out or <run.out>/judge)")] = None,
    recipe: RecipeOpt = Path("recipes/default.toml"),
    sets: SetOpt = None,
) -> None:
    """Answer a test set with models A and B; a judge model compares the answers in both orders."""
    from wizardlite import judge as stage

    cfg = load(recipe, sets, {"judge.testset": testset})
    stage.compare(cfg, cfg.judge.testset, a, b or stage.base_gguf(cfg.finetune.base), judge, out)


@app.command("judge")
@friendly
def judge_cmd(
    recipe: RecipeOpt = Path("recipes/default.toml"),
    base: Annotated[str | None, typer.Option(help="the base model to compare against (default: finetune.base)")] = None,
    sets: SetOpt = None,
) -> None:
    """Score the recipe's evolve run; compare its fine-tuned GGUF with the base when one exists."""
    from wizardlite import judge as stage

    stage.run(load(recipe, sets, {}), base)


# ---------------------------------------------------------------------------- eval


@app.command("eval")
@friendly
def eval_cmd(
    data: Annotated[str | None, typer.Option(help="IFEval-format JSONL (key, prompt, instruction_id_list, kwargs)")] = None,
    model: Annotated[str | None, typer.Option(help="model name, GGUF path, run or fine-tune folder, or endpoint URL "
                                              "(default: the recipe's fine-tuned GGUF)")] = None,
    against: Annotated[str | None, typer.Option(help="a second model, compared with --model on the same prompts")] = None,
    out: Annotated[str | None, typer.Option(help="output folder (default: eval.out or <run.out>/eval)")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="longest answer, in tokens")] = None,
    limit: Annotated[int | None, typer.Option(help="use only the first N prompts")] = None,
    recipe: RecipeOpt = Path("recipes/default.toml"),
    sets: SetOpt = None,
) -> None:
    """Verifiable instruction following (IFEval): answer every prompt, check its constraints in code."""
    from wizardlite import eval as stage

    cfg = load(recipe, sets, {"eval.data": data, "eval.out": out, "eval.max_tokens": max_tokens, "eval.limit": limit})
    stage.run(cfg, model, against)


# ---------------------------------------------------------------------------- models, doctor


@app.command()
@friendly
def models() -> None:
    """List the models wizardlite can use without any download."""
    from rich.table import Table

    from wizardlite.models import available, requantized_path

    table = Table(title="models")
    for col in ("name", "kind", "path", "source", "note"):
        table.add_column(col, overflow="fold")  # a path cut to "…" cannot be copied
    for e in available():
        path = str(e.path) if e.path and e.path.exists() else f"[red]missing[/] {e.path or ''}"
        if e.derive and e.path and e.path.exists():
            made = requantized_path(e.path, e.derive)
            path = str(made) if made.exists() else f"{made} (made on first use from {e.path.name})"
        table.add_row(e.name, e.kind, path, e.source, e.note)
    Console().print(table)


@app.command()
@friendly
def doctor() -> None:
    """Report the hardware, the backends that work here, and suggested settings."""
    from wizardlite.tools.doctor import report

    report(Console())


@app.command()
@friendly
def recipes(
    folder: Annotated[Path, typer.Option("--dir", help="the folder of recipes")] = Path("recipes"),
) -> None:
    """List the shipped recipes: what each is for and the command that runs it."""
    from rich.table import Table

    from wizardlite.tools.recipes import shipped

    table = Table(title=f"recipes in {folder}/")
    table.add_column("recipe", no_wrap=True)
    table.add_column("what for")
    table.add_column("run as", overflow="fold")  # a command cut to "…" cannot be copied
    for h in shipped(folder):
        table.add_row(h.path.stem, h.purpose, h.command)
    Console().print(table)


@app.command()
@friendly
def constraints(
    family: Annotated[str | None, typer.Option(help="only this family: length, counting, lexical, position, "
                                               "format, case, punctuation, structure, repetition, ordering")] = None,
    tag: Annotated[str | None, typer.Option(help="only types with this tag: ifeval, own, train, test-only, "
                                            "composed, half-a, half-b")] = None,
    show: Annotated[str | None, typer.Option(help="one type in full: its phrasings and conflicts")] = None,
) -> None:
    """List the verifiable constraint types: family, half, tags and phrasing count."""
    from wizardlite.constraints.listing import describe, render, select, summary

    if show:
        Console().print(describe(show), highlight=False, markup=False)
        return
    types = select(family, tag)
    Console().print(render(types))
    Console().print(summary(types), highlight=False)


# ---------------------------------------------------------------------------- view


@app.command()
@friendly
def view(
    run_dir: Annotated[Path, typer.Argument(help="evolve run folder, e.g. runs/default")],
    port: Annotated[int | None, typer.Option(help="port on 127.0.0.1 (default 8001, or a free one if taken)")] = None,
    no_open: Annotated[bool, typer.Option("--no-open", help="serve without opening a browser")] = False,
    export: Annotated[Path | None, typer.Option(help="write the run as one SQLite file at PATH and exit")] = None,
) -> None:
    """Browse a run's records, lineage trees and scores in the browser (Datasette on 127.0.0.1)."""
    from wizardlite import view as tool

    tool.run(run_dir, port=port, open_browser=not no_open, export_to=export)
