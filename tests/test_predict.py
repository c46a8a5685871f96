"""``Predictor``: a trained multimodal run -> labels, scores, top-k; feature files; bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from test_training_helpers import av_mintrec, run_cli, single_thread, tiny_options  # noqa: F401

from labelsync.data import load_dataset
from labelsync.errors import LabelsyncError
from labelsync.predict import Predictor, load_feature_file
from labelsync.training import Evaluator, TrainConfig, Trainer


@pytest.fixture(scope="module")
def av_run(tmp_path_factory) -> Path:
    """A 2-epoch text+video+audio run (A-ME on)."""
    run = tmp_path_factory.mktemp("runs") / "av"
    Trainer(TrainConfig(**tiny_options(data_dir=str(av_mintrec()))), run).train()
    return run


@pytest.fixture(scope="module")
def held_out():
    data = load_dataset("mintrec", av_mintrec(), max_lengths={"video": 12, "audio": 12})
    split = data["test"]
    video = [data.feature_stores["video"].read(k, 12) for k in split["key"]]
    audio = [data.feature_stores["audio"].read(k, 12) for k in split["key"]]
    return split["text"], split["label"], video, audio


def test_predictions_match_the_evaluation_of_the_same_checkpoint(av_run, held_out):
    texts, gold, video, audio = held_out
    predictor = Predictor.from_run(av_run)
    assert predictor.config.modalities == ("video", "audio") and len(predictor.labels) == 20
    predictions = predictor.predict(texts, video=video, audio=audio, top_k=3, batch_size=7)
    report = Evaluator(av_run).evaluate("test", save=False)
    accuracy = np.mean([p.label == g for p, g in zip(predictions, gold, strict=True)])
    assert accuracy == pytest.approx(report["metrics"]["accuracy"])
    for p in predictions:
        scores = [s for _, s in p.top_k]
        assert len(p.top_k) == 3 and scores == sorted(scores, reverse=True)
        assert p.label == p.top_k[0][0] and p.score == scores[0] and sum(scores) <= 1 + 1e-6
    text_only = predictor.predict(texts[:2])  # no features: A-ME skipped, still a prediction
    assert [len(p.top_k) for p in text_only] == [3, 3]
    assert [p.score for p in text_only] != [p.score for p in predictions[:2]]


def test_feature_files_and_the_cli(tmp_path, capsys, av_run, held_out):
    texts, _, video, audio = held_out
    expected = Predictor.from_run(av_run).predict(texts[0], video=video[0], audio=audio[0])[0]
    np.save(tmp_path / "v.npy", video[0][:, None, :])  # (T, 1, D) like the MIntRec release
    np.savez(tmp_path / "a.npz", feats=audio[0])
    save_file({"audio": audio[0]}, str(tmp_path / "a.safetensors"))
    assert np.array_equal(load_feature_file(tmp_path / "a.safetensors"), audio[0])
    predictor = Predictor.from_pretrained(av_run / "seed-0/best")
    for audio_file in ("a.npz", "a.safetensors"):
        got = predictor.predict(
            [texts[0]], video=[tmp_path / "v.npy"], audio=[tmp_path / audio_file]
        )[0]
        assert got.label == expected.label and got.score == pytest.approx(expected.score, abs=1e-5)
    code, out, err = run_cli(
        capsys,
        "predict",
        av_run,
        "--text",
        texts[0],
        "--video",
        tmp_path / "v.npy",
        "--audio",
        tmp_path / "a.npz",
    )
    assert code == 0, err
    assert f"label: {expected.label} (score {expected.score:.3f})" in out


def test_bad_feature_inputs(tmp_path, capsys, av_run, held_out):
    texts, _, video, audio = held_out
    predictor = Predictor.from_run(av_run)
    wide = np.zeros((5, 9), dtype=np.float32)
    with pytest.raises(
        LabelsyncError, match="video features are 9-d but the checkpoint was trained on 8-d"
    ):
        predictor.predict(texts[0], video=wide, audio=audio[0])
    with pytest.raises(LabelsyncError, match="fuses audio\\+video; got video"):
        predictor.predict(texts[0], video=video[0])
    with pytest.raises(LabelsyncError, match="1 audio inputs for 2 texts"):
        predictor.predict(texts[:2], video=video[:2], audio=[audio[0]])
    np.savez(tmp_path / "two.npz", a=wide, b=wide)
    with pytest.raises(LabelsyncError, match="expected one array, found 2"):
        load_feature_file(tmp_path / "two.npz")
    np.save(tmp_path / "wide.npy", wide)
    np.save(tmp_path / "a.npy", audio[0])
    code, _, err = run_cli(
        capsys,
        "predict",
        av_run,
        "--text",
        "hi",
        "--video",
        tmp_path / "wide.npy",
        "--audio",
        tmp_path / "a.npy",
    )
    assert code == 1 and len(err.splitlines()) == 1
    assert "video features are 9-d but the checkpoint was trained on 8-d" in err
    text_only = tmp_path / "text-only"
    with pytest.raises(LabelsyncError, match="feature dims none but run"):
        Trainer.from_run(av_run, data_dir=str(text_only_copy(av_run, text_only)))


def text_only_copy(run: Path, target: Path) -> Path:
    """The run's data folder without its feature files (same labels, no video/audio)."""
    import json
    import shutil

    source = Path(json.loads((run / "run.json").read_text())["source"])
    target.mkdir()
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        shutil.copy(source / name, target / name)
    return target


def test_a_run_on_release_features_refuses_a_raw_clip_in_one_line(av_run, capsys, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not decoded: the run cannot featurize it anyway")
    code, _, err = run_cli(capsys, "predict", av_run, "--text", "hello there", "--video", clip)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "not from `labelsync features extract`" in err and "video_feats" in err
