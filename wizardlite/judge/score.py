"""Difficulty scores: the judge rates each instruction of an evolve run from 1 to 10.

Run as: wizardlite score runs/default --judge models/judge.gguf

The WizardLM paper measures what evolution did by asking a strong model to rate the
difficulty and complexity of each instruction on a 1-10 scale and plotting the ratings per
round. We do the same with a local judge. The reply is held to a number by a GBNF grammar on
backends that enforce one, and parsed with care on those that do not; a reply without a
rating is counted as unparseable, never guessed.

Leaves behind, in the run folder: `scores.jsonl` (the journal: a killed run resumes from it;
one row per rated record id), `difficulty.md` and `difficulty.png`. The evolve stage's files are
only read: the report joins records.jsonl and scores.jsonl when it renders.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from wizardlite.backends import ERROR, GenRequest, GenResult, ModelIdentity, Sampling, identity, user
from wizardlite.errors import DataError
from wizardlite.io import Journal, ReadReport, atomic_write_text
from wizardlite.judge.contestants import Factory, judge_config
from wizardlite.judge.replies import SCORE_GRAMMAR, parse_score
from wizardlite.layout import RunLayout
from wizardlite.recipe import BackendConfig, Recipe
from wizardlite.records import ELIMINATED, KEPT, SEED, Record, derived_seed, read_records
from wizardlite.report import counting_bar, pyplot, save_figure, table_md

SCORE_PROMPT = (
    "How difficult and complex is the following instruction for an AI assistant to carry out well? Rate it "
    "from 1 to 10: 1 is a trivial request anyone could answer at once; 10 needs expert knowledge, several "
    "constraints to satisfy and many steps of reasoning. Reply with the number only.\n\n"
    "### Instruction\n{instruction}\n\n### Difficulty (1-10)"
)


def score_request(rec: Record, recipe: Recipe, sampling: Sampling) -> GenRequest:
    return GenRequest(user(SCORE_PROMPT.format(instruction=rec.instruction)), sampling,
                      seed=derived_seed(recipe.run.seed, "score", rec.id), grammar=SCORE_GRAMMAR, task="score")


def load_scores(run_dir: Path, key: str | None = None) -> dict[str, dict[str, Any]]:
    """The journal's rows by record id (the last row wins), only those of judge `key` when given."""
    path = RunLayout(Path(run_dir)).scores
    rows = Journal(path).read() if path.is_file() else []
    return {r["id"]: r for r in rows if key is None or r.get("judge_key") == key}


def _rate(todo: Sequence[Record], recipe: Recipe, cfg: BackendConfig, key: str, journal: Journal, done: dict[str, Any],
          total: int, factory: Factory) -> dict[str, str]:
    """Ask the judge for every record in `todo`; journal each rating as it arrives. Returns the
    failures (not journaled: a rerun asks again)."""
    failed: dict[str, str] = {}
    sampling = Sampling.from_config(replace(cfg, temperature=recipe.judge.judge_temperature),
                                    max_tokens=recipe.judge.judge_max_tokens)
    gen = factory(cfg)
    try:
        with counting_bar("difficulty", total, total - len(todo)) as advance:
            def on_result(i: int, res: GenResult) -> None:
                advance()
                if res.finish_reason == ERROR:
                    failed[todo[i].id] = res.error
                    return
                row: dict[str, Any] = {"id": todo[i].id, "judge_key": key, "judge": gen.info.as_dict(), "raw": res.text,
                       "difficulty": parse_score(res.text), "finish_reason": res.finish_reason}
                journal.append([row])
                done[todo[i].id] = row

            gen.generate([score_request(r, recipe, sampling) for r in todo], on_result)
    finally:
        gen.close()
    return failed


def score_run(recipe: Recipe, run_dir: Path, judge: str | None, include_eliminated: bool, *, factory: Factory) -> Path:
    run = RunLayout(run_dir)
    if not run.records.is_file():
        raise DataError(f"no {run.records.name} in {run_dir}: run `wizardlite evolve` first, or pass the run folder it wrote")
    read = ReadReport(str(run.records))
    records = read_records(run.records, read)
    wanted = {SEED, KEPT} | ({ELIMINATED} if include_eliminated else set())
    chosen = [r for r in records if r.status in wanted]
    if not chosen:
        raise DataError(f"{run.records} holds no seed or kept records to rate")

    cfg = judge_config(recipe, judge)
    ident = identity(cfg)
    key = ident.key()
    journal = Journal(run.scores)
    done = load_scores(run.root, key)
    todo = [r for r in chosen if r.id not in done]
    failed = _rate(todo, recipe, cfg, key, journal, done, len(chosen), factory) if todo else {}

    for r in chosen:  # joined in memory for the report; records.jsonl belongs to evolve
        row = done.get(r.id)
        r.scores["difficulty"] = row["difficulty"] if row else None
        r.scores["difficulty_raw"] = row["raw"] if row else None
    stats = round_stats(chosen)
    plot_difficulty(run.difficulty_plot, chosen)
    warning = uniform_warning(chosen)
    atomic_write_text(run.difficulty_report, f"# Difficulty: {run.root}\n\n"
                      + difficulty_section(stats, ident, len(failed), include_eliminated, read, warning))
    print_summary(run, stats, len(failed), warning)
    return run.difficulty_plot


# ---------------------------------------------------------------------------- statistics


def round_stats(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Per round, then over all: n, mean and median of the parsed ratings, unparseable replies.
    A record without a journal row (the backend failed) counts in `failed`, not unparseable."""
    by_round: dict[Any, list[Record]] = defaultdict(list)
    for r in records:
        by_round[r.round].append(r)
    rows = []
    for rnd, group in [*sorted(by_round.items()), ("all", list(records))]:
        vals = [r.scores["difficulty"] for r in group if r.scores.get("difficulty") is not None]
        answered = [r for r in group if r.scores.get("difficulty_raw") is not None]
        rows.append({"round": rnd, "n": len(group), "rated": len(vals),
                     "mean": statistics.fmean(vals) if vals else None,
                     "median": statistics.median(vals) if vals else None,
                     "sd": statistics.pstdev(vals) if vals else None,
                     "unparseable": sum(r.scores.get("difficulty") is None for r in answered),
                     "failed": len(group) - len(answered),
                     # a judge-free view of the same question: evolved instructions grow longer
                     "words": statistics.fmean(len(r.instruction.split()) for r in group)})
    return rows


UNIFORM_SHARE = 0.9  # this share of one rating (over 10 or more) gets a warning in the report


def uniform_warning(records: Sequence[Record]) -> str | None:
    """A warning when most ratings are one number: the judge then cannot tell instructions apart."""
    vals = [r.scores["difficulty"] for r in records if r.scores.get("difficulty") is not None]
    if len(vals) < 10:
        return None
    top = statistics.mode(vals)
    share = vals.count(top) / len(vals)
    if share < UNIFORM_SHARE:
        return None
    return (f"{share:.0%} of the {len(vals)} ratings are {top}: this judge does not tell instructions apart, so the "
            "means above say nothing about difficulty. Rate with a stronger judge (`--judge path/to/model.gguf`, "
            "a few billion parameters or more).")


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


COLUMNS = ("round", "n", "mean", "median", "sd", "unparseable", "words")


def _row(s: dict[str, Any]) -> list[str]:
    return [str(s["round"]), str(s["n"]), _fmt(s["mean"]), _fmt(s["median"]), _fmt(s["sd"]), str(s["unparseable"]),
            f"{s['words']:.1f}"]


def difficulty_section(stats: list[dict[str, Any]], ident: ModelIdentity, failed: int, include_eliminated: bool,
                       read: ReadReport, warning: str | None = None) -> str:
    which = "seeds, kept and eliminated" if include_eliminated else "seeds and kept"
    lines = [f"Judge: {ident.describe()}. It rated the difficulty and complexity of each instruction ({which}) "
             "from 1 to 10, replying with the number only (GBNF grammar `" + SCORE_GRAMMAR + "`). Round 0 is the "
             "seeds. Unparseable: replies with no rating in them, left out of the mean and median.", "",
             "![difficulty per round](difficulty.png)", "",
             table_md(list(COLUMNS), [_row(s) for s in stats]), "",
             "sd: standard deviation of the ratings. words: mean length of the instructions in words, a measure "
             "that needs no judge.", ""]
    if warning:
        lines += [f"**Warning:** {warning}", ""]
    if any(s["failed"] for s in stats):
        lines += [f"{stats[-1]['failed']} instruction(s) got no reply (backend errors, {failed} this session): "
                  "run the command again to rate them.", ""]
    if read.skipped:
        lines += [f"{len(read.skipped)} line(s) of records.jsonl could not be read and were left out.", ""]
    return "\n".join(lines)


def plot_difficulty(path: Path, records: Sequence[Record]) -> None:
    """Box plot of the ratings per round, the mean marked with a diamond."""
    by_round: dict[int, list[int]] = defaultdict(list)
    for r in records:
        by_round.setdefault(r.round, [])
        if r.scores.get("difficulty") is not None:
            by_round[r.round].append(r.scores["difficulty"])
    rounds = sorted(k for k, v in by_round.items() if v)
    fig, ax = pyplot().subplots(figsize=(1.6 + 1.1 * max(len(rounds), 1), 4))
    if rounds:
        data = [by_round[k] for k in rounds]
        ax.boxplot(data, positions=range(len(rounds)), widths=0.5)
        ax.plot(range(len(rounds)), [statistics.fmean(d) for d in data], "D", color="tab:red", label="mean")
        ax.set_xticks(range(len(rounds)), [f"{'seeds' if k == 0 else f'round {k}'}\n{len(by_round[k])} rated" for k in rounds])
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no parsed ratings", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(0.5, 10.5)
    ax.set_ylabel("difficulty (judge, 1-10)")
    ax.set_title("Instruction difficulty per round")
    fig.tight_layout()
    save_figure(fig, path)


def print_summary(run: RunLayout, stats: list[dict[str, Any]], failed: int, warning: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"difficulty: {run.root}")
    for col in COLUMNS:
        table.add_column(col, justify="right")
    for s in stats:
        table.add_row(*_row(s))
    Console().print(table)
    if warning:
        Console().print(f"[yellow]{warning}[/]")
    if failed:
        Console().print(f"[yellow]{failed} rating request(s) failed in the backend: run the command again to retry them[/]")
    Console().print(f"plot: {run.difficulty_plot} ; report: {run.difficulty_report}")
