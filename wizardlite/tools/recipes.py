"""The shipped recipes, as `tune ls` lists torchtune's: each one's purpose and the command that runs it.

Run as: wizardlite recipes

Both come from the recipe's header, the comment lines it opens with, laid out so:

    # Run as: wizardlite evolve --recipe recipes/x.toml && wizardlite finetune --recipe recipes/x.toml
    #   (more lines indented under "Run as:" continue it, or give another form of the command)
    #
    # What the recipe is for, in one line.
    #
    # Anything else: how it differs from the default, what was measured, overrides worth trying.

tests/test_config.py holds every file in recipes/ to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wizardlite.errors import ConfigError

RUN_AS = "# Run as: "


@dataclass(frozen=True)
class RecipeHeader:
    path: Path
    command: str  # the "Run as:" line, without the prefix
    purpose: str  # the one line after the blank comment line


def read_header(path: Path) -> RecipeHeader:
    """The command and purpose of a recipe; a ConfigError that says what is missing otherwise."""
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.rstrip())
    if not lines or not lines[0].startswith(RUN_AS) or not lines[0][len(RUN_AS):].strip():
        raise ConfigError(f"{path}: a recipe opens with '{RUN_AS}<the command that runs it>'")
    i = 1
    while i < len(lines) and lines[i].startswith("#  "):  # the command's continuation
        i += 1
    if lines[i:i + 1] != ["#"] or len(lines) <= i + 1 or lines[i + 1] == "#":
        raise ConfigError(f"{path}: after the 'Run as:' line, a line '#' and then '# <what the recipe is for>'")
    if len(lines) > i + 2 and lines[i + 2] != "#":
        raise ConfigError(f"{path}: the purpose is one line: put a line '#' after it, then any more text")
    return RecipeHeader(path, lines[0][len(RUN_AS):].strip(), lines[i + 1].lstrip("#").strip())


def shipped(folder: Path = Path("recipes")) -> list[RecipeHeader]:
    """The header of every recipe in `folder`, by file name."""
    if not folder.is_dir():
        raise ConfigError(f"no recipes folder at {folder}: run from the root of the wizardlite clone, or pass --dir")
    paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise ConfigError(f"no recipes (*.toml) in {folder}")
    return [read_header(p) for p in paths]
