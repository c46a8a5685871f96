"""A real encoder learns: a 10-intent CLINC150 subset, MiniLM, reviewed descriptions, 2 epochs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_training_helpers import single_thread  # noqa: F401 - fixture

from labelsync.data.synthetic_tasks import MIXCLINC_LABELS
from labelsync.training import TrainConfig, Trainer

CLINC150 = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clinc150" / "data_full.json"
)
LABELS = MIXCLINC_LABELS
PER_LABEL = {"train": 20, "val": 5, "test": 10}


def write_subset(folder: Path) -> Path:
    """``data_full.json`` cut to ``LABELS`` (first N utterances per label) + a few OOS rows."""
    data = json.loads(CLINC150.read_text(encoding="utf-8"))
    subset = {}
    for split, count in PER_LABEL.items():
        rows = []
        for label in LABELS:
            rows += [pair for pair in data[split] if pair[1] == label][:count]
        subset[split] = rows
        subset[f"oos_{split}"] = data[f"oos_{split}"][:3]
    folder.mkdir(parents=True)
    (folder / "data_full.json").write_text(json.dumps(subset), encoding="utf-8")
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    return folder


@pytest.mark.skipif(
    not CLINC150.is_file(), reason=f"CLINC150 not found at {CLINC150} (shared data folder absent)"
)
def test_minilm_learns_a_clinc150_subset_well_above_chance(tmp_path):
    data = write_subset(tmp_path / "clinc")
    config = TrainConfig(
        dataset="clinc150",
        data_dir=str(data),
        labels=str(data / "labels.txt"),
        reviewed_descriptions=True,
        encoder="minilm",  # the fast shipped encoder (the default is mpnet since issue 11)
        epochs=2,
        learning_rate=5e-5,
        cpu=True,
        progress=False,
    )
    trainer = Trainer(config, tmp_path / "run")
    assert trainer.dropped == {"train": 3, "dev": 3, "test": 3}  # OOS rows left out
    summary = trainer.train()
    test_accuracy = summary["test"]["accuracy"]["mean"]
    assert test_accuracy >= 0.7, summary["test"]  # chance is 0.1
    history = json.loads((tmp_path / "run/seed-0/metrics.json").read_text())["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
