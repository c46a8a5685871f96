"""Feature file formats: ``FeatureStore``s over ``.safetensors``, ``.npz`` and pickle files.

The store contract is ``feature_store.py``; finding a dataset's feature files and checking them
against its rows is ``feature_files.py``. Nothing is padded or copied at load time: a store reads
shapes from the file's header and the arrays of a batch when the collate function asks for them.

- ``.safetensors``: opened with ``safetensors.safe_open(framework="np")`` (the file is memory-mapped
  by the library); ``read(key, max_len)`` reads only the first ``max_len`` frames.
- ``.npz``: members stored uncompressed (``np.savez``) are true zero-copy views into one ``mmap``
  of the file; compressed members (``np.savez_compressed``) cannot be memory-mapped, so each is
  decompressed on access, one key at a time (slower; convert once with ``convert-features``).
- ``.pkl``: the official MIntRec release format. Unpickling can run code, so it needs
  ``allow_pickle=True``; the whole dict is then held in memory.

A list of files opens as one ``UnionStore``. Stores are picklable (for DataLoader workers): open
handles are dropped and reopened in the new process.
"""

from __future__ import annotations

import logging
import mmap
import os
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .base import FeatureError, PickleNotAllowedError
from .feature_store import FeatureStore, MemoryStore, UnionStore

__all__ = [
    "SafetensorsStore",
    "NpzStore",
    "PickleStore",
    "load_pickle",
    "open_feature_store",
    "pickle_hint",
    "FEATURE_SUFFIXES",
    "PICKLE_SUFFIXES",
]

log = logging.getLogger(__name__)

# preference order when one feature file exists in several formats
FEATURE_SUFFIXES = (".safetensors", ".npz", ".pkl", ".pickle")
PICKLE_SUFFIXES = (".pkl", ".pickle")
_ST_NUMPY = {
    "F16": "float16",
    "F32": "float32",
    "F64": "float64",
    "I8": "int8",
    "I16": "int16",
    "I32": "int32",
    "I64": "int64",
    "U8": "uint8",
    "U16": "uint16",
    "U32": "uint32",
    "U64": "uint64",
    "BOOL": "bool",
}


def pickle_hint(path: Path) -> str:
    """The one-line message for a pickle feature file opened without the opt-in."""
    return (
        f"{path}: pickle files can run code when loaded; pass --allow-pickle (API: "
        f"allow_pickle=True) if you trust this file, or convert it once: labelsync "
        f"convert-features {path} {path.with_suffix('.safetensors')} --allow-pickle"
    )


class SafetensorsStore(FeatureStore):
    """Features in a ``.safetensors`` file, memory-mapped through ``safetensors.safe_open``."""

    format = "safetensors"

    def __init__(self, path: str | Path):
        super().__init__(path)
        self._handle_pid: tuple[Any, int] | None = None
        handle = self._handle()
        self._keys = frozenset(handle.keys())
        self._shapes: dict[str, tuple[int, ...]] = {}

    def _handle(self) -> Any:
        if self._handle_pid is None or self._handle_pid[1] != os.getpid():
            from safetensors import SafetensorError, safe_open

            try:
                handle = safe_open(str(self.path), framework="np")
            except (OSError, SafetensorError) as exc:
                raise FeatureError(
                    f"{self.path}: not a readable safetensors file ({exc})"
                ) from None
            self._handle_pid = (handle, os.getpid())
        return self._handle_pid[0]

    def keys(self) -> frozenset[str]:
        return self._keys

    def shape(self, key: str) -> tuple[int, ...]:
        if key not in self._shapes:
            self._shapes[key] = tuple(self._handle().get_slice(key).get_shape())
        return self._shapes[key]

    def dtype(self, key: str) -> np.dtype:
        name = self._handle().get_slice(key).get_dtype()
        if name not in _ST_NUMPY:
            raise FeatureError(f"{self.path}: key {key!r} has dtype {name}, unsupported by numpy")
        return np.dtype(_ST_NUMPY[name])

    def _read(self, key: str, max_len: int | None) -> np.ndarray:
        if max_len is None or max_len >= self.shape(key)[0]:
            return self._handle().get_tensor(key)
        return self._handle().get_slice(key)[:max_len]  # reads only the frames kept

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handle_pid": None}


class NpzStore(FeatureStore):
    """Features in an ``.npz`` archive: zero-copy views for stored members, lazy otherwise."""

    format = "npz"

    def __init__(self, path: str | Path):
        super().__init__(path)
        try:
            with zipfile.ZipFile(self.path) as archive:
                infos = [i for i in archive.infolist() if i.filename.endswith(".npy")]
        except (OSError, zipfile.BadZipFile) as exc:
            raise FeatureError(f"{self.path}: not a readable .npz archive ({exc})") from None
        self._infos = {info.filename[: -len(".npy")]: info for info in infos}
        self._keys = frozenset(self._infos)
        # key -> (dtype, shape, fortran_order, data offset in the file or None if compressed)
        self._layout: dict[str, tuple[np.dtype, tuple[int, ...], bool, int | None]] = {}
        self._open: tuple[Any, Any, Any, int] | None = None  # (file, mmap, zipfile, pid)
        self.compressed = sum(i.compress_type != zipfile.ZIP_STORED for i in infos)
        if self.compressed:
            log.info(
                "%s: %d compressed members are decompressed per access (no memory mapping); "
                "convert-features to .safetensors for faster reads",
                self.path,
                self.compressed,
            )

    def _files(self) -> tuple[Any, Any, Any]:
        if self._open is None or self._open[3] != os.getpid():
            handle = open(self.path, "rb")  # noqa: SIM115 - kept open for the store's lifetime
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            self._open = (handle, mapped, zipfile.ZipFile(self.path), os.getpid())
        return self._open[:3]

    def _member_layout(self, key: str) -> tuple[np.dtype, tuple[int, ...], bool, int | None]:
        if key not in self._layout:
            info = self._infos[key]
            handle, _, archive = self._files()
            if info.compress_type == zipfile.ZIP_STORED:
                # local header: 30 fixed bytes, then the name and extra fields (their own lengths)
                handle.seek(info.header_offset + 26)
                name_len, extra_len = np.frombuffer(handle.read(4), dtype="<u2")
                handle.seek(info.header_offset + 30 + int(name_len) + int(extra_len))
                dtype, shape, fortran = self._read_header(handle, key)
                self._layout[key] = (dtype, shape, fortran, handle.tell())
            else:
                with archive.open(info) as member:
                    self._layout[key] = (*self._read_header(member, key), None)
        return self._layout[key]

    def _read_header(self, stream: Any, key: str) -> tuple[np.dtype, tuple[int, ...], bool]:
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        except ValueError as exc:
            raise FeatureError(f"{self.path}: member {key!r} is not a .npy array ({exc})") from None
        if dtype.hasobject:
            raise FeatureError(f"{self.path}: member {key!r} holds Python objects (pickle)")
        return dtype, tuple(shape), fortran

    def keys(self) -> frozenset[str]:
        return self._keys

    def shape(self, key: str) -> tuple[int, ...]:
        return self._member_layout(key)[1]

    def dtype(self, key: str) -> np.dtype:
        return self._member_layout(key)[0]

    def _read(self, key: str, max_len: int | None) -> np.ndarray:
        dtype, shape, fortran, offset = self._member_layout(key)
        _, mapped, archive = self._files()
        if offset is not None:
            array = np.ndarray(
                shape, dtype=dtype, buffer=mapped, offset=offset, order="F" if fortran else "C"
            )
        else:
            with archive.open(self._infos[key]) as member:
                array = np.lib.format.read_array(member, allow_pickle=False)
        return array if max_len is None else array[:max_len]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": None}


def load_pickle(path: str | Path, *, allow_pickle: bool = False) -> Any:
    """Unpickle ``path``: only with ``allow_pickle`` (else ``PickleNotAllowedError``)."""
    path = Path(path)
    if not allow_pickle:
        raise PickleNotAllowedError(pickle_hint(path))
    log.info("%s: unpickling (allowed by allow_pickle); the whole file goes to memory", path)
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise FeatureError(f"{path}: not a readable pickle ({exc})") from None


class PickleStore(MemoryStore):
    """A pickled dict key -> array (official MIntRec format); loads only with ``allow_pickle``.

    ``data``: the file's content when the caller unpickled it already (``load_pickle``).
    """

    format = "pickle"

    def __init__(self, path: str | Path, *, allow_pickle: bool = False, data: Any = None):
        path = Path(path)
        if data is None:
            data = load_pickle(path, allow_pickle=allow_pickle)
        if not isinstance(data, Mapping):
            raise FeatureError(f"{path}: expected a dict key -> array, got {type(data).__name__}")
        super().__init__(data, path)


def open_feature_store(
    path: str | Path | Mapping[str, Any] | Sequence[str | Path], *, allow_pickle: bool = False
) -> FeatureStore:
    """Open a feature file by its suffix (``.safetensors``, ``.npz``, ``.pkl``), several files as
    one ``UnionStore`` (a list or tuple of paths), or wrap a dict key -> array."""
    if isinstance(path, FeatureStore):
        return path
    if isinstance(path, Mapping):
        return MemoryStore(path)
    if isinstance(path, (list, tuple)):
        parts = [open_feature_store(p, allow_pickle=allow_pickle) for p in path]
        return parts[0] if len(parts) == 1 else UnionStore(parts)
    path = Path(path)
    if not path.is_file():
        raise FeatureError(f"{path}: feature file not found")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return SafetensorsStore(path)
    if suffix == ".npz":
        return NpzStore(path)
    if suffix in PICKLE_SUFFIXES:
        return PickleStore(path, allow_pickle=allow_pickle)
    raise FeatureError(f"{path}: unsupported feature file (use .safetensors, .npz or .pkl)")
