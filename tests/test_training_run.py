"""Trainer on tiny random BERTs: run directory, same seed -> same numbers, kill and resume, NaN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file
from test_training_helpers import av_mintrec, single_thread, text_mintrec, tiny_options  # noqa: F401

from labelsync.data.synthetic import write_custom, write_mintrec2
from labelsync.errors import LabelsyncError
from labelsync.model import AMessModel
from labelsync.training import ConfigError, RunError, TrainConfig, Trainer, TrainingError


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def same_weights(a: Path, b: Path) -> bool:
    left, right = weights(a), weights(b)
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def metrics_without_time(path: Path) -> dict:
    data = json.loads(path.read_text())
    data.pop("train_seconds")
    return data


def test_config_resolution_validation_and_round_trip(tmp_path):
    file = tmp_path / "train.yaml"
    file.write_text("dataset: mintrec\nlr: 2e-5\nepochs: 5\nmodel_options: {align_method: pool}\n")
    config = TrainConfig.resolve(file, epochs=3, seeds=[1, 2], metric="acc", k=None)
    assert (config.learning_rate, config.epochs, config.seeds) == (2e-5, 3, (1, 2))
    assert config.metric == "accuracy" and config.model.k == 8 and config.batch_size == 8
    assert config.model.align_method == "pool" and config.preset == "a-mess"
    with pytest.raises(Exception, match="cannot assign"):
        config.epochs = 10  # frozen after resolution
    config.to_yaml(tmp_path / "saved.yaml")
    assert TrainConfig.from_yaml(tmp_path / "saved.yaml") == config
    assert config.model_config(["a", "b"], {"video": 4}, 16, 2).video_dim == 4
    bad = [
        ({"dataset": "x", "epocs": 3}, "unknown training option 'epocs' \\(did you mean 'epochs'"),
        ({"dataset": "x", "batch_size": "8"}, "batch_size must be an integer"),
        ({"dataset": "x", "metric": "auc"}, "metric must be one of"),
        ({"dataset": "x", "oos_mode": "extra"}, "oos_mode must be one of drop, class"),
        ({"dataset": "x", "known_ratio": 0}, "known_ratio must be in"),
        ({"dataset": "x", "seeds": [0, 0]}, "without repeats"),
        ({"dataset": "x", "model_options": {"colour": 3}}, "unknown model option 'colour'"),
        ({"dataset": "x", "model": {"video_dim": 3}}, "'video_dim' comes from the data"),
        ({"dataset": "x", "preset": "amess"}, "unknown preset 'amess' \\(did you mean 'a-mess'"),
        ({"epochs": 3}, "dataset must be given"),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError, match=message):
            TrainConfig.from_dict(data)


def test_same_seed_gives_the_same_numbers_and_a_complete_run_dir(tmp_path):
    options = tiny_options(data_dir=str(text_mintrec()))
    first = Trainer(TrainConfig(**options, seeds=(0, 1)), tmp_path / "a")
    assert first.build_model().fusion is None  # text-only data: A-ME skipped automatically
    summary = first.train()
    Trainer(TrainConfig(**options, seeds=(0,)), tmp_path / "b").train()
    a, b = tmp_path / "a", tmp_path / "b"
    assert metrics_without_time(a / "seed-0/metrics.json") == metrics_without_time(
        b / "seed-0/metrics.json"
    )
    assert same_weights(a / "seed-0/best", b / "seed-0/best")
    assert same_weights(a / "seed-0/resume", b / "seed-0/resume")
    assert not same_weights(a / "seed-0/resume", a / "seed-1/resume")  # seeds differ

    for name in ("config.yaml", "descriptions.yaml", "results.json", "results.md", "train.log"):
        assert (a / name).is_file(), name
    for name in ("curves.png", "metrics.json", "best/encoder/tokenizer_config.json"):
        assert (a / "seed-1" / name).is_file(), name
    assert TrainConfig.from_yaml(a / "config.yaml") == first.config
    saved = yaml.safe_load((a / "descriptions.yaml").read_text())["labels"]
    assert [entry["label"] for entry in saved] == first.label_names
    info = json.loads((a / "run.json").read_text())
    assert info["finished"] and info["seeds"] == [0, 1] and len(info["labels"]) == 20
    per_seed = [json.loads((a / f"seed-{s}/metrics.json").read_text()) for s in (0, 1)]
    accuracies = [m["test"]["accuracy"] for m in per_seed]
    assert summary["test"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies), abs=1e-6)
    assert summary["test"]["accuracy"]["std"] == pytest.approx(np.std(accuracies, ddof=1), abs=1e-6)
    assert len(per_seed[0]["history"]) == 2 and per_seed[0]["epochs_run"] == 2
    assert "| accuracy |" in (a / "results.md").read_text()
    log_text = (a / "train.log").read_text()
    assert "seed 1 epoch 2: train loss" in log_text and "finished run" in log_text
    loaded = AMessModel.from_pretrained(a / "seed-0/best")
    assert loaded.config.label_names == first.label_names


class Killed(Exception):
    pass


def test_kill_and_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    config = TrainConfig(**tiny_options(data_dir=str(av_mintrec()), epochs=3))
    full = Trainer(config, tmp_path / "full")
    assert full.build_model().fusion is not None  # video + audio: A-ME on
    full.train()

    def kill_after_epoch_2(result):
        if result.epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        Trainer(config, tmp_path / "killed", callbacks=[kill_after_epoch_2]).train()
    killed = tmp_path / "killed"
    assert json.loads((killed / "seed-0/resume/state.json").read_text())["epoch"] == 2
    assert not (killed / "seed-0/metrics.json").exists()
    with pytest.raises(RunError, match="already holds a run"):
        Trainer(config, killed)

    epochs_seen = []
    Trainer.resume(killed, callbacks=[lambda r: epochs_seen.append(r.epoch)]).train()
    assert epochs_seen == [3]  # continued from the last completed epoch
    full_dir = tmp_path / "full"
    assert same_weights(full_dir / "seed-0/resume", killed / "seed-0/resume")
    assert same_weights(full_dir / "seed-0/best", killed / "seed-0/best")
    assert metrics_without_time(full_dir / "seed-0/metrics.json") == metrics_without_time(
        killed / "seed-0/metrics.json"
    )
    with pytest.raises(RunError, match="is finished: nothing to resume"):
        Trainer.resume(killed)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    config = TrainConfig(**tiny_options(data_dir=str(text_mintrec()), epochs=3))
    forward = AMessModel.forward
    calls = {"train": 0}

    def poisoned(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        if self.training:
            calls["train"] += 1
            if calls["train"] == 7:  # epoch 2 (5 train steps per epoch), step 2
                out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(AMessModel, "forward", poisoned)
    with pytest.raises(TrainingError, match="loss became nan at epoch 2, step 2") as error:
        Trainer(config, tmp_path / "run").train()
    assert "last good state (epoch 1)" in str(error.value)
    state = json.loads((tmp_path / "run/seed-0/resume/state.json").read_text())
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in weights(tmp_path / "run/seed-0/resume").values())
    assert (tmp_path / "run/seed-0/best/model.safetensors").is_file()


def test_mintrec2_trains_in_scope_only(tmp_path, caplog):
    data = write_mintrec2(
        tmp_path / "m2", {"train": 30, "dev": 30, "test": 30}, {"train": 5, "dev": 4, "test": 3}
    )
    config = TrainConfig(**tiny_options(dataset="mintrec2", data_dir=str(data)))
    with caplog.at_level("INFO", logger="labelsync"):
        trainer = Trainer(config, tmp_path / "run")
    assert trainer.dropped == {"train": 5, "dev": 4, "test": 3}
    assert "removed out-of-scope rows" in caplog.text
    for split in ("train", "dev", "test"):
        assert not any(trainer.dataset[split]["is_oos"])
    assert len(trainer.dataset["train"]) == 30 and len(trainer.label_names) == 30
    assert "UNK" not in trainer.label_names


def test_descriptions_come_from_a_file_and_must_cover_every_label(tmp_path):
    labels = ["refund", "delivery", "greeting"]
    data = write_custom(tmp_path / "custom", labels, {"train": 12, "dev": 6, "test": 6})
    described = {
        label: [f"The customer talks about {label}.", f"A {label} request."] for label in labels
    }
    file = tmp_path / "d.yaml"
    file.write_text(
        yaml.safe_dump({"labels": [{"label": k, "descriptions": v} for k, v in described.items()]})
    )
    options = tiny_options(dataset=str(data), reviewed_descriptions=False, descriptions=str(file))
    trainer = Trainer(TrainConfig(**options), tmp_path / "run")
    assert trainer.descriptions["refund"] == described["refund"]
    matrix, mask = trainer.description_matrix()
    assert tuple(matrix.shape) == (3, 2, 384) and bool(mask.all())
    model = trainer.build_model()
    assert torch.equal(model.descriptions[:, :2], matrix) and model.fusion is None
    file.write_text(
        yaml.safe_dump({"labels": [{"label": "refund", "descriptions": ["Money back."]}]})
    )
    with pytest.raises(
        LabelsyncError, match="no descriptions for 2 of 3 labels \\(delivery, greeting\\)"
    ):
        Trainer(TrainConfig(**options), tmp_path / "run2")
    options.update(descriptions=None, reviewed_descriptions=True)
    with pytest.raises(LabelsyncError, match="reviewed descriptions ship only for"):
        Trainer(TrainConfig(**options), tmp_path / "run3")
