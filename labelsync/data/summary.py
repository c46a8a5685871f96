"""What ``labelsync data inspect`` shows: per-split counts, text lengths, features, labels, and
the feature files read (name, format, dim, keys, sha256 of the first MB)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .dataset import IntentDataset

__all__ = ["summarize"]


def _stats(values: list[int]) -> dict[str, float | int]:
    if not values:
        return {"mean": 0.0, "max": 0}
    return {"mean": round(sum(values) / len(values), 2), "max": max(values)}


def summarize(dataset: IntentDataset) -> dict[str, Any]:
    """A JSON-ready summary; ``warnings`` lists labels absent from a split."""
    names = dataset.labels.names
    splits: dict[str, Any] = {}
    distribution: dict[str, dict[str, int]] = {name: {} for name in dataset.label_names(True)}
    warnings: list[str] = []
    for split, ds in dataset.splits.items():
        columns = ds.to_dict()
        is_oos = columns["is_oos"]
        counts = Counter(
            label for label, oos in zip(columns["label"], is_oos, strict=True) if not oos
        )
        if "label_ids" in columns:  # multi-label rows count once for each of their labels
            counts = Counter(names[i] for ids in columns["label_ids"] for i in ids)
        oos_count = sum(is_oos)
        for name in names:
            distribution[name][split] = counts.get(name, 0)
        if dataset.oos_label:
            distribution[dataset.oos_label][split] = oos_count
        missing = [name for name in names if not counts.get(name)]
        if missing and len(ds):
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            warnings.append(f"split {split!r}: {len(missing)} labels have no samples: {shown}")
        tokens = [len(text.split()) for text in columns["text"]]
        text_max = dataset.max_lengths.text
        info: dict[str, Any] = {
            "samples": len(ds),
            "in_scope": len(ds) - oos_count,
            "out_of_scope": oos_count,
            "labels_present": len(counts),
            "labels_missing": missing,
            "text_tokens": {
                **_stats(tokens),
                "over_max": sum(n > text_max for n in tokens),
            },
            "features": {},
        }
        for modality, store in dataset.feature_stores.items():
            lengths = columns[f"{modality}_length"]
            max_len = dataset.max_lengths.get(modality)
            info["features"][modality] = {
                "coverage": round(len(lengths) / len(ds), 4) if len(ds) else 0.0,
                "dim": store.dim,
                "format": store.format,
                "frames": {**_stats(lengths), "over_max": sum(n > max_len for n in lengths)},
            }
        splits[split] = info
    files = dataset.feature_files
    return {
        "dataset": dataset.name,
        "source": dataset.source,
        "labels": len(names),
        "oos_label": dataset.oos_label,
        "modalities": dataset.modalities,
        "max_lengths": {
            "text": dataset.max_lengths.text,
            **{m: dataset.max_lengths.get(m) for m in dataset.feature_stores},
        },
        "feature_files": {
            modality: {
                "dim": store.dim,
                "keys_in_files": len(store),
                "files": [record.to_dict() for record in files[modality]],
            }
            for modality, store in dataset.feature_stores.items()
        },
        "splits": splits,
        "label_distribution": distribution,
        "warnings": warnings,
    }
