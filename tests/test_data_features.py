"""Feature stores (npz / safetensors / pickle), per-batch padding, and feature conversion."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from labelsync.data import (
    FeatureError,
    IntentCollator,
    MaxLengths,
    PickleNotAllowedError,
    convert_features,
    find_feature_file,
    load_dataset,
    open_feature_store,
    pad_features,
)
from labelsync.data import features as features_module
from labelsync.data.feature_store import UnionStore
from labelsync.data.features import NpzStore, SafetensorsStore
from labelsync.data.synthetic import write_feature_file, write_mintrec, write_mintrec2
from labelsync.data.writers import save_features, write_safetensors

SIZES = {"train": 12, "dev": 6, "test": 6}
OOS = {"train": 2, "dev": 1, "test": 1}
DIMS = {"video_dim": 8, "audio_dim": 6, "video_frames": (3, 14), "audio_frames": (5, 30)}
SMALL_MAX = MaxLengths(text=50, video=10, audio=20)  # so that some samples get truncated


def make_mintrec2(root: Path, fmt: str) -> Path:
    return write_mintrec2(root, SIZES, OOS, features=fmt, seed=3, **DIMS)


@pytest.fixture(scope="module")
def per_format(tmp_path_factory) -> dict[str, Path]:
    """The same synthetic MIntRec2.0 data with features in each format."""
    return {
        fmt: make_mintrec2(tmp_path_factory.mktemp(fmt), fmt)
        for fmt in ("npz", "safetensors", "pickle")
    }


@pytest.mark.parametrize("fmt", ["npz", "safetensors", "pickle"])
def test_lengths_masks_and_padding(per_format, fmt):
    ds = load_dataset("mintrec2", per_format[fmt], allow_pickle=True, max_lengths=SMALL_MAX)
    assert ds.modalities == ["text", "video", "audio"]
    assert ds.feature_dims == {"video": 8, "audio": 6}
    train = ds["train"]
    assert train.column_names[-2:] == ["video_length", "audio_length"]
    assert len(train) == 14
    batch = ds.collator()(list(train))
    assert batch["video"].shape == (14, 10, 8) and batch["audio"].shape == (14, 20, 6)
    assert batch["video"].dtype == torch.float32 and batch["video_mask"].dtype == torch.int64
    assert batch["label_id"].tolist() == train["label_id"]
    assert batch["is_oos"].tolist() == train["is_oos"] and batch["is_oos"].sum() == 2
    for modality, limit in (("video", 10), ("audio", 20)):
        true = torch.tensor(train[f"{modality}_length"])
        lengths = batch[f"{modality}_lengths"]
        assert torch.equal(lengths, true.clamp(max=limit))
        assert torch.equal(batch[f"{modality}_mask"].sum(1), lengths)
        assert (true > limit).any() and (true < limit).any()  # both cases are exercised
        store = ds.feature_stores[modality]
        for i, key in enumerate(batch["key"]):
            n = int(lengths[i])
            assert torch.equal(batch[f"{modality}_mask"][i, :n], torch.ones(n, dtype=torch.long))
            assert not batch[f"{modality}_mask"][i, n:].any()
            np.testing.assert_array_equal(batch[modality][i, :n].numpy(), store[key][:n])
            assert not batch[modality][i, n:].any()  # zero padding at the end
            assert store.length(key) == int(true[i])


def test_all_formats_give_identical_batches(per_format):
    batches = []
    for fmt in ("npz", "safetensors", "pickle"):
        ds = load_dataset("mintrec2", per_format[fmt], allow_pickle=True)
        batches.append(ds.collator()(ds["test"][0:5]))  # a dict of columns works too
    for other in batches[1:]:
        assert other["key"] == batches[0]["key"]
        for name in ("video", "video_mask", "audio", "audio_mask", "label_id"):
            assert torch.equal(other[name], batches[0][name])
    assert batches[0]["video"].shape == (5, 180, 8)  # default max lengths 180 / 400
    assert batches[0]["audio"].shape == (5, 400, 6)


def test_pad_to_longest_and_numpy_output(per_format):
    ds = load_dataset("mintrec2", per_format["safetensors"])
    rows = list(ds["dev"])
    batch = ds.collator(pad_to="longest", return_tensors="np")(rows)
    assert isinstance(batch["video"], np.ndarray)
    assert batch["video"].shape[1] == max(r["video_length"] for r in rows)
    assert batch["audio"].shape[1] == max(r["audio_length"] for r in rows)
    with pytest.raises(ValueError, match="pad_to"):
        IntentCollator({}, pad_to="nope")


def test_pad_features_truncates_at_the_end():
    arrays = [np.arange(12, dtype=np.float64).reshape(6, 2), np.ones((2, 2), np.float32)]
    values, mask, lengths = pad_features(arrays, 4)
    assert values.dtype == np.float32 and values.shape == (2, 4, 2)
    np.testing.assert_array_equal(values[0], arrays[0][:4])
    np.testing.assert_array_equal(values[1, 2:], 0)
    assert lengths.tolist() == [4, 2] and mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]


def test_dataloader_with_text_only_and_tokenizer_hook(tmp_path):
    root = write_mintrec(tmp_path, {"train": 20, "dev": 20, "test": 20})
    ds = load_dataset("mintrec", root)
    calls = []

    def tokenizer(texts, **kwargs):
        calls.append(kwargs)
        return {"input_ids": torch.zeros(len(texts), kwargs["max_length"], dtype=torch.long)}

    loader = torch.utils.data.DataLoader(
        ds["train"], batch_size=8, collate_fn=ds.collator(tokenizer=tokenizer)
    )
    batches = list(loader)
    assert [len(b["key"]) for b in batches] == [8, 8, 4]
    assert set(batches[0]) == {"key", "text", "label_id", "is_oos", "text_inputs"}
    assert batches[0]["text_inputs"]["input_ids"].shape == (8, 50)
    assert calls[0] == {
        "padding": "max_length",
        "truncation": True,
        "max_length": 50,
        "return_tensors": "pt",
    }


def test_mintrec_video_stored_as_t_1_d_is_squeezed(tmp_path):
    root = write_mintrec(tmp_path, {"train": 20, "dev": 20, "test": 20}, features="npz", **DIMS)
    ds = load_dataset("mintrec", root)
    key = ds["train"][0]["key"]
    store = ds.feature_stores["video"]
    assert store.raw(key).shape == (store.length(key), 1, 8)
    assert store[key].shape == (store.length(key), 8)
    row = ds.with_features("train")[0]
    np.testing.assert_array_equal(np.asarray(row["video"]), store[key])
    assert np.asarray(row["audio"]).shape == (row["audio_length"], 6)


def test_arrays_stay_out_of_arrow_and_npz_members_are_memory_mapped(per_format):
    ds = load_dataset("mintrec2", per_format["npz"])
    for split in ds.splits.values():
        assert "video" not in split.column_names and "audio" not in split.column_names
    feature_bytes = sum(p.stat().st_size for p in per_format["npz"].rglob("*.npz"))
    arrow_bytes = sum(split.data.nbytes for split in ds.splits.values())
    assert arrow_bytes < feature_bytes / 5
    store = ds.feature_stores["audio"]  # in-scope + out-of-scope files read as one
    assert isinstance(store, UnionStore) and len(store.parts) == 2
    assert all(isinstance(part, NpzStore) and part.compressed == 0 for part in store.parts)
    view = store.raw(ds["train"][0]["key"])
    assert not view.flags.owndata and not view.flags.writeable  # a view into the file's mmap


def test_compressed_npz_is_read_per_key(tmp_path):
    arrays = {f"k{i}": np.full((i + 1, 3), i, np.float32) for i in range(4)}
    save_features(tmp_path / "f.npz", arrays, compressed=True)
    store = open_feature_store(tmp_path / "f.npz")
    assert store.compressed == 4 and len(store) == 4 and store.dim == 3
    assert store.shape("k2") == (3, 3) and store.dtype("k2") == np.float32
    np.testing.assert_array_equal(store.read("k3", max_len=2), arrays["k3"][:2])


def test_each_feature_file_is_loaded_once(per_format, monkeypatch):
    calls = []
    real_load = pickle.load

    def counting_load(handle, *args, **kwargs):
        calls.append(getattr(handle, "name", None))
        return real_load(handle, *args, **kwargs)

    monkeypatch.setattr(features_module.pickle, "load", counting_load)
    ds = load_dataset("mintrec2", per_format["pickle"], allow_pickle=True)
    ds.collator()(list(ds["train"]) + list(ds["test"]))
    # in-scope and out-of-scope files of each modality, each read once
    assert sorted(Path(c).relative_to(per_format["pickle"]).as_posix() for c in calls) == [
        "in-scope/audio_data/wavlm_feats.pkl",
        "in-scope/video_data/swin_roi.pkl",
        "out-of-scope/MIntRec2.0-OOD/audio_data/wavlm_feats.pkl",
        "out-of-scope/MIntRec2.0-OOD/video_data/swin_roi.pkl",
    ]


def test_stores_survive_pickling_for_dataloader_workers(per_format):
    for fmt in ("npz", "safetensors"):
        ds = load_dataset("mintrec2", per_format[fmt])
        store = ds.feature_stores["video"]
        key = ds["train"][3]["key"]
        copy = pickle.loads(pickle.dumps(store))
        np.testing.assert_array_equal(copy[key], store[key])


def test_explicit_feature_paths_and_text_only(per_format):
    root = per_format["safetensors"]
    audio = root / "in-scope" / "audio_data" / "wavlm_feats.safetensors"  # + its OOS part
    ds = load_dataset("mintrec2", root, features={"audio": audio})
    assert ds.modalities == ["text", "audio"]
    both = load_dataset("mintrec2", root, features={"video": "auto", "audio": audio})
    assert both.modalities == ["text", "video", "audio"]
    assert load_dataset("mintrec2", root, features=None).modalities == ["text"]
    arrays = {
        key: np.ones((2, 5), np.float32) for split in ds.splits.values() for key in split["key"]
    }
    in_memory = load_dataset("mintrec2", root, features={"video": arrays})
    assert in_memory.feature_dims == {"video": 5}


def test_find_feature_file_prefers_safetensors_and_official_layout(tmp_path):
    assert find_feature_file(tmp_path, "video") is None
    (tmp_path / "video_data").mkdir()
    official = tmp_path / "video_data" / "video_feats.pkl"
    official.write_bytes(b"")
    assert find_feature_file(tmp_path, "video") == official
    (tmp_path / "video_feats.npz").write_bytes(b"")
    (tmp_path / "video_feats.safetensors").write_bytes(b"")
    assert find_feature_file(tmp_path, "video") == tmp_path / "video_feats.safetensors"


def test_convert_pickle_to_safetensors_round_trip(tmp_path):
    keys = [f"S01_E01_{i}" for i in range(7)]
    src = write_feature_file(tmp_path / "video_feats.pkl", keys, 4, (2, 9), middle_axis=True)
    dst = tmp_path / "video_feats.safetensors"
    with pytest.raises(PickleNotAllowedError):
        convert_features(src, dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video_feats.pkl"]  # nothing written
    result = convert_features(src, dst, allow_pickle=True)
    assert (result.keys, result.dims, result.path) == (7, (4,), dst)
    with open(src, "rb") as handle:
        original = pickle.load(handle)
    with safe_open(str(dst), framework="np") as converted:
        assert set(converted.keys()) == set(keys)
        assert converted.metadata() == {"source": "video_feats.pkl"}
        for key in keys:
            np.testing.assert_array_equal(converted.get_tensor(key), original[key])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "video_feats.pkl",
        "video_feats.safetensors",
    ]
    store = open_feature_store(dst)
    assert isinstance(store, SafetensorsStore) and store[keys[0]].shape == (
        store.length(keys[0]),
        4,
    )


def test_convert_npz_to_safetensors_and_back(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float16).reshape(3, 2), "b": np.ones((1, 2), np.float64)}
    save_features(tmp_path / "f.npz", arrays)
    convert_features(tmp_path / "f.npz", tmp_path / "g.safetensors")
    convert_features(tmp_path / "g.safetensors", tmp_path / "h.npz")
    with np.load(tmp_path / "h.npz") as back:
        for key, value in arrays.items():
            assert back[key].dtype == value.dtype
            np.testing.assert_array_equal(back[key], value)
    with pytest.raises(FeatureError, match="output must be .safetensors"):
        convert_features(tmp_path / "f.npz", tmp_path / "f.pkl")
    with pytest.raises(FeatureError, match="output is the input file"):
        convert_features(tmp_path / "g.safetensors", tmp_path / "g.safetensors")


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.safetensors"
    specs = {"a": ((2, 3), np.float32), "b": ((4, 3), np.float32)}
    with pytest.raises(FeatureError, match="declared"):
        write_safetensors(target, specs, lambda key: np.zeros((2, 3), np.float32))
    assert list(tmp_path.iterdir()) == []
