"""Bad input: one-line LabelsyncError naming file, row and field; nothing written."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from labelsync.data import DataError, FeatureError, PickleNotAllowedError, load_dataset
from labelsync.data.synthetic import write_custom, write_feature_file, write_mintrec, write_mintrec2
from labelsync.data.writers import save_features
from labelsync.errors import LabelsyncError

SMALL = {"train": 20, "dev": 20, "test": 20}


def rows_of(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle, delimiter="\t"))


def rewrite(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter="\t", lineterminator="\n").writerows(rows)


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")}


def load_error(*args, error=DataError, **kwargs) -> str:
    """Load, expect ``error``, check it is a one-line LabelsyncError and return its message."""
    with pytest.raises(error) as info:
        load_dataset(*args, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, LabelsyncError)
    assert "\n" not in message
    return message


@pytest.fixture
def mintrec(tmp_path) -> Path:
    return write_mintrec(tmp_path / "mintrec", SMALL)


def test_missing_split_file(mintrec):
    (mintrec / "dev.tsv").unlink()
    message = load_error("mintrec", mintrec)
    assert message == f"{mintrec / 'dev.tsv'}: file not found"


def test_missing_in_scope_folder_of_mintrec2(tmp_path):
    message = load_error("mintrec2", tmp_path)
    assert "in-scope: folder not found" in message


def test_missing_label_column(mintrec):
    rows = [row[:4] for row in rows_of(mintrec / "train.tsv")]
    rewrite(mintrec / "train.tsv", rows)
    before = tree(mintrec)
    message = load_error("mintrec", mintrec)
    assert message.startswith(f"{mintrec / 'train.tsv'}: line 1: missing column 'label'")
    assert "header: season, episode, clip, text" in message
    assert tree(mintrec) == before  # nothing written


def test_missing_column_in_mintrec2_header(tmp_path):
    root = write_mintrec2(tmp_path, SMALL, header="official")
    path = root / "in-scope" / "dev.tsv"
    rows = rows_of(path)
    rows[0][2] = "Utterance"  # MELD-style: 'Utterance' is the text
    rows[0][1] = "turn"
    rewrite(path, rows)
    message = load_error("mintrec2", root)
    assert message.startswith(f"{path}: line 1: missing column 'utterance_id'")


def test_unknown_label_suggests_closest(mintrec):
    rows = rows_of(mintrec / "test.tsv")
    rows[4][4] = "Complian"
    rewrite(mintrec / "test.tsv", rows)
    message = load_error("mintrec", mintrec)
    assert message == (
        f"{mintrec / 'test.tsv'}: line 5: unknown label 'Complian' in field 'label'; "
        "did you mean 'Complain'?"
    )


def test_unknown_label_without_close_match(mintrec):
    rows = rows_of(mintrec / "test.tsv")
    rows[2][4] = "zzzz"
    rewrite(mintrec / "test.tsv", rows)
    assert load_error("mintrec", mintrec).endswith("unknown label 'zzzz' in field 'label'")


def test_empty_text(mintrec):
    rows = rows_of(mintrec / "train.tsv")
    rows[3][3] = "   "
    rewrite(mintrec / "train.tsv", rows)
    key = "_".join(rows[3][:3])
    message = load_error("mintrec", mintrec)
    assert message == f"{mintrec / 'train.tsv'}: line 4: field 'text' is empty (key {key})"


def test_duplicate_key_within_and_across_splits(mintrec):
    rows = rows_of(mintrec / "dev.tsv")
    train_rows = rows_of(mintrec / "train.tsv")
    rows[6][:3] = train_rows[2][:3]
    rewrite(mintrec / "dev.tsv", rows)
    key = "_".join(train_rows[2][:3])
    message = load_error("mintrec", mintrec)
    assert message == (
        f"{mintrec / 'dev.tsv'}: line 7: duplicate key {key!r} "
        f"(first seen at {mintrec / 'train.tsv'}: line 3)"
    )


def test_malformed_json_line(tmp_path):
    root = write_custom(tmp_path, ["a", "b"], {"train": 4}, fmt="jsonl")
    path = root / "train.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = '{"id": "x", "text": "broken'
    path.write_text("\n".join(lines) + "\n")
    message = load_error(root)
    assert message.startswith(f"{path}: line 3: malformed JSON (")


def test_jsonl_missing_field_and_non_object(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "hi", "label": "a"}\n\n{"text": "there"}\n')
    assert load_error(path) == f"{path}: line 3: missing field 'label'"
    path.write_text('["hi", "a"]\n')
    assert "line 1: expected a JSON object" in load_error(path)


def test_custom_csv_missing_column(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("id,utterance,intent_name\n1,hi,greet\n")
    assert (
        load_error(path)
        == f"{path}: line 1: missing column 'label' (header: id, utterance, intent_name)"
    )


def test_missing_feature_keys_count_and_first(tmp_path):
    root = write_mintrec2(tmp_path, SMALL)
    keys = [f"dia{i // 5}_utt{i % 5}" for i in range(60)]
    kept = keys[:50] + keys[57:]  # 7 test keys have no features
    write_feature_file(root / "video_feats.safetensors", kept, 8, (3, 9))
    message = load_error("mintrec2", root, error=FeatureError)
    assert message == (
        f"{root / 'video_feats.safetensors'}: 7 keys missing from the video features (test: 7); "
        f"first: {', '.join(keys[50:55])}"
    )


def test_inconsistent_feature_dims(tmp_path):
    root = write_mintrec2(tmp_path, SMALL)
    keys = [f"dia{i // 5}_utt{i % 5}" for i in range(60)]
    arrays = {key: np.zeros((4, 16), np.float32) for key in keys}
    arrays[keys[33]] = np.zeros((4, 12), np.float32)
    save_features(root / "audio_feats.npz", arrays)
    message = load_error("mintrec2", root, error=FeatureError)
    assert message == (
        f"{root / 'audio_feats.npz'}: inconsistent audio feature dims: key {keys[33]!r} has D=12, "
        f"key {keys[0]!r} has D=16"
    )


def test_bad_feature_shape_and_empty_features(tmp_path):
    root = write_mintrec2(tmp_path, SMALL)
    keys = [f"dia{i // 5}_utt{i % 5}" for i in range(60)]
    arrays = {key: np.zeros((4, 1, 16), np.float32) for key in keys}
    arrays[keys[5]] = np.zeros((4, 2, 16), np.float32)
    save_features(root / "video_feats.npz", arrays)
    message = load_error("mintrec2", root, error=FeatureError)
    assert f"key {keys[5]!r} has shape (4, 2, 16), expected (T, D) or (T, 1, D)" in message
    arrays[keys[5]] = np.zeros((0, 16), np.float32)
    save_features(root / "video_feats.npz", arrays)
    assert "has no frames" in load_error("mintrec2", root, error=FeatureError)


def test_pickle_needs_opt_in(tmp_path, caplog):
    root = write_mintrec(tmp_path, SMALL, features="pickle", video_dim=4, audio_dim=4)
    video = root / "video_data" / "video_feats.pkl"
    before = tree(root)
    with caplog.at_level("WARNING", logger="labelsync.data"):
        assert load_dataset("mintrec", root).modalities == ["text"]  # found: skipped, said so
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "video_data/video_feats.pkl, audio_data/audio_feats.pkl" in warning
    assert "pass --allow-pickle (API: allow_pickle=True)" in warning
    message = load_error("mintrec", root, video_feats=video, error=PickleNotAllowedError)
    assert message.startswith(f"{video}: pickle files can run code")
    assert "--allow-pickle" in message
    assert f"labelsync convert-features {video}" in message
    assert tree(root) == before
    assert len(load_dataset("mintrec", root, allow_pickle=True).feature_stores) == 2


def test_features_need_ids_in_custom_data(tmp_path):
    root = write_custom(tmp_path, ["a", "b"], {"train": 4}, with_ids=False)
    write_feature_file(root / "video_feats.npz", ["train_0"], 4, 3)
    assert "need an 'id' column" in load_error(root)


def test_unsupported_and_unreadable_feature_files(tmp_path):
    root = write_mintrec2(tmp_path, SMALL)
    (root / "x.h5").write_bytes(b"")
    message = load_error("mintrec2", root, features={"video": root / "x.h5"}, error=FeatureError)
    assert message == f"{root / 'x.h5'}: unsupported feature file (use .safetensors, .npz or .pkl)"
    (root / "video_feats.safetensors").write_bytes(b"not a safetensors file")
    assert "not a readable safetensors file" in load_error("mintrec2", root, error=FeatureError)
    message = load_error(
        "mintrec2", root, features={"video": root / "none.npz"}, error=FeatureError
    )
    assert message == f"{root / 'none.npz'}: feature file not found"
    assert "unknown feature modality 'depth'" in load_error(
        "mintrec2", root, features={"depth": root / "x.h5"}
    )
