"""The extractor registry: a name -> a factory per modality. Built-in offline extractors are
``mediapipe`` (``mediapipe-face``: face only) for video and ``egemaps`` for audio; any other
name is a Hugging Face model id or local path (``wav2vec2``, ``wavlm``, ``clip``, ``swin`` and
``videomae`` are short names for the checkpoints the MIntRec papers used)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .base import MODALITIES, Extractor, MediaError

__all__ = ["register_extractor", "create_extractor", "available_extractors"]

Factory = Callable[..., Extractor]


def _lazy(module: str, cls: str, **fixed: Any) -> Factory:
    """A factory that imports ``module`` only when an extractor is built (heavy libraries)."""

    def build(**options: Any) -> Extractor:
        return getattr(importlib.import_module(module), cls)(**fixed, **options)

    return build


_REGISTRY: dict[str, dict[str, Factory]] = {
    "video": {
        "mediapipe": _lazy("labelsync.media.landmarks", "LandmarkExtractor"),
        "mediapipe-face": _lazy("labelsync.media.landmarks", "LandmarkExtractor", parts=("face",)),
    },
    "audio": {"egemaps": _lazy("labelsync.media.prosody", "EgemapsExtractor")},
}
_HF_FALLBACK = {
    "video": _lazy("labelsync.media.hf", "HFFrameExtractor"),
    "audio": _lazy("labelsync.media.hf", "HFAudioExtractor"),
}


def _check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise MediaError(f"unknown modality {modality!r} (use {', '.join(MODALITIES)})")


def register_extractor(modality: str, name: str, factory: Factory) -> None:
    """Add ``factory(name=, fps=, device=, batch_size=) -> Extractor`` under ``name``."""
    _check_modality(modality)
    _REGISTRY[modality][name] = factory


def available_extractors() -> dict[str, list[str]]:
    """Registered extractor names per modality (any Hugging Face id works besides these)."""
    return {modality: sorted(names) for modality, names in _REGISTRY.items()}


def create_extractor(
    modality: str, name: str, *, fps: float = 5.0, device: str = "cpu", batch_size: int = 16
) -> Extractor:
    """Build the ``modality`` extractor called ``name`` (registered, or a Hugging Face model)."""
    _check_modality(modality)
    factory = _REGISTRY[modality].get(name, _HF_FALLBACK[modality])
    return factory(name=name, fps=fps, device=device, batch_size=batch_size)
