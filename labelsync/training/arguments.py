"""``TrainConfig``: every training choice in one typed, validated, frozen dataclass.

It holds the model template (a ``ModelConfig`` without labels; the trainer binds it to the data)
next to the data, description and optimisation options. Resolution order: field defaults <
preset (``--preset``, a YAML shipped in ``labelsync/presets/models/``) < ``--config`` YAML <
command-line overrides (``TrainConfig.resolve(path, preset="a-mess", epochs=3, ...)``); the
result is frozen and saved as ``config.yaml`` in the run directory, which ``--resume`` and
``evaluate`` read back. The defaults are the ``a-mess`` preset: the published model (seed 003)
with its Section III-D settings and SPEC section 7: AdamW lr 2e-5, batch 8, up to 40 epochs with
patience 8 on the dev metric.

Model options may be given flat (``k: 4``, ``encoder: minilm``, ``fusion: none``, and the older
``use_ame``, ``model_options: {...}``) or under ``model:``; either way they land in ``model``.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .._io import atomic_write_text, read_yaml
from ..errors import ConfigError
from ..model.configuration import ModelConfig, normalise_keys
from .options import coerce as _coerce
from .options import hint as _hint
from .presets import available_presets, preset_layers
from .task_metrics import default_metric
from .tasks import check_task_options

__all__ = ["TrainConfig", "ConfigError", "METRICS", "OOS_MODES", "available_presets"]

METRICS = ("macro_f1", "accuracy")  # single-label; every task: task_metrics.TASK_METRICS
_METRIC_ALIASES = {
    "f1": "macro_f1",
    "macro-f1": "macro_f1",
    "micro-f1": "micro_f1",
    "acc": "accuracy",
}
OOS_MODES = ("drop", "class")  # "class": K+1-way, out-of-scope as an extra class (MIntRec2.0)
PAD_MODES = ("longest", "max_length")
PRECISIONS = ("no", "fp16", "bf16")
_ALIASES = {"lr": "learning_rate", "num_epochs": "epochs", "seed": "seeds"}
# ModelConfig fields that come from the data and the descriptions, never from options
_DATA_GIVEN = {
    "label_names",
    "num_labels",
    "video_dim",
    "audio_dim",
    "desc_dim",
    "max_descriptions",
    "thresholds",
}
_MODEL_FIELDS = {f.name for f in fields(ModelConfig)} | {"use_ame", "encoder"}
DEFAULT_PRESET = "a-mess"


@dataclass(frozen=True, init=False)
class TrainConfig:
    """Training options (data, descriptions, model switches, optimisation, hardware).

    Attributes:
        dataset / data_dir: ``mintrec``, ``mintrec2``, ``clinc150`` (+ its folder) or a custom path.
        labels: a label file or preset replacing the dataset's label list (e.g. a subset).
        text_only: ignore feature files (A-ME is skipped automatically without video/audio).
        video_feats / audio_feats: a feature file (or folder) picked explicitly, when a dataset
            folder holds several candidates or the features live elsewhere.
        oos_mode: ``"drop"``: out-of-scope rows are removed from every split (in-scope training);
            ``"class"``: they are kept as class ``K`` (K+1-way training, the MIntRec2.0 protocol).
        known_ratio: the open-intent protocol (TEXTOIR): keep a random share of the classes as
            known (drawn with the first seed); the others are dropped from train and become
            out-of-scope rows in dev/test. ``1.0`` (default) keeps every class.
        descriptions: a descriptions YAML; ``reviewed_descriptions``: the preset's shipped set;
            neither: generated with ``describe()`` (cached).
        embedder / description_template: the SentenceBERT model and the text it embeds per
            description (default ``"{name}: {description}"``, the label store's default).
        preset: the shipped preset the options started from (recorded; see ``resolve``).
        model: the model template (``ModelConfig`` without labels): encoder, fusion, heads,
            loss weights, padding lengths.
        metric: dev metric for the best checkpoint and early stopping; default by task
            (``model.task``): ``macro_f1`` (single-label; or ``accuracy``), ``micro_f1``
            (multi-label), ``mae`` (regression; lower is better, as is ``hamming_loss``). Any
            metric of the task (``task_metrics.TASK_METRICS``) may be chosen.
        threshold: multi-label only: one decision threshold for every label; ``None`` (default)
            chooses one per label on dev (best F1 of that label), saved with the checkpoint.
        emotions: CMU-MOSEI only: a CSV of per-sample emotions (``id`` + six columns), the
            multi-label targets when the data file carries none.
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
    video_feats: str | None = None
    audio_feats: str | None = None
    allow_pickle: bool = False
    oos_mode: str = "drop"
    known_ratio: float = 1.0
    preset: str | None = DEFAULT_PRESET
    model: ModelConfig = field(default_factory=ModelConfig)
    descriptions: str | None = None
    reviewed_descriptions: bool = False
    embedder: str = "all-MiniLM-L6-v2"
    description_template: str = "{name}: {description}"
    seeds: tuple[int, ...] = (0,)
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    batch_size: int = 8
    eval_batch_size: int = 32
    epochs: int = 40
    patience: int = 8
    metric: str | None = None
    threshold: float | None = None
    emotions: str | None = None
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

    def __init__(self, **options: Any) -> None:
        """Any option of ``from_dict``: the fields, and model options flat or under ``model``."""
        values = _route(options)
        for f in fields(self):
            if f.name in values:
                value = values[f.name]
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                value = f.default
            object.__setattr__(self, f.name, value)
        self.__post_init__()

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self), {"ModelConfig": ModelConfig})
        for f in fields(self):
            if f.name == "model":
                continue
            object.__setattr__(self, f.name, _coerce(f.name, getattr(self, f.name), hints[f.name]))
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", _model_template({}, self.model))
        if not isinstance(self.model, ModelConfig):
            raise ConfigError(f"model must be a ModelConfig or a mapping, got {self.model!r}")
        given = sorted(name for name in _DATA_GIVEN if _is_set(self.model, name))
        if given:
            raise ConfigError(f"model option {given[0]!r} comes from the data; leave it out")
        metric = default_metric(self.task) if self.metric is None else self.metric.lower()
        object.__setattr__(self, "metric", _METRIC_ALIASES.get(metric, metric))
        self._validate()
        check_task_options(self)

    def _validate(self) -> None:
        """Range and choice checks; one ``ConfigError`` line naming the option."""
        if not self.dataset.strip():
            raise ConfigError("dataset must be given (mintrec, mintrec2, clinc150 or a path)")
        choices = {
            "oos_mode": OOS_MODES,
            "pad_to": PAD_MODES,
            "mixed_precision": PRECISIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        positive = ("batch_size", "eval_batch_size", "epochs", "patience")
        for name in (*positive, "gradient_accumulation_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.known_ratio <= 1.0:
            raise ConfigError(f"known_ratio must be in (0, 1], got {self.known_ratio}")
        if self.learning_rate <= 0:
            raise ConfigError("learning_rate must be > 0")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError("warmup_ratio must be in [0, 1)")
        for name in ("weight_decay", "max_grad_norm", "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be a non-empty list without repeats, got {self.seeds}")
        if "{description}" not in self.description_template:
            raise ConfigError("description_template must contain '{description}'")
        if self.descriptions and self.reviewed_descriptions:
            raise ConfigError("give descriptions (a file) or reviewed_descriptions, not both")
        if self.preset is not None and self.preset not in available_presets():
            raise ConfigError(
                f"unknown preset {self.preset!r}{_hint(self.preset, set(available_presets()))}; "
                f"presets: {', '.join(available_presets())}"
            )

    @property
    def encoder(self) -> str:
        """The text encoder of the model (``model.encoder_name_or_path``)."""
        return self.model.encoder_name_or_path

    @property
    def task(self) -> str:
        """``single_label``, ``multi_label`` or ``regression`` (``model.task``)."""
        return self.model.task

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a mapping (YAML/JSON): flat or nested model options, aliases ``lr``,
        ``num_epochs``, ``seed`` accepted. No preset is applied (see ``resolve``)."""
        if not isinstance(data, dict):
            raise ConfigError(f"a training config must be a mapping, got {type(data).__name__}")
        return cls(**{str(k): v for k, v in data.items()})

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> TrainConfig:
        """Read a YAML config file (a run's ``config.yaml``); no preset is applied."""
        try:
            return cls.from_dict(_read_yaml(Path(path)))
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    @classmethod
    def resolve(
        cls,
        config_file: str | os.PathLike | None = None,
        *,
        preset: str | None = None,
        **overrides: Any,
    ) -> TrainConfig:
        """Defaults < preset < ``config_file`` < ``overrides`` (``None`` values: not given).

        The preset is ``preset``, else the file's ``preset:`` key, else ``a-mess``.
        """
        base = _read_yaml(Path(config_file)) if config_file else {}
        given = {k: v for k, v in overrides.items() if v is not None}
        name = preset or base.get("preset") or DEFAULT_PRESET
        try:
            layers = [*preset_layers(name), base, given]
            merged = _merge(layers) | {"preset": name}
            return cls.from_dict(merged)
        except ConfigError as exc:
            raise ConfigError(f"{config_file}: {exc}" if config_file else str(exc)) from None

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    # --- output -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists, no tuples; the model without its data-given fields) that
        ``from_dict`` reads back."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["seeds"] = list(self.seeds)
        model = self.model.to_dict()
        data["model"] = {k: v for k, v in model.items() if k not in _DATA_GIVEN}
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
        max_lengths: Any = None,
    ) -> ModelConfig:
        """The model config bound to a dataset: labels, feature widths, description shape and
        (when given) the dataset's padding lengths."""
        data: dict[str, Any] = {
            "video_dim": None if self.text_only else feature_dims.get("video"),
            "audio_dim": None if self.text_only else feature_dims.get("audio"),
            "desc_dim": desc_dim,
            "max_descriptions": max_descriptions,
        }
        if max_lengths is not None:
            data |= {f"max_{m}_len": max_lengths.get(m) for m in ("text", "video", "audio")}
        if self.task == "regression":  # one score, no classes to describe or attend with
            data |= {"use_ss": False, "use_label_attention": False}
        try:
            return self.model.bind(list(label_names), **data)
        except ValueError as exc:
            raise ConfigError(f"model config: {exc}") from None


def _route(options: dict[str, Any]) -> dict[str, Any]:
    """Field values from options: aliases resolved, model options gathered into ``model``."""
    known = {f.name for f in fields(TrainConfig)}
    values: dict[str, Any] = {}
    model: ModelConfig | None = None
    extra: dict[str, Any] = {}
    for key, value in options.items():
        name = _ALIASES.get(str(key), str(key)).replace("-", "_")
        if name == "model" and isinstance(value, ModelConfig):
            model = value
        elif name in ("model", "model_options"):  # model_options: the earlier spelling
            extra.update(_mapping(name, value))
        elif name in known:
            values[name] = value
        elif name in _MODEL_FIELDS:
            extra[name] = value
        else:
            raise ConfigError(
                f"unknown training option {key!r}{_hint(name, known | _MODEL_FIELDS)}"
            )
    if model is not None and extra:
        model = _model_template(_explicit(model), extra)
    values["model"] = model if model is not None else _model_template({}, extra)
    return values


def _explicit(model: ModelConfig) -> dict[str, Any]:
    """The fields of a model template that differ from the defaults."""
    return {f.name: getattr(model, f.name) for f in fields(model) if _is_set(model, f.name)}


def _merge(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Later layers win; model options (flat or under ``model:``/``model_options:``) merge."""
    merged: dict[str, Any] = {}
    model: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            key = _ALIASES.get(str(key), str(key)).replace("-", "_")
            if key in ("model", "model_options"):
                model.update(normalise_keys(_mapping(key, value)))
            elif key in _MODEL_FIELDS and key not in {f.name for f in fields(TrainConfig)}:
                model.update(normalise_keys({key: value}))
            else:
                merged[key] = value
    if model:
        merged["model"] = model
    return merged


def _mapping(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping of model options, got {value!r}")
    return dict(value)


def _model_template(base: dict[str, Any], options: dict[str, Any]) -> ModelConfig:
    """An unbound ``ModelConfig`` from option mappings; errors name the option."""
    options = normalise_keys({**base, **options})
    allowed = {f.name for f in fields(ModelConfig)} | {"use_ame"}
    for key in options:
        if key not in allowed:
            raise ConfigError(f"unknown model option {key!r}{_hint(key, allowed)}")
        if key in _DATA_GIVEN:
            raise ConfigError(f"model option {key!r} comes from the data; leave it out")
    hints = typing.get_type_hints(ModelConfig)
    try:
        checked = {
            k: _coerce(k, v, hints[k]) if k in hints and v is not None else v
            for k, v in options.items()
        }
        return ModelConfig(**checked)
    except ValueError as exc:
        raise ConfigError(f"model config: {exc}") from None


def _is_set(model: ModelConfig, name: str) -> bool:
    default = next(f for f in fields(ModelConfig) if f.name == name)
    value = getattr(model, name)
    if default.default_factory is not dataclasses.MISSING:
        return value != default.default_factory()
    return value != default.default


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path, ConfigError, "config file") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a training config must be a mapping of options")
    return data
