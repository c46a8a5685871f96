"""Write feature files one key at a time (never the whole set in memory), atomically.

``write_safetensors`` writes the safetensors layout (8-byte header size, JSON header, raw
little-endian data) itself because ``safetensors.numpy.save_file`` needs every tensor in memory at
once; files read back with ``safetensors.safe_open``. ``write_npz`` streams uncompressed (or
compressed) ``.npy`` members through ``zipfile`` + ``numpy.lib.format``. Both stream into
``labelsync._io.atomic_open`` (a temp file beside the target, renamed over it only when complete).
``convert_features`` turns a CMU-MOSI/MOSEI MMSA pickle into one safetensors file (``mmsa.py``).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import struct
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_open, atomic_write_bytes
from .base import FeatureError
from .features import _ST_NUMPY, PICKLE_SUFFIXES, PickleStore, load_pickle, open_feature_store
from .mmsa import MMSA_FIELDS, MMSA_SPLITS, STRING_FIELDS, is_mmsa

__all__ = ["write_safetensors", "write_npz", "save_features", "convert_features", "ConvertResult"]

log = logging.getLogger(__name__)

_ST_DTYPES = {numpy_name: st_name for st_name, numpy_name in _ST_NUMPY.items()}


def _st_dtype(dtype: np.dtype, key: str) -> str:
    try:
        return _ST_DTYPES[np.dtype(dtype).name]
    except KeyError:
        raise FeatureError(
            f"key {key!r}: dtype {np.dtype(dtype)} cannot go in safetensors"
        ) from None


def write_safetensors(
    path: str | os.PathLike,
    specs: Mapping[str, tuple[tuple[int, ...], Any]],
    get: Callable[[str], np.ndarray],
    *,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write ``get(key)`` for each ``key -> (shape, dtype)`` of ``specs``, streaming per key."""
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for key, (shape, dtype) in specs.items():
        if key == "__metadata__":
            raise FeatureError("'__metadata__' is reserved in safetensors and cannot be a key")
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        header[key] = {
            "dtype": _st_dtype(dtype, key),
            "shape": [int(n) for n in shape],
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # the data starts 8-byte aligned
    with atomic_open(path) as handle:
        handle.write(struct.pack("<Q", len(blob)))
        handle.write(blob)
        for key, (shape, dtype) in specs.items():
            array = np.asarray(get(key))
            if array.shape != tuple(shape) or array.dtype != np.dtype(dtype):
                raise FeatureError(
                    f"key {key!r}: got {array.shape} {array.dtype}, declared {tuple(shape)} "
                    f"{np.dtype(dtype)}"
                )
            handle.write(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).data)
    return Path(path)


def write_npz(
    path: str | os.PathLike,
    keys: Iterable[str],
    get: Callable[[str], np.ndarray],
    *,
    compressed: bool = False,
) -> Path:
    """Write an ``.npz`` archive member by member (``np.load`` reads it as usual)."""
    compression = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with atomic_open(path) as handle:
        with zipfile.ZipFile(handle, "w", compression=compression, allowZip64=True) as archive:
            for key in keys:
                array = np.asarray(get(key))
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
    return Path(path)


def save_features(
    path: str | os.PathLike, arrays: Mapping[str, Any], *, compressed: bool = False
) -> Path:
    """Write a dict key -> array as ``.safetensors``, ``.npz`` or ``.pkl`` (by suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        specs = {k: (np.shape(v), np.asarray(v).dtype) for k, v in arrays.items()}
        return write_safetensors(path, specs, lambda k: np.asarray(arrays[k]))
    if suffix == ".npz":
        return write_npz(path, list(arrays), lambda k: arrays[k], compressed=compressed)
    if suffix in PICKLE_SUFFIXES:
        return atomic_write_bytes(
            path, pickle.dumps(dict(arrays), protocol=pickle.HIGHEST_PROTOCOL)
        )
    raise FeatureError(f"{path}: unsupported feature file (use .safetensors, .npz or .pkl)")


@dataclass(frozen=True)
class ConvertResult:
    """What ``convert_features`` wrote: the output path, number of keys and feature dims seen."""

    path: Path
    keys: int
    dims: tuple[int, ...]
    bytes: int


def convert_features(
    src: str | os.PathLike, dst: str | os.PathLike, *, allow_pickle: bool = False
) -> ConvertResult:
    """Convert a feature file (``.pkl`` with ``allow_pickle``, ``.npz``, ``.safetensors``) to
    ``.safetensors`` or uncompressed ``.npz``, keeping shapes and dtypes; atomic."""
    src, dst = Path(src), Path(dst)
    if dst.suffix.lower() not in (".safetensors", ".npz"):
        raise FeatureError(f"{dst}: output must be .safetensors (recommended) or .npz")
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise FeatureError(f"{dst}: output is the input file; choose another path")
    if src.suffix.lower() in PICKLE_SUFFIXES and src.is_file():
        data = load_pickle(src, allow_pickle=allow_pickle)
        if is_mmsa(data):  # CMU-MOSI/MOSEI: splits of rows, not key -> array
            return _convert_mmsa(data, src, dst)
        store = PickleStore(src, data=data)
    else:
        store = open_feature_store(src, allow_pickle=allow_pickle)
    keys = sorted(store.keys())
    if not keys:
        raise FeatureError(f"{src}: no features in the file")
    dims = set()
    specs = {}
    for key in keys:
        shape, dtype = tuple(store.shape(key)), np.dtype(store.dtype(key))
        if dtype.hasobject or dtype.kind not in "fiub":
            raise FeatureError(f"{src}: key {key!r} has non-numeric dtype {dtype}")
        specs[key] = (shape, dtype)
        dims.add(int(shape[-1]) if shape else 0)
    if dst.suffix.lower() == ".npz":
        write_npz(dst, keys, store.raw)
    else:
        write_safetensors(dst, specs, store.raw, metadata={"source": src.name})
    log.info("%s -> %s: %d keys", src, dst, len(keys))
    return ConvertResult(dst, len(keys), tuple(sorted(dims)), dst.stat().st_size)


def _convert_mmsa(data: Mapping[str, Any], src: Path, dst: Path) -> ConvertResult:
    """The fields labelsync reads of an MMSA file (``mmsa.py``) as one safetensors file:
    arrays as ``{split}/{field}``, the strings (``id``, ``raw_text``) as JSON in its metadata."""
    if dst.suffix.lower() != ".safetensors":
        raise FeatureError(f"{dst}: an MMSA file converts to .safetensors")
    arrays: dict[str, np.ndarray] = {}
    metadata = {"format": "mmsa", "source": src.name}
    for split in MMSA_SPLITS.values():
        for field in MMSA_FIELDS:
            if field not in data[split]:
                continue
            if field in STRING_FIELDS:
                metadata[f"{split}/{field}"] = json.dumps([str(v) for v in data[split][field]])
            else:
                value = np.asarray(data[split][field])
                arrays[f"{split}/{field}"] = value.astype(np.float32, copy=False)
    specs = {k: (v.shape, v.dtype) for k, v in arrays.items()}
    write_safetensors(dst, specs, arrays.__getitem__, metadata=metadata)
    dims = {int(v.shape[-1]) for k, v in arrays.items() if v.ndim == 3}
    rows = sum(len(json.loads(metadata[f"{s}/id"])) for s in MMSA_SPLITS.values())
    log.info("%s -> %s: %d MMSA rows", src, dst, rows)
    return ConvertResult(dst, rows, tuple(sorted(dims)), dst.stat().st_size)
