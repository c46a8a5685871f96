"""Rich progress bars on stderr, shown only on an interactive terminal (training, store fit)."""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bars"]


def progress_bars(show: bool) -> Any:
    """A transient ``rich.progress.Progress`` with description, bar, count, elapsed and
    remaining time; disabled unless ``show`` and stderr is a terminal."""
    from rich import progress as bars
    from rich.console import Console

    console = Console(stderr=True)
    columns = [
        bars.TextColumn("{task.description}"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TimeElapsedColumn(),
        bars.TimeRemainingColumn(),
    ]
    return bars.Progress(
        *columns, console=console, transient=True, disable=not (show and console.is_terminal)
    )
