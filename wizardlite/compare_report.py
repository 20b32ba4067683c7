"""What a comparison leaves behind: the counts with intervals, report.md, summary.json, the
bar chart and the closing table.

Run as: wizardlite compare ...   (this module finishes that command)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wizardlite.compare import count_cut, flags
from wizardlite.judge import TestItem, describe, table_md, wilson
from wizardlite.records import ReadReport, atomic_write_text

PLOT = "comparison.png"
BAND_ORDER = ("1-3", "4-6", "7-10")


def tally(group: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Wins, ties and losses of one group, with 95% Wilson intervals on the win rates. The
    rates are over the decided pairs (wins + ties + losses); unparseable pairs are apart."""
    a = sum(r["verdict"] == "a" for r in rows)
    b = sum(r["verdict"] == "b" for r in rows)
    tie = sum(r["verdict"] == "tie" for r in rows)
    n = a + b + tie
    return {"group": group, "n": n, "a": a, "tie": tie, "b": b, "unparseable": len(rows) - n,
            "a_rate": a / n if n else None, "a_ci": list(wilson(a, n)),
            "b_rate": b / n if n else None, "b_ci": list(wilson(b, n)),
            "tie_rate": tie / n if n else None}


def consistency(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How the judge behaves when the order is swapped: flips (the two orders name different
    outcomes) and how often a non-tie verdict picks the answer shown first."""
    both = [r for r in rows if r["flipped"] is not None]
    flipped = sum(bool(r["flipped"]) for r in both)
    positions = [r[f"position_{o}"] for r in rows for o in ("a_first", "b_first")]
    picks = [p for p in positions if p in ("A", "B")]
    return {"both_parsed": len(both), "flipped": flipped, "flip_rate": flipped / len(both) if both else None,
            "agreement": 1 - flipped / len(both) if both else None,
            "positional_picks": len(picks), "first_shown": sum(p == "A" for p in picks),
            "unparseable_replies": sum(p is None for p in positions), "replies": len(positions)}


def summarize(rows: Sequence[dict[str, Any]], items: Sequence[TestItem], answers: dict[str, dict[str, Any]],
              idents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    groups = [tally("overall", rows)]
    for skill in sorted({r["skill"] for r in rows if r["skill"]}):
        groups.append(tally(f"skill: {skill}", [r for r in rows if r["skill"] == skill]))
    bands = {r["band"] for r in rows if r["band"]}
    for b in [*(x for x in BAND_ORDER if x in bands), *sorted(bands - set(BAND_ORDER))]:
        groups.append(tally(f"difficulty {b}", [r for r in rows if r["band"] == b]))
    ids = {it.id for it in items}
    cons = consistency(rows)
    return {"items": len(items), "judged": len(rows), "not_judged": len(items) - len(rows),
            "missing_answers": {s: len(ids - set(answers[s])) for s in ("a", "b")},
            "groups": groups, "consistency": cons, "cut": count_cut(rows),
            "flags": flags(idents) + position_flags(cons), "models": idents}


POSITION_FLIP = 0.5  # above this flip rate (over 10 or more pairs) the verdicts are called positional


def position_flags(c: dict[str, Any]) -> list[str]:
    """A warning when the judge's verdicts follow the order of the answers more than their content."""
    if c["both_parsed"] < 10 or c["flip_rate"] is None or c["flip_rate"] <= POSITION_FLIP:
        return []
    return [f"the verdict flipped with the order in {c['flipped']} of {c['both_parsed']} pairs and "
            f"{c['first_shown']} of {c['positional_picks']} picks went to the answer shown first: this judge follows "
            "position, not content, so the ties above say nothing about A and B; use a stronger judge"]


# ---------------------------------------------------------------------------- outputs


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
             f"- test set: `{testset}`: {s['items']} items, {len(read.skipped)} line(s) skipped",
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gs = [g for g in groups if g["n"]][::-1]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * max(len(gs), 1)))
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
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
