"""Answers to the evaluation prompts, journaled as they arrive with their verdicts.

One model at a time answers every prompt it has not answered yet, through the batched
backend, with the model's chat template and the same per-prompt seed for every model. Each
finished answer is checked at once and appended to `responses.jsonl` (fsynced), so a killed
evaluation resumes with only the missing answers. A backend error is not journaled: the next
run asks again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from wizardlite.backends import ERROR, Generator, GenRequest, GenResult, Sampling, user
from wizardlite.eval.checkers import check
from wizardlite.eval.data import EvalPrompt
from wizardlite.io import Journal
from wizardlite.recipe import BackendConfig, EvalConfig
from wizardlite.records import derived_seed
from wizardlite.report import bar

Factory = Callable[[BackendConfig], Generator]  # tests pass one that returns scripted fakes
LOG_EVERY = 20  # answers between runlog lines


def sampling(backend: BackendConfig, cfg: EvalConfig) -> Sampling:
    """Greedy by default: IFEval scores one answer per prompt, so no sampling noise."""
    tuned = replace(backend, temperature=cfg.temperature, repeat_penalty=cfg.repeat_penalty)
    return Sampling.from_config(tuned, max_tokens=cfg.max_tokens)


def request(p: EvalPrompt, s: Sampling, run_seed: int) -> GenRequest:
    return GenRequest(user(p.prompt), s, seed=derived_seed(run_seed, "eval", p.key), task="eval")


def response_row(role: str, model_key: str, p: EvalPrompt, req: GenRequest, res: GenResult) -> dict[str, Any]:
    verdicts = check(p, res.text)
    return {"role": role, "model_key": model_key, "key": p.key, "prompt": p.prompt, "response": res.text,
            "finish": res.finish_reason, "prompt_tokens": res.prompt_tokens, "completion_tokens": res.completion_tokens,
            "seconds": round(res.seconds, 3), "seed": req.seed, "instruction_ids": list(p.instruction_ids),
            "verdicts": [v.as_dict() for v in verdicts],
            "prompt_strict": all(v.strict for v in verdicts), "prompt_loose": all(v.loose for v in verdicts)}


def answer(role: str, cfg: BackendConfig, model_key: str, prompts: Sequence[EvalPrompt], s: Sampling,
           run_seed: int, journal: Journal, runlog: Journal, factory: Factory) -> dict[str, dict[str, Any]]:
    """The journaled answer of `role`'s model to every prompt, key -> row; only missing ones are
    generated. The model is loaded only when something is missing."""
    rows = {r["key"]: r for r in journal.read() if r.get("role") == role and r.get("model_key") == model_key}
    todo = [p for p in prompts if p.key not in rows]
    if not todo:
        return rows
    reqs = [request(p, s, run_seed) for p in todo]
    lock = threading.Lock()  # the http backend reports results from its worker threads
    errors: list[str] = []
    tokens, done = [0], [0]  # completion tokens and answers of this session
    progress = bar(f"[bold]{role}", "{task.fields[tps]} tok/s", "cut {task.fields[cut]}",
                   console=_stderr())
    task = progress.add_task(role, total=len(prompts), completed=len(prompts) - len(todo), tps="-", cut=0)
    started = time.time()

    def log() -> None:
        """This session's totals so far; a killed session keeps its last line (one per session counts)."""
        runlog.append([{"role": role, "model_key": model_key, "session": started, "answered": done[0],
                        "errors": len(errors), "wall_s": round(time.time() - started, 3),
                        "completion_tokens": tokens[0]}])

    def on_result(i: int, res: GenResult) -> None:
        with lock:
            if res.finish_reason == ERROR:
                errors.append(res.error)
            else:
                row = response_row(role, model_key, todo[i], reqs[i], res)
                journal.append([row])
                rows[row["key"]] = row
                tokens[0] += res.completion_tokens
                done[0] += 1
                if done[0] % LOG_EVERY == 0:
                    log()
            cut = sum(r["finish"] == "length" for r in rows.values())
            progress.update(task, advance=1, tps=f"{tokens[0] / max(time.time() - started, 1e-9):.0f}", cut=cut)

    gen = factory(cfg)
    try:
        with progress:
            gen.generate(reqs, on_result=on_result)
    finally:
        gen.close()
        log()
    if errors:
        _stderr().print(f"[yellow]{role}: {len(errors)} request(s) failed ({errors[0]}); run the same command "
                        "again to retry them[/]")
    return rows


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)
