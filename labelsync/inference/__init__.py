"""Inference modes: how a trained model's outputs become class probabilities.

modes.py (the registry: ``softmax``, ``knn``, ``interpolate``; ``KnnSettings``) and bank.py
(``FeatureBank``: the training representations of one checkpoint in a FAISS index, saved with
the run). G2SAM's kNN inference (seed 001, eqs. 4-5) generalised to K classes. The run-side
steps (build the bank from the training split on first use, choose the interpolation weight on
dev) are ``labelsync.training.Evaluator.knn_state``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "INFERENCE_MODES": "labelsync.inference.modes",
    "InferenceMode": "labelsync.inference.modes",
    "KnnSettings": "labelsync.inference.modes",
    "KnnState": "labelsync.inference.modes",
    "get_inference": "labelsync.inference.modes",
    "register_inference": "labelsync.inference.modes",
    "FeatureBank": "labelsync.inference.bank",
    "BankError": "labelsync.inference.bank",
}

__all__ = [
    "BankError",
    "FeatureBank",
    "INFERENCE_MODES",
    "InferenceMode",
    "KnnSettings",
    "KnnState",
    "get_inference",
    "register_inference",
]

if TYPE_CHECKING:  # pragma: no cover
    from .bank import BankError, FeatureBank
    from .modes import (
        INFERENCE_MODES,
        InferenceMode,
        KnnSettings,
        KnnState,
        get_inference,
        register_inference,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
