"""``TrainConfig``: every training choice in one typed, validated, frozen dataclass.

Resolution order: field defaults < ``--config`` YAML < command-line overrides
(``TrainConfig.resolve(path, epochs=3, ...)``); the result is frozen and saved as ``config.yaml``
in the run directory, which ``--resume`` and ``evaluate`` read back. Defaults follow seed 003
(A-MESS) Section III-D and SPEC section 7: AdamW lr 2e-5, batch 8, up to 40 epochs with
patience 8 on the dev metric.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .._io import atomic_write_text, read_yaml
from ..errors import LabelsyncError

__all__ = ["TrainConfig", "ConfigError", "METRICS", "OOS_MODES"]

METRICS = ("macro_f1", "accuracy")
_METRIC_ALIASES = {"f1": "macro_f1", "macro-f1": "macro_f1", "acc": "accuracy"}
OOS_MODES = ("drop", "class")  # "class": K+1-way, out-of-scope as an extra class (MIntRec2.0)
PAD_MODES = ("longest", "max_length")
PRECISIONS = ("no", "fp16", "bf16")
_ALIASES = {"lr": "learning_rate", "num_epochs": "epochs", "seed": "seeds"}
# AMessConfig fields that TrainConfig sets itself or derives from the data and descriptions
_MODEL_MANAGED = {
    "encoder_name_or_path",
    "label_names",
    "num_labels",
    "video_dim",
    "audio_dim",
    "desc_dim",
    "max_descriptions",
    "max_text_len",
    "max_video_len",
    "max_audio_len",
    "k",
    "tau",
    "dropout",
    "lambda_ss",
    "lambda_lga",
    "use_ame",
    "use_ss",
    "use_label_attention",
}


class ConfigError(LabelsyncError, ValueError):
    """A training option is unknown, of the wrong type or out of range (named in the message)."""


@dataclass(frozen=True)
class TrainConfig:
    """Training options (data, descriptions, model switches, optimisation, hardware).

    Attributes:
        dataset / data_dir: ``mintrec``, ``mintrec2``, ``clinc150`` (+ its folder) or a custom path.
        labels: a label file or preset replacing the dataset's label list (e.g. a subset).
        text_only: ignore feature files (A-ME is skipped automatically without video/audio).
        oos_mode: ``"drop"``: out-of-scope rows are removed from every split (in-scope training);
            ``"class"``: they are kept as class ``K`` (K+1-way training, the MIntRec2.0 protocol).
        known_ratio: the open-intent protocol (TEXTOIR): keep a random share of the classes as
            known (drawn with the first seed); the others are dropped from train and become
            out-of-scope rows in dev/test. ``1.0`` (default) keeps every class.
        descriptions: a descriptions YAML; ``reviewed_descriptions``: the preset's shipped set;
            neither: generated with ``describe()`` (cached).
        embedder / description_template: the SentenceBERT model and the text it embeds per
            description (default ``"{name}: {description}"``, the label store's default).
        encoder, use_ame, use_ss, use_label_attention, k, tau, dropout, lambda_ss, lambda_lga,
            max_*_len: the ``AMessConfig`` fields of the same meaning; ``model_options``: any
            other ``AMessConfig`` field (``align_method``, ``ame_num_heads``, ...).
        metric: dev metric for the best checkpoint and early stopping (``macro_f1``/``accuracy``).
        pad_to: ``"longest"`` (per batch; the model is padding-invariant) or ``"max_length"``.
        cpu / mixed_precision / gradient_accumulation_steps: passed to ``accelerate.Accelerator``;
            the number of processes comes from the launcher (``accelerate launch``, ``torchrun``),
            and ``batch_size`` is per process. ``compile``: ``torch.compile`` (inductor).
        full_determinism: also ``torch.use_deterministic_algorithms`` (CPU runs repeat without it).
    """

    dataset: str = ""
    data_dir: str | None = None
    labels: str | None = None
    text_only: bool = False
    allow_pickle: bool = False
    oos_mode: str = "drop"
    known_ratio: float = 1.0
    max_text_len: int = 50
    max_video_len: int = 180
    max_audio_len: int = 400
    descriptions: str | None = None
    reviewed_descriptions: bool = False
    embedder: str = "all-MiniLM-L6-v2"
    description_template: str = "{name}: {description}"
    encoder: str = "all-MiniLM-L6-v2"
    use_ame: bool = True
    use_ss: bool = True
    use_label_attention: bool = True
    k: int = 8
    tau: float = 0.7
    dropout: float = 0.1
    lambda_ss: float = 1.0
    lambda_lga: float = 0.5
    model_options: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    batch_size: int = 8
    eval_batch_size: int = 32
    epochs: int = 40
    patience: int = 8
    metric: str = "macro_f1"
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    pad_to: str = "longest"
    cpu: bool = False
    mixed_precision: str = "no"
    compile: bool = False
    num_workers: int = 0
    full_determinism: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, getattr(self, f.name), hints[f.name]))
        metric = _METRIC_ALIASES.get(self.metric.lower(), self.metric.lower())
        object.__setattr__(self, "metric", metric)
        self._validate()

    def _validate(self) -> None:
        """Range and choice checks; one ``ConfigError`` line naming the option."""
        if not self.dataset.strip():
            raise ConfigError("dataset must be given (mintrec, mintrec2, clinc150 or a path)")
        choices = {
            "metric": METRICS,
            "oos_mode": OOS_MODES,
            "pad_to": PAD_MODES,
            "mixed_precision": PRECISIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        positive = ("batch_size", "eval_batch_size", "epochs", "patience", "k")
        positive += ("gradient_accumulation_steps", "max_text_len", "max_video_len")
        for name in (*positive, "max_audio_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.known_ratio <= 1.0:
            raise ConfigError(f"known_ratio must be in (0, 1], got {self.known_ratio}")
        if self.learning_rate <= 0 or self.tau <= 0:
            raise ConfigError("learning_rate and tau must be > 0")
        if not 0.0 <= self.warmup_ratio < 1.0 or not 0.0 <= self.dropout < 1.0:
            raise ConfigError("warmup_ratio and dropout must be in [0, 1)")
        for name in ("weight_decay", "max_grad_norm", "lambda_ss", "lambda_lga", "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be a non-empty list without repeats, got {self.seeds}")
        if "{description}" not in self.description_template:
            raise ConfigError("description_template must contain '{description}'")
        if self.descriptions and self.reviewed_descriptions:
            raise ConfigError("give descriptions (a file) or reviewed_descriptions, not both")
        from ..model.configuration import AMessConfig

        known = {f.name for f in fields(AMessConfig)} - _MODEL_MANAGED
        for key in self.model_options:
            if key not in known:
                raise ConfigError(
                    f"unknown model option {key!r}{_hint(key, known)}; "
                    f"allowed: {', '.join(sorted(known))}"
                )

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a mapping (YAML/JSON); aliases ``lr``, ``num_epochs``, ``seed`` accepted."""
        if not isinstance(data, dict):
            raise ConfigError(f"a training config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = _ALIASES.get(str(key), str(key)).replace("-", "_")
            if name not in known:
                raise ConfigError(f"unknown training option {key!r}{_hint(name, known)}")
            values[name] = value
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> TrainConfig:
        """Read a YAML config file (the ``--config`` file or a run's ``config.yaml``)."""
        return cls.resolve(path)

    @classmethod
    def resolve(cls, config_file: str | os.PathLike | None = None, **overrides: Any) -> TrainConfig:
        """Defaults < ``config_file`` < ``overrides`` (``None`` values mean "not given")."""
        base = _read_yaml(Path(config_file)) if config_file else {}
        base = {_ALIASES.get(str(k), str(k)): v for k, v in base.items()}
        given = {_ALIASES.get(k, k): v for k, v in overrides.items() if v is not None}
        options = {**(base.get("model_options") or {}), **given.pop("model_options", {})}
        merged = {**base, **given}
        if options or "model_options" in merged:
            merged["model_options"] = options
        try:
            return cls.from_dict(merged)
        except ConfigError as exc:
            raise ConfigError(f"{config_file}: {exc}" if config_file else str(exc)) from None

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    # --- output -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists, no tuples) that ``from_dict`` reads back."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["seeds"] = list(self.seeds)
        data["model_options"] = dict(self.model_options)
        return data

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """YAML text of ``to_dict``; written atomically to ``path`` when given."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            atomic_write_text(path, text)
        return text

    def model_config(
        self,
        label_names: list[str],
        feature_dims: dict[str, int],
        desc_dim: int,
        max_descriptions: int,
    ) -> Any:
        """The ``AMessConfig`` for a dataset: labels, feature widths and description shape."""
        from ..model.configuration import AMessConfig

        try:
            return AMessConfig(
                encoder_name_or_path=self.encoder,
                label_names=list(label_names),
                video_dim=None if self.text_only else feature_dims.get("video"),
                audio_dim=None if self.text_only else feature_dims.get("audio"),
                max_text_len=self.max_text_len,
                max_video_len=self.max_video_len,
                max_audio_len=self.max_audio_len,
                k=self.k,
                tau=self.tau,
                dropout=self.dropout,
                desc_dim=desc_dim,
                max_descriptions=max_descriptions,
                lambda_ss=self.lambda_ss,
                lambda_lga=self.lambda_lga,
                use_ame=self.use_ame,
                use_ss=self.use_ss,
                use_label_attention=self.use_label_attention,
                **self.model_options,
            )
        except ValueError as exc:
            raise ConfigError(f"model config: {exc}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path, ConfigError, "config file") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a training config must be a mapping of options")
    return data


def _hint(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against the field type; ints pass as floats, lists as tuples."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{name} must not be empty")
    if type(None) in args:  # X | None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:  # seeds
        items = [value] if isinstance(value, int) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{name} must be a list of integers, got {value!r}")
        return tuple(_coerce(name, item, args[0]) for item in items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 2e-5 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    return value
