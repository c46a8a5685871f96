"""``labelsync train --task multi_label | regression`` -> ``evaluate`` -> ``predict`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import CLINC150, needs_clinc
from test_training_helpers import run_cli, single_thread, tiny_encoder  # noqa: F401

from labelsync.data.synthetic_tasks import write_mixclinc, write_mmsa
from labelsync.descriptions import Descriptions

LABELS = ["book_flight", "weather", "alarm", "play_music"]


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    options = {
        "encoder": tiny_encoder(),
        "lr": 1e-3,
        "max_text_len": 32,
        "k": 3,
        "progress": False,
        "model_options": {"ame_num_heads": 2},
    }
    path.write_text(yaml.safe_dump(options))
    return path


@needs_clinc
def test_multi_label_train_evaluate_predict(tmp_path, capsys, tiny_config):
    data = write_mixclinc(
        CLINC150, tmp_path / "mixclinc", LABELS, {"train": 24, "dev": 12, "test": 12}
    )
    Descriptions.reviewed("clinc150").subset(LABELS).to_yaml(tmp_path / "descriptions.yaml")
    run = tmp_path / "run"
    code, out, err = run_cli(
        capsys,
        "train",
        data,
        "--task",
        "multi_label",
        "--descriptions",
        tmp_path / "descriptions.yaml",
        "--config",
        tiny_config,
        "--epochs",
        1,
        "--cpu",
        "--out",
        run,
    )
    assert code == 0, err
    assert "micro_f1" in out and "hamming_loss" in out and f"run saved to {run}" in out
    code, out, err = run_cli(capsys, "evaluate", run, "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert {"micro_f1", "accuracy", "hamming_loss", "macro_f1"} <= set(metrics)
    code, out, err = run_cli(capsys, "predict", run, "--text", "set an alarm", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert isinstance(record["labels"], list) and set(record["labels"]) <= set(LABELS)
    code, out, _ = run_cli(capsys, "predict", run, "--text", "set an alarm")
    assert code == 0 and "labels: " in out
    code, out, err = run_cli(capsys, "evaluate", run, "--oos-detector", "msp")
    assert code == 1
    assert err.strip().endswith(
        "out-of-scope detection is for single-label runs only; this run is multi_label"
    )
    for command in ("evaluate", "predict"):  # kNN is single-label: refused before a bank is built
        args = ("--text", "set an alarm") if command == "predict" else ()
        code, _, err = run_cli(capsys, command, run, *args, "--inference", "knn")
        assert code == 1 and "knn inference is for single-label runs only" in err, err
    assert not list(run.glob("seed-*/knn"))


def test_regression_train_evaluate_predict_on_an_mmsa_pickle(tmp_path, capsys, tiny_config):
    folder = tmp_path / "MOSI"
    write_mmsa(folder / "aligned_50.pkl", {"train": 24, "dev": 12, "test": 12}, text_dim=8)
    base = ("train", "mosi", "--data-dir", folder, "--task", "regression", "--cpu")
    options = ("--config", tiny_config, "--epochs", 1)
    code, _, err = run_cli(capsys, *base, *options, "--out", tmp_path / "refused")
    assert code == 1 and "pass --allow-pickle" in err
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, *base, *options, "--allow-pickle", "--out", run)
    assert code == 0, err
    assert "mae" in out and "acc7" in out
    code, out, err = run_cli(capsys, "evaluate", run)
    assert code == 0, err
    assert "mae " in out and "acc2_non0 " in out and "corr " in out
    from_pickle = json.loads((run / "eval-test" / "metrics.json").read_text())["metrics"]
    np.save(tmp_path / "v.npy", np.full((5, 20), 0.5, dtype=np.float32))
    np.save(tmp_path / "a.npy", np.full((7, 5), 0.5, dtype=np.float32))
    code, out, err = run_cli(
        capsys, "predict", run, "--text", "so good", "--video", tmp_path / "v.npy", "--audio",
        tmp_path / "a.npy",
    )  # fmt: skip
    assert code == 0, err
    assert "sentiment: " in out
    code, _, err = run_cli(
        capsys, *base, *options, "--allow-pickle", "--task", "multi_label", "--out", tmp_path / "x"
    )
    assert code == 1 and "mosi has no label sets" in err
    # convert-features once, then no pickle is needed
    converted = tmp_path / "converted"
    converted.mkdir()
    code, out, err = run_cli(
        capsys, "convert-features", folder / "aligned_50.pkl",
        converted / "aligned_50.safetensors", "--allow-pickle",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(capsys, "evaluate", run, "--data-dir", converted, "--json")
    assert code == 0, err
    assert json.loads(out) == from_pickle  # the same rows and features, without pickle
