"""A ``LabelStore`` to and from its folder: what ``meta.json`` says, and the fitted body and
head files (safetensors) of a fitted store. The folder format itself is :mod:`.files`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import LabelsyncError
from . import index as faiss_index
from .body import BODY_FILE, HEAD_FILE, body_bytes, load_body, sha256_bytes
from .embedder import Embedder, canonical_name
from .files import StoreFiles, read_blob, read_store, write_store
from .head import LogisticHead
from .threshold import Threshold
from .vectors import LabelVectors

__all__ = ["body_of", "fitted_embedder", "load", "save"]

log = logging.getLogger(__name__)


def save(store: Any, path: Path) -> Path:
    """Write ``store`` as a folder, atomically (the fitted body and head included)."""
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
        "fit": store.fit_info,
        "head": {"kind": "logistic", "labels": store.head.labels} if store.head else None,
        "num_labels": len(store),
        "num_vectors": store.num_vectors,
    }
    blobs = {}
    if store.fitted:
        blobs[BODY_FILE] = store.body_bytes()
    if store.head is not None:
        from safetensors.numpy import save as save_arrays

        blobs[HEAD_FILE] = save_arrays(store.head.to_arrays())
    return write_store(
        path, StoreFiles(store.vectors.index, store.vectors.to_records(), meta, blobs)
    )


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
        if getattr(embedder, "fitted", False):
            raise LabelsyncError(f"{path}: give the base embedder; the store brings its own body")
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
    fit, head = meta.get("fit"), None
    if fit is not None and BODY_FILE not in (meta.get("sha256") or {}):
        raise LabelsyncError(f"{path / 'meta.json'}: a fitted store without {BODY_FILE} sha256")
    if meta.get("head"):
        from safetensors.numpy import load as load_arrays

        data = read_blob(path, HEAD_FILE, meta)
        head = LogisticHead.from_arrays(meta["head"]["labels"], load_arrays(data))
        if not head.matches(vectors.labels):
            log.warning("%s: the logistic head was fitted on other labels; dropped", path)
            head = None
    body = (path / BODY_FILE, meta["sha256"][BODY_FILE]) if fit is not None else None
    if body is not None and verify:
        read_blob(path, BODY_FILE, meta)  # refused now, not at the first text
    store.restore(vectors, Threshold.from_meta(meta), fit_info=fit, head=head, body=body)
    return store


def fitted_embedder(base: Embedder, path: Path, sha256: str) -> Embedder:
    """``base`` with the fitted body saved at ``path`` (sha256 and tensor names checked)."""
    if not path.is_file():
        raise LabelsyncError(f"{path.parent}: incomplete label store, {path.name} is missing")
    model = load_body(base.model, path.read_bytes(), sha256, str(path))
    return Embedder(base.name, base.device, model=model)


def body_of(embedder: Embedder | None, source: tuple[Path, str] | None) -> bytes:
    """The fitted body's safetensors bytes: from the loaded model, else from its file."""
    if embedder is not None and embedder.fitted:
        return body_bytes(embedder.model)
    if source is None:
        raise LabelsyncError("this store has no fitted body")
    path, sha256 = source
    data = path.read_bytes()
    if sha256_bytes(data) != sha256:
        raise LabelsyncError(f"{path} was changed after the store was saved (sha256 mismatch)")
    return data
