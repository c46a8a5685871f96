"""Labelled texts for a label store: K examples per label (seeded) and the in-scope /
out-of-scope split that calibration uses.

Rows labelled ``oos``, ``UNK`` or ``out of scope`` (any spelling) are out of scope.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..errors import LabelsyncError
from ..labels import normalize_label

__all__ = ["OOS_LABELS", "held_out", "is_oos_label", "read_pairs", "sample_shots", "split_scope"]

log = logging.getLogger(__name__)

OOS_LABELS = ("oos", "unk", "out of scope")
_OOS_KEYS = {normalize_label(name) for name in OOS_LABELS}


def is_oos_label(label: str) -> bool:
    """Whether ``label`` names out-of-scope rows."""
    return normalize_label(label) in _OOS_KEYS


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """``(text, label)`` rows of a CSV/TSV file with a header naming ``text`` and ``label``."""
    path = Path(path)
    if not path.is_file():
        raise LabelsyncError(f"{path}: file not found")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = [h.strip().lower() for h in next(reader, [])]
        if "text" not in header or "label" not in header:
            raise LabelsyncError(f"{path}: needs a header with 'text' and 'label' columns")
        t, lab = header.index("text"), header.index("label")
        rows = []
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(t, lab) or not row[t].strip() or not row[lab].strip():
                raise LabelsyncError(f"{path}: line {number}: empty text or label")
            rows.append((row[t].strip(), row[lab].strip()))
    if not rows:
        raise LabelsyncError(f"{path}: no rows")
    return rows


def sample_shots(
    rows: Iterable[tuple[str, str]],
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
    for text, label in rows:
        if is_oos_label(label):
            continue
        name = names.get(normalize_label(label))
        if name is None:
            unknown.add(label)
            continue
        by_label.setdefault(name, []).append(text)
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


def split_scope(rows: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """``(in-scope texts, out-of-scope texts)`` of labelled rows."""
    inside, outside = [], []
    for text, label in rows:
        (outside if is_oos_label(label) else inside).append(text)
    return inside, outside


def held_out(
    rows: Sequence[tuple[str, str]],
    chosen: dict[str, list[str]],
    limit: int = 1000,
    seed: int = 0,
) -> list[tuple[str, str]]:
    """Up to ``limit`` rows (a fixed-seed sample, file order kept) whose text is not among the
    ``chosen`` examples: what is left of a training file to score a fit on."""
    used = {text for texts in chosen.values() for text in texts}
    rest = [row for row in rows if row[0] not in used]
    keep = np.random.default_rng(seed).permutation(len(rest))[:limit]
    return [rest[i] for i in sorted(keep)]
