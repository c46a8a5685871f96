"""``Prediction``: what every classifier in labelsync answers for one input.

The label store (zero/few-shot), a trained run (``Predictor``) and the HTTP server all return this
one type, with one out-of-scope polarity: ``in_scope`` is True (kept), False (flagged out of
scope) or None (no threshold to decide with). A multi-label run also fills ``labels`` (every
label at or above its threshold), a regression run ``value`` (the predicted score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Prediction"]


@dataclass(frozen=True)
class Prediction:
    """The decision for one input.

    Attributes:
        text: the input text.
        label: the best label.
        score: its score (a probability for a trained model, a cosine score for a store).
        top_k: ``(label, score)`` pairs, best first.
        in_scope: the out-of-scope decision, or None without a threshold.
        oos_score: the score the decision was made on (higher = more in scope).
        threshold: the threshold it was compared with.
        labels: multi-label runs: every label whose probability reaches its threshold, best
            first (may be empty; ``label`` stays the most probable one); None otherwise.
        value: regression runs: the predicted score (``label`` names the quantity, ``score``
            holds the same number); None otherwise.
    """

    text: str
    label: str
    score: float
    top_k: list[tuple[str, float]]
    in_scope: bool | None = None
    oos_score: float | None = None
    threshold: float | None = None
    labels: list[str] | None = None
    value: float | None = None

    @property
    def is_oos(self) -> bool | None:
        """``not in_scope`` (None without a threshold)."""
        return None if self.in_scope is None else not self.in_scope

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (scores rounded to 6 decimals)."""
        record: dict[str, Any] = {
            "text": self.text,
            "label": self.label,
            "score": round(float(self.score), 6),
            "top_k": [{"label": name, "score": round(float(s), 6)} for name, s in self.top_k],
            "in_scope": self.in_scope,
        }
        if self.oos_score is not None:
            record["oos_score"] = round(float(self.oos_score), 6)
        if self.threshold is not None:
            record["threshold"] = round(float(self.threshold), 6)
        if self.labels is not None:
            record["labels"] = list(self.labels)
        if self.value is not None:
            record["value"] = round(float(self.value), 6)
        return record
