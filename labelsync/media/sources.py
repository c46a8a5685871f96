"""What to extract: ``MediaItem``s (key, file, optional ``[start, end)`` in seconds) from a folder
of clips, a manifest CSV or a list of paths, and the split of a list into shards.

Keys in a folder are the file's path below the folder without its suffix, ``/`` joined by
``_``: ``S05_E16_329.mp4`` and ``S05/E16/329.mp4`` both give ``S05_E16_329`` (the MIntRec key),
``dia9/utt1.mp4`` gives ``dia9_utt1`` (MIntRec2.0). A manifest CSV has the columns
``key,path[,start,end]``; relative paths are read from the media folder if one is given, else
from the manifest's own folder.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .base import MediaError

__all__ = [
    "MediaItem",
    "list_media",
    "read_manifest",
    "parse_shard",
    "shard_items",
    "items_digest",
    "VIDEO_SUFFIXES",
    "AUDIO_SUFFIXES",
]

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".ts")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac")
MEDIA_SUFFIXES = VIDEO_SUFFIXES + AUDIO_SUFFIXES


@dataclass(frozen=True)
class MediaItem:
    """One clip to extract: its key, its file, and an optional ``[start, end)`` cut in seconds."""

    key: str
    path: str
    start: float | None = None
    end: float | None = None


def _folder_key(path: Path, root: Path) -> str:
    return "_".join(path.relative_to(root).with_suffix("").parts)


def _unique(items: Iterable[tuple[MediaItem, str]]) -> list[MediaItem]:
    """Items sorted by key; a key given twice is an error naming both places."""
    seen: dict[str, str] = {}
    result = []
    for item, where in items:
        if item.key in seen:
            raise MediaError(f"key {item.key!r} twice: {seen[item.key]} and {where}")
        seen[item.key] = where
        result.append(item)
    return sorted(result, key=lambda item: item.key)


def _scan_folder(folder: Path) -> list[MediaItem]:
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise MediaError(
            f"{folder}: no media files ({', '.join(s.lstrip('.') for s in MEDIA_SUFFIXES)})"
        )
    return _unique((MediaItem(_folder_key(p, folder), str(p)), str(p)) for p in files)


def _seconds(value: str, field: str, where: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise MediaError(f"{where}: {field} must be a number of seconds, got {value!r}") from None
    if seconds < 0 or seconds != seconds:
        raise MediaError(f"{where}: {field} must be >= 0 seconds, got {value!r}")
    return seconds


def read_manifest(
    manifest: str | os.PathLike, media_dir: str | os.PathLike | None = None
) -> list[MediaItem]:
    """The items of a manifest CSV ``key,path[,start,end]`` (errors name the line and field)."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise MediaError(f"{manifest}: manifest not found")
    base = Path(media_dir) if media_dir is not None else manifest.parent
    try:
        with manifest.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MediaError(f"{manifest}: not a readable CSV file ({exc})") from None
    if not rows:
        raise MediaError(f"{manifest}: empty manifest (expected a header key,path[,start,end])")
    header = [h.strip().lower() for h in rows[0]]
    for column in ("key", "path"):
        if column not in header:
            raise MediaError(
                f"{manifest}: line 1: missing column {column!r} (header: key,path[,start,end])"
            )
    index = {name: header.index(name) for name in ("key", "path", "start", "end") if name in header}
    found = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{manifest}: line {number}"
        cells = {name: row[i].strip() if i < len(row) else "" for name, i in index.items()}
        if not cells["key"]:
            raise MediaError(f"{where}: empty key")
        if not cells["path"]:
            raise MediaError(f"{where}: empty path")
        start = _seconds(cells.get("start", ""), "start", where)
        end = _seconds(cells.get("end", ""), "end", where)
        if end is not None and end <= (start or 0.0):
            raise MediaError(f"{where}: end {end:g} is not after start {start or 0.0:g}")
        path = Path(cells["path"])
        path = path if path.is_absolute() else base / path
        found.append((MediaItem(cells["key"], str(path), start, end), where))
    if not found:
        raise MediaError(f"{manifest}: no rows under the header")
    return _unique(found)


def list_media(
    media: str | os.PathLike | Sequence[str | os.PathLike | MediaItem],
    manifest: str | os.PathLike | None = None,
) -> list[MediaItem]:
    """Items sorted by key from a folder, a manifest ``.csv``, one file or a list of paths/items."""
    if manifest is not None:
        return read_manifest(manifest, media)
    if isinstance(media, (str, os.PathLike)):
        path = Path(media)
        if path.is_dir():
            return _scan_folder(path)
        if path.suffix.lower() == ".csv":
            return read_manifest(path)
        if path.is_file():
            return [MediaItem(path.stem, str(path))]
        raise MediaError(f"{path}: media folder, manifest or file not found")
    items = []
    for entry in media:
        item = entry if isinstance(entry, MediaItem) else MediaItem(Path(entry).stem, str(entry))
        items.append((item, item.path))
    if not items:
        raise MediaError("no media given")
    return _unique(items)


def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int]:
    """``"I/N"`` (or ``(I, N)``) -> ``(I, N)`` with ``0 <= I < N``; None means ``(0, 1)``."""
    if shard is None:
        return 0, 1
    if isinstance(shard, str):
        parts = shard.split("/")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise MediaError(f"shard must be I/N (e.g. 0/4), got {shard!r}")
        shard = (int(parts[0]), int(parts[1]))
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise MediaError(f"shard {index}/{count}: need N >= 1 and 0 <= I < N")
    return index, count


def shard_items(items: Sequence[MediaItem], index: int, count: int) -> list[MediaItem]:
    """Every ``count``-th item starting at ``index`` (items are sorted by key)."""
    return list(items[index::count])


def items_digest(items: Sequence[MediaItem]) -> str:
    """A short hash of the item list (keys, file names, cuts), so shards run on machines that
    mount the media in different places can tell they read the same list."""
    digest = hashlib.sha256()
    for item in items:
        name = Path(item.path).name
        digest.update(f"{item.key}\t{name}\t{item.start}\t{item.end}\n".encode())
    return digest.hexdigest()[:16]
