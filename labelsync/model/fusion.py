"""The fusion registry: how video and audio meet the text, by name (``ModelConfig.fusion``).

A fusion module has one contract, ``forward(hidden, text_mask, features, masks) -> hidden``
(``hidden [B, l_t, d]``, ``features[m] [B, L_m, D_m]``, masks True = real). It may instead
return a ``FusionOutput(hidden, aux)``: ``aux`` (by name) lands in ``ModelOutput.aux``, where
registered loss terms (``losses.LOSS_TERMS``) read it. A *stage* says where ``IntentModel``
applies the module:

- ``"embeddings"``: on the encoder's embedding output, before its layers (A-ME: ``E_m``
  replaces ``E_text``, seed 003 eq. 14);
- ``"layer"``: on the output of one encoder layer (``layer_of(config)``), inside the encoder;
- ``"output"``: on the encoder's last hidden states ``E_f``, after the encoder.

``"none"`` builds nothing: the text encoder alone (also what a model does with a text-only batch).
A new fusion is a module plus ``register_fusion(FusionSpec(...))``; the trainer needs no change.

Two optional spec fields serve methods that are whole models around the text encoder:

- ``options``: a dataclass of the fusion's own settings, read from ``ModelConfig.fusion_options``
  (``fusion_options(config)``; defaults are the paper's values, unknown keys are an error);
- ``head=True``: the fusion predicts with its own heads (CARAT, HyCon): it puts the prediction in
  ``aux["logits"]`` (``[B, num_labels]``), the model uses it as ``ModelOutput.logits`` and builds no
  classifier, and the fusion also runs on a text-only model (stage ``"output"`` only).
  ``tasks`` limits the ``ModelConfig.task`` values a fusion supports (empty: any), ``check``
  checks the rest of the config the fusion depends on (e.g. the loss terms it needs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from .fusion_output import FusionOutput
from .method_options import CaratOptions, HyconOptions, parse_options

if TYPE_CHECKING:  # pragma: no cover
    from .configuration import ModelConfig

__all__ = [
    "FusionSpec",
    "FusionOutput",
    "FUSIONS",
    "STAGES",
    "register_fusion",
    "build_fusion",
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
    layer_of: Callable[[ModelConfig], int] | None = None  # stage "layer": after which layer
    options: type | None = None  # dataclass of ModelConfig.fusion_options
    head: bool = False  # predicts itself: aux["logits"], no classifier, runs on text alone
    tasks: tuple[str, ...] = ()  # the ModelConfig.task values it supports (empty: any)
    check: Callable[[ModelConfig, Any], None] | None = None  # (config, options): ValueError

    def __post_init__(self) -> None:
        if self.build is not None and self.stage not in STAGES:
            raise ValueError(f"fusion stage must be one of {STAGES}, got {self.stage!r}")
        if self.head and self.stage != "output":
            raise ValueError(f"a fusion with its own head runs on the output, not {self.stage!r}")


def _build_ame(config: ModelConfig, hidden: int) -> nn.Module:
    from .ame import AnchorEmbedding

    return AnchorEmbedding(
        hidden,
        {m: getattr(config, f"{m}_dim") for m in config.modalities},
        length=config.max_text_len,
        k=config.k,
        num_heads=config.ame_num_heads,
        ff_mult=config.ame_ff_mult,
        align_method=config.align_method,
        dropout=config.dropout,
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
