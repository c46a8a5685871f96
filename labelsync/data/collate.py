"""Batches keyed by modality name, padded per batch from memory-mapped feature stores.

``IntentCollator(stores)(rows)`` turns rows of an ``IntentDataset`` split (dicts with ``key``,
``text``, ``label_id``, ``is_oos``, as a ``torch.utils.data.DataLoader`` hands them over, or one
``dataset[i:j]`` dict of lists) into::

    {
      "key": list[str], "text": list[str],
      "label_id": LongTensor[B],          # in-scope 0..K-1, out-of-scope K
      "is_oos": BoolTensor[B],
      "label_ids": LongTensor[B, M],      # multi-label data: each row's label ids, -100 padding
      "score": FloatTensor[B],            # regression data
      "video": FloatTensor[B, Lv, Dv],     # zero-padded at the end, first Lv frames kept
      "video_mask": LongTensor[B, Lv],     # 1 = real frame, 0 = padding (HF attention_mask style)
      "video_lengths": LongTensor[B],      # frames kept = min(T, max length)
      "audio": ..., "audio_mask": ..., "audio_lengths": ...,
      "text_inputs": {...},                # only with a tokenizer: its output (input_ids, ...)
    }

``pad_to="max_length"`` (default, as in A-MESS: 180 video / 400 audio frames) or ``"longest"``
(the longest sample in the batch). ``return_tensors="np"`` gives numpy arrays instead of torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from .base import FeatureError, MaxLengths
from .feature_store import FeatureStore

__all__ = ["IntentCollator", "pad_features"]


def pad_features(
    arrays: Sequence[np.ndarray], max_len: int, *, pad_to: str = "max_length"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack ``(T_i, D)`` arrays into zero-padded ``(B, L, D)`` float32 + mask + lengths."""
    lengths = np.array([min(len(a), max_len) for a in arrays], dtype=np.int64)
    width = max_len if pad_to == "max_length" else int(lengths.max(initial=1))
    dim = arrays[0].shape[-1] if arrays else 0
    out = np.zeros((len(arrays), width, dim), dtype=np.float32)
    mask = np.zeros((len(arrays), width), dtype=np.int64)
    for i, (array, length) in enumerate(zip(arrays, lengths, strict=True)):
        out[i, :length] = array[:length]
        mask[i, :length] = 1
    return out, mask, lengths


class IntentCollator:
    """Collate function: rows -> a batch dict keyed by modality name (see the module docstring)."""

    def __init__(
        self,
        stores: Mapping[str, FeatureStore] | None = None,
        *,
        max_lengths: MaxLengths | None = None,
        pad_to: Literal["max_length", "longest"] = "max_length",
        return_tensors: Literal["pt", "np"] = "pt",
        tokenizer: Any = None,
    ):
        if pad_to not in ("max_length", "longest"):
            raise ValueError(f"pad_to must be 'max_length' or 'longest', got {pad_to!r}")
        if return_tensors not in ("pt", "np"):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
        self.stores = dict(stores or {})
        self.max_lengths = max_lengths or MaxLengths()
        self.pad_to = pad_to
        self.return_tensors = return_tensors
        self.tokenizer = tokenizer

    def __call__(self, rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence]) -> dict:
        if isinstance(rows, Mapping):  # a dict of columns, e.g. dataset[0:8]
            rows = [
                dict(zip(rows, values, strict=True)) for values in zip(*rows.values(), strict=True)
            ]
        keys = [str(row["key"]) for row in rows]
        batch: dict[str, Any] = {
            "key": keys,
            "text": [row["text"] for row in rows],
            "label_id": np.array([row["label_id"] for row in rows], dtype=np.int64),
            "is_oos": np.array([bool(row["is_oos"]) for row in rows], dtype=bool),
        }
        if rows and "label_ids" in rows[0]:  # multi-label: ids per row, padded with -100
            width = max(1, *(len(row["label_ids"]) for row in rows))
            ids = np.full((len(rows), width), -100, dtype=np.int64)
            for i, row in enumerate(rows):
                ids[i, : len(row["label_ids"])] = row["label_ids"]
            batch["label_ids"] = ids
        if rows and "score" in rows[0]:  # regression
            batch["score"] = np.array([row["score"] for row in rows], dtype=np.float32)
        for modality, store in self.stores.items():
            max_len = self.max_lengths.get(modality)
            try:
                arrays = [store.read(key, max_len) for key in keys]
            except KeyError as exc:
                raise FeatureError(f"{store.where}: no {modality} features for key {exc}") from None
            values, mask, lengths = pad_features(arrays, max_len, pad_to=self.pad_to)
            batch[modality] = values
            batch[f"{modality}_mask"] = mask
            batch[f"{modality}_lengths"] = lengths
        if self.return_tensors == "pt":
            import torch

            batch = {
                k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in batch.items()
            }
        if self.tokenizer is not None:
            batch["text_inputs"] = self.tokenizer(
                batch["text"],
                padding="max_length" if self.pad_to == "max_length" else "longest",
                truncation=True,
                max_length=self.max_lengths.text,
                return_tensors=self.return_tensors,
            )
        return batch
