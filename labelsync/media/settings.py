"""``ExtractSettings``: everything that decides what features a clip gets, saved in
``extract.json`` so that the same features can be made again for a new clip at prediction time.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .base import MediaError

__all__ = [
    "ExtractSettings",
    "read_description",
    "descriptions_of",
    "DESCRIPTION_FORMAT",
    "EXTRACT_JSON",
]

DESCRIPTION_FORMAT = "labelsync-features/1"
EXTRACT_JSON = "extract.json"
# settings that change only speed, not the features: free to differ between runs of one folder
_SPEED_ONLY = ("device", "batch_size")


def _extractor_name(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return None if value.lower() in ("", "none", "off") else value


@dataclass(frozen=True)
class ExtractSettings:
    """What to extract and how: extractor names (None = skip that modality), frame rate,
    sample rate, the largest frame side kept, and the device and batch of the HF extractors."""

    video: str | None = "mediapipe"
    audio: str | None = "egemaps"
    fps: float = 5.0
    sample_rate: int = 16000
    max_side: int = 640
    device: str = "cpu"
    batch_size: int = 16

    def __post_init__(self) -> None:
        object.__setattr__(self, "video", _extractor_name(self.video))
        object.__setattr__(self, "audio", _extractor_name(self.audio))
        if self.video is None and self.audio is None:
            raise MediaError("no extractor: give a video or an audio extractor (not both none)")
        if not float(self.fps) > 0:
            raise MediaError(f"fps must be > 0, got {self.fps}")
        for name in ("sample_rate", "max_side", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise MediaError(f"{name} must be >= 1, got {getattr(self, name)}")
        object.__setattr__(self, "fps", float(self.fps))

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities these settings extract, in ``("video", "audio")`` order."""
        return tuple(m for m in ("video", "audio") if getattr(self, m) is not None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "settings") -> ExtractSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MediaError(f"{where}: unknown extract setting {unknown[0]!r}")
        return cls(**data)

    def same_features(self, other: ExtractSettings) -> bool:
        """True when both settings give the same features (device and batch size aside)."""
        mine, theirs = self.to_dict(), other.to_dict()
        return all(mine[k] == theirs[k] for k in mine if k not in _SPEED_ONLY)


def read_description(source: str | os.PathLike | dict[str, Any]) -> dict[str, Any]:
    """An ``extract.json`` description: from a dict, the file, or a folder that holds it."""
    if isinstance(source, dict):
        data, where = source, "extract description"
    else:
        path = Path(source)
        path = path / EXTRACT_JSON if path.is_dir() else path
        where = str(path)
        if not path.is_file():
            raise MediaError(f"{path}: extract description not found")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MediaError(f"{path}: not a JSON extract description ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != DESCRIPTION_FORMAT:
        raise MediaError(
            f"{where}: not a labelsync extract description (format {DESCRIPTION_FORMAT})"
        )
    if not isinstance(data.get("settings"), dict):
        raise MediaError(f"{where}: no 'settings' in the extract description")
    return data


def descriptions_of(feature_record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Modality -> the ``extract.json`` beside its feature file, for the modalities whose files
    ``labelsync features extract`` wrote (release features have none)."""
    found = {}
    for modality, records in feature_record.get("feature_files", {}).items():
        folders = {Path(record["path"]).parent for record in records if record.get("path")}
        if len(folders) == 1 and (folder := folders.pop()).joinpath(EXTRACT_JSON).is_file():
            found[modality] = read_description(folder)
    return found
