"""The eval stage: verifiable instruction following (IFEval), no judge needed.

Run as: wizardlite eval --data ifeval.jsonl --model runs/x/ft/model.gguf --against smollm2-q8_0 --out runs/eval
        (or: just eval)

    data.py       IFEval's JSONL as it is; bad lines and unknown instruction ids skipped by line number
    checkers.py   the registry of IFEval's 25 checkers (if-verifiable), strict and loose verdicts;
                  the project's own constraint ids by the constraint registry's checkers
    generate.py   answers through the batched backend, checked and journaled as they arrive
    stats.py      accuracies with 95% intervals; the paired comparison of two models
    report.py     results.json, report.md, per_type.png and the console table

A model spec is anything wizardlite can name: an embedded model, a GGUF path, an evolve run or
fine-tune folder (its fine-tuned GGUF), or an endpoint URL. The backend settings (n_ctx,
parallel, ...) are the recipe's [evolver]; sampling is [eval]'s (greedy by default).
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from wizardlite import __version__
from wizardlite.backends import identity, make_generator
from wizardlite.backends.spec import backend_for
from wizardlite.errors import ConfigError, DataError
from wizardlite.eval.checkers import known
from wizardlite.eval.data import read_prompts
from wizardlite.eval.generate import Factory, answer, sampling
from wizardlite.eval.report import print_summary, summarize, write_outputs
from wizardlite.io import Journal, atomic_write_text, file_sha256
from wizardlite.layout import EvalLayout, RunLayout
from wizardlite.recipe import Recipe

__all__ = ["default_model", "run"]


def default_model(recipe: Recipe) -> str:
    """The recipe's fine-tuned GGUF: `<run.out>/ft/model.gguf` (or `finetune.out`)."""
    return str(RunLayout(Path(recipe.run.out)).finetune(recipe.finetune.out).gguf)


def check_resume(layout: EvalLayout, meta: dict[str, Any]) -> None:
    """A folder that holds answers of another model in a role, or made with other sampling, is
    not resumed: its journal would mix two experiments. Adding --against later is fine."""
    if not layout.resolved.is_file():
        return
    old = json.loads(layout.resolved.read_text(encoding="utf-8"))
    changed = [f"the {role} model" for role, m in meta["models"].items()
               if role in old.get("models", {}) and old["models"][role] != m]
    changed += [k for k in ("sampling", "run_seed") if old.get(k) != meta[k]]
    if changed:
        raise ConfigError(f"{layout.root} holds an evaluation made with other settings ({', '.join(changed)}): "
                          "pass --out NEW_FOLDER, or delete the folder to start over")


def run(recipe: Recipe, model: str | None = None, against: str | None = None, *,
        factory: Factory = make_generator) -> Path:
    """Answer and check every prompt of `eval.data` with `model` (and `against`); return the
    path of report.md."""
    cfg = recipe.eval
    if not cfg.data:
        raise ConfigError("no evaluation data: pass --data FILE (IFEval's JSONL: key, prompt, instruction_id_list, kwargs)")
    data = Path(cfg.data)
    if not data.is_file():
        raise ConfigError(f"no evaluation data at {data}: pass --data FILE (IFEval's input_data.jsonl)")
    prompts, read = read_prompts(data, known(), cfg.limit)
    if not prompts:
        raise DataError(f"{data} holds no usable prompts ({len(read.skipped)} line(s) skipped, first: "
                        f"{read.skipped[0] if read.skipped else 'empty file'})")
    specs = {"model": model or default_model(recipe)} | ({"against": against} if against else {})
    if not model and not Path(specs["model"]).is_file():
        raise ConfigError(f"no fine-tuned model at {specs['model']}: run `just finetune`, or pass --model")
    cfgs = {role: backend_for(spec, recipe.evolver) for role, spec in specs.items()}
    idents = {role: identity(c) for role, c in cfgs.items()}
    # A model name and its path are one model: load it by path.
    cfgs = {r: replace(c, model=idents[r].path) if idents[r].path else c for r, c in cfgs.items()}
    s = sampling(recipe.evolver, cfg)
    layout = EvalLayout(RunLayout(Path(recipe.run.out)).eval_dir(cfg.out))
    meta = {"version": __version__, "run_seed": recipe.run.seed, "specs": specs,
            "models": {r: i.as_dict() for r, i in idents.items()}, "sampling": asdict(s),
            "data": str(data), "data_sha256": file_sha256(data), "limit": cfg.limit}
    check_resume(layout, meta)
    layout.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(layout.resolved, json.dumps(meta, indent=2, ensure_ascii=False))

    journal, runlog = Journal(layout.responses), Journal(layout.runlog)
    answers = {role: answer(role, cfgs[role], idents[role].key(), prompts, s, recipe.run.seed, journal, runlog,
                            factory) for role in specs}
    keys = {p.key for p in prompts}
    answers = {role: {k: r for k, r in rows.items() if k in keys} for role, rows in answers.items()}
    names = {role: idents[role].describe() for role in specs}
    logs = [r for r in runlog.read() if r["role"] in idents and r["model_key"] == idents[r["role"]].key()]
    results = {"data": str(data), "prompts": len(prompts), "skipped_lines": read.skipped,
               **summarize(answers, names, logs, cfg.bootstrap, recipe.run.seed)}
    for role, spec in specs.items():
        results["models"][role]["spec"] = spec  # what was asked for, as typed
    write_outputs(layout, results, read, cfg.max_tokens, {p.key: p.prompt for p in prompts})
    print_summary(results, layout)
    return layout.report
