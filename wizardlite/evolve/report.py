"""What the evolve stage shows and leaves behind: the live progress display, report.md, the
funnel plot, summary.json and the closing summary table. The training set is dataset.py's.

Run as: wizardlite evolve --recipe recipes/default.toml   (this module finishes that command)
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from wizardlite.backends import GenResult
from wizardlite.evolve.dataset import training_rows, write_dataset
from wizardlite.io import ReadReport, atomic_write_text, iter_jsonl
from wizardlite.layout import RunLayout
from wizardlite.recipe import Recipe
from wizardlite.records import DUPLICATE, ELIMINATED, KEPT, SEED, Record
from wizardlite.report import bar, pyplot, save_figure, table_md

console = Console(stderr=True)


# ---------------------------------------------------------------------------- progress


class _Display:
    def __init__(self, progress: Progress, task: Any, counts: Counter[str]):
        self.progress, self.task, self.counts = progress, task, counts
        self.tokens = 0
        self.t0 = time.time()

    def on_result(self, _i: int, res: GenResult) -> None:
        self.tokens += res.completion_tokens
        self._refresh()

    def advance(self, rnd: int, new: Sequence[Record]) -> None:
        self.counts.update(r.status for r in new)
        self.progress.update(self.task, advance=len(new), round=rnd)
        self._refresh()

    def _refresh(self) -> None:
        rate = self.tokens / max(time.time() - self.t0, 1e-6)
        c = self.counts
        self.progress.update(self.task, stats=f"kept {c[KEPT]}  elim {c[ELIMINATED]}  dup {c[DUPLICATE]}  {rate:5.1f} tok/s")


@contextmanager
def progress_display(total: int, records: Sequence[Record]) -> Iterator[_Display]:
    done = [r for r in records if r.status != SEED]
    counts: Counter[str] = Counter(r.status for r in done)
    progress = bar("[bold]round {task.fields[round]}", "{task.fields[stats]}", console=console)
    task = progress.add_task("evolve", total=total, completed=len(done), round=1, stats="")
    with progress:
        d = _Display(progress, task, counts)
        d._refresh()
        yield d


# ---------------------------------------------------------------------------- funnel


def funnel(records: Sequence[Record]) -> dict[str, Any]:
    """Counts per round and per operation, and eliminations by reason."""
    per_round: dict[int, Counter[str]] = defaultdict(Counter)
    per_op: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    reasons_by_round: dict[int, Counter[str]] = defaultdict(Counter)
    for r in records:
        if r.status == SEED:
            continue
        per_round[r.round][r.status] += 1
        per_op[r.operation][r.status] += 1
        if r.status == ELIMINATED:
            reasons[r.reason] += 1
            reasons_by_round[r.round][r.reason] += 1
    return {"per_round": dict(sorted(per_round.items())), "per_op": dict(sorted(per_op.items())),
            "reasons": reasons, "reasons_by_round": reasons_by_round}


def plot_funnel(path: Path, f: dict[str, Any]) -> None:
    fig, axes = pyplot().subplots(1, 3, figsize=(15, 4.2))
    colors = {KEPT: "#3a923a", ELIMINATED: "#d0473f", DUPLICATE: "#e69f00"}
    for ax, key, title in ((axes[0], "per_round", "per round"), (axes[1], "per_op", "per operation")):
        groups = list(f[key])
        bottom = [0] * len(groups)
        for status in (KEPT, ELIMINATED, DUPLICATE):
            vals = [f[key][g][status] for g in groups]
            ax.bar([str(g) for g in groups], vals, bottom=bottom, color=colors[status], label=status)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_title(f"evolutions {title}")
        ax.set_ylabel("records")
        ax.set_ylim(0, max(bottom, default=1) * 1.3 or 1)  # headroom for the legend
        ax.legend(fontsize=8, ncol=3, loc="upper center")
    axes[1].tick_params(axis="x", labelrotation=30)
    reasons = f["reasons"].most_common()
    axes[2].barh([r for r, _ in reasons][::-1], [n for _, n in reasons][::-1], color=colors[ELIMINATED])
    axes[2].set_title("eliminated, by rule")
    axes[2].set_xlabel("records")
    fig.tight_layout()
    save_figure(fig, path)


# ---------------------------------------------------------------------------- report


def _rate(c: Counter[str]) -> str:
    n = sum(c.values())
    return f"{100 * c[KEPT] / n:.0f}%" if n else "-"


def report_md(out: Path, recipe: Recipe, records: Sequence[Record], f: dict[str, Any], seed_report: ReadReport,
              train_n: int, timing: dict[str, float]) -> str:
    by_id = {r.id: r for r in records}
    seeds = [r for r in records if r.status == SEED]
    ev = next((r.evolver for r in records if r.evolver), {})
    parts = [f"# Evolve report: {out}", "",
             f"- seeds: {len(seeds)} from `{recipe.seeds.path}` ({len(seed_report.skipped)} lines skipped)",
             f"- evolver: {ev.get('name', '?')} ({ev.get('backend', '?')}, sha256 {str(ev.get('sha256', ''))[:12]})",
             f"- rounds: {recipe.evolve.rounds}; operations: "
             + ", ".join(f"{k}={v:g}" for k, v in recipe.evolve.operations.items()),
             f"- training set: {train_n} records in `data/train.jsonl` and `data/hf/`",
             f"- generation wall time (all sessions): {timing['wall_s']:.0f} s; "
             f"completion tokens: {timing['completion_tokens']}; {timing['tok_s']:.1f} tok/s",
             f"- difficulty scores: `wizardlite score {out}` writes them to `difficulty.md`, beside this report",
             f"- every record, its lineage and the reasons in the browser: `wizardlite view {out}`",
             "", "![funnel](funnel.png)", "", "## Per round", ""]
    rows = [[rnd, sum(c.values()), c[KEPT], c[ELIMINATED], c[DUPLICATE], _rate(c)] for rnd, c in f["per_round"].items()]
    parts += [table_md(["round", "evolved", "kept", "eliminated", "duplicate", "kept %"], rows), ""]
    reasons = sorted(f["reasons"])
    if reasons:
        parts += ["## Eliminated by rule, per round", ""]
        rows = [[rnd] + [f["reasons_by_round"][rnd][x] for x in reasons] for rnd in f["per_round"]]
        parts += [table_md(["round", *reasons], rows), ""]
    parts += ["## Per operation", ""]
    rows = [[op, sum(c.values()), c[KEPT], c[ELIMINATED], c[DUPLICATE], _rate(c)] for op, c in f["per_op"].items()]
    parts += [table_md(["operation", "evolved", "kept", "eliminated", "duplicate", "kept %"], rows), ""]
    parts += verify_section(records)
    kept = [r for r in records if r.status == KEPT]
    if kept:
        parts += ["## Examples", ""]
        for r in sorted(kept, key=lambda r: (-r.round, r.id))[:3]:
            parent = by_id.get(r.parent_id or "")
            parts += [f"**round {r.round}, {r.operation}** (`{r.id}`)", "",
                      "> parent: " + (parent.instruction if parent else "?").replace("\n", "\n> "), ">",
                      "> child: " + r.instruction.replace("\n", "\n> "), ""]
    if seed_report.skipped:
        parts += ["## Skipped seed lines", ""]
        parts += [f"- line {n}: {why}" for n, why in seed_report.skipped[:50]]
        parts += [""]
    return "\n".join(parts)


def repaired(r: Record) -> bool:
    """Whether a record's answer was kept only once repaired (verify.repair)."""
    return any("repaired" in a for a in r.generation.get("attempts", ()))


def verify_section(records: Sequence[Record]) -> list[str]:
    """Per constraint type, how the answers of constrained records fared: kept as written, kept
    once repaired, or `constraint_failed`. Nothing for a run without constraints."""
    tried = [r for r in records if r.constraints and r.generation.get("attempts") and r.status in (KEPT, ELIMINATED)]
    if not tried:
        return []
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    for r in tried:
        outcome = ("repaired" if repaired(r) else "as written") if r.status == KEPT else r.reason
        for tid in r.constraints.get("instruction_id_list", []):
            by_type[tid][outcome] += 1
    cols = ["as written", "repaired", "constraint_failed"]
    rows = [[tid, sum(c.values()), *(c[x] for x in cols)] for tid, c in sorted(by_type.items())]
    return ["## Verified answers, per constraint type", "",
            f"{len(tried)} instructions with checked constraints were answered; a record counts once per type it "
            "carries. *repaired*: no answer passed as written and one passed once put through its constraints' "
            "repairs (`verify.repair`); other outcomes are other rules' eliminations; duplicates are left out.",
            "", table_md(["constraint type", "answered", *cols], rows), ""] + pass_rate_section(tried)


def pass_rates(records: Sequence[Record]) -> dict[str, tuple[int, int]]:
    """Per constraint type, (answers that met it as written, answers checked against it), over
    every attempt of every constrained record, from the verdicts the run recorded."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        ids = r.constraints.get("instruction_id_list", []) if r.constraints else []
        for attempt in r.generation.get("attempts", ()):
            for tid, ok in zip(ids, attempt.get("verdicts", ()), strict=False):
                counts[tid][0] += bool(ok)
                counts[tid][1] += 1
    return {tid: (met, n) for tid, (met, n) in counts.items()}


def pass_rate_section(records: Sequence[Record]) -> list[str]:
    """The types the model meets least first: each type's share of answers that met it."""
    from wizardlite.constraints import TYPES

    rates = pass_rates(records)
    if not rates:
        return []

    def tags(tid: str) -> tuple[str, str]:
        t = TYPES.get(tid)
        return (t.family, "yes" if t.in_ifeval else "no") if t else ("?", "?")

    order = sorted(rates, key=lambda t: (rates[t][0] / rates[t][1], -rates[t][1], t))
    rows = [[tid, *tags(tid), n, met, f"{100 * met / n:.0f}%"] for tid in order for met, n in [rates[tid]]]
    return ["## Answers meeting each constraint type", "",
            "Every answer tried (all `verify.k` attempts), checked as written against each constraint of its "
            "instruction: the types the model meets least come first.", "",
            table_md(["constraint type", "family", "IFEval's", "answers", "met", "met %"], rows), ""]


def _timing(run: RunLayout) -> dict[str, float]:
    rows = list(iter_jsonl(run.runlog)) if run.runlog.exists() else []
    wall = sum(r.get("wall_s", 0.0) for r in rows)
    comp = sum(r.get("completion_tokens", 0) for r in rows)
    return {"wall_s": wall, "completion_tokens": comp, "tok_s": comp / wall if wall else 0.0}


def _summary(records: Sequence[Record], f: dict[str, Any], train_n: int, seed_report: ReadReport, wall_s: float,
             timing: dict[str, float]) -> dict[str, Any]:
    return {"seeds": sum(r.status == SEED for r in records),
            "evolved": sum(r.status != SEED for r in records),
            "kept": sum(r.status == KEPT for r in records),
            "eliminated": sum(r.status == ELIMINATED for r in records),
            "duplicate": sum(r.status == DUPLICATE for r in records),
            "reasons": dict(f["reasons"]), "repaired": sum(r.status == KEPT and repaired(r) for r in records),
            "constraints_met": {t: list(v) for t, v in sorted(pass_rates(records).items())},
            "train_rows": train_n, "seed_lines_skipped": len(seed_report.skipped),
            "wall_s_this_session": round(wall_s, 1), **{k: round(v, 2) for k, v in timing.items()}}


def _print_summary(run: RunLayout, f: dict[str, Any], train_n: int, train_path: Path, seed_report: ReadReport,
                   timing: dict[str, float]) -> None:
    table = Table(title=f"evolve: {run.root}")
    table.add_column("round")
    for col in ("evolved", "kept", "eliminated", "duplicate", "kept %"):
        table.add_column(col, justify="right")
    for rnd, c in f["per_round"].items():
        table.add_row(str(rnd), str(sum(c.values())), str(c[KEPT]), str(c[ELIMINATED]), str(c[DUPLICATE]), _rate(c))
    out = Console()
    out.print(table)
    reasons = ", ".join(f"{k} {v}" for k, v in f["reasons"].most_common()) or "none"
    out.print(f"eliminated by rule: {reasons}")
    if seed_report.skipped:
        out.print(f"[yellow]{len(seed_report.skipped)} seed line(s) skipped; see report.md[/]")
    out.print(f"training set: {train_n} rows -> {train_path} ; report: {run.report} ; "
              f"{timing['tok_s']:.1f} tok/s over {timing['wall_s']:.0f} s of generation")


def ifd_section(records: Sequence[Record], ifd: dict[str, dict[str, Any]], selected: set[str]) -> str:
    """IFD of the kept records per round and per operation, and how many [select] kept."""
    import statistics

    def row(name: Any, group: list[Record]) -> list[Any]:
        vals = [ifd[r.id]["ifd"] for r in group if r.id in ifd and ifd[r.id]["ifd"] == ifd[r.id]["ifd"]]
        q = statistics.quantiles(vals, n=4) if len(vals) >= 2 else [float("nan")] * 3
        return [name, len(group), len(vals), f"{statistics.fmean(vals):.3f}" if vals else "-",
                f"{q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}" if vals else "-", sum(v >= 1 for v in vals),
                sum(r.id in selected for r in group)]

    kept = [r for r in records if r.status == KEPT and r.response.strip()]
    header = ["group", "kept", "scored", "mean IFD", "quartiles", "IFD >= 1", "selected"]
    rounds = [row(f"round {k}", [r for r in kept if r.round == k]) for k in sorted({r.round for r in kept})]
    ops = [row(op, [r for r in kept if r.operation == op]) for op in sorted({r.operation for r in kept})]
    return "\n".join(["## Instruction-following difficulty (IFD)", "",
                      "Loss of the answer given the instruction / loss of the answer alone, by finetune.base "
                      "(`ifd.jsonl`); at or above 1 the instruction does not help predict the answer.", "",
                      table_md(header, rounds + ops + [row("all", kept)]), ""])


def finish(run: RunLayout, recipe: Recipe, records: Sequence[Record], seed_report: ReadReport, wall_s: float,
           ifd: dict[str, dict[str, Any]] | None = None, selected: set[str] | None = None) -> None:
    """Write the training set, the report, the plot and summary.json; print the summary. With
    [select], only the `selected` kept records go into the training set."""
    rows = training_rows(records, recipe, selected)
    files = write_dataset(run, rows, recipe)
    f = funnel(records)
    plot_funnel(run.funnel_plot, f)
    timing = _timing(run)
    report = report_md(run.root, recipe, records, f, seed_report, len(rows), timing)
    if ifd is not None:
        report += "\n" + ifd_section(records, ifd, selected or set())
    atomic_write_text(run.report, report)
    summary = _summary(records, f, len(rows), seed_report, wall_s, timing)
    atomic_write_text(run.summary, json.dumps(summary, indent=2))
    _print_summary(run, f, len(rows), files["messages"], seed_report, timing)
