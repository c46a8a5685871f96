"""Labelled texts for a label store: K examples per label (seeded) and the in-scope /
out-of-scope split that calibration uses. Files are read by ``labelsync.data.read_labelled_texts``
(CSV/TSV/JSONL with text and label; ``oos``, ``UNK`` and ``out of scope`` rows are out of scope).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..data.labelled_texts import DEFAULT_OOS_LABELS, LabelledText, read_labelled_texts
from ..errors import LabelsyncError
from ..labels import normalize_label

__all__ = ["held_out", "labelled_rows", "sample_shots", "split_scope"]

log = logging.getLogger(__name__)

_OOS_KEYS = {normalize_label(name) for name in DEFAULT_OOS_LABELS}


def labelled_rows(
    source: str | Path | Iterable[LabelledText | tuple[str, str]],
) -> list[LabelledText]:
    """Rows from a file (``read_labelled_texts``) or from ``LabelledText``s / ``(text, label)``
    pairs given in Python (``oos``, ``UNK``, ``out of scope`` mark out-of-scope rows)."""
    if isinstance(source, (str, Path)):
        return read_labelled_texts(source)
    return [
        row
        if isinstance(row, LabelledText)
        else LabelledText(row[0], row[1], normalize_label(row[1]) in _OOS_KEYS)
        for row in source
    ]


def sample_shots(
    rows: Iterable[LabelledText],
    known: Sequence[str],
    shots: int,
    seed: int = 0,
    *,
    where: str = "examples",
) -> dict[str, list[str]]:
    """Up to ``shots`` texts per label of ``known`` (a fixed-seed sample, file order kept).

    Out-of-scope rows are skipped; labels not in ``known`` are skipped with one warning line.
    """
    if shots < 1:
        raise LabelsyncError(f"shots must be >= 1, got {shots}")
    names = {normalize_label(name): name for name in known}
    by_label: dict[str, list[str]] = {}
    unknown: set[str] = set()
    for row in rows:
        if row.is_oos:
            continue
        name = names.get(normalize_label(row.label))
        if name is None:
            unknown.add(row.label)
            continue
        by_label.setdefault(name, []).append(row.text)
    if unknown:
        shown = ", ".join(sorted(unknown)[:5])
        log.warning("%s: skipped %d labels not in the store (%s)", where, len(unknown), shown)
    if not by_label:
        raise LabelsyncError(f"{where}: no rows with a label of this store")
    rng = np.random.default_rng(seed)
    return {
        label: [texts[i] for i in sorted(rng.permutation(len(texts))[:shots])]
        for label, texts in by_label.items()
    }


def split_scope(rows: Iterable[LabelledText]) -> tuple[list[str], list[str]]:
    """``(in-scope texts, out-of-scope texts)`` of labelled rows."""
    inside, outside = [], []
    for row in rows:
        (outside if row.is_oos else inside).append(row.text)
    return inside, outside


def held_out(
    rows: Sequence[LabelledText], chosen: dict[str, list[str]], limit: int = 1000, seed: int = 0
) -> list[LabelledText]:
    """Up to ``limit`` rows (a fixed-seed sample, file order kept) whose text is not among the
    ``chosen`` examples: what is left of a training file to score a fit on."""
    used = {text for texts in chosen.values() for text in texts}
    rest = [row for row in rows if row.text not in used]
    keep = np.random.default_rng(seed).permutation(len(rest))[:limit]
    return [rest[i] for i in sorted(keep)]
