"""Datasets: MIntRec, MIntRec2.0, CLINC150, CMU-MOSI/MOSEI and custom files -> ``IntentDataset``.

``load_dataset(name_or_path, data_dir, video_feats=..., audio_feats=..., allow_pickle=...)``
returns an ``IntentDataset``: a ``datasets.DatasetDict`` (``train``/``dev``/``test``; columns
``key``, ``text``, ``label``, ``label_id``, ``is_oos`` and ``{video,audio}_length``), the
``LabelSet`` the ids come from, the out-of-scope label, memory-mapped feature stores that
``collator()`` pads per batch, and ``feature_files`` (what was read). ``read_labelled_texts``
reads a CSV/TSV/JSONL file of text + label rows. Names load lazily so that importing this
package stays cheap.

Modules follow the data flow: ``base`` (errors, rows, layouts) <- readers (``mintrec``,
``mintrec2``, ``clinc150``, ``mmsa``, ``custom``, ``tabular``) and stores (``feature_store``,
``features``) <- ``feature_files`` (finding, checking, records) <- ``collate`` <- ``dataset``
<- ``loading``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "IntentDataset": "labelsync.data.dataset",
    "MaxLengths": "labelsync.data.base",
    "FeatureLayout": "labelsync.data.base",
    "DataError": "labelsync.data.base",
    "FeatureError": "labelsync.data.base",
    "PickleNotAllowedError": "labelsync.data.base",
    "SPLITS": "labelsync.data.base",
    "load_dataset": "labelsync.data.loading",
    "register_dataset": "labelsync.data.loading",
    "available_datasets": "labelsync.data.loading",
    "FeatureStore": "labelsync.data.feature_store",
    "UnionStore": "labelsync.data.feature_store",
    "open_feature_store": "labelsync.data.features",
    "FeatureFile": "labelsync.data.feature_files",
    "find_feature_file": "labelsync.data.feature_files",
    "find_feature_sources": "labelsync.data.feature_files",
    "LabelledText": "labelsync.data.labelled_texts",
    "read_labelled_texts": "labelsync.data.labelled_texts",
    "DEFAULT_OOS_LABELS": "labelsync.data.labelled_texts",
    "convert_features": "labelsync.data.writers",
    "save_features": "labelsync.data.writers",
    "write_safetensors": "labelsync.data.writers",
    "write_npz": "labelsync.data.writers",
    "IntentCollator": "labelsync.data.collate",
    "pad_features": "labelsync.data.collate",
    "summarize": "labelsync.data.summary",
}

__all__ = [
    "DEFAULT_OOS_LABELS",
    "DataError",
    "FeatureError",
    "FeatureFile",
    "FeatureLayout",
    "FeatureStore",
    "IntentCollator",
    "IntentDataset",
    "LabelledText",
    "MaxLengths",
    "PickleNotAllowedError",
    "SPLITS",
    "available_datasets",
    "convert_features",
    "UnionStore",
    "find_feature_file",
    "find_feature_sources",
    "load_dataset",
    "open_feature_store",
    "pad_features",
    "read_labelled_texts",
    "register_dataset",
    "save_features",
    "summarize",
    "write_npz",
    "write_safetensors",
]

if TYPE_CHECKING:  # pragma: no cover
    from .base import (
        SPLITS,
        DataError,
        FeatureError,
        FeatureLayout,
        MaxLengths,
        PickleNotAllowedError,
    )
    from .collate import IntentCollator, pad_features
    from .dataset import IntentDataset
    from .feature_files import FeatureFile, find_feature_file, find_feature_sources
    from .feature_store import FeatureStore, UnionStore
    from .features import open_feature_store
    from .labelled_texts import DEFAULT_OOS_LABELS, LabelledText, read_labelled_texts
    from .loading import available_datasets, load_dataset, register_dataset
    from .summary import summarize
    from .writers import convert_features, save_features, write_npz, write_safetensors


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
