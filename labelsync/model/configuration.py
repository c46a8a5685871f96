"""``ModelConfig``: every hyper-parameter of the intent model, validated, saved as ``config.json``.

The defaults are the published A-MESS (seed 003, Section III): A-ME fusion, semantic
synchronisation with the triplet description loss (eq. 15, tau = 0.7), the classifier of eq. 16
over ``[pool(E_f), T_f]`` and the loss of eq. 17 (both terms weighted 1); text/video/audio padded
to 50/180/400, k = 8 anchors. Additions that are not in the paper are off by default and named:
``use_label_attention`` (seed 001, LE-MER label-token attention, its auxiliary CE weighted
``lambda_lga`` and, with ``label_summary``, its label-attended summary in the classifier input),
``fusion="le-mer"`` (LE-MER's label-frame attention and label-guided cross-attention) and the
registered loss terms of ``losses`` (LE-MER eqs. 6 and 10, G2SAM's LGCL).
``docs/model.md`` maps every equation to the code and lists each deviation.

A config may be *unbound* (no labels yet): ``TrainConfig`` holds one as the model template and
binds it to a dataset's labels, feature widths and description shape with ``bind``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import InitVar, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .._io import atomic_write_json
from .._options import check_choices
from ..offline import MPNET, canonical_name

__all__ = [
    "ModelConfig",
    "AMessConfig",
    "CONFIG_NAME",
    "DEFAULT_ENCODER",
    "TASKS",
    "BUILTIN_LOSSES",
    "normalise_keys",
]

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
# the strongest offline base-size encoder (same size as the paper's BERT-base); "minilm" is fast
DEFAULT_ENCODER = MPNET
_ALIGN_METHODS = ("soft", "pool")
_POOLINGS = ("mean", "cls")
TASKS = ("single_label", "multi_label", "regression")  # labelsync.model.tasks
_REGRESSION_LOSSES = ("mae", "mse")
# terms IntentModel computes itself; ``losses`` may reweight them by name
BUILTIN_LOSSES = ("ce", "bce", "mae", "mse", "triplet", "label_ce")


@dataclass
class ModelConfig:
    """Configuration of ``IntentModel``; ``to_dict``/``from_dict`` and ``save``/``load`` round-trip.

    Attributes:
        encoder_name_or_path: text encoder: a short name of a shipped model (``mpnet``, the
            default, or ``minilm``), a local folder or a Hugging Face id.
        label_names: the class names, in id order (ids are positions in this list).
        num_labels: number of classes; derived from ``label_names``. Both empty = unbound.
        task: ``"single_label"`` (softmax over the classes, CE), ``"multi_label"`` (a sigmoid
            per label, BCE; any subset of the labels per sample) or ``"regression"`` (one score
            per sample, a scalar head: exactly one label, the quantity's name; semantic sync and
            label attention need classes and must be off). See ``labelsync.model.tasks``.
        regression_loss: ``"mae"`` (default, the MOSI literature's L1) or ``"mse"``.
        thresholds: multi-label only, one decision threshold per label (a label is predicted
            when its probability reaches it); chosen on dev by the trainer and saved with the
            checkpoint. ``None``: 0.5 for every label.
        video_dim / audio_dim: feature widths of the video / audio inputs; ``None`` = no such
            modality (both ``None`` = a text-only model, no fusion module is built).
        max_text_len / max_video_len / max_audio_len: padding lengths; ``max_text_len`` (50,
            seed 003 III-D) is also l_t, the length video and audio are aligned to in A-ME.
            Video/audio ``None`` in a template: the dataset's release lengths (MIntRec 230/480,
            MIntRec2.0 180/400); a bound config without them takes III-D's 180/400.
        fusion: how video/audio meet the text (a name in ``labelsync.model.fusion.FUSIONS``):
            ``"a-me"`` (A-ME, eqs. 4-13), ``"mag"`` (MAG-BERT), ``"mult"`` (MulT),
            ``"text-guided"`` (MVCN), ``"concat"`` (late fusion), ``"le-mer"`` (seed 001 LE-MER
            eqs. 4-9, after the encoder; needs ``use_label_attention``) or ``"none"`` (the text
            encoder alone: the paper's "w/o A-ME" ablation). ``use_ame=False`` is accepted for
            ``fusion="none"``.
        fusion_options: the chosen fusion's own settings (``FusionSpec.options``: ``carat``,
            ``hycon``; see ``labelsync.model.method_options``); unset keys take the paper's value.
        k: anchors selected per modality (seed 003 III-D, k = 8).
        ame_num_heads / ame_ff_mult / align_method: A-ME attention heads (must divide the
            encoder width), anchor feed-forward width (eqs. 9-10), and how video/audio are
            brought to length l_t: ``"soft"`` (a learned attention over the valid frames per
            target step, the CTC-style aligner of MAG-BERT/MulT) or ``"pool"`` (masked adaptive
            average pooling).
            ``align_method`` also aligns the frames to the tokens for MAG.
        mag_layer: where the MAG gate sits: 0 = on the embeddings (where MIntRec's MAG-BERT
            applies it), i = after encoder layer i.
        mag_beta / mag_dropout / mag_layernorm: the gate's beta (shift bound), the dropout after
            it, and whether ``Z + a H`` is layer-normalised (Rahman et al.; off: ``Z +
            Dropout(a H)``, the identity when the shift is zero).
        mult_dim / mult_heads / mult_layers: MulT's common width, attention heads and crossmodal
            layers (the memory transformers have ``max(mult_layers, 3)``).
        mult_attn_dropout / mult_embed_dropout / mult_out_dropout / mult_text_dropout: MulT's
            attention dropout (streams into video/audio), embedding, output-block and text-input
            dropouts (MIntRec names: attn_dropout_v/_a, embed_, output_, text_dropout).
        tg_layers / tg_num_heads: text-guided units stacked (N; 1 by default) and their heads.
        scc_temperature: ``sqrt(t)`` of the MVCN congruity constraint (seed 001, eq. 4), the
            ``scc`` loss term.
        use_ss: semantic synchronisation (T_f and the triplet loss); False = "w/o SS".
        tau / lambda_ss / triplet_include_positives: temperature and weight of the triplet loss
            (eq. 15, eq. 17); ``True`` puts positives in the denominator (InfoNCE form).
        desc_dim / max_descriptions: width of the description embeddings (the label store's
            embedder) and the description slots per label in the saved description matrix.
        use_label_attention: LE-MER label-token attention (seed 001, eqs. 1-3), not in A-MESS.
        lambda_lga: weight of its auxiliary CE (LE-MER eq. 3).
        label_summary: join the label-attended summary to the classifier input.
        label_logit_scale: initial learned scale on the label cosines (eq. 2 applies softmax to
            raw cosines; a scale lets the auxiliary CE train).
        lambda_ce: weight of the classifier's CE (eq. 16; mu_1 of LE-MER eq. 12), 1 in A-MESS.
        lgcl_tau: temperature of the ``lgcl`` loss term (G2SAM's label-aware contrastive loss;
            the slides give none: 0.1 is our choice).
        pooling: ``"mean"`` (masked mean of E_f) or ``"cls"``.
        dropout: dropout of the fusion blocks, the T_f MLP and the classifier.
        losses: further loss terms by registered name (``labelsync.model.losses.LOSS_TERMS``)
            and weight (``labelsync.model.losses``): ``lemer_frames`` (LE-MER eq. 6, mu_4),
            ``lemer_constraint`` (eq. 10, mu_2), ``lgcl`` (G2SAM eq. 7), ``scc`` (MVCN), the
            CARAT and HyCon terms; none in A-MESS. A built-in term's name (``BUILTIN_LOSSES``:
            the task loss, ``triplet``, ``label_ce``) sets its weight instead, e.g.
            ``{"bce": 0.0}`` when a method trains no loss on its final output.
    """

    encoder_name_or_path: str = DEFAULT_ENCODER
    label_names: list[str] = field(default_factory=list)
    num_labels: int | None = None
    task: str = "single_label"
    regression_loss: str = "mae"
    thresholds: list[float] | None = None
    video_dim: int | None = None
    audio_dim: int | None = None
    max_text_len: int = 50
    max_video_len: int | None = None
    max_audio_len: int | None = None
    fusion: str = "a-me"
    fusion_options: dict[str, Any] = field(default_factory=dict)
    k: int = 8
    ame_num_heads: int = 8
    ame_ff_mult: int = 4
    align_method: str = "soft"
    mag_layer: int = 0
    mag_beta: float = 1.0
    mag_dropout: float = 0.5
    mag_layernorm: bool = True
    mult_dim: int = 120
    mult_heads: int = 8
    mult_layers: int = 8
    mult_attn_dropout: float = 0.2
    mult_embed_dropout: float = 0.1
    mult_out_dropout: float = 0.2
    mult_text_dropout: float = 0.4
    tg_layers: int = 1
    tg_num_heads: int = 8
    scc_temperature: float = 0.1
    use_ss: bool = True
    tau: float = 0.7
    lambda_ss: float = 1.0
    triplet_include_positives: bool = False
    desc_dim: int = 384
    max_descriptions: int = 3
    use_label_attention: bool = False
    lambda_lga: float = 0.5
    label_summary: bool = True
    label_logit_scale: float = 10.0
    lambda_ce: float = 1.0
    lgcl_tau: float = 0.1
    pooling: str = "mean"
    dropout: float = 0.1
    losses: dict[str, float] = field(default_factory=dict)
    use_ame: InitVar[bool | None] = None

    def __post_init__(self, use_ame: bool | None = None) -> None:
        if use_ame is not None:
            self.fusion = "a-me" if use_ame else "none"
        self.encoder_name_or_path = canonical_name(str(self.encoder_name_or_path))
        self.label_names = [str(name) for name in self.label_names]
        if self.num_labels is None and self.label_names:
            self.num_labels = len(self.label_names)
        if self.num_labels is not None:
            if self.num_labels < 1:
                raise ValueError(f"num_labels must be >= 1, got {self.num_labels}")
            if not self.label_names:
                self.label_names = [f"LABEL_{i}" for i in range(self.num_labels)]
            if len(self.label_names) != self.num_labels:
                raise ValueError(
                    f"num_labels is {self.num_labels} but label_names has {len(self.label_names)}"
                )
        if len(set(self.label_names)) != len(self.label_names):
            raise ValueError(f"label_names has duplicates: {self.label_names}")
        if self.bound:  # a model pads to concrete lengths
            self.max_video_len = 180 if self.max_video_len is None else self.max_video_len
            self.max_audio_len = 400 if self.max_audio_len is None else self.max_audio_len
        if self.thresholds is not None:
            self.thresholds = [float(t) for t in self.thresholds]
        self._validate()
        self._validate_task()

    def _validate_task(self) -> None:
        """The choices that depend on the task (one ``ValueError`` line each)."""
        if self.thresholds is not None:
            if self.task != "multi_label":
                raise ValueError(f"thresholds are for multi_label models, not {self.task}")
            if self.bound and len(self.thresholds) != self.num_labels:
                raise ValueError(
                    f"{len(self.thresholds)} thresholds for {self.num_labels} labels (one each)"
                )
            if not all(0.0 <= t <= 1.0 for t in self.thresholds):
                raise ValueError(f"thresholds must be in [0, 1], got {self.thresholds}")
        if self.task == "regression" and self.bound:
            if self.num_labels != 1:
                raise ValueError(
                    f"a regression model predicts one score: one label (its name), got "
                    f"{self.num_labels}"
                )
            if self.needs_descriptions:
                raise ValueError(
                    "regression has no classes to describe: set use_ss and "
                    "use_label_attention to false"
                )

    def _validate(self) -> None:
        from .fusion import FUSIONS

        for name in ("video_dim", "audio_dim"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive int or None, got {value}")
        for name in ("max_video_len", "max_audio_len"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        positive = ("max_text_len", "k", "desc_dim", "max_descriptions", "ame_num_heads")
        positive += ("ame_ff_mult", "mult_dim", "mult_heads", "mult_layers", "tg_layers")
        for name in (*positive, "tg_num_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.mag_layer < 0:
            raise ValueError(f"mag_layer must be >= 0 (0 = the embeddings), got {self.mag_layer}")
        for name in ("tau", "mag_beta", "scc_temperature", "lgcl_tau"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        dropouts = ("dropout", "mag_dropout", "mult_attn_dropout", "mult_embed_dropout")
        for name in (*dropouts, "mult_out_dropout", "mult_text_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        weights = (self.lambda_ce, self.lambda_ss, self.lambda_lga)
        if min(weights) < 0:
            raise ValueError(f"loss weights must be >= 0, got {weights}")
        self._check_fusion()  # before the losses: a wrong task is the clearer message
        if self.losses:
            self._check_losses()
        if self.label_logit_scale <= 0:
            raise ValueError(f"label_logit_scale must be > 0, got {self.label_logit_scale}")
        choices = {
            "task": TASKS,
            "regression_loss": _REGRESSION_LOSSES,
            "fusion": tuple(FUSIONS),
            "align_method": _ALIGN_METHODS,
            "pooling": _POOLINGS,
        }
        check_choices(self, choices, ValueError)

    def _check_fusion(self) -> None:
        from .fusion import FUSIONS, fusion_options

        spec = FUSIONS.get(self.fusion)
        if spec is None:
            return  # named in the choice check below
        options = fusion_options(self)
        if spec.check is not None:
            spec.check(self, options)
        if spec.tasks and self.task not in spec.tasks:
            raise ValueError(f"fusion {self.fusion} is for task {' or '.join(spec.tasks)}")
        if spec.head and (self.use_ss or self.use_label_attention):
            raise ValueError(
                f"fusion {self.fusion} predicts with its own heads: set use_ss and "
                "use_label_attention to false"
            )

    def _check_losses(self) -> None:
        from .losses import LOSS_TERMS  # imports torch: only for configs that name extra terms

        for name, weight in self.losses.items():
            if name not in LOSS_TERMS and name not in BUILTIN_LOSSES:
                known = ", ".join(sorted(LOSS_TERMS)) or "none registered"
                raise ValueError(f"unknown loss term {name!r} in losses (known: {known})")
            if name in BUILTIN_LOSSES and name not in self.builtin_terms:
                raise ValueError(
                    f"losses[{name!r}] reweights a term this model does not compute (its "
                    f"built-in terms: {', '.join(self.builtin_terms)})"
                )
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
                raise ValueError(f"losses[{name!r}] must be a number >= 0, got {weight!r}")

    # --- derived ----------------------------------------------------------------------------

    @property
    def bound(self) -> bool:
        """Whether the config names its labels (a model can be built from it)."""
        return self.num_labels is not None

    @property
    def modalities(self) -> tuple[str, ...]:
        """The non-text modalities this model takes (``"video"``, ``"audio"``), in that order."""
        return tuple(m for m in ("video", "audio") if getattr(self, f"{m}_dim") is not None)

    @property
    def builds_fusion(self) -> bool:
        """Whether a fusion module exists: one is chosen and there is a non-text modality (a
        fusion with its own heads, CARAT or HyCon, is built on text alone too)."""
        from .fusion import FUSIONS

        spec = FUSIONS[self.fusion]
        return spec.build is not None and (bool(self.modalities) or spec.head)

    @property
    def builtin_terms(self) -> tuple[str, ...]:
        """The built-in loss terms this model computes: the task's (``ce``, ``bce``, ``mae`` or
        ``mse``), ``triplet`` with semantic sync, ``label_ce`` with label attention."""
        main = {"multi_label": "bce", "regression": self.regression_loss}.get(self.task, "ce")
        return (main,) + ("triplet",) * self.use_ss + ("label_ce",) * self.use_label_attention

    @property
    def needs_descriptions(self) -> bool:
        """Whether the model keeps a description matrix (semantic sync or label attention)."""
        return self.use_ss or self.use_label_attention

    def bind(self, label_names: list[str], **data: Any) -> ModelConfig:
        """A copy for a dataset: its labels plus data-given fields (feature dims, desc shape)."""
        unknown = sorted(set(data) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {', '.join(unknown)}")
        return dataclasses.replace(self, label_names=list(label_names), num_labels=None, **data)

    # --- serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from ``to_dict`` output (older spellings accepted); keys starting with ``_``
        (metadata) are skipped."""
        data = {k: v for k, v in data.items() if not k.startswith("_")}
        data = normalise_keys(data)
        known = {f.name for f in fields(cls)} | {"use_ame"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {', '.join(unknown)}")
        return cls(**data)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` (fields + library versions) atomically into ``directory``."""
        payload = self.to_dict()
        payload["_versions"] = _library_versions()
        return atomic_write_json(Path(directory) / CONFIG_NAME, payload)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> ModelConfig:
        """Read ``config.json`` from ``directory``."""
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no {CONFIG_NAME} in {directory}")
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))


AMessConfig = ModelConfig  # the name of earlier releases


def normalise_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Older option spellings: ``encoder`` -> ``encoder_name_or_path``, ``use_ame`` stays an
    init switch (``fusion`` wins when both are given)."""
    data = dict(data)
    if "encoder" in data:
        data.setdefault("encoder_name_or_path", data.pop("encoder"))
    if "use_ame" in data and "fusion" in data:
        data.pop("use_ame")
    return data


def _library_versions() -> dict[str, str]:
    """Versions recorded next to a saved model, for reproducing it."""
    import safetensors
    import torch
    import transformers

    from .. import __version__

    return {
        "labelsync": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
    }
