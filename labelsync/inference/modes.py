"""The inference-mode registry: class probabilities from a model's logits (and its kNN bank).

- ``softmax``: the classifier's own distribution (what training optimises);
- ``knn``: G2SAM's kNN inference (seed 001, eqs. 4-5 generalised to K classes): the k nearest
  training representations, weighted by ``exp(-||q_i - q||^2 / tau)`` (``bank.FeatureBank``);
  eq. 5's 0.5 threshold of the binary case becomes the argmax;
- ``interpolate``: ``w * p_knn + (1 - w) * p_softmax`` with ``w`` chosen on the dev split
  (``choose_weight``: the best dev accuracy on a grid; ties go to the smaller ``w``).

A mode is a name, whether it needs the bank (and a weight), and ``combine(softmax probs, knn
probs, weight) -> probs``; ``Evaluator`` and ``Predictor`` call ``InferenceMode.probabilities``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LabelsyncError

__all__ = [
    "InferenceMode",
    "KnnSettings",
    "KnnState",
    "INFERENCE_MODES",
    "get_inference",
    "register_inference",
    "choose_weight",
    "softmax_probabilities",
    "WEIGHT_GRID",
]

WEIGHT_GRID = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))
CombineFn = Callable[[np.ndarray, "np.ndarray | None", "float | None"], np.ndarray]


@dataclass(frozen=True)
class KnnSettings:
    """kNN inference settings: neighbours ``k``, temperature ``tau`` (on squared distances of
    L2-normalised vectors, in [0, 4]) and, for ``interpolate``, a fixed weight (None: from dev).
    G2SAM's slides give no k or tau: 10 and 0.1 are our defaults."""

    k: int = 10
    tau: float = 0.1
    weight: float | None = None

    def __post_init__(self) -> None:
        if self.k < 1:
            raise LabelsyncError(f"knn k must be >= 1, got {self.k}")
        if self.tau <= 0:
            raise LabelsyncError(f"knn tau must be > 0, got {self.tau}")
        if self.weight is not None and not 0.0 <= self.weight <= 1.0:
            raise LabelsyncError(f"interpolation weight must be in [0, 1], got {self.weight}")


@dataclass
class KnnState:
    """What a bank-using mode reads: the bank, the settings, the weight in use."""

    bank: Any  # bank.FeatureBank
    settings: KnnSettings
    weight: float | None = None

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for reports."""
        return {
            "k": self.settings.k,
            "tau": self.settings.tau,
            "weight": self.weight,
            "bank_rows": len(self.bank),
            "representation": self.bank.meta.get("representation"),
            "checkpoint_sha256": self.bank.checkpoint,
        }


@dataclass(frozen=True)
class InferenceMode:
    """A named way to turn outputs into probabilities."""

    name: str
    combine: CombineFn
    needs_bank: bool = False
    needs_weight: bool = False
    description: str = ""

    def probabilities(
        self, logits: np.ndarray, features: np.ndarray | None = None, state: KnnState | None = None
    ) -> np.ndarray:
        """``[n, classes]`` probabilities of ``logits`` (+ the ``features`` the bank searches)."""
        probs = softmax_probabilities(logits)
        knn = None
        if self.needs_bank:
            if state is None or features is None:
                raise LabelsyncError(f"{self.name} inference needs the kNN bank and the features")
            knn = state.bank.probabilities(features, state.settings.k, state.settings.tau)
            if knn.shape != probs.shape:
                raise LabelsyncError(
                    f"the kNN bank has {knn.shape[1]} classes, the model {probs.shape[1]}"
                )
        weight = None if state is None else state.weight
        if self.needs_weight and weight is None:
            raise LabelsyncError(f"{self.name} inference needs a weight (chosen on dev)")
        return self.combine(probs, knn, weight)


def softmax_probabilities(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    from scipy.special import softmax

    return softmax(np.asarray(logits, dtype=np.float64), axis=1)


def _softmax(probs: np.ndarray, _knn: np.ndarray | None, _weight: float | None) -> np.ndarray:
    return probs


def _knn(_probs: np.ndarray, knn: np.ndarray | None, _weight: float | None) -> np.ndarray:
    assert knn is not None  # InferenceMode.probabilities checked
    return knn


def _interpolate(probs: np.ndarray, knn: np.ndarray | None, weight: float | None) -> np.ndarray:
    assert knn is not None and weight is not None  # InferenceMode.probabilities checked
    return weight * knn + (1.0 - weight) * probs


INFERENCE_MODES: dict[str, InferenceMode] = {
    "softmax": InferenceMode("softmax", _softmax, description="the classifier's softmax"),
    "knn": InferenceMode(
        "knn",
        _knn,
        needs_bank=True,
        description="G2SAM kNN over the training representations (seed 001, eqs. 4-5)",
    ),
    "interpolate": InferenceMode(
        "interpolate",
        _interpolate,
        needs_bank=True,
        needs_weight=True,
        description="w * kNN + (1 - w) * softmax, w chosen on dev",
    ),
}


def register_inference(mode: InferenceMode) -> None:
    """Make ``mode.name`` usable as ``--inference``."""
    INFERENCE_MODES[mode.name] = mode


def get_inference(name: str) -> InferenceMode:
    """The registered mode ``name``; a one-line ``LabelsyncError`` naming the choices."""
    key = str(name).strip().lower()
    if key not in INFERENCE_MODES:
        raise LabelsyncError(
            f"unknown inference mode {name!r}; choose one of {', '.join(INFERENCE_MODES)}"
        )
    return INFERENCE_MODES[key]


def choose_weight(
    logits: np.ndarray,
    knn: np.ndarray,
    labels: np.ndarray,
    grid: tuple[float, ...] = WEIGHT_GRID,
) -> tuple[float, dict[str, float]]:
    """The interpolation weight with the best accuracy on dev rows (``labels`` in range); ties
    go to the smaller weight. Returns the weight and the accuracy of every candidate."""
    labels = np.asarray(labels)
    probs = softmax_probabilities(logits)
    keep = (labels >= 0) & (labels < probs.shape[1])
    if not keep.any():
        raise LabelsyncError("choosing the interpolation weight needs labelled dev rows")
    scores = {}
    for weight in grid:
        mixed = weight * knn[keep] + (1.0 - weight) * probs[keep]
        scores[f"{weight:g}"] = round(float(np.mean(mixed.argmax(axis=1) == labels[keep])), 6)
    best = max(grid, key=lambda w: (scores[f"{w:g}"], -w))
    return float(best), scores
