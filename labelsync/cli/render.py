"""Rich consoles and small rendering helpers shared by the CLI commands."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table

    from ..prediction import Prediction


@functools.lru_cache(maxsize=1)
def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=False)


@functools.lru_cache(maxsize=1)
def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def prediction_table(predictions: list[Prediction], title: str, top_k: int) -> Table:
    """A rich table of predictions: text, label, score, OOS flag and the runner-up labels. When
    the out-of-scope decision was made on another score than the one shown (a fitted store's
    logistic head ranks, the nearest-label score decides), that score follows the flag."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left")
    for column in ("text", "label", "score", "OOS", f"top {top_k}"):
        table.add_column(column, overflow="fold")
    for p in predictions:
        oos = "-" if p.in_scope is None else ("no" if p.in_scope else "yes")
        if p.oos_score is not None and abs(p.oos_score - p.score) > 5e-4:
            oos += f" ({p.oos_score:.3f})"
        others = ", ".join(f"{name} {score:.2f}" for name, score in p.top_k[1:])
        table.add_row(Text(p.text), Text(p.label), f"{p.score:.3f}", oos, Text(others))
    return table
