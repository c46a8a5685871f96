"""Which out-of-scope threshold a label store uses, and the default it derives from itself.

A text is out of scope when its best label score is below the store's threshold, which is:

- ``calibrated``: set on labelled texts (``calibrate`` / ``--calibrate``: 95% of in-scope texts
  stay in scope);
- ``manual``: set by hand (``store.threshold = 0.4``);
- ``default``: derived from the store itself when neither is set. Each label's name is scored
  as a query against every *other* label: those wrong-label scores show how high a text that
  belongs to none of them still scores in this store. The threshold is their mean plus a
  spread of standard deviations, which depends on what the store holds (:func:`spread_for`):
  examples lift in-scope texts more than out-of-scope ones, and a fitted body pushes the labels
  apart, so wrong-label scores fall while out-of-scope texts still land near some label.

Each spread sits in the middle of the range that met the goal on CLINC150 val (at least 90% of
in-scope texts kept, at least half of the ``oos`` texts caught): names-only and reviewed
stores with MiniLM and mpnet for ``DEFAULT_SPREAD``; the same with 2, 5 and 10 examples per
label for ``EXAMPLES_SPREAD``; stores fitted with the default settings on 2 and 5 examples per
label for ``FITTED_SPREAD`` (``benchmarks/default_threshold.py``, README). The default follows
the store's vectors: it is derived again after labels, examples or a fit change them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LabelsyncError
from . import examples
from .calibrate import Calibration, threshold_at_tpr

__all__ = [
    "DEFAULT_SPREAD",
    "EXAMPLES_SPREAD",
    "FITTED_SPREAD",
    "METHODS",
    "Threshold",
    "ThresholdMixin",
    "default_threshold",
    "spread_for",
]

DEFAULT_SPREAD = 1.75  # names and descriptions only
EXAMPLES_SPREAD = 2.25  # every label with examples (in between: by the share of labels)
FITTED_SPREAD = 3.0  # a fitted body
METHODS = ("default", "calibrated", "manual")


@dataclass(frozen=True)
class Threshold:
    """The threshold in use (score below it = out of scope), how it was set, and its details."""

    value: float
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for ``classify`` and ``store info``."""
        d = self.details
        if self.method == "default":
            how = (
                f"default, from the store: mean {d['mean']:.3f} + {d['spread']} sd {d['sd']:.3f} "
                f"of {d['n']} wrong-label scores of label names"
            )
        elif self.method == "calibrated":
            how = f"calibrated on {d.get('n_in_scope', '?')} in-scope"
            if d.get("n_oos"):
                how += f" and {d['n_oos']} out-of-scope"
            how += f" texts (TPR {d.get('tpr', float('nan')):.3f}"
            how += f", FPR {d['fpr']:.3f})" if d.get("fpr") is not None else ")"
        else:
            how = "set by hand"
        return f"OOS threshold {self.value:.4f} ({how})"

    def to_meta(self) -> dict[str, Any]:
        """The ``meta.json`` fields: ``threshold``, ``threshold_method`` and ``calibration``."""
        return {
            "threshold": self.value,
            "threshold_method": self.method,
            "calibration": self.details,
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Threshold | None:
        """The threshold a store saved; a store written before the default existed has a
        number when it was calibrated (with its calibration record) or set by hand."""
        value = meta.get("threshold")
        if value is None:
            return None
        method = meta.get("threshold_method") or (
            "calibrated" if meta.get("calibration") else "manual"
        )
        return cls(
            float(value), method if method in METHODS else "manual", meta.get("calibration") or {}
        )


def spread_for(fitted: bool, with_examples: float) -> float:
    """The spread of the default rule for a store (fitted or not, ``with_examples`` = the share
    of its labels that hold examples)."""
    if fitted:
        return FITTED_SPREAD
    return DEFAULT_SPREAD + (EXAMPLES_SPREAD - DEFAULT_SPREAD) * float(with_examples)


def default_threshold(name_scores: np.ndarray, spread: float = DEFAULT_SPREAD) -> Threshold | None:
    """The default threshold from ``[n_labels, n_labels]`` scores of each label's name (rows)
    against every label (columns, same order); None with fewer than 2 labels."""
    scores = np.asarray(name_scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1] or len(scores) < 2:
        return None
    wrong = scores[~np.eye(len(scores), dtype=bool)]
    mean, sd = float(wrong.mean()), float(wrong.std())
    details = {
        "rule": "mean + spread * sd of wrong-label scores of label names",
        "spread": spread,
        "mean": round(mean, 6),
        "sd": round(sd, 6),
        "n": int(wrong.size),
    }
    return Threshold(mean + spread * sd, "default", details)


class ThresholdMixin:
    """The out-of-scope threshold of a ``LabelStore``: the default, calibration, or by hand.

    The host provides ``vectors`` (``LabelVectors``), ``fitted``, ``score_vectors`` and
    ``scores``.
    """

    _threshold: Threshold | None = None  # calibrated or manual; None: the default
    _default: tuple[int, Threshold | None] | None = None  # (vectors version, the default)

    @property
    def threshold(self) -> float | None:
        """The out-of-scope threshold in use (see :attr:`threshold_info`)."""
        info = self.threshold_info
        return None if info is None else info.value

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        """A number sets it by hand; None goes back to the store's default."""
        self._threshold = None if value is None else Threshold(float(value), "manual")

    @property
    def threshold_info(self) -> Threshold | None:
        """The threshold, how it was set (default / calibrated / manual) and its details.

        The default is derived from the store's own vectors and follows every change to them;
        None for a store with fewer than 2 labels."""
        if self._threshold is not None:
            return self._threshold
        vectors = self.vectors
        if self._default is None or self._default[0] != vectors.version:
            names = vectors.name_vectors() if len(vectors) > 1 else np.zeros((0, 1), np.float32)
            scores = self.score_vectors(names) if len(names) else names
            share = np.mean([bool(e.examples) for e in vectors.entries]) if len(vectors) else 0
            spread = round(spread_for(self.fitted, share), 4)
            self._default = (vectors.version, default_threshold(scores, spread))
        return self._default[1]

    @property
    def calibration(self) -> dict | None:
        """How a calibrated threshold was chosen (None unless calibrated)."""
        info = self._threshold
        return info.details if info is not None and info.method == "calibrated" else None

    def calibrate(
        self,
        in_scope_texts: Sequence[str],
        oos_texts: Sequence[str] | None = None,
        target_tpr: float = 0.95,
    ) -> Calibration:
        """Set the OOS threshold so ``target_tpr`` of in-scope texts stay in scope."""
        in_scores = self.scores(in_scope_texts).max(axis=1)
        oos_scores = self.scores(oos_texts).max(axis=1) if oos_texts else None
        result = threshold_at_tpr(in_scores, oos_scores, target_tpr)
        self._threshold = Threshold(result.threshold, "calibrated", result.to_dict())
        return result

    def calibrate_from(self, path: str | Path, target_tpr: float = 0.95) -> Calibration:
        """``calibrate`` on a CSV/TSV with ``text,label``; ``oos``/``UNK`` rows are out of scope."""
        inside, outside = examples.split_scope(examples.labelled_rows(path))
        if not inside:
            raise LabelsyncError(f"{path}: no in-scope rows to calibrate on")
        return self.calibrate(inside, outside or None, target_tpr)

    def _set_threshold(self, threshold: Threshold | None, version: int) -> None:
        """A saved or carried-over threshold; a default one is kept for vectors ``version``."""
        explicit = threshold is not None and threshold.method != "default"
        self._threshold = threshold if explicit else None
        self._default = (version, threshold) if threshold is not None and not explicit else None
