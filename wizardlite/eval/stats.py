"""Accuracies with 95% intervals, and the paired comparison of two models on the same prompts.

    prompt level       a prompt counts when every one of its instructions is followed; the
                       prompts are independent draws, so a Wilson interval
    instruction level  followed instructions over all instructions; instructions of one prompt
                       share an answer, so the interval resamples prompts (a cluster bootstrap)
    paired             model minus against, in points, on the prompts both answered: a paired
                       bootstrap over prompts (the same resampled prompts for both models), plus
                       McNemar's exact test on the prompt-level flips
    paired_mean        the same for the mean of several models (one setting trained with several
                       seeds) against one; its interval resamples prompts, not the models, so it
                       says nothing of how far another seed might land
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wizardlite.report import wilson

METRICS = ("prompt_strict", "prompt_loose", "inst_strict", "inst_loose")
Verdicts = Mapping[str, Mapping[str, Sequence[bool]]]  # prompt key -> {"strict": [...], "loose": [...]}


def _arrays(verdicts: Verdicts, keys: Sequence[str]) -> dict[str, Any]:
    """Per prompt: followed-all (0/1), followed count, instruction count, strict and loose."""
    import numpy as np

    out: dict[str, Any] = {"n": np.array([len(verdicts[k]["strict"]) for k in keys], dtype=float)}
    for mode in ("strict", "loose"):
        passed = np.array([sum(verdicts[k][mode]) for k in keys], dtype=float)
        out[f"inst_{mode}"] = passed
        out[f"prompt_{mode}"] = (passed == out["n"]).astype(float)
    return out


def _metric(a: dict[str, Any], m: str, idx: Any = None) -> Any:
    """The metric m over prompts (rows of idx, a resample, when given; vectorised over them)."""
    x = a[m] if idx is None else a[m][idx]
    if m.startswith("prompt"):
        return x.mean(axis=-1)
    n = a["n"] if idx is None else a["n"][idx]
    return x.sum(axis=-1) / n.sum(axis=-1)


def _resamples(n: int, b: int, seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed).integers(0, n, size=(b, n))


@dataclass(frozen=True)
class Accuracy:
    value: float
    ci: tuple[float, float]
    followed: int  # prompts or instructions followed
    total: int


def accuracies(verdicts: Verdicts, bootstrap: int = 10000, seed: int = 0) -> dict[str, Accuracy]:
    """The four IFEval accuracies of one model, with 95% intervals."""
    import numpy as np

    keys = sorted(verdicts)
    if not keys:
        return {m: Accuracy(0.0, (0.0, 1.0), 0, 0) for m in METRICS}
    a = _arrays(verdicts, keys)
    idx = _resamples(len(keys), bootstrap, seed)
    out = {}
    for m in METRICS:
        followed, total = int(a[m].sum()), len(keys) if m.startswith("prompt") else int(a["n"].sum())
        if m.startswith("prompt"):
            ci = wilson(followed, total)
        else:
            lo, hi = np.percentile(_metric(a, m, idx), [2.5, 97.5])
            ci = (float(lo), float(hi))
        out[m] = Accuracy(followed / total, ci, followed, total)
    return out


def per_type(verdicts: Verdicts, ids: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Any]]:
    """Instruction-level accuracy per instruction type: {type: {"n", "strict", "loose"}}.
    `ids`: prompt key -> its instruction ids, in order."""
    tally: dict[str, list[int]] = {}
    for key, v in verdicts.items():
        for iid, s, lo in zip(ids[key], v["strict"], v["loose"], strict=True):
            t = tally.setdefault(iid, [0, 0, 0])
            t[0], t[1], t[2] = t[0] + 1, t[1] + int(s), t[2] + int(lo)
    return {iid: {"n": n, "strict": s / n, "loose": lo / n} for iid, (n, s, lo) in sorted(tally.items())}


@dataclass(frozen=True)
class PairedMetric:
    difference_points: float  # model minus against, in percentage points
    ci95: tuple[float, float]
    model_only: list[str]  # prompt keys followed by the model and not by `against` (prompt level)
    against_only: list[str]
    mcnemar_p: float | None  # prompt level only

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"difference_points": self.difference_points, "ci95": list(self.ci95)}
        if self.mcnemar_p is not None:
            d |= {"model_only": len(self.model_only), "against_only": len(self.against_only),
                  "mcnemar_p": self.mcnemar_p}
        return d


def mcnemar_p(b: int, c: int) -> float:
    """Exact (binomial) McNemar test: two-sided p of b against c discordant pairs."""
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(b, b + c, 0.5).pvalue)


def paired(model: Verdicts, against: Verdicts, bootstrap: int = 10000, seed: int = 0,
           metrics: Sequence[str] = METRICS) -> dict[str, PairedMetric]:
    """The paired comparison on the prompts both models answered, for each of `metrics` (the same
    resamples for all, so asking for fewer changes none of the figures)."""
    import numpy as np

    keys = sorted(set(model) & set(against))
    if not keys:
        return {}
    a, b = _arrays(model, keys), _arrays(against, keys)
    idx = _resamples(len(keys), bootstrap, seed)
    out = {}
    for m in metrics:
        diff = 100 * (_metric(a, m) - _metric(b, m))
        lo, hi = np.percentile(100 * (_metric(a, m, idx) - _metric(b, m, idx)), [2.5, 97.5])
        only_a, only_b, p = [], [], None
        if m.startswith("prompt"):
            only_a = [k for k, x, y in zip(keys, a[m], b[m], strict=True) if x > y]
            only_b = [k for k, x, y in zip(keys, a[m], b[m], strict=True) if y > x]
            p = mcnemar_p(len(only_a), len(only_b))
        out[m] = PairedMetric(float(diff), (float(lo), float(hi)), only_a, only_b, p)
    return out


@dataclass(frozen=True)
class PairedMean:
    difference_points: float  # mean over the models of (model minus against), in points
    ci95: tuple[float, float]  # paired bootstrap over prompts; the models are held fixed
    each: tuple[float, ...]  # each model's own difference, in the order given
    prompts: int  # prompts every model and `against` answered


def paired_mean(models: Sequence[Verdicts], against: Verdicts, metric: str = "prompt_loose",
                bootstrap: int = 10000, seed: int = 0) -> PairedMean | None:
    """`metric` of several models, averaged, minus `against`'s, on the prompts all of them answered."""
    import numpy as np

    keys = sorted(set(against).intersection(*models))
    if not models or not keys:
        return None
    b = _arrays(against, keys)
    arrays = [_arrays(m, keys) for m in models]
    idx = _resamples(len(keys), bootstrap, seed)
    each = [100 * float(_metric(a, metric) - _metric(b, metric)) for a in arrays]
    resampled = np.mean([_metric(a, metric, idx) for a in arrays], axis=0) - _metric(b, metric, idx)
    lo, hi = np.percentile(100 * resampled, [2.5, 97.5])
    return PairedMean(sum(each) / len(each), (float(lo), float(hi)), tuple(each), len(keys))
