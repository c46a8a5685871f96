"""What every extractor shares: the decoded ``Clip`` it reads, the ``Extractor`` contract and
``MediaError``, the one-line error for media that cannot be listed, decoded or featurised."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LabelsyncError

__all__ = ["MediaError", "Clip", "Extractor", "MODALITIES"]

MODALITIES = ("video", "audio")


class MediaError(LabelsyncError):
    """Media that cannot be listed, decoded or turned into features (names the file)."""


@dataclass
class Clip:
    """One decoded clip: frames sampled at ``fps`` and mono audio at ``sample_rate``.

    ``frames`` is ``(T, H, W, 3)`` uint8 RGB (None for audio-only files); ``audio`` is ``(N,)``
    float32 in [-1, 1] (None when the file has no audio track).
    """

    path: str
    frames: np.ndarray | None
    fps: float
    audio: np.ndarray | None
    sample_rate: int
    duration: float

    @property
    def has_video(self) -> bool:
        return self.frames is not None and len(self.frames) > 0

    @property
    def has_audio(self) -> bool:
        return self.audio is not None


class Extractor(ABC):
    """Turns a ``Clip`` into a ``(T, D)`` float32 array for one modality.

    A subclass sets ``name`` and ``modality`` and fills ``dim`` and ``frame_rate`` (feature frames
    per second) once built; ``describe()`` is what ``extract.json`` records about it.
    """

    name: str = "?"
    modality: str = "?"
    dim: int = 0
    frame_rate: float = 0.0

    @abstractmethod
    def extract(self, clip: Clip) -> np.ndarray:
        """The ``(T, dim)`` float32 features of ``clip`` (T >= 1)."""

    def version(self) -> str:
        """The library (and model) that produced the features, e.g. ``opensmile 2.6.0``."""
        return "?"

    def details(self) -> dict[str, Any]:
        """Extractor-specific facts for ``extract.json`` (feature names, layout, model id...)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """``{"extractor", "version", "dim", "frame_rate", ...details}`` for ``extract.json``."""
        return {
            "extractor": self.name,
            "version": self.version(),
            "dim": int(self.dim),
            "frame_rate": float(self.frame_rate),
            **self.details(),
        }

    def close(self) -> None:
        """Release native resources (graphs, models); the extractor is unusable afterwards."""
        return None
