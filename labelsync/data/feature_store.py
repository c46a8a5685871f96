"""The feature store contract: a read-only mapping key -> ``(T, D)`` array, read on access.

``FeatureStore`` is what the collate function and ``IntentDataset`` use, whatever the file
format (the formats are in ``features.py``). ``MemoryStore`` wraps arrays already in memory;
``UnionStore`` reads several stores as one (MIntRec2.0 keeps in-scope and out-of-scope features
in separate files of the same name). Arrays stored as ``(T, 1, D)`` are returned as ``(T, D)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .base import FeatureError

__all__ = ["FeatureStore", "MemoryStore", "UnionStore", "feature_dim"]


class FeatureStore(ABC, Mapping):
    """A read-only mapping key -> ``(T, D)`` array whose data is read on access."""

    format: str = "?"

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self._dim: int | None = None

    # -- what a subclass provides ------------------------------------------------------------
    @abstractmethod
    def keys(self) -> Any:  # a set-like view of the keys
        """All keys in the file."""

    @abstractmethod
    def shape(self, key: str) -> tuple[int, ...]:
        """The stored shape of ``key`` (no data read)."""

    @abstractmethod
    def dtype(self, key: str) -> np.dtype:
        """The stored dtype of ``key`` (no data read)."""

    @abstractmethod
    def _read(self, key: str, max_len: int | None) -> np.ndarray:
        """The stored array of ``key`` (first ``max_len`` frames), unsqueezed."""

    # -- shared behaviour --------------------------------------------------------------------
    def read(self, key: str, max_len: int | None = None) -> np.ndarray:
        """The ``(T, D)`` array of ``key``, cut to ``max_len`` frames; KeyError if absent."""
        if key not in self.keys():
            raise KeyError(key)
        array = self._read(key, max_len)
        return array.reshape(array.shape[0], -1) if array.ndim == 3 else array

    def raw(self, key: str) -> np.ndarray:
        """The array of ``key`` exactly as stored (shape and dtype unchanged)."""
        if key not in self.keys():
            raise KeyError(key)
        return self._read(key, None)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.read(key)

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def length(self, key: str) -> int:
        """Number of frames T of ``key``."""
        return int(self.shape(key)[0])

    @property
    def dim(self) -> int:
        """The feature dimension D (checked to agree across keys by ``check_features``)."""
        if self._dim is None:
            first = next(iter(self.keys()), None)
            if first is None:
                raise FeatureError(f"{self.where}: no features in the file")
            self._dim = feature_dim(self.shape(first), self.where, first)
        return self._dim

    @property
    def where(self) -> str:
        """The file(s) this store reads, for messages."""
        return str(self.path) if self.path is not None else f"<{self.format} features>"

    def where_of(self, key: str) -> str:  # noqa: ARG002 - one file holds every key
        """The file that holds ``key``, for messages."""
        return self.where

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where!r}, {len(self)} keys)"


def feature_dim(shape: tuple[int, ...], where: str, key: str) -> int:
    """D of a ``(T, D)`` or ``(T, 1, D)`` shape; any other shape is a FeatureError."""
    if len(shape) == 2 or (len(shape) == 3 and shape[1] == 1):
        return int(shape[-1])
    raise FeatureError(
        f"{where}: key {key!r} has shape {tuple(shape)}, expected (T, D) or (T, 1, D)"
    )


class MemoryStore(FeatureStore):
    """Features already in memory: a dict key -> array (what the API accepts directly)."""

    format = "memory"

    def __init__(self, arrays: Mapping[str, Any], path: str | Path | None = None):
        super().__init__(path)
        self._arrays = {str(k): np.asarray(v) for k, v in arrays.items()}

    def keys(self) -> Any:
        return self._arrays.keys()

    def shape(self, key: str) -> tuple[int, ...]:
        return self._arrays[key].shape

    def dtype(self, key: str) -> np.dtype:
        return self._arrays[key].dtype

    def _read(self, key: str, max_len: int | None) -> np.ndarray:
        array = self._arrays[key]
        return array if max_len is None else array[:max_len]


class UnionStore(FeatureStore):
    """Several feature files read as one store; a key found in two of them is an error.

    MIntRec2.0 keeps the features of its in-scope and out-of-scope rows in separate files of the
    same name (``in-scope/video_data/swin_roi.pkl``, ``out-of-scope/MIntRec2.0-OOD/...``).
    """

    def __init__(self, parts: Sequence[FeatureStore]):
        super().__init__(None)
        if not parts:
            raise FeatureError("a union of feature stores needs at least one store")
        self.parts = tuple(parts)
        self.format = "+".join(dict.fromkeys(part.format for part in self.parts))
        self._owner: dict[str, FeatureStore] = {}
        for part in self.parts:
            for key in part.keys():
                other = self._owner.setdefault(key, part)
                if other is not part:
                    raise FeatureError(
                        f"key {key!r} is in two feature files: {other.where} and {part.where}"
                    )

    def keys(self) -> Any:
        return self._owner.keys()

    def shape(self, key: str) -> tuple[int, ...]:
        return self._owner[key].shape(key)

    def dtype(self, key: str) -> np.dtype:
        return self._owner[key].dtype(key)

    def _read(self, key: str, max_len: int | None) -> np.ndarray:
        return self._owner[key]._read(key, max_len)

    @property
    def where(self) -> str:
        return " + ".join(part.where for part in self.parts)

    def where_of(self, key: str) -> str:
        owner = self._owner.get(key)
        return owner.where if owner is not None else self.where
