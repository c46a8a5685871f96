"""LabelSet: the only source of label names, lookup keys and ids.

Labels are keyed by a normalised form of their name (case, spacing, ``_`` and ``-`` ignored), so
``Ask for help``, ``ask_for_help`` and ``ASK FOR HELP`` are one label; the first spelling seen is
kept for display. Order gives ids within one set but never carries meaning across datasets.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path

from ._io import yaml_error_line
from .errors import LabelFileError

__all__ = ["LabelSet", "normalize_label", "PRESETS"]

PRESETS = ("mintrec", "mintrec2", "clinc150")

_SEPARATORS = re.compile(r"[\s_\-]+")


def normalize_label(name: str) -> str:
    """Lookup key of a label name: case-folded, ``_``/``-``/whitespace runs as one space."""
    return _SEPARATORS.sub(" ", name).strip().casefold()


class LabelSet(Sequence[str]):
    """An ordered set of label names with normalised keys and integer ids.

    ``LabelSet(["Complain", "Praise"])``, ``LabelSet.from_file("labels.txt")`` or
    ``LabelSet.preset("mintrec")``. Indexing and iteration give display names.
    """

    def __init__(self, names: Iterable[str], *, source: str | None = None):
        self.source = source
        self._names: list[str] = []
        self._ids: dict[str, int] = {}
        for position, raw in enumerate(names, start=1):
            if not isinstance(raw, str):
                raise LabelFileError(
                    f"{source or 'labels'}: item {position} is {type(raw).__name__}, "
                    "expected a label name"
                )
            self._append(raw.strip(), where=f"item {position}", seen_at={})

    def _append(self, name: str, *, where: str, seen_at: dict[str, str]) -> None:
        key = normalize_label(name)
        origin = self.source or "labels"
        if not key:
            raise LabelFileError(f"{origin}: empty label name at {where}")
        if key in self._ids:
            first = seen_at.get(key, f"item {self._ids[key] + 1}")
            raise LabelFileError(
                f"{origin}: duplicate label {name!r} at {where} "
                f"(same as {self._names[self._ids[key]]!r} at {first})"
            )
        self._ids[key] = len(self._names)
        self._names.append(name)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> LabelSet:
        """Read a ``.txt`` (one label per line, ``#`` comments), ``.json`` or ``.yaml`` list."""
        path = Path(path)
        if not path.is_file():
            raise LabelFileError(f"{path}: label file not found")
        text = path.read_text(encoding="utf-8")
        suffix = path.suffix.lower()
        if suffix in (".json", ".yaml", ".yml"):
            entries = _structured_entries(path, text, yaml_syntax=suffix != ".json")
        else:
            entries = [
                (line.strip(), f"line {number}")
                for number, line in enumerate(text.splitlines(), start=1)
                if line.strip() and not line.lstrip().startswith("#")
            ]
        if not entries:
            raise LabelFileError(f"{path}: no labels found (file is empty or only comments)")
        labels = cls([], source=str(path))
        seen_at: dict[str, str] = {}
        for name, where in entries:
            labels._append(name, where=where, seen_at=seen_at)
            seen_at.setdefault(normalize_label(name), where)
        return labels

    @classmethod
    def preset(cls, name: str) -> LabelSet:
        """A shipped label list: ``mintrec`` (20), ``mintrec2`` (30) or ``clinc150`` (150)."""
        key = name.strip().lower()
        if key not in PRESETS:
            raise LabelFileError(
                f"unknown label preset {name!r}; choose one of {', '.join(PRESETS)} or give a file"
            )
        with resources.as_file(resources.files("labelsync.presets") / f"{key}.txt") as path:
            labels = cls.from_file(path)
        labels.source = f"preset:{key}"
        return labels

    @classmethod
    def resolve(cls, spec: str | Path) -> LabelSet:
        """A preset name or a path: what ``--labels`` accepts."""
        if isinstance(spec, str) and spec.strip().lower() in PRESETS and not Path(spec).exists():
            return cls.preset(spec)
        return cls.from_file(spec)

    # -- lookup -------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def keys(self) -> list[str]:
        return [normalize_label(name) for name in self._names]

    def id(self, name: str) -> int:
        """Integer id of ``name`` (any spelling with the same key); KeyError with a suggestion."""
        key = normalize_label(name)
        if key in self._ids:
            return self._ids[key]
        hint = self.closest(name)
        suggestion = f"; did you mean {hint!r}?" if hint else ""
        raise KeyError(f"unknown label {name!r}{suggestion}")

    def canonical(self, name: str) -> str:
        """The display spelling of ``name`` in this set."""
        return self._names[self.id(name)]

    def closest(self, name: str) -> str | None:
        keys = list(self._ids)
        match = difflib.get_close_matches(normalize_label(name), keys, n=1, cutoff=0.6)
        return self._names[self._ids[match[0]]] if match else None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalize_label(name) in self._ids

    def __getitem__(self, index):  # type: ignore[override]
        return self._names[index]

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LabelSet):
            return self.keys == other.keys
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self.keys))

    def __repr__(self) -> str:
        shown = ", ".join(self._names[:5]) + (", ..." if len(self) > 5 else "")
        return f"LabelSet({len(self)} labels: {shown})"

    def to_list(self) -> list[str]:
        return list(self._names)


def _structured_entries(path: Path, text: str, *, yaml_syntax: bool) -> list[tuple[str, str]]:
    """(name, where) pairs from a JSON/YAML list, or a mapping with a ``labels`` list whose items
    are names or ``{label: ...}`` records (so a descriptions file is also a label file)."""
    if yaml_syntax:
        import yaml

        try:
            node = yaml.compose(text)
        except yaml.YAMLError as exc:
            raise LabelFileError(f"{path}: invalid YAML{yaml_error_line(exc)}") from None
        if node is None:
            return []
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == "labels"), None)
            if node is None:
                raise LabelFileError(f"{path}: expected a list of labels or a 'labels:' key")
        if not isinstance(node, yaml.SequenceNode):
            raise LabelFileError(f"{path}: expected a list of labels")
        entries = []
        for item in node.value:
            where = f"line {item.start_mark.line + 1}"
            if isinstance(item, yaml.MappingNode):
                fields = {k.value: v for k, v in item.value}
                item = fields.get("label") or fields.get("name")
                if item is None:
                    raise LabelFileError(f"{path}: {where}: record has no 'label' field")
            if not isinstance(item, yaml.ScalarNode):
                raise LabelFileError(f"{path}: {where}: expected a label name")
            entries.append((str(item.value).strip(), where))
        return entries
    try:
        data = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise LabelFileError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if isinstance(data, dict):
        if "labels" not in data:
            raise LabelFileError(f"{path}: expected a list of labels or a 'labels' key")
        data = data["labels"]
    if not isinstance(data, list):
        raise LabelFileError(f"{path}: expected a list of labels")
    entries = []
    for position, item in enumerate(data, start=1):
        if isinstance(item, dict):
            item = item.get("label", item.get("name"))
        if not isinstance(item, str):
            raise LabelFileError(f"{path}: item {position}: expected a label name")
        entries.append((item.strip(), f"item {position}"))
    return entries
