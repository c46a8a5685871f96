"""``labelsync train`` -> ``evaluate`` -> ``predict`` end to end, and each bad input (exit 1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from test_training_helpers import run_cli, single_thread, text_mintrec, tiny_encoder  # noqa: F401

from labelsync.data.synthetic import write_mintrec2


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    """The tiny-run options as a --config YAML (the CLI overrides some of them)."""
    path = tmp_path_factory.mktemp("config") / "train.yaml"
    options = {
        "encoder": tiny_encoder(),
        "epochs": 5,
        "lr": 1e-3,
        "max_text_len": 32,
        "k": 3,
        "progress": False,
        "model_options": {"ame_num_heads": 2},
    }
    path.write_text(yaml.safe_dump(options))
    return path


def test_train_evaluate_predict_end_to_end(tmp_path, capsys, config_file):
    run = tmp_path / "run"
    code, out, err = run_cli(
        capsys,
        "train",
        "mintrec",
        "--data-dir",
        text_mintrec(),
        "--config",
        config_file,
        "--reviewed-descriptions",
        "--epochs",
        2,
        "--seeds",
        0,
        1,
        "--cpu",
        "--out",
        run,
    )
    assert code == 0, err
    assert "2 seed(s), mean ± std" in out and f"run saved to {run}" in out
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["epochs"] == 2 and saved["seeds"] == [0, 1] and saved["learning_rate"] == 1e-3
    assert saved["reviewed_descriptions"] is True
    summary = json.loads((run / "results.json").read_text())
    assert summary["seeds"] == [0, 1] and len(summary["test"]["macro_f1"]["values"]) == 2

    code, out, err = run_cli(capsys, "evaluate", run, "--split", "test")
    assert code == 0, err
    report = json.loads((run / "eval-test/metrics.json").read_text())
    metrics = report["metrics"]
    assert set(metrics) == {
        "accuracy",
        "macro_f1",
        "macro_precision",
        "macro_recall",
        "weighted_f1",
        "weighted_precision",
    }
    best = max(
        (0, 1),
        key=lambda s: json.loads((run / f"seed-{s}/metrics.json").read_text())["best_dev_metric"],
    )
    test_at_best = json.loads((run / f"seed-{best}/metrics.json").read_text())["test"]
    assert report["seed"] == best and metrics == test_at_best  # same checkpoint, same numbers
    assert sum(map(sum, report["confusion"])) == report["samples"] == 20
    assert f"accuracy {metrics['accuracy']:.4f}" in out and "Complain" in out
    for name in ("confusion_matrix.png", "per_class.csv", "per_class.md"):
        assert (run / "eval-test" / name).stat().st_size > 0
    csv_rows = (run / "eval-test/per_class.csv").read_text().splitlines()
    assert csv_rows[0] == "label,precision,recall,f1,support" and len(csv_rows) == 21

    code, out, err = run_cli(
        capsys,
        "predict",
        run,
        "--text",
        "Sorry, I never wanted this.",
        "--text",
        "Thanks, great job.",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "text: Sorry, I never wanted this." and lines[1].startswith("label: ")
    assert lines[2].startswith("top-3: ") and lines[2].count("|") == 2 and len(lines) == 6
    code, out, _ = run_cli(capsys, "predict", run, "--text", "Thanks, great job.", "--json")
    prediction = json.loads(out)
    scores = [entry["score"] for entry in prediction["top_k"]]
    assert scores == sorted(scores, reverse=True) and prediction["score"] == scores[0]
    assert prediction["label"] == prediction["top_k"][0]["label"] and 0 < sum(scores) <= 1

    # bad inputs on this run: one line each, exit 1
    code, _, err = run_cli(capsys, "train", "mintrec", "--out", run, "--resume")
    assert code == 1 and "is finished: nothing to resume" in err and len(err.splitlines()) == 1
    m2 = write_mintrec2(tmp_path / "m2", {"train": 30, "dev": 30, "test": 30})
    code, _, err = run_cli(capsys, "evaluate", run, "--dataset", "mintrec2", "--data-dir", m2)
    assert code == 1 and "another label set" in err and len(err.splitlines()) == 1
    code, _, err = run_cli(capsys, "predict", run, "--text", "hi", "--video", tmp_path / "v.npy")
    assert code == 1 and "trained without video" in err
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / f"seed-{best}/best/model.safetensors").unlink()
    code, _, err = run_cli(capsys, "predict", broken, "--text", "hi")
    assert code == 1 and "missing model.safetensors" in err and len(err.splitlines()) == 1
    (broken / "run.json").unlink()
    code, _, err = run_cli(capsys, "evaluate", broken)
    assert code == 1 and "missing run.json" in err


def test_unknown_dataset_and_usage_errors(tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "train", "mintrek", "--out", tmp_path / "r", "--reviewed-descriptions"
    )
    assert code == 1 and "unknown dataset 'mintrek'" in err and len(err.splitlines()) == 1
    code, _, err = run_cli(
        capsys, "train", "mintrec", "--out", tmp_path / "r", "--resume", "--epochs", 3
    )
    assert code == 2 and "--resume continues with the run's saved config" in err
    code, _, err = run_cli(capsys, "train", "mintrec", "--out", tmp_path / "r", "--seeds", "x")
    assert code == 2 and "seeds must be integers" in err
    code, _, err = run_cli(capsys, "train", "mintrec", "--out", tmp_path / "nothing", "--resume")
    assert code == 1 and "run directory not found" in err


def test_nan_loss_through_the_cli(tmp_path, capsys, monkeypatch, config_file):
    from labelsync.model import AMessModel

    forward = AMessModel.forward

    def poisoned(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        if self.training:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(AMessModel, "forward", poisoned)
    code, _, err = run_cli(
        capsys,
        "train",
        "mintrec",
        "--data-dir",
        text_mintrec(),
        "--config",
        config_file,
        "--reviewed-descriptions",
        "--text-only",  # asked for: no fallback warning before the error
        "--out",
        tmp_path / "r",
    )
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "loss became nan at epoch 1, step 1" in err and "no epoch had finished" in err
