"""The official releases as downloaded: tiny copies of the MIntRec and MIntRec2.0 folder layouts
(pickled dicts with the official file names, dims and shapes), written by hand here rather than
by ``labelsync.data.synthetic`` so the loader is checked against the layout, not against itself."""

from __future__ import annotations

import csv
import hashlib
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

from labelsync.data import (
    FeatureError,
    MaxLengths,
    PickleNotAllowedError,
    UnionStore,
    load_dataset,
)
from labelsync.data.synthetic import write_mintrec, write_mintrec2
from labelsync.data.writers import save_features
from labelsync.labels import LabelSet

MINTREC_LABELS = LabelSet.preset("mintrec").names
MINTREC2_LABELS = LabelSet.preset("mintrec2").names


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerows([header, *rows])


def write_pickle(path: Path, keys: list[str], dim: int, *, middle_axis: bool, seed: int) -> Path:
    """A pickled dict key -> float32 array, ``(T, 1, D)`` or ``(T, D)``, T = 2..6."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for key in keys:
        frames = int(rng.integers(2, 7))
        shape = (frames, 1, dim) if middle_axis else (frames, dim)
        arrays[key] = rng.standard_normal(shape).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(arrays))
    return path


def mintrec_release(root: Path, *, video: str = "video_feats", audio: str = "audio_feats") -> Path:
    """MIntRec as released: {split}.tsv, video_data/*.pkl (T, 1, D), audio_data/*.pkl (T, D)."""
    keys = []
    for split, count in (("train", 6), ("dev", 3), ("test", 3)):
        rows = []
        for _ in range(count):
            clip = len(keys)
            keys.append(f"S04_E0{clip % 9 + 1}_{clip}")
            label = MINTREC_LABELS[clip % len(MINTREC_LABELS)]
            rows.append(["S04", f"E0{clip % 9 + 1}", str(clip), f"utterance {clip}", label])
        write_tsv(root / f"{split}.tsv", ["season", "episode", "clip", "text", "label"], rows)
    dims = {"video_feats": 256, "swin_feats": 1024, "audio_feats": 768, "wavlm_feats": 768}
    if video:
        path = root / "video_data" / f"{video}.pkl"
        write_pickle(path, keys, dims[video], middle_axis=True, seed=1)
    if audio:
        write_pickle(
            root / "audio_data" / f"{audio}.pkl", keys, dims[audio], middle_axis=False, seed=2
        )
    return root


MINTREC2_HEADER = ["Dialogue_id", "Utterance_id", "Text", "Label", "Speaker"]


def mintrec2_release(root: Path, *, oos_features: bool = True) -> Path:
    """MIntRec2.0 as released: in-scope/ and out-of-scope/MIntRec2.0-OOD/, each with its own
    TSVs, video_data/swin_roi.pkl (256-d, (T, 1, D)) and audio_data/wavlm_feats.pkl (768-d)."""
    parts = {"in-scope": [], "out-of-scope/MIntRec2.0-OOD": []}
    for part, counts in zip(parts, ((5, 3, 4), (2, 1, 2)), strict=True):
        for split, count in zip(("train", "dev", "test"), counts, strict=True):
            rows = []
            for _ in range(count):
                dialogue, utterance = divmod(sum(map(len, parts.values())), 4)
                parts[part].append(f"dia{dialogue}_utt{utterance}")
                oos = part != "in-scope"
                label = "UNK" if oos else MINTREC2_LABELS[len(parts[part]) % 30]
                rows.append([str(dialogue), str(utterance), f"turn {utterance}", label, "Ann"])
            write_tsv(root / part / f"{split}.tsv", MINTREC2_HEADER, rows)
    for index, (part, keys) in enumerate(parts.items()):
        if part != "in-scope" and not oos_features:
            continue
        video = root / part / "video_data" / "swin_roi.pkl"
        write_pickle(video, keys, 256, middle_axis=True, seed=10 + index)
        write_pickle(
            root / part / "audio_data" / "wavlm_feats.pkl",
            keys,
            768,
            middle_axis=False,
            seed=20 + index,
        )
    return root


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_mintrec_release_loads_video_and_audio_with_its_max_lengths(tmp_path):
    root = mintrec_release(tmp_path)
    ds = load_dataset("mintrec", root, allow_pickle=True)
    assert ds.modalities == ["text", "video", "audio"]
    assert ds.feature_dims == {"video": 256, "audio": 768}
    assert ds.max_lengths == MaxLengths(text=50, video=230, audio=480)
    with open(root / "video_data" / "video_feats.pkl", "rb") as handle:
        original = pickle.load(handle)
    key = ds["dev"][1]["key"]
    np.testing.assert_array_equal(ds.feature_stores["video"][key], original[key][:, 0, :])
    batch = ds.collator()(list(ds["test"]))
    assert tuple(batch["video"].shape) == (3, 230, 256) and tuple(batch["audio"].shape) == (
        3,
        480,
        768,
    )


def test_tcl_map_variant_next_to_the_tsv_files_and_as_npz(tmp_path, caplog):
    root = mintrec_release(tmp_path, video="swin_feats", audio="wavlm_feats")
    for modality, name in (("video", "swin_feats"), ("audio", "wavlm_feats")):
        with open(root / f"{modality}_data" / f"{name}.pkl", "rb") as handle:
            save_features(root / f"{name}.npz", pickle.load(handle))  # converted, next to the TSVs
        (root / f"{modality}_data" / f"{name}.pkl").unlink()
    with caplog.at_level(logging.INFO, logger="labelsync.data"):
        ds = load_dataset("mintrec", root)  # no pickle left: no opt-in needed
    assert ds.feature_dims == {"video": 1024, "audio": 768}
    assert {m: [f.name for f in files] for m, files in ds.feature_files.items()} == {
        "video": ["swin_feats.npz"],
        "audio": ["wavlm_feats.npz"],
    }
    assert warnings_of(caplog) == []


def test_two_candidates_are_an_error_resolved_by_an_explicit_file(tmp_path, caplog):
    root = mintrec_release(tmp_path)
    swin = write_pickle(root / "video_data" / "swin_feats.pkl", [], 1024, middle_axis=True, seed=3)
    with open(root / "video_data" / "video_feats.pkl", "rb") as handle:
        keys = list(pickle.load(handle))
    write_pickle(swin, keys, 1024, middle_axis=True, seed=3)
    with pytest.raises(FeatureError) as info:
        load_dataset("mintrec", root, allow_pickle=True)
    message = str(info.value)
    assert (
        "2 candidate video feature files: video_data/video_feats.pkl, video_data/swin_feats.pkl"
        in message
    )
    assert "--video-feats PATH (API: video_feats=PATH)" in message and "\n" not in message
    with caplog.at_level(logging.WARNING, logger="labelsync.data"):
        ds = load_dataset("mintrec", root, allow_pickle=True, video_feats=swin)
    assert ds.feature_dims == {"video": 1024, "audio": 768}
    [warning] = warnings_of(caplog)  # the other candidate is named as unused
    assert "feature files not used: video_data/video_feats.pkl" in warning


def test_mintrec2_release_in_and_out_of_scope_with_their_own_files(tmp_path):
    root = mintrec2_release(tmp_path)
    ds = load_dataset("mintrec2", root, allow_pickle=True)
    assert {s: (len(ds[s]), sum(ds[s]["is_oos"])) for s in ds.splits} == {
        "train": (7, 2),
        "dev": (4, 1),
        "test": (6, 2),
    }
    assert ds.feature_dims == {"video": 256, "audio": 768}
    assert ds.max_lengths == MaxLengths(text=50, video=180, audio=400)
    video = ds.feature_stores["video"]
    assert isinstance(video, UnionStore) and len(video) == 17
    oos_file = root / "out-of-scope" / "MIntRec2.0-OOD" / "video_data" / "swin_roi.pkl"
    with open(oos_file, "rb") as handle:
        oos_arrays = pickle.load(handle)
    oos_row = next(row for row in ds["test"] if row["is_oos"])
    assert oos_row["label"] == "UNK" and oos_row["video_length"] == len(oos_arrays[oos_row["key"]])
    np.testing.assert_array_equal(video[oos_row["key"]], oos_arrays[oos_row["key"]][:, 0])
    files = ds.feature_files
    assert [f.name for f in files["video"]] == [
        "in-scope/video_data/swin_roi.pkl",
        "out-of-scope/MIntRec2.0-OOD/video_data/swin_roi.pkl",
    ]
    record = files["audio"][1]
    path = root / record.name
    assert (record.dim, record.format, record.keys, record.bytes) == (
        768,
        "pickle",
        5,
        path.stat().st_size,
    )
    assert record.sha256_first_mb == hashlib.sha256(path.read_bytes()[: 1 << 20]).hexdigest()
    assert ds.feature_record()["max_lengths"] == {"text": 50, "video": 180, "audio": 400}
    assert (
        ds.feature_record()["feature_files"]["video"][0]["sha256_first_mb"]
        == files["video"][0].sha256_first_mb
    )


def test_mintrec2_key_in_both_parts_names_both_files(tmp_path):
    root = mintrec2_release(tmp_path)
    oos_video = root / "out-of-scope" / "MIntRec2.0-OOD" / "video_data" / "swin_roi.pkl"
    with open(oos_video, "rb") as handle:
        arrays = pickle.load(handle)
    arrays["dia0_utt0"] = np.zeros((2, 1, 256), np.float32)  # an in-scope key
    oos_video.write_bytes(pickle.dumps(arrays))
    with pytest.raises(FeatureError) as info:
        load_dataset("mintrec2", root, allow_pickle=True)
    in_video = root / "in-scope" / "video_data" / "swin_roi.pkl"
    assert str(info.value) == f"key 'dia0_utt0' is in two feature files: {in_video} and {oos_video}"


def test_mintrec2_pickles_without_opt_in_are_named_in_one_warning(tmp_path, caplog):
    root = mintrec2_release(tmp_path)
    with caplog.at_level(logging.WARNING, logger="labelsync.data"):
        ds = load_dataset("mintrec2", root)
    assert ds.modalities == ["text"] and sum(ds["test"]["is_oos"]) == 2
    [warning] = warnings_of(caplog)
    assert warning.startswith(
        f"{root}: pickle feature files not loaded: in-scope/video_data/swin_roi.pkl, "
    )
    assert "out-of-scope/MIntRec2.0-OOD/audio_data/wavlm_feats.pkl; pass --allow-pickle" in warning
    with pytest.raises(PickleNotAllowedError):  # an explicit pickle without the opt-in
        load_dataset("mintrec2", root, video_feats=root / "in-scope/video_data/swin_roi.pkl")


def test_explicit_part_brings_its_out_of_scope_part_and_missing_parts_are_errors(tmp_path):
    root = mintrec2_release(tmp_path, oos_features=False)
    with pytest.raises(FeatureError) as info:
        load_dataset("mintrec2", root, allow_pickle=True)
    assert "keys missing from the video features (train: 2, dev: 1, test: 2)" in str(info.value)
    root = mintrec2_release(tmp_path / "full")
    picked = root / "in-scope" / "audio_data" / "wavlm_feats.pkl"
    ds = load_dataset(
        "mintrec2", root, allow_pickle=True, audio_feats=picked, features={"video": None}
    )
    assert ds.modalities == ["text", "audio"] and len(ds.feature_files["audio"]) == 2


def test_unused_feature_like_files_are_named_in_one_warning(tmp_path, caplog):
    root = mintrec_release(tmp_path, video="", audio="")
    write_pickle(root / "video_data" / "resnet_roi.pkl", [], 4, middle_axis=False, seed=0)
    save_features(root / "extra" / "clip_feats.safetensors", {"a": np.zeros((1, 2), np.float32)})
    (root / "notes_feats.txt").write_text("not a feature file")
    with caplog.at_level(logging.INFO, logger="labelsync.data"):
        ds = load_dataset("mintrec", root)
    assert ds.modalities == ["text"]
    [warning] = warnings_of(caplog)
    assert warning.startswith(f"{root}: feature files not used: extra/clip_feats.safetensors, ")
    assert "video_data/resnet_roi.pkl (pick files with --video-feats/--audio-feats" in warning
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="labelsync.data"):
        load_dataset("mintrec", root, features=None)  # text only on purpose: said, not warned
    assert warnings_of(caplog) == [] and "feature files not read: extra/clip_feats" in caplog.text


def test_older_out_of_scope_spelling_is_read_with_a_warning(tmp_path, caplog):
    root = mintrec2_release(tmp_path)
    older = root / "out-of-scope"
    for item in (older / "MIntRec2.0-OOD").iterdir():
        item.rename(older / item.name)
    (older / "MIntRec2.0-OOD").rmdir()
    with caplog.at_level(logging.WARNING, logger="labelsync.data"):
        ds = load_dataset("mintrec2", root, allow_pickle=True)
    assert sum(ds["train"]["is_oos"]) == 2 and len(ds.feature_files["video"]) == 2
    [warning] = warnings_of(caplog)
    assert "out-of-scope rows read from out-of-scope/{split}.tsv" in warning


def test_max_lengths_default_to_the_release_and_merge_with_the_callers(tmp_path):
    root = mintrec_release(tmp_path, video="", audio="")
    assert load_dataset("mintrec", root).max_lengths == MaxLengths(50, 230, 480)
    assert load_dataset("mintrec", root, max_lengths={"video": 12}).max_lengths == MaxLengths(
        50, 12, 480
    )
    assert load_dataset("mintrec", root, max_lengths=MaxLengths()).max_lengths == MaxLengths(
        50, 180, 400
    )
    with pytest.raises(ValueError, match="no maximum length for modality 'depth'"):
        load_dataset("mintrec", root, max_lengths={"depth": 3})


def test_features_folder_from_an_extractor_and_conflicting_spellings(tmp_path):
    root = mintrec_release(tmp_path / "data", video="", audio="")
    text_only = load_dataset("mintrec", root)
    keys = [key for split in text_only.splits.values() for key in split["key"]]
    extracted = tmp_path / "extracted"
    save_features(
        extracted / "video_feats.safetensors", {k: np.ones((3, 5), np.float32) for k in keys}
    )
    ds = load_dataset("mintrec", root, video_feats=extracted)
    assert ds.feature_dims == {"video": 5} and ds.feature_files["video"][0].path == str(
        extracted / "video_feats.safetensors"
    )
    with pytest.raises(ValueError, match="video features given twice"):
        load_dataset("mintrec", root, video_feats=extracted, features={"video": extracted})
    with pytest.raises(ValueError, match="conflicts with video_feats"):
        load_dataset("mintrec", root, video_feats=extracted, features=None)


def test_synthetic_layouts_are_the_releases_and_the_flat_one(tmp_path, caplog):
    sizes, oos = {"train": 3, "dev": 2, "test": 2}, {"train": 1, "dev": 1, "test": 1}
    dims = {"video_dim": 4, "audio_dim": 3, "video_frames": 2, "audio_frames": 3}
    release = write_mintrec2(tmp_path / "r", sizes, oos, features="npz", **dims)
    flat = write_mintrec2(tmp_path / "f", sizes, oos, features="npz", layout="flat", **dims)
    tree = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()}
    assert {
        "in-scope/train.tsv",
        "in-scope/video_data/swin_roi.npz",
        "in-scope/audio_data/wavlm_feats.npz",
        "out-of-scope/MIntRec2.0-OOD/test.tsv",
        "out-of-scope/MIntRec2.0-OOD/video_data/swin_roi.npz",
        "out-of-scope/MIntRec2.0-OOD/audio_data/wavlm_feats.npz",
    } <= tree
    assert (flat / "video_feats.npz").is_file() and (flat / "out-of-scope" / "dev.tsv").is_file()
    with caplog.at_level(logging.WARNING, logger="labelsync.data"):
        loaded = [load_dataset("mintrec2", root) for root in (release, flat)]
    assert [w.split(": ", 1)[1][:20] for w in warnings_of(caplog)] == ["out-of-scope rows re"]
    for ds in loaded:
        assert ds.feature_dims == {"video": 4, "audio": 3} and sum(ds["dev"]["is_oos"]) == 1
    mintrec = write_mintrec(tmp_path / "m", sizes, features="npz", **dims)
    video = load_dataset("mintrec", mintrec).feature_stores["video"]
    key = next(iter(video))
    assert video.raw(key).shape == (2, 1, 4)  # (T, 1, D) like the release
    assert (mintrec / "video_data" / "video_feats.npz").is_file()
