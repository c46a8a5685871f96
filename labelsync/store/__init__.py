"""Label store: SentenceBERT vectors of label names, descriptions and examples in FAISS,
an out-of-scope threshold, and an embedder that can be fitted on a few examples."""

from __future__ import annotations

from ..prediction import Prediction
from .calibrate import Calibration, ood_metrics, threshold_at_tpr
from .embedder import DEFAULT_EMBEDDER, Embedder
from .fit import FitConfig
from .label_store import Hit, LabelStore
from .threshold import Threshold

__all__ = [
    "DEFAULT_EMBEDDER",
    "Calibration",
    "Embedder",
    "FitConfig",
    "Hit",
    "LabelStore",
    "Prediction",
    "Threshold",
    "ood_metrics",
    "threshold_at_tpr",
]
