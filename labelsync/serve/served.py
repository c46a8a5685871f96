"""What a server serves: a label store folder (``meta.json`` + ``index.faiss``) or a trained run
folder (``run.json``), behind one small interface the HTTP layer and the batcher use.

``run_batch`` and ``reload`` run on the batcher's single thread, so the model is never used by
two threads at once and a reload swaps the whole object between two forward passes: no request
sees a half-loaded store. With several worker processes, a reload in one bumps a shared
generation file and the others reload before their next batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_text
from ..errors import LabelsyncError
from ..prediction import Prediction

__all__ = [
    "PredictItem",
    "ServedRun",
    "ServedStore",
    "TextItem",
    "open_served",
    "served_kind",
    "set_threads",
]

logger = logging.getLogger(__name__)

STATE_ENV = "LABELSYNC_SERVE_STATE"  # a private folder shared by the worker processes
_RELOAD_ATTEMPTS = 3  # a store replaced while we read it fails its checksum: read it again


@dataclass(frozen=True)
class TextItem:
    """One text of a ``/v1/classify`` request."""

    text: str
    top_k: int


@dataclass(frozen=True)
class PredictItem:
    """One input of a ``/v1/predict`` request: text plus optional feature arrays."""

    text: str
    top_k: int
    video: np.ndarray | None = None
    audio: np.ndarray | None = None


def set_threads(count: int) -> None:
    """CPU threads of torch and FAISS in this process (the server owns its process)."""
    import faiss
    import torch

    torch.set_num_threads(count)
    faiss.omp_set_num_threads(count)


def served_kind(path: str | os.PathLike) -> str:
    """``"store"`` or ``"run"`` for a folder; anything else is a one-line error."""
    path = Path(path)
    if not path.is_dir():
        raise LabelsyncError(f"{path}: folder not found (give a label store or a run folder)")
    if (path / "meta.json").is_file() and (path / "index.faiss").is_file():
        return "store"
    if (path / "run.json").is_file():
        return "run"
    raise LabelsyncError(
        f"{path}: neither a label store (meta.json + index.faiss) nor a trained run (run.json)"
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Generation:
    """A reload counter shared by worker processes (a file in a private folder), or nothing."""

    def __init__(self) -> None:
        folder = os.environ.get(STATE_ENV)
        self.file = Path(folder) / "generation" if folder else None

    def current(self) -> str:
        """The latest reload token ("" when there is none or no shared folder)."""
        if self.file is None:
            return ""
        try:
            return self.file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def bump(self) -> str:
        """Announce a reload to the other workers; returns the new token."""
        if self.file is None:
            return ""
        token = uuid.uuid4().hex
        atomic_write_text(self.file, token)
        return token


class _Served:
    """Shared behaviour: loading, reloading, the worker generation check."""

    kind = ""

    def __init__(self, path: str | os.PathLike, **options: Any):
        self.path = Path(path)
        self.options = options
        self._generation = _Generation()
        self._seen = self._generation.current()
        self._loaded = self._load_checked()  # (model, version), swapped as one reference

    @property
    def model(self) -> Any:
        """The loaded store or predictor (the current version)."""
        return self._loaded[0]

    @property
    def version(self) -> str:
        """sha256 of the folder's record file (``meta.json`` / ``run.json``) when it was read."""
        return self._loaded[1]

    def _load(self) -> tuple[Any, str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load_checked(self) -> tuple[Any, str]:
        for attempt in range(_RELOAD_ATTEMPTS):
            try:
                return self._load()
            except LabelsyncError:
                if attempt + 1 == _RELOAD_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def reload(self) -> dict[str, Any]:
        """Load the folder again and swap it in (on the batch thread); the old one stays on
        failure. Other worker processes follow before their next batch."""
        self._loaded = self._load_checked()
        self._seen = self._generation.bump() or self._seen
        logger.info("reloaded %s (%d labels)", self.path, len(self.label_names()))
        return self.info()

    def sync(self) -> None:
        """Reload when another worker process reloaded since we last looked."""
        current = self._generation.current()
        if current != self._seen:
            self._loaded = self._load_checked()
            self._seen = current

    def label_names(self) -> list[str]:  # pragma: no cover - abstract
        """The served label names, in model order."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """What ``/healthz`` says: kind, folder name, labels, version (sha256 of its record)."""
        return {
            "kind": self.kind,
            "name": self.path.name,
            "labels": len(self.label_names()),
            "version": self.version,
        }

    @staticmethod
    def _trim(predictions: list[Prediction], items: list[Any]) -> list[Prediction]:
        return [
            dataclasses.replace(p, top_k=p.top_k[: item.top_k])
            for p, item in zip(predictions, items, strict=True)
        ]


class ServedStore(_Served):
    """A label store: ``/v1/classify``."""

    kind = "store"

    def _load(self) -> tuple[Any, str]:
        from ..store import LabelStore

        version = _digest(self.path / "meta.json")
        store = LabelStore.load(self.path, device=self.options.get("device"))
        store.embedder  # noqa: B018 - loads the model now (shared with the previous version)
        return store, version

    def warm_up(self) -> None:
        """One forward pass before serving, so the first request does not pay for it."""
        self.model.classify(["warm up"], top_k=1)

    def info(self) -> dict[str, Any]:
        """``/healthz``, plus the out-of-scope threshold in use and how it was set."""
        threshold = self.model.threshold_info
        if threshold is None:
            return {**super().info(), "threshold": None}
        described = {"describe": threshold.describe()}
        return {**super().info(), "threshold": {**threshold.to_meta(), **described}}

    def label_names(self) -> list[str]:
        """The served label names, in model order."""
        return self.model.labels

    def labels(self) -> list[dict[str, Any]]:
        """Each label with its descriptions, provenance and number of examples."""
        return [
            {
                "label": e.label,
                "descriptions": list(e.descriptions),
                "source": e.source,
                "examples": len(e.examples),
            }
            for e in self.model.entries
        ]

    def run_batch(self, items: list[TextItem]) -> list[Prediction]:
        """One encode + search for every text of the batch."""
        self.sync()
        store = self.model  # one version for the whole batch
        k = max(item.top_k for item in items)
        return self._trim(store.classify([item.text for item in items], top_k=k), items)


class ServedRun(_Served):
    """A trained run: ``/v1/predict`` (text, video and audio features or clips)."""

    kind = "run"

    def __init__(self, path: str | os.PathLike, **options: Any):
        self._featurizing = threading.Lock()
        super().__init__(path, **options)

    def _load(self) -> tuple[Any, str]:
        from ..predict import Predictor

        version = _digest(self.path / "run.json")
        predictor = Predictor.from_run(
            self.path,
            seed=self.options.get("seed"),
            device=self.options.get("device"),
            oos_detector=self.options.get("oos_detector"),
        )
        return predictor, version

    def warm_up(self) -> None:
        """Nothing: a text-only pass would log a warning for a multimodal model."""

    def label_names(self) -> list[str]:
        """The served label names, in model order."""
        return self.model.labels

    def labels(self) -> list[dict[str, Any]]:
        """Each label with the descriptions the run was trained with (if saved)."""
        from ..descriptions import Descriptions
        from ..training.runs import DESCRIPTIONS_FILE

        described = self.path / DESCRIPTIONS_FILE
        known = Descriptions.from_yaml(described) if described.is_file() else Descriptions()
        return [
            {
                "label": name,
                "descriptions": list(known[name]) if name in known else [],
                "source": known.entry(name).source if name in known else None,
            }
            for name in self.label_names()
        ]

    def featurize(self, video: list[Any] | None, audio: list[Any] | None) -> tuple[Any, Any]:
        """``(video, audio)`` with each raw clip replaced by its features, made as the run's
        training features were (one request at a time: extractors are not thread-safe)."""
        from ..media.clips import ClipInputs

        with self._featurizing:
            predictor = self.model
            clips = predictor.clips or ClipInputs({}, {}, predictor.config.modalities)
            return clips.convert(video, audio)

    @property
    def modalities(self) -> tuple[str, ...]:
        """The feature inputs the model fuses (``video``, ``audio``)."""
        return tuple(self.model.config.modalities)

    def run_batch(self, items: list[PredictItem]) -> list[Prediction]:
        """Items with the same inputs (text only, or text + features) share a forward pass."""
        self.sync()
        predictor = self.model
        results: list[Prediction | None] = [None] * len(items)
        groups: dict[tuple[bool, bool], list[int]] = {}
        for position, item in enumerate(items):
            groups.setdefault((item.video is not None, item.audio is not None), []).append(position)
        k = max(item.top_k for item in items)
        for (has_video, has_audio), positions in groups.items():
            chosen = [items[p] for p in positions]
            predictions = predictor.predict(
                [item.text for item in chosen],
                video=[item.video for item in chosen] if has_video else None,
                audio=[item.audio for item in chosen] if has_audio else None,
                top_k=k,
                batch_size=max(1, len(chosen)),
            )
            for position, prediction in zip(
                positions, self._trim(predictions, chosen), strict=True
            ):
                results[position] = prediction
        return [p for p in results if p is not None]


def open_served(path: str | os.PathLike, **options: Any) -> ServedStore | ServedRun:
    """A loaded store or run; ``options``: ``device``, and for runs ``seed``, ``oos_detector``."""
    kind = served_kind(path)
    if kind == "store":
        unknown = {k for k, v in options.items() if v is not None} & {"seed", "oos_detector"}
        if unknown:
            raise LabelsyncError(
                f"{path} is a label store: --{sorted(unknown)[0].replace('_', '-')} is for runs"
            )
        return ServedStore(path, device=options.get("device"))
    return ServedRun(path, **options)
