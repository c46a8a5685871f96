"""Label store: SentenceBERT vectors of label names, descriptions and examples in FAISS."""

from __future__ import annotations

from ..prediction import Prediction
from .calibrate import Calibration, ood_metrics, threshold_at_tpr
from .embedder import DEFAULT_EMBEDDER, Embedder
from .label_store import Hit, LabelStore

__all__ = [
    "DEFAULT_EMBEDDER",
    "Calibration",
    "Embedder",
    "Hit",
    "LabelStore",
    "Prediction",
    "ood_metrics",
    "threshold_at_tpr",
]
