"""What a comparison leaves behind: the counts with intervals, report.md, summary.json, the
bar chart and the closing table.

Run as: wizardlite compare ...   (this module finishes that command)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from wizardlite.backends import CONTEXT, LENGTH, ModelIdentity
from wizardlite.io import ReadReport, atomic_write_text
from wizardlite.judge.judgement import Judgement
from wizardlite.judge.stats import consistency, position_flags, tally
from wizardlite.judge.testset import TestItem
from wizardlite.report import pyplot, save_figure, table_md

PLOT = "comparison.png"
BAND_ORDER = ("1-3", "4-6", "7-10")


def count_cut(rows: Sequence[Judgement]) -> dict[str, int]:
    """Answers cut at max_tokens and judge prompts that did not fit the context."""
    return {"answer_a_cut": sum(r.finish_a == LENGTH for r in rows),
            "answer_b_cut": sum(r.finish_b == LENGTH for r in rows),
            "judge_context": sum(any(f == CONTEXT for f in r.judge_finish.values()) for r in rows)}


def flags(idents: dict[str, ModelIdentity]) -> list[str]:
    """Warnings for the report when one model plays two roles."""
    out = []
    for side in ("a", "b"):
        if idents["judge"].same_weights(idents[side]):
            out.append(f"the judge is the same model as contestant {side.upper()}: it may favour its own answers")
    if idents["a"].same_weights(idents["b"]):
        out.append("A and B are the same model: any difference is sampling noise")
    return out


def summarize(rows: Sequence[Judgement], items: Sequence[TestItem], answers: dict[str, dict[str, Any]],
              idents: dict[str, ModelIdentity]) -> dict[str, Any]:
    """What summary.json holds: tallies overall, per skill and per difficulty band, the judge's
    consistency, cut answers and the warnings."""
    groups = [tally("overall", [r.verdict for r in rows])]
    for skill in sorted({r.skill for r in rows if r.skill}):
        groups.append(tally(f"skill: {skill}", [r.verdict for r in rows if r.skill == skill]))
    bands = {r.band for r in rows if r.band}
    for b in [*(x for x in BAND_ORDER if x in bands), *sorted(bands - set(BAND_ORDER))]:
        groups.append(tally(f"difficulty {b}", [r.verdict for r in rows if r.band == b]))
    ids = {it.id for it in items}
    cons = consistency([r.flipped for r in rows], [p for r in rows for p in (r.position_a_first, r.position_b_first)])
    return {"items": len(items), "judged": len(rows), "not_judged": len(items) - len(rows),
            "missing_answers": {s: len(ids - set(answers[s])) for s in ("a", "b")},
            "groups": [asdict(g) for g in groups], "consistency": asdict(cons), "cut": count_cut(rows),
            "flags": flags(idents) + position_flags(cons), "models": {k: i.as_dict() for k, i in idents.items()}}


# ---------------------------------------------------------------------------- outputs


def describe(ident: dict[str, Any]) -> str:
    return ModelIdentity.from_dict(ident).describe()


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _rate_ci(g: dict[str, Any], side: str) -> str:
    if g[f"{side}_rate"] is None:
        return "-"
    lo, hi = g[f"{side}_ci"]
    return f"{_pct(g[f'{side}_rate'])} [{_pct(lo)}, {_pct(hi)}]"


def report_md(out: Path, s: dict[str, Any], meta: dict[str, Any], read: ReadReport, testset: Path) -> str:
    m, c, cut = s["models"], s["consistency"], s["cut"]
    samp = meta["answer_sampling"]
    parts = [f"# Comparison: {out}", "",
             f"- A: {describe(m['a'])}", f"- B: {describe(m['b'])}", f"- judge: {describe(m['judge'])}",
             f"- test set: `{testset}`: {s['items']} items, {len(read.skipped)} line(s) skipped; "
             f"fields used: {meta.get('testset_fields', '-')}",
             f"- answers: temperature {samp['temperature']}, top_p {samp['top_p']}, top_k {samp['top_k']}, "
             f"repeat_penalty {samp['repeat_penalty']}, max_tokens {samp['max_tokens']}; the same seed for A and B "
             f"on each instruction (derived from run.seed {meta['run_seed']} and the instruction)", ""]
    if s["flags"]:
        parts += [f"> **Warning:** {f}." for f in s["flags"]] + [""]
    parts += ["## How the verdicts are made", "",
              "The judge sees each pair twice: once with A's answer shown first, once with B's answer first. It "
              "replies `A`, `B` or `tie` for the answer shown first or second (GBNF grammar "
              "`root ::= \"A\" | \"B\" | \"tie\"`; free text is parsed when a backend ignores the grammar). "
              "Rule: both orders pick the same model -> a win for it; the orders disagree, or either says tie -> a "
              "tie; either reply without a verdict -> unparseable, left out of the counts.", "",
              "Rates are over the decided pairs (n = A wins + ties + B wins); the brackets are 95% Wilson score "
              "intervals.", "", "## Results", "", f"![wins, ties, losses]({PLOT})", ""]
    rows = [[g["group"], g["n"], g["a"], g["tie"], g["b"], g["unparseable"], _rate_ci(g, "a"), _rate_ci(g, "b")]
            for g in s["groups"]]
    parts += [table_md(["group", "n", "A wins", "ties", "B wins", "unparseable", "A win rate [95% CI]",
                        "B win rate [95% CI]"], rows), ""]
    parts += ["## Judge consistency", "",
              f"- pairs with a verdict in both orders: {c['both_parsed']}; the outcome flipped when the order was "
              f"swapped in {c['flipped']} ({_pct(c['flip_rate'])}); self-agreement {_pct(c['agreement'])}",
              f"- non-tie replies that picked the answer shown first: {c['first_shown']} of {c['positional_picks']}",
              f"- judge replies without a verdict: {c['unparseable_replies']} of {c['replies']}",
              f"- answers cut at max_tokens: A {cut['answer_a_cut']}, B {cut['answer_b_cut']}; judge prompts too "
              f"long for the context: {cut['judge_context']}", ""]
    if s["not_judged"]:
        miss = s["missing_answers"]
        parts += [f"{s['not_judged']} item(s) not judged yet (missing answers: A {miss['a']}, B {miss['b']}; or a "
                  "judge error): run the same command again to finish them.", ""]
    if read.skipped:
        parts += ["## Skipped test set lines", ""] + [f"- line {n}: {why}" for n, why in read.skipped[:50]] + [""]
    parts += ["Every judgement, with both answers and both raw judge replies: `judgements.jsonl`.", ""]
    return "\n".join(parts)


def plot(path: Path, groups: Sequence[dict[str, Any]]) -> None:
    """Stacked horizontal bars per group: A wins, ties, B wins (shares of decided pairs), with
    the Wilson interval of A's win rate."""
    gs = [g for g in groups if g["n"]][::-1]
    fig, ax = pyplot().subplots(figsize=(7, 1.2 + 0.45 * max(len(gs), 1)))
    if gs:
        y = range(len(gs))
        a = [g["a_rate"] for g in gs]
        t = [g["tie_rate"] for g in gs]
        b = [g["b_rate"] for g in gs]
        ax.barh(y, a, color="tab:green", label="A wins")
        ax.barh(y, t, left=a, color="lightgrey", label="tie")
        ax.barh(y, b, left=[x + z for x, z in zip(a, t, strict=True)], color="tab:blue", label="B wins")
        ax.errorbar(a, y, xerr=[[max(0.0, x - g["a_ci"][0]) for x, g in zip(a, gs, strict=True)],
                                [max(0.0, g["a_ci"][1] - x) for x, g in zip(a, gs, strict=True)]],
                    fmt="none", ecolor="black", capsize=3)
        ax.set_yticks(list(y), [f"{g['group']} (n={g['n']})" for g in gs])
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False)
    else:
        ax.text(0.5, 0.5, "no decided pairs", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of decided pairs (bar: 95% Wilson interval of A's win rate)")
    fig.tight_layout()
    save_figure(fig, path)


def write_outputs(out: Path, s: dict[str, Any], meta: dict[str, Any], read: ReadReport, testset: Path) -> Path:
    from rich.console import Console
    from rich.table import Table

    plot(out / PLOT, s["groups"])
    s = {**s, "skipped_lines": [list(x) for x in read.skipped]}
    atomic_write_text(out / "summary.json", json.dumps(s, indent=2, ensure_ascii=False))
    atomic_write_text(out / "report.md", report_md(out, s, meta, read, testset))

    table = Table(title=f"compare: {out}")
    table.add_column("group")
    for col in ("n", "A wins", "ties", "B wins", "unparseable", "A win rate [95% CI]"):
        table.add_column(col, justify="right")
    for g in s["groups"]:
        table.add_row(g["group"], str(g["n"]), str(g["a"]), str(g["tie"]), str(g["b"]), str(g["unparseable"]),
                      _rate_ci(g, "a"))
    con = Console()
    con.print(table)
    c = s["consistency"]
    con.print(f"order swap flipped the outcome in {c['flipped']} of {c['both_parsed']} pairs; "
              f"{c['unparseable_replies']} judge replies without a verdict")
    for f in s["flags"]:
        con.print(f"[yellow]warning: {f}[/]")
    if read.skipped:
        con.print(f"[yellow]{len(read.skipped)} test set line(s) skipped; see report.md[/]")
    con.print(f"report: {out / 'report.md'} ; judgements: {out / 'judgements.jsonl'}")
    return out / "report.md"
