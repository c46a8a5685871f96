"""``Featurizer``: decode one clip and run the extractors of an ``ExtractSettings`` on it; what
the batch runner does per clip, and what prediction does for a new clip (``extract_clip``).

A video whose file has no audio track gets the audio features of silence as long as the clip
(so every key has both modalities); an audio-only file gets no video features.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .base import Extractor, MediaError
from .decode import decode_clip, silence_for
from .registry import create_extractor
from .settings import ExtractSettings, read_description

__all__ = ["Featurizer", "ClipFeatures", "extract_clip"]

log = logging.getLogger(__name__)


@dataclass
class ClipFeatures:
    """The features of one clip (modality -> ``(T, D)`` float32) and notes on what was missing."""

    features: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)


class Featurizer:
    """The extractors of one ``ExtractSettings``, built once and applied clip by clip."""

    def __init__(self, settings: ExtractSettings | None = None):
        self.settings = settings or ExtractSettings()
        self.extractors: dict[str, Extractor] = {}
        try:
            for modality in self.settings.modalities:
                self.extractors[modality] = create_extractor(
                    modality,
                    getattr(self.settings, modality),
                    fps=self.settings.fps,
                    device=self.settings.device,
                    batch_size=self.settings.batch_size,
                )
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_description(
        cls, description: str | os.PathLike | dict[str, Any], *, device: str | None = None
    ) -> Featurizer:
        """The featurizer that made an ``extract.json`` (a dict, the file or its folder).

        ``device`` overrides the recorded one (a recorded GPU falls back to the CPU when there is
        none). Rebuilt extractors must give the recorded dims
        (MediaError otherwise); a different library version is logged as a warning.
        """
        data = read_description(description)
        settings = dict(data["settings"])
        if device is not None:
            settings["device"] = device
        elif str(settings.get("device", "cpu")).startswith("cuda") and not _cuda_available():
            log.info(
                "features were extracted on %s; no GPU here, using the CPU", settings["device"]
            )
            settings["device"] = "cpu"  # the device changes speed, not the features
        featurizer = cls(ExtractSettings.from_dict(settings, "extract description"))
        for modality, now in featurizer.describe().items():
            then = data.get(modality) or {}
            if then.get("dim") not in (None, now["dim"]):
                featurizer.close()
                raise MediaError(
                    f"{modality} extractor {now['extractor']!r} now gives {now['dim']}-d "
                    f"features, the description records {then['dim']}-d"
                )
            if then.get("version") not in (None, now["version"]):
                log.warning(
                    "%s features were made with %s, now %s: they may differ slightly",
                    modality,
                    then["version"],
                    now["version"],
                )
        return featurizer

    def describe(self) -> dict[str, dict[str, Any]]:
        """Modality -> what ``extract.json`` records about its extractor (name, version, dim)."""
        return {m: e.describe() for m, e in self.extractors.items()}

    def featurize(
        self, path: str | os.PathLike, *, start: float | None = None, end: float | None = None
    ) -> ClipFeatures:
        """Decode ``path`` (cut to ``[start, end)``) and extract every modality it can give."""
        clip = decode_clip(
            path,
            start=start,
            end=end,
            fps=self.settings.fps,
            sample_rate=self.settings.sample_rate,
            video="video" in self.extractors,
            audio="audio" in self.extractors,
            max_side=self.settings.max_side,
        )
        result = ClipFeatures({})
        if "audio" in self.extractors and clip.audio is None:
            clip.audio = silence_for(clip)
            result.notes.append("no audio track: features of silence")
        if "video" in self.extractors and not clip.has_video:
            result.notes.append("no video stream: no video features")
        for modality, extractor in self.extractors.items():
            if modality == "video" and not clip.has_video:
                continue
            array = np.asarray(extractor.extract(clip), dtype=np.float32)
            if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != extractor.dim:
                raise MediaError(
                    f"{path}: {extractor.name} returned shape {array.shape}, expected "
                    f"(T >= 1, {extractor.dim})"
                )
            result.features[modality] = np.ascontiguousarray(array)
        return result

    def __call__(
        self, path: str | os.PathLike, *, start: float | None = None, end: float | None = None
    ) -> dict[str, np.ndarray]:
        """Modality -> ``(T, D)`` float32 features of one clip."""
        return self.featurize(path, start=start, end=end).features

    def close(self) -> None:
        """Release the extractors' graphs and models."""
        for extractor in self.extractors.values():
            extractor.close()
        self.extractors = {}

    def __enter__(self) -> Featurizer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def extract_clip(
    path: str | os.PathLike,
    settings: ExtractSettings | str | os.PathLike | dict[str, Any] | None = None,
    *,
    start: float | None = None,
    end: float | None = None,
    device: str | None = None,
) -> dict[str, np.ndarray]:
    """Features of ONE clip, in memory: ``{"video": (T, D), "audio": (T, D)}``.

    ``settings``: an ``ExtractSettings``, or the description written by ``features extract``
    (``extract.json``: its path, its folder or the loaded dict), so a new clip gets exactly the
    features a model was trained on. The clip's own audio track is used (silence if it has
    none); an audio-only file gives only ``"audio"``. Builds the extractors for this one call:
    keep a ``Featurizer`` for many clips.
    """
    if isinstance(settings, (ExtractSettings, type(None))):
        settings = settings or ExtractSettings()
        featurizer = Featurizer(replace(settings, device=device) if device else settings)
    else:
        featurizer = Featurizer.from_description(settings, device=device)
    with featurizer:
        return featurizer(Path(path), start=start, end=end)
