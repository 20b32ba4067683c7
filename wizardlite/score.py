"""Difficulty scores: the judge rates each instruction of an evolve run from 1 to 10.

Run as: wizardlite score runs/default --judge models/judge.gguf

The WizardLM paper measures what evolution did by asking a strong model to rate the
difficulty and complexity of each instruction on a 1-10 scale and plotting the ratings per
round. We do the same with a local judge. The reply is held to a number by a GBNF grammar on
backends that enforce one, and parsed with care on those that do not; a reply without a
rating is counted as unparseable, never guessed.

Leaves behind, in the run folder: `scores.jsonl` (the journal: a killed run resumes from it),
the scores in `records.jsonl` (`scores["difficulty"]`, `scores["difficulty_raw"]`),
`difficulty.png` and a "## Difficulty" section in `report.md`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from wizardlite.backends import ERROR, GenRequest, GenResult, Sampling, user
from wizardlite.config import Recipe
from wizardlite.errors import DataError
from wizardlite.judge import (
    SCORE_GRAMMAR,
    Factory,
    identity,
    judge_config,
    parse_score,
    progress_bar,
    table_md,
)
from wizardlite.records import (
    ELIMINATED,
    KEPT,
    SEED,
    Journal,
    ReadReport,
    Record,
    atomic_write_text,
    derived_seed,
    read_records,
    write_jsonl,
)

RECORDS = "records.jsonl"
JOURNAL = "scores.jsonl"
PLOT = "difficulty.png"
SECTION = "## Difficulty"

SCORE_PROMPT = (
    "How difficult and complex is the following instruction for an AI assistant to carry out well? Rate it "
    "from 1 to 10: 1 is a trivial request anyone could answer at once; 10 needs expert knowledge, several "
    "constraints to satisfy and many steps of reasoning. Reply with the number only.\n\n"
    "### Instruction\n{instruction}\n\n### Difficulty (1-10)"
)


def score_request(rec: Record, recipe: Recipe, sampling: Sampling) -> GenRequest:
    return GenRequest(user(SCORE_PROMPT.format(instruction=rec.instruction)), sampling,
                      seed=derived_seed(recipe.run.seed, "score", rec.id), grammar=SCORE_GRAMMAR, task="score")


def judge_key(ident: dict[str, Any]) -> str:
    """Journal rows are reused only when the same judge wrote them."""
    return ident.get("sha256") or "|".join(str(ident.get(k, "")) for k in ("backend", "model", "endpoints"))


def score_run(recipe: Recipe, run_dir: Path, judge: str | None, include_eliminated: bool, *, factory: Factory) -> Path:
    path = run_dir / RECORDS
    if not path.is_file():
        raise DataError(f"no {RECORDS} in {run_dir}: run `wizardlite evolve` first, or pass the run folder it wrote")
    read = ReadReport(str(path))
    records = read_records(path, read)
    wanted = {SEED, KEPT} | ({ELIMINATED} if include_eliminated else set())
    chosen = [r for r in records if r.status in wanted]
    if not chosen:
        raise DataError(f"{path} holds no seed or kept records to rate")

    cfg = judge_config(recipe, judge)
    ident = identity(cfg)
    key = judge_key(ident)
    journal = Journal(run_dir / JOURNAL)
    done = {row["id"]: row for row in journal.read() if row.get("judge_key") == key}
    todo = [r for r in chosen if r.id not in done]
    failed: dict[str, str] = {}
    if todo:
        sampling = Sampling.from_config(replace(cfg, temperature=recipe.judge.judge_temperature),
                                        max_tokens=recipe.judge.judge_max_tokens)
        gen = factory(cfg)
        try:
            with progress_bar("difficulty", len(chosen), len(chosen) - len(todo)) as advance:
                def on_result(i: int, res: GenResult) -> None:
                    advance()
                    if res.finish_reason == ERROR:  # not journaled: a rerun asks again
                        failed[todo[i].id] = res.error
                        return
                    row = {"id": todo[i].id, "judge_key": key, "judge": gen.info.as_dict(), "raw": res.text,
                           "difficulty": parse_score(res.text), "finish_reason": res.finish_reason}
                    journal.append([row])
                    done[row["id"]] = row

                gen.generate([score_request(r, recipe, sampling) for r in todo], on_result)
        finally:
            gen.close()

    for r in chosen:
        row = done.get(r.id)
        r.scores["difficulty"] = row["difficulty"] if row else None
        r.scores["difficulty_raw"] = row["raw"] if row else None
    write_jsonl(path, (r.to_dict() for r in records))

    stats = round_stats(chosen)
    plot_difficulty(run_dir / PLOT, chosen)
    warning = uniform_warning(chosen)
    update_report(run_dir / "report.md", difficulty_section(stats, ident, len(failed), include_eliminated, read, warning))
    print_summary(run_dir, stats, len(failed), warning)
    return run_dir / PLOT


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


def difficulty_section(stats: list[dict[str, Any]], ident: dict[str, Any], failed: int, include_eliminated: bool,
                       read: ReadReport, warning: str | None = None) -> str:
    from wizardlite.judge import describe

    which = "seeds, kept and eliminated" if include_eliminated else "seeds and kept"
    lines = [SECTION, "",
             f"Judge: {describe(ident)}. It rated the difficulty and complexity of each instruction ({which}) "
             "from 1 to 10, replying with the number only (GBNF grammar `" + SCORE_GRAMMAR + "`). Round 0 is the "
             "seeds. Unparseable: replies with no rating in them, left out of the mean and median.", "",
             f"![difficulty per round]({PLOT})", "",
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


def update_report(path: Path, section: str) -> None:
    """Put `section` into report.md: replace an existing "## Difficulty" section (up to the
    next "## " heading), else append. The rest of the file belongs to the evolve stage."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip() == SECTION), None)
    if start is None:
        new = text.rstrip("\n") + ("\n\n" if text.strip() else "") + section.rstrip("\n") + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        kept_after = lines[end:]
        new = "\n".join(lines[:start] + section.rstrip("\n").splitlines() + ([""] + kept_after if kept_after else [])) + "\n"
    atomic_write_text(path, new)


def plot_difficulty(path: Path, records: Sequence[Record]) -> None:
    """Box plot of the ratings per round, the mean marked with a diamond."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_round: dict[int, list[int]] = defaultdict(list)
    for r in records:
        by_round.setdefault(r.round, [])
        if r.scores.get("difficulty") is not None:
            by_round[r.round].append(r.scores["difficulty"])
    rounds = sorted(k for k, v in by_round.items() if v)
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * max(len(rounds), 1), 4))
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
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_summary(run_dir: Path, stats: list[dict[str, Any]], failed: int, warning: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"difficulty: {run_dir}")
    for col in COLUMNS:
        table.add_column(col, justify="right")
    for s in stats:
        table.add_row(*_row(s))
    Console().print(table)
    if warning:
        Console().print(f"[yellow]{warning}[/]")
    if failed:
        Console().print(f"[yellow]{failed} rating request(s) failed in the backend: run the command again to retry them[/]")
    Console().print(f"plot: {run_dir / PLOT} ; report: {run_dir / 'report.md'}")
