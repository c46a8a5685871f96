"""A ``LabelStore`` to and from its folder: what ``meta.json`` says. The folder format itself
is :mod:`.files`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import LabelsyncError
from . import index as faiss_index
from .embedder import Embedder, canonical_name
from .files import StoreFiles, read_store, write_store
from .threshold import Threshold
from .vectors import LabelVectors

__all__ = ["load", "save"]


def save(store: Any, path: Path) -> Path:
    """Write ``store`` as a folder, atomically."""
    if store.vectors.index is None:
        raise LabelsyncError("cannot save an empty label store (no labels were added)")
    threshold = store.threshold_info
    meta = {
        "embedder": store.embedder_name,
        "dimension": store.dim,
        "index": store.index_type,
        "hnsw": vars(store.hnsw) if store.index_type == "hnsw" else None,
        "template": store.template,
        "name_weight": store.name_weight,
        "aggregate": store.aggregate,
        "example_weight": store.example_weight,
        **(threshold.to_meta() if threshold else {"threshold": None, "calibration": None}),
        "num_labels": len(store),
        "num_vectors": store.num_vectors,
    }
    return write_store(path, StoreFiles(store.vectors.index, store.vectors.to_records(), meta))


def load(
    cls: type, path: Path, embedder: str | Embedder | None, verify: bool, device: str | None
) -> Any:
    """A ``cls`` (LabelStore) read from ``path``; see ``LabelStore.load``."""
    files = read_store(path, verify=verify)
    meta, stored = files.meta, files.meta.get("embedder")
    if embedder is not None:
        asked = canonical_name(getattr(embedder, "name", embedder))
        if asked != stored:
            raise LabelsyncError(
                f"{path}: store was built with embedder {stored!r}, not {asked!r}; vectors "
                "of different models cannot be compared (rebuild the store with that embedder)"
            )
    hnsw = meta.get("hnsw") or {}
    store = cls(
        embedder if embedder is not None else stored,
        index=faiss_index.index_kind(files.index),
        template=meta["template"],
        name_weight=meta["name_weight"],
        aggregate=meta["aggregate"],
        example_weight=meta["example_weight"],
        hnsw=faiss_index.HNSWParams(**hnsw) if hnsw else None,
        dim=files.index.d,
        device=device,
    )
    vectors = LabelVectors.from_records(
        files.index, files.labels, store.index_type, store.hnsw, str(path / "labels.json")
    )
    store.restore(vectors, Threshold.from_meta(meta))
    return store
