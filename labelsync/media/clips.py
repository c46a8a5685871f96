"""Raw clips given to a trained run: feature arrays made exactly as its training features were.

A run trained on the output of ``labelsync features extract`` records each modality's
``extract.json`` (run.json ``extractors``); a clip is then decoded and featurized with the same
extractors and settings. A run trained on release features (Swin RoI, WavLM, ...) cannot turn a
clip into those, and says so in one line instead of predicting from the text alone.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import LabelsyncError
from .sources import MEDIA_SUFFIXES, VIDEO_SUFFIXES

__all__ = ["is_clip", "ClipInputs"]

log = logging.getLogger(__name__)


def is_clip(item: Any) -> bool:
    """Whether ``item`` names a media file (video or audio) rather than a feature array/file."""
    return isinstance(item, (str, os.PathLike)) and Path(item).suffix.lower() in MEDIA_SUFFIXES


def _as_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)) or hasattr(value, "shape"):
        return [value]
    return list(value)


class ClipInputs:
    """Turns the clips among a prediction's video/audio inputs into feature arrays.

    ``extractors``: modality -> the ``extract.json`` description its training features came
    from; ``trained_files``: modality -> the feature file names the run was trained on (for the
    message when a modality has no description); ``modalities``: what the model fuses.
    """

    def __init__(
        self,
        extractors: dict[str, dict[str, Any]],
        trained_files: dict[str, list[str]],
        modalities: Sequence[str],
    ):
        self.extractors = dict(extractors)
        self.trained_files = trained_files
        self.modalities = tuple(modalities)
        self._featurizers: dict[str, Any] = {}
        self._done: dict[tuple[str, str], Any] = {}  # (settings, clip) -> features, per call

    def convert(self, video: Any, audio: Any) -> tuple[list[Any] | None, list[Any] | None]:
        """``(video, audio)`` with every clip replaced by its features; a run that takes audio
        and got video clips without ``audio`` uses each clip's own audio track."""
        items = {"video": _as_list(video), "audio": _as_list(audio)}
        if not any(is_clip(i) for values in items.values() for i in values or []):
            return video, audio
        borrow_audio = (  # only when every video input is a clip
            "audio" in self.modalities
            and items["audio"] is None
            and bool(items["video"])
            and all(is_clip(i) and Path(i).suffix.lower() in VIDEO_SUFFIXES for i in items["video"])
        )
        if borrow_audio:
            items["audio"] = list(items["video"])
            log.info("no audio given: using each clip's own audio track")
        try:
            for modality, values in items.items():
                if values is not None:
                    items[modality] = [
                        self._features(modality, item) if is_clip(item) else item for item in values
                    ]
        finally:
            self._done.clear()  # a clip is decoded once per call, not kept after it
        return items["video"], items["audio"]

    def _features(self, modality: str, clip: Any) -> Any:
        if modality not in self.modalities:
            raise LabelsyncError(
                f"this model was trained without {modality}; leave --{modality} out"
            )
        description = self.extractors.get(modality)
        if description is None:
            files = ", ".join(self.trained_files.get(modality, [])) or "files of its own"
            raise LabelsyncError(
                f"{clip}: a raw clip, but this run's {modality} features came from {files}, "
                f"not from `labelsync features extract`, so they cannot be made from a clip "
                f"here; give the clip's {modality} features (.npy/.npz/.safetensors) instead"
            )
        if not Path(clip).is_file():
            raise LabelsyncError(f"{clip}: clip not found")
        key = (json.dumps(description.get("settings"), sort_keys=True), str(clip))
        if key not in self._done:
            self._done[key] = self._featurizer(description).featurize(Path(clip))
            for note in self._done[key].notes:
                log.warning("%s: %s", clip, note)
        result = self._done[key]
        if modality not in result.features:
            raise LabelsyncError(f"{clip}: no {modality} in this file")
        return result.features[modality]

    def _featurizer(self, description: dict[str, Any]) -> Any:
        from .featurizer import Featurizer

        key = json.dumps(description.get("settings"), sort_keys=True)
        if key not in self._featurizers:
            self._featurizers[key] = Featurizer.from_description(description)
        return self._featurizers[key]

    def close(self) -> None:
        """Release the extractors (MediaPipe graphs, models)."""
        for featurizer in self._featurizers.values():
            featurizer.close()
        self._featurizers.clear()
