"""``LabelVectors``: a store's labels and their vectors in one FAISS index, kept in step.

Every label owns a block of vector ids: ``label_id << 20 | kind << 18 | slot`` (kind 0 = its
name, 1 = a description, 2 = an example utterance), so a label is removed with one id range and
search hits map back to labels with array arithmetic. Label ids only grow, which keeps sorted
vector ids in label order; scoring relies on that. This class knows nothing of embedders: callers
hand it the vectors of the texts ``texts_of`` lists.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..descriptions import Descriptions, LabelDescriptions
from ..errors import LabelFileError, LabelsyncError
from ..labels import normalize_label
from . import index as faiss_index
from . import scoring
from .scoring import DESCRIPTION, EXAMPLE, ID_SHIFT, KINDS, MAX_SLOTS, NAME, vector_id

__all__ = ["Hit", "LabelVectors", "check_template", "humanize"]


@dataclass(frozen=True)
class Hit:
    """One search result: the label, which of its vectors matched, that text, and the cosine."""

    label: str
    kind: str
    text: str
    score: float


def humanize(name: str) -> str:
    """The text embedded for a label name: ``book_flight`` -> ``book flight``."""
    return " ".join(name.replace("_", " ").replace("-", " ").split())


def check_template(template: str) -> None:
    """A description template must use ``{description}`` and may use ``{name}``, nothing else."""
    try:
        ok = "{description}" in template and bool(template.format(name="n", description="d"))
    except (KeyError, IndexError, ValueError):
        ok = False
    if not ok:
        raise LabelsyncError(
            f"template {template!r} must contain '{{description}}' and no other field than "
            "'{name}'"
        )


class LabelVectors:
    """Label records (``LabelDescriptions``) with their label ids and FAISS vectors."""

    def __init__(self, kind: str = "flat", hnsw: faiss_index.HNSWParams | None = None):
        self.kind = kind
        self.hnsw = hnsw or faiss_index.HNSWParams()
        self.index: Any = None
        self.entries: list[LabelDescriptions] = []  # store order
        self.ids: list[int] = []  # label id of each entry
        self.next_id = 0
        self.version = 0  # bumped on every change (caches of searchers and layouts key on it)
        self._layout: tuple[int, dict[str, np.ndarray]] | None = None

    # -- lookup -------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return [entry.label for entry in self.entries]

    def position(self, label: str) -> int:
        """Index of ``label`` (any spelling) in store order; unknown: a one-line error."""
        key = normalize_label(label)
        keys = [normalize_label(entry.label) for entry in self.entries]
        if key in keys:
            return keys.index(key)
        close = difflib.get_close_matches(key, keys, n=1)
        hint = f"; did you mean {self.entries[keys.index(close[0])].label!r}?" if close else ""
        raise LabelsyncError(f"unknown label {label!r} in this store{hint}")

    def __contains__(self, label: object) -> bool:
        keys = {normalize_label(entry.label) for entry in self.entries}
        return isinstance(label, str) and normalize_label(label) in keys

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def num_vectors(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    # -- changes ------------------------------------------------------------------------------
    @staticmethod
    def texts_of(entry: LabelDescriptions, template: str) -> list[str]:
        """What is embedded for a label, in vector order: name, descriptions, examples."""
        name = humanize(entry.label)
        descriptions = [template.format(name=name, description=d) for d in entry.descriptions]
        return [name, *descriptions, *entry.examples]

    def prepare(self, source: Any, *, replace: bool) -> list[LabelDescriptions]:
        """Copies of the labels of ``source`` (see ``Descriptions.coerce``), checked for adding."""
        try:
            new = [_copy(entry) for entry in Descriptions.coerce(source).entries()]
        except LabelFileError as exc:
            raise LabelsyncError(str(exc)) from None
        for entry in new:
            for kind in ("descriptions", "examples"):
                if len(getattr(entry, kind)) >= MAX_SLOTS:
                    raise LabelsyncError(f"label {entry.label!r} has more than {MAX_SLOTS} {kind}")
            if entry.label in self and not replace:
                raise LabelsyncError(
                    f"label {entry.label!r} is already in the store "
                    "(remove it first or use replace)"
                )
        return new

    def add(self, new: list[LabelDescriptions], vectors: np.ndarray) -> None:
        """Add labels; ``vectors`` are the rows of ``texts_of`` for each label, concatenated.
        A label already present is replaced."""
        ids = []
        for offset, entry in enumerate(new):
            label_id = self.next_id + offset
            ids.append(vector_id(label_id, NAME, 0))
            ids += [vector_id(label_id, DESCRIPTION, s) for s in range(len(entry.descriptions))]
            ids += [vector_id(label_id, EXAMPLE, s) for s in range(len(entry.examples))]
        if len(ids) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors for {len(ids)} texts")
        for entry in new:
            if entry.label in self:
                self.remove(entry.label)
        if self.index is None:
            self.index = faiss_index.new_index(int(vectors.shape[1]), self.kind, self.hnsw)
        faiss_index.add(self.index, vectors, np.asarray(ids, dtype=np.int64))
        self.entries += new
        self.ids += range(self.next_id, self.next_id + len(new))
        self.next_id += len(new)
        self.version += 1

    def remove(self, label: str) -> None:
        """Remove a label and all its vectors; other labels keep their vectors and ids."""
        position = self.position(label)
        start = self.ids[position] << ID_SHIFT
        self.index = faiss_index.remove_range(self.index, start, start + (1 << ID_SHIFT))
        del self.entries[position], self.ids[position]
        self.version += 1

    def new_examples(self, groups: dict[str, Iterable[str]]) -> list[tuple[int, list[str]]]:
        """``(position, texts)`` of the examples in ``groups`` the labels do not hold yet."""
        plan = []
        for name, group in groups.items():
            position = self.position(name)
            entry = self.entries[position]
            fresh = list(dict.fromkeys(" ".join(t.split()) for t in group if t and t.strip()))
            fresh = [t for t in fresh if t not in set(entry.examples)]
            if len(entry.examples) + len(fresh) > MAX_SLOTS:
                raise LabelsyncError(f"label {entry.label!r}: more than {MAX_SLOTS} examples")
            plan.append((position, fresh))
        return plan

    def add_examples(self, plan: list[tuple[int, list[str]]], vectors: np.ndarray) -> None:
        """Add the examples of ``new_examples``; ``vectors`` follow its texts in order."""
        ids = []
        for position, fresh in plan:
            start, label_id = len(self.entries[position].examples), self.ids[position]
            ids += [vector_id(label_id, EXAMPLE, start + i) for i in range(len(fresh))]
        faiss_index.add(self.index, vectors, np.asarray(ids, dtype=np.int64))
        for position, fresh in plan:
            self.entries[position].examples += fresh
        self.version += 1

    # -- reading vectors ----------------------------------------------------------------------
    def layout(self) -> dict[str, np.ndarray]:
        """Sorted vector ids and each label's columns per kind (see ``scoring.layout``)."""
        if self._layout is None or self._layout[0] != self.version:
            label_ids = np.array(self.ids, dtype=np.int64)
            self._layout = (self.version, scoring.layout(faiss_index.ids_of(self.index), label_ids))
        return self._layout[1]

    def owner(self, label_id: int) -> LabelDescriptions:
        return self.entries[self.ids.index(label_id)]

    def hits(self, scores: np.ndarray, ids: np.ndarray) -> list[list[Hit]]:
        """Search results (``[n, k]`` scores and vector ids, -1 = none) as labelled hits."""
        owners, kinds, slots = (part.tolist() for part in scoring.decode(ids))
        hits = []
        for row, score_row in enumerate(scores.tolist()):
            found = []
            for col, score in enumerate(score_row):
                if ids[row, col] < 0:  # fewer than k vectors
                    continue
                entry, kind = self.owner(owners[row][col]), kinds[row][col]
                texts_of_kind = ([entry.label], entry.descriptions, entry.examples)[kind]
                found.append(Hit(entry.label, KINDS[kind], texts_of_kind[slots[row][col]], score))
            hits.append(found)
        return hits

    def scores(
        self,
        searcher: Any,
        queries: np.ndarray,
        k: int,
        aggregate: str,
        name_weight: float | np.ndarray,
        example_weight: float,
    ) -> np.ndarray:
        """``[n_queries, n_labels]`` label scores (``scoring.combine``) from the ``k`` nearest
        vectors of each query in ``searcher`` (this index, or its GPU copy)."""
        layout = self.layout()
        sorted_ids = layout["ids"]
        total = len(sorted_ids)
        k = min(k, total, faiss_index.GPU_MAX_K if searcher is not self.index else total)
        out = np.empty((len(queries), len(self)), dtype=np.float32)
        step = max(1, (1 << 24) // total)  # bounds the dense [step, total] block
        for start in range(0, len(queries), step):
            scores, ids = faiss_index.search(searcher, queries[start : start + step], k)
            sims = scoring.dense(scores, ids, sorted_ids)
            out[start : start + step] = scoring.combine(
                sims, layout, aggregate, name_weight, example_weight
            )
        return out

    def name_vectors(self) -> np.ndarray:
        """``[n_labels, dim]``: each label's name vector, in store order."""
        ids, vectors = faiss_index.vectors_of(self.index)
        wanted = np.array([vector_id(label_id, NAME, 0) for label_id in self.ids], dtype=np.int64)
        order = np.argsort(ids)
        return np.ascontiguousarray(vectors[order[np.searchsorted(ids, wanted, sorter=order)]])

    def rows(
        self, labels: Sequence[str], *, include_name: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """``([n_labels, n, dim], [n_labels, n] mask)``: each label's description vectors (and
        name first with ``include_name``); a label without descriptions gives its name vector."""
        positions = [self.position(name) for name in labels]
        kinds = (NAME, DESCRIPTION) if include_name else (DESCRIPTION,)
        wanted = []
        for position in positions:
            label_id, count = self.ids[position], len(self.entries[position].descriptions)
            ids = [vector_id(label_id, k, s) for k in kinds for s in range(count if k else 1)]
            wanted.append(ids or [vector_id(label_id, NAME, 0)])
        width = max((len(w) for w in wanted), default=0)
        ids, vectors = faiss_index.vectors_of(self.index)
        order = np.argsort(ids)
        flat_ids = np.array([i for w in wanted for i in w], dtype=np.int64)
        found = order[np.searchsorted(ids, flat_ids, sorter=order)]
        mask = np.zeros((len(positions), width), dtype=bool)
        for row, w in enumerate(wanted):
            mask[row, : len(w)] = True
        matrix = np.zeros((len(positions), width, vectors.shape[1]), dtype=np.float32)
        matrix[mask] = vectors[found]
        return matrix, mask

    # -- records for files --------------------------------------------------------------------
    def to_records(self) -> dict[str, Any]:
        """``labels.json``: ``next_id`` and one record per label (its id, name and fields)."""
        records = []
        for label_id, entry in zip(self.ids, self.entries, strict=True):
            record = {k: v for k, v in entry.to_dict().items() if k != "label"}
            records.append({"id": label_id, "name": entry.label, **record})
            records[-1]["examples"] = list(entry.examples)
        return {"next_id": self.next_id, "labels": records}

    @classmethod
    def from_records(
        cls, index: Any, labels: dict[str, Any], kind: str, hnsw: Any, origin: str
    ) -> LabelVectors:
        """The inverse of ``to_records`` over a loaded index (``files.read_store`` checked it)."""
        vectors = cls(kind, hnsw)
        records = labels["labels"]
        renamed = [
            {"label": r["name"], **{k: v for k, v in r.items() if k not in ("id", "name")}}
            for r in records
        ]
        try:
            if renamed:  # a store whose labels were all removed has none
                vectors.entries = Descriptions.from_dict(renamed, origin=origin).entries()
        except LabelFileError as exc:
            raise LabelsyncError(f"{origin}: malformed label records ({exc})") from None
        vectors.index = index
        vectors.ids = [int(r["id"]) for r in records]
        vectors.next_id = int(labels["next_id"])
        return vectors


def _copy(entry: LabelDescriptions) -> LabelDescriptions:
    """A copy the store may change (its examples grow) without touching the caller's object."""
    return dataclasses.replace(
        entry,
        descriptions=list(entry.descriptions),
        examples=list(entry.examples),
        extra=dict(entry.extra),
    )
