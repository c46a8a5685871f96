"""``LogisticHead``: a logistic regression over fitted embeddings, the optional classifier of a
fitted store (``head="logistic"``), as SetFit puts one on its fitted body.

It ranks labels by probability; the store's nearest-label score still makes the out-of-scope
decision, so the default and calibrated thresholds mean the same with either head. Saved as
plain arrays (``head.safetensors``): no pickle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import LabelsyncError
from ..labels import normalize_label

__all__ = ["LogisticHead"]


class LogisticHead:
    """Multinomial logistic regression: ``softmax(x @ coef.T + intercept)`` over ``labels``."""

    def __init__(self, labels: Sequence[str], coef: np.ndarray, intercept: np.ndarray):
        coef = np.ascontiguousarray(coef, dtype=np.float32)
        intercept = np.ascontiguousarray(intercept, dtype=np.float32).reshape(-1)
        if coef.ndim != 2 or coef.shape[0] != len(labels) or intercept.shape != (len(labels),):
            raise LabelsyncError(
                f"logistic head: {coef.shape} weights and {intercept.shape} biases do not fit "
                f"{len(labels)} labels"
            )
        self.labels = list(labels)
        self.coef, self.intercept = coef, intercept

    @classmethod
    def fit(
        cls, vectors: np.ndarray, targets: Sequence[str], labels: Sequence[str], seed: int = 0
    ) -> LogisticHead:
        """Train on ``vectors`` with label names ``targets``; the head's classes are ``labels``
        (in that order), each with at least one vector (scikit-learn, L2, lbfgs)."""
        from sklearn.linear_model import LogisticRegression

        labels = list(labels)
        missing = sorted(set(labels) - set(targets))
        if len(labels) < 2 or missing:
            raise LabelsyncError(
                f"a logistic head needs vectors of every label of at least 2 (none: {missing[:3]})"
            )
        model = LogisticRegression(max_iter=1000, random_state=seed)
        model.fit(vectors, [labels.index(t) for t in targets])
        coef, intercept = model.coef_, model.intercept_
        if len(labels) == 2:  # sklearn keeps one row for two classes: softmax([0, z]) = sigmoid(z)
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.r_[0.0, intercept]
        return cls(labels, coef, intercept)

    def matches(self, labels: Sequence[str]) -> bool:
        """Whether the head was trained on exactly ``labels`` (any spelling, in order)."""
        return [normalize_label(n) for n in labels] == [normalize_label(n) for n in self.labels]

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """``[n, n_labels]`` probabilities in the order of :attr:`labels`."""
        logits = vectors @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_arrays(cls, labels: Sequence[str], arrays: dict[str, np.ndarray]) -> LogisticHead:
        if set(arrays) != {"coef", "intercept"}:
            raise LabelsyncError(f"logistic head: unexpected tensors {sorted(arrays)}")
        return cls(labels, arrays["coef"], arrays["intercept"])
