"""Shared data types that every reader uses: errors, rows, maximum lengths, feature layouts.

This module imports nothing else from ``labelsync.data``, so readers, feature stores and the
``IntentDataset`` (``dataset.py``) can all depend on it without a cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import LabelsyncError
from ..labels import LabelSet, normalize_label

__all__ = [
    "SPLITS",
    "DataError",
    "FeatureError",
    "PickleNotAllowedError",
    "MaxLengths",
    "Record",
    "ParsedData",
    "FeatureLayout",
    "RecordCollector",
    "SCORE_LABEL",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")


class DataError(LabelsyncError, ValueError):
    """A dataset file is missing or malformed (the message names the file, row and field)."""


class FeatureError(DataError):
    """A feature file is missing keys, has inconsistent dims or cannot be read."""


class PickleNotAllowedError(FeatureError):
    """A pickle feature file was given without the explicit ``allow_pickle`` opt-in."""


@dataclass(frozen=True)
class MaxLengths:
    """Maximum sequence lengths per modality; frames past them are cut, shorter ones zero-padded.

    The defaults are MIntRec2.0's (A-MESS, seed 003 Sec. III-D: 50 / 180 / 400); each release
    reader gives its own (``ParsedData.max_lengths``), used when the caller sets none.
    """

    text: int = 50
    video: int = 180
    audio: int = 400

    def __post_init__(self) -> None:
        for name in ("text", "video", "audio"):
            if int(getattr(self, name)) < 1:
                raise DataError(f"max length for {name} must be >= 1, got {getattr(self, name)}")

    def get(self, modality: str) -> int:
        """The maximum length of ``modality`` (``text``, ``video`` or ``audio``)."""
        try:
            return int(getattr(self, modality))
        except AttributeError:
            raise DataError(f"no maximum length for modality {modality!r}") from None

    def to_dict(self) -> dict[str, int]:
        """``{"text": ..., "video": ..., "audio": ...}`` (what a run records)."""
        return {"text": self.text, "video": self.video, "audio": self.audio}

    def updated(self, overrides: Mapping[str, int | None] | None) -> MaxLengths:
        """A copy with the non-None values of ``overrides`` (unknown names are a DataError)."""
        values = self.to_dict()
        for name, value in (overrides or {}).items():
            if name not in values:
                raise DataError(f"no maximum length for modality {name!r} (text, video, audio)")
            if value is not None:
                values[name] = int(value)
        return MaxLengths(**values)


@dataclass(frozen=True)
class FeatureLayout:
    """Where a release keeps its feature files.

    ``names``: modality -> accepted file stems (``swin_roi`` finds ``swin_roi.pkl``,
    ``.npz``, ``.safetensors``); ``parts``: sub-folders of the data folder that each hold their own
    files for their own rows (MIntRec2.0: ``in-scope`` and ``out-of-scope/MIntRec2.0-OOD``; the
    store of a modality is then the union of the parts). In every part (and in the data folder
    itself) files are looked for in ``{modality}_data/`` and next to the TSV files.
    """

    names: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"video": ("video_feats",), "audio": ("audio_feats",)}
    )
    parts: tuple[str, ...] = ("",)


SCORE_LABEL = "score"  # the one label of a regression dataset whose score has no other name


@dataclass
class Record:
    """One parsed row: its key, text, display label and whether it is out-of-scope.

    ``labels``: the label names of a multi-label row (``label`` then shows them joined by
    ``|``; may be empty); ``score``: the number of a regression row.
    """

    key: str
    text: str
    label: str
    is_oos: bool = False
    labels: list[str] | None = None
    score: float | None = None


@dataclass
class ParsedData:
    """What a format reader returns: rows per split, the label set and where features live.

    ``feature_dir`` is searched for feature files laid out as ``feature_layout`` says (None: the
    generic ``{video,audio}_feats.*``); ``max_lengths`` are the release's defaults (None: the
    ``MaxLengths`` defaults). ``stores``: feature stores the reader opened itself (modality ->
    ``FeatureStore``; CMU-MOSI/MOSEI keep them inside the data file), used unless the caller
    picks files. ``score_name``: what the rows' scores measure (the regression output's name).
    """

    name: str
    splits: dict[str, list[Record]]
    labels: LabelSet
    oos_label: str | None
    source: str
    feature_dir: str | None = None
    has_keys: bool = True  # False when keys were made up (custom data without an id column)
    feature_layout: FeatureLayout | None = None
    max_lengths: MaxLengths | None = None
    stores: Mapping[str, Any] | None = None
    score_name: str = SCORE_LABEL


class RecordCollector:
    """Validates rows as a reader parses them: non-empty text, known label, unique key."""

    def __init__(self, labels: LabelSet | None, oos_label: str | None):
        self.labels = labels
        self.oos_label = oos_label
        self._oos_key = normalize_label(oos_label) if oos_label else None
        self._seen: dict[str, str] = {}

    def add(
        self,
        out: list[Record],
        *,
        key: str,
        text: Any,
        label: Any,
        where: str,
        force_oos: bool = False,
        labels: list[str] | None = None,
        score: float | None = None,
    ) -> None:
        """Validate one row and append it to ``out``; ``where`` is ``"file: line N"``.

        A multi-label row gives ``labels`` (names, may be empty), a regression row ``score``
        (then ``label`` may be None: the row's label is ``SCORE_LABEL``).
        """
        key = str(key).strip()
        if not key:
            raise DataError(f"{where}: field 'key' is empty")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: field 'text' is empty (key {key})")
        if key in self._seen:
            raise DataError(f"{where}: duplicate key {key!r} (first seen at {self._seen[key]})")
        if labels is not None:
            names = [self._known(name, where, "labels") for name in labels]
            if len({normalize_label(n) for n in names}) != len(names):
                raise DataError(f"{where}: a label appears twice in field 'labels' (key {key})")
            self._seen[key] = where
            out.append(Record(key, text.strip(), "|".join(names), False, names, score))
            return
        if label is None and score is not None:
            label = SCORE_LABEL
        if not isinstance(label, str) or not label.strip():
            raise DataError(f"{where}: field 'label' is empty (key {key})")
        self._seen[key] = where
        label = label.strip()
        if force_oos or (self._oos_key is not None and normalize_label(label) == self._oos_key):
            out.append(Record(key, text.strip(), self.oos_label or label, True, score=score))
            return
        out.append(
            Record(key, text.strip(), self._known(label, where, "label"), False, score=score)
        )

    def _known(self, label: str, where: str, field_name: str) -> str:
        """The canonical spelling of ``label`` (as given when labels are inferred later)."""
        label = label.strip()
        if not label:
            raise DataError(f"{where}: an empty name in field {field_name!r}")
        if self.labels is None:  # labels are inferred afterwards (custom data without a list)
            return label
        if label not in self.labels:
            hint = self.labels.closest(label)
            suggestion = f"; did you mean {hint!r}?" if hint else ""
            raise DataError(f"{where}: unknown label {label!r} in field {field_name!r}{suggestion}")
        return self.labels.canonical(label)
