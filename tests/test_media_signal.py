"""Signal from raw media to the prediction: generated clips whose label depends only on what is
seen (a face or not) and heard (a high or a low voice), with the same text for every class.
``features extract`` -> ``train`` -> ``evaluate``: A-MESS with video and audio must be far above
chance, the text-only model at chance. All numbers here are on synthetic data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from media_clips import tone, write_clip
from test_training_helpers import run_cli, single_thread, tiny_encoder  # noqa: F401

# label -> (picture, pitch range in Hz)
CLASSES = {
    "greet": ("astronaut", (260, 360)),
    "thank": ("astronaut", (110, 160)),
    "leave": ("coffee", (260, 360)),
    "wait": ("coffee", (110, 160)),
}
SIZES = {"train": 8, "dev": 3, "test": 4}  # clips per class
TEXT = "what do you think about this"


def _write_dataset(folder: Path) -> Path:
    """Clips in ``folder/clips``, ``{train,dev,test}.csv`` (id,text,label) in ``folder``."""
    rng = np.random.default_rng(0)
    clips = folder / "clips"
    clips.mkdir(parents=True)
    for split, per_class in SIZES.items():
        rows = []
        for label, (picture, (low, high)) in CLASSES.items():
            for i in range(per_class):
                key = f"{split}_{label}_{i}"
                voice = tone(1.0, rng.uniform(low, high), amplitude=rng.uniform(0.1, 0.4))
                voice += rng.normal(0, 0.01, voice.shape).astype(np.float32)
                shift = int(rng.integers(-8, 9))
                write_clip(
                    clips / f"{key}.mp4", picture, seconds=1.0, size=128, audio=voice, shift=shift
                )
                rows.append((key, TEXT, label))
        rng.shuffle(rows)
        with (folder / f"{split}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text", "label"])
            writer.writerows(rows)
    return clips


@pytest.fixture(scope="module")
def options(tmp_path_factory) -> tuple[Path, Path]:
    """The --config YAML of a fast tiny-encoder run, and the descriptions YAML."""
    folder = tmp_path_factory.mktemp("signal-config")
    config = {
        "encoder": tiny_encoder(),
        "epochs": 12,
        "patience": 12,
        "lr": 2e-3,
        "batch_size": 8,
        "max_text_len": 16,
        "max_video_len": 5,
        "max_audio_len": 100,
        "k": 3,
        "progress": False,
        "model_options": {"ame_num_heads": 2},
    }
    (folder / "train.yaml").write_text(yaml.safe_dump(config))
    descriptions = {
        "labels": [
            {"label": name, "descriptions": [f"the speaker means {name}"], "source": "user"}
            for name in CLASSES
        ]
    }
    (folder / "descriptions.yaml").write_text(yaml.safe_dump(descriptions))
    return folder / "train.yaml", folder / "descriptions.yaml"


def _train_and_evaluate(capsys, data: Path, run: Path, options, *extra) -> float:
    config, descriptions = options
    code, _, err = run_cli(
        capsys,
        "train",
        data,
        "--config",
        config,
        "--descriptions",
        descriptions,
        "--seeds",
        0,
        "--cpu",
        "--out",
        run,
        *extra,
    )
    assert code == 0, err
    code, _, err = run_cli(capsys, "evaluate", run, "--split", "test", "--json")
    assert code == 0, err
    return json.loads((run / "eval-test/metrics.json").read_text())["metrics"]["accuracy"]


def test_features_from_raw_clips_carry_the_label(tmp_path, capsys, options):
    data = tmp_path / "data"
    clips = _write_dataset(data)
    code, out, err = run_cli(
        capsys,
        "features",
        "extract",
        clips,
        "--out",
        data,
        "--video-extractor",
        "mediapipe-face",
        "--no-progress",
    )
    assert code == 0, err
    total = sum(SIZES.values()) * len(CLASSES)
    assert f"{total} clips extracted, 0 failed" in out

    multimodal = _train_and_evaluate(capsys, data, tmp_path / "run-av", options)
    text_only = _train_and_evaluate(capsys, data, tmp_path / "run-text", options, "--text-only")
    chance = 1 / len(CLASSES)
    print(
        f"synthetic clips, test accuracy: video+audio {multimodal:.3f}, text only "
        f"{text_only:.3f}, chance {chance:.2f}"
    )
    assert multimodal >= 0.8
    assert text_only <= chance + 0.1

    # prediction on a raw clip: the run's extractors, the clip's own audio track
    run = tmp_path / "run-av"
    assert set(json.loads((run / "run.json").read_text())["extractors"]) == {"video", "audio"}
    clip = clips / "test_greet_0.mp4"
    code, out, err = run_cli(capsys, "predict", run, "--text", TEXT, "--video", clip, "--json")
    assert code == 0, err
    from_clip = json.loads(out.strip().splitlines()[-1])  # after the accuracy line above
    from safetensors.numpy import load_file

    from labelsync import Predictor

    arrays = {m: load_file(str(data / f"{m}_feats.safetensors")) for m in ("video", "audio")}
    key = clip.stem
    expected = Predictor.from_run(run).predict(
        TEXT, video=arrays["video"][key], audio=arrays["audio"][key]
    )[0]
    assert from_clip["label"] == expected.label == "greet"
    assert abs(from_clip["score"] - expected.score) < 1e-4  # the same features as extraction
    # the text-only run takes no clip; a clip given to it is refused in one line
    code, _, err = run_cli(
        capsys, "predict", tmp_path / "run-text", "--text", TEXT, "--video", clip
    )
    assert code == 1 and len(err.strip().splitlines()) == 1
