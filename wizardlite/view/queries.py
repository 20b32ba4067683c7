"""The SQL the view offers (canned queries, a record's whole lineage) and the Datasette metadata
that turns the export into a browsable run: facets, search, titles.

Run as: wizardlite view runs/default   (then "Queries" on the database page)
"""

from __future__ import annotations

from typing import Any

# The whole tree of a record's seed, found by following parent links down from the seed
# (root_id only says where to start), each row with its level below the seed.
LINEAGE = """
WITH RECURSIVE tree(id, level) AS (
  SELECT root_id, 0 FROM records WHERE id = :id
  UNION ALL
  SELECT r.id, tree.level + 1 FROM records r JOIN tree ON r.parent_id = tree.id
)
SELECT r.id, r.parent_id, tree.level, r.round, r.operation, r.status, r.reason, r.instruction
FROM tree JOIN records r ON r.id = tree.id
ORDER BY r.round, r.rowid
"""

KEPT_PER_OPERATION_AND_ROUND = """
SELECT operation, round, count(*) AS evolved, sum(status = 'kept') AS kept,
       sum(status = 'eliminated') AS eliminated, sum(status = 'duplicate') AS duplicate,
       round(100.0 * sum(status = 'kept') / count(*), 1) AS kept_pct
FROM records
WHERE status != 'seed'
GROUP BY operation, round
ORDER BY operation, round
"""

# Each reason with its count and three examples beside the parent they were evolved from.
ELIMINATED_BY_REASON = """
WITH reasons AS (
  SELECT status, reason, count(*) AS n FROM records WHERE status IN ('eliminated', 'duplicate') GROUP BY status, reason
)
SELECT r.reason, r.status, r.n AS records, e.id, e.round, e.operation, p.instruction AS parent_instruction,
       e.instruction, e.response
FROM reasons r
JOIN records e ON e.rowid IN (SELECT rowid FROM records x WHERE x.status = r.status AND x.reason = r.reason
                              ORDER BY rowid LIMIT 3)
LEFT JOIN records p ON p.id = e.parent_id
ORDER BY r.n DESC, r.reason, e.rowid
"""

# Seeds by how many kept evolutions their lineage chains, with the latest kept descendant. The
# counting reads indexes only; the texts are fetched for the 200 seeds shown.
MOST_EVOLVED_LINEAGES = """
WITH kept AS (
  SELECT root_id, max(depth) AS kept_evolutions, count(*) AS kept FROM records WHERE status = 'kept' GROUP BY root_id
), tried AS (
  SELECT root_id, count(*) - 1 AS attempts FROM records GROUP BY root_id
), top AS (
  SELECT t.root_id, coalesce(k.kept_evolutions, 0) AS kept_evolutions, coalesce(k.kept, 0) AS kept, t.attempts
  FROM tried t LEFT JOIN kept k ON k.root_id = t.root_id
  ORDER BY kept_evolutions DESC, kept DESC, t.root_id
  LIMIT 200
)
SELECT top.root_id, top.kept_evolutions, top.kept, top.attempts, s.instruction AS seed_instruction,
       l.id, l.instruction AS latest_kept_instruction
FROM top JOIN records s ON s.id = top.root_id
LEFT JOIN records l ON l.rowid = (SELECT x.rowid FROM records x WHERE x.status = 'kept' AND x.root_id = top.root_id
                                  ORDER BY x.depth DESC, x.round DESC LIMIT 1)
ORDER BY top.kept_evolutions DESC, top.kept DESC, top.root_id
"""

# Per constraint type: every answer tried against it (all attempts) and how many met it as
# written, from the verdicts the run recorded; the types the model meets least first.
CONSTRAINTS_MET = """
SELECT t.value AS constraint_type, ct.family, ct.in_ifeval, count(*) AS answers,
       sum(json_extract(a.value, '$.verdicts[' || t.key || ']')) AS met,
       round(100.0 * sum(json_extract(a.value, '$.verdicts[' || t.key || ']')) / count(*), 1) AS met_pct
FROM records r, json_each(r.constraints, '$.instruction_id_list') t, json_each(r.generation, '$.attempts') a
LEFT JOIN constraint_types ct ON ct.id = t.value
WHERE r.constraint_types IS NOT NULL
GROUP BY t.value
ORDER BY met_pct, answers DESC, t.value
"""

CANNED = {
    "kept_per_operation_and_round": ("Kept per operation and round", KEPT_PER_OPERATION_AND_ROUND,
                                     "How many evolutions each operation made per round, and how many survived."),
    "eliminated_by_reason": ("Eliminated by reason, with examples", ELIMINATED_BY_REASON,
                             "Each elimination rule (and duplicates) with its count and three examples beside their parent."),
    "most_evolved_lineages": ("The most-evolved lineages", MOST_EVOLVED_LINEAGES,
                              "Seeds whose lineage kept the most evolutions in a row, with the latest kept descendant."),
    "constraints_met": ("Answers meeting each constraint type", CONSTRAINTS_MET,
                        "Every answer tried against each constraint type, and the share that met it as written."),
    "lineage": ("Lineage of a record", LINEAGE, "The whole tree of the seed of record :id, level by level."),
}

FACETS: list[str | dict[str, str]] = ["round", "operation", "status", "reason", {"array": "constraint_types"}]
# Columns whose values are record ids: query results link them to the record's page.
ID_COLUMNS = frozenset({"id", "parent_id", "root_id", "duplicate_of", "record_id"})


def metadata(db_name: str, run_name: str) -> dict[str, Any]:
    """Datasette metadata for the export `db_name` of the run folder `run_name`."""
    links = " · ".join(f'<a href="/{db_name}/{name}">{title.lower()}</a>' for name, (title, _, _) in CANNED.items()
                       if name != "lineage")
    return {
        "title": f"wizardlite: {run_name}",
        "description_html": f"The records of the evolve run <code>{run_name}</code>: open one to see its parent, "
                            f"its children and its seed's whole tree. Queries: {links}.",
        "databases": {db_name: {
            "tables": {
                "records": {
                    "description_html": "Every record, kept or not. Search searches instructions and responses; "
                                        f"open an id for its lineage. Queries: {links}.",
                    "facets": FACETS,
                    "fts_table": "records_fts",
                    "fts_pk": "rowid",
                    "size": 50,
                },
                "scores": {"description": "The judge's difficulty ratings (1-10) from scores.jsonl."},
                "constraint_types": {"description": "The constraint registry's types with their tags; filter "
                                                    "records by one with ?constraint_types__arraycontains=ID."},
                "eval_responses": {"description": "Each answer of `wizardlite eval` with its verdicts per instruction."},
                "eval_results": {"description": "The figures of `wizardlite eval` (results.json), one per row."},
                "records_fts": {"hidden": True},
                "wizardlite_export": {"hidden": True},
                "wizardlite_run": {"hidden": True},
            },
            "queries": {name: {"title": title, "sql": sql.strip(), "description": about}
                        for name, (title, sql, about) in CANNED.items()},
        }},
    }
