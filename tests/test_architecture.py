"""The package's architecture holds: imports flow one way (core <- backends, gguf <- stages <- cli)
and stages never import each other. `just lint` runs the same check (import-linter's contract in
pyproject.toml); these tests show it passes on the tree and fails on a planted violation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (pip install -e .[dev])")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=120)


def copy_tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "wizardlite", tmp_path / "wizardlite", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_the_import_contract():
    res = lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout


@pytest.mark.parametrize("module, planted, culprit", [
    ("evolve/dedup.py", "from wizardlite.finetune import data  # planted", "wizardlite.evolve.dedup"),
    ("backends/fake.py", "from wizardlite.evolve import operations  # planted", "wizardlite.backends.fake"),
    ("records.py", "import wizardlite.backends  # planted", "wizardlite.records"),
])
def test_a_planted_import_against_the_layers_breaks_the_lint(tmp_path, module, planted, culprit):
    tree = copy_tree(tmp_path)
    path = tree / "wizardlite" / module
    path.write_text(path.read_text() + f"\n{planted}\n")
    res = lint(tree)
    assert res.returncode != 0
    assert "BROKEN" in res.stdout and culprit in res.stdout
