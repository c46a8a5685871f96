"""Finding a dataset's feature files and checking them against its rows."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from .base import FeatureError
from .feature_store import FeatureStore, feature_dim
from .features import FEATURE_SUFFIXES

__all__ = ["find_feature_file", "check_features"]

log = logging.getLogger(__name__)


def find_feature_file(data_dir: str | Path, modality: str) -> Path | None:
    """``<dir>/{modality}_feats.{safetensors,npz,pkl}`` or the official MIntRec
    ``<dir>/{modality}_data/{modality}_feats.*``; safetensors is preferred when several exist."""
    data_dir = Path(data_dir)
    found = [
        folder / f"{modality}_feats{suffix}"
        for folder in (data_dir, data_dir / f"{modality}_data")
        for suffix in FEATURE_SUFFIXES
        if (folder / f"{modality}_feats{suffix}").is_file()
    ]
    if len(found) > 1:
        log.info("%s features: using %s (also present: %s)", modality, found[0], found[1:])
    return found[0] if found else None


def check_features(
    store: FeatureStore, modality: str, keys_by_split: Mapping[str, Iterable[str]]
) -> dict[str, list[int]]:
    """Check every key is present with a ``(T, D)``/``(T, 1, D)`` shape, one D and T >= 1.

    Returns split -> lengths (T per row, in order); raises FeatureError naming the file, the
    number of missing keys and the first few.
    """
    available = store.keys()
    missing: dict[str, list[str]] = {}
    for split, keys in keys_by_split.items():
        absent = [k for k in keys if k not in available]
        if absent:
            missing[split] = absent
    if missing:
        total = sum(len(v) for v in missing.values())
        per_split = ", ".join(f"{s}: {len(v)}" for s, v in missing.items())
        first = [k for v in missing.values() for k in v][:5]
        raise FeatureError(
            f"{store.where}: {total} keys missing from the {modality} features ({per_split}); "
            f"first: {', '.join(first)}"
        )
    lengths: dict[str, list[int]] = {}
    reference: tuple[str, int] | None = None
    for split, keys in keys_by_split.items():
        split_lengths = lengths[split] = []
        for key in keys:
            shape = store.shape(key)
            dim = feature_dim(shape, store.where, key)
            if reference is None:
                reference = (key, dim)
            elif dim != reference[1]:
                raise FeatureError(
                    f"{store.where}: inconsistent {modality} feature dims: key {key!r} has "
                    f"D={dim}, key {reference[0]!r} has D={reference[1]}"
                )
            if shape[0] < 1:
                raise FeatureError(f"{store.where}: key {key!r} has no frames (shape {shape})")
            split_lengths.append(int(shape[0]))
    if reference is not None:
        store._dim = reference[1]
    return lengths
