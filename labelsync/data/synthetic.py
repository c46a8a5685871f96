"""Tiny synthetic MIntRec / MIntRec2.0 / custom layouts for tests, demos and benchmarks.

The layouts are the releases' as downloaded (``layout="release"``, the default):

- MIntRec: ``{split}.tsv``, ``video_data/video_feats.*`` (``(T, 1, D)``) and
  ``audio_data/audio_feats.*`` (``feature_names=("swin_feats", "wavlm_feats")`` for the
  TCL-MAP variant);
- MIntRec2.0: ``in-scope/{split}.tsv`` with ``in-scope/video_data/swin_roi.*`` and
  ``in-scope/audio_data/wavlm_feats.*``; ``out-of-scope/MIntRec2.0-OOD/{split}.tsv`` (label
  ``UNK``) with their own ``video_data/swin_roi.*`` and ``audio_data/wavlm_feats.*``.

``layout="flat"`` puts one ``video_feats.*`` / ``audio_feats.*`` covering every row next to the
TSV files (what ``convert-features`` or a feature extractor leaves); for MIntRec2.0 it also uses
the older ``out-of-scope/{split}.tsv`` spelling. Everything is deterministic for a given
``seed``. Feature files are written one key at a time (``.safetensors`` or ``.npz``), so even
feature sets larger than memory can be generated; the ``pickle`` format (the official release
format) builds the dict in memory: small sizes only.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..labels import LabelSet
from .mintrec2 import MINTREC2_OOS_DIR
from .writers import save_features, write_npz, write_safetensors

__all__ = [
    "MINTREC_SIZES",
    "MINTREC2_SIZES",
    "write_mintrec",
    "write_mintrec2",
    "write_custom",
    "write_feature_file",
]

MINTREC_SIZES = {"train": 1334, "dev": 445, "test": 445}  # the official splits
MINTREC2_SIZES = {"train": 60, "dev": 30, "test": 30}  # small by default (official: 6165/1106/2033)
FORMAT_SUFFIX = {"safetensors": ".safetensors", "npz": ".npz", "pickle": ".pkl"}
LAYOUTS = ("release", "flat")

Frames = int | tuple[int, int]

_WORDS = (
    "i you we they really never maybe please sorry thanks great terrible think know want need "
    "go come stay leave help tell ask give take look wait stop start today tomorrow now here "
    "there this that everything nothing someone dinner meeting money car house job party plan"
).split()


def _texts(rng: np.random.Generator, count: int) -> list[str]:
    lengths = rng.integers(2, 26, size=count)
    return [" ".join(rng.choice(_WORDS, size=int(n))).capitalize() + "." for n in lengths]


def _assign(rng: np.random.Generator, names: Sequence[str], count: int) -> list[str]:
    """Round-robin then shuffled: every label appears once ``count >= len(names)``."""
    labels = [names[i % len(names)] for i in range(count)]
    return [labels[i] for i in rng.permutation(count)]


def _frames(rng: np.random.Generator, frames: Frames, count: int) -> np.ndarray:
    if isinstance(frames, int):
        return np.full(count, frames, dtype=np.int64)
    low, high = frames
    return rng.integers(low, high + 1, size=count)


def write_feature_file(
    path: str | Path,
    keys: Sequence[str],
    dim: int,
    frames: Frames,
    *,
    seed: int = 0,
    middle_axis: bool = False,
    dtype: str = "float32",
) -> Path:
    """Random ``(T, D)`` (or ``(T, 1, D)``) arrays per key, format by suffix, streamed per key."""
    path = Path(path)
    frame_counts = _frames(np.random.default_rng([seed, 1]), frames, len(keys))
    lengths = dict(zip(keys, frame_counts, strict=True))
    index = {key: i for i, key in enumerate(keys)}

    def shape_of(key: str) -> tuple[int, ...]:
        return (int(lengths[key]), 1, dim) if middle_axis else (int(lengths[key]), dim)

    def make(key: str) -> np.ndarray:
        rng = np.random.default_rng([seed, 2, index[key]])
        return rng.random(shape_of(key), dtype=np.float32).astype(dtype, copy=False)

    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return write_safetensors(path, {k: (shape_of(k), np.dtype(dtype)) for k in keys}, make)
    if suffix == ".npz":
        return write_npz(path, keys, make)
    return save_features(path, {key: make(key) for key in keys})


def _write_tsv(path: Path, header: Sequence[str] | None, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        if header:
            writer.writerow(header)
        writer.writerows(rows)


def _write_features(
    folder: Path,
    keys: list[str],
    features: str | None,
    *,
    names: tuple[str, str],
    nested: bool,
    video_dim: int,
    audio_dim: int,
    video_frames: Frames,
    audio_frames: Frames,
    seed: int,
    video_middle_axis: bool,
) -> None:
    """``{video,audio}`` files named ``names`` in ``folder`` (``{modality}_data/`` if nested)."""
    if features is None or not keys:
        return
    if features not in FORMAT_SUFFIX:
        raise ValueError(f"features must be one of {', '.join(FORMAT_SUFFIX)} or None")
    suffix = FORMAT_SUFFIX[features]
    video_dir = folder / "video_data" if nested else folder
    audio_dir = folder / "audio_data" if nested else folder
    write_feature_file(
        video_dir / f"{names[0]}{suffix}",
        keys,
        video_dim,
        video_frames,
        seed=seed + 101,
        middle_axis=video_middle_axis,
    )
    write_feature_file(
        audio_dir / f"{names[1]}{suffix}", keys, audio_dim, audio_frames, seed=seed + 202
    )


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")


def write_mintrec(
    root: str | Path,
    sizes: Mapping[str, int] = MINTREC_SIZES,
    *,
    features: str | None = None,
    video_dim: int = 256,
    audio_dim: int = 768,
    video_frames: Frames = (20, 230),
    audio_frames: Frames = (50, 480),
    seed: int = 0,
    feature_names: tuple[str, str] = ("video_feats", "audio_feats"),
    layout: str = "release",
) -> Path:
    """A MIntRec folder: ``{train,dev,test}.tsv`` (+ ``video_data/video_feats.*`` and
    ``audio_data/audio_feats.*``; video as ``(T, 1, D)`` like the official release)."""
    _check_layout(layout)
    root = Path(root)
    rng = np.random.default_rng(seed)
    names = LabelSet.preset("mintrec").names
    keys: list[str] = []
    for split, count in sizes.items():
        texts, labels = _texts(rng, count), _assign(rng, names, count)
        rows = []
        for text, label in zip(texts, labels, strict=True):
            clip = len(keys)
            season, episode = f"S{clip % 6 + 1:02d}", f"E{clip % 24 + 1:02d}"
            keys.append(f"{season}_{episode}_{clip}")
            rows.append([season, episode, str(clip), text, label])
        _write_tsv(root / f"{split}.tsv", ["season", "episode", "clip", "text", "label"], rows)
    _write_features(
        root,
        keys,
        features,
        names=feature_names,
        nested=layout == "release",
        video_dim=video_dim,
        audio_dim=audio_dim,
        video_frames=video_frames,
        audio_frames=audio_frames,
        seed=seed,
        video_middle_axis=True,
    )
    return root


MINTREC2_HEADERS = {
    "official": ["Dialogue_id", "Utterance_id", "Text", "Label", "Speaker"],
    "lower": ["dialogue_id", "utterance_id", "text", "label", "speaker"],
    None: None,
}


def write_mintrec2(
    root: str | Path,
    sizes: Mapping[str, int] = MINTREC2_SIZES,
    oos_sizes: Mapping[str, int] | None = None,
    *,
    header: str | None = "official",
    features: str | None = None,
    video_dim: int = 256,
    audio_dim: int = 768,
    video_frames: Frames = (20, 230),
    audio_frames: Frames = (50, 480),
    seed: int = 0,
    layout: str = "release",
) -> Path:
    """A MIntRec2.0 folder: ``in-scope/`` and (when ``oos_sizes``)
    ``out-of-scope/MIntRec2.0-OOD/`` TSVs with 5 columns (dialogue, utterance, text, label,
    speaker), keys ``dia{D}_utt{U}``; each folder with its own ``swin_roi``/``wavlm_feats``."""
    _check_layout(layout)
    root = Path(root)
    rng = np.random.default_rng(seed)
    names = LabelSet.preset("mintrec2").names
    oos_folder = MINTREC2_OOS_DIR if layout == "release" else "out-of-scope"
    parts = [("in-scope", sizes, names)]
    if oos_sizes is not None:
        parts.append((oos_folder, oos_sizes, ["UNK"]))
    all_keys: list[str] = []
    keys_by_part: dict[str, list[str]] = {}
    for folder, part_sizes, label_names in parts:
        keys = keys_by_part[folder] = []
        for split, count in part_sizes.items():
            texts, labels = _texts(rng, count), _assign(rng, label_names, count)
            rows = []
            for text, label in zip(texts, labels, strict=True):
                dialogue, utterance = divmod(len(all_keys), 5)
                all_keys.append(f"dia{dialogue}_utt{utterance}")
                keys.append(all_keys[-1])
                speaker = ("Ann", "Bob", "Cy")[utterance % 3]
                rows.append([str(dialogue), str(utterance), text, label, speaker])
            _write_tsv(root / folder / f"{split}.tsv", MINTREC2_HEADERS[header], rows)
    dims = {
        "video_dim": video_dim,
        "audio_dim": audio_dim,
        "video_frames": video_frames,
        "audio_frames": audio_frames,
        "video_middle_axis": False,
    }
    if layout == "flat":
        names_flat = ("video_feats", "audio_feats")
        _write_features(root, all_keys, features, names=names_flat, nested=False, seed=seed, **dims)
        return root
    for index, (folder, keys) in enumerate(keys_by_part.items()):
        _write_features(
            root / folder,
            keys,
            features,
            names=("swin_roi", "wavlm_feats"),
            nested=True,
            seed=seed + 1000 * index,
            **dims,
        )
    return root


def write_custom(
    root: str | Path,
    labels: Sequence[str],
    sizes: Mapping[str, int] = MINTREC2_SIZES,
    *,
    fmt: str = "csv",
    oos_label: str | None = None,
    oos_per_split: int = 0,
    with_ids: bool = True,
    labels_file: bool = True,
    seed: int = 0,
) -> Path:
    """A custom dataset folder: ``{split}.{csv,tsv,jsonl}`` with ``id,text,label``, labels.txt."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if labels_file:
        (root / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    counter = 0
    for split, count in sizes.items():
        assigned = _assign(rng, list(labels), count) + [oos_label or "oos"] * oos_per_split
        rows = []
        for text, label in zip(_texts(rng, len(assigned)), assigned, strict=True):
            rows.append({"id": f"u{counter}", "text": text, "label": label})
            counter += 1
        if not with_ids:
            rows = [{k: v for k, v in row.items() if k != "id"} for row in rows]
        path = root / f"{split}.{fmt}"
        if fmt == "jsonl":
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        else:
            with path.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(
                    handle, fieldnames=list(rows[0]), delimiter="\t" if fmt == "tsv" else ","
                )
                writer.writeheader()
                writer.writerows(rows)
    return root
