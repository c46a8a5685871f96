"""Custom data: CSV / TSV / JSONL files with ``text`` and ``label`` (+ optional ``id``).

Instead of ``label`` a row may carry ``labels`` (several label names separated by ``|``, or a
JSON list; an empty cell is a row without labels: multi-label data) or ``score`` (a number:
regression data, whose one label is ``score``); a file may give ``score`` next to ``label`` or
``labels`` too.

``path`` is a folder holding ``{train,dev,test}.{csv,tsv,jsonl}`` (``val``/``validation`` read as
``dev``) and optionally ``labels.txt`` (or ``.json``/``.yaml``), or a single file (its split is
its stem when that names a split, else ``train``). Without a label list the labels are the names
met in the data, in order of first appearance. Rows whose label equals ``oos_label`` are
out-of-scope. Keys come from the ``id`` column; without it they are ``{split}_{row}`` and feature
files cannot be matched.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..labels import LabelSet, normalize_label
from .base import SPLITS, DataError, ParsedData, Record, RecordCollector
from .tabular import Column, header_key, pick, read_rows, read_table

__all__ = [
    "read_custom",
    "iter_labelled_rows",
    "CUSTOM_COLUMNS",
    "TARGET_COLUMNS",
    "DATA_SUFFIXES",
    "LABEL_SEPARATOR",
]

log = logging.getLogger(__name__)

DATA_SUFFIXES = (".csv", ".tsv", ".jsonl")
LABEL_FILES = ("labels.txt", "labels.json", "labels.yaml", "labels.yml")
_SPLIT_NAMES = {
    "train": ("train", "training"),
    "dev": ("dev", "val", "valid", "validation"),
    "test": ("test", "testing"),
}
CUSTOM_COLUMNS = (
    Column("text", ("utterance", "sentence")),
    Column("label", ("intent", "label_name")),
    Column("id", ("key", "uid", "utterance_id"), required=False),
)
TARGETS = ("label", "labels", "score")  # one of them is needed per row
TARGET_COLUMNS = (
    Column("text", ("utterance", "sentence")),
    Column("label", ("intent", "label_name"), required=False),
    Column("labels", ("intents", "label_names"), required=False),
    Column("score", ("value", "target"), required=False),
    Column("id", ("key", "uid", "utterance_id"), required=False),
)
LABEL_SEPARATOR = "|"


def _split_of(stem: str) -> str | None:
    stem = stem.lower()
    return next((split for split, names in _SPLIT_NAMES.items() if stem in names), None)


def find_split_files(path: Path) -> dict[str, Path]:
    """Split name -> data file, for a folder or a single file."""
    if path.is_file():
        if path.suffix.lower() not in DATA_SUFFIXES:
            raise DataError(f"{path}: unsupported data file (use {', '.join(DATA_SUFFIXES)})")
        return {_split_of(path.stem) or "train": path}
    if not path.is_dir():
        raise DataError(f"{path}: file or folder not found")
    found: dict[str, Path] = {}
    for child in sorted(path.iterdir()):
        split = _split_of(child.stem)
        if split and child.is_file() and child.suffix.lower() in DATA_SUFFIXES:
            if split in found:
                raise DataError(
                    f"{path}: two files for split {split!r}: {found[split].name}, {child.name}"
                )
            found[split] = child
    if not found:
        raise DataError(
            f"{path}: no data files (expected train/dev/test with {', '.join(DATA_SUFFIXES)})"
        )
    return {split: found[split] for split in SPLITS if split in found}


def read_custom(
    path: str | Path, *, labels: LabelSet | None = None, oos_label: str | None = None
) -> ParsedData:
    """Parse a custom dataset folder or file (see the module docstring)."""
    path = Path(path)
    files = find_split_files(path)
    folder = path if path.is_dir() else path.parent
    if labels is None:
        label_file = next((folder / n for n in LABEL_FILES if (folder / n).is_file()), None)
        if label_file is not None:
            labels = LabelSet.from_file(label_file)
            log.info("%s: label list from %s", path, label_file.name)
    if labels is not None and oos_label and oos_label in labels:
        log.info("%s: %r is the out-of-scope label, not an intent", labels.source, oos_label)
        oos_key = normalize_label(oos_label)
        labels = LabelSet(
            [n for n in labels if normalize_label(n) != oos_key], source=labels.source
        )
    collector = RecordCollector(labels, oos_label=oos_label)
    splits: dict[str, list[Record]] = {}
    has_keys = True
    for split, file in files.items():
        records: list[Record] = []
        for where, fields in _rows(file, TARGET_COLUMNS):
            key = fields.get("id")
            has_keys = has_keys and key is not None
            key = str(key) if key is not None else f"{split}_{len(records)}"
            if not any(fields.get(name) is not None for name in TARGETS):
                raise DataError(f"{where}: missing field 'label'")
            collector.add(
                records,
                key=key,
                text=fields["text"],
                label=fields.get("label"),
                labels=_label_names(fields["labels"], where) if "labels" in fields else None,
                score=_score(fields["score"], where) if "score" in fields else None,
                where=where,
            )
        splits[split] = records
    if labels is None:
        labels = _infer_labels(splits, str(path))
    return ParsedData(
        "custom", splits, labels, oos_label, str(path), feature_dir=str(folder), has_keys=has_keys
    )


def _label_names(value: Any, where: str) -> list[str]:
    """The names of a ``labels`` cell: ``a|b`` (blank: none) or a JSON list of strings."""
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return [name.strip() for name in value]
    if not isinstance(value, str):
        raise DataError(f"{where}: field 'labels' must be names separated by '|', got {value!r}")
    return [name.strip() for name in value.split(LABEL_SEPARATOR)] if value.strip() else []


def _score(value: Any, where: str) -> float:
    """The number of a ``score`` cell (finite)."""
    try:
        score = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        score = math.nan
    if not math.isfinite(score):
        raise DataError(f"{where}: field 'score' is not a finite number: {value!r}")
    return score


def _infer_labels(splits: dict[str, list[Record]], source: str) -> LabelSet:
    first: dict[str, str] = {}
    for records in splits.values():
        for record in records:
            if not record.is_oos:
                for name in record.labels if record.labels is not None else [record.label]:
                    first.setdefault(normalize_label(name), name)
    if not first:
        raise DataError(f"{source}: no in-scope rows, so no labels to learn")
    labels = LabelSet(first.values(), source=f"{source} (labels found in the data)")
    for records in splits.values():
        for record in records:
            if record.is_oos:
                continue
            if record.labels is not None:
                record.labels = [labels.canonical(name) for name in record.labels]
                record.label = LABEL_SEPARATOR.join(record.labels)
            else:
                record.label = labels.canonical(record.label)
    log.info("%s: %d labels found in the data (no labels.txt)", source, len(labels))
    return labels


def iter_labelled_rows(path: Path) -> Iterator[tuple[str, str | None, Any, Any]]:
    """``(where, id or None, text, label)`` per row of a CSV/TSV (header row required) or JSONL
    file; ``where`` is ``"file: line N"``. Values are as read (checked by the caller)."""
    for where, fields in _rows(path, CUSTOM_COLUMNS):
        key = fields.get("id")
        yield where, None if key is None else str(key), fields["text"], fields["label"]


def _rows(path: Path, columns: tuple[Column, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, {column: value})`` per row; columns a row does not have are left out."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path, columns)
    if suffix in (".csv", ".tsv", ".tab"):
        return _read_delimited(path, "," if suffix == ".csv" else "\t", columns)
    raise DataError(f"{path}: unsupported data file (use .csv, .tsv or .jsonl)")


def _read_delimited(
    path: Path, delimiter: str, columns: tuple[Column, ...]
) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, row, indexes in read_table(path, columns, delimiter=delimiter, positional=False):
        if not any(column.name in indexes for column in columns if column.name in TARGETS):
            _, header = next(read_rows(path, delimiter=delimiter))
            shown = ", ".join(cell.strip() for cell in header)
            raise DataError(f"{path}: line 1: missing column 'label' (header: {shown})")
        yield where, {name: pick(row, indexes, name, where=where) for name in indexes}


def _read_jsonl(path: Path, columns: tuple[Column, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with path.open(encoding="utf-8-sig") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}: line {line_number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{where}: malformed JSON ({exc.msg} at column {exc.colno})"
                ) from None
            if not isinstance(obj, dict):
                raise DataError(f"{where}: expected a JSON object with 'text' and 'label'")
            fields = {}
            for column in columns:
                for name, value in obj.items():
                    if column.matches(header_key(str(name))):
                        fields[column.name] = value
                        break
            for column in columns:
                if column.required and column.name not in fields:
                    raise DataError(f"{where}: missing field {column.name!r}")
            yield where, fields
