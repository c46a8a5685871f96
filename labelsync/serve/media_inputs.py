"""Video/audio inputs of ``/v1/predict``: uploaded files or server-side paths.

A feature file (``.npy``, ``.npz``, ``.safetensors``; never pickle) becomes its array at once. A
raw clip (``.mp4``, ``.wav``, ...: ``labelsync.media.sources.MEDIA_SUFFIXES``) stays a path:
the served run turns it into features the way its training features were made
(``ServedRun.featurize``), before the request joins a batch.

Uploads are size-capped and copied into a private temporary folder (mode 0700), which lives
until the request's clips are featurized and is removed then. Server-side paths are off unless
the server was given a media folder, and then only paths inside it are read. Messages name the
upload or the path as the client gave it, never the server's folders.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from ..errors import LabelsyncError
from ..media.sources import MEDIA_SUFFIXES
from ..predict import FEATURE_FILE_SUFFIXES, load_feature_file

__all__ = ["MODALITIES", "MediaInputError", "MediaInputs", "load_path", "uploaded"]

MODALITIES = ("video", "audio")
_CHUNK = 1 << 16


class MediaInputError(LabelsyncError):
    """A video/audio input that cannot be used (the server answers 422)."""


@dataclass
class MediaInputs:
    """``{modality: [array or clip path]}`` of one request, and how to word its paths."""

    items: dict[str, list[Any]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # server path -> the client's name

    @property
    def has_clips(self) -> bool:
        return any(isinstance(i, Path) for values in self.items.values() for i in values)

    def scrub(self, message: str) -> str:
        """``message`` with server paths replaced by the names the client gave."""
        for path, name in sorted(self.names.items(), key=lambda pair: -len(pair[0])):
            message = message.replace(path, name)
        return message


def _is_clip(modality: str, name: str, where: str) -> bool:
    suffix = Path(name).suffix.lower()
    if suffix in FEATURE_FILE_SUFFIXES:
        return False
    if suffix in MEDIA_SUFFIXES:
        return True
    raise MediaInputError(
        f"{where}: unsupported {modality} file {Path(name).name!r} (send features: "
        f"{', '.join(FEATURE_FILE_SUFFIXES)}, or a video/audio clip)"
    )


def _features(path: Path, shown: str, where: str) -> np.ndarray:
    try:
        return load_feature_file(path)
    except LabelsyncError as exc:
        raise MediaInputError(f"{where}: {str(exc).replace(str(path), shown)}") from None


def load_path(
    modality: str, value: str, media_dir: str | None, where: str, inputs: MediaInputs
) -> np.ndarray | Path:
    """The array of a server-side feature file, or the path of a clip; inside ``media_dir``."""
    if media_dir is None:
        raise MediaInputError(
            f"{where}: server-side paths are off (start the server with --media-dir DIR), "
            "or upload the file as multipart/form-data"
        )
    root = Path(media_dir).resolve()
    path = (root / value).resolve()
    if not path.is_relative_to(root):
        raise MediaInputError(f"{where}: {value!r} is outside the media folder")
    clip = _is_clip(modality, value, where)
    if not path.is_file():
        raise MediaInputError(f"{where}: {value!r} not found in the media folder")
    inputs.names[str(path)] = repr(value)
    return path if clip else _features(path, repr(value), where)


@asynccontextmanager
async def uploaded(
    uploads: dict[str, list[Any]], max_file_bytes: int
) -> AsyncIterator[MediaInputs]:
    """The request's uploaded files (Starlette ``UploadFile``) as ``MediaInputs``, from a
    private temporary folder that is removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="labelsync-upload-") as folder:
        inputs = MediaInputs()
        inputs.names[folder] = "upload"
        for modality, files in uploads.items():
            inputs.items[modality] = []
            for position, upload in enumerate(files):
                where = f"{modality}[{position}]"
                name = upload.filename or ""
                clip = _is_clip(modality, name, where)
                target = Path(folder) / f"{modality}-{position}{Path(name).suffix.lower()}"
                inputs.names[str(target)] = f"upload {name!r}"
                await _copy(upload, target, max_file_bytes, where)
                if clip:
                    inputs.items[modality].append(target)
                    continue
                # parsing may take a while: off the event loop
                array = await run_in_threadpool(_features, target, f"upload {name!r}", where)
                inputs.items[modality].append(array)
                target.unlink()
        yield inputs


async def _copy(upload: Any, target: Path, limit: int, where: str) -> None:
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise MediaInputError(f"{where}: file over the {limit} byte upload limit")
            handle.write(chunk)
