"""LabelStore: label names, descriptions and examples as vectors in one FAISS index.

Every label owns a block of vector ids: ``label_id << 20 | kind << 18 | slot`` (kind 0 = its
name, 1 = a description, 2 = an example utterance), so a label is removed with one id range and
search hits map back to labels with array arithmetic. Label ids only grow, which keeps sorted
vector ids in label order; scoring relies on that.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LabelsyncError
from ..labels import LabelSet, normalize_label
from ..prediction import Prediction
from . import index as faiss_index
from . import scoring
from .calibrate import Calibration, threshold_at_tpr
from .embedder import DEFAULT_EMBEDDER, Embedder, canonical_name
from .scoring import DESCRIPTION, EXAMPLE, ID_SHIFT, KINDS, MAX_SLOTS, NAME, vector_id

logger = logging.getLogger(__name__)


# Scoring defaults, chosen on CLINC150 val with all-MiniLM-L6-v2 (benchmarks/zero_shot_clinc.py
# --sweep; table in the README). Each description is embedded as "name: description"; a label
# scores w * cos(name) + (1 - w) * max cos(descriptions). The weight follows provenance
# ("auto"): w = 0.3 for reviewed or user-written descriptions (best or near-best with good
# ones) and w = 0.7 for unreviewed LLM output (with a tiny offline model the only mix that never
# fell below names alone). With examples: 0.5 * that + 0.5 * (max cos over the examples).
DEFAULT_TEMPLATE = "{name}: {description}"
DEFAULT_NAME_WEIGHT = "auto"
AUTO_NAME_WEIGHTS = {"reviewed": 0.3, "user": 0.3, "llm": 0.7}
DEFAULT_AGGREGATE = "max"
DEFAULT_EXAMPLE_WEIGHT = 0.5
_SPLIT = re.compile(r"[_\-\s]+")


def humanize(name: str) -> str:
    """The text embedded for a label name: ``book_flight`` -> ``book flight``."""
    return _SPLIT.sub(" ", name).strip()


@dataclass
class LabelEntry:
    """One label of a store: its stable id, name, descriptions, examples and provenance."""

    id: int
    name: str
    descriptions: list[str]
    examples: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "descriptions": self.descriptions,
            "examples": self.examples,
            **self.info,
        }


@dataclass(frozen=True)
class Hit:
    """One search result: the label, which of its vectors matched, that text, and the cosine."""

    label: str
    kind: str
    text: str
    score: float


def _entries_from(source: Any) -> list[tuple[str, list[str], dict]]:
    """``(name, descriptions, info)`` from Descriptions, a YAML path, a mapping or names."""
    from ..descriptions import Descriptions

    if isinstance(source, (str, Path)) and Path(source).suffix in (".yaml", ".yml", ".json"):
        source = Descriptions.from_yaml(source)
    if isinstance(source, Descriptions):
        provenance = ("source", "model")
        return [
            (e.label, list(e.descriptions), {k: getattr(e, k) for k in provenance if getattr(e, k)})
            for e in source.entries()
        ]
    if isinstance(source, Mapping):
        entries = []
        for name, texts in source.items():
            texts = [texts] if isinstance(texts, str) else list(texts or [])
            texts = [" ".join(str(t).split()) for t in texts if str(t).strip()]
            if not texts:
                raise LabelsyncError(f"label {name!r} has no descriptions")
            entries.append((str(name).strip(), texts, {}))
        return entries
    if isinstance(source, (LabelSet, list, tuple)) and all(isinstance(n, str) for n in source):
        return [(str(n).strip(), [], {}) for n in source]  # names only
    raise LabelsyncError(
        f"cannot build labels from {type(source).__name__}; give Descriptions, a YAML file, "
        "a {label: [descriptions]} mapping or a list of names"
    )


class LabelStore:
    """Label semantics in a FAISS index: zero-shot and few-shot intent, out-of-scope scores.

    ``LabelStore.build(Descriptions.reviewed("clinc150"))``, then ``.classify(texts)``;
    ``.save(dir)`` / ``LabelStore.load(dir)`` keep it as ``index.faiss`` + JSON files.
    """

    def __init__(
        self,
        embedder: str | Embedder = DEFAULT_EMBEDDER,
        *,
        index: str = "flat",
        template: str = DEFAULT_TEMPLATE,
        name_weight: float | str = DEFAULT_NAME_WEIGHT,
        aggregate: str = DEFAULT_AGGREGATE,
        example_weight: float = DEFAULT_EXAMPLE_WEIGHT,
        hnsw: faiss_index.HNSWParams | None = None,
        dim: int | None = None,
        device: str | None = None,
    ):
        faiss_index.check_device(device)
        self.device = device  # None: the GPU when faiss-gpu sees one; "cpu"; "cuda[:N]"
        if index not in faiss_index.INDEX_KINDS:
            raise LabelsyncError(f"unknown index type {index!r}; choose flat or hnsw")
        try:
            ok = "{description}" in template and bool(template.format(name="n", description="d"))
        except (KeyError, IndexError, ValueError):
            ok = False
        if not ok:
            raise LabelsyncError(
                f"template {template!r} must contain '{{description}}' and no other field "
                "than '{name}'"
            )
        self._embedder = embedder if isinstance(embedder, Embedder) else None
        self.embedder_name = canonical_name(getattr(embedder, "name", embedder))
        self.index_type = index
        self.template = template
        scoring.check(name_weight, aggregate, example_weight)
        self.name_weight = name_weight
        self.aggregate = aggregate
        self.example_weight = example_weight
        self.hnsw = hnsw or faiss_index.HNSWParams()
        self.hnsw_candidates = 256  # vectors fetched per query before scoring with HNSW
        self.dim = dim
        if self._embedder is not None:
            self.embedder  # noqa: B018 - checks the embedder's dimension against ``dim``
        self._index: Any = None
        self._searcher: Any = None
        self._layout: dict[str, np.ndarray] | None = None
        self._labels: list[LabelEntry] = []
        self._next_id = 0
        self.threshold: float | None = None
        self.calibration: dict | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def build(
        cls, descriptions: Any, embedder: str | Embedder = DEFAULT_EMBEDDER, **options: Any
    ) -> LabelStore:
        """A new store with the labels of ``descriptions`` (Descriptions, YAML path, names...)."""
        store = cls(embedder, **options)
        store.add(descriptions)
        if not store._labels:
            raise LabelsyncError("no labels to build a store from (empty descriptions)")
        return store

    @property
    def embedder(self) -> Embedder:
        """The SentenceBERT model, loaded on first use (``info`` never loads it)."""
        if self._embedder is None:
            self._embedder = Embedder(self.embedder_name, device=self.device)
        if self.dim is not None and self._embedder.dim != self.dim:
            raise LabelsyncError(
                f"mismatched dimensions: embedder {self.embedder_name!r} gives "
                f"{self._embedder.dim}-d vectors, the store holds {self.dim}-d vectors"
            )
        self.dim = self._embedder.dim
        return self._embedder

    @property
    def labels(self) -> list[str]:
        return [entry.name for entry in self._labels]

    @property
    def entries(self) -> list[LabelEntry]:
        """The label records (id, name, descriptions, examples), in store order."""
        return list(self._labels)

    def entry(self, label: str) -> LabelEntry:
        """The stored record of ``label`` (any spelling); an unknown label is a one-line error."""
        key = normalize_label(label)
        keys = [normalize_label(entry.name) for entry in self._labels]
        if key in keys:
            return self._labels[keys.index(key)]
        close = difflib.get_close_matches(key, keys, n=1)
        hint = f"; did you mean {self._labels[keys.index(close[0])].name!r}?" if close else ""
        raise LabelsyncError(f"unknown label {label!r} in this store{hint}")

    def __contains__(self, label: object) -> bool:
        keys = {normalize_label(n) for n in self.labels}
        return isinstance(label, str) and normalize_label(label) in keys

    def __len__(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        return (
            f"LabelStore({len(self)} labels, {self.num_vectors} vectors, "
            f"{self.embedder_name}, {self.index_type})"
        )

    @property
    def num_vectors(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    # -- mutation -----------------------------------------------------------------------------
    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.embedder.encode(texts)
        if self._index is None:
            self._index = faiss_index.new_index(self.dim, self.index_type, self.hnsw)
        return vectors

    def _changed(self) -> None:
        self._searcher, self._layout = None, None

    def add(self, descriptions: Any, *, replace: bool = False) -> list[str]:
        """Add labels (with their name and description vectors); returns the names added."""
        entries = _entries_from(descriptions)
        seen: set[str] = set()
        for name, descs, _ in entries:
            if len(descs) >= MAX_SLOTS:
                raise LabelsyncError(f"label {name!r} has more than {MAX_SLOTS} descriptions")
            key = normalize_label(name)
            if not key:
                raise LabelsyncError("a label has an empty name")
            if key in seen:
                raise LabelsyncError(f"label {name!r} appears twice in the new labels")
            seen.add(key)
            if name in self and not replace:
                raise LabelsyncError(
                    f"label {name!r} is already in the store (remove it first or use replace)"
                )
        texts, ids, new = [], [], []
        for offset, (name, descs, info) in enumerate(entries):
            label_id = self._next_id + offset
            new.append(LabelEntry(label_id, name, descs, [], info))
            texts.append(humanize(name))
            texts += [self.template.format(name=humanize(name), description=d) for d in descs]
            ids.append(vector_id(label_id, NAME, 0))
            ids += [vector_id(label_id, DESCRIPTION, s) for s in range(len(descs))]
        vectors = self._encode(texts)  # one batched call; nothing changes if it fails
        for entry in new:
            if entry.name in self:
                self.remove(entry.name)
        faiss_index.add(self._index, vectors, np.asarray(ids, dtype=np.int64))
        self._labels += new
        self._next_id += len(new)
        self._changed()
        logger.info("added %d labels (%d vectors)", len(new), len(ids))
        return [entry.name for entry in new]

    def remove(self, label: str) -> None:
        """Remove a label and all its vectors; other labels keep their vectors and ids."""
        entry = self.entry(label)
        start = entry.id << ID_SHIFT
        self._index = faiss_index.remove_range(self._index, start, start + (1 << ID_SHIFT))
        self._labels.remove(entry)
        self._changed()

    def add_examples(
        self, label: str | Mapping[str, Iterable[str]], texts: Iterable[str] | None = None
    ) -> int:
        """Add example utterances (few-shot kNN) of one label, or of many as a mapping
        ``{label: texts}`` in one encoding call; returns how many were new."""
        groups = label if isinstance(label, Mapping) else {label: texts or []}
        plan, ids = [], []
        for name, group in groups.items():
            entry = self.entry(name)
            known = set(entry.examples)
            fresh = list(dict.fromkeys(" ".join(t.split()) for t in group if t and t.strip()))
            fresh = [t for t in fresh if t not in known]
            if len(entry.examples) + len(fresh) > MAX_SLOTS:
                raise LabelsyncError(f"label {entry.name!r}: more than {MAX_SLOTS} examples")
            start = len(entry.examples)
            ids += [vector_id(entry.id, EXAMPLE, start + i) for i in range(len(fresh))]
            plan.append((entry, fresh))
        texts_in_order = [t for _, fresh in plan for t in fresh]
        if not texts_in_order:
            return 0
        vectors = self._encode(texts_in_order)
        faiss_index.add(self._index, vectors, np.asarray(ids, dtype=np.int64))
        for entry, fresh in plan:
            entry.examples += fresh
        self._changed()
        return len(texts_in_order)

    # -- search and scoring -------------------------------------------------------------------
    def _search_index(self) -> Any:
        if self._index is None or not self._labels:
            raise LabelsyncError("the label store is empty: add labels first")
        if self._searcher is None:
            cpu_only = self.device is not None and not str(self.device).startswith("cuda")
            self._searcher = (
                self._index if cpu_only else faiss_index.to_gpu(self._index, self.device)
            )
        return self._searcher

    def _texts(self, texts: Sequence[str] | str) -> list[str]:
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
            raise LabelsyncError("no text to classify (give one or more non-empty texts)")
        return texts

    def search(self, texts: Sequence[str] | str, k: int = 5) -> list[list[Hit]]:
        """The ``k`` nearest stored vectors (names, descriptions, examples) of each text."""
        searcher = self._search_index()
        scores, ids = faiss_index.search(searcher, self.embedder.encode(self._texts(texts)), k)
        entries = {entry.id: entry for entry in self._labels}
        owners, kinds, slots = (part.tolist() for part in scoring.decode(ids))
        hits = []
        for row, score_row in enumerate(scores.tolist()):
            found = []
            for col, score in enumerate(score_row):
                if ids[row, col] < 0:  # fewer than k vectors
                    continue
                entry, kind = entries[owners[row][col]], kinds[row][col]
                texts_of_kind = ([entry.name], entry.descriptions, entry.examples)[kind]
                found.append(Hit(entry.name, KINDS[kind], texts_of_kind[slots[row][col]], score))
            hits.append(found)
        return hits

    def score_vectors(
        self,
        queries: np.ndarray,
        *,
        aggregate: str | None = None,
        name_weight: float | str | None = None,
        example_weight: float | None = None,
    ) -> np.ndarray:
        """``[n_queries, n_labels]`` label scores of already-encoded, normalised queries."""
        aggregate = aggregate or self.aggregate
        w = self.name_weight if name_weight is None else name_weight
        e = self.example_weight if example_weight is None else example_weight
        scoring.check(w, aggregate, e)
        if w == "auto":
            w = self.label_name_weights()
        searcher = self._search_index()
        if self._layout is None:
            label_ids = np.array([e.id for e in self._labels], dtype=np.int64)
            self._layout = scoring.layout(faiss_index.ids_of(self._index), label_ids)
        sorted_ids = self._layout["ids"]
        total = len(sorted_ids)
        k = total if self.index_type == "flat" else min(total, self.hnsw_candidates)
        if searcher is not self._index:
            k = min(k, faiss_index.GPU_MAX_K)
        out = np.empty((len(queries), len(self._labels)), dtype=np.float32)
        step = max(1, (1 << 24) // total)  # bounds the dense [step, total] block
        for start in range(0, len(queries), step):
            scores, ids = faiss_index.search(searcher, queries[start : start + step], k)
            sims = scoring.dense(scores, ids, sorted_ids)
            out[start : start + step] = scoring.combine(sims, self._layout, aggregate, w, e)
        return out

    def label_name_weights(self) -> np.ndarray:
        """Per-label name weight of the ``"auto"`` setting, from each label's provenance:
        descriptions a person wrote or reviewed are trusted more than raw LLM output."""
        return np.array(
            [AUTO_NAME_WEIGHTS.get(e.info.get("source", "user"), 0.7) for e in self._labels],
            dtype=np.float32,
        )

    def scores(self, texts: Sequence[str] | str, **scoring: Any) -> np.ndarray:
        """``[n_texts, n_labels]`` scores in the order of :attr:`labels` (one encode call)."""
        return self.score_vectors(self.embedder.encode(self._texts(texts)), **scoring)

    def classify(
        self,
        texts: Sequence[str] | str,
        *,
        top_k: int = 3,
        aggregate: str | None = None,
        name_weight: float | str | None = None,
        example_weight: float | None = None,
    ) -> list[Prediction]:
        """Best label, its score, the top ``k`` labels and the out-of-scope flag per text."""
        texts = self._texts(texts)
        matrix = self.scores(
            texts, aggregate=aggregate, name_weight=name_weight, example_weight=example_weight
        )
        k = max(1, min(top_k, matrix.shape[1]))
        order = np.argsort(-matrix, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(matrix, order, axis=1)
        names = self.labels
        predictions = []
        for text, top, best_scores in zip(texts, order.tolist(), best.tolist(), strict=True):
            ranked = [(names[i], float(s)) for i, s in zip(top, best_scores, strict=True)]
            decision = {}
            if self.threshold is not None:
                decision = {
                    "in_scope": bool(best_scores[0] >= self.threshold),
                    "oos_score": ranked[0][1],
                    "threshold": float(self.threshold),
                }
            predictions.append(Prediction(text, ranked[0][0], ranked[0][1], ranked, **decision))
        return predictions

    def calibrate(
        self,
        in_scope_texts: Sequence[str],
        oos_texts: Sequence[str] | None = None,
        target_tpr: float = 0.95,
    ) -> Calibration:
        """Set the OOS threshold so ``target_tpr`` of in-scope texts stay in scope."""
        in_scores = self.scores(in_scope_texts).max(axis=1)
        oos_scores = self.scores(oos_texts).max(axis=1) if oos_texts else None
        result = threshold_at_tpr(in_scores, oos_scores, target_tpr)
        self.threshold = result.threshold
        self.calibration = result.to_dict()
        return result

    def description_matrix(
        self, labels: Iterable[str] | None = None, *, include_name: bool = False
    ) -> tuple[Any, Any]:
        """``(vectors [n_labels, n_desc, dim], mask [n_labels, n_desc])`` as torch tensors.

        Rows follow ``labels`` (by name, any spelling; default: the store's order). A label
        without descriptions contributes its name vector, so no row is fully masked.
        """
        import torch

        entries = [self.entry(n) for n in (self.labels if labels is None else labels)]
        kinds = (NAME, DESCRIPTION) if include_name else (DESCRIPTION,)
        wanted = [
            [vector_id(e.id, k, s) for k in kinds for s in range(len(e.descriptions) if k else 1)]
            or [vector_id(e.id, NAME, 0)]
            for e in entries
        ]
        width = max((len(w) for w in wanted), default=0)
        ids, vectors = faiss_index.vectors_of(self._index)
        order = np.argsort(ids)
        flat_ids = np.array([i for w in wanted for i in w], dtype=np.int64)
        rows = order[np.searchsorted(ids, flat_ids, sorter=order)]
        mask = np.zeros((len(entries), width), dtype=bool)
        for row, w in enumerate(wanted):
            mask[row, : len(w)] = True
        matrix = np.zeros((len(entries), width, vectors.shape[1]), dtype=np.float32)
        matrix[mask] = vectors[rows]
        return torch.from_numpy(matrix), torch.from_numpy(mask)

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the store directory atomically (see :mod:`labelsync.store.files`)."""
        from .files import save_store

        return save_store(self, Path(path))

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        embedder: str | Embedder | None = None,
        verify: bool = True,
        device: str | None = None,
    ) -> LabelStore:
        """Read a store directory; checksums, embedder and dimensions are checked.

        ``device``: ``"cpu"``, ``"cuda"`` (faiss-gpu required) or ``None`` (GPU when usable).
        """
        from .files import load_store

        faiss_index.check_device(device)
        store = load_store(cls, Path(path), embedder=embedder, verify=verify)
        store.device = device
        return store
