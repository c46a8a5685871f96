"""Training curves and confusion matrices as PNG files (matplotlib's Agg canvas, no pyplot).

``matplotlib.figure.Figure`` draws without a GUI backend and without touching pyplot's global
state, so plotting works headless and from worker threads.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_curves", "plot_confusion"]


def _save(figure: Any, path: str | os.PathLike) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from .._io import atomic_write_bytes

    FigureCanvasAgg(figure)  # attach the Agg canvas: no GUI backend, no pyplot state
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


def plot_curves(history: Sequence[dict[str, Any]], metric: str, path: str | os.PathLike) -> Path:
    """Train/dev loss and the dev metric per epoch (one row of ``history`` per epoch)."""
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=(9, 3.5))
    loss_ax, metric_ax = figure.subplots(1, 2)
    loss_ax.plot(epochs, [row["train_loss"] for row in history], marker="o", label="train")
    loss_ax.plot(epochs, [row["dev_loss"] for row in history], marker="o", label="dev")
    loss_ax.set(title="loss", xlabel="epoch")
    loss_ax.legend()
    shown = [n for n in dict.fromkeys((metric, "accuracy", "macro_f1")) if n in history[0]["dev"]]
    for name in shown:  # MAE (regression) is not a share: no fixed 0-1 axis then
        metric_ax.plot(epochs, [row["dev"][name] for row in history], marker="o", label=name)
    metric_ax.set(title="dev", xlabel="epoch")
    if all(0.0 <= row["dev"][n] <= 1.0 for row in history for n in shown):
        metric_ax.set_ylim(0, 1.02)
    metric_ax.legend()
    for ax in (loss_ax, metric_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return _save(figure, path)


def plot_confusion(
    matrix: np.ndarray, names: Sequence[str], path: str | os.PathLike, title: str = ""
) -> Path:
    """A row-normalised confusion matrix heat map with the raw counts written in the cells."""
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    size = max(4.0, 0.38 * len(names) + 2)
    figure = Figure(figsize=(size + 1, size))
    ax = figure.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the gold row")
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, labels=list(names), rotation=90, fontsize=7)
    ax.set_yticks(ticks, labels=list(names), fontsize=7)
    ax.set(xlabel="predicted", ylabel="gold", title=title)
    if len(names) <= 40:
        for i, j in zip(*np.nonzero(matrix), strict=True):
            color = "white" if share[i, j] > 0.5 else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=6, color=color)
    return _save(figure, path)
