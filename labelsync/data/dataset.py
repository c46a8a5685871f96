"""``IntentDataset``: the loaded splits, their labels and the feature stores behind them.

Label ids: in-scope labels take ids ``0 .. K-1`` from the dataset's ``LabelSet`` (joined by name,
never by position); out-of-scope rows take ``label_id = K`` (``IntentDataset.oos_label_id``), so
K+1-way training uses ``num_classes(include_oos=True)`` directly and in-scope-only training keeps
the rows with ``is_oos == False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..labels import LabelSet
from .base import DataError, MaxLengths
from .collate import IntentCollator
from .feature_files import FeatureFile, feature_file_records
from .feature_store import FeatureStore

if TYPE_CHECKING:  # pragma: no cover - third-party types only
    import numpy as np
    from datasets import Dataset, DatasetDict

__all__ = ["IntentDataset"]


@dataclass
class IntentDataset:
    """A loaded dataset: ``splits`` (a ``datasets.DatasetDict``), its ``labels`` and feature stores.

    Columns of every split: ``key``, ``text``, ``label`` (display name), ``label_id``
    (a ``ClassLabel``: in-scope ids ``0..K-1``, out-of-scope ``K``), ``is_oos`` and, per feature
    modality, ``{modality}_length`` (frames in the file). Multi-label data adds ``label_ids``
    (every label of a row; ``label`` joins their names with ``|``, ``label_id`` is the first or
    -1), regression data ``score`` (a float; ``score_name`` says what it measures). Feature
    arrays stay in memory-mapped ``feature_stores`` (modality -> store, keyed by ``key``) and
    are padded per batch by ``collator()``; ``with_features(split)`` gives a view that adds
    them lazily per row.
    ``max_lengths`` are the caller's or the release's defaults (MIntRec 50 / 230 / 480,
    MIntRec2.0 50 / 180 / 400); ``feature_files`` says which files were read.
    """

    splits: DatasetDict
    labels: LabelSet
    oos_label: str | None = None
    feature_stores: dict[str, FeatureStore] = field(default_factory=dict)
    max_lengths: MaxLengths = field(default_factory=MaxLengths)
    name: str = "custom"
    source: str | None = None
    score_name: str = "score"

    @property
    def target_kinds(self) -> frozenset[str]:
        """What the rows carry besides one class each: ``labels`` (a ``label_ids`` column, several
        labels per row: multi-label data) and/or ``score`` (a ``score`` column: regression)."""
        columns = set(next(iter(self.splits.values())).column_names) if self.splits else set()
        kinds = {"labels": "label_ids", "score": "score"}
        return frozenset(kind for kind, column in kinds.items() if column in columns)

    @property
    def num_labels(self) -> int:
        """Number of in-scope classes K (the out-of-scope class is not counted)."""
        return len(self.labels)

    @property
    def oos_label_id(self) -> int | None:
        """The ``label_id`` of out-of-scope rows (``K``), or None when the dataset has no OOS."""
        return len(self.labels) if self.oos_label else None

    def num_classes(self, include_oos: bool = False) -> int:
        """K, or K+1 with ``include_oos`` when the dataset defines an out-of-scope label."""
        return self.num_labels + (1 if include_oos and self.oos_label else 0)

    def label_names(self, include_oos: bool = False) -> list[str]:
        """Display names by id; with ``include_oos`` the OOS name is last (id K)."""
        names = self.labels.names
        return names + [self.oos_label] if include_oos and self.oos_label else names

    @property
    def modalities(self) -> list[str]:
        """``text`` plus the feature modalities present (``video``, ``audio``)."""
        return ["text", *self.feature_stores]

    @property
    def feature_dims(self) -> dict[str, int]:
        """Feature dimension D per modality."""
        return {name: store.dim for name, store in self.feature_stores.items()}

    @property
    def feature_files(self) -> dict[str, list[FeatureFile]]:
        """Modality -> the files read (name, path, format, dim, size, sha256 of the first MB)."""
        return feature_file_records(self.feature_stores, self.source)

    def feature_record(self) -> dict[str, Any]:
        """What a run records about its inputs: files per modality and the max lengths used."""
        return {
            "feature_files": {
                modality: [record.to_dict() for record in records]
                for modality, records in self.feature_files.items()
            },
            "max_lengths": self.max_lengths.to_dict(),
        }

    def __getitem__(self, split: str) -> Dataset:
        if split not in self.splits:
            raise DataError(f"{self.name}: no split {split!r} (have {', '.join(self.splits)})")
        return self.splits[split]

    def features_for(self, key: str) -> dict[str, np.ndarray]:
        """The unpadded ``(T, D)`` arrays of one sample, by modality."""
        return {name: store[key] for name, store in self.feature_stores.items()}

    def with_features(self, split: str) -> Dataset:
        """``split`` with lazily added ``video``/``audio`` columns (read on access, not stored)."""
        stores = self.feature_stores

        def add_features(batch: Mapping[str, list]) -> dict[str, list]:
            out = dict(batch)
            for name, store in stores.items():
                out[name] = [store[key] for key in batch["key"]]
            return out

        return self[split].with_transform(add_features)

    def collator(self, **kwargs: Any) -> IntentCollator:
        """A collate function padding this dataset's features per batch (see ``IntentCollator``)."""
        kwargs.setdefault("max_lengths", self.max_lengths)
        return IntentCollator(self.feature_stores, **kwargs)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(split)}" for name, split in self.splits.items())
        oos = f", oos={self.oos_label!r}" if self.oos_label else ""
        mods = "+".join(self.modalities)
        return f"IntentDataset({self.name}: {sizes}; {len(self.labels)} labels{oos}; {mods})"
