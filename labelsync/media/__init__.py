"""Raw media -> features: decode clips with PyAV, run offline extractors (MediaPipe landmarks,
openSMILE eGeMAPS) or Hugging Face models, and write the feature files the dataset loaders read.

    decode.py      PyAV: frames at a fixed rate, mono audio at a fixed sample rate
    landmarks.py   video: face mesh, pose and hands of the main speaker (MediaPipe)
    prosody.py     audio: eGeMAPSv02 low-level descriptors (openSMILE)
    hf.py          audio/video: Hugging Face speech and image/video encoders
    registry.py    extractor names -> factories
    settings.py    ExtractSettings and the extract.json description
    featurizer.py  one clip -> features (Featurizer, extract_clip)
    sources.py     folders, manifests and shards -> MediaItems
    shards.py      resumable chunks on disk, merge into the final files
    runner.py      extract_features: workers, progress, failures
"""

from __future__ import annotations

from .base import Clip, Extractor, MediaError
from .featurizer import ClipFeatures, Featurizer, extract_clip
from .registry import available_extractors, create_extractor, register_extractor
from .runner import ExtractResult, extract_features
from .settings import ExtractSettings, read_description
from .shards import merge_shards
from .sources import MediaItem, list_media

__all__ = [
    "Clip",
    "ClipFeatures",
    "ExtractResult",
    "ExtractSettings",
    "Extractor",
    "Featurizer",
    "MediaError",
    "MediaItem",
    "available_extractors",
    "create_extractor",
    "extract_clip",
    "extract_features",
    "list_media",
    "merge_shards",
    "read_description",
    "register_extractor",
]
