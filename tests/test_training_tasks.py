"""Multi-label and regression runs: they learn, pick thresholds on dev, reload, evaluate, predict.

MixCLINC (two CLINC150 utterances of different intents joined by "and") trains the real MiniLM
on real text; the regression run is the tiny BERT on a synthetic MMSA pickle whose sentiment is
a known function of the video features.
"""

from __future__ import annotations

import json
import pickle
from collections import Counter

import numpy as np
import pytest
from conftest import CLINC150, needs_clinc
from test_training_helpers import single_thread, tiny_encoder  # noqa: F401 - fixture

from labelsync.data.synthetic_tasks import MIXCLINC_LABELS, write_mixclinc, write_mmsa
from labelsync.descriptions import Descriptions
from labelsync.predict import Predictor
from labelsync.training import TrainConfig, Trainer
from labelsync.training.evaluation import Evaluator
from labelsync.training.task_metrics import multilabel_metrics, tune_thresholds
from labelsync.training.tasks import sigmoid

LABELS = MIXCLINC_LABELS
MIX_SIZES = {"train": 96, "dev": 50, "test": 80}


def best_trivial_micro_f1(train_sets: list[list[str]], test_sets: list[list[str]]) -> float:
    """The best micro-F1 of answering every test row with the k most frequent train labels."""
    order = [name for name, _ in Counter(n for s in train_sets for n in s).most_common()]
    gold = np.array([[name in s for name in LABELS] for s in test_sets])
    scores = []
    for k in range(1, len(order) + 1):
        predicted = np.tile([name in order[:k] for name in LABELS], (len(gold), 1))
        scores.append(multilabel_metrics(gold, predicted)["micro_f1"])
    return max(scores)


@needs_clinc
def test_mixclinc_multi_label_minilm_beats_the_majority_baseline(tmp_path):
    data = write_mixclinc(CLINC150, tmp_path / "mixclinc", LABELS, MIX_SIZES, seed=0)
    Descriptions.reviewed("clinc150").subset(LABELS).to_yaml(tmp_path / "descriptions.yaml")
    config = TrainConfig(
        dataset=str(data),
        task="multi_label",
        descriptions=str(tmp_path / "descriptions.yaml"),
        encoder="minilm",
        epochs=2,
        learning_rate=2e-4,
        max_text_len=48,
        cpu=True,
        progress=False,
    )
    assert config.metric == "micro_f1"  # the task's dev metric
    run = tmp_path / "run"
    summary = Trainer(config, run).train()
    test = summary["test"]
    sets = {s: [r["labels"].split("|") for r in _rows(data / f"{s}.csv")] for s in MIX_SIZES}
    baseline = best_trivial_micro_f1(sets["train"], sets["test"])
    assert test["micro_f1"]["mean"] >= max(0.6, baseline + 0.3), (test, baseline)
    assert test["hamming_loss"]["mean"] < 0.1
    assert "| micro_f1 |" in (run / "results.md").read_text()

    # the thresholds are chosen on dev only: the best checkpoint's dev outputs give them back
    evaluator = Evaluator(run)
    seed, model, tokenizer = evaluator.checkpoint()
    dev = evaluator.outputs(model, tokenizer, evaluator.data(), ["dev"], features=False)["dev"]
    chosen = tune_thresholds(sigmoid(dev.logits), dev.extra["targets"])
    metrics = json.loads((run / "seed-0" / "metrics.json").read_text())
    assert model.config.thresholds == chosen == list(metrics["thresholds"].values())

    # evaluate reproduces the test numbers from the saved run; predict lists labels over threshold
    report = evaluator.evaluate("test")
    assert report["metrics"] == metrics["test"]
    assert [row["label"] for row in report["per_class"]] == LABELS
    assert (run / "eval-test" / "per_label.csv").is_file()
    texts = ["what's the weather in paris and set an alarm for 6 am", "play some jazz music"]
    predictions = Predictor.from_run(run).predict(texts)
    assert set(predictions[0].labels) == {"weather", "alarm"}
    assert predictions[1].labels == ["play_music"] and predictions[1].label == "play_music"
    assert predictions[0].to_dict()["labels"] == predictions[0].labels


def _rows(path):
    import csv

    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def mosi(tmp_path_factory):
    """A synthetic CMU-MOSI folder (MMSA aligned pickle, tiny text features)."""
    folder = tmp_path_factory.mktemp("MOSI")
    write_mmsa(folder / "aligned_50.pkl", {"train": 96, "dev": 32, "test": 48}, text_dim=8, seed=1)
    return folder


def regression_config(mosi, **overrides) -> TrainConfig:
    options = dict(
        dataset="mosi",
        data_dir=str(mosi),
        allow_pickle=True,
        task="regression",
        encoder=tiny_encoder(),
        epochs=6,
        learning_rate=1e-3,
        max_text_len=32,
        k=3,
        cpu=True,
        progress=False,
        model_options={"ame_num_heads": 2},
    )
    return TrainConfig(**(options | overrides))


def test_regression_learns_a_known_function_of_the_video(tmp_path, mosi):
    config = regression_config(mosi)
    assert config.metric == "mae"
    trainer = Trainer(config, tmp_path / "run")
    assert trainer.label_names == ["sentiment"] and len(trainer.descriptions) == 0
    summary = trainer.train()
    with open(mosi / "aligned_50.pkl", "rb") as handle:
        raw = pickle.load(handle)
    gold = raw["test"]["regression_labels"]
    predict_the_mean = float(np.abs(gold - raw["train"]["regression_labels"].mean()).mean())
    mae = summary["test"]["mae"]["mean"]
    assert mae < 0.5 * predict_the_mean, (summary["test"], predict_the_mean)
    assert summary["test"]["corr"]["mean"] > 0.8
    metrics = json.loads((tmp_path / "run" / "seed-0" / "metrics.json").read_text())
    dev_maes = [row["dev"]["mae"] for row in metrics["history"]]
    assert metrics["best_dev_metric"] == min(dev_maes)  # lower is better
    assert "| mae | " in (tmp_path / "run" / "results.md").read_text()

    # the saved run: evaluate gives the same test numbers, predict the model's scores
    evaluator = Evaluator(tmp_path / "run")
    report = evaluator.evaluate("test")
    assert report["metrics"] == metrics["test"] and report["per_class"] == []
    seed, model, tokenizer = evaluator.checkpoint()
    test = evaluator.outputs(model, tokenizer, evaluator.data(), ["test"], features=False)["test"]
    data = evaluator.data()
    keys, texts = data["test"]["key"][:4], data["test"]["text"][:4]
    video = [data.feature_stores["video"][k] for k in keys]
    audio = [data.feature_stores["audio"][k] for k in keys]
    predictions = Predictor.from_run(tmp_path / "run").predict(texts, video=video, audio=audio)
    assert [p.label for p in predictions] == ["sentiment"] * 4
    assert np.allclose([p.value for p in predictions], test.logits[:4, 0], atol=1e-4)
    assert predictions[0].to_dict()["value"] == pytest.approx(predictions[0].value, abs=1e-6)
    # out-of-scope detection stays single-label, in one line wherever it is asked for
    from labelsync.errors import LabelsyncError
    from labelsync.ood.evaluate import evaluate_open_set

    refused = "out-of-scope detection is for single-label runs only; this run is regression"
    with pytest.raises(LabelsyncError, match=refused):
        evaluate_open_set(evaluator, ["msp"])
    with pytest.raises(LabelsyncError, match=refused):
        Predictor.from_run(tmp_path / "run", oos_detector="msp")


def test_task_options_and_data_mismatches_are_one_line_errors(tmp_path, mosi):
    from labelsync.errors import ConfigError, LabelsyncError

    with pytest.raises(ConfigError, match="out-of-scope detection is for single-label tasks"):
        regression_config(mosi, oos_mode="class")
    with pytest.raises(ConfigError, match="metric must be one of mae, corr"):
        regression_config(mosi, metric="macro_f1")
    with pytest.raises(ConfigError, match="threshold is for multi_label tasks"):
        regression_config(mosi, threshold=0.4)
    with pytest.raises(LabelsyncError, match="mosi has no label sets: multi_label needs"):
        Trainer(regression_config(mosi, task="multi_label"), tmp_path / "a")
    with pytest.raises(LabelsyncError, match="mosi carries scores, not classes: train it with"):
        Trainer(regression_config(mosi, task="single_label"), tmp_path / "b")
