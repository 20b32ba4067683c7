"""`wizardlite constraints`: the registry as a table (family, half, tags, phrasing counts), or
one type in full (its phrasings, its conflicts).

Run as: wizardlite constraints [--family length] [--tag test-only] [--show startend:first_word]
"""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table

from wizardlite.constraints.base import FAMILIES, ConstraintType
from wizardlite.constraints.conflicts import table as conflict_table
from wizardlite.constraints.types import TYPES
from wizardlite.errors import ConfigError

TAGS: dict[str, Callable[[ConstraintType], bool]] = {
    "ifeval": lambda t: t.in_ifeval,
    "own": lambda t: not t.in_ifeval,
    "train": lambda t: not t.test_only,
    "test-only": lambda t: t.test_only,
    "composed": lambda t: bool(t.scope),
    "half-a": lambda t: t.half == "a",
    "half-b": lambda t: t.half == "b",
}


def select(family: str | None = None, tag: str | None = None) -> list[ConstraintType]:
    if family is not None and family not in FAMILIES:
        raise ConfigError(f"no constraint family '{family}': use one of {', '.join(FAMILIES)}")
    if tag is not None and tag not in TAGS:
        raise ConfigError(f"no tag '{tag}': use one of {', '.join(TAGS)}")
    return [t for t in TYPES.values() if (family is None or t.family == family) and (tag is None or TAGS[tag](t))]


def render(types: list[ConstraintType]) -> Table:
    from rich import box

    out = Table(title=f"{len(types)} constraint types", box=box.SIMPLE_HEAD, caption="tags: ifeval = one of IFEval's "
                "ids; test = test-only, never drawn in evolution; a scope = a composition over that part")
    out.add_column("type", no_wrap=True)
    out.add_column("family")
    out.add_column("half", justify="center")
    out.add_column("tags")
    out.add_column("phrasings", justify="right")
    out.add_column("conflicts", justify="right")
    pairs = conflict_table()
    for t in types:
        tags = ", ".join(x for x in ("ifeval" if t.in_ifeval else "", "test" if t.test_only else "", t.scope) if x)
        out.add_row(t.id, t.family, t.half, tags, f"{len(t.phrasings)}+{len(t.says.held_out)}",
                    str(sum(t.id in p for p in pairs)))
    return out


def describe(tid: str) -> str:
    """One type in full: tags, phrasings by style, held-out phrasings and conflicts with reasons."""
    if tid not in TYPES:
        raise ConfigError(f"no constraint type '{tid}': `wizardlite constraints` lists them")
    t = TYPES[tid]
    tags = [t.family, f"half {t.half}"] + (["IFEval's"] if t.in_ifeval else []) + (["test-only"] if t.test_only
                                                                                  else []) + ([t.scope] if t.scope else [])
    lines = [f"{t.id}  ({', '.join(tags)})", ""]
    lines += [f"  {style:>8}: {p}" for style, p in zip(t.says.styles, t.phrasings, strict=True)]
    lines += [f"  held out: {p}" for p in t.says.held_out]
    pairs = sorted((next(iter(p - {tid})), c) for p, c in conflict_table().items() if tid in p)
    lines += ["", f"  conflicts with {len(pairs)} types:"] + [f"    {o} ({c.kind}: {c.why})" for o, c in pairs]
    return "\n".join(lines)


def summary(types: list[ConstraintType]) -> str:
    composed = sum(bool(t.scope) for t in types)
    return (f"{len(types)} types: {len(types) - composed} plain, {composed} compositions; "
            f"{sum(t.in_ifeval for t in types)} of IFEval's ids; {sum(t.test_only for t in types)} test-only; "
            f"half a {sum(t.half == 'a' for t in types)}, half b {sum(t.half == 'b' for t in types)}; "
            f"at least {min((len(t.phrasings) for t in types), default=0)} training phrasings each")
