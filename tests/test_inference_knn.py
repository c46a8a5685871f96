"""G2SAM kNN inference (seed 001, eqs. 4-5, K classes) on a real 10-label CLINC150 subset with
MiniLM: FAISS kNN equals brute-force numpy kNN, ``interpolate`` at weight 0 is the softmax, the
bank is saved with the run, reused, and rebuilt for another checkpoint; the CLI end to end."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import CLINC150, needs_clinc, run_cli
from test_training_helpers import single_thread  # noqa: F401 - fixture

pytestmark = needs_clinc

LABELS = [
    "book_flight", "weather", "alarm", "transfer", "translate",
    "timer", "calories", "tell_joke", "restaurant_reservation", "pay_bill",
]  # fmt: skip
PER_LABEL = {"train": 12, "val": 5, "test": 5}
K, TAU = 5, 0.1


@pytest.fixture(scope="module")
def clinc10(tmp_path_factory) -> Path:
    """``data_full.json`` cut to ``LABELS`` (a few OOS rows, which in-scope training drops)."""
    data = json.loads(CLINC150.read_text(encoding="utf-8"))
    subset = {}
    for split, count in PER_LABEL.items():
        rows = [[q for q in data[split] if q[1] == label][:count] for label in LABELS]
        subset[split] = [pair for chunk in rows for pair in chunk]
        subset[f"oos_{split}"] = data[f"oos_{split}"][:3]
    folder = tmp_path_factory.mktemp("clinc10")
    (folder / "data_full.json").write_text(json.dumps(subset), encoding="utf-8")
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def run(clinc10, tmp_path_factory) -> Path:
    """A 1-epoch MiniLM run (the default A-MESS parts: the bank holds [pool(E_f), T_f])."""
    from labelsync.training import TrainConfig, Trainer

    config = TrainConfig(
        dataset="clinc150", data_dir=str(clinc10), labels=str(clinc10 / "labels.txt"),
        reviewed_descriptions=True, encoder="minilm", epochs=1, learning_rate=1e-4,
        batch_size=16, cpu=True, progress=False,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("runs") / "clinc10"
    Trainer(config, folder).train()
    return folder


def brute_force_knn(bank: np.ndarray, labels: np.ndarray, queries: np.ndarray, k: int, tau: float):
    """Eq. 4 in numpy: squared distances of normalised vectors, the k nearest, exp weights."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    bank, queries = unit(bank.astype(np.float64)), unit(queries.astype(np.float64))
    distances = ((queries[:, None, :] - bank[None, :, :]) ** 2).sum(-1)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
    d = np.take_along_axis(distances, nearest, axis=1)
    weights = np.exp(-(d - d.min(axis=1, keepdims=True)) / tau)
    weights /= weights.sum(axis=1, keepdims=True)
    probs = np.zeros((len(queries), len(LABELS)))
    for row in range(len(queries)):
        for j, i in enumerate(nearest[row]):
            probs[row, labels[i]] += weights[row, j]
    return probs


def test_knn_matches_brute_force_numpy(run):
    from labelsync.inference import INFERENCE_MODES, KnnSettings
    from labelsync.training import Evaluator

    evaluator = Evaluator(run)
    seed, model, tokenizer = evaluator.checkpoint()
    train = evaluator.outputs(model, tokenizer, evaluator.data(), ["train"], features=True)
    train = train["train"]
    settings = KnnSettings(k=K, tau=TAU)
    state, found = evaluator.knn_state(
        "knn", seed, settings, loaded=(model, tokenizer), splits=("test",)
    )
    test = found["test"]
    assert len(state.bank) == len(LABELS) * PER_LABEL["train"]
    assert state.bank.meta["representation"] == "features"
    got = INFERENCE_MODES["knn"].probabilities(test.logits, test.extra["features"], state)
    expected = brute_force_knn(
        train.extra["features"], train.label_id, test.extra["features"], K, TAU
    )
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.array_equal(got.argmax(1), expected.argmax(1))
    assert np.allclose(got.sum(1), 1.0)
    assert np.mean(got.argmax(1) == test.label_id) > 0.6  # chance: 0.1


def test_interpolate_at_weight_zero_is_softmax_and_the_weight_comes_from_dev(run):
    from labelsync.inference import INFERENCE_MODES, KnnSettings, KnnState
    from labelsync.inference.modes import choose_weight, softmax_probabilities
    from labelsync.training import Evaluator

    evaluator = Evaluator(run)
    settings = KnnSettings(k=K, tau=TAU)
    state, found = evaluator.knn_state("interpolate", None, settings, splits=("dev", "test"))
    test, dev = found["test"], found["dev"]
    mode = INFERENCE_MODES["interpolate"]
    at_zero = KnnState(state.bank, settings, weight=0.0)
    softmax = INFERENCE_MODES["softmax"].probabilities(test.logits)
    assert np.array_equal(mode.probabilities(test.logits, test.extra["features"], at_zero), softmax)
    at_one = KnnState(state.bank, settings, weight=1.0)
    knn = INFERENCE_MODES["knn"].probabilities(test.logits, test.extra["features"], state)
    assert np.array_equal(mode.probabilities(test.logits, test.extra["features"], at_one), knn)
    # the weight: the best dev accuracy on the grid, saved with the bank for this k and tau
    dev_knn = state.bank.probabilities(dev.extra["features"], K, TAU)
    weight, scores = choose_weight(dev.logits, dev_knn, dev.label_id)
    assert state.weight == weight and 0.0 <= weight <= 1.0
    best = max(scores.values())
    assert scores[f"{weight:g}"] == best and all(
        float(w) >= weight for w, s in scores.items() if s == best
    )
    assert np.mean(softmax_probabilities(dev.logits).argmax(1) == dev.label_id) <= best
    saved = json.loads((run / "seed-0" / "knn" / "bank.json").read_text())
    assert saved["interpolation"] == {"k": K, "tau": TAU, "weight": weight, "dev_accuracy": scores}


def test_bank_survives_save_load_and_is_rebuilt_for_another_checkpoint(run, tmp_path, caplog):
    import torch

    from labelsync.inference import BankError, FeatureBank, KnnSettings
    from labelsync.inference.bank import file_sha256
    from labelsync.store import index as faiss_index
    from labelsync.training import Evaluator, load_checkpoint

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "seed-0" / "knn", ignore_errors=True)
    evaluator, settings = Evaluator(copy), KnnSettings(k=K, tau=TAU)
    with caplog.at_level(logging.INFO, logger="labelsync.training.evaluation"):
        state, found = evaluator.knn_state("knn", 0, settings, splits=("test",))
    assert "built the kNN bank" in caplog.text
    folder = copy / "seed-0" / "knn"
    assert sorted(p.name for p in folder.iterdir()) == [
        "bank.json", "index.faiss", "labels.safetensors",
    ]  # fmt: skip
    checkpoint = file_sha256(copy / "seed-0" / "best" / "model.safetensors")
    assert state.bank.checkpoint == checkpoint

    # save -> load: the same rows, labels and probabilities
    loaded = FeatureBank.load(folder, checkpoint)
    queries = found["test"].extra["features"]
    assert np.array_equal(loaded.labels, state.bank.labels)
    assert np.array_equal(
        faiss_index.vectors_of(loaded.index)[1], faiss_index.vectors_of(state.bank.index)[1]
    )
    assert np.array_equal(
        loaded.probabilities(queries, K, TAU), state.bank.probabilities(queries, K, TAU)
    )
    with pytest.raises(BankError, match="another checkpoint"):
        FeatureBank.load(folder, "0" * 64)

    # a second use reuses the saved bank: nothing is built, no training split is run
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="labelsync.training.evaluation"):
        again, _ = evaluator.knn_state("knn", 0, settings)
    assert "built the kNN bank" not in caplog.text and again.bank.checkpoint == checkpoint

    # an edited file is never used: the bank is rebuilt
    (folder / "labels.safetensors").write_bytes(b"broken")
    with pytest.raises(BankError, match="labels.safetensors: missing or changed"):
        FeatureBank.load(folder, checkpoint)

    # another checkpoint in the run: the bank is rebuilt from its features
    model, tokenizer = load_checkpoint(copy / "seed-0" / "best")
    with torch.no_grad():
        model.classifier[0].weight.mul_(0.5)  # the LayerNorm before the classifier
        model.ss_head.mlp[-1].weight.mul_(2.0)  # T_f, a part of the bank's vectors
    model.save_pretrained(copy / "seed-0" / "best", tokenizer=tokenizer)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="labelsync.training.evaluation"):
        rebuilt, _ = evaluator.knn_state("knn", 0, settings)
    assert "built the kNN bank" in caplog.text
    new = file_sha256(copy / "seed-0" / "best" / "model.safetensors")
    assert new != checkpoint and rebuilt.bank.checkpoint == new
    assert json.loads((folder / "bank.json").read_text())["checkpoint_sha256"] == new
    old_vectors = faiss_index.vectors_of(state.bank.index)[1]
    assert not np.allclose(faiss_index.vectors_of(rebuilt.bank.index)[1], old_vectors)


def test_cli_evaluate_and_predict_with_knn(run, capsys):
    code, out, err = run_cli(capsys, "evaluate", run, "--inference", "knn", "--knn-k", K, "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["accuracy"] > 0.6
    report = json.loads((run / "eval-test-knn" / "metrics.json").read_text())
    assert report["inference"]["mode"] == "knn" and report["inference"]["k"] == K
    assert report["inference"]["bank_rows"] == len(LABELS) * PER_LABEL["train"]
    assert report["metrics"] == metrics
    code, out, err = run_cli(capsys, "evaluate", run, "--inference", "interpolate", "--knn-k", K)
    assert code == 0, err
    assert "interpolate inference: k 5, tau 0.1, weight" in out and "(dev)" in out
    code, out, err = run_cli(
        capsys,
        "predict",
        run,
        "--inference",
        "knn",
        "--json",
        "-t",
        "will it rain in boston tomorrow",
    )
    assert code == 0, err
    prediction = json.loads(out)
    assert prediction["label"] == "weather" and 0 < prediction["score"] <= 1
    # bad usage: an unknown mode (exit 1, one line), knn with an out-of-scope detector (exit 2)
    code, out, err = run_cli(capsys, "evaluate", run, "--inference", "nearest")
    assert code == 1 and "unknown inference mode 'nearest'" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = run_cli(capsys, "evaluate", run, "--inference", "knn", "--oos-detector", "msp")
    assert code == 2 and "--inference" in err
