"""The user docs stay a manual that works from a clone: README.md at most 200 lines (issue 28),
and every repo path, link and `just` task the docs name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PREFIXES = ("recipes/", "docs/", "benchmarks/", "wizardlite/", "tests/")
TOP = {"LICENSE", "NOTICE", "install.sh", "pyproject.toml", "Justfile"}
# Outputs the docs name before any run has written them.
NOT_YET = {"benchmarks/results/gpu_check.md"}  # written by `just gpu-check` on a GPU; no GPU has run it


def _paths(text: str) -> list[str]:
    """Repo paths in backticks (not globs or placeholders such as <recipe>, X, NAME)."""
    out = []
    for m in re.findall(r"`([^`\s]+)`", text):
        m = m.rstrip(".,:;")
        if (m.startswith(PREFIXES) or m in TOP) and not re.search(r"[<>*{}]|\bX\b|NAME|FILE", m):
            out.append(m)
    return out


def test_readme_is_at_most_200_lines():
    n = len((REPO / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= 200, f"README.md has {n} lines: internals go to docs/"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_path_and_link_a_doc_names_exists(doc: Path):
    text = doc.read_text(encoding="utf-8")
    missing = [p for p in _paths(text) if p not in NOT_YET and not (REPO / p).exists()]
    missing += [f"link {link}" for link in re.findall(r"\]\(([^)#\s]+)", text)
                if not link.startswith(("http://", "https://")) and not (doc.parent / link).exists()]
    assert not missing, missing


def test_every_just_task_the_readme_names_is_in_the_justfile():
    justfile = (REPO / "Justfile").read_text(encoding="utf-8")
    tasks = set(re.findall(r"^([a-z][\w-]*)(?:\s[^:=]*)?:(?!=)", justfile, flags=re.M))
    named = set(re.findall(r"\bjust ([a-z][\w-]*)", (REPO / "README.md").read_text(encoding="utf-8")))
    assert named <= tasks, sorted(named - tasks)
