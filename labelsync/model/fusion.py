"""The fusion registry: how video and audio meet the text, by name (``ModelConfig.fusion``).

A fusion module has one contract, ``forward(hidden, text_mask, features, masks) -> hidden``
(``hidden [B, l_t, d]``, ``features[m] [B, L_m, D_m]``, masks True = real), and a *stage*
that says where ``IntentModel`` applies the module:

- ``"embeddings"``: on the encoder's embedding output, before its layers (A-ME: ``E_m``
  replaces ``E_text``, seed 003 eq. 14);
- ``"layer"``: inside the encoder, on the output of the block ``layer_of(config)`` names:
  0 = the embeddings, i = encoder layer i (1-based), so the layers after it read the fused
  states (MAG);
- ``"output"``: on the encoder's last hidden states ``E_f``, after the encoder (MulT, the
  text-guided units, concat, LE-MER). The label-token head (``use_label_attention``) reads the
  fused ``E_f``, except for a fusion with ``uses_context`` (LE-MER): it reads the text tokens
  before that fusion, which receives its ``G_t``.

A fusion may return ``FusionOutput(hidden, aux)`` instead of ``hidden``: ``aux`` lands in
``ModelOutput.aux``, where its registered loss terms (``losses.LOSS_TERMS``) read it (MAG leaves
its gate scale there). A spec
with ``uses_context=True`` is also given ``context=FusionContext(...)``: the model's
label-description embeddings and the label-token similarity ``G_t`` (LE-MER reads both).
``check(config, options)`` (optional) rejects a config the fusion cannot work with (a
``ValueError``).

Two more optional spec fields serve methods that are whole models around the text encoder:

- ``options``: a dataclass of the fusion's own settings, read from ``ModelConfig.fusion_options``
  (``fusion_options(config)``; defaults are the paper's values, unknown keys are an error);
- ``head=True``: the fusion predicts with its own heads (CARAT, HyCon): it puts the prediction in
  ``aux["logits"]`` (``[B, num_labels]``), the model uses it as ``ModelOutput.logits`` and builds
  no classifier, and the fusion also runs on a text-only model (stage ``"output"`` only).
  ``tasks`` limits the ``ModelConfig.task`` values a fusion supports (empty: any).

| name | stage | what (module) |
|---|---|---|
| ``none`` | - | the text encoder alone |
| ``a-me`` | embeddings | A-MESS anchor-based multimodal embedding (``ame.py``) |
| ``mag`` | layer | MAG-BERT's multimodal adaptation gate (``mag.py``) |
| ``mult`` | output | MulT crossmodal transformers (``mult.py``) |
| ``text-guided`` | output | MVCN text-guided units (``text_guided.py``) |
| ``concat`` | output | late fusion of pooled features (``concat.py``) |
| ``le-mer`` | output | LE-MER label-frame and label-guided attention (``lemer.py``) |
| ``carat`` | output, own head | CARAT, multi-label (seed 000; ``carat.py``) |
| ``hycon`` | output, own head | HyCon unimodal networks + additive fusion (seed 002) |

Without video/audio (a text-only dataset, ``--text-only``) nothing is built for any fusion but
a head fusion, and the text encoder runs alone; the trainer says so in one log line.
A new fusion is a module plus ``register_fusion(FusionSpec(...))``; the trainer needs no change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from .blocks import FusionOutput
from .method_options import CaratOptions, HyconOptions, parse_options

if TYPE_CHECKING:  # pragma: no cover
    from .configuration import ModelConfig

__all__ = [
    "FusionSpec",
    "FusionContext",
    "FusionOutput",
    "FUSIONS",
    "STAGES",
    "register_fusion",
    "build_fusion",
    "fusion_target",
    "fusion_options",
]

STAGES = ("embeddings", "layer", "output")


@dataclass(frozen=True)
class FusionSpec:
    """A registered fusion: its name, stage, builder ``(config, hidden) -> module`` and source."""

    name: str
    stage: str
    build: Callable[[ModelConfig, int], nn.Module] | None
    source: str = ""
    layer_of: Callable[[ModelConfig], int] | None = None  # stage "layer": 0 embeddings, i layer i
    uses_context: bool = False  # forward also takes ``context=FusionContext``
    options: type | None = None  # dataclass of ModelConfig.fusion_options
    head: bool = False  # predicts itself: aux["logits"], no classifier, runs on text alone
    tasks: tuple[str, ...] = ()  # the ModelConfig.task values it supports (empty: any)
    check: Callable[[ModelConfig, Any], None] | None = None  # (config, options): ValueError

    def __post_init__(self) -> None:
        if self.build is not None and self.stage not in STAGES:
            raise ValueError(f"fusion stage must be one of {STAGES}, got {self.stage!r}")
        if self.head and self.stage != "output":
            raise ValueError(f"a fusion with its own head runs on the output, not {self.stage!r}")


@dataclass
class FusionContext:
    """What ``IntentModel`` hands a fusion with ``uses_context`` besides the contract's tensors."""

    descriptions: Tensor | None = None  # [K, n, D] label description embeddings (the model's)
    description_mask: Tensor | None = None  # [K, n] True = a real description
    text_similarity: Tensor | None = None  # G_t [B, l_t, K] of the label-token head (stage output)


def _dims(config: ModelConfig) -> dict[str, int]:
    return {m: getattr(config, f"{m}_dim") for m in config.modalities}


def _build_ame(config: ModelConfig, hidden: int) -> nn.Module:
    from .ame import AnchorEmbedding

    return AnchorEmbedding(
        hidden,
        _dims(config),
        length=config.max_text_len,
        k=config.k,
        num_heads=config.ame_num_heads,
        ff_mult=config.ame_ff_mult,
        align_method=config.align_method,
        dropout=config.dropout,
    )


def _build_mag(config: ModelConfig, hidden: int) -> nn.Module:
    from .mag import AdaptationGate

    return AdaptationGate(
        hidden,
        _dims(config),
        length=config.max_text_len,
        beta=config.mag_beta,
        dropout=config.mag_dropout,
        layernorm=config.mag_layernorm,
        align_method=config.align_method,
    )


def _build_mult(config: ModelConfig, hidden: int) -> nn.Module:
    from .mult import MultimodalTransformer

    return MultimodalTransformer(
        hidden,
        _dims(config),
        width=config.mult_dim,
        num_heads=config.mult_heads,
        layers=config.mult_layers,
        attn_dropout=config.mult_attn_dropout,
        embed_dropout=config.mult_embed_dropout,
        out_dropout=config.mult_out_dropout,
        text_dropout=config.mult_text_dropout,
    )


def _build_text_guided(config: ModelConfig, hidden: int) -> nn.Module:
    from .text_guided import TextGuidedFusion

    return TextGuidedFusion(
        hidden,
        _dims(config),
        layers=config.tg_layers,
        num_heads=config.tg_num_heads,
        dropout=config.dropout,
    )


def _build_concat(config: ModelConfig, hidden: int) -> nn.Module:
    from .concat import ConcatFusion

    return ConcatFusion(hidden, _dims(config), dropout=config.dropout)


def _build_lemer(config: ModelConfig, hidden: int) -> nn.Module:
    from .lemer import LabelGuidedFusion

    return LabelGuidedFusion(
        hidden,
        _dims(config),
        desc_dim=config.desc_dim,
        num_labels=config.num_labels,
        logit_scale=config.label_logit_scale,
        dropout=config.dropout,
    )


def _check_lemer(config: ModelConfig, _options: Any) -> None:
    if not config.use_label_attention:
        raise ValueError(
            "fusion 'le-mer' needs use_label_attention: its label-guided attention "
            "A_l = G_t G_s^T (seed 001, eq. 9) reads the label-token similarity G_t (eq. 1)"
        )


def _build_carat(config: ModelConfig, hidden: int) -> nn.Module:
    from .carat import CaratFusion

    return CaratFusion(hidden, config, fusion_options(config))


def _check_carat(config: ModelConfig, options: CaratOptions) -> None:
    if options.encode_decode and "carat_scl" not in config.losses:
        raise ValueError(
            "fusion carat with encode_decode needs the carat_scl loss term (it moves the "
            "prototypes; weight 0 switches contrastive learning off)"
        )


def _build_hycon(config: ModelConfig, hidden: int) -> nn.Module:
    from .hycon import HyconFusion

    return HyconFusion(hidden, config, fusion_options(config))


FUSIONS: dict[str, FusionSpec] = {
    "none": FusionSpec("none", "none", None, "the text encoder alone"),
    "a-me": FusionSpec("a-me", "embeddings", _build_ame, "A-MESS (seed 003), eqs. 4-13"),
    "mag": FusionSpec(
        "mag",
        "layer",
        _build_mag,
        "MAG-BERT (Rahman et al., ACL 2020)",
        layer_of=lambda config: config.mag_layer,
    ),
    "mult": FusionSpec("mult", "output", _build_mult, "MulT (Tsai et al., ACL 2019)"),
    "text-guided": FusionSpec(
        "text-guided", "output", _build_text_guided, "MVCN text-guided units (seed 001)"
    ),
    "concat": FusionSpec("concat", "output", _build_concat, "late fusion of pooled features"),
    "le-mer": FusionSpec(
        "le-mer",
        "output",
        _build_lemer,
        "LE-MER (seed 001), eqs. 4-9: label-frame attention, label-guided cross-attention",
        uses_context=True,
        check=_check_lemer,
    ),
    "carat": FusionSpec(
        "carat",
        "output",
        _build_carat,
        "CARAT (seed 000), eqs. 1-16",
        options=CaratOptions,
        head=True,
        tasks=("multi_label",),
        check=_check_carat,
    ),
    "hycon": FusionSpec(
        "hycon",
        "output",
        _build_hycon,
        "HyCon (seed 002): unimodal networks, additive fusion",
        options=HyconOptions,
        head=True,
        tasks=("regression", "single_label"),
    ),
}


def register_fusion(spec: FusionSpec) -> None:
    """Make ``spec.name`` a valid ``ModelConfig.fusion``."""
    FUSIONS[spec.name] = spec


def build_fusion(config: ModelConfig, hidden: int) -> tuple[FusionSpec, Any]:
    """The spec and module of ``config.fusion`` (module None: nothing to build)."""
    spec = FUSIONS[config.fusion]
    if spec.build is None or not (config.modalities or spec.head):
        return spec, None
    return spec, spec.build(config, hidden)


def fusion_options(config: ModelConfig) -> Any:
    """``config.fusion_options`` checked against the fusion's options dataclass (None: it has
    none); a ``ValueError`` names an unknown or mistyped option."""
    spec = FUSIONS[config.fusion]
    if spec.options is None:
        if config.fusion_options:
            raise ValueError(f"fusion {spec.name!r} takes no fusion_options")
        return None
    return parse_options(spec.options, config.fusion_options, spec.name)


def fusion_target(encoder: nn.Module, index: int) -> nn.Module:
    """The block a ``"layer"`` fusion follows: 0 = the embeddings, i = encoder layer i."""
    if index == 0:
        return encoder.embeddings
    layers = encoder_layers(encoder)
    if not 1 <= index <= len(layers):
        raise ValueError(
            f"fusion layer {index} does not exist: the encoder has layers 1-{len(layers)} "
            "(0 = after the embeddings)"
        )
    return layers[index - 1]


def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """The transformer layers of a BERT-like Hugging Face encoder."""
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ValueError(f"{type(encoder).__name__} has no encoder.layer list to fuse into")
    return layers
