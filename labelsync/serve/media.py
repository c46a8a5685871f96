"""Video/audio inputs of ``/v1/predict``: uploaded files or server-side paths -> feature arrays.

Feature files (``.npy``, ``.npz``, ``.safetensors``; never pickle) load today. Raw clips (video or
audio files) need the decoding pipeline of the raw-media work: they are recognised by suffix and
refused with a clear message until a loader is registered in ``RAW_LOADERS``.

Uploads are size-capped, copied into a private temporary folder (mode 0700) and read from there;
the folder is removed as soon as the arrays are in memory. Server-side paths are off unless the
server was given a media folder, and then only paths inside it are read.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from ..errors import LabelsyncError
from ..predict import FEATURE_FILE_SUFFIXES, load_feature_file

__all__ = ["MODALITIES", "MediaError", "RAW_LOADERS", "load_path", "load_uploads"]

MODALITIES = ("video", "audio")
RAW_SUFFIXES = {
    "video": (".mp4", ".avi", ".mkv", ".mov", ".webm"),
    "audio": (".wav", ".mp3", ".flac", ".ogg", ".m4a"),
}
# modality -> loader of a raw clip into (frames, dim) features; filled in by the raw-media work
RAW_LOADERS: dict[str, Callable[[Path], np.ndarray]] = {}
_CHUNK = 1 << 16


class MediaError(LabelsyncError):
    """A video/audio input that cannot be used (the server answers 422)."""


def _check_suffix(modality: str, name: str, where: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in FEATURE_FILE_SUFFIXES:
        return suffix
    if suffix in RAW_SUFFIXES.get(modality, ()) and modality not in RAW_LOADERS:
        raise MediaError(
            f"{where}: raw {modality} clips are not supported yet; send "
            f"{modality} features ({', '.join(FEATURE_FILE_SUFFIXES)})"
        )
    if suffix in RAW_SUFFIXES.get(modality, ()):
        return suffix
    raise MediaError(
        f"{where}: unsupported {modality} file {Path(name).name!r} "
        f"(use {', '.join(FEATURE_FILE_SUFFIXES)})"
    )


def _read(modality: str, path: Path, suffix: str) -> np.ndarray:
    if suffix in FEATURE_FILE_SUFFIXES:
        return load_feature_file(path)
    return RAW_LOADERS[modality](path)


def load_path(modality: str, value: str, media_dir: str | None, where: str) -> np.ndarray:
    """The array of a server-side path, which must lie inside ``media_dir``."""
    if media_dir is None:
        raise MediaError(
            f"{where}: server-side paths are off (start the server with --media-dir DIR), "
            "or upload the file as multipart/form-data"
        )
    root = Path(media_dir).resolve()
    path = (root / value).resolve()
    if not path.is_relative_to(root):
        raise MediaError(f"{where}: {value!r} is outside the media folder")
    suffix = _check_suffix(modality, value, where)
    if not path.is_file():
        raise MediaError(f"{where}: {value!r} not found in the media folder")
    try:
        return _read(modality, path, suffix)
    except LabelsyncError as exc:
        raise MediaError(f"{where}: {str(exc).replace(str(path), repr(value))}") from None


async def load_uploads(
    uploads: dict[str, list[Any]], max_file_bytes: int
) -> dict[str, list[np.ndarray]]:
    """``{modality: [arrays]}`` from Starlette ``UploadFile`` objects, via a private temp dir."""
    arrays: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory(prefix="labelsync-upload-") as folder:
        for modality, files in uploads.items():
            arrays[modality] = []
            for position, upload in enumerate(files):
                where = f"{modality}[{position}]"
                name = upload.filename or ""
                suffix = _check_suffix(modality, name, where)
                target = Path(folder) / f"{modality}-{position}{suffix}"
                await _copy(upload, target, max_file_bytes, where)
                try:  # parsing may take a while: off the event loop
                    arrays[modality].append(
                        await run_in_threadpool(_read, modality, target, suffix)
                    )
                except LabelsyncError as exc:
                    message = str(exc).replace(str(target), f"upload {name!r}")
                    raise MediaError(f"{where}: {message}") from None
                target.unlink()
    return arrays


async def _copy(upload: Any, target: Path, limit: int, where: str) -> None:
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise MediaError(f"{where}: file over the {limit} byte upload limit")
            handle.write(chunk)
