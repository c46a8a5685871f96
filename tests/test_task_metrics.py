"""Multi-label and regression metrics against hand computations and scikit-learn / SciPy."""

from __future__ import annotations

import numpy as np
import pytest

from labelsync.training.task_metrics import (
    THRESHOLD_GRID,
    is_better,
    multilabel_metrics,
    per_label_metrics,
    regression_metrics,
    tune_thresholds,
    worst_value,
)

GOLD = [[1, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 0]]
PRED = [[1, 0, 0], [0, 1, 1], [0, 0, 0], [0, 1, 0]]


def test_multi_label_metrics_by_hand():
    got = multilabel_metrics(GOLD, PRED)
    # Jaccard per sample: 1/2, 1/2, 1 (nothing gold, nothing predicted), 1/2
    assert got["accuracy"] == pytest.approx(0.625)
    assert got["hamming_loss"] == pytest.approx(3 / 12)  # 3 wrong of 12 decisions
    # micro: tp 3, fp 1, fn 2
    assert got["micro_precision"] == pytest.approx(3 / 4)
    assert got["micro_recall"] == pytest.approx(3 / 5)
    assert got["micro_f1"] == pytest.approx(6 / 9, abs=1e-6)
    # per label F1: 2/3, 1, 0
    assert got["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3, abs=1e-6)
    assert got["subset_accuracy"] == pytest.approx(1 / 4)
    rows = per_label_metrics(GOLD, PRED, ["a", "b", "c"])
    assert [r["f1"] for r in rows] == [0.6667, 1.0, 0.0] and [r["support"] for r in rows] == [
        2,
        2,
        1,
    ]


def test_regression_metrics_by_hand_and_against_scipy_and_sklearn():
    from scipy.stats import pearsonr
    from sklearn.metrics import f1_score

    gold = np.array([2.5, -1.0, 0.0, 0.4, -2.6, 3.4])
    pred = np.array([1.5, -0.5, 0.3, -0.2, -2.5, 2.6])
    got = regression_metrics(gold, pred)
    assert got["mae"] == pytest.approx(3.3 / 6)
    assert got["corr"] == pytest.approx(pearsonr(gold, pred)[0], abs=1e-6)
    # negative vs non-negative: only -0.2 (gold 0.4) is on the wrong side
    assert got["acc2_has0"] == pytest.approx(5 / 6)
    # class >= 0: F1 6/7 (support 4); class < 0: F1 4/5 (support 2); support-weighted
    assert got["f1_has0"] == pytest.approx((4 * 6 / 7 + 2 * 4 / 5) / 6, abs=1e-6)
    assert got["f1_has0"] == pytest.approx(f1_score(gold >= 0, pred >= 0, average="weighted"))
    # negative vs positive without the gold zero: 4 of 5, both classes F1 4/5
    assert got["acc2_non0"] == pytest.approx(4 / 5) and got["f1_non0"] == pytest.approx(0.8)
    # seven classes: gold 2, -1, 0, 0, -3, 3 (2.5 rounds to even 2, 3.4 clips to 3);
    # predicted 2, -0, 0, -0, -2, 3 (1.5 -> 2, -2.5 -> -2)
    assert got["acc7"] == pytest.approx(4 / 6)
    assert regression_metrics([1.0, 2.0], [0.5, 0.5])["corr"] == 0.0  # constant prediction


def test_thresholds_maximise_each_labels_f1_on_the_given_split():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    targets = rng.random((60, 4)) < 0.4
    targets[:, 3] = False  # a label with no positives: any cut scores 0 -> the one nearest 0.5
    probs = np.clip(targets * 0.35 + rng.random((60, 4)) * 0.6, 0, 1)
    chosen = tune_thresholds(probs, targets)
    assert chosen[3] == 0.5
    for k in range(3):
        scores = [
            f1_score(targets[:, k], probs[:, k] >= t, zero_division=0) for t in THRESHOLD_GRID
        ]
        assert f1_score(targets[:, k], probs[:, k] >= chosen[k]) == pytest.approx(max(scores))


def test_lower_is_better_for_mae_and_hamming_loss():
    assert is_better("mae", 0.4, 0.5) and not is_better("mae", 0.6, 0.5)
    assert is_better("micro_f1", 0.6, 0.5) and is_better(
        "hamming_loss", 0.1, worst_value("hamming_loss")
    )
