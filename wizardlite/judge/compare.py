"""Pairwise comparison: two models answer a test set and a judge model picks the better answer.

Run as: wizardlite compare --testset tests.jsonl --a runs/x/ft/model.gguf --b models/base.gguf --judge models/judge.gguf --out runs/cmp

Both contestants answer every instruction with the same sampling settings and the same
per-instruction seed, one model loaded at a time (A, then B, then the judge; a model that plays
two roles in a row stays loaded). The judge sees
each pair twice, once with A's answer first and once with B's answer first, because judges
favour a position; it replies "A", "B" or "tie" for the answer *shown* first or second (a GBNF
grammar holds it to that), and we map positions back to models:
  - both orders pick the same model -> a win for that model;
  - the orders disagree, or either says tie -> a tie;
  - either reply has no verdict in it -> unparseable, left out of the counts and reported.
Win rates carry a 95% Wilson score interval.

Every stage writes a journal (answers_a.jsonl, answers_b.jsonl, judgements.jsonl) as results
arrive, so a killed comparison resumes without redoing finished work.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from wizardlite import __version__
from wizardlite.backends import ERROR, GenRequest, GenResult, Sampling, identity, user
from wizardlite.errors import ConfigError, DataError
from wizardlite.io import Journal, atomic_write_text, file_sha256
from wizardlite.judge.compare_report import summarize, write_outputs
from wizardlite.judge.contestants import Factory, OneAtATime, backend_for, judge_config
from wizardlite.judge.judgement import ORDERS, Judgement, judgement_row
from wizardlite.judge.replies import VERDICT_GRAMMAR
from wizardlite.judge.testset import TestItem, instruction_names, read_testset
from wizardlite.recipe import BackendConfig, Recipe
from wizardlite.records import content_hash, derived_seed
from wizardlite.report import counting_bar

META = "comparison.json"
JUDGEMENTS = "judgements.jsonl"

JUDGE_SYSTEM = "You are a careful, impartial judge of answers written by AI assistants."
JUDGE_PROMPT = (
    "Two assistants answered the same instruction. Decide which answer is better: more helpful, correct, "
    "relevant and clear. Do not let the order in which they are shown, or length alone, sway you. Reply with "
    "one word: A if Answer A is better, B if Answer B is better, tie if they are equally good or equally bad.\n\n"
    "### Instruction\n{instruction}\n\n### Answer A\n{first}\n\n### Answer B\n{second}\n\n### Verdict (A, B or tie)"
)


def compare_models(recipe: Recipe, testset: Path, a: str, b: str, judge: str | None, out: Path, *,
                   factory: Factory) -> Path:
    items, read = read_testset(testset, recipe.judge)
    if not items:
        raise DataError(f"{testset} holds no usable test items ({len(read.skipped)} line(s) skipped): each line needs "
                        f"an instruction field ({', '.join(instruction_names(recipe.judge))}, in any case), or "
                        "pass --set judge.instruction_field=NAME")
    Console(stderr=True).print(f"test set: {testset}: {len(items)} items; fields used: {read.describe()}", highlight=False)
    base = recipe.judge_model
    cfgs = {"a": backend_for(a, base), "b": backend_for(b, base), "judge": judge_config(recipe, judge)}
    idents = {k: identity(c) for k, c in cfgs.items()}
    # A model name and its path are one model: load it by path, so that a role change reuses it.
    cfgs = {k: replace(c, model=idents[k].path) if idents[k].path else c for k, c in cfgs.items()}
    meta = {"version": __version__, "run_seed": recipe.run.seed, "models": {k: i.as_dict() for k, i in idents.items()},
            "answer_sampling": asdict(answer_sampling(recipe)), "judge_sampling": asdict(judge_sampling(recipe)),
            "system_prompt": recipe.output.system_prompt, "judge_prompt": content_hash(JUDGE_SYSTEM, JUDGE_PROMPT),
            "testset": str(testset), "testset_sha256": file_sha256(testset), "testset_fields": read.describe("`")}
    check_resume(out, meta)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / META, json.dumps(meta, indent=2, ensure_ascii=False))

    models = OneAtATime(factory)
    try:
        answers = {side: answer_all(side, cfgs[side], items, recipe, out, models) for side in ("a", "b")}
        rows = judge_all(cfgs["judge"], items, answers, recipe, out, models)
    finally:
        models.close()
    summary = summarize(rows, items, answers, idents)
    return write_outputs(out, summary, meta, read, testset)


def answer_sampling(recipe: Recipe) -> Sampling:
    """One Sampling for both contestants, from the judge section's settings."""
    return Sampling.from_config(recipe.judge_model, max_tokens=recipe.judge.answer_max_tokens)


def judge_sampling(recipe: Recipe) -> Sampling:
    cfg = replace(recipe.judge_model, temperature=recipe.judge.judge_temperature)
    return Sampling.from_config(cfg, max_tokens=recipe.judge.judge_max_tokens)


def check_resume(out: Path, meta: dict[str, Any]) -> None:
    """A folder holding another comparison (other models, sampling, seed or prompts) is not
    resumed: its journals would mix two experiments. A changed test set is fine: work is
    keyed by the instruction's content hash, so only new items are done."""
    path = out / META
    if not path.is_file():
        return
    old = json.loads(path.read_text(encoding="utf-8"))
    keys = ("run_seed", "models", "answer_sampling", "judge_sampling", "system_prompt", "judge_prompt")
    changed = [k for k in keys if old.get(k) != meta.get(k)]
    if changed:
        raise ConfigError(f"{out} holds a comparison made with other settings ({', '.join(changed)}): "
                          "pass --out NEW_FOLDER, or delete the folder to start over")


# ---------------------------------------------------------------------------- answers


def answer_request(item: TestItem, recipe: Recipe) -> GenRequest:
    # The seed depends on the instruction only, so A and B sample with the same seed.
    return GenRequest(user(item.instruction, system=recipe.output.system_prompt), answer_sampling(recipe),
                      seed=derived_seed(recipe.run.seed, "answer", item.id), task="answer")


def answer_all(side: str, cfg: BackendConfig, items: Sequence[TestItem], recipe: Recipe, out: Path,
               models: OneAtATime) -> dict[str, dict[str, Any]]:
    """Answers of one contestant, id -> journal row. Only missing answers are generated;
    a backend error is not journaled, so the next run asks again."""
    journal = Journal(out / f"answers_{side}.jsonl")
    done = {row["id"]: row for row in journal.read()}
    todo = [it for it in items if it.id not in done]
    if not todo:
        return done
    gen = models.get(cfg)
    reqs = [answer_request(it, recipe) for it in todo]
    with counting_bar(f"answers {side.upper()}", len(items), len(items) - len(todo)) as advance:
        def on_result(i: int, res: GenResult) -> None:
            advance()
            if res.finish_reason == ERROR:
                return
            row = {"id": todo[i].id, "answer": res.text, "finish_reason": res.finish_reason, "seed": reqs[i].seed,
                   "completion_tokens": res.completion_tokens, "seconds": round(res.seconds, 3),
                   "model": gen.info.as_dict()}
            journal.append([row])
            done[row["id"]] = row

        gen.generate(reqs, on_result)
    return done


# ---------------------------------------------------------------------------- judging


def judge_request(item: TestItem, first: str, second: str, order: str, recipe: Recipe) -> GenRequest:
    prompt = JUDGE_PROMPT.format(instruction=item.instruction, first=first.strip() or "(empty)",
                                 second=second.strip() or "(empty)")
    return GenRequest(user(prompt, system=JUDGE_SYSTEM), judge_sampling(recipe),
                      seed=derived_seed(recipe.run.seed, "judge", item.id, order), grammar=VERDICT_GRAMMAR, task="judge")


def judge_all(cfg: BackendConfig, items: Sequence[TestItem], answers: dict[str, dict[str, dict[str, Any]]],
              recipe: Recipe, out: Path, models: OneAtATime) -> list[Judgement]:
    """Judge every pair that has both answers and no judgement yet; return the judgements of
    the current test items. A pair is journaled once both of its orders are in."""
    journal = Journal(out / JUDGEMENTS)
    done = {row["id"]: Judgement.from_dict(row) for row in journal.read()}
    ready = [it for it in items if it.id in answers["a"] and it.id in answers["b"]]
    todo = [it for it in ready if it.id not in done]
    if todo:
        reqs: list[GenRequest] = []
        for it in todo:
            a, b = answers["a"][it.id]["answer"], answers["b"][it.id]["answer"]
            reqs += [judge_request(it, a, b, "a_first", recipe), judge_request(it, b, a, "b_first", recipe)]
        pending: dict[int, dict[str, GenResult]] = {}
        gen = models.get(cfg)
        with counting_bar("judging", len(ready), len(ready) - len(todo)) as advance:
            def on_result(i: int, res: GenResult) -> None:
                k, order = divmod(i, 2)
                got = pending.setdefault(k, {})
                got[ORDERS[order]] = res
                if len(got) < 2:
                    return
                del pending[k]
                advance()
                if any(r.finish_reason == ERROR for r in got.values()):
                    return  # not journaled: the next run asks again
                it = todo[k]
                ans = {s: answers[s][it.id] for s in ("a", "b")}
                row = judgement_row(it, ans, got, {"a_first": reqs[2 * k], "b_first": reqs[2 * k + 1]},
                                    gen.info.as_dict())
                journal.append([row.to_dict()])
                done[it.id] = row

            gen.generate(reqs, on_result)
    return [done[it.id] for it in items if it.id in done]
