"""The project's Datasette plugin: a record's page shows its lineage (the path from its seed, its
parent, its children, with each instruction's change from its parent highlighted) and a seed's
page its whole tree; ids in query results link to their record's page.

Run as: wizardlite view runs/default   (serve.py registers this module with Datasette)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

from datasette import hookimpl
from datasette.utils import tilde_encode, urlsafe_components
from markupsafe import Markup, escape

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
    parent = await one(rec["parent_id"])
    path: list[dict[str, Any]] = []  # the ancestors, seed first
    node = parent
    while node is not None:
        path.insert(0, _node(node, None, url))
        node = await one(node["parent_id"])
    children = [_node(c, rec, url) for c in await rows("parent_id = ? ORDER BY round, rowid", rid)]
    out: dict[str, Any] = {"record": _node(rec, parent, url), "parent": parent and _node(parent, None, url),
                           "path": path, "children": children, "root_url": url(rec["root_id"]), "tree": None}
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
