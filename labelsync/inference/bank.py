"""``FeatureBank``: one checkpoint's training representations in a FAISS index, for kNN inference.

G2SAM (seed 001, eq. 4) predicts from the k nearest training representations ``q_i`` of a query
``q``, weighted by ``exp(-||q_i - q||^2 / tau)`` (normalised over the k). Generalised to K
classes, ``p(c | q) = sum_{i in kNN(q), y_i = c} alpha_i``. The representations are
L2-normalised (so ``tau`` means the same for every encoder), which makes the squared distance
``2 - 2 cos``: an exact inner-product FAISS index (``labelsync.store.index``) finds the same
neighbours in the same order.

Saved as a folder (no pickle): ``index.faiss`` (``faiss.write_index``, ids = row numbers),
``labels.safetensors`` (the class id of every row) and ``bank.json`` (the sha256 of the
checkpoint's weights it was built from, the representation, the split, row count, width, the
sha256 of the two other files, and the interpolation weight chosen on dev). A bank whose
checkpoint or files do not match is never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_directory, atomic_write_json
from ..errors import LabelsyncError
from ..store import index as faiss_index

__all__ = ["FeatureBank", "BankError", "file_sha256", "normalise_rows"]

log = logging.getLogger(__name__)

INDEX_FILE, LABELS_FILE, META_FILE = "index.faiss", "labels.safetensors", "bank.json"


class BankError(LabelsyncError):
    """A saved kNN bank is missing, damaged, or belongs to another checkpoint."""


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit L2 norm (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12))


@dataclass
class FeatureBank:
    """Normalised training representations with their class ids, searchable by FAISS."""

    index: Any  # faiss IndexIDMap2 over IndexFlatIP, ids = row numbers
    labels: np.ndarray  # [N] int64 class id of each row
    num_classes: int
    meta: dict[str, Any] = field(default_factory=dict)
    _searcher: Any = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        features: np.ndarray,
        labels: np.ndarray,
        num_classes: int,
        *,
        checkpoint: str,
        representation: str = "features",
        **meta: Any,
    ) -> FeatureBank:
        """A bank of the rows whose class is in ``[0, num_classes)``; ``checkpoint``: the sha256
        of the weights that produced ``features``."""
        labels = np.asarray(labels, dtype=np.int64)
        keep = (labels >= 0) & (labels < num_classes)
        if not keep.any():
            raise BankError("a kNN bank needs at least one training row with a class")
        vectors = normalise_rows(np.asarray(features)[keep])
        index = faiss_index.new_index(vectors.shape[1], "flat")
        faiss_index.add(index, vectors, np.arange(len(vectors)))
        info = {
            "checkpoint_sha256": checkpoint,
            "representation": representation,
            "rows": int(len(vectors)),
            "dim": int(vectors.shape[1]),
            "num_classes": int(num_classes),
            "normalised": True,
            **meta,
        }
        return cls(index=index, labels=labels[keep], num_classes=int(num_classes), meta=info)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def checkpoint(self) -> str:
        """The sha256 of the checkpoint weights the bank was built from."""
        return str(self.meta.get("checkpoint_sha256", ""))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(squared distances [n, k'], class ids [n, k'])`` of the ``k' = min(k, N)`` nearest
        rows, nearest first."""
        k = max(1, min(int(k), len(self)))
        if self._searcher is None:
            self._searcher = faiss_index.to_gpu(self.index)  # a GPU copy when faiss-gpu has one
        scores, ids = faiss_index.search(self._searcher, normalise_rows(queries), k)
        distances = np.clip(2.0 - 2.0 * scores.astype(np.float64), 0.0, None)
        return distances, self.labels[ids]

    def probabilities(self, queries: np.ndarray, k: int, tau: float) -> np.ndarray:
        """G2SAM eq. 4 over K classes: ``[n, num_classes]``, each row sums to 1."""
        from scipy.special import softmax

        if tau <= 0:
            raise LabelsyncError(f"the kNN temperature tau must be > 0, got {tau}")
        distances, classes = self.search(queries, k)
        alpha = softmax(-distances / tau, axis=1)  # eq. 4 weights over the k neighbours
        probs = np.zeros((len(distances), self.num_classes))
        rows = np.repeat(np.arange(len(distances)), distances.shape[1])
        np.add.at(probs, (rows, classes.ravel()), alpha.ravel())
        return probs

    # --- files ----------------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike) -> Path:
        """Write the three files into ``folder`` (a temp folder renamed into place)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        with atomic_directory(folder) as tmp:
            faiss_index.write(self.index, tmp / INDEX_FILE)
            save_file({"labels": np.ascontiguousarray(self.labels)}, str(tmp / LABELS_FILE))
            self.meta["files"] = {
                name: file_sha256(tmp / name) for name in (INDEX_FILE, LABELS_FILE)
            }
            atomic_write_json(tmp / META_FILE, self.meta)
        return folder

    def save_meta(self, folder: str | os.PathLike) -> Path:
        """Rewrite ``bank.json`` only (e.g. after choosing the interpolation weight)."""
        return atomic_write_json(Path(folder) / META_FILE, self.meta)

    @classmethod
    def load(cls, folder: str | os.PathLike, checkpoint: str | None = None) -> FeatureBank:
        """Read a saved bank; ``checkpoint`` (a sha256): refuse a bank built from other weights.

        A missing, edited or damaged file is a ``BankError`` naming it.
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        folder = Path(folder)
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise BankError(f"{folder}: no kNN bank ({META_FILE} missing)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BankError(f"{meta_path}: unreadable ({exc})") from None
        if checkpoint is not None and meta.get("checkpoint_sha256") != checkpoint:
            raise BankError(f"{folder}: the kNN bank was built from another checkpoint")
        for name, expected in (meta.get("files") or {}).items():
            path = folder / name
            if not path.is_file() or file_sha256(path) != expected:
                raise BankError(f"{path}: missing or changed since the kNN bank was saved")
        if set(meta.get("files") or {}) != {INDEX_FILE, LABELS_FILE}:
            raise BankError(f"{meta_path}: no checksums for the bank files")
        index = faiss_index.read(folder / INDEX_FILE)
        try:
            labels = load_file(str(folder / LABELS_FILE))["labels"].astype(np.int64)
        except (SafetensorError, KeyError, OSError) as exc:
            raise BankError(f"{folder / LABELS_FILE}: unreadable ({exc})") from None
        if len(labels) != index.ntotal or index.d != meta.get("dim"):
            raise BankError(f"{folder}: the index and labels of the kNN bank do not match")
        return cls(index=index, labels=labels, num_classes=int(meta["num_classes"]), meta=meta)
