"""Out-of-scope detectors: a registry of score functions (higher score = more in scope).

Every detector reads the model outputs that ``Trainer.collect_outputs`` gathers (``logits``,
``features``, ``description_scores``) and returns one score per row. A few need statistics of
the in-scope training rows first (``fit``: DOC's per-class thresholds, the kNN feature bank);
none has its own training loop. On a K+1 model the score detectors look at the ``K`` in-scope
columns only; ``k+1`` compares them with the out-of-scope column.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LabelsyncError

__all__ = [
    "Detector",
    "DETECTORS",
    "get_detector",
    "register_detector",
    "available_detectors",
    "softmax",
]

log = logging.getLogger(__name__)

Outputs = dict[str, np.ndarray]
ScoreFn = Callable[[Outputs, dict[str, np.ndarray], int], np.ndarray]
FitFn = Callable[[Outputs, int], dict[str, np.ndarray]]

DOC_ALPHA = 3.0  # DOC (Shu et al., 2017): threshold = max(0.5, 1 - alpha * sigma)
KNN_K = 10  # kNN (Sun et al., 2022): cosine to the k-th nearest in-scope training feature


@dataclass(frozen=True)
class Detector:
    """A named score function; ``fit`` (optional) computes statistics from training rows.

    ``native_threshold``: a fixed decision point (``k+1``: the argmax rule) used instead of a
    threshold from dev. ``needs``: the output arrays the detector reads.
    """

    name: str
    score: ScoreFn
    fit: FitFn | None = None
    needs: tuple[str, ...] = ("logits",)
    native_threshold: float | None = None
    k_plus_1_only: bool = False


DETECTORS: dict[str, Detector] = {}


def register_detector(name: str, **options: Any) -> Callable[[ScoreFn], ScoreFn]:
    """Decorator: add a score function to the registry under ``name``."""

    def add(function: ScoreFn) -> ScoreFn:
        DETECTORS[name] = Detector(name, function, **options)
        return function

    return add


def available_detectors() -> list[str]:
    return list(DETECTORS)


def get_detector(name: str) -> Detector:
    """The registered detector ``name``; a one-line ``LabelsyncError`` naming the choices."""
    key = name.strip().lower()
    if key not in DETECTORS:
        raise LabelsyncError(
            f"unknown out-of-scope detector {name!r}; choose one of {', '.join(DETECTORS)}"
        )
    return DETECTORS[key]


def softmax(logits: np.ndarray) -> np.ndarray:
    from scipy.special import softmax as _softmax

    return _softmax(np.asarray(logits, dtype=np.float64), axis=1)


def _in_scope_logits(outputs: Outputs, num_known: int) -> np.ndarray:
    return np.asarray(outputs["logits"], dtype=np.float64)[:, :num_known]


@register_detector("msp")
def msp(outputs: Outputs, _state: dict, num_known: int) -> np.ndarray:
    """Maximum softmax probability (Hendrycks & Gimpel, 2017)."""
    return softmax(_in_scope_logits(outputs, num_known)).max(axis=1)


@register_detector("maxlogit")
def maxlogit(outputs: Outputs, _state: dict, num_known: int) -> np.ndarray:
    """Largest logit (Hendrycks et al., 2022)."""
    return _in_scope_logits(outputs, num_known).max(axis=1)


@register_detector("energy")
def energy(outputs: Outputs, _state: dict, num_known: int) -> np.ndarray:
    """Negative energy ``logsumexp(logits)`` at temperature 1 (Liu et al., 2020)."""
    from scipy.special import logsumexp

    return logsumexp(_in_scope_logits(outputs, num_known), axis=1)


def _fit_doc(outputs: Outputs, num_known: int) -> dict[str, np.ndarray]:
    """Per-class thresholds from the probabilities of the training rows of each class.

    The probabilities of class ``k`` on its own rows are mirrored around 1 (a Gaussian centred
    at 1, DOC section 3.2); ``t_k = max(0.5, 1 - alpha * std)``.
    """
    probs = softmax(_in_scope_logits(outputs, num_known))
    labels = np.asarray(outputs["label_id"])
    thresholds = np.full(num_known, 0.5)
    for k in range(num_known):
        own = probs[labels == k, k]
        if len(own):
            mirrored = np.concatenate([own, 2.0 - own])
            thresholds[k] = max(0.5, 1.0 - DOC_ALPHA * float(np.std(mirrored)))
    return {"class_thresholds": thresholds}


@register_detector("doc", fit=_fit_doc)
def doc(outputs: Outputs, state: dict, num_known: int) -> np.ndarray:
    """DOC: how far the best class clears its own threshold, ``max_k (p_k - t_k)``."""
    probs = softmax(_in_scope_logits(outputs, num_known))
    return (probs - np.asarray(state["class_thresholds"])[None]).max(axis=1)


@register_detector("desc", needs=("description_scores",))
def desc(outputs: Outputs, _state: dict, num_known: int) -> np.ndarray:
    """Cosine of ``T_f`` to the nearest in-scope label description."""
    if "description_scores" not in outputs:
        raise LabelsyncError(
            "the desc detector needs the semantic token T_f: this model was trained without SS"
        )
    return np.asarray(outputs["description_scores"], dtype=np.float64)[:, :num_known].max(axis=1)


def _normalise(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def _fit_knn(outputs: Outputs, num_known: int) -> dict[str, np.ndarray]:
    """The bank: L2-normalised features of the in-scope training rows."""
    labels = np.asarray(outputs["label_id"])
    return {"bank": _normalise(np.asarray(outputs["features"])[labels < num_known])}


@register_detector("knn", fit=_fit_knn, needs=("features",))
def knn(outputs: Outputs, state: dict, _num_known: int) -> np.ndarray:
    """Cosine similarity to the k-th nearest in-scope training feature (FAISS flat index)."""
    from ..store import index as faiss_index

    bank = np.asarray(state["bank"], dtype=np.float32)
    if not len(bank):
        raise LabelsyncError("the knn detector needs in-scope training rows")
    index = faiss_index.new_index(bank.shape[1], "flat")
    faiss_index.add(index, bank, np.arange(len(bank)))
    k = min(KNN_K, len(bank))
    searcher = faiss_index.to_gpu(index)  # a GPU copy when faiss-gpu sees a GPU
    scores, _ = faiss_index.search(searcher, _normalise(outputs["features"]), k)
    return scores[:, k - 1].astype(np.float64)


@register_detector("k+1", native_threshold=0.0, k_plus_1_only=True)
def k_plus_1(outputs: Outputs, _state: dict, num_known: int) -> np.ndarray:
    """K+1 training: best in-scope probability minus the out-of-scope class's (< 0: argmax OOS)."""
    probs = softmax(np.asarray(outputs["logits"], dtype=np.float64))
    if probs.shape[1] != num_known + 1:
        raise LabelsyncError("k+1 needs a model trained with the out-of-scope class")
    return probs[:, :num_known].max(axis=1) - probs[:, num_known]
