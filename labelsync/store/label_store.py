"""LabelStore: zero/few-shot intent and out-of-scope scores from SentenceBERT vectors of label
names, descriptions and examples (kept by ``LabelVectors``); it embeds, scores and saves."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.labelled_texts import read_labelled_texts
from ..descriptions import LabelDescriptions
from ..errors import LabelsyncError
from ..prediction import Prediction
from . import examples, scoring
from . import index as faiss_index
from .calibrate import Calibration, threshold_at_tpr
from .embedder import DEFAULT_EMBEDDER, Embedder, canonical_name
from .files import StoreFiles, read_store, write_store
from .scoring import KINDS
from .vectors import LabelVectors, check_template

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


@dataclass(frozen=True)
class Hit:
    """One search result: the label, which of its vectors matched, that text, and the cosine."""

    label: str
    kind: str
    text: str
    score: float


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
        check_template(template)
        self._embedder = embedder if isinstance(embedder, Embedder) else None
        self.embedder_name = canonical_name(getattr(embedder, "name", embedder))
        self.template = template
        scoring.check(name_weight, aggregate, example_weight)
        self.name_weight = name_weight
        self.aggregate = aggregate
        self.example_weight = example_weight
        self._vectors = LabelVectors(index, hnsw)
        self.hnsw_candidates = 256  # vectors fetched per query before scoring with HNSW
        self.dim = dim
        if self._embedder is not None:
            self.embedder  # noqa: B018 - checks the embedder's dimension against ``dim``
        self._searcher: tuple[int, Any] | None = None  # (vectors version, search index)
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
        if not len(store):
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
    def index(self) -> Any:
        """The FAISS index (``IndexIDMap2``) holding every label's vectors."""
        return self._vectors.index

    @property
    def index_type(self) -> str:
        return self._vectors.kind

    @property
    def hnsw(self) -> faiss_index.HNSWParams:
        return self._vectors.hnsw

    @property
    def labels(self) -> list[str]:
        return self._vectors.labels

    @property
    def entries(self) -> list[LabelDescriptions]:
        """The label records (name, descriptions, examples, provenance), in store order."""
        return list(self._vectors.entries)

    def entry(self, label: str) -> LabelDescriptions:
        """The stored record of ``label`` (any spelling); an unknown label is a one-line error."""
        return self._vectors.entries[self._vectors.position(label)]

    def __contains__(self, label: object) -> bool:
        return label in self._vectors

    def __len__(self) -> int:
        return len(self._vectors)

    def __repr__(self) -> str:
        return (
            f"LabelStore({len(self)} labels, {self.num_vectors} vectors, "
            f"{self.embedder_name}, {self.index_type})"
        )

    @property
    def num_vectors(self) -> int:
        return self._vectors.num_vectors

    # -- changes ------------------------------------------------------------------------------
    def add(self, descriptions: Any, *, replace: bool = False) -> list[str]:
        """Add labels with their name, description and example vectors; returns the names added.

        ``descriptions``: Descriptions, a YAML path, a ``{label: [descriptions]}`` mapping or
        label names (see ``Descriptions.coerce``). The store keeps its own copies.
        """
        new = self._vectors.prepare(descriptions, replace=replace)
        texts = [t for entry in new for t in self._vectors.texts_of(entry, self.template)]
        self._vectors.add(new, self.embedder.encode(texts))  # nothing changes if encoding fails
        logger.info("added %d labels (%d vectors)", len(new), len(texts))
        return [entry.label for entry in new]

    def remove(self, label: str) -> None:
        """Remove a label and all its vectors; other labels keep their vectors and ids."""
        self._vectors.remove(label)

    def add_examples(
        self, label: str | Mapping[str, Iterable[str]], texts: Iterable[str] | None = None
    ) -> int:
        """Add example utterances (few-shot kNN) of one label, or of many as a mapping
        ``{label: texts}`` in one encoding call; returns how many were new."""
        groups = dict(label) if isinstance(label, Mapping) else {label: texts or []}
        plan = self._vectors.new_examples(groups)
        fresh = [t for _, group in plan for t in group]
        if fresh:
            self._vectors.add_examples(plan, self.embedder.encode(fresh))
        return len(fresh)

    def add_examples_from(self, path: str | Path, shots: int = 5, seed: int = 0) -> int:
        """Add up to ``shots`` examples per store label from a CSV/TSV with ``text,label``
        (a fixed-seed sample; out-of-scope and unknown labels skipped); returns how many."""
        rows = read_labelled_texts(path)
        return self.add_examples(examples.sample_shots(rows, self.labels, shots, seed, where=path))

    # -- search and scoring -------------------------------------------------------------------
    def _search_index(self) -> Any:
        vectors = self._vectors
        if vectors.index is None or not len(vectors):
            raise LabelsyncError("the label store is empty: add labels first")
        if self._searcher is None or self._searcher[0] != vectors.version:
            cpu_only = self.device is not None and not str(self.device).startswith("cuda")
            searcher = vectors.index if cpu_only else faiss_index.to_gpu(vectors.index, self.device)
            self._searcher = (vectors.version, searcher)
        return self._searcher[1]

    def _texts(self, texts: Sequence[str] | str) -> list[str]:
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
            raise LabelsyncError("no text to classify (give one or more non-empty texts)")
        return texts

    def search(self, texts: Sequence[str] | str, k: int = 5) -> list[list[Hit]]:
        """The ``k`` nearest stored vectors (names, descriptions, examples) of each text."""
        searcher = self._search_index()
        scores, ids = faiss_index.search(searcher, self.embedder.encode(self._texts(texts)), k)
        owners, kinds, slots = (part.tolist() for part in scoring.decode(ids))
        hits = []
        for row, score_row in enumerate(scores.tolist()):
            found = []
            for col, score in enumerate(score_row):
                if ids[row, col] < 0:  # fewer than k vectors
                    continue
                entry, kind = self._vectors.owner(owners[row][col]), kinds[row][col]
                texts_of_kind = ([entry.label], entry.descriptions, entry.examples)[kind]
                found.append(Hit(entry.label, KINDS[kind], texts_of_kind[slots[row][col]], score))
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
        layout = self._vectors.layout()
        sorted_ids = layout["ids"]
        total = len(sorted_ids)
        k = total if self.index_type == "flat" else min(total, self.hnsw_candidates)
        if searcher is not self._vectors.index:
            k = min(k, faiss_index.GPU_MAX_K)
        out = np.empty((len(queries), len(self)), dtype=np.float32)
        step = max(1, (1 << 24) // total)  # bounds the dense [step, total] block
        for start in range(0, len(queries), step):
            scores, ids = faiss_index.search(searcher, queries[start : start + step], k)
            sims = scoring.dense(scores, ids, sorted_ids)
            out[start : start + step] = scoring.combine(sims, layout, aggregate, w, e)
        return out

    def label_name_weights(self) -> np.ndarray:
        """Per-label name weight of the ``"auto"`` setting, from each label's provenance:
        descriptions a person wrote or reviewed are trusted more than raw LLM output."""
        return np.array(
            [AUTO_NAME_WEIGHTS.get(e.source or "user", 0.7) for e in self._vectors.entries],
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

    def calibrate_from(self, path: str | Path, target_tpr: float = 0.95) -> Calibration:
        """``calibrate`` on a CSV/TSV with ``text,label``; ``oos``/``UNK`` rows are out of scope."""
        inside, outside = examples.split_scope(read_labelled_texts(path))
        if not inside:
            raise LabelsyncError(f"{path}: no in-scope rows to calibrate on")
        return self.calibrate(inside, outside or None, target_tpr)

    def description_matrix(
        self, labels: Iterable[str] | None = None, *, include_name: bool = False
    ) -> tuple[Any, Any]:
        """``(vectors [n_labels, n_desc, dim], mask [n_labels, n_desc])`` as torch tensors.

        Rows follow ``labels`` (by name, any spelling; default: the store's order). A label
        without descriptions contributes its name vector, so no row is fully masked.
        """
        import torch

        matrix, mask = self._vectors.rows(self.labels if labels is None else list(labels),
                                          include_name=include_name)  # fmt: skip
        return torch.from_numpy(matrix), torch.from_numpy(mask)

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the store directory atomically (see :mod:`labelsync.store.files`)."""
        if self._vectors.index is None:
            raise LabelsyncError("cannot save an empty label store (no labels were added)")
        meta = {
            "embedder": self.embedder_name,
            "dimension": self.dim,
            "index": self.index_type,
            "hnsw": vars(self.hnsw) if self.index_type == "hnsw" else None,
            "template": self.template,
            "name_weight": self.name_weight,
            "aggregate": self.aggregate,
            "example_weight": self.example_weight,
            "threshold": self.threshold,
            "calibration": self.calibration,
            "num_labels": len(self),
            "num_vectors": self.num_vectors,
        }
        files = StoreFiles(self._vectors.index, self._vectors.to_records(), meta)
        return write_store(Path(path), files)

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
        faiss_index.check_device(device)
        path = Path(path)
        files = read_store(path, verify=verify)
        meta, stored = files.meta, files.meta.get("embedder")
        if embedder is not None:
            asked = canonical_name(getattr(embedder, "name", embedder))
            if asked != stored:
                raise LabelsyncError(
                    f"{path}: store was built with embedder {stored!r}, not {asked!r}; vectors "
                    "of different models cannot be compared (rebuild the store with that embedder)"
                )
        hnsw = meta.get("hnsw") or {}
        store = cls(
            embedder if embedder is not None else stored,
            index=faiss_index.index_kind(files.index),
            template=meta["template"],
            name_weight=meta["name_weight"],
            aggregate=meta["aggregate"],
            example_weight=meta["example_weight"],
            hnsw=faiss_index.HNSWParams(**hnsw) if hnsw else None,
            dim=files.index.d,
            device=device,
        )
        store._vectors = LabelVectors.from_records(
            files.index, files.labels, store.index_type, store.hnsw, str(path / "labels.json")
        )
        store.threshold, store.calibration = meta.get("threshold"), meta.get("calibration")
        return store
