"""MIntRec (Zhang et al., ACM MM 2022): ``<dir>/{train,dev,test}.tsv``, 20 intent labels.

Header ``season episode clip text label`` (matched case-insensitively; by position when absent);
the key of a row is ``{season}_{episode}_{clip}``, e.g. ``S05_E16_329``, as in the feature files.

Features as released: ``video_data/video_feats.pkl`` (ResNet-50 RoI, 256-d) and
``audio_data/audio_feats.pkl`` (wav2vec 2.0, 768-d); the variant most later papers train on
(TCL-MAP, MIntOOD, SDIF-DA) ships ``video_data/swin_feats.pkl`` (1024-d) and
``audio_data/wavlm_feats.pkl`` (768-d). Arrays ``(T, D)`` or ``(T, 1, D)``; max lengths
text 50, video 230, audio 480.
"""

from __future__ import annotations

from pathlib import Path

from ..labels import LabelSet
from .base import SPLITS, FeatureLayout, MaxLengths, ParsedData, Record, RecordCollector
from .tabular import Column, pick, read_table

__all__ = ["read_mintrec", "MINTREC_COLUMNS", "MINTREC_FEATURES", "MINTREC_MAX_LENGTHS"]

MINTREC_FEATURES = FeatureLayout(
    names={"video": ("video_feats", "swin_feats"), "audio": ("audio_feats", "wavlm_feats")}
)
MINTREC_MAX_LENGTHS = MaxLengths(text=50, video=230, audio=480)

MINTREC_COLUMNS = (
    Column("season", ("season_id",)),
    Column("episode", ("episode_id",)),
    Column("clip", ("clip_id",)),
    Column("text", ("utterance", "sentence")),
    Column("label", ("intent", "label_name")),
)


def read_mintrec(data_dir: str | Path, *, labels: LabelSet | None = None) -> ParsedData:
    """Parse a MIntRec folder; labels default to the ``mintrec`` preset."""
    data_dir = Path(data_dir)
    labels = labels or LabelSet.preset("mintrec")
    collector = RecordCollector(labels, oos_label=None)
    splits: dict[str, list[Record]] = {}
    for split in SPLITS:
        path = data_dir / f"{split}.tsv"
        records: list[Record] = []
        for where, row, indexes in read_table(
            path, MINTREC_COLUMNS, delimiter="\t", positional=True
        ):
            key = "_".join(
                pick(row, indexes, name, where=where).strip()
                for name in ("season", "episode", "clip")
            )
            collector.add(
                records,
                key=key,
                text=pick(row, indexes, "text", where=where),
                label=pick(row, indexes, "label", where=where),
                where=where,
            )
        splits[split] = records
    return ParsedData(
        "mintrec",
        splits,
        labels,
        None,
        str(data_dir),
        feature_dir=str(data_dir),
        feature_layout=MINTREC_FEATURES,
        max_lengths=MINTREC_MAX_LENGTHS,
    )
