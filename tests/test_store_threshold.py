"""The store's out-of-scope threshold without calibration data (real MiniLM, real FAISS)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli

from labelsync import Descriptions
from labelsync.store import Embedder, LabelStore
from labelsync.store.threshold import (
    DEFAULT_SPREAD,
    EXAMPLES_SPREAD,
    FITTED_SPREAD,
    Threshold,
    default_threshold,
    spread_for,
)

WEATHER = "What's the weather in paris tomorrow"
# our own MIntRec-style utterances, one per intent, that the default keeps in scope (others,
# e.g. "thank you so much for helping me with this" at 0.307 against 0.305, sit near it)
IN_SCOPE = {
    "hello everyone, nice to meet you": "Greet",
    "I'm so sorry, it was all my fault": "Apologise",
    "I have to leave now, see you tomorrow": "Leave",
}


@pytest.fixture(scope="module")
def mintrec(embedder_module) -> LabelStore:
    return LabelStore.build(Descriptions.reviewed("mintrec"), embedder=embedder_module)


@pytest.fixture(scope="module")
def embedder_module() -> Embedder:
    return Embedder()


def test_default_rule_is_mean_plus_spread_sd_of_wrong_label_scores():
    scores = np.array([[1.0, 0.2, 0.4], [0.1, 0.9, 0.3], [0.5, 0.0, 0.8]])
    wrong = np.array([0.2, 0.4, 0.1, 0.3, 0.5, 0.0])
    result = default_threshold(scores)
    assert result.method == "default" and result.details["n"] == 6
    assert result.value == pytest.approx(wrong.mean() + DEFAULT_SPREAD * wrong.std())
    assert default_threshold(np.ones((1, 1))) is None  # one label: nothing to compare with
    assert "default, from the store" in result.describe()
    meta = result.to_meta()
    assert Threshold.from_meta(meta) == result and Threshold.from_meta({"threshold": None}) is None
    # stores saved before the default: a calibration record says calibrated, else it was by hand
    old = {"threshold": 0.3, "calibration": {"tpr": 0.95}}
    assert Threshold.from_meta(old).method == "calibrated"
    assert Threshold.from_meta({"threshold": 0.3, "calibration": None}).method == "manual"
    assert spread_for(False, 0.0) == DEFAULT_SPREAD and spread_for(False, 1.0) == EXAMPLES_SPREAD
    assert spread_for(False, 0.5) == pytest.approx((DEFAULT_SPREAD + EXAMPLES_SPREAD) / 2)
    assert spread_for(True, 1.0) == FITTED_SPREAD


def test_uncalibrated_mintrec_store_flags_the_weather_question(mintrec, tmp_path):
    info = mintrec.threshold_info
    assert info.method == "default" and 0.0 < info.value < 1.0
    names = mintrec.vectors.name_vectors()
    assert info == default_threshold(mintrec.score_vectors(names))  # from the store itself
    weather, *kept = mintrec.classify([WEATHER, *IN_SCOPE])
    assert weather.in_scope is False and weather.oos_score < info.value == weather.threshold
    assert [(p.label, p.in_scope) for p in kept] == [(label, True) for label in IN_SCOPE.values()]

    mintrec.save(tmp_path / "s")
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    assert meta["threshold_method"] == "default" and meta["threshold"] == pytest.approx(info.value)
    assert meta["calibration"]["spread"] == DEFAULT_SPREAD
    loaded = LabelStore.load(tmp_path / "s", embedder=mintrec.embedder)
    assert loaded.threshold_info == info
    assert loaded.classify(WEATHER)[0].in_scope is False


def test_default_follows_the_labels_and_a_calibration_replaces_it(embedder_module):
    labels = ["Greet", "Apologise", "Leave", "Thank", "Joke", "Complain"]
    store = LabelStore.build(
        Descriptions.reviewed("mintrec").subset(labels), embedder=embedder_module
    )
    default = store.threshold_info
    store.remove("Joke")
    assert store.threshold_info.method == "default" and store.threshold_info != default
    store.add_examples({"Greet": ["hi there", "good morning all"]})  # 1 of 5 labels
    spread = store.threshold_info.details["spread"]
    assert spread == pytest.approx(DEFAULT_SPREAD + (EXAMPLES_SPREAD - DEFAULT_SPREAD) / 5)
    result = store.calibrate([*IN_SCOPE, "thanks a lot for the ride"], [WEATHER])
    assert store.threshold_info.method == "calibrated" and store.threshold == result.threshold
    assert store.calibration["n_oos"] == 1 and "calibrated on 4 in-scope" in (
        store.threshold_info.describe()
    )
    assert store.classify(WEATHER)[0].threshold == result.threshold
    store.threshold = 0.5
    assert store.threshold_info.method == "manual" and store.calibration is None
    store.threshold = None  # back to the default
    assert store.threshold_info.method == "default"
    assert LabelStore.build(["weather"], embedder=embedder_module).threshold is None


def test_classify_and_info_say_which_threshold(tmp_path, capsys):
    store = tmp_path / "mintrec"
    code, out, err = run_cli(capsys, "index", "--descriptions", "reviewed:mintrec", "--out", store)
    assert code == 0, err
    assert "OOS threshold" in out and "(default, from the store" in out
    code, out, _ = run_cli(capsys, "classify", "--store", store, WEATHER, "--json")
    row = json.loads(out)
    assert row["in_scope"] is False and row["threshold_method"] == "default"
    code, out, _ = run_cli(capsys, "classify", "--store", store, WEATHER)
    assert code == 0 and "default, from the store: mean" in out
    code, out, _ = run_cli(capsys, "store", "info", store)
    assert code == 0 and "OOS threshold" in out and "wrong-label scores" in out
