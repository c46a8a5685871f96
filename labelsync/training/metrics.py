"""Classification metrics as the field reports them (scikit-learn): ACC, macro/weighted F1, P, R.

Macro averages run over the classes that occur in the gold labels or the predictions (the
scikit-learn default, as TEXTOIR/MIntRec report them); classes with no prediction score 0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "classification_metrics",
    "per_class_metrics",
    "class_rows",
    "confusion",
    "per_class_csv",
    "per_class_markdown",
    "METRIC_NAMES",
]

METRIC_NAMES = (
    "accuracy",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "weighted_f1",
    "weighted_precision",
)


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """Accuracy, macro F1/P/R and weighted F1/P of integer predictions, rounded to 6 places."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        raise ValueError("no samples to score")
    macro = precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    weighted = precision_recall_fscore_support(y_true, y_pred, average="weighted", zero_division=0)
    values = {
        "accuracy": accuracy_score(y_true, y_pred),
        "macro_f1": macro[2],
        "macro_precision": macro[0],
        "macro_recall": macro[1],
        "weighted_f1": weighted[2],
        "weighted_precision": weighted[0],
    }
    return {name: round(float(value), 6) for name, value in values.items()}


def per_class_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], names: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per class (in id order): label, precision, recall, F1, support."""
    from sklearn.metrics import precision_recall_fscore_support

    ids = list(range(len(names)))
    scores = precision_recall_fscore_support(
        np.asarray(y_true), np.asarray(y_pred), labels=ids, zero_division=0
    )
    return class_rows(names, *scores)


def class_rows(names: Sequence[str], p: Any, r: Any, f: Any, s: Any) -> list[dict[str, Any]]:
    """Rows of ``precision_recall_fscore_support`` arrays: label, precision, recall, F1,
    support (one per class or label, in order)."""
    return [
        {
            "label": names[i],
            "precision": round(float(p[i]), 4),
            "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4),
            "support": int(s[i]),
        }
        for i in range(len(names))
    ]


def confusion(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """``[num_classes, num_classes]`` counts: rows are gold labels, columns predictions."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))


def per_class_csv(rows: list[dict[str, Any]]) -> str:
    """The per-class rows as CSV text with a header."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def per_class_markdown(rows: list[dict[str, Any]]) -> str:
    """The per-class rows as a markdown table."""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[key]) for key in header) + " |")
    return "\n".join(lines) + "\n"
