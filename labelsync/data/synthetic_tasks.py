"""Small data for the multi-label and regression tasks, in the formats users bring them in.

- ``write_mmsa``: a CMU-MOSI/MOSEI file as the MMSA toolkit ships it (``mmsa.py`` reads it):
  ``{"train" | "valid" | "test": {raw_text, id, text_bert, text, vision, audio,
  regression_labels, classification_labels, annotations (+ vision_lengths, audio_lengths when
  unaligned; + emotion_labels on request)}}``. The aligned variant pads at the front, the
  unaligned one at the end with lengths. The sentiment is a known function of the video:
  ``clip(3 * mean_t vision[t, 0], -3, 3)`` (every video dim is the row's level in [-1, 1] plus
  noise; some rows exactly 0), so a model can learn it; text and audio are noise.
- ``write_mixclinc``: MixCLINC, multi-label text made from CLINC150 as MixATIS/MixSNIPS were made
  from ATIS/SNIPS: two utterances of different intents joined by "and" (and a share of single
  utterances), each split drawn from the same CLINC150 split; a custom dataset folder with an
  ``id,text,labels`` CSV per split and ``labels.txt``.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes, atomic_write_text
from .custom import LABEL_SEPARATOR
from .mmsa import MMSA_SPLITS, MOSEI_EMOTIONS
from .synthetic import _texts

__all__ = ["write_mmsa", "write_mixclinc", "MMSA_TEST_SIZES", "MIXCLINC_LABELS"]

MMSA_TEST_SIZES = {"train": 48, "dev": 16, "test": 16}
# ten CLINC150 intents from different domains: the small MixCLINC of the tests and benchmarks
MIXCLINC_LABELS = [
    "book_flight",
    "weather",
    "alarm",
    "transfer",
    "pay_bill",
    "restaurant_reservation",
    "translate",
    "timer",
    "play_music",
    "credit_score",
]


def write_mmsa(
    path: str | Path,
    sizes: Mapping[str, int] = MMSA_TEST_SIZES,
    *,
    aligned: bool = True,
    text_len: int = 50,
    text_dim: int = 768,
    video_dim: int = 20,
    audio_dim: int = 5,
    frames: tuple[int, int] = (4, 12),
    emotions: bool = False,
    seed: int = 0,
) -> Path:
    """An MMSA pickle (MOSI widths by default: Facet 20-d video, COVAREP 5-d audio)."""
    rng = np.random.default_rng(seed)
    data = {}
    count = 0
    for ours, theirs in MMSA_SPLITS.items():
        n = int(sizes.get(ours, 0))
        lengths = {m: rng.integers(frames[0], frames[1] + 1, size=n) for m in ("vision", "audio")}
        width = text_len if aligned else int(frames[1])
        split = {
            "raw_text": np.array(_texts(rng, n), dtype=object),
            "id": np.array([f"vid{(count + i) // 4}$_${(count + i) % 4}" for i in range(n)]),
            "text_bert": rng.integers(0, 100, size=(n, 3, text_len)).astype(np.float32),
            "text": rng.standard_normal((n, text_len, text_dim), dtype=np.float32),
        }
        count += n
        for modality, dim in (("vision", video_dim), ("audio", audio_dim)):
            values = np.zeros((n, width, dim), dtype=np.float32)
            for i, length in enumerate(lengths[modality]):
                length = min(int(length), width)
                real = rng.uniform(0.1, 1.0, size=(length, dim)).astype(np.float32)
                place = slice(width - length, width) if aligned else slice(0, length)
                values[i, place] = real
            split[modality] = values
        level = rng.uniform(-1.0, 1.0, size=n)
        level[rng.random(n) < 0.15] = 0.0  # rows whose sentiment is exactly neutral
        for i in range(n):  # the signal: every video dim is the level plus noise
            rows = split["vision"][i].any(axis=-1)
            noise = rng.normal(0, 0.05, size=(rows.sum(), video_dim))
            split["vision"][i, rows] = level[i] + noise
            if level[i] == 0.0:
                split["vision"][i, rows, 0] = 0.0
        if n:
            split["audio"][0, -1, 0] = -np.inf  # COVAREP files hold a few -inf values
        mean = [split["vision"][i][split["vision"][i].any(axis=-1), 0].mean() for i in range(n)]
        scores = np.clip(3.0 * np.asarray(mean, dtype=np.float64), -3.0, 3.0).round(4)
        split["regression_labels"] = scores.astype(np.float32)
        classes = (np.sign(scores) + 1).astype(int)  # 0 negative, 1 neutral, 2 positive
        split["classification_labels"] = classes.astype(np.float32)
        split["annotations"] = [("Negative", "Neutral", "Positive")[c] for c in classes]
        if not aligned:
            split["vision_lengths"] = [int(x) for x in lengths["vision"]]
            split["audio_lengths"] = [int(x) for x in lengths["audio"]]
        if emotions:
            levels = rng.choice([0.0, 0.0, 0.0, 0.333, 0.667, 1.0], size=(n, len(MOSEI_EMOTIONS)))
            split["emotion_labels"] = levels.astype(np.float32)
        data[theirs] = split
    return atomic_write_bytes(path, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))


def write_mixclinc(
    clinc_json: str | Path,
    out: str | Path,
    labels: Sequence[str],
    sizes: Mapping[str, int],
    *,
    pair_share: float = 0.7,
    seed: int = 0,
) -> Path:
    """MixCLINC over ``labels`` from CLINC150's ``data_full.json`` (see the module docstring)."""
    source = json.loads(Path(clinc_json).read_text(encoding="utf-8"))
    rng = np.random.default_rng(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts = {"train": "train", "dev": "val", "test": "test"}
    for split, count in sizes.items():
        pools = {
            label: [text for text, name in source[parts[split]] if name == label]
            for label in labels
        }
        empty = [label for label, pool in pools.items() if not pool]
        if empty:
            raise ValueError(f"{clinc_json}: no {parts[split]} utterances for {empty[0]!r}")
        rows = _mixed_rows(pools, list(labels), int(count), pair_share, rng, split)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["id", "text", "labels"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(out / f"{split}.csv", buffer.getvalue())
    atomic_write_text(out / "labels.txt", "\n".join(labels) + "\n")
    return out


def _mixed_rows(
    pools: dict[str, list[str]],
    labels: list[str],
    count: int,
    pair_share: float,
    rng: np.random.Generator,
    split: str,
) -> list[dict[str, str]]:
    """``count`` rows of one or two utterances (distinct intents), each pool used in turn."""
    order = {label: list(rng.permutation(len(pool))) for label, pool in pools.items()}

    def utterance(label: str) -> str:
        if not order[label]:  # every utterance used: start over in a new order
            order[label] = list(rng.permutation(len(pools[label])))
        return pools[label][order[label].pop()]

    rows = []
    for i in range(count):
        k = 2 if rng.random() < pair_share else 1
        chosen = [labels[j] for j in rng.choice(len(labels), size=k, replace=False)]
        text = " and ".join(utterance(label) for label in chosen)
        rows.append({"id": f"{split}_{i}", "text": text, "labels": LABEL_SEPARATOR.join(chosen)})
    return rows
