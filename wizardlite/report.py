"""What every stage's report is made of: markdown tables, Wilson intervals, a headless
matplotlib, and the one progress-bar layout every long stage shows (a label, the bar,
done/total, the stage's own columns, elapsed time, time left)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
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


def table_md(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend: reports are drawn to files, never to a screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, dpi: int = 110) -> None:
    """Save and close a figure; written beside its place and renamed, so a reader never sees half."""
    plt = pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(path)


@contextmanager
def counting_bar(description: str, total: int, done: int = 0) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr; yields a function that advances it by one."""
    progress = bar(f"[bold]{description}", console=Console(stderr=True))
    task = progress.add_task(description, total=total, completed=done)
    with progress:
        yield lambda: progress.advance(task)


Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n (95% by default); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At k = 0 or k = n the bound is exactly 0 or 1; rounding must not move it past p.
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))
