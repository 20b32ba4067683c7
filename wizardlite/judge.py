"""The judge stage: a local model rates instructions and compares two models' answers.

Run as: wizardlite judge --recipe recipes/default.toml   (or: just judge)

Two jobs, one module each, sharing what is here:
  - `score`   (wizardlite/score.py): the judge rates each instruction of an evolve run for
    difficulty and complexity, 1 to 10, the WizardLM paper's way.
  - `compare` (wizardlite/compare.py): two models answer a test set, the judge compares the
    answers in both orders, and we count wins, ties and losses with confidence intervals.
`run` does what `just judge` means: score the recipe's run, then compare the fine-tuned GGUF
with its base when the fine-tune stage has left one.

This module holds the parts both jobs share: which model a command-line spec names, what
identifies a model file, the parsing of judge replies, the statistics and the test set reader.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from wizardlite.backends import Generator, make_generator
from wizardlite.config import BackendConfig, JudgeConfig, Recipe
from wizardlite.errors import ConfigError, DataError
from wizardlite.records import ReadReport, content_hash, iter_jsonl_numbered

Factory = Callable[[BackendConfig], Generator]  # tests pass one that returns scripted fakes

# ---------------------------------------------------------------------------- entry points


def score(recipe: Recipe, run_dir: Path, judge: str | None = None, include_eliminated: bool = False,
          *, factory: Factory = make_generator) -> Path:
    """Rate the instructions of an evolve run; return the path of difficulty.png."""
    from wizardlite.score import score_run

    return score_run(recipe, Path(run_dir), judge, include_eliminated, factory=factory)


def compare(recipe: Recipe, testset: str | Path, a: str, b: str, judge: str | None = None,
            out: str | Path | None = None, *, factory: Factory = make_generator) -> Path:
    """Answer a test set with models a and b, judge the pairs; return the path of report.md."""
    from wizardlite.compare import compare_models

    out = Path(out) if out else default_compare_out(recipe)
    return compare_models(recipe, Path(testset), a, b, judge, out, factory=factory)


def default_compare_out(recipe: Recipe) -> Path:
    return Path(recipe.judge.out) if recipe.judge.out else Path(recipe.run.out) / "judge"


def run(recipe: Recipe, base: str | None = None, *, factory: Factory = make_generator) -> Path:
    """`wizardlite judge`: score the run of the recipe, then compare its fine-tuned GGUF
    (`<finetune.out or run.out/ft>/model.gguf`) against the base when it exists."""
    from rich.console import Console

    run_dir = Path(recipe.run.out)
    out = score(recipe, run_dir, include_eliminated=recipe.judge.include_eliminated, factory=factory)
    tuned = Path(recipe.finetune.out or run_dir / "ft") / "model.gguf"
    if not tuned.is_file():
        Console(stderr=True).print(f"[yellow]no fine-tuned model at {tuned}: only the difficulty scores were made "
                                   "(run `just finetune` first to compare base and tuned)[/]")
        return out
    base = base or base_gguf(recipe.finetune.base)
    return compare(recipe, recipe.judge.testset, str(tuned), base, None, default_compare_out(recipe), factory=factory)


def base_gguf(base: str) -> str:
    """The contestant spec for `finetune.base`: a model name or .gguf passes through; an HF
    folder cannot be served by llama.cpp, unless a GGUF sits inside it."""
    p = Path(base)
    if p.is_dir():
        ggufs = sorted(p.glob("*.gguf"))
        if not ggufs:
            raise ConfigError(f"finetune.base is the HF folder {p}, which llama.cpp cannot load: pass --base PATH.gguf "
                              "(convert it with llama.cpp's convert_hf_to_gguf.py), or a name from `wizardlite models`")
        return str(ggufs[0])
    return base


# ---------------------------------------------------------------------------- models


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def backend_for(spec: str | None, base: BackendConfig) -> BackendConfig:
    """The BackendConfig a command-line model spec names, on top of `base` (the judge's
    settings): an endpoint URL -> http; a GGUF path or model name -> llamacpp. A recipe whose
    judge is the `fake` backend keeps it, so the whole command can run without a model."""
    if not spec:
        return base
    if is_url(spec):
        return replace(base, backend="http", endpoints=(spec.rstrip("/"),))
    if base.backend == "fake":
        return replace(base, model=spec)
    return replace(base, backend="llamacpp", model=spec, endpoints=())


def identity(cfg: BackendConfig) -> dict[str, Any]:
    """What a model is, known before loading it: a local file by resolved path and sha256,
    a served model by its endpoints and id."""
    if cfg.backend == "llamacpp":
        from wizardlite.models import derived_from, model_sha256, resolve

        path = resolve(cfg.model)
        ident = {"backend": "llamacpp", "model": cfg.model, "path": str(path.resolve()), "sha256": model_sha256(path)}
        source = derived_from(cfg.model)
        if source is not None:  # a requantised copy judges like its source: same weights, give or take rounding
            ident["derived_from"] = model_sha256(source)
        return ident
    if cfg.backend == "http":
        return {"backend": "http", "model": cfg.model, "endpoints": sorted(cfg.endpoints)}
    return {"backend": cfg.backend, "model": cfg.model}


def same_model(x: dict[str, Any], y: dict[str, Any]) -> bool:
    """Two identities name the same weights: same file content (or one requantised from the
    other, or both from one file), same path, or the same model served by the same endpoints."""
    roots = [{i.get("sha256"), i.get("derived_from")} - {None, ""} for i in (x, y)]
    if roots[0] & roots[1]:
        return True
    if x.get("path") and x.get("path") == y.get("path"):
        return True
    return x.get("backend") == y.get("backend") != "llamacpp" and x.get("model") == y.get("model") \
        and x.get("endpoints") == y.get("endpoints")


def describe(ident: dict[str, Any]) -> str:
    if ident.get("backend") == "llamacpp":
        return f"{Path(ident['path']).name} (llamacpp, sha256 {ident['sha256'][:12]})"
    if ident.get("backend") == "http":
        return f"{ident['model']} (http, {', '.join(ident['endpoints'])})"
    return f"{ident.get('model')} ({ident.get('backend')})"


def judge_config(recipe: Recipe, spec: str | None) -> BackendConfig:
    return backend_for(spec, recipe.judge_model)


class OneAtATime:
    """Hands out generators with at most one loaded: asking for another model closes the
    current one first (memory); asking for the same model again reuses it (a load, and the
    backend's warm-up, saved when the judge is also a contestant)."""

    def __init__(self, factory: Factory):
        self.factory = factory
        self.key: BackendConfig | None = None
        self.gen: Generator | None = None

    def get(self, cfg: BackendConfig) -> Generator:
        # Sampling settings travel with each request; the rest decides what gets loaded.
        key = replace(cfg, temperature=0.0, top_p=1.0, top_k=0, repeat_penalty=1.0, max_tokens=1)
        if self.gen is None or key != self.key:
            self.close()
            self.gen, self.key = self.factory(cfg), key
        return self.gen

    def close(self) -> None:
        if self.gen is not None:
            self.gen.close()
        self.gen = self.key = None


# ---------------------------------------------------------------------------- parsing replies

SCORE_GRAMMAR = 'root ::= [1-9] | "10"'
VERDICT_GRAMMAR = 'root ::= "A" | "B" | "tie"'

# Echoes of the scale ("on a scale of 1 to 10", "8/10", "out of 10") are cut before looking for
# the rating, so the 1 and the 10 of the scale are never read as the score.
_SCALE = re.compile(r"(?:\bout\s+of\s+10\b|/\s*10\b|\b(?:from\s+)?1\s*(?:-|–|to)\s*10\b)", re.I)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?!\d)")
_WORDS = {w: i for i, w in enumerate("one two three four five six seven eight nine ten".split(), start=1)}


def parse_score(text: str) -> int | None:
    """The rating in a judge reply: the first number from 1 to 10 once scale echoes are cut
    ("8/10" -> 8; "7.5" -> 8, halves round up). A number word counts only when it is nearly
    the whole reply ("Eight."), since "one of the hardest" is not a rating. None when no
    rating is there: we never guess."""
    t = _SCALE.sub(" ", text)
    for m in _NUMBER.finditer(t):
        x = float(m.group())
        if 1 <= x <= 10:
            return int(math.floor(x + 0.5))
    words = re.findall(r"[a-z]+", t.lower())
    if 0 < len(words) <= 3 and words[-1] in _WORDS:
        return _WORDS[words[-1]]
    return None


_BRACKETS = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.I)  # MT-bench style [[A]]; C is its tie
_BETTER = [
    re.compile(r"\b(?:answer|response|assistant)\s+([AB])\b[^.\n]{0,30}?\b(?:is|was)\s+(?:better|superior|preferable|"
               r"preferred|stronger|more)", re.I),
    re.compile(r"\b(?:better|best|winner|verdict|choice|prefer|preferred|choose|pick)\b\W{0,3}(?:\w+\W+){0,3}?"
               r"(?:answer|response|assistant)?\s*\(?([AB])\b"),
]
_TIE = re.compile(r"\b(?:tie|draw|equally\s+(?:good|bad|helpful|poor)|(?:are|is)\s+(?:equal|equivalent|the\s+same))\b",
                  re.I)


def parse_verdict(text: str) -> str | None:
    """The position a judge reply prefers: "A" (shown first), "B" (shown second), "tie", or
    None when the reply names none or names both."""
    t = text.strip()
    if t.startswith("{"):  # a small JSON verdict: {"winner": "A"}
        try:
            obj = json.loads(t)
            if isinstance(obj, dict):
                t = str(next((obj[k] for k in ("winner", "verdict", "better") if k in obj), t))
        except json.JSONDecodeError:
            pass
    core = re.sub(r"[\W_]+", " ", t).strip().lower()
    core = re.sub(r"^(?:answer|response|assistant|verdict)\s+", "", core)
    if core in ("a", "b"):
        return core.upper()
    if core in ("tie", "draw", "equal", "c"):
        return "tie"
    if m := _BRACKETS.search(t):
        v = m.group(1).upper()
        return "tie" if v in ("C", "TIE") else v
    found = {m.group(1).upper() for p in _BETTER for m in p.finditer(t)}
    if len(found) == 1:
        return found.pop()
    if found:
        return None  # it argues for both: no verdict
    if _TIE.search(t):
        return "tie"
    if m := re.match(r"\(?([AB])\)?(?:[\s.,:;!)]|$)", t):  # "A. Because ..." (capital only: "a" is an article)
        return m.group(1)
    return None


# ---------------------------------------------------------------------------- statistics

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n (95% by default); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At k = 0 or k = n the bound is exactly 0 or 1; rounding must not move it past p.
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def band(difficulty: Any) -> str | None:
    """Difficulty band of a test item: 1-3, 4-6, 7-10; a non-numeric label is its own band."""
    if difficulty is None or difficulty == "":
        return None
    try:
        x = float(difficulty)
    except (TypeError, ValueError):
        return str(difficulty)
    return "1-3" if x < 3.5 else "4-6" if x < 6.5 else "7-10"


# ---------------------------------------------------------------------------- test sets


@dataclass(frozen=True)
class TestItem:
    __test__ = False  # not a pytest class

    id: str
    line: int
    instruction: str
    skill: str | None = None
    difficulty: Any = None


def read_testset(path: Path, cfg: JudgeConfig) -> tuple[list[TestItem], ReadReport]:
    """Test items of a JSONL file. Malformed lines and repeated instructions are skipped and
    noted with their line numbers in the report."""
    if not path.is_file():
        raise DataError(f"no test set at {path}: pass --testset PATH (JSONL with an "
                        f"'{cfg.instruction_field}' field per line) or set judge.testset in the recipe")
    report = ReadReport(str(path))
    items: list[TestItem] = []
    seen: dict[str, int] = {}
    for n, obj in iter_jsonl_numbered(path, report):
        text = obj.get(cfg.instruction_field)
        if not isinstance(text, str) or not text.strip():
            report.skip(n, f"no '{cfg.instruction_field}' text")
            continue
        iid = content_hash(text.strip())
        if iid in seen:
            report.skip(n, f"same instruction as line {seen[iid]}")
            continue
        seen[iid] = n
        skill = obj.get(cfg.skill_field)
        items.append(TestItem(iid, n, text.strip(), str(skill) if skill not in (None, "") else None,
                              obj.get(cfg.difficulty_field)))
        if cfg.limit and len(items) >= cfg.limit:
            break
    report.rows = len(items)  # usable test items, not every JSON line
    return items, report


# ---------------------------------------------------------------------------- display


@contextmanager
def progress_bar(description: str, total: int, done: int = 0) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr; yields a function that advances it by one."""
    from rich.console import Console

    from wizardlite.progress import bar

    progress = bar(f"[bold]{description}", console=Console(stderr=True))
    task = progress.add_task(description, total=total, completed=done)
    with progress:
        yield lambda: progress.advance(task)


def table_md(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
