"""MIntRec2.0 (Zhang et al., ICLR 2024): in-scope and out-of-scope utterances in conversations.

Layout as released: ``<dir>/in-scope/{train,dev,test}.tsv`` with
``in-scope/video_data/swin_roi.pkl`` (256-d) and ``in-scope/audio_data/wavlm_feats.pkl`` (768-d);
out-of-scope rows (label ``UNK``) in
``<dir>/out-of-scope/MIntRec2.0-OOD/{train,dev,test}.tsv`` with their own ``video_data/`` and
``audio_data/`` files of the same names (a modality's store is the union of both). The
out-of-scope folder may be absent: in-scope only. The older spelling ``out-of-scope/{split}.tsv``
is still read, with a warning. Columns: dialogue id, utterance id, text, label, ... -- header
names differ between releases (``Dialogue_id``/``dialogue_id``, ``Text``/``text``...) and are
matched case-insensitively, or taken by position when there is no header. Key ``dia{D}_utt{U}``;
30 intent labels plus ``UNK``. Max lengths text 50, video 180, audio 400.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..labels import LabelSet, normalize_label
from .base import (
    SPLITS,
    DataError,
    FeatureLayout,
    MaxLengths,
    ParsedData,
    Record,
    RecordCollector,
)
from .tabular import Column, pick, read_table

__all__ = [
    "read_mintrec2",
    "MINTREC2_COLUMNS",
    "MINTREC2_OOS_LABEL",
    "MINTREC2_OOS_DIR",
    "MINTREC2_MAX_LENGTHS",
    "mintrec2_features",
]

log = logging.getLogger(__name__)

MINTREC2_OOS_LABEL = "UNK"
MINTREC2_OOS_DIR = "out-of-scope/MIntRec2.0-OOD"
MINTREC2_FEATURE_NAMES = {
    "video": ("swin_roi", "video_feats"),
    "audio": ("wavlm_feats", "audio_feats"),
}
MINTREC2_MAX_LENGTHS = MaxLengths(text=50, video=180, audio=400)


def mintrec2_features(oos_dir: str | None = MINTREC2_OOS_DIR) -> FeatureLayout:
    """The release's feature layout: ``in-scope`` and (when present) the out-of-scope folder."""
    return FeatureLayout(
        names=MINTREC2_FEATURE_NAMES, parts=("in-scope", *([oos_dir] if oos_dir else []))
    )


MINTREC2_COLUMNS = (
    Column("dialogue_id", ("dialogue", "dia_id", "dialog_id", "dialogue_idx")),
    Column("utterance_id", ("utt_id", "utterance_idx")),
    Column("text", ("utterance", "sentence", "utterance_text")),  # MELD-style "Utterance"
    Column("label", ("intent", "label_name")),
)


def _key_part(value: str, prefix: str) -> str:
    value = value.strip()
    return value[len(prefix) :] if value.lower().startswith(prefix) else value


def read_mintrec2(data_dir: str | Path, *, labels: LabelSet | None = None) -> ParsedData:
    """Parse a MIntRec2.0 folder; labels default to the ``mintrec2`` preset, OOS is ``UNK``."""
    data_dir = Path(data_dir)
    labels = labels or LabelSet.preset("mintrec2")
    if MINTREC2_OOS_LABEL in labels:
        raise DataError(f"{labels.source}: {MINTREC2_OOS_LABEL!r} is the out-of-scope label")
    in_dir = data_dir / "in-scope"
    if not in_dir.is_dir():
        raise DataError(f"{in_dir}: folder not found (expected in-scope/{{train,dev,test}}.tsv)")
    oos_dir = _out_of_scope_dir(data_dir)
    collector = RecordCollector(labels, oos_label=MINTREC2_OOS_LABEL)
    splits: dict[str, list[Record]] = {}
    for split in SPLITS:
        records: list[Record] = []
        _read_file(in_dir / f"{split}.tsv", collector, records, out_of_scope=False)
        if oos_dir is not None:
            oos_path = oos_dir / f"{split}.tsv"
            if oos_path.is_file():
                _read_file(oos_path, collector, records, out_of_scope=True)
            else:
                log.warning("%s: not found; split %r has no out-of-scope rows", oos_path, split)
        splits[split] = records
    oos_part = oos_dir.relative_to(data_dir).as_posix() if oos_dir is not None else None
    return ParsedData(
        "mintrec2",
        splits,
        labels,
        MINTREC2_OOS_LABEL,
        str(data_dir),
        feature_dir=str(data_dir),
        feature_layout=mintrec2_features(oos_part),
        max_lengths=MINTREC2_MAX_LENGTHS,
    )


def _out_of_scope_dir(data_dir: Path) -> Path | None:
    """``out-of-scope/MIntRec2.0-OOD`` as released, the older ``out-of-scope/`` or None."""
    release, older = data_dir / MINTREC2_OOS_DIR, data_dir / "out-of-scope"
    if release.is_dir():
        return release
    if any((older / f"{split}.tsv").is_file() for split in SPLITS):
        log.warning(
            "%s: out-of-scope rows read from out-of-scope/{split}.tsv; the release keeps them in "
            "%s/ (with their own video_data/ and audio_data/)",
            data_dir,
            MINTREC2_OOS_DIR,
        )
        return older
    if older.is_dir():
        log.warning("%s: no %s/ folder; loading in-scope utterances only", older, MINTREC2_OOS_DIR)
    else:
        log.info("%s: no out-of-scope folder; loading in-scope utterances only", data_dir)
    return None


def _read_file(
    path: Path, collector: RecordCollector, records: list[Record], *, out_of_scope: bool
) -> None:
    relabelled = 0
    for where, row, indexes in read_table(path, MINTREC2_COLUMNS, delimiter="\t", positional=True):
        dialogue = _key_part(pick(row, indexes, "dialogue_id", where=where), "dia")
        utterance = _key_part(pick(row, indexes, "utterance_id", where=where), "utt")
        label = pick(row, indexes, "label", where=where)
        if out_of_scope and normalize_label(label) != normalize_label(MINTREC2_OOS_LABEL):
            relabelled += 1
        collector.add(
            records,
            key=f"dia{dialogue}_utt{utterance}",
            text=pick(row, indexes, "text", where=where),
            label=label if label.strip() else MINTREC2_OOS_LABEL,
            where=where,
            force_oos=out_of_scope,
        )
    if relabelled:
        log.warning(
            "%s: %d rows carry a label other than %r; read as out-of-scope (the file says so)",
            path,
            relabelled,
            MINTREC2_OOS_LABEL,
        )
