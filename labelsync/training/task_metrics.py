"""Metrics of every task as its literature reports them, per-label thresholds, and which way a
dev metric is better.

Multi-label (CARAT, seed 000, and the multi-label emotion papers it compares with), over 0/1
arrays ``[N, K]``:

- ``accuracy``: example-based (Jaccard) accuracy, the mean over samples of
  ``|gold ∩ predicted| / |gold ∪ predicted|`` (a sample with neither counts 1);
- ``hamming_loss``: the share of wrong (sample, label) decisions (lower is better);
- ``micro_f1``, ``micro_precision``, ``micro_recall``: over all (sample, label) decisions (CARAT's
  Micro-F1, P and R); ``macro_f1``: per label, then averaged; ``subset_accuracy``: exact sets.

Regression (HyCon, seed 002, and MMSA's evaluation of CMU-MOSI/MOSEI), over real scores:

- ``mae`` (lower is better) and ``corr`` (Pearson; 0 when either side is constant);
- ``acc2_has0`` / ``f1_has0``: negative (< 0) vs non-negative (>= 0);
- ``acc2_non0`` / ``f1_non0``: negative vs positive, samples whose gold score is 0 left out;
  both F1s are the support-weighted F1 of the two classes, as the MOSI literature reports it;
- ``acc7``: both scores clipped to [-3, 3] and rounded to the nearest integer (numpy rounds
  halves to even: 2.5 -> 2, -0.5 -> -0), then the share of equal classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics import METRIC_NAMES, class_rows

__all__ = [
    "TASK_METRICS",
    "DEFAULT_METRIC",
    "LOWER_IS_BETTER",
    "RAW_METRICS",
    "default_metric",
    "is_better",
    "worst_value",
    "multilabel_metrics",
    "per_label_metrics",
    "regression_metrics",
    "tune_thresholds",
    "THRESHOLD_GRID",
]

TASK_METRICS = {
    "single_label": METRIC_NAMES,
    "multi_label": (
        "micro_f1",
        "accuracy",
        "hamming_loss",
        "macro_f1",
        "micro_precision",
        "micro_recall",
        "subset_accuracy",
    ),
    "regression": ("mae", "corr", "acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc7"),
}
DEFAULT_METRIC = {"single_label": "macro_f1", "multi_label": "micro_f1", "regression": "mae"}
LOWER_IS_BETTER = frozenset({"mae", "hamming_loss"})
RAW_METRICS = frozenset({"mae", "corr"})  # shown as they are, not in percent
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 .. 0.95


def default_metric(task: str) -> str:
    """The dev metric that picks the best checkpoint of ``task`` unless one is given."""
    return DEFAULT_METRIC[task]


def worst_value(metric: str) -> float:
    """The starting "best" value: any real value of ``metric`` beats it."""
    return math.inf if metric in LOWER_IS_BETTER else -math.inf


def is_better(metric: str, value: float, best: float) -> bool:
    """Whether ``value`` improves on ``best`` (lower for MAE and Hamming loss, else higher)."""
    return value < best if metric in LOWER_IS_BETTER else value > best


def _rounded(values: dict[str, Any]) -> dict[str, float]:
    return {name: round(float(value), 6) for name, value in values.items()}


def multilabel_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """The multi-label metrics (module docstring) of 0/1 arrays ``[N, K]``, rounded to 6 places."""
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        hamming_loss,
        jaccard_score,
        precision_recall_fscore_support,
    )

    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    if y_true.size == 0:
        raise ValueError("no samples to score")
    micro = precision_recall_fscore_support(y_true, y_pred, average="micro", zero_division=0)
    values = {
        "micro_f1": micro[2],
        "accuracy": jaccard_score(y_true, y_pred, average="samples", zero_division=1.0),
        "hamming_loss": hamming_loss(y_true, y_pred),
        "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
        "micro_precision": micro[0],
        "micro_recall": micro[1],
        "subset_accuracy": accuracy_score(y_true, y_pred),
    }
    return _rounded(values)


def per_label_metrics(y_true: Any, y_pred: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    """One row per label of 0/1 arrays ``[N, K]``: label, precision, recall, F1, support."""
    from sklearn.metrics import precision_recall_fscore_support

    scores = precision_recall_fscore_support(
        np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int), zero_division=0
    )
    return class_rows(names, *scores)


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """The regression metrics (module docstring) of real scores ``[N]``, rounded to 6 places."""
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error

    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if y_true.size == 0:
        raise ValueError("no samples to score")
    constant = np.ptp(y_true) == 0 or np.ptp(y_pred) == 0
    corr = 0.0 if constant else float(np.corrcoef(y_true, y_pred)[0, 1])
    has0_true, has0_pred = y_true >= 0, y_pred >= 0
    nonzero = y_true != 0
    non0_true, non0_pred = y_true[nonzero] > 0, y_pred[nonzero] > 0
    values = {
        "mae": mean_absolute_error(y_true, y_pred),
        "corr": corr,
        "acc2_has0": accuracy_score(has0_true, has0_pred),
        "f1_has0": f1_score(has0_true, has0_pred, average="weighted", zero_division=0),
        "acc2_non0": accuracy_score(non0_true, non0_pred) if nonzero.any() else 0.0,
        "f1_non0": (
            f1_score(non0_true, non0_pred, average="weighted", zero_division=0)
            if nonzero.any()
            else 0.0
        ),
        "acc7": float(np.mean(_seven_classes(y_true) == _seven_classes(y_pred))),
    }
    return _rounded(values)


def _seven_classes(scores: np.ndarray) -> np.ndarray:
    """-3 .. 3: clipped to [-3, 3], then rounded (halves to even, as numpy and MMSA do)."""
    return np.round(np.clip(scores, -3.0, 3.0))


def tune_thresholds(
    probabilities: Any, targets: Any, grid: Sequence[float] = THRESHOLD_GRID
) -> list[float]:
    """Per label, the threshold of ``grid`` with the best F1 of that label on these (dev)
    probabilities ``[N, K]``; ties (e.g. a label with no positives) go to the one nearest 0.5."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    targets = np.asarray(targets).astype(bool)
    cuts = np.asarray(grid, dtype=np.float64)
    predicted = probabilities[None] >= cuts[:, None, None]  # [G, N, K]
    tp = (predicted & targets[None]).sum(axis=1)
    fp = (predicted & ~targets[None]).sum(axis=1)
    fn = (~predicted & targets[None]).sum(axis=1)
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(tp.shape), where=denominator > 0)  # [G, K]
    closeness = -np.abs(cuts - 0.5)[:, None]  # the tie-break: nearest 0.5 first
    best = np.lexsort((np.broadcast_to(closeness, f1.shape), f1), axis=0)[-1]
    return [float(cuts[i]) for i in best]
