"""Out-of-scope detection on a real CLINC150 subset with MiniLM (1 thread, a few epochs):
every detector ranks OOS below in-scope, thresholds come from dev only, K+1 training, the CLI
(train --oos-mode class -> evaluate --oos-detector -> predict) and the known-ratio split."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from test_training_helpers import run_cli, single_thread  # noqa: F401 - fixture

CLINC150 = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clinc150" / "data_full.json"
)
LABELS = ["book_flight", "weather", "alarm", "transfer", "translate"]
PER_LABEL = {"train": 20, "val": 10, "test": 10}
OOS_ROWS = {"train": 30, "val": 20, "test": 20}
SCORE_DETECTORS = ["msp", "maxlogit", "energy", "doc", "desc", "knn"]
TRAIN_OPTIONS = dict(
    encoder="minilm", epochs=3, learning_rate=1e-4, batch_size=16, cpu=True, progress=False
)

pytestmark = pytest.mark.skipif(
    not CLINC150.is_file(), reason=f"CLINC150 not found at {CLINC150} (shared data folder absent)"
)


@pytest.fixture(scope="module")
def clinc(tmp_path_factory) -> Path:
    """``data_full.json`` cut to ``LABELS`` + the first OOS rows of each split."""
    data = json.loads(CLINC150.read_text(encoding="utf-8"))
    subset = {}
    for split, count in PER_LABEL.items():
        subset[split] = [
            pair for label in LABELS for pair in [q for q in data[split] if q[1] == label][:count]
        ]
        subset[f"oos_{split}"] = data[f"oos_{split}"][: OOS_ROWS[split]]
    folder = tmp_path_factory.mktemp("clinc")
    (folder / "data_full.json").write_text(json.dumps(subset), encoding="utf-8")
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    return folder


def _config(clinc: Path, **changes):
    from labelsync.training import TrainConfig

    options = dict(
        dataset="clinc150",
        data_dir=str(clinc),
        labels=str(clinc / "labels.txt"),
        reviewed_descriptions=True,
        **TRAIN_OPTIONS,
    )
    return TrainConfig(**{**options, **changes})


@pytest.fixture(scope="module")
def plain_run(clinc, tmp_path_factory) -> Path:
    """In-scope training (OOS rows dropped), the usual protocol for score detectors."""
    from labelsync.training import Trainer

    run = tmp_path_factory.mktemp("runs") / "plain"
    Trainer(_config(clinc), run).train()
    return run


@pytest.fixture(scope="module")
def k1_run(clinc, tmp_path_factory) -> Path:
    """K+1 training through the CLI."""
    from labelsync.cli import main

    run = tmp_path_factory.mktemp("runs") / "k1"
    config = run.parent / "train.yaml"
    config.write_text(f"labels: {clinc / 'labels.txt'}\nprogress: false\n", encoding="utf-8")
    main(
        ["train", "clinc150", "-d", str(clinc), "--config", str(config), "--oos-mode", "class"]
        + ["--reviewed-descriptions", "--epochs", "3", "--lr", "1e-4", "--batch-size", "16"]
        + ["--cpu", "--out", str(run)]
    )
    return run


def _raw_dataset(clinc: Path):
    from labelsync.data import load_dataset

    return load_dataset("clinc150", clinc, features=None, labels=clinc / "labels.txt")


def test_every_score_detector_ranks_oos_below_in_scope(plain_run, clinc):
    from labelsync.ood.evaluate import evaluate_open_set
    from labelsync.training import Evaluator

    trainer = Evaluator(plain_run)
    report = evaluate_open_set(trainer, SCORE_DETECTORS, "test", out_dir=plain_run / "ood-eval")
    assert report["training"] == "plain" and report["oos_samples"] == OOS_ROWS["test"]
    for name in SCORE_DETECTORS:
        values = report["detectors"][name]
        assert values["auroc"] > 0.75, (name, values["auroc"])
        scores, gold = np.asarray(values["scores"]), np.asarray(report["gold"])
        assert scores[gold < len(LABELS)].mean() > scores[gold == len(LABELS)].mean(), name
        assert (plain_run / "seed-0" / "ood" / f"{name}.json").is_file()
    assert (plain_run / "seed-0" / "ood" / "knn.safetensors").is_file()
    for name in ("metrics.json", "roc.png", "hist-energy.png", "confusion-doc.png"):
        assert (plain_run / "ood-eval" / name).is_file()
    assert report["closed_set"]["accuracy"] > 0.7  # chance 0.2


def test_thresholds_come_from_dev_never_test(plain_run, clinc, caplog):
    from datasets import DatasetDict

    from labelsync.ood.evaluate import evaluate_open_set
    from labelsync.training import Evaluator

    trainer = Evaluator(plain_run)
    raw = _raw_dataset(clinc)
    first = evaluate_open_set(trainer, ["msp", "energy"], "test", dataset=raw)
    # another test split: only its out-of-scope rows and two in-scope rows, reversed
    test = raw["test"]
    keep = np.r_[np.flatnonzero(test["is_oos"]), [0, 1]][::-1]
    changed = dataclasses.replace(
        raw, splits=DatasetDict({**raw.splits, "test": test.select(keep)})
    )
    second = evaluate_open_set(trainer, ["msp", "energy"], "test", dataset=changed)
    assert second["samples"] != first["samples"]
    for name in ("msp", "energy"):
        a, b = first["detectors"][name], second["detectors"][name]
        assert a["threshold"]["threshold"] == b["threshold"]["threshold"]
        assert a["threshold"]["split"] == "dev" and a["threshold"]["n_dev_oos"] == 20
    # a dev split without out-of-scope rows: a quantile threshold and a warning, not an error
    dev = raw["dev"]
    no_oos = dataclasses.replace(
        raw,
        splits=DatasetDict(
            {**raw.splits, "dev": dev.select(np.flatnonzero(~np.asarray(dev["is_oos"])))}
        ),
    )
    with caplog.at_level(logging.WARNING):
        fallback = evaluate_open_set(trainer, ["msp"], "test", dataset=no_oos)
    assert fallback["detectors"]["msp"]["threshold"]["fallback"] is True
    assert "no out-of-scope rows" in caplog.text


def test_k_plus_1_cli_train_evaluate_predict(k1_run, plain_run, capsys):
    code, out, err = run_cli(capsys, "evaluate", k1_run, "--oos-detector", "k+1,msp,desc", "--json")
    assert code == 0, err
    result = json.loads(out)
    for name in ("k+1", "msp", "desc"):
        assert result["detectors"][name]["auroc"] > 0.75, (name, result["detectors"][name])
    assert result["detectors"]["k+1"]["threshold"]["method"] == "native"
    assert result["detectors"]["k+1"]["oos_recall"] > 0.5
    code, out, err = run_cli(capsys, "evaluate", k1_run, "--oos-detector", "energy")
    assert code == 0 and "energy" in out and "AUROC" in out and "thresholds from dev" in out
    code, out, err = run_cli(
        capsys, "predict", k1_run, "--oos-detector", "k+1", "--json", "-t", "wake me up at 7am"
    )
    assert code == 0, err
    prediction = json.loads(out)
    assert prediction["label"] == "alarm" and prediction["in_scope"] is True
    # bad input: one line each, exit 1
    code, out, err = run_cli(capsys, "evaluate", plain_run, "--oos-detector", "k+1")
    assert code == 1 and "--oos-mode class" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(capsys, "evaluate", k1_run, "--oos-detector", "odin")
    assert code == 1 and "unknown out-of-scope detector 'odin'" in err
    code, out, err = run_cli(capsys, "predict", k1_run, "--oos-detector", "knn", "-t", "x")
    assert code == 1 and "labelsync evaluate" in err


def test_known_ratio_split_is_seeded_and_makes_unknown_classes_oos(clinc):
    from labelsync.training.inputs import load_training_data

    first, _ = load_training_data(_config(clinc, known_ratio=0.6, seeds=(1,)), open_set=True)
    again, _ = load_training_data(_config(clinc, known_ratio=0.6, seeds=(1,)), open_set=True)
    other, _ = load_training_data(_config(clinc, known_ratio=0.6, seeds=(2,)), open_set=True)
    known = first.label_names()
    assert len(known) == 3 and known == again.label_names()
    assert first["dev"]["label_id"] == again["dev"]["label_id"]
    assert known != other.label_names()  # seed 2 draws another 3 of the 5
    assert set(first["train"]["label"]) == set(known)  # unknown classes and OOS leave train
    dev_labels = np.asarray(first["dev"]["label"])
    dev_oos = np.asarray(first["dev"]["is_oos"])
    assert set(dev_labels[~dev_oos]) == set(known)
    assert np.all(np.asarray(first["dev"]["label_id"])[dev_oos] == 3)
    assert dev_oos.sum() == 2 * PER_LABEL["val"] + OOS_ROWS["val"]  # 2 unknown classes + OOS
