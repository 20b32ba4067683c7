"""Seed instructions in, seed `Record`s out.

Reads JSONL, JSON, CSV/TSV, parquet or a `datasets.save_to_disk` folder, and finds the
instruction in each row: explicit field names from the recipe, or the common layouts
(Alpaca, ShareGPT, chat messages, prompt/question, Self-Instruct's `instances`). A row we
cannot use is skipped with its line number and the reason, never a crash.

Run as: python -m wizardlite.evolve.seeds recipes/seeds/general.jsonl
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

from wizardlite.backends import GenRequest, user
from wizardlite.errors import DataError
from wizardlite.evolve.operations import build_prompt
from wizardlite.io import ROW_FORMATS, ReadReport, Row, detect_format, read_rows
from wizardlite.recipe import Recipe, SeedsConfig
from wizardlite.records import SEED, Record, record_id

# Source fields worth carrying into Record.meta (scalars only).
_META_FIELDS = ("name", "skill", "category", "task", "difficulty", "is_classification")
_USER_ROLES = ("human", "user")
_ASSISTANT_ROLES = ("gpt", "assistant", "model", "bot")

Fields = tuple[str, str, str, dict[str, Any]]  # instruction, input, output, extra meta


# ---------------------------------------------------------------------------- reading rows


def _detect_format(path: Path) -> str:
    fmt = detect_format(path)
    if fmt is None and path.is_dir():
        raise DataError(f"{path} is a folder but not a `datasets` save_to_disk folder: point --seeds at a file")
    if fmt is None:
        raise DataError(f"cannot tell the format of {path}: set seeds.format to one of {', '.join(ROW_FORMATS)}")
    return fmt


# ---------------------------------------------------------------------------- field mapping


class _Skip(Exception):
    """A row that holds no usable seed; the message is the reason shown to the user."""


def _text(row: Row, key: str, required: bool = False) -> str:
    """A text field. Missing or null is "" (CSV and parquet write empty cells as null);
    anything else that is not a string is a reason to skip the row."""
    value = _get(row, key)
    if value is None:
        if required:
            raise _Skip(f"no field '{key}'")
        return ""
    if not isinstance(value, str):
        raise _Skip(f"field '{key}' is not text ({type(value).__name__})")
    return value


def _get(row: Row, key: str) -> Any:
    """row[key], where a dotted key walks into nested objects and lists: `instances.0.output`."""
    if key in row:
        return row[key]
    node: Any = row
    for part in key.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _first(row: Row, keys: tuple[str, ...]) -> str:
    for k in keys:
        if _get(row, k) is not None:
            return _text(row, k)
    return ""


def _turns(turns: Any, role_key: str, text_key: str, field: str) -> Fields:
    """First user turn and the first assistant turn after it; a system turn goes to meta."""
    if not isinstance(turns, list):
        raise _Skip(f"field '{field}' is not a list")
    instruction = output = None
    meta: dict[str, Any] = {}
    for t in turns:
        if not isinstance(t, dict):
            raise _Skip(f"'{field}' holds a {type(t).__name__}, not an object")
        role, text = str(t.get(role_key, "")).lower(), t.get(text_key)
        if not isinstance(text, str):
            raise _Skip(f"a '{field}' turn has no text in '{text_key}'")
        if role == "system" and "system" not in meta:
            meta["system"] = text
        elif role in _USER_ROLES and instruction is None:
            instruction = text
        elif role in _ASSISTANT_ROLES and instruction is not None and output is None:
            output = text
    if instruction is None:
        raise _Skip(f"no user turn in '{field}'")
    return instruction, "", output or "", meta


def _detect(row: Row) -> Fields:
    """Find the instruction, input and reference output in a row of a known layout."""
    if "conversations" in row:  # ShareGPT
        return _turns(row["conversations"], "from", "value", "conversations")
    if "messages" in row:  # OpenAI-style chat
        return _turns(row["messages"], "role", "content", "messages")
    for key, inputs, outputs in (
        ("instruction", ("input", "context"), ("output", "response", "answer")),  # Alpaca, Dolly
        ("prompt", (), ("completion", "response", "output", "answer")),
        ("question", ("context",), ("answer", "output", "response")),
    ):
        if key not in row:
            continue
        instruction = _text(row, key)
        instances = row.get("instances")
        if isinstance(instances, list) and instances and isinstance(instances[0], dict):  # Self-Instruct
            return instruction, _text(instances[0], "input"), _text(instances[0], "output"), {}
        return instruction, _first(row, inputs), _first(row, outputs), {}
    raise _Skip(f"no instruction field (fields: {', '.join(map(str, row)) or 'none'})")


def _fields(row: Row, cfg: SeedsConfig) -> Fields:
    meta: dict[str, Any] = {}
    if cfg.instruction_field:
        # Explicit mapping: input and output come only from the fields the recipe names.
        instruction, inp, out = _text(row, cfg.instruction_field, required=True), "", ""
    else:
        instruction, inp, out, meta = _detect(row)
    if cfg.input_field:
        inp = _text(row, cfg.input_field)
    if cfg.output_field:
        out = _text(row, cfg.output_field)
    return instruction, inp, out, meta


def _source_meta(row: Row) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if isinstance(row.get("id"), str | int) and not isinstance(row.get("id"), bool):
        meta["source_id"] = row["id"]  # "id" alone would read like the record's own id
    for k in _META_FIELDS:
        if isinstance(row.get(k), str | int | float | bool):
            meta[k] = row[k]
    return meta


# ---------------------------------------------------------------------------- loading


def resolve_path(path: str, base_dir: Path | None = None) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base_dir or Path.cwd()) / p


def _seed_path(cfg: SeedsConfig, base_dir: Path | None) -> tuple[Path, str]:
    if not cfg.path:
        raise DataError("no seed file given: pass --seeds PATH or set seeds.path in the recipe")
    path = resolve_path(cfg.path, base_dir)
    if not path.exists():
        raise DataError(f"no seeds at {path}: pass --seeds PATH or set seeds.path in the recipe")
    fmt = _detect_format(path) if cfg.format == "auto" else cfg.format
    if fmt not in ROW_FORMATS:
        raise DataError(f"seeds.format '{fmt}' is not one of {', '.join(ROW_FORMATS)}")
    return path, fmt


def _seed(row: Row, n: int, path: Path, cfg: SeedsConfig) -> Record:
    """The seed Record of one row; raises _Skip with the reason when the row has none."""
    instruction, inp, out, meta = _fields(row, cfg)
    instruction, inp = instruction.strip(), inp.strip()
    if not instruction:
        raise _Skip("empty instruction")
    text = f"{instruction}\n\n{inp}" if inp else instruction
    rid = record_id(None, 0, "seed", text)
    return Record(id=rid, parent_id=None, root_id=rid, round=0, operation="seed", instruction=text,
                  response=out.strip(), status=SEED, meta={"source": path.name, "line": n, **_source_meta(row), **meta})


def _no_seed_error(path: Path, report: ReadReport, fields_seen: dict[str, None]) -> DataError:
    if report.rows == 0:
        first = f", first: line {report.skipped[0][0]}: {report.skipped[0][1]}" if report.skipped else ""
        return DataError(f"no readable rows in {path} ({len(report.skipped)} line(s) skipped{first}): "
                         "fix the file or pass --seeds PATH")
    return DataError(f"no usable instruction in {path}: set seeds.instruction_field in the recipe; "
                     f"fields seen: {', '.join(fields_seen) or 'none'}")


def load_seeds(cfg: SeedsConfig, base_dir: Path | None = None) -> tuple[list[Record], ReadReport]:
    """Read the seed file named by `cfg` into seed Records (round 0, status SEED).

    Rows that hold no usable instruction and exact duplicates are skipped and listed in the
    returned ReadReport with their line numbers. Raises DataError when the file is missing,
    unreadable, or yields no seed at all.
    """
    path, fmt = _seed_path(cfg, base_dir)
    report = ReadReport(str(path))
    seeds: list[Record] = []
    first_line: dict[str, int] = {}
    fields_seen: dict[str, None] = {}  # ordered set, for the error message
    try:
        for n, row in read_rows(path, fmt, report):
            report.rows += 1
            fields_seen.update(dict.fromkeys(map(str, row)))
            try:
                seed = _seed(row, n, path, cfg)
            except _Skip as e:
                report.skip(n, str(e))
                continue
            if seed.id in first_line:
                report.skip(n, f"duplicate of line {first_line[seed.id]}")
                continue
            first_line[seed.id] = n
            seeds.append(seed)
            if 0 < cfg.limit <= len(seeds):
                break
    except (OSError, ValueError, UnicodeError, csv.Error) as e:
        # pyarrow's ArrowInvalid and datasets' errors for a wrong folder are ValueErrors/OSErrors.
        raise DataError(f"cannot read {path} as {fmt}: {str(e).splitlines()[0] if str(e) else type(e).__name__}; "
                        f"check the file or set seeds.format") from None
    if not seeds:
        raise _no_seed_error(path, report, fields_seen)
    return seeds, report


def fit_context(seeds: list[Record], report: ReadReport, evolver: Any, recipe: Recipe) -> list[Record]:
    """The seeds whose evolve prompt fits the evolver's context, with every operation of the
    recipe. The others are skipped once, here, with their line number in `report`, instead of
    failing as a backend error in every round. A backend that cannot count prompt tokens (an
    HTTP server) keeps every seed."""
    count, n_ctx = getattr(evolver, "prompt_tokens", None), getattr(evolver, "n_ctx", 0)
    if count is None or not n_ctx:
        return seeds
    ops = [op for op, w in recipe.evolve.operations.items() if w > 0]
    kept = []
    for s in seeds:
        longest = max(len(count(GenRequest(user(build_prompt(op, s.instruction)), task="evolve"))) for op in ops)
        if longest + 1 > n_ctx:  # the llama.cpp backend refuses it: no room for a single token
            report.skip(s.meta["line"], f"too long for the evolver's context (its evolve prompt is {longest} tokens; "
                                        f"n_ctx is {n_ctx}): raise evolver.n_ctx to keep it")
        else:
            kept.append(s)
    report.skipped.sort()
    if seeds and not kept:
        raise DataError(f"every seed of {report.path} is too long for the evolver's context (n_ctx {n_ctx}): "
                        "raise evolver.n_ctx")
    return kept


def summary(seeds: list[Record], report: ReadReport, show: int = 5) -> str:
    """One line for the user, plus the first skipped lines with their reasons."""
    lines = [f"{len(seeds)} seeds from {report.path} ({report.rows} rows read, {len(report.skipped)} skipped)"]
    lines += [f"  line {n}: {why}" for n, why in report.skipped[:show]]
    if len(report.skipped) > show:
        lines.append(f"  ... and {len(report.skipped) - show} more")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    try:
        records, rep = load_seeds(SeedsConfig(path=sys.argv[1] if len(sys.argv) > 1 else SeedsConfig.path))
    except DataError as err:
        sys.exit(f"error: {err}")
    print(summary(records, rep))
