"""Work in progress on disk, and the merge into the final feature files.

A shard ``I/N`` keeps its work in ``DIR/shards/I-of-N/``: ``state.json`` (settings, extractor
descriptions, the keys it owns) and ``chunk-NNNNNN.safetensors`` files, each written atomically
with the features of the clips finished since the last one (tensors ``video/KEY``,
``audio/KEY``) and their failures (in the file's metadata). A killed run loses at most the clips
not yet in a chunk; a new run reads the chunk headers and does only the rest. Failed clips are
tried again by a new run (the file may have been fixed).

``merge_shards`` checks that all N shards are finished, that no key is missing or doubled, then
writes ``video_feats.safetensors``, ``audio_feats.safetensors``, ``failures.csv`` and, last,
``extract.json``, each atomically, and removes ``shards/``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_bytes, atomic_write_json, atomic_write_text
from .base import MODALITIES, MediaError
from .settings import DESCRIPTION_FORMAT, EXTRACT_JSON, ExtractSettings

__all__ = ["Failure", "ShardStore", "merge_shards", "feature_file", "SHARDS_DIR", "FAILURES_CSV"]

log = logging.getLogger(__name__)

SHARDS_DIR = "shards"
FAILURES_CSV = "failures.csv"
_CHUNK = re.compile(r"^chunk-(\d{6})\.safetensors$")
_SHARD = re.compile(r"^(\d+)-of-(\d+)$")


def feature_file(out: Path, modality: str) -> Path:
    """``DIR/{modality}_feats.safetensors``: the name the dataset loaders look for."""
    return Path(out) / f"{modality}_feats.safetensors"


@dataclass(frozen=True)
class Failure:
    """A clip that could not be extracted, and why (one line)."""

    key: str
    path: str
    reason: str


class ShardStore:
    """One shard's folder of finished chunks (see the module docstring)."""

    def __init__(self, out: str | Path, index: int = 0, count: int = 1):
        self.out = Path(out)
        self.index, self.count = index, count
        self.folder = self.out / SHARDS_DIR / f"{index}-of-{count}"

    @property
    def state_path(self) -> Path:
        return self.folder / "state.json"

    def state(self) -> dict[str, Any] | None:
        """The shard's ``state.json`` (None before the shard was started)."""
        if not self.state_path.is_file():
            return None
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MediaError(f"{self.state_path}: unreadable shard state ({exc})") from None

    def open(
        self,
        settings: ExtractSettings,
        extractors: Mapping[str, Any],
        digest: str,
        total: int,
        keys: Sequence[str],
    ) -> None:
        """Start the shard, or check that an earlier start used the same media and settings."""
        state = self.state()
        if state is not None:
            then = ExtractSettings.from_dict(state["settings"], str(self.state_path))
            if not then.same_features(settings):
                raise MediaError(
                    f"{self.out}: started with other settings ({_settings_text(then)}); "
                    f"use another --out or the same settings"
                )
            if state["digest"] != digest or state["total"] != total:
                raise MediaError(
                    f"{self.out}: started on another media list ({state['total']} clips then, "
                    f"{total} now); use another --out"
                )
            for stale in self.folder.glob(".chunk-*.tmp"):  # a write cut short by a kill
                stale.unlink(missing_ok=True)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            self.state_path,
            {
                "shard": [self.index, self.count],
                "settings": settings.to_dict(),
                "extractors": dict(extractors),
                "digest": digest,
                "total": total,
                "keys": list(keys),
                "done": False,
            },
        )

    def _chunks(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if _CHUNK.match(p.name))

    def progress(self) -> tuple[set[str], dict[str, Failure]]:
        """Keys finished so far, and failures not since fixed (from the chunk headers only)."""
        from safetensors import safe_open

        done: set[str] = set()
        failed: dict[str, Failure] = {}
        for chunk in self._chunks():
            with safe_open(str(chunk), framework="np") as handle:
                for name in handle.keys():
                    done.add(name.split("/", 1)[1])
                for failure in _failures_of(handle.metadata(), chunk):
                    failed[failure.key] = failure
        return done, {k: f for k, f in failed.items() if k not in done}

    def save(
        self, results: Mapping[str, Mapping[str, np.ndarray]], failures: Sequence[Failure]
    ) -> Path | None:
        """Write one chunk with ``results`` (key -> modality -> array) and ``failures``."""
        if not results and not failures:
            return None
        from safetensors.numpy import save

        tensors = {
            f"{modality}/{key}": np.ascontiguousarray(array, dtype=np.float32)
            for key, arrays in results.items()
            for modality, array in arrays.items()
        }
        metadata = {"failures": json.dumps([[f.key, f.path, f.reason] for f in failures])}
        chunks = self._chunks()
        number = int(_CHUNK.match(chunks[-1].name).group(1)) + 1 if chunks else 1
        path = self.folder / f"chunk-{number:06d}.safetensors"
        return atomic_write_bytes(path, save(tensors, metadata=metadata))

    def finish(self, seconds: float) -> None:
        """Mark the shard finished (``features merge`` refuses unfinished shards)."""
        state = self.state() or {}
        atomic_write_json(self.state_path, {**state, "done": True, "seconds": round(seconds, 3)})

    def read(self) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Failure]]:
        """All finished features (modality -> key -> array) and the failures still standing."""
        from safetensors.numpy import load_file

        arrays: dict[str, dict[str, np.ndarray]] = {m: {} for m in MODALITIES}
        for chunk in self._chunks():
            for name, array in load_file(str(chunk)).items():
                modality, key = name.split("/", 1)
                arrays[modality][key] = array
        _, failed = self.progress()
        return arrays, failed


def _failures_of(metadata: Mapping[str, str] | None, chunk: Path) -> list[Failure]:
    try:
        rows = json.loads((metadata or {}).get("failures", "[]"))
        return [Failure(str(k), str(p), str(r)) for k, p, r in rows]
    except (ValueError, TypeError) as exc:
        raise MediaError(f"{chunk}: unreadable failure list ({exc})") from None


def _settings_text(settings: ExtractSettings) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.to_dict().items())


def _shard_stores(out: Path) -> list[ShardStore]:
    root = out / SHARDS_DIR
    found = [(_SHARD.match(p.name), p) for p in root.iterdir()] if root.is_dir() else []
    shards = [(int(m.group(1)), int(m.group(2))) for m, p in found if m and p.is_dir()]
    if not shards:
        raise MediaError(f"{out}: no shards to merge (expected {SHARDS_DIR}/I-of-N folders)")
    counts = sorted({count for _, count in shards})
    if len(counts) > 1:
        raise MediaError(
            f"{root}: shards of different splits ({', '.join(f'of {c}' for c in counts)})"
        )
    count = counts[0]
    missing = sorted(set(range(count)) - {index for index, _ in shards})
    if missing:
        raise MediaError(
            f"{root}: shard {missing[0]}/{count} not found ({len(missing)} of {count} missing)"
        )
    return [ShardStore(out, index, count) for index in range(count)]


def merge_shards(out: str | Path, *, keep_shards: bool = False) -> dict[str, Any]:
    """Join the shards of ``out`` into the final feature files; returns the ``extract.json`` dict.

    Raises MediaError, writing nothing, when a shard is missing or unfinished, when shards used
    other settings or media, or when a key is missing or doubled.
    """
    started = time.perf_counter()
    out = Path(out)
    stores = _shard_stores(out)
    states = []
    for store in stores:
        state = store.state()
        if state is None:
            raise MediaError(f"{store.folder}: no state.json (not a labelsync shard)")
        if not state.get("done"):
            done, _ = store.progress()
            raise MediaError(
                f"shard {store.index}/{store.count} is not finished ({len(done)} of "
                f"{len(state['keys'])} clips done): run it again to finish it"
            )
        states.append(state)
    first = states[0]
    settings = ExtractSettings.from_dict(first["settings"], str(stores[0].state_path))
    for store, state in zip(stores[1:], states[1:], strict=True):
        other = ExtractSettings.from_dict(state["settings"], str(store.state_path))
        if state["digest"] != first["digest"] or not other.same_features(settings):
            raise MediaError(
                f"shard {store.index}/{store.count} was run on other media or settings than "
                f"shard 0/{store.count}"
            )
    owner: dict[str, int] = {}
    for store, state in zip(stores, states, strict=True):
        for key in state["keys"]:
            if key in owner:
                raise MediaError(f"key {key!r} is in shard {owner[key]} and shard {store.index}")
            owner[key] = store.index
    if len(owner) != first["total"]:
        raise MediaError(
            f"{out}: the shards own {len(owner)} keys, the media list has {first['total']}"
        )
    arrays: dict[str, dict[str, np.ndarray]] = {m: {} for m in MODALITIES}
    failures: dict[str, Failure] = {}
    for store in stores:
        shard_arrays, shard_failures = store.read()
        for modality, by_key in shard_arrays.items():
            for key in by_key:
                if owner.get(key) != store.index:
                    raise MediaError(
                        f"key {key!r} extracted by shard {store.index}, but it belongs to "
                        f"shard {owner.get(key)}"
                    )
            arrays[modality].update(by_key)
        failures.update(shard_failures)
    extracted = set().union(*(set(a) for a in arrays.values()))
    unaccounted = sorted(set(owner) - extracted - set(failures))
    if unaccounted:
        raise MediaError(
            f"{out}: {len(unaccounted)} keys neither extracted nor failed (first: "
            f"{', '.join(unaccounted[:5])}); run their shard again"
        )
    description = _description(settings, first["extractors"], arrays, failures, first)
    for modality in settings.modalities:
        if arrays[modality]:
            _write_features(out, modality, arrays[modality], description[modality])
    _write_failures(out / FAILURES_CSV, failures)
    description["seconds"] = round(sum(s.get("seconds", 0.0) for s in states), 3)
    atomic_write_json(out / EXTRACT_JSON, description)
    if not keep_shards:
        shutil.rmtree(out / SHARDS_DIR, ignore_errors=True)
    log.info("merged %d shards into %s in %.1f s", len(stores), out, time.perf_counter() - started)
    return description


def _description(
    settings: ExtractSettings,
    extractors: Mapping[str, Any],
    arrays: Mapping[str, Mapping[str, np.ndarray]],
    failures: Mapping[str, Failure],
    state: Mapping[str, Any],
) -> dict[str, Any]:
    from .. import __version__

    description: dict[str, Any] = {
        "format": DESCRIPTION_FORMAT,
        "labelsync": __version__,
        "settings": settings.to_dict(),
    }
    for modality in settings.modalities:
        description[modality] = {
            **extractors[modality],
            "file": feature_file(Path("."), modality).name if arrays[modality] else None,
            "clips": len(arrays[modality]),
        }
    extracted = set().union(*(set(a) for a in arrays.values()))
    description["clips"] = {
        "total": state["total"],
        "extracted": len(extracted),
        "failed": len(failures),
    }
    description["media_digest"] = state["digest"]
    return description


def _write_features(
    out: Path, modality: str, arrays: Mapping[str, np.ndarray], info: Mapping[str, Any]
) -> None:
    from safetensors.numpy import save

    ordered = {key: np.ascontiguousarray(arrays[key], dtype=np.float32) for key in sorted(arrays)}
    metadata = {
        "format": DESCRIPTION_FORMAT,
        "modality": modality,
        "extractor": str(info["extractor"]),
        "dim": str(info["dim"]),
    }
    atomic_write_bytes(feature_file(out, modality), save(ordered, metadata=metadata))


def _write_failures(path: Path, failures: Mapping[str, Failure]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["key", "path", "reason"])
    for key in sorted(failures):
        failure = failures[key]
        writer.writerow([failure.key, failure.path, failure.reason])
    atomic_write_text(path, buffer.getvalue())
