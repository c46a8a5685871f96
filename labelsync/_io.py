"""Atomic writes: files and whole folders are written beside their target, then renamed over it,
so readers see the old version or the new one, never a part."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A binary file handle to stream into; when the block succeeds the file is synced and
    renamed over ``path``, when it fails it is removed (for files too big to hold in memory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a plain open would not
        with os.fdopen(fd, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a part."""
    with atomic_open(path) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (other threads may be
    creating files at the same moment)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_directory(target: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """A temp folder beside ``target`` to fill; when the block succeeds it replaces ``target``
    (an old one is deleted only after the swap), when it fails it is removed.

    ``replace=False``: a ``target`` that exists when the block ends (another process finished
    first) is kept and the new folder is discarded, so readers of the old one are never cut off.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; ours are not secret
        yield tmp
        if target.exists() and not replace:
            shutil.rmtree(tmp, ignore_errors=True)
        elif target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
            os.replace(target, old / "previous")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def yaml_error_line(exc: Exception) -> str:
    """`` at line N`` for a PyYAML error that knows where it happened, else ``""``."""
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}" if mark else ""


def read_yaml(
    path: str | os.PathLike, error: type[Exception], what: str = "file", *, compose: bool = False
) -> Any:
    """The YAML document at ``path`` (``compose=True``: its node tree, with line numbers).

    A missing file or a syntax error is ``error`` with one line naming the file (and the line);
    an empty file reads as ``None``.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        text = path.read_text(encoding="utf-8")
        return yaml.compose(text) if compose else yaml.safe_load(text)
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: invalid YAML{yaml_error_line(exc)}") from None
