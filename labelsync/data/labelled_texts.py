"""Labelled texts from one file: what the label store takes as examples and calibration rows.

``read_labelled_texts("dev.tsv")`` reads a CSV / TSV / JSONL file whose header (or JSON keys)
names a text and a label column (``utterance``/``intent`` are accepted too, as for custom
datasets) and marks rows whose label is an out-of-scope name (``oos``, ``UNK``, ``out of scope``
by default; compared case- and separator-insensitively). Unlike ``load_dataset`` it takes any
label: the caller decides what an unknown one means.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..labels import normalize_label
from .base import DataError
from .custom import iter_labelled_rows

__all__ = ["LabelledText", "read_labelled_texts", "DEFAULT_OOS_LABELS"]

DEFAULT_OOS_LABELS = frozenset({"oos", "unk", "out of scope"})


@dataclass(frozen=True)
class LabelledText:
    """One row: its text, its label as written, and whether that label means out-of-scope."""

    text: str
    label: str
    is_oos: bool = False


def read_labelled_texts(
    path: str | Path, oos_labels: Iterable[str] = DEFAULT_OOS_LABELS
) -> list[LabelledText]:
    """The rows of ``path`` in order; an empty text or label, or no rows, is a ``DataError``
    naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    oos_keys = {normalize_label(name) for name in oos_labels}
    rows = []
    for where, _key, text, label in iter_labelled_rows(path):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: field 'text' is empty or not a string")
        if not isinstance(label, str) or not label.strip():
            raise DataError(f"{where}: field 'label' is empty or not a string")
        label = label.strip()
        rows.append(LabelledText(text.strip(), label, normalize_label(label) in oos_keys))
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows
