"""The one progress-bar layout every long stage shows: a label, the bar, done/total, the
stage's own columns, elapsed time, time left. Bars go to the console the stage passes."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def bar(label: str, *columns: str, console: Console, eta_label: str = "") -> Progress:
    """`label` and `columns` are rich TextColumn templates ("{task.fields[loss]}" and the like)."""
    parts: list[Any] = [TextColumn(label), BarColumn(), MofNCompleteColumn(), *map(TextColumn, columns),
                        TimeElapsedColumn()]
    if eta_label:
        parts.append(TextColumn(eta_label))
    return Progress(*parts, TimeRemainingColumn(), console=console)
