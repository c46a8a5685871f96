"""Audio features from openSMILE: the eGeMAPSv02 low-level descriptors, 25 values every 10 ms.

eGeMAPS (the extended Geneva Minimalistic Acoustic Parameter Set) describes prosody and voice
quality: loudness, pitch (F0 in semitones), jitter, shimmer, harmonics-to-noise ratio, formants,
spectral slope and the first MFCCs. openSMILE's units range from 0.01 to thousands, which a
linear input layer learns badly (measured on the synthetic signal test: dev accuracy 0.75 raw,
1.0 rescaled), so each descriptor is divided by a fixed unit scale recorded in ``extract.json``:
formant frequencies and bandwidths in kHz, decibel levels, semitones and MFCCs divided by 10,
the rest as they are. Descriptors undefined on a frame (pitch in silence, a segment too short)
are written as 0.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .base import Clip, Extractor, MediaError

__all__ = ["EgemapsExtractor", "unit_scale"]

_TENS = ("mfcc", "alphaRatio", "hammarberg", "HNR", "logRel", "amplitudeLogRelF0", "F0semitone")


def unit_scale(name: str) -> float:
    """The divisor that brings descriptor ``name`` to order one (see the module docstring)."""
    if "frequency" in name or "bandwidth" in name:
        return 1000.0  # Hz -> kHz
    if any(part in name for part in _TENS):
        return 10.0  # dB, semitones, MFCCs
    return 1.0


class EgemapsExtractor(Extractor):
    """openSMILE eGeMAPSv02 low-level descriptors: ``(T, 25)`` at 100 frames per second."""

    name = "egemaps"
    modality = "audio"
    frame_rate = 100.0

    def __init__(self, **_: Any) -> None:
        try:
            import opensmile
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MediaError(
                f"the egemaps audio extractor needs `pip install opensmile`: {exc}"
            ) from None
        self._opensmile = opensmile
        self._smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02,
            feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
        )
        self.feature_names = list(self._smile.feature_names)
        self.dim = len(self.feature_names)
        self.scale = np.array([unit_scale(n) for n in self.feature_names], dtype=np.float32)

    def version(self) -> str:
        return f"opensmile {self._opensmile.__version__} eGeMAPSv02 low-level descriptors"

    def details(self) -> dict[str, Any]:
        return {"names": self.feature_names, "divided_by": self.scale.tolist()}

    def extract(self, clip: Clip) -> np.ndarray:
        if clip.audio is None:
            raise MediaError(f"{clip.path}: no audio for the egemaps extractor")
        signal = clip.audio

        with warnings.catch_warnings():  # "Segment too short, filling with NaN": handled below
            warnings.simplefilter("ignore", UserWarning)
            frame = self._smile.process_signal(signal, clip.sample_rate)
        values = frame.to_numpy(dtype=np.float32) / self.scale
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        if len(values) == 0:
            values = np.zeros((1, self.dim), np.float32)
        return np.ascontiguousarray(values)
