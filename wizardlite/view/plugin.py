"""The project's Datasette plugin: a record's page shows its lineage (the path from its seed, its
parent, its children, with each instruction's change from its parent highlighted), a seed's page
its whole tree, and a constrained record's verification (each constraint's verdict on each
answer tried, which answer was kept, and whether code repaired it); ids in query results link to
their record's page.

Run as: wizardlite view runs/default   (serve.py registers this module with Datasette)
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from typing import Any

from datasette import hookimpl
from datasette.utils import tilde_encode, urlsafe_components
from markupsafe import Markup, escape

from wizardlite.backends.base import STOP
from wizardlite.view.queries import ID_COLUMNS

TREE_LIMIT = 400  # nodes drawn on a seed's page; the lineage query lists them all
_TOKENS = re.compile(r"\w+|\s+|[^\w\s]")  # words, spaces, and each punctuation mark on its own
_RECORD_ID = re.compile(r"[0-9a-f]{16}")


def word_diff(old: str, new: str) -> Markup:
    """`new` as HTML, with the words that `old` did not have in <ins> and those it lost in <del>."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    # (changed?, old text, new text); a lone space between two changes joins them, so a
    # rewritten phrase reads as one deletion and one insertion rather than word by word
    segs = [(op != "equal", "".join(a[i1:i2]), "".join(b[j1:j2]))
            for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()]
    merged: list[list[Any]] = []
    for i, (changed, was, now) in enumerate(segs):
        between = 0 < i < len(segs) - 1 and not now.strip() and segs[i - 1][0] and segs[i + 1][0]
        if (changed or between) and merged and merged[-1][0]:
            merged[-1][1] += was
            merged[-1][2] += now
        else:
            merged.append([changed or between, was, now])
    parts = []
    for changed, was, now in merged:
        if not changed:
            parts.append(escape(now))
            continue
        if was:
            parts.append(Markup("<del>{}</del>").format(was))
        if now:
            parts.append(Markup("<ins>{}</ins>").format(now))
    return Markup("").join(parts)


def _as_dict(value: Any) -> dict[str, Any]:
    """A record's dict field as the export stores it (JSON text), or {} when empty or unreadable."""
    try:
        got = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return {}
    return got if isinstance(got, dict) else {}


def _padded(items: Any, n: int, fill: Any) -> list[Any]:
    items = list(items) if isinstance(items, list) else []
    return (items + [fill] * n)[:n]


def _answer(n: int, a: dict[str, Any], checks: list[dict[str, Any]]) -> dict[str, Any]:
    """One answer tried: its verdicts (one per constraint; None where none was recorded) as
    written and, for the answer that was repaired, after the repair."""
    verdicts = _padded(a.get("verdicts"), len(checks), None)
    repaired = isinstance(a.get("repaired"), str)
    fixed = _padded(a.get("repaired_verdicts"), len(checks), None) if repaired else [None] * len(checks)
    cut = a.get("finish") != STOP
    return {"n": n, "text": str(a.get("text", "")), "finish": a.get("finish"), "cut": cut, "repaired": repaired,
            "passed": not cut and all(v is True for v in verdicts),
            "failing": [c["label"] for c, ok in zip(checks, verdicts, strict=True) if ok is False],
            "cells": [{"ok": v, "repaired_ok": f} for v, f in zip(verdicts, fixed, strict=True)],
            "repair_diff": word_diff(str(a.get("text", "")), a["repaired"]) if repaired else None}


def _why(a: dict[str, Any], kept: dict[str, Any] | None) -> str:
    if a is kept:
        return "kept once code repaired its format" if a["repaired"] else "kept: it passed every checker"
    if a["failing"]:
        return "failed " + "; ".join(a["failing"]) + (", and was cut off at the token limit" if a["cut"] else "")
    if a["cut"]:
        return "passed, but was cut off at the token limit: a kept answer must end by itself"
    return "passed; an earlier answer was kept"


def verification(constraints: Any, generation: Any) -> dict[str, Any] | None:
    """What verified evolution decided about a record (wizardlite/evolve/verify.py writes it):
    each constraint with the words that asked for it, every answer tried with each constraint's
    verdict, the answer kept (repaired or not), and why each other one was not. None for a
    record without constraints."""
    cons, gen = _as_dict(constraints), _as_dict(generation)
    ids = [str(i) for i in cons.get("instruction_id_list") or []]
    if not ids:
        return None
    checks = []
    for tid, kw, asked in zip(ids, _padded(cons.get("kwargs"), len(ids), {}),
                              _padded(cons.get("phrases"), len(ids), ""), strict=True):
        args = ", ".join(f"{k}={v!r}" for k, v in (kw or {}).items() if v is not None)
        checks.append({"id": tid, "asked": asked, "args": args, "label": f"{tid} ({args})" if args else tid})
    answers = [_answer(n, a, checks) for n, a in enumerate(gen.get("attempts") or [], start=1) if isinstance(a, dict)]
    # the answer the record carries: the repaired one if any, else the first that passed as written
    kept = next((a for a in answers if a["repaired"]), None) or next((a for a in answers if a["passed"]), None)
    for a in answers:
        a["kept"], a["why"] = a is kept, _why(a, kept)
    for j, c in enumerate(checks):
        c["cells"] = [a["cells"][j] for a in answers]
    if not answers:
        outcome = "no answer was checked: the evolution or its answer failed first"
    elif kept is None:
        outcome = f"none of the {len(answers)} answers passed every checker"
    elif kept["repaired"]:
        outcome = f"no answer passed as written; answer {kept['n']} passes once code repaired its format"
    else:
        outcome = f"answer {kept['n']} of {len(answers)} passed every checker as written"
    return {"constraints": checks, "answers": answers, "outcome": outcome, "repaired": bool(kept and kept["repaired"])}


def _node(row: dict[str, Any], parent: dict[str, Any] | None, url: Callable[[str], str]) -> dict[str, Any]:
    return {**row, "url": url(row["id"]), "duplicate_url": url(row["duplicate_of"]) if row["duplicate_of"] else None,
            "children": [],
            "diff": word_diff(parent["instruction"], row["instruction"]) if parent else escape(row["instruction"])}


async def lineage(db: Any, database: str, rid: str, datasette: Any) -> dict[str, Any] | None:
    """What a record's page shows besides its fields."""
    cols = "id, parent_id, root_id, round, depth, operation, status, reason, duplicate_of, instruction, response"

    async def rows(where: str, *args: Any) -> list[dict[str, Any]]:
        res = await db.execute(f"SELECT {cols} FROM records WHERE {where}", args)
        return [dict(r) for r in res.rows]

    def url(i: str) -> str:
        return str(datasette.urls.row(database, "records", tilde_encode(i)))

    async def one(i: str | None) -> dict[str, Any] | None:
        found = await rows("id = ?", i) if i else []
        return found[0] if found else None

    rec = await one(rid)
    if rec is None:
        return None
    checked = (await db.execute("SELECT constraints, generation FROM records WHERE id = ?", [rid])).rows[0]
    parent = await one(rec["parent_id"])
    path: list[dict[str, Any]] = []  # the ancestors, seed first
    node = parent
    while node is not None:
        path.insert(0, _node(node, None, url))
        node = await one(node["parent_id"])
    children = [_node(c, rec, url) for c in await rows("parent_id = ? ORDER BY round, rowid", rid)]
    out: dict[str, Any] = {"record": _node(rec, parent, url), "parent": parent and _node(parent, None, url),
                           "path": path, "children": children, "root_url": url(rec["root_id"]), "tree": None,
                           "verification": verification(checked[0], checked[1])}
    if rec["parent_id"] is None:
        members = await rows(f"root_id = ? ORDER BY round, rowid LIMIT {TREE_LIMIT + 1}", rid)
        by_id: dict[str, dict[str, Any]] = {}
        for m in members[:TREE_LIMIT]:
            up = by_id.get(m["parent_id"] or "")
            by_id[m["id"]] = n = _node(m, up, url)
            if up is not None:
                up["children"].append(n)
        size = (await db.execute("SELECT count(*) FROM records WHERE root_id = ?", [rid])).rows[0][0]
        out["tree"] = {"root": by_id.get(rid), "size": size, "drawn": min(size, TREE_LIMIT),
                       "query": f"{datasette.urls.query(database, 'lineage')}?id={rid}"}
    return out


@hookimpl
def extra_template_vars(template: str, database: str | None, table: str | None, view_name: str, request: Any,
                        datasette: Any) -> Any:
    if view_name != "row" or table != "records" or request is None or database is None:
        return {}

    async def inner() -> dict[str, Any]:
        (rid,) = urlsafe_components(request.url_vars["pks"])
        return {"wizardlite": await lineage(datasette.get_database(database), database, rid, datasette)}

    return inner


@hookimpl
def render_cell(value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    """In query results (tables link their keys already) a record id links to its page."""
    if table is None and column in ID_COLUMNS and isinstance(value, str) and _RECORD_ID.fullmatch(value):
        return Markup('<a href="{}">{}</a>').format(datasette.urls.row(database, "records", value), value)
    return None
