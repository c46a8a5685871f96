"""A label store on disk: ``index.faiss``, ``labels.json``, ``meta.json`` (no pickle anywhere),
plus named binary files (a fitted store's ``body.safetensors`` and ``head.safetensors``).

``meta.json`` records what the store says about itself (embedder, dimension, index type, scoring
settings, threshold, fit) plus the format, library versions and the sha256 of every other file. A
store is written into a temporary sibling directory and renamed into place, so an existing store
is replaced only by a complete one. This module knows files, not ``LabelStore``: the store turns
itself into :class:`StoreFiles` and back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_directory
from ..errors import LabelsyncError
from . import index as faiss_index
from .scoring import DESCRIPTION, EXAMPLE, NAME, vector_id

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
INDEX_FILE, LABELS_FILE, META_FILE = "index.faiss", "labels.json", "meta.json"
STORE_FILES = (INDEX_FILE, LABELS_FILE, META_FILE)
_LIBRARIES = ("labelsync", "faiss-cpu", "faiss-gpu-cu12", "sentence-transformers", "numpy")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    found = {}
    for name in _LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _write(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass
class StoreFiles:
    """The three parts of a store folder: the FAISS index, the label records and the metadata."""

    index: Any
    labels: dict  # {"next_id": int, "labels": [{"id", "name", "descriptions", "examples", ...}]}
    meta: dict
    blobs: dict[str, bytes] = field(default_factory=dict)  # more files by name (safetensors)


def write_store(path: Path, files: StoreFiles) -> Path:
    """Write a store folder atomically; ``meta`` gains format, versions, time and checksums."""
    if path.exists() and not (path / META_FILE).is_file():
        if not path.is_dir() or any(path.iterdir()):
            raise LabelsyncError(f"{path}: exists and is not a label store; refusing to replace it")
    with atomic_directory(path) as staging:
        faiss_index.write(files.index, staging / INDEX_FILE)
        _write(staging / LABELS_FILE, _json_bytes(files.labels))
        for name, data in files.blobs.items():
            if name in STORE_FILES or Path(name).name != name:
                raise ValueError(f"bad store file name {name!r}")
            _write(staging / name, data)
        meta = {
            "format": FORMAT_VERSION,
            **files.meta,
            "versions": _versions(),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "sha256": {
                name: sha256_file(staging / name)
                for name in (INDEX_FILE, LABELS_FILE, *files.blobs)
            },
        }
        _write(staging / META_FILE, _json_bytes(meta))
    logger.info("saved label store to %s (%d labels)", path, len(files.labels["labels"]))
    return path


def read_meta(path: Path) -> dict:
    """``meta.json`` of a store directory, after checking that every file is there."""
    if not path.is_dir():
        raise LabelsyncError(f"{path}: label store not found (build one with 'labelsync index')")
    for name in STORE_FILES:
        if not (path / name).is_file():
            raise LabelsyncError(f"{path}: incomplete label store, {name} is missing")
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LabelsyncError(f"{path / META_FILE}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise LabelsyncError(f"{path / META_FILE}: not a labelsync store (format {FORMAT_VERSION})")
    for name in meta.get("sha256") or {}:
        if Path(name).name != name or not (path / name).is_file():
            raise LabelsyncError(f"{path}: incomplete label store, {name} is missing")
    return meta


def read_blob(path: Path, name: str, meta: dict) -> bytes:
    """The bytes of a named store file, refused when its sha256 differs from ``meta.json``'s."""
    expected = (meta.get("sha256") or {}).get(name)
    if expected is None:
        raise LabelsyncError(f"{path / META_FILE}: no sha256 for {name}")
    data = (path / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise LabelsyncError(
            f"{path / name} was changed after the store was saved (sha256 mismatch); "
            "rebuild or refit the store"
        )
    return data


def verify_checksums(path: Path, meta: dict) -> None:
    """Refuse a store whose index or labels file changed after it was saved."""
    expected = meta.get("sha256") or {}
    for name in (INDEX_FILE, LABELS_FILE):
        if expected.get(name) != sha256_file(path / name):
            raise LabelsyncError(
                f"{path / name} was changed after the store was saved (sha256 mismatch); "
                "rebuild it with 'labelsync index'"
            )


def read_store(path: Path, *, verify: bool = True) -> StoreFiles:
    """Read and check a store folder written by :func:`write_store`.

    Checks: every file present, checksums (``verify``), the index width against ``meta.json``,
    well-formed label records, and that the index holds exactly the vectors the records name.
    """
    meta = read_meta(path)
    if verify:
        verify_checksums(path, meta)
    index = faiss_index.read(path / INDEX_FILE)
    if index.d != meta.get("dimension"):
        raise LabelsyncError(
            f"{path}: mismatched dimensions: index.faiss holds {index.d}-d vectors, meta.json "
            f"says {meta.get('dimension')}"
        )
    try:
        labels = json.loads((path / LABELS_FILE).read_text(encoding="utf-8"))
        records = labels["labels"]
        ids = [int(r["id"]) for r in records]
        counts = [(len(r["descriptions"]), len(r.get("examples", []))) for r in records]
        next_id = int(labels["next_id"])
        for record in records:
            str(record["name"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise LabelsyncError(f"{path / LABELS_FILE}: malformed label records ({exc})") from None
    expected = sorted(
        vector_id(label_id, kind, slot)
        for label_id, (descriptions, examples) in zip(ids, counts, strict=True)
        for kind, count in ((NAME, 1), (DESCRIPTION, descriptions), (EXAMPLE, examples))
        for slot in range(count)
    )
    stored = np.sort(faiss_index.ids_of(index))
    if len(stored) != len(expected) or not np.array_equal(
        stored, np.asarray(expected, dtype=np.int64)
    ):
        raise LabelsyncError(f"{path}: index.faiss and labels.json disagree; rebuild the store")
    if any(i >= next_id for i in ids) or any(a >= b for a, b in zip(ids, ids[1:], strict=False)):
        raise LabelsyncError(f"{path / LABELS_FILE}: label ids out of order; rebuild the store")
    return StoreFiles(index, labels, meta)
