"""Custom data: CSV / TSV / JSONL files with ``text`` and ``label`` (+ optional ``id``).

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..labels import LabelSet, normalize_label
from .base import SPLITS, DataError, ParsedData, Record, RecordCollector
from .tabular import Column, header_key, pick, read_table

__all__ = ["read_custom", "iter_labelled_rows", "CUSTOM_COLUMNS", "DATA_SUFFIXES"]

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
        for where, key, text, label in iter_labelled_rows(file):
            has_keys = has_keys and key is not None
            key = key if key is not None else f"{split}_{len(records)}"
            collector.add(records, key=key, text=text, label=label, where=where)
        splits[split] = records
    if labels is None:
        labels = _infer_labels(splits, str(path))
    return ParsedData(
        "custom", splits, labels, oos_label, str(path), feature_dir=str(folder), has_keys=has_keys
    )


def _infer_labels(splits: dict[str, list[Record]], source: str) -> LabelSet:
    first: dict[str, str] = {}
    for records in splits.values():
        for record in records:
            if not record.is_oos:
                first.setdefault(normalize_label(record.label), record.label)
    if not first:
        raise DataError(f"{source}: no in-scope rows, so no labels to learn")
    labels = LabelSet(first.values(), source=f"{source} (labels found in the data)")
    for records in splits.values():
        for record in records:
            if not record.is_oos:
                record.label = labels.canonical(record.label)
    log.info("%s: %d labels found in the data (no labels.txt)", source, len(labels))
    return labels


def iter_labelled_rows(path: Path) -> Iterator[tuple[str, str | None, Any, Any]]:
    """``(where, id or None, text, label)`` per row of a CSV/TSV (header row required) or JSONL
    file; ``where`` is ``"file: line N"``. Values are as read (checked by the caller)."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix in (".csv", ".tsv", ".tab"):
        return _read_delimited(path, "," if suffix == ".csv" else "\t")
    raise DataError(f"{path}: unsupported data file (use .csv, .tsv or .jsonl)")


def _read_delimited(path: Path, delimiter: str) -> Iterator[tuple[str, str | None, Any, Any]]:
    for where, row, indexes in read_table(
        path, CUSTOM_COLUMNS, delimiter=delimiter, positional=False
    ):
        key = pick(row, indexes, "id", where=where) if "id" in indexes else None
        text = pick(row, indexes, "text", where=where)
        yield where, key, text, pick(row, indexes, "label", where=where)


def _read_jsonl(path: Path) -> Iterator[tuple[str, str | None, Any, Any]]:
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
            for column in CUSTOM_COLUMNS:
                for name, value in obj.items():
                    if column.matches(header_key(str(name))):
                        fields[column.name] = value
                        break
            for column in CUSTOM_COLUMNS:
                if column.required and column.name not in fields:
                    raise DataError(f"{where}: missing field {column.name!r}")
            key = fields.get("id")
            yield where, None if key is None else str(key), fields["text"], fields["label"]
