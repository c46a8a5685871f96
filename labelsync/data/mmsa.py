"""CMU-MOSI and CMU-MOSEI as the MMSA toolkit ships them (HyCon's data, seed 002; CARAT's
CMU-MOSEI emotions, seed 000).

The download is one pickle per alignment: ``aligned_50.pkl`` (video and audio averaged per word,
50 steps) and ``unaligned_50.pkl`` (frames as extracted, with ``vision_lengths`` and
``audio_lengths``), in the data folder or its ``Processed/`` folder, or named as ``--data-dir``
itself. Inside, ``{"train" | "valid" | "test": {field: array}}`` with ``raw_text`` and ``id``
(``[N]`` strings), ``text_bert`` (``[N, 3, 50]`` token ids, mask, segments) or ``text``
(``[N, 50, 768]``), ``vision`` and ``audio`` (``[N, L, D]``, zero-padded) and
``regression_labels`` (``[N]`` sentiment in [-3, 3]). labelsync tokenizes ``raw_text`` itself,
so ``text``/``text_bert`` are not read.

- Rows: key = ``id``, text = ``raw_text``, ``score`` = the sentiment (a value outside [-3, 3]
  is an error); ``valid`` is the dev split. The score's name is ``sentiment``.
- Features: each sample's ``vision``/``audio`` frames without the all-zero padding at either
  end (so front- and end-padded files both work; at least one frame is kept); ``-inf``/NaN
  (found in COVAREP audio) become 0, as MMSA does. They stay views into the loaded arrays.
- CMU-MOSEI emotions (multi-label, seed 000): the six SDK emotions, each present when its
  intensity is > 0, from an ``emotion_labels`` ``[N, 6]`` array in the file (SDK order: happiness,
  sadness, anger, surprise, disgust, fear) or from a CSV (``emotions=``) with an ``id`` column
  and one column per emotion. A sample may have none.
- Both files in one folder: ``variant`` picks (``aligned``/``unaligned``); without it the
  unaligned one is read (A-ME aligns by itself) and the other is named in a log line.
- Pickle needs ``allow_pickle``; ``labelsync convert-features aligned_50.pkl
  aligned_50.safetensors --allow-pickle`` writes the fields read here to safetensors once (the
  strings go to its metadata), and that file is then found first.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..labels import LabelSet
from .base import DataError, MaxLengths, ParsedData, Record
from .feature_store import MemoryStore
from .features import PICKLE_SUFFIXES, load_pickle
from .tabular import Column, pick, read_table

__all__ = [
    "read_mosi",
    "read_mosei",
    "load_mmsa",
    "is_mmsa",
    "mmsa_file",
    "MMSA_SPLITS",
    "MMSA_FIELDS",
    "MMSA_VARIANTS",
    "MOSEI_EMOTIONS",
]

log = logging.getLogger(__name__)

MMSA_VARIANTS = {"unaligned": "unaligned_50", "aligned": "aligned_50"}
MMSA_SPLITS = {"train": "train", "dev": "valid", "test": "test"}  # ours -> the file's
STRING_FIELDS = ("raw_text", "id")
MMSA_FIELDS = (  # what labelsync reads (and convert-features keeps)
    *STRING_FIELDS,
    "vision",
    "audio",
    "regression_labels",
    "vision_lengths",
    "audio_lengths",
    "emotion_labels",
)
MOSEI_EMOTIONS = ("happiness", "sadness", "anger", "surprise", "disgust", "fear")
_EMOTION_ALIASES = {"happiness": ("happy",), "sadness": ("sad",), "anger": ("angry",)}
SCORE_NAME = "sentiment"
SCORE_RANGE = 3.0
MODALITIES = {"video": "vision", "audio": "audio"}
_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)

Splits = dict[str, dict[str, Any]]  # the file's split name -> field -> array


def mmsa_file(data_dir: str | Path, variant: str | None = None) -> Path:
    """The MMSA file to read: ``data_dir`` itself, or ``{aligned,unaligned}_50.*`` inside it."""
    path = Path(data_dir)
    if variant is not None and variant not in MMSA_VARIANTS:
        raise DataError(f"unknown variant {variant!r}; choose {' or '.join(MMSA_VARIANTS)}")
    if path.is_file():
        return path
    found = {}
    for name, stem in MMSA_VARIANTS.items():
        for folder in (path, path / "Processed"):
            files = [folder / f"{stem}{suffix}" for suffix in _SUFFIXES]
            hit = next((f for f in files if f.is_file()), None)
            if hit is not None and name not in found:
                found[name] = hit
    if variant is not None:
        if variant not in found:
            raise DataError(f"{path}: no {MMSA_VARIANTS[variant]}.pkl (or .safetensors)")
        return found[variant]
    if not found:
        raise DataError(f"{path}: no aligned_50.pkl or unaligned_50.pkl (the MMSA files)")
    if len(found) > 1:
        other = found["aligned"].name
        log.info("%s: reading %s (variant='aligned' reads %s)", path, found["unaligned"], other)
    return next(iter(found.values()))


def is_mmsa(data: Any) -> bool:
    """Whether unpickled ``data`` is an MMSA file (train/valid/test dicts with ``raw_text``)."""
    return isinstance(data, Mapping) and all(
        isinstance(data.get(split), Mapping) and "raw_text" in data[split]
        for split in MMSA_SPLITS.values()
    )


def load_mmsa(path: Path, *, allow_pickle: bool = False) -> Splits:
    """The fields labelsync reads, per split of the file (pickle, or a converted safetensors)."""
    if path.suffix.lower() == ".safetensors":
        return _load_converted(path)
    data = load_pickle(path, allow_pickle=allow_pickle)
    if not is_mmsa(data):
        raise DataError(f"{path}: not an MMSA file (train/valid/test dicts with raw_text)")
    return {
        split: {name: value for name, value in data[split].items() if name in MMSA_FIELDS}
        for split in MMSA_SPLITS.values()
    }


def _load_converted(path: Path) -> Splits:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            meta = handle.metadata() or {}
            if meta.get("format") != "mmsa":
                raise DataError(f"{path}: not an MMSA file converted by convert-features")
            splits: Splits = {split: {} for split in MMSA_SPLITS.values()}
            for name in handle.keys():
                split, field = name.split("/", 1)
                splits[split][field] = handle.get_tensor(name)
    except DataError:
        raise
    except Exception as exc:  # safetensors raises its own error types
        raise DataError(f"{path}: not a readable safetensors file ({exc})") from None
    for name, text in meta.items():
        if "/" in name:
            split, field = name.split("/", 1)
            splits[split][field] = json.loads(text)
    return splits


def read_mosi(
    data_dir: str | Path,
    *,
    labels: LabelSet | None = None,
    variant: str | None = None,
    allow_pickle: bool = False,
) -> ParsedData:
    """CMU-MOSI (sentiment regression) from an MMSA file; see the module docstring."""
    if labels is not None:
        raise DataError("mosi: a label list does not apply (its rows carry sentiment scores)")
    return _read("mosi", data_dir, variant, allow_pickle, None, None)


def read_mosei(
    data_dir: str | Path,
    *,
    labels: LabelSet | None = None,
    variant: str | None = None,
    allow_pickle: bool = False,
    emotions: str | Path | None = None,
) -> ParsedData:
    """CMU-MOSEI (sentiment; emotions as label sets when the file or ``emotions`` has them)."""
    if labels is not None:
        unknown = [name for name in labels if name not in LabelSet(MOSEI_EMOTIONS)]
        if unknown:
            raise DataError(f"mosei: {unknown[0]!r} is not one of {', '.join(MOSEI_EMOTIONS)}")
    return _read("mosei", data_dir, variant, allow_pickle, emotions, labels)


def _read(
    name: str,
    data_dir: str | Path,
    variant: str | None,
    allow_pickle: bool,
    emotions: str | Path | None,
    labels: LabelSet | None,
) -> ParsedData:
    path = mmsa_file(data_dir, variant)
    splits = load_mmsa(path, allow_pickle=allow_pickle)
    table = _emotion_table(Path(emotions)) if emotions is not None else None
    carried = all("emotion_labels" in fields for fields in splits.values())
    kept = LabelSet(labels.names if labels is not None else MOSEI_EMOTIONS)
    records: dict[str, list[Record]] = {}
    arrays: dict[str, dict[str, np.ndarray]] = {m: {} for m in MODALITIES}
    seen: set[str] = set()
    for ours, theirs in MMSA_SPLITS.items():
        fields = splits[theirs]
        where = f"{path}: {theirs}"
        for field in ("raw_text", "id", "regression_labels", *MODALITIES.values()):
            if field not in fields:
                raise DataError(f"{where}: missing field {field!r}")
        ids = [str(key) for key in fields["id"]]
        texts, scores = list(fields["raw_text"]), np.asarray(fields["regression_labels"])
        scores = scores.astype(np.float64).reshape(len(ids), -1)[:, 0]
        intensities = None
        if table is not None:
            intensities = [_row(table, key, emotions, theirs) for key in ids]
        elif carried:
            intensities = np.asarray(fields["emotion_labels"], dtype=np.float64)
        rows = []
        for i, key in enumerate(ids):
            at = f"{where}[{i}] (id {key})"
            if key in seen:
                raise DataError(f"{at}: duplicate id")
            seen.add(key)
            text = texts[i]
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{at}: raw_text is empty")
            score = float(scores[i])
            if not math.isfinite(score) or abs(score) > SCORE_RANGE + 1e-6:
                raise DataError(f"{at}: regression label {score} is outside [-3, 3]")
            names = None
            if intensities is not None:
                present = [e for e, v in zip(MOSEI_EMOTIONS, intensities[i], strict=True) if v > 0]
                names = [e for e in present if e in kept]
            label = "|".join(names) if names is not None else SCORE_NAME
            rows.append(Record(key, text.strip(), label, labels=names, score=score))
        records[ours] = rows
        for modality, field in MODALITIES.items():
            arrays[modality].update(_per_sample(np.asarray(fields[field]), ids, f"{where}.{field}"))
    with_emotions = table is not None or carried
    if labels is not None and not with_emotions:
        raise DataError(f"{path}: no emotion_labels in the file; give emotions=CSV")
    label_set = kept if with_emotions else LabelSet([SCORE_NAME])
    frames = {m: max((len(a) for a in arrays[m].values()), default=1) for m in MODALITIES}
    return ParsedData(
        name,
        records,
        label_set,
        None,
        str(path),
        stores={m: _store(arrays[m], path) for m in MODALITIES},
        max_lengths=MaxLengths(text=50, **frames),  # 50 tokens, as MMSA's BERT inputs
        score_name=SCORE_NAME,
    )


def _store(arrays: dict[str, np.ndarray], path: Path) -> MemoryStore:
    """The per-sample views, held in memory, recorded with the file's format."""
    store = MemoryStore(arrays, path)
    store.format = "safetensors" if path.suffix.lower() == ".safetensors" else "pickle"
    return store


def _per_sample(values: np.ndarray, ids: list[str], where: str) -> dict[str, np.ndarray]:
    """key -> ``(T, D)`` view of each sample's frames, without the all-zero padding at the ends."""
    if values.ndim != 3 or len(values) != len(ids):
        raise DataError(f"{where}: expected [{len(ids)}, frames, dim], got {values.shape}")
    if not np.isfinite(values).all():
        values = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    real = np.any(values != 0, axis=-1)  # [N, L]
    first = np.where(real.any(axis=1), real.argmax(axis=1), 0)
    last = np.where(real.any(axis=1), real.shape[1] - real[:, ::-1].argmax(axis=1), 1)
    return {key: values[i, first[i] : last[i]] for i, key in enumerate(ids)}


EMOTION_COLUMNS = (
    Column("id", ("key", "video_id")),
    *(Column(e, _EMOTION_ALIASES.get(e, ())) for e in MOSEI_EMOTIONS),
)


def _emotion_table(path: Path) -> dict[str, list[float]]:
    """id -> the six emotion intensities of a CSV/TSV (header: id + one column per emotion)."""
    if not path.is_file():
        raise DataError(f"{path}: emotions file not found")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    table: dict[str, list[float]] = {}
    for where, row, indexes in read_table(
        path, EMOTION_COLUMNS, delimiter=delimiter, positional=False
    ):
        key = pick(row, indexes, "id", where=where).strip()
        values = []
        for emotion in MOSEI_EMOTIONS:
            cell = pick(row, indexes, emotion, where=where)
            try:
                values.append(float(cell))
            except ValueError:
                raise DataError(f"{where}: field {emotion!r} is not a number: {cell!r}") from None
        if key in table:
            raise DataError(f"{where}: duplicate id {key!r}")
        table[key] = values
    return table


def _row(table: dict[str, list[float]], key: str, source: Any, split: str) -> list[float]:
    if key not in table:
        raise DataError(f"{source}: no row for id {key!r} ({split} split of the MMSA file)")
    return table[key]
