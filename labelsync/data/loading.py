"""``load_dataset``: a registry of dataset readers plus the shared build step.

A reader parses files into ``ParsedData`` (rows per split, validated against a ``LabelSet``);
``load_dataset`` then picks the feature files (``feature_files.py``: as the release lays them out,
or the caller's), opens each once (shared by all splits), checks that every key has features of
one dimension, and builds the ``datasets.DatasetDict`` with only the small columns (keys, text,
labels, lengths) -- the arrays stay in the memory-mapped stores.
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
from .feature_files import MODALITIES, check_features, choose_feature_files
from .feature_store import FeatureStore
from .features import open_feature_store
from .mintrec import read_mintrec
from .mintrec2 import read_mintrec2
from .mmsa import read_mosei, read_mosi

__all__ = ["load_dataset", "register_dataset", "available_datasets", "MODALITIES"]

log = logging.getLogger(__name__)

Reader = Callable[..., ParsedData]
_READERS: dict[str, Reader] = {
    "mintrec": read_mintrec,
    "mintrec2": read_mintrec2,
    "clinc150": read_clinc150,
    "custom": read_custom,
    "mosi": read_mosi,
    "mosei": read_mosei,
}
_ALIASES = {
    "mintrec2.0": "mintrec2",
    "mintrec 2.0": "mintrec2",
    "clinc": "clinc150",
    "cmu mosi": "mosi",
    "cmu mosei": "mosei",
}

# a file, several files (one store), a folder holding {modality}_feats.*, a dict or a store
FeatureSpec = str | Path | Sequence[str | Path] | Mapping[str, Any] | FeatureStore


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
    video_feats: FeatureSpec | None = None,
    audio_feats: FeatureSpec | None = None,
    features: str | Mapping[str, FeatureSpec | None] | None = "auto",
    allow_pickle: bool = False,
    max_lengths: MaxLengths | Mapping[str, int | None] | None = None,
    labels: LabelSet | str | Path | Sequence[str] | None = None,
    oos_label: str | None = None,
    variant: str | None = None,
    emotions: str | Path | None = None,
) -> IntentDataset:
    """Load ``mintrec``, ``mintrec2``, ``clinc150``, ``mosi``, ``mosei`` (from ``data_dir``) or a
    custom data path.

    Feature files are found as each release lays them out (see ``feature_files.py``); two
    candidates for one modality are an error naming both. ``video_feats`` / ``audio_feats`` pick
    a file explicitly (a path, a list of paths read as one, a folder holding
    ``{modality}_feats.*``, or a dict key -> array). ``features=None`` is text-only; a dict
    ``{"video": ..., "audio": ...}`` is the older spelling of the same choice ("auto" finds,
    modalities left out are not loaded). Pickle files need ``allow_pickle=True``: found ones
    without it are skipped with a warning, an explicit one is an error. ``max_lengths``
    (``MaxLengths`` or a dict of some of text/video/audio) defaults to the release's
    (MIntRec 50/230/480, MIntRec2.0 50/180/400). ``labels`` overrides the preset label list (a
    ``LabelSet``, a preset name, a file or a list of names). ``oos_label`` marks out-of-scope rows
    of custom data; ``variant`` picks a CLINC150 file (full, small, imbalanced, plus) or a
    CMU-MOSI/MOSEI alignment (aligned, unaligned); ``emotions`` is a CSV of CMU-MOSEI emotions
    (``mmsa.py``). Raises ``DataError`` with a one-line cause on bad input.
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
    requested = _requested(features, {"video": video_feats, "audio": audio_feats})
    options = {"oos_label": oos_label, "variant": variant, "emotions": emotions}
    reader = _READERS[name]
    accepted = inspect.signature(reader).parameters
    for option, value in options.items():
        if value is not None and option not in accepted:
            raise DataError(f"{name}: option {option!r} does not apply to this dataset")
    kwargs = {k: v for k, v in options.items() if v is not None}
    if "allow_pickle" in accepted:  # readers whose rows live in a pickle (CMU-MOSI/MOSEI)
        kwargs["allow_pickle"] = allow_pickle
    parsed = reader(data_dir, labels=_label_set(labels), **kwargs)
    defaults = parsed.max_lengths or MaxLengths()
    if not isinstance(max_lengths, MaxLengths):
        max_lengths = defaults.updated(max_lengths)
    stores = _open_stores(parsed, requested, allow_pickle=allow_pickle)
    dataset = build_dataset(parsed, stores, max_lengths)
    log.info("loaded %r", dataset)
    return dataset


def _requested(
    features: str | Mapping[str, FeatureSpec | None] | None,
    explicit: Mapping[str, FeatureSpec | None],
) -> dict[str, FeatureSpec | None]:
    """Modality -> ``"auto"``, an explicit spec or None (not loaded)."""
    picked = {m: spec for m, spec in explicit.items() if spec is not None}
    if features is None or features is False:
        if picked:
            raise DataError(
                f"features=None (text only) conflicts with {', '.join(picked)}_feats: drop one"
            )
        return {}
    if isinstance(features, str):
        if features != "auto":
            raise DataError(f"features must be 'auto', a dict or None, got {features!r}")
        features = dict.fromkeys(MODALITIES, "auto")
    unknown = set(features) - set(MODALITIES)
    if unknown:
        raise DataError(f"unknown feature modality {sorted(unknown)[0]!r} (use video, audio)")
    requested = dict(features)
    for modality, spec in picked.items():
        given = requested.get(modality)
        if given is not None and not (isinstance(given, str) and given == "auto"):
            raise DataError(f"{modality} features given twice (features= and {modality}_feats=)")
        requested[modality] = spec
    return requested


def _open_stores(
    parsed: ParsedData, requested: Mapping[str, FeatureSpec | None], *, allow_pickle: bool
) -> dict[str, FeatureStore]:
    own = dict(parsed.stores or {})  # features inside the data file: used unless a file is picked
    found = {m: spec for m, spec in requested.items() if not (m in own and spec == "auto")}
    sources = choose_feature_files(
        parsed.feature_dir, parsed.feature_layout, found, allow_pickle=allow_pickle
    )
    sources |= {m: own[m] for m in requested if m in own and requested[m] == "auto"}
    if not sources:
        log.info("%s: no feature files; text only", parsed.source)
    if sources and not parsed.has_keys:
        raise DataError(
            f"{parsed.source}: feature files need an 'id' column in the data to match rows to keys"
        )
    opened: dict[Any, FeatureStore] = {}  # one store per file, shared by modalities and splits
    stores = {}
    for modality, spec in sources.items():
        if isinstance(spec, (str, Path)):
            cache_key: Any = Path(spec).resolve()
        elif isinstance(spec, (list, tuple)):
            cache_key = tuple(Path(p).resolve() for p in spec)
        else:
            cache_key = id(spec)
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
        **_target_schema(parsed),
    }
    splits = {}
    for split, records in parsed.splits.items():
        columns: dict[str, list] = {
            "key": [r.key for r in records],
            "text": [r.text for r in records],
            "label": [r.label for r in records],
            "label_id": [oos_id if r.is_oos else _label_id(r, ids) for r in records],
            "is_oos": [r.is_oos for r in records],
        }
        for modality in stores:
            columns[f"{modality}_length"] = lengths[modality][split]
        columns |= _target_columns(parsed, split, ids)
        splits[split] = Dataset.from_dict(columns, features=Features(schema), split=split)
    return IntentDataset(
        splits=DatasetDict(splits),
        labels=labels,
        oos_label=oos_label,
        feature_stores=dict(stores),
        max_lengths=max_lengths,
        name=parsed.name,
        source=parsed.source,
        score_name=parsed.score_name,
    )


def _label_id(record: Any, ids: Mapping[str, int]) -> int:
    """A row's class id; a multi-label row's first label (-1: none)."""
    if record.labels is not None:
        return ids[normalize_label(record.labels[0])] if record.labels else -1
    return ids[normalize_label(record.label)]


def _target_schema(parsed: ParsedData) -> dict[str, Any]:
    """The ``label_ids`` (multi-label) and ``score`` (regression) columns the rows need."""
    from datasets import Sequence, Value

    rows = [r for records in parsed.splits.values() for r in records]
    schema: dict[str, Any] = {}
    if any(r.labels is not None for r in rows):
        schema["label_ids"] = Sequence(Value("int32"))
    scored = sum(r.score is not None for r in rows)
    if scored and scored != len(rows):
        raise DataError(f"{parsed.source}: {len(rows) - scored} row(s) have no score, others do")
    if scored:
        schema["score"] = Value("float32")
    return schema


def _target_columns(parsed: ParsedData, split: str, ids: Mapping[str, int]) -> dict[str, list]:
    """The values of ``_target_schema``'s columns for one split."""
    records = parsed.splits[split]
    schema = _target_schema(parsed)
    columns: dict[str, list] = {}
    if "label_ids" in schema:
        columns["label_ids"] = [
            []
            if r.is_oos
            else [
                ids[normalize_label(n)] for n in (r.labels if r.labels is not None else [r.label])
            ]
            for r in records
        ]
    if "score" in schema:
        columns["score"] = [r.score for r in records]
    return columns
