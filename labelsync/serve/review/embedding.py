"""``CachingEmbedder``: an ``Embedder`` that remembers the vector of every text it encoded, so
rebuilding the store after an edit encodes only the texts that changed."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from ...store.embedder import Embedder

__all__ = ["CachingEmbedder"]


class CachingEmbedder(Embedder):
    """Encodes each distinct text once (least recently used texts are dropped past
    ``max_entries``); ``encoded`` counts the texts that were actually run through the model."""

    def __init__(
        self, name: str, device: str | None = None, max_entries: int = 50_000, model: Any = None
    ):
        super().__init__(name, device, model=model)
        self.max_entries = max_entries
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.encoded = 0

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """``[len(texts), dim]`` unit vectors; only texts not seen before reach the model."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            for text, vector in zip(missing, super().encode(missing, batch_size), strict=True):
                self._vectors[text] = vector
            self.encoded += len(missing)
        rows = []
        for text in texts:
            self._vectors.move_to_end(text)
            rows.append(self._vectors[text])
        while len(self._vectors) > self.max_entries:
            self._vectors.popitem(last=False)
        return np.stack(rows)
