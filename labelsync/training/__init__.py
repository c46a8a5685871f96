"""Training and runs: ``TrainConfig`` (arguments.py), ``Trainer`` (trainer.py, the only loop),
metrics.py (scikit-learn), tasks.py and task_metrics.py (the multi-label and regression tasks:
their rules, thresholds and metrics), runs.py (run directories, mean ± std over seeds, resume
state), plots.py (curves, confusion matrices) and sweep.py (config grids x seeds). Names load
lazily so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "labelsync.training.arguments",
    "ConfigError": "labelsync.training.arguments",
    "Trainer": "labelsync.training.trainer",
    "EpochResult": "labelsync.training.trainer",
    "TrainingError": "labelsync.training.trainer",
    "RunDir": "labelsync.training.runs",
    "RunError": "labelsync.training.runs",
    "classification_metrics": "labelsync.training.metrics",
    "multilabel_metrics": "labelsync.training.task_metrics",
    "regression_metrics": "labelsync.training.task_metrics",
    "tune_thresholds": "labelsync.training.task_metrics",
    "Sweep": "labelsync.training.sweep",
    "SweepError": "labelsync.training.sweep",
    "make_accelerator": "labelsync.training.accelerator",
    "Evaluator": "labelsync.training.evaluation",
    "load_checkpoint": "labelsync.training.evaluation",
}

__all__ = [
    "ConfigError",
    "EpochResult",
    "Evaluator",
    "RunDir",
    "RunError",
    "Sweep",
    "SweepError",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "classification_metrics",
    "load_checkpoint",
    "make_accelerator",
    "multilabel_metrics",
    "regression_metrics",
    "tune_thresholds",
]

if TYPE_CHECKING:  # pragma: no cover
    from .accelerator import make_accelerator
    from .arguments import ConfigError, TrainConfig
    from .evaluation import Evaluator, load_checkpoint
    from .metrics import classification_metrics
    from .runs import RunDir, RunError
    from .sweep import Sweep, SweepError
    from .task_metrics import multilabel_metrics, regression_metrics, tune_thresholds
    from .trainer import EpochResult, Trainer, TrainingError


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
