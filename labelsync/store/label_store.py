"""LabelStore: zero/few-shot intent and out-of-scope scores from SentenceBERT vectors of label
names, descriptions and examples (kept by ``LabelVectors``); it embeds, scores and saves."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.labelled_texts import LabelledText, read_labelled_texts
from ..descriptions import LabelDescriptions
from ..errors import LabelsyncError
from ..prediction import Prediction
from . import examples, persist, scoring
from . import index as faiss_index
from .embedder import DEFAULT_EMBEDDER, Embedder, canonical_name
from .fit import FitConfig, fit_store
from .head import LogisticHead
from .scoring import (
    AUTO_NAME_WEIGHTS,
    DEFAULT_AGGREGATE,
    DEFAULT_EXAMPLE_WEIGHT,
    DEFAULT_NAME_WEIGHT,
    DEFAULT_TEMPLATE,
)
from .threshold import Threshold, ThresholdMixin
from .vectors import Hit, LabelVectors, check_template

logger = logging.getLogger(__name__)


class LabelStore(ThresholdMixin):
    """Label semantics in a FAISS index: zero-shot and few-shot intent, out-of-scope scores.

    ``LabelStore.build(Descriptions.reviewed("clinc150"))``, then ``.classify(texts)``;
    ``.fit(examples)`` fits its embedder on a few examples; ``.save(dir)`` /
    ``LabelStore.load(dir)`` keep it as ``index.faiss`` + JSON (+ safetensors when fitted).
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
        self.head: LogisticHead | None = None  # fitted stores may rank labels with a head
        self.fit_info: dict | None = None  # settings and scores of the fit that made the body
        self._body: tuple[Path, str] | None = None  # fitted body file and sha256, loaded lazily

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
        """The SentenceBERT model (fitted body included), loaded on first use (``info`` never
        loads it)."""
        if self._embedder is None:
            self._embedder = Embedder(self.embedder_name, device=self.device)
            if self._body is not None:
                self._embedder = persist.fitted_embedder(self._embedder, *self._body)
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

    @property
    def vectors(self) -> LabelVectors:
        """The labels and their FAISS vectors (read it; change them through the store)."""
        return self._vectors

    @property
    def fitted(self) -> bool:
        """Whether the embedder's body was fitted on examples (``fit``)."""
        return self.fit_info is not None

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
        if self.fitted:
            logger.info("embedded with the fitted body: refitting would place them better")
        self._labels_changed()
        return [entry.label for entry in new]

    def remove(self, label: str) -> None:
        """Remove a label and all its vectors; other labels keep their vectors and ids."""
        self._vectors.remove(label)
        self._labels_changed()

    def _labels_changed(self) -> None:
        if self.head is not None and not self.head.matches(self.labels):
            logger.warning("the logistic head no longer matches the labels: dropped (refit)")
            self.head = None

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
        return self._vectors.hits(scores, ids)

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
        k = self.num_vectors if self.index_type == "flat" else self.hnsw_candidates
        return self._vectors.scores(self._search_index(), queries, k, aggregate, w, e)

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
        """Best label, its score, the top ``k`` labels and the out-of-scope flag per text.

        Labels are ranked by the nearest-label score, or by the logistic head's probability
        when the store has one; the out-of-scope decision is always made on the best
        nearest-label score against :attr:`threshold`."""
        texts = self._texts(texts)
        queries = self.embedder.encode(texts)
        matrix = self.score_vectors(
            queries, aggregate=aggregate, name_weight=name_weight, example_weight=example_weight
        )
        ranking = matrix if self.head is None else self.head.probabilities(queries)
        return scoring.predictions(
            texts, self.labels, ranking, matrix.max(axis=1), self.threshold, top_k
        )

    def description_matrix(
        self, labels: Iterable[str] | None = None, *, include_name: bool = False
    ) -> tuple[Any, Any]:
        """``(vectors [n_labels, n_desc, dim], mask [n_labels, n_desc])`` as torch tensors.

        Rows follow ``labels`` (by name, any spelling; default: the store's order). A label
        without descriptions contributes its name vector, so no row is fully masked.
        """
        import torch

        matrix, mask = self._vectors.rows(
            self.labels if labels is None else list(labels), include_name=include_name
        )
        return torch.from_numpy(matrix), torch.from_numpy(mask)

    # -- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        examples: Mapping[str, Iterable[str]] | str | Path | None = None,
        *,
        shots: int | None = None,
        dev: Sequence[LabelledText | tuple[str, str]] | str | Path | None = None,
        calibrate: str | Path | None = None,
        progress: bool = True,
        callbacks: Sequence[Any] = (),
        **settings: Any,
    ) -> dict:
        """Fit the embedder's body on a few examples per label, SetFit-style (label names and
        descriptions as anchors), then re-embed the store with it; returns :attr:`fit_info`.

        ``examples``: ``{label: texts}``, a CSV/TSV with ``text,label`` (``shots`` per label,
        seeded; default all) or None (the store's own). ``settings``: ``FitConfig`` fields
        (``head="logistic"``, ``anchors``, ``seed``...). ``dev``: labelled rows (or a file)
        scored before and after. The threshold is re-derived in the fitted space (or
        calibrated on ``calibrate``). A refit starts again from the shipped model. An
        interrupted fit leaves the store as it was.
        """
        trial = fit_store(
            self,
            examples,
            FitConfig(**settings),
            shots=shots,
            dev=dev,
            calibrate=calibrate,
            progress=progress,
            callbacks=callbacks,
        )
        if self._threshold is not None and calibrate is None:
            logger.warning(
                "the %s OOS threshold does not hold for the fitted vectors: the default "
                "replaces it (calibrate again)",
                self._threshold.method,
            )
        self.restore(
            trial.vectors,
            trial.threshold_info,
            fit_info=trial.fit_info,
            head=trial.head,
            embedder=trial.embedder,
        )
        return self.fit_info

    def restore(
        self,
        vectors: LabelVectors,
        threshold: Threshold | None,
        *,
        fit_info: dict | None = None,
        head: LogisticHead | None = None,
        body: tuple[Path, str] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        """Replace the whole state at once (for loading and fitting): vectors, threshold, fit
        settings, head, and the fitted body (a file loaded on first use, or an embedder)."""
        self._vectors, self._searcher = vectors, None
        self._set_threshold(threshold, vectors.version)
        self.fit_info, self.head, self._body = fit_info, head, body
        if body is not None or embedder is not None:
            self._embedder = embedder  # None: loaded with the body on first use

    def body_bytes(self) -> bytes:
        """The fitted body's weights as safetensors bytes (a fitted store only)."""
        return persist.body_of(self._embedder, self._body)

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the store directory atomically (see :mod:`labelsync.store.files`)."""
        return persist.save(self, Path(path))

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        embedder: str | Embedder | None = None,
        verify: bool = True,
        device: str | None = None,
    ) -> LabelStore:
        """Read a store directory; checksums, embedder, dimensions and a fitted body are checked.

        ``device``: ``"cpu"``, ``"cuda"`` (faiss-gpu required) or ``None`` (GPU when usable).
        """
        faiss_index.check_device(device)
        return persist.load(cls, Path(path), embedder, verify, device)
