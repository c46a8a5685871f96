"""Which feature files a dataset uses: finding them as the releases lay them out, saying which
ones are left unused, checking them against the rows, and recording what was read.

A release names its files (``FeatureLayout``): MIntRec ``video_data/{video_feats,swin_feats}`` and
``audio_data/{audio_feats,wavlm_feats}``; MIntRec2.0 ``video_data/swin_roi`` and
``audio_data/wavlm_feats`` in ``in-scope/`` and again in ``out-of-scope/MIntRec2.0-OOD/``. Each
name is looked for in ``{modality}_data/`` and next to the TSV files, as ``.safetensors``,
``.npz`` or ``.pkl`` (one name in several formats is one feature: safetensors is preferred).
Two different names for one modality are an error naming both, resolved by an explicit file.
Feature-like files (``*feats*``, ``*roi*``) that end up unused are named in one warning line, and
so are pickles skipped for want of ``allow_pickle``: a model never goes text-only silently.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .base import FeatureError, FeatureLayout
from .feature_store import FeatureStore, feature_dim
from .features import FEATURE_SUFFIXES, PICKLE_SUFFIXES

__all__ = [
    "MODALITIES",
    "FeatureSource",
    "FeatureFile",
    "find_feature_sources",
    "find_feature_file",
    "choose_feature_files",
    "check_features",
    "feature_file_records",
]

log = logging.getLogger(__name__)

MODALITIES = ("video", "audio")
GENERIC_LAYOUT = FeatureLayout()
FEATURE_LIKE = re.compile(r"(feats|roi)", re.IGNORECASE)
SCAN_DEPTH = 3  # folders below the data folder searched for unused feature-like files
HASHED_BYTES = 1 << 20  # the record's checksum covers the first MB of each file


@dataclass(frozen=True)
class FeatureSource:
    """One feature of a modality found on disk: a file, or one file per part (MIntRec2.0)."""

    modality: str
    name: str  # the file stem, e.g. ``swin_roi``
    files: tuple[Path, ...]
    copies: tuple[Path, ...] = ()  # the same name in another format or folder (not read)

    def describe(self, root: Path | None) -> str:
        """The files, relative to ``root`` where they lie inside it, joined by ``+``."""
        return " + ".join(_shown(path, root) for path in self.files)


def _shown(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


def _best(folders: Sequence[Path], name: str) -> tuple[Path | None, list[Path]]:
    """The preferred existing ``folder/name.suffix`` (formats first, then folders) and the rest."""
    found = [
        folder / f"{name}{suffix}"
        for suffix in FEATURE_SUFFIXES
        for folder in folders
        if (folder / f"{name}{suffix}").is_file()
    ]
    return (found[0], found[1:]) if found else (None, [])


def find_feature_sources(
    data_dir: str | Path, layout: FeatureLayout | None, modality: str
) -> list[FeatureSource]:
    """Every feature of ``modality`` under ``data_dir`` as ``layout`` names them.

    The parts of the layout together form one source per name (the union of their files); the
    data folder itself, when it is not a part, is searched as a whole-dataset location too (a
    converted or extracted ``video_feats.safetensors`` covering every row).
    """
    root = Path(data_dir)
    layout = layout or GENERIC_LAYOUT
    names = tuple(layout.names.get(modality, ()))
    generic = f"{modality}_feats"
    locations = [[root / part for part in layout.parts]]
    if "" not in layout.parts:
        locations.append([root])
    sources = []
    for parts in locations:
        for name in dict.fromkeys((*names, generic)):
            files, copies = [], []
            for part in parts:
                best, rest = _best((part / f"{modality}_data", part), name)
                if best is not None:
                    files.append(best)
                copies += rest
            if files:
                sources.append(FeatureSource(modality, name, tuple(files), tuple(copies)))
    return sources


def find_feature_file(data_dir: str | Path, modality: str) -> Path | None:
    """``<dir>/{modality}_feats.*`` or ``<dir>/{modality}_data/{modality}_feats.*`` (the generic
    names; safetensors is preferred when one exists in several formats)."""
    sources = find_feature_sources(data_dir, GENERIC_LAYOUT, modality)
    if not sources:
        return None
    if sources[0].copies:
        shown = ", ".join(map(str, sources[0].copies))
        log.info("%s features: using %s (also present: %s)", modality, sources[0].files[0], shown)
    return sources[0].files[0]


def scan_feature_like(root: Path, depth: int = SCAN_DEPTH) -> list[Path]:
    """Feature-like files (``*feats*``, ``*roi*`` as .pkl/.npz/.safetensors) under ``root``."""
    found = []
    base_depth = len(root.parts)
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if len(Path(folder).parts) - base_depth >= depth:
            dirs[:] = []
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix.lower() in FEATURE_SUFFIXES and FEATURE_LIKE.search(path.stem):
                found.append(path)
    return found


@dataclass
class _Choice:
    """What ``choose_feature_files`` decided, kept to say it in as few lines as possible."""

    specs: dict[str, Any] = field(default_factory=dict)
    used: set[Path] = field(default_factory=set)
    quiet: set[Path] = field(default_factory=set)  # copies and modalities not asked for
    pickles: list[Path] = field(default_factory=list)  # skipped without allow_pickle


def _resolved(paths: Iterable[Path]) -> set[Path]:
    return {Path(p).resolve() for p in paths}


def _explicit(spec: Any, modality: str, sources: list[FeatureSource], choice: _Choice) -> Any:
    """An explicit file, list of files or folder; a file that is one part of a found source
    brings the other parts along (``in-scope/video_data/swin_roi.pkl`` -> in + out of scope)."""
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        if path.is_dir():
            inside = find_feature_sources(path, GENERIC_LAYOUT, modality)
            if len(inside) != 1 or len(inside[0].files) != 1:
                raise FeatureError(f"{path}: expected one {modality}_feats file in this folder")
            path = inside[0].files[0]
        for source in sources:
            if path.is_file() and path.resolve() in _resolved(source.files):
                if len(source.files) > 1:
                    log.info("%s features: %s (all parts of %s)", modality, source.files, path)
                choice.quiet |= _resolved(source.copies)
                choice.used |= _resolved(source.files)
                return source.files
        choice.used |= _resolved([path]) if path.is_file() else set()
        return path
    if isinstance(spec, (list, tuple)):
        choice.used |= _resolved(p for p in spec if Path(p).is_file())
    return spec


def choose_feature_files(
    data_dir: str | Path | None,
    layout: FeatureLayout | None,
    requested: Mapping[str, Any],
    *,
    allow_pickle: bool = False,
) -> dict[str, Any]:
    """Modality -> what to open (a path, a tuple of paths, or the caller's dict/store).

    ``requested`` maps a modality to ``"auto"`` (find it) or an explicit file, folder, list of
    files, dict or store; modalities left out are not loaded. Logs one warning line naming
    feature-like files left unused, and one naming pickles skipped without ``allow_pickle``.
    """
    root = Path(data_dir) if data_dir is not None else None
    choice = _Choice()
    for modality in MODALITIES:
        sources = find_feature_sources(root, layout, modality) if root is not None else []
        spec = requested.get(modality)
        if spec is None:
            choice.quiet |= _resolved(p for s in sources for p in (*s.files, *s.copies))
        elif not (isinstance(spec, str) and spec == "auto"):
            choice.specs[modality] = _explicit(spec, modality, sources, choice)
        elif len(sources) > 1:
            shown = ", ".join(source.describe(root) for source in sources)
            raise FeatureError(
                f"{root}: {len(sources)} candidate {modality} feature files: {shown}; pick one "
                f"with --{modality}-feats PATH (API: {modality}_feats=PATH)"
            )
        elif sources:
            source = sources[0]
            choice.quiet |= _resolved(source.copies)
            pickles = [p for p in source.files if p.suffix.lower() in PICKLE_SUFFIXES]
            if pickles and not allow_pickle:
                choice.pickles += pickles
            else:
                choice.specs[modality] = source.files
                choice.used |= _resolved(source.files)
    if root is not None:
        _report_unused(root, choice, text_only=not any(v is not None for v in requested.values()))
    return choice.specs


def _report_unused(root: Path, choice: _Choice, *, text_only: bool) -> None:
    def listed(paths: Sequence[Path], limit: int = 8) -> str:
        shown = [_shown(p, root) for p in paths[:limit]]
        more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
        return ", ".join(shown) + more

    skipped = _resolved(choice.pickles)
    unused, quiet = [], []
    for path in scan_feature_like(root):
        resolved = path.resolve()
        if resolved in choice.used or resolved in skipped:
            continue
        (quiet if text_only or resolved in choice.quiet else unused).append(path)
    if choice.pickles:
        log.warning(
            "%s: pickle feature files not loaded: %s; pass --allow-pickle (API: allow_pickle=True) "
            "if you trust them, or convert them once with labelsync convert-features",
            root,
            listed(choice.pickles),
        )
    if unused:
        log.warning(
            "%s: feature files not used: %s (pick files with --video-feats/--audio-feats; API: "
            "video_feats=, audio_feats=)",
            root,
            listed(unused),
        )
    if quiet:
        log.info("%s: feature files not read: %s", root, listed(quiet))


def check_features(
    store: FeatureStore, modality: str, keys_by_split: Mapping[str, Iterable[str]]
) -> dict[str, list[int]]:
    """Check every key is present with a ``(T, D)``/``(T, 1, D)`` shape, one D and T >= 1.

    Returns split -> lengths (T per row, in order); raises FeatureError naming the file, the
    number of missing keys and the first few.
    """
    available = store.keys()
    missing: dict[str, list[str]] = {}
    for split, keys in keys_by_split.items():
        absent = [k for k in keys if k not in available]
        if absent:
            missing[split] = absent
    if missing:
        total = sum(len(v) for v in missing.values())
        per_split = ", ".join(f"{s}: {len(v)}" for s, v in missing.items())
        first = [k for v in missing.values() for k in v][:5]
        raise FeatureError(
            f"{store.where}: {total} keys missing from the {modality} features ({per_split}); "
            f"first: {', '.join(first)}"
        )
    lengths: dict[str, list[int]] = {}
    reference: tuple[str, int] | None = None
    for split, keys in keys_by_split.items():
        split_lengths = lengths[split] = []
        for key in keys:
            shape, where = store.shape(key), store.where_of(key)
            dim = feature_dim(shape, where, key)
            if reference is None:
                reference = (key, dim)
            elif dim != reference[1]:
                other = store.where_of(reference[0])
                raise FeatureError(
                    f"{where}: inconsistent {modality} feature dims: key {key!r} has "
                    f"D={dim}, key {reference[0]!r} has D={reference[1]}"
                    + (f" (in {other})" if other != where else "")
                )
            if shape[0] < 1:
                raise FeatureError(f"{where}: key {key!r} has no frames (shape {shape})")
            split_lengths.append(int(shape[0]))
    if reference is not None:
        store._dim = reference[1]
    return lengths


@dataclass(frozen=True)
class FeatureFile:
    """One feature file a dataset reads: its modality, name, a checksum of its head and dim."""

    modality: str
    name: str  # relative to the data folder when inside it, else the full path
    path: str
    format: str
    dim: int
    keys: int
    bytes: int | None
    sha256_first_mb: str | None  # sha256 of the first MB: cheap, and changes when data does

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what a run records)."""
        return asdict(self)


def _head_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.sha256(handle.read(HASHED_BYTES)).hexdigest()


def feature_file_records(
    stores: Mapping[str, FeatureStore], root: str | Path | None = None
) -> dict[str, list[FeatureFile]]:
    """Modality -> the files its store reads (arrays given in memory: one record, no file)."""
    base = Path(root) if root is not None else None
    if base is not None and base.is_file():
        base = base.parent
    records: dict[str, list[FeatureFile]] = {}
    for modality, store in stores.items():
        parts = getattr(store, "parts", (store,))
        records[modality] = [
            FeatureFile(
                modality=modality,
                name=_shown(part.path, base),
                path=str(part.path),
                format=part.format,
                dim=store.dim,
                keys=len(part),
                bytes=part.path.stat().st_size,
                sha256_first_mb=_head_sha256(part.path),
            )
            if part.path is not None
            else FeatureFile(
                modality, "<in memory>", "", part.format, store.dim, len(part), None, None
            )
            for part in parts
        ]
    return records
