"""Data for the task types: custom multi-label / regression files and CMU-MOSI/MOSEI MMSA files."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

from labelsync.data import (
    DataError,
    PickleNotAllowedError,
    convert_features,
    load_dataset,
    summarize,
)
from labelsync.data.mmsa import MOSEI_EMOTIONS
from labelsync.data.synthetic_tasks import write_mmsa


def _write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_custom_multi_label_rows_carry_every_label(tmp_path):
    root = tmp_path / "mix"
    _write(root / "train.csv", "id,text,labels\n1,hi and bye,greet|bye\n2,hello,greet\n3,hm,\n")
    _write(root / "test.jsonl", '{"id": 4, "text": "bye now", "labels": ["bye"]}\n')
    data = load_dataset(root)
    assert data.labels.names == ["greet", "bye"] and data.target_kinds == {"labels"}
    train = data["train"]
    assert train["label_ids"] == [[0, 1], [0], []]
    assert train["label"] == ["greet|bye", "greet", ""] and train["label_id"] == [0, 0, -1]
    assert data["test"]["label_ids"] == [[1]]
    batch = data.collator()(train[:3])
    assert batch["label_ids"].tolist() == [[0, 1], [0, -100], [-100, -100]]
    _write(root / "labels.txt", "greet\nbye\n")
    _write(root / "train.csv", "id,text,labels\n1,hi,greet|byebye\n")
    with pytest.raises(DataError) as info:
        load_dataset(root)
    assert str(info.value) == (
        f"{root / 'train.csv'}: line 2: unknown label 'byebye' in field 'labels'; "
        "did you mean 'bye'?"
    )
    _write(root / "train.csv", "id,text,labels\n1,hi,greet|Greet\n")
    with pytest.raises(DataError, match="line 2: a label appears twice in field 'labels'"):
        load_dataset(root)


def test_custom_regression_rows_have_a_score(tmp_path):
    root = tmp_path / "reg"
    _write(root / "train.csv", "id,text,score\n1,great,2.5\n2,awful,-1.75\n")
    _write(root / "dev.tsv", "id\ttext\tscore\n3\tfine\t0\n")
    data = load_dataset(root)
    assert data.labels.names == ["score"] and data.target_kinds == {"score"}
    assert data["train"]["score"] == [2.5, -1.75] and data["dev"]["label"] == ["score"]
    assert data.collator()(data["train"][:2])["score"].tolist() == [2.5, -1.75]
    _write(root / "train.csv", "id,text,score\n1,great,lots\n")
    with pytest.raises(DataError) as info:
        load_dataset(root)
    assert str(info.value) == (
        f"{root / 'train.csv'}: line 2: field 'score' is not a finite number: 'lots'"
    )
    _write(root / "train.csv", "id,text,intent_name\n1,hi,greet\n")
    with pytest.raises(DataError, match="line 1: missing column 'label' \\(header: id, text"):
        load_dataset(root)


def _frames_written(path, split: str, modality: str) -> list[int]:
    with open(path, "rb") as handle:
        fields = pickle.load(handle)[split]
    return [int(row.any(axis=-1).sum()) for row in fields[modality]]


@pytest.mark.parametrize("aligned", [True, False])
def test_mmsa_pickle_rows_scores_and_unpadded_features(tmp_path, aligned):
    name = "aligned_50.pkl" if aligned else "unaligned_50.pkl"
    path = write_mmsa(tmp_path / "MOSI" / "Processed" / name, aligned=aligned, text_dim=8)
    with pytest.raises(PickleNotAllowedError, match="--allow-pickle"):
        load_dataset("mosi", tmp_path / "MOSI")
    data = load_dataset("mosi", tmp_path / "MOSI", allow_pickle=True)
    with open(path, "rb") as handle:
        raw = pickle.load(handle)
    assert data.labels.names == ["sentiment"] and data.score_name == "sentiment"
    assert data.target_kinds == {"score"} and len(data["dev"]) == len(raw["valid"]["id"])
    test = data["test"]
    assert test["key"] == list(raw["test"]["id"]) and test["text"] == list(raw["test"]["raw_text"])
    assert np.allclose(test["score"], raw["test"]["regression_labels"])
    video = data.feature_stores["video"]
    real = _frames_written(path, "train", "vision")
    assert [video.length(key) for key in data["train"]["key"]] == real  # padding dropped
    audio = data.feature_stores["audio"]
    assert all(np.isfinite(audio[key]).all() for key in audio.keys())  # -inf became 0
    first = raw["train"]["vision"][0]
    assert np.array_equal(video[data["train"]["key"][0]], first[first.any(axis=-1)])


def test_mmsa_converted_to_safetensors_loads_without_pickle(tmp_path):
    path = write_mmsa(tmp_path / "aligned_50.pkl", text_dim=8, emotions=True)
    with pytest.raises(PickleNotAllowedError):
        convert_features(path, tmp_path / "aligned_50.safetensors")
    result = convert_features(path, tmp_path / "aligned_50.safetensors", allow_pickle=True)
    assert result.keys == 80 and result.dims == (5, 20)
    converted = load_dataset("mosei", tmp_path)  # the safetensors file is found first
    original = load_dataset("mosei", path, allow_pickle=True)
    for split in ("train", "dev", "test"):
        assert converted[split].to_dict() == original[split].to_dict()
    key = original["test"]["key"][3]
    for modality in ("video", "audio"):
        a, b = converted.feature_stores[modality][key], original.feature_stores[modality][key]
        assert np.array_equal(a, b)


def test_mosei_emotions_from_the_file_or_a_csv(tmp_path):
    path = write_mmsa(tmp_path / "aligned_50.pkl", text_dim=8, emotions=True, seed=3)
    with open(path, "rb") as handle:
        raw = pickle.load(handle)
    data = load_dataset("mosei", path, allow_pickle=True)
    assert data.labels.names == list(MOSEI_EMOTIONS) and data.target_kinds == {"labels", "score"}
    present = [list(np.flatnonzero(row > 0)) for row in raw["train"]["emotion_labels"]]
    assert data["train"]["label_ids"] == present
    counts = summarize(data)["label_distribution"]  # `data inspect`: each label of a row counts
    assert counts["fear"]["train"] == int((raw["train"]["emotion_labels"][:, 5] > 0).sum())
    # a CSV with the SDK's column names (happy/sad/angry accepted) replaces the file's emotions
    rows = ["id,happy,sadness,angry,surprise,disgust,fear"]
    for split in ("train", "valid", "test"):
        for i, key in enumerate(raw[split]["id"]):
            rows.append(f"{key},{1.0 if i % 2 else 0},0,0,0,0,{0.5 if i % 3 == 0 else 0}")
    csv = _write(tmp_path / "emotions.csv", "\n".join(rows) + "\n")
    data = load_dataset("mosei", path, allow_pickle=True, emotions=csv)
    expected = [[0] * (i % 2) + [5] * (i % 3 == 0) for i in range(len(raw["test"]["id"]))]
    assert data["test"]["label_ids"] == expected
    _write(csv, "\n".join(rows[:-1]) + "\n")
    last = raw["test"]["id"][-1]
    with pytest.raises(DataError, match=re.escape(f"emotions.csv: no row for id '{last}' (test")):
        load_dataset("mosei", path, allow_pickle=True, emotions=csv)
    with pytest.raises(DataError, match="option 'emotions' does not apply"):
        load_dataset("mosi", path, allow_pickle=True, emotions=csv)


def test_mmsa_errors_and_variant_choice(tmp_path):
    write_mmsa(tmp_path / "aligned_50.pkl", text_dim=8, seed=1)
    write_mmsa(tmp_path / "unaligned_50.pkl", text_dim=8, aligned=False, seed=2)
    unaligned = load_dataset("mosi", tmp_path, allow_pickle=True)  # A-ME aligns by itself
    aligned = load_dataset("mosi", tmp_path, allow_pickle=True, variant="aligned")
    assert unaligned.source.endswith("unaligned_50.pkl")
    assert aligned.source.endswith("aligned_50.pkl") and "unaligned" not in aligned.source
    with open(tmp_path / "aligned_50.pkl", "rb") as handle:
        raw = pickle.load(handle)
    raw["valid"]["regression_labels"][2] = 3.5
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps(raw))
    key = raw["valid"]["id"][2]
    with pytest.raises(DataError) as info:
        load_dataset("mosi", tmp_path / "bad.pkl", allow_pickle=True)
    assert str(info.value) == (
        f"{tmp_path / 'bad.pkl'}: valid[2] (id {key}): regression label 3.5 is outside [-3, 3]"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no aligned_50.pkl or unaligned_50.pkl"):
        load_dataset("mosi", tmp_path / "empty")
    with pytest.raises(DataError, match="a label list does not apply"):
        load_dataset("mosi", tmp_path, allow_pickle=True, labels=["happy"])
