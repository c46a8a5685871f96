"""The training side of the task types (``ModelConfig.task``): which options fit a task, what a
dataset must carry for it, the run's label names, and how a split's outputs become metrics.

- ``single_label``: the argmax of the logits; ``metrics.classification_metrics``.
- ``multi_label``: sigmoid probabilities; a label is predicted when its probability reaches its
  threshold: one per label chosen on dev (``task_metrics.tune_thresholds``), or the run's fixed
  ``threshold``; ``task_metrics.multilabel_metrics``.
- ``regression``: the head's one output is the score; ``task_metrics.regression_metrics``.

Out-of-scope detection (``labelsync.ood``) stays single-label: ``require_single_label`` says so
in one line wherever it is asked for on another task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, LabelsyncError
from .metrics import classification_metrics
from .task_metrics import (
    TASK_METRICS,
    multilabel_metrics,
    per_label_metrics,
    regression_metrics,
    tune_thresholds,
)

__all__ = [
    "check_task_options",
    "check_dataset",
    "run_label_names",
    "require_single_label",
    "sigmoid",
    "score_outputs",
    "task_report",
]


def check_task_options(config: Any) -> None:
    """The ``TrainConfig`` options that depend on ``model.task`` (one ``ConfigError`` line)."""
    task = config.task
    if config.metric not in TASK_METRICS[task]:
        raise ConfigError(
            f"metric must be one of {', '.join(TASK_METRICS[task])} for task {task}, got "
            f"{config.metric!r}"
        )
    if task != "single_label" and (config.oos_mode == "class" or config.known_ratio < 1.0):
        raise ConfigError(
            f"out-of-scope detection is for single-label tasks only; task {task} drops "
            "out-of-scope rows (leave oos_mode and known_ratio at drop and 1.0)"
        )
    if config.threshold is not None:
        if task != "multi_label":
            raise ConfigError(f"threshold is for multi_label tasks, not {task}")
        if not 0.0 <= config.threshold <= 1.0:
            raise ConfigError(f"threshold must be in [0, 1], got {config.threshold}")


def check_dataset(task: str, dataset: Any) -> None:
    """A ``LabelsyncError`` line when ``dataset`` lacks the targets ``task`` trains on."""
    kinds, name = dataset.target_kinds, dataset.name
    scores_only = "score" in kinds and dataset.labels.names == [dataset.score_name]
    if task == "single_label" and "labels" in kinds:
        raise LabelsyncError(
            f"{name} has several labels per row (label sets): train it with --task multi_label"
        )
    if task == "single_label" and scores_only:
        raise LabelsyncError(f"{name} carries scores, not classes: train it with --task regression")
    if task == "multi_label" and "labels" not in kinds:
        where = "CMU-MOSEI emotions, or " if name == "mosei" else ""
        raise LabelsyncError(
            f"{name} has no label sets: multi_label needs {where}a 'labels' column of names "
            "separated by '|'"
        )
    if task == "regression" and "score" not in kinds:
        raise LabelsyncError(f"{name} has no scores: regression needs a numeric 'score' column")


def run_label_names(config: Any, dataset: Any) -> list[str]:
    """The names a run's model outputs: the classes (+ out-of-scope for K+1), or the score's."""
    if config.task == "regression":
        return [dataset.score_name]
    return dataset.label_names(include_oos=config.oos_mode == "class")


def require_single_label(task: str, what: str = "out-of-scope detection") -> None:
    """A ``LabelsyncError`` line: ``what`` works on single-label runs only."""
    if task != "single_label":
        raise LabelsyncError(f"{what} is for single-label runs only; this run is {task}")


def sigmoid(logits: Any) -> np.ndarray:
    """Elementwise logistic function (no overflow for large negative logits)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, dtype=np.float64)))


def score_outputs(
    task: str, out: Any, thresholds: Sequence[float] | None = None
) -> tuple[dict[str, float], list[float] | None]:
    """``(metrics, thresholds)`` of a split's outputs (``evaluation.SplitOutputs``).

    Multi-label: with ``thresholds`` None, one per label is chosen on these outputs (call it on
    dev only); the ones used come back (None for the other tasks).
    """
    if task == "multi_label":
        probabilities, targets = sigmoid(out.logits), out.extra["targets"]
        if thresholds is None:
            thresholds = tune_thresholds(probabilities, targets)
        predicted = probabilities >= np.asarray(thresholds)[None]
        return multilabel_metrics(targets, predicted), [float(t) for t in thresholds]
    if task == "regression":
        return regression_metrics(out.extra["score"], out.logits[:, 0]), None
    return classification_metrics(out.label_id, out.logits.argmax(axis=1)), None


def task_report(model_config: Any, out: Any) -> dict[str, Any]:
    """What ``evaluate`` reports for a multi-label or regression checkpoint: metrics, per-label
    rows (multi-label, with the thresholds used) and a short error summary (regression)."""
    names = list(model_config.label_names)
    if model_config.task == "multi_label":
        thresholds = model_config.thresholds or [0.5] * len(names)
        metrics, _ = score_outputs("multi_label", out, thresholds)
        predicted = sigmoid(out.logits) >= np.asarray(thresholds)[None]
        rows = per_label_metrics(out.extra["targets"], predicted, names)
        for row, threshold in zip(rows, thresholds, strict=True):
            row["threshold"] = round(float(threshold), 4)
        return {
            "metrics": metrics,
            "per_class": rows,
            "thresholds": dict(zip(names, thresholds, strict=True)),
        }
    metrics, _ = score_outputs(model_config.task, out)
    errors = out.logits[:, 0] - out.extra["score"]
    summary = {
        "mean_error": round(float(errors.mean()), 6),
        "max_abs_error": round(float(np.abs(errors).max()), 6),
    }
    return {"metrics": metrics, "per_class": [], "errors": summary}
