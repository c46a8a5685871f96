"""``ReviewSession``: one descriptions file under review, and everything the page computes on it.

The page holds the working copy; the session is stateless about edits. It keeps an embedding
cache (so an edit re-embeds only what changed), the dev rows' vectors, and the labels it
regenerated. Provenance is decided here, the same way for the analysis and for saving:
descriptions equal to the file's keep their record, equal to a regeneration are ``llm``, a new
label is ``user``, anything else edited is ``reviewed``.

Saving is a compare-and-swap on the file's sha256: a page that loaded an older version (another
tab saved since, or an editor) is refused and keeps its edits; the file is never overwritten
blind. The previous file is kept as ``<name>.bak``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._io import atomic_write_bytes, atomic_write_text
from ...descriptions import Descriptions, LabelDescriptions
from ...errors import LabelFileError, LabelsyncError
from ...labels import normalize_label
from .analysis import DevSet, confusable_pairs, dev_report
from .embedding import CachingEmbedder

__all__ = ["ReviewOptions", "ReviewSession", "StaleVersion"]


class StaleVersion(LabelsyncError):
    """The file changed since the page loaded it (the server answers 409)."""


@dataclass(frozen=True)
class ReviewOptions:
    """What ``labelsync review`` was started with."""

    descriptions: Path
    store: Path | None = None  # scoring settings, embedder, examples and threshold come from it
    data: Path | None = None  # dev CSV/TSV/JSONL with text,label
    embedder: str | None = None  # without a store (default: the store default, MiniLM)
    backend: str = "llamacpp"  # for "regenerate"
    model: str | None = None
    base_url: str | None = None
    cache_dir: str | None = None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ReviewSession:
    """The review of one descriptions file (thread-safe: one lock around model work)."""

    def __init__(self, options: ReviewOptions):
        from ...store import LabelStore
        from ...store.label_store import (
            DEFAULT_AGGREGATE,
            DEFAULT_EXAMPLE_WEIGHT,
            DEFAULT_NAME_WEIGHT,
            DEFAULT_TEMPLATE,
        )

        self.options = options
        self.path = Path(options.descriptions)
        self.token = secrets.token_urlsafe(24)  # the page sends it back on every API call
        self._lock = threading.RLock()
        self._disk()  # a broken file fails now, in one line
        self.settings: dict[str, Any] = {
            "template": DEFAULT_TEMPLATE,
            "name_weight": DEFAULT_NAME_WEIGHT,
            "aggregate": DEFAULT_AGGREGATE,
            "example_weight": DEFAULT_EXAMPLE_WEIGHT,
        }
        self.threshold: float | None = None
        self._examples: dict[str, list[str]] = {}
        embedder, body = options.embedder, None
        if options.store is not None:
            store = LabelStore.load(options.store)  # files only; the model loads below
            self.settings = {k: getattr(store, k) for k in self.settings}
            info = store.threshold_info
            # a calibrated or hand-set threshold is kept; a default one is derived again by each
            # working copy, except in a fitted space, whose spread only the fitted store knows
            if info is not None and (info.method != "default" or store.fit_info is not None):
                self.threshold = info.value
            self._examples = {normalize_label(e.label): list(e.examples) for e in store.entries}
            embedder = store.embedder_name
            if store.fit_info is not None:  # embed with the fitted body (its head is not used)
                body = store.embedder.model
        self.embedder = CachingEmbedder(embedder or _default(), model=body)
        self.dev = self._read_dev(options.data) if options.data else None
        self._regenerated: dict[str, LabelDescriptions] = {}
        self._seeds: dict[str, int] = {}
        self._backend: Any = None
        self._built: tuple[str, Any, int] | None = None  # (key, store, texts embedded)

    # -- the file -----------------------------------------------------------------------------
    def _disk(self) -> tuple[bytes, Descriptions]:
        data = self.path.read_bytes() if self.path.is_file() else b""
        if not data:
            raise LabelFileError(f"{self.path}: descriptions file not found or empty")
        return data, Descriptions.from_yaml(self.path)

    def document(self) -> dict[str, Any]:
        """The file as the page shows it: its version, labels, and what the session can do."""
        with self._lock:
            data, disk = self._disk()
        return {
            "path": str(self.path),
            "version": _sha256(data),
            "labels": [entry.to_dict() for entry in disk.entries()],
            "embedder": self.embedder.name,
            "settings": {k: v for k, v in self.settings.items()},
            "threshold": self.threshold,
            "dev_rows": len(self.dev.texts) if self.dev else 0,
            "backend": self.options.backend,
            "model": self.options.model,
        }

    # -- the working copy ---------------------------------------------------------------------
    def resolve(self, records: Any, disk: Descriptions | None = None) -> Descriptions:
        """The page's ``[{label, descriptions}]`` as ``Descriptions`` with provenance (see the
        module docstring); bad records are a one-line ``LabelFileError``."""
        if not isinstance(records, list) or not records:
            raise LabelFileError("review page: no labels (keep at least one)")
        shaped = []
        for position, record in enumerate(records, start=1):
            if not isinstance(record, dict):
                raise LabelFileError(f"review page: entry {position} is not a label record")
            shaped.append(
                {"label": record.get("label"), "descriptions": record.get("descriptions")}
            )
        checked = Descriptions.from_dict({"labels": shaped}, origin="review page")
        disk = disk if disk is not None else self._disk()[1]
        result = Descriptions()
        for entry in checked.entries():
            key = normalize_label(entry.label)
            base = disk.entry(entry.label) if entry.label in disk else None
            regenerated = self._regenerated.get(key)
            if base is not None and base.descriptions == entry.descriptions:
                chosen = base
            elif regenerated is not None and regenerated.descriptions == entry.descriptions:
                chosen = regenerated
            elif base is None:
                chosen = LabelDescriptions(entry.label, entry.descriptions, source="user")
            else:
                extra = {k: v for k, v in base.extra.items() if k != "failed"}
                chosen = LabelDescriptions(
                    base.label,
                    entry.descriptions,
                    source="reviewed",
                    model=base.model,
                    prompt_hash=base.prompt_hash,
                    examples=list(base.examples),
                    extra=extra,
                )
            result.add(chosen)
        return result

    def _store_for(self, working: Descriptions) -> tuple[Any, int]:
        """A label store of ``working`` (the last one is reused) and how many texts had to be
        embedded to build it (the others came from the cache)."""
        from ...store import LabelStore

        entries = []
        for entry in working.entries():
            examples = entry.examples or self._examples.get(normalize_label(entry.label), [])
            entries.append(
                LabelDescriptions(entry.label, list(entry.descriptions), entry.source,
                                  examples=list(examples))
            )  # fmt: skip
        key = _sha256(
            json.dumps([e.to_dict() for e in entries], sort_keys=True, ensure_ascii=False).encode()
        )
        if self._built is not None and self._built[0] == key:
            return self._built[1], self._built[2]
        before = self.embedder.encoded
        store = LabelStore.build(Descriptions(entries), embedder=self.embedder, **self.settings)
        store.threshold = self.threshold
        self._built = (key, store, self.embedder.encoded - before)
        return store, self._built[2]

    def evaluate(self, records: Any) -> dict[str, Any]:
        """Provenance, confusable pairs and (with dev data) accuracy of the working copy."""
        with self._lock:
            working = self.resolve(records)
            store, encoded = self._store_for(working)
            report: dict[str, Any] = {
                "sources": {e.label: e.source for e in working.entries()},
                "confusable": confusable_pairs(store),
                "encoded": encoded,
            }
            if self.dev is not None:
                report["dev"] = dev_report(store, self.dev)
            return report

    def try_text(self, records: Any, text: str, top_k: int = 3) -> dict[str, Any]:
        """The top labels of ``text`` under the working copy."""
        if not isinstance(text, str) or not text.strip():
            raise LabelsyncError("type a sentence to try")
        with self._lock:
            store, _ = self._store_for(self.resolve(records))
            (prediction,) = store.classify([text], top_k=top_k)
        return prediction.to_dict()

    # -- regenerate ---------------------------------------------------------------------------
    def regenerate(self, label: str, n: int = 3) -> dict[str, Any]:
        """New descriptions of one label from the configured describe backend (a new seed each
        time, so a second click gives another answer)."""
        from ...describe.describer import DescribeConfig, Describer

        if not isinstance(label, str) or not label.strip():
            raise LabelsyncError("regenerate: no label given")
        if not 1 <= n <= 20:
            raise LabelsyncError("regenerate: n must be between 1 and 20")
        key = normalize_label(label)
        with self._lock:
            self._seeds[key] = self._seeds.get(key, 0) + 1
            config = DescribeConfig(
                n=n,
                backend=self.options.backend,
                model=self.options.model,
                base_url=self.options.base_url,
                cache_dir=self.options.cache_dir,
                seed=self._seeds[key],
                allow_partial=True,
            )
            describer = Describer(config, backend=self._backend)
            self._backend = describer.backend
            result, failures = describer.run([label.strip()])
            if failures:
                raise LabelsyncError(f"regenerating {label!r} failed: {failures[0].reason}")
            entry = result.entry(label)
            self._regenerated[key] = entry
        return entry.to_dict()

    # -- save ---------------------------------------------------------------------------------
    def save(self, version: str, records: Any) -> dict[str, Any]:
        """Write the working copy if the file is still at ``version`` (else ``StaleVersion``);
        the old file is kept as ``<name>.bak``. Returns the new version and provenance."""
        with self._lock:
            data, disk = self._disk()
            if version != _sha256(data):
                raise StaleVersion(
                    f"{self.path.name} was saved elsewhere (another tab or an editor) after this "
                    "page loaded it; nothing was written and your edits are still on this page. "
                    "Copy them, reload to see the saved version, and apply them again."
                )
            working = self.resolve(records, disk)
            atomic_write_bytes(self.path.with_name(self.path.name + ".bak"), data)
            atomic_write_text(self.path, working.to_yaml())
            new = self.path.read_bytes()
        return {"version": _sha256(new), "sources": {e.label: e.source for e in working.entries()}}

    def close(self) -> None:
        """Release the describe backend (a llama.cpp model, an HTTP client)."""
        if self._backend is not None:
            self._backend.close()

    # -- dev data -----------------------------------------------------------------------------
    def _read_dev(self, path: Path) -> DevSet:
        from ...data import read_labelled_texts

        rows = read_labelled_texts(path)
        keep = [row for row in rows if not row.is_oos]
        texts = [row.text for row in keep]
        labels = [row.label for row in keep]
        return DevSet(texts, labels, self.embedder.encode(texts), len(rows) - len(keep))


def _default() -> str:
    from ...store.embedder import DEFAULT_EMBEDDER

    return DEFAULT_EMBEDDER
