"""``load_dataset``: a registry of dataset readers plus the shared build step.

A reader parses files into ``ParsedData`` (rows per split, validated against a ``LabelSet``);
``load_dataset`` then opens each feature file once (shared by all splits), checks that every key
has features of one dimension, and builds the ``datasets.DatasetDict`` with only the small columns
(keys, text, labels, lengths) -- the arrays stay in the memory-mapped stores.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..labels import LabelSet, normalize_label
from .base import DataError, MaxLengths, ParsedData
from .clinc150 import read_clinc150
from .custom import read_custom
from .dataset import IntentDataset
from .feature_files import check_features, find_feature_file
from .feature_store import FeatureStore
from .features import open_feature_store
from .mintrec import read_mintrec
from .mintrec2 import read_mintrec2

__all__ = ["load_dataset", "register_dataset", "available_datasets", "MODALITIES"]

log = logging.getLogger(__name__)

MODALITIES = ("video", "audio")

Reader = Callable[..., ParsedData]
_READERS: dict[str, Reader] = {
    "mintrec": read_mintrec,
    "mintrec2": read_mintrec2,
    "clinc150": read_clinc150,
    "custom": read_custom,
}
_ALIASES = {"mintrec2.0": "mintrec2", "mintrec 2.0": "mintrec2", "clinc": "clinc150"}

FeatureSpec = str | Path | Mapping[str, Any] | FeatureStore


def register_dataset(name: str, reader: Reader) -> None:
    """Add a reader ``reader(data_dir, *, labels=None, ...) -> ParsedData`` under ``name``."""
    _READERS[name.strip().lower()] = reader


def available_datasets() -> list[str]:
    """Names ``load_dataset`` accepts besides a path to custom data."""
    return sorted(_READERS)


def _dataset_name(name: str) -> str | None:
    key = str(name).strip().lower().replace("_", " ").replace("-", " ")
    key = _ALIASES.get(key, key).replace(" ", "")
    return key if key in _READERS else None


def _label_set(labels: LabelSet | str | Path | Sequence[str] | None) -> LabelSet | None:
    if labels is None or isinstance(labels, LabelSet):
        return labels
    if isinstance(labels, (str, Path)):
        return LabelSet.resolve(labels)
    return LabelSet(list(labels), source="labels argument")


def load_dataset(
    name_or_path: str | Path,
    data_dir: str | Path | None = None,
    *,
    features: str | Mapping[str, FeatureSpec] | None = "auto",
    allow_pickle: bool = False,
    max_lengths: MaxLengths | Mapping[str, int] | None = None,
    labels: LabelSet | str | Path | Sequence[str] | None = None,
    oos_label: str | None = None,
    variant: str | None = None,
) -> IntentDataset:
    """Load ``mintrec``, ``mintrec2``, ``clinc150`` (from ``data_dir``) or a custom data path.

    ``features``: ``"auto"`` finds ``<dir>/{video,audio}_feats.{safetensors,npz,pkl}``; a dict
    ``{"video": path_or_dict_or_"auto", "audio": ...}`` names them (modalities left out or None
    are not loaded); ``None`` is text-only. Pickle files need ``allow_pickle=True``.
    ``labels`` overrides the preset label list (a ``LabelSet``, a preset name, a file or a list
    of names). ``oos_label`` marks out-of-scope rows of custom data; ``variant`` picks a CLINC150
    file (full, small, imbalanced, plus). Raises ``DataError`` with a one-line cause on bad input.
    """
    name = _dataset_name(str(name_or_path))
    if name is None:
        path = Path(name_or_path)
        if not path.exists():
            raise DataError(
                f"unknown dataset {str(name_or_path)!r}: not one of "
                f"{', '.join(available_datasets())} and no such file or folder"
            )
        if data_dir is not None:
            raise DataError(f"{path}: a custom data path takes no separate data dir")
        name, data_dir = "custom", path
    if data_dir is None:
        raise DataError(f"{name}: give the folder that holds its files (--data-dir)")
    if not Path(data_dir).exists():
        raise DataError(f"{data_dir}: data folder not found")
    options = {"oos_label": oos_label, "variant": variant}
    reader = _READERS[name]
    accepted = inspect.signature(reader).parameters
    for option, value in options.items():
        if value is not None and option not in accepted:
            raise DataError(f"{name}: option {option!r} does not apply to this dataset")
    kwargs = {k: v for k, v in options.items() if v is not None}
    parsed = reader(data_dir, labels=_label_set(labels), **kwargs)
    if isinstance(max_lengths, Mapping):
        max_lengths = MaxLengths(**max_lengths)
    stores = _open_stores(parsed, features, allow_pickle=allow_pickle)
    dataset = build_dataset(parsed, stores, max_lengths or MaxLengths())
    log.info("loaded %r", dataset)
    return dataset


def _open_stores(
    parsed: ParsedData, features: str | Mapping[str, FeatureSpec] | None, *, allow_pickle: bool
) -> dict[str, FeatureStore]:
    if features is None or features is False:
        return {}
    if isinstance(features, str):
        if features != "auto":
            raise DataError(f"features must be 'auto', a dict or None, got {features!r}")
        features = dict.fromkeys(MODALITIES, "auto")
    unknown = set(features) - set(MODALITIES)
    if unknown:
        raise DataError(f"unknown feature modality {sorted(unknown)[0]!r} (use video, audio)")
    sources: dict[str, FeatureSpec] = {}
    for modality, spec in features.items():
        if isinstance(spec, str) and spec == "auto":
            found = find_feature_file(parsed.feature_dir, modality) if parsed.feature_dir else None
            if found is not None:
                sources[modality] = found
        elif spec is not None:
            sources[modality] = spec
    if not sources:
        log.info("%s: no feature files; text only", parsed.source)
    if sources and not parsed.has_keys:
        raise DataError(
            f"{parsed.source}: feature files need an 'id' column in the data to match rows to keys"
        )
    opened: dict[Any, FeatureStore] = {}  # one store per file, shared by modalities and splits
    stores = {}
    for modality, spec in sources.items():
        cache_key = Path(spec).resolve() if isinstance(spec, (str, Path)) else id(spec)
        if cache_key not in opened:
            opened[cache_key] = open_feature_store(spec, allow_pickle=allow_pickle)
        stores[modality] = opened[cache_key]
        log.info("%s features: %r", modality, stores[modality])
    return stores


def build_dataset(
    parsed: ParsedData, stores: Mapping[str, FeatureStore], max_lengths: MaxLengths
) -> IntentDataset:
    """Check features against the parsed rows and build the ``IntentDataset``."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    labels, oos_label = parsed.labels, parsed.oos_label
    if oos_label is not None and oos_label in labels:
        raise DataError(f"{parsed.source}: out-of-scope label {oos_label!r} is also an intent")
    keys_by_split = {s: [r.key for r in records] for s, records in parsed.splits.items()}
    lengths = {m: check_features(store, m, keys_by_split) for m, store in stores.items()}
    ids = {normalize_label(name): i for i, name in enumerate(labels)}
    oos_id = len(labels)
    schema = {
        "key": Value("string"),
        "text": Value("string"),
        "label": Value("string"),
        "label_id": ClassLabel(names=labels.names + ([oos_label] if oos_label else [])),
        "is_oos": Value("bool"),
        **{f"{m}_length": Value("int32") for m in stores},
    }
    splits = {}
    for split, records in parsed.splits.items():
        columns: dict[str, list] = {
            "key": [r.key for r in records],
            "text": [r.text for r in records],
            "label": [r.label for r in records],
            "label_id": [oos_id if r.is_oos else ids[normalize_label(r.label)] for r in records],
            "is_oos": [r.is_oos for r in records],
        }
        for modality in stores:
            columns[f"{modality}_length"] = lengths[modality][split]
        splits[split] = Dataset.from_dict(columns, features=Features(schema), split=split)
    return IntentDataset(
        splits=DatasetDict(splits),
        labels=labels,
        oos_label=oos_label,
        feature_stores=dict(stores),
        max_lengths=max_lengths,
        name=parsed.name,
        source=parsed.source,
    )
