"""Descriptions: label -> short natural-language descriptions, with where each set came from.

The YAML form is what a person reviews and edits::

    labels:
      - label: Complain
        descriptions: [Expressing dissatisfaction about something., ...]
        source: llm            # llm | reviewed | user
      - label: Taunt
        descriptions: []       # name only: the LLM failed (see 'failed'); fill in to fix
        failed: 0 of 3 valid descriptions after 8 answers (...)
        model: SmolLM2-135M-Instruct.Q4_1.gguf
        prompt_hash: 3f2a...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from ._io import atomic_write_text, read_yaml
from .errors import LabelFileError
from .labels import PRESETS, LabelSet, normalize_label

__all__ = ["Descriptions", "LabelDescriptions"]

SOURCES = ("llm", "reviewed", "user")


@dataclass
class LabelDescriptions:
    """One label's semantics: its descriptions, example utterances and their provenance.

    The same record is what ``describe`` writes for review and what a label store holds per
    label (``examples`` are the few-shot utterances a store or a fit adds).
    """

    label: str
    descriptions: list[str]
    source: str = "llm"
    model: str | None = None
    prompt_hash: str | None = None
    examples: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """The YAML/JSON record; ``examples`` only when there are some."""
        record = asdict(self)
        record.pop("extra")
        if not record["examples"]:
            record.pop("examples")
        record.update(self.extra)
        return record


class Descriptions(Mapping[str, list[str]]):
    """Label -> list of descriptions, looked up by any spelling of the label name.

    A label may have no descriptions (``[]``): it is then represented by its name alone.
    """

    def __init__(self, entries: Iterable[LabelDescriptions] = ()):
        self._entries: dict[str, LabelDescriptions] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: LabelDescriptions) -> None:
        """Add or replace the descriptions of ``entry.label``."""
        self._entries[normalize_label(entry.label)] = entry

    def update(self, other: Descriptions) -> None:
        for entry in other.entries():
            self.add(entry)

    def entry(self, label: str) -> LabelDescriptions:
        try:
            return self._entries[normalize_label(label)]
        except KeyError:
            raise KeyError(f"no descriptions for label {label!r}") from None

    def entries(self) -> list[LabelDescriptions]:
        return list(self._entries.values())

    @property
    def labels(self) -> LabelSet:
        return LabelSet(entry.label for entry in self._entries.values())

    def subset(self, labels: Iterable[str]) -> Descriptions:
        """The entries of ``labels`` (in that order); labels without descriptions are skipped."""
        keys = [normalize_label(label) for label in labels]
        return Descriptions(self._entries[k] for k in keys if k in self._entries)

    def __getitem__(self, label: str) -> list[str]:
        return self.entry(label).descriptions

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and normalize_label(label) in self._entries

    def __iter__(self) -> Iterator[str]:
        return (entry.label for entry in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Descriptions({len(self)} labels)"

    # -- YAML ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"labels": [entry.to_dict() for entry in self._entries.values()]}

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The reviewable YAML text; written atomically to ``path`` when given."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_yaml(cls, path: str | Path, *, default_source: str = "user") -> Descriptions:
        """Read and validate a descriptions file (YAML or JSON); errors name the file and label."""
        path = Path(path)
        data = read_yaml(path, LabelFileError, "descriptions file")
        return cls.from_dict(data, origin=str(path), default_source=default_source)

    @classmethod
    def from_dict(
        cls, data: object, *, origin: str = "descriptions", default_source: str = "user"
    ) -> Descriptions:
        records = data.get("labels") if isinstance(data, dict) else data
        if isinstance(records, dict):  # the compact form {label: [descriptions]}
            records = [{"label": k, "descriptions": v} for k, v in records.items()]
        if not isinstance(records, list) or not records:
            raise LabelFileError(f"{origin}: no labels found (expected 'labels:' with a list)")
        result = cls()
        for position, record in enumerate(records, start=1):
            if not isinstance(record, dict) or not isinstance(record.get("label"), str):
                raise LabelFileError(f"{origin}: entry {position} has no 'label' name")
            label = record["label"].strip()
            texts = record.get("descriptions")
            if isinstance(texts, str):
                texts = [texts]
            if texts is None or not isinstance(texts, list):
                raise LabelFileError(f"{origin}: label {label!r} has no 'descriptions' list")
            cleaned = []
            for number, text in enumerate(texts, start=1):
                if not isinstance(text, str) or not text.strip():
                    raise LabelFileError(
                        f"{origin}: label {label!r}: description {number} is empty"
                    )
                if normalize_label(text) in {normalize_label(t) for t in cleaned}:
                    raise LabelFileError(
                        f"{origin}: label {label!r}: description {number} repeats an earlier one"
                    )
                cleaned.append(" ".join(text.split()))
            if label in result:
                raise LabelFileError(f"{origin}: label {label!r} appears twice")
            source = record.get("source", default_source)
            if source not in SOURCES:
                raise LabelFileError(
                    f"{origin}: label {label!r}: source {source!r} is not one of {SOURCES}"
                )
            examples = record.get("examples") or []
            if not isinstance(examples, list) or not all(
                isinstance(e, str) and e.strip() for e in examples
            ):
                raise LabelFileError(f"{origin}: label {label!r}: 'examples' must list texts")
            known = {"label", "descriptions", "source", "model", "prompt_hash", "examples"}
            result.add(
                LabelDescriptions(
                    label=label,
                    descriptions=cleaned,
                    source=source,
                    model=record.get("model"),
                    prompt_hash=record.get("prompt_hash"),
                    examples=[" ".join(e.split()) for e in examples],
                    extra={k: v for k, v in record.items() if k not in known},
                )
            )
        return result

    @classmethod
    def coerce(cls, source: object) -> Descriptions:
        """``Descriptions`` from what the API accepts: Descriptions, a YAML/JSON path, a
        ``{label: [descriptions]}`` mapping, or label names (name-only labels, ``source: user``)."""
        if isinstance(source, Descriptions):
            return source
        if isinstance(source, (str, Path)) and Path(source).suffix in (".yaml", ".yml", ".json"):
            return cls.from_yaml(source)
        if isinstance(source, Mapping):
            entries = []
            _check_unique([str(name) for name in source])
            for name, texts in source.items():
                texts = [texts] if isinstance(texts, str) else list(texts or [])
                texts = [" ".join(str(t).split()) for t in texts if str(t).strip()]
                if not texts:
                    raise LabelFileError(f"label {name!r} has no descriptions")
                entries.append(LabelDescriptions(str(name).strip(), texts, source="user"))
            return cls(entries)
        if isinstance(source, (LabelSet, list, tuple)) and all(isinstance(n, str) for n in source):
            _check_unique(list(source))
            return cls(LabelDescriptions(str(n).strip(), [], source="user") for n in source)
        raise LabelFileError(
            f"cannot build labels from {type(source).__name__}; give Descriptions, a YAML file, "
            "a {label: [descriptions]} mapping or a list of names"
        )

    @classmethod
    def reviewed(cls, preset: str) -> Descriptions:
        """The hand-written description set shipped for a preset (``source: reviewed``)."""
        key = preset.strip().lower()
        if key not in PRESETS:
            raise LabelFileError(f"no reviewed descriptions for {preset!r}; presets: {PRESETS}")
        resource = resources.files("labelsync.presets") / "reviewed" / f"{key}.yaml"
        with resources.as_file(resource) as path:
            return cls.from_yaml(path, default_source="reviewed")


def _check_unique(names: list[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        key = normalize_label(name)
        if not key:
            raise LabelFileError("a label has an empty name")
        if key in seen:
            raise LabelFileError(f"label {name!r} appears twice (also as {seen[key]!r})")
        seen[key] = name
