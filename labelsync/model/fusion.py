"""The fusion registry: how video and audio meet the text, by name (``ModelConfig.fusion``).

A fusion module has one contract, ``forward(hidden, text_mask, features, masks) -> hidden``
(``hidden [B, l_t, d]``, ``features[m] [B, L_m, D_m]``, masks True = real), and a *stage* that
says where ``IntentModel`` applies it:

- ``"embeddings"``: on the encoder's embedding output, before its layers (A-ME: ``E_m``
  replaces ``E_text``, seed 003 eq. 14);
- ``"layer"``: on the output of one encoder layer (``layer_of(config)``), inside the encoder;
- ``"output"``: on the encoder's last hidden states ``E_f``, after the encoder. The label-token
  head (``use_label_attention``) then reads the text tokens before the fusion, as LE-MER does.

A fusion may return ``FusionOutput(hidden, aux)`` instead of ``hidden``: ``aux`` lands in
``ModelOutput.aux``, where its registered loss terms (``losses.LOSS_TERMS``) read it. A spec
with ``uses_context=True`` is also given ``context=FusionContext(...)``: the model's
label-description embeddings and the label-token similarity ``G_t`` (LE-MER reads both).
``check(config)`` (optional) rejects a config the fusion cannot work with (a ``ValueError``).

``"none"`` builds nothing: the text encoder alone (also what a model does with a text-only batch).
A new fusion is a module plus ``register_fusion(FusionSpec(...))``; the trainer needs no change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from .blocks import FusionOutput

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
    uses_context: bool = False  # forward also takes ``context=FusionContext``
    check: Callable[[ModelConfig], None] | None = None  # raises ValueError on a config it rejects

    def __post_init__(self) -> None:
        if self.build is not None and self.stage not in STAGES:
            raise ValueError(f"fusion stage must be one of {STAGES}, got {self.stage!r}")


@dataclass
class FusionContext:
    """What ``IntentModel`` hands a fusion with ``uses_context`` besides the contract's tensors."""

    descriptions: Tensor | None = None  # [K, n, D] label description embeddings (the model's)
    description_mask: Tensor | None = None  # [K, n] True = a real description
    text_similarity: Tensor | None = None  # G_t [B, l_t, K] of the label-token head (stage output)


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


def _build_lemer(config: ModelConfig, hidden: int) -> nn.Module:
    from .lemer import LabelGuidedFusion

    return LabelGuidedFusion(
        hidden,
        {m: getattr(config, f"{m}_dim") for m in config.modalities},
        desc_dim=config.desc_dim,
        num_labels=config.num_labels,
        logit_scale=config.label_logit_scale,
        dropout=config.dropout,
    )


def _check_lemer(config: ModelConfig) -> None:
    if not config.use_label_attention:
        raise ValueError(
            "fusion 'le-mer' needs use_label_attention: its label-guided attention "
            "A_l = G_t G_s^T (seed 001, eq. 9) reads the label-token similarity G_t (eq. 1)"
        )


FUSIONS: dict[str, FusionSpec] = {
    "none": FusionSpec("none", "none", None, "the text encoder alone"),
    "a-me": FusionSpec("a-me", "embeddings", _build_ame, "A-MESS (seed 003), eqs. 4-13"),
    "le-mer": FusionSpec(
        "le-mer",
        "output",
        _build_lemer,
        "LE-MER (seed 001), eqs. 4-9: label-frame attention, label-guided cross-attention",
        uses_context=True,
        check=_check_lemer,
    ),
}


def register_fusion(spec: FusionSpec) -> None:
    """Make ``spec.name`` a valid ``ModelConfig.fusion``."""
    FUSIONS[spec.name] = spec


def build_fusion(config: ModelConfig, hidden: int) -> tuple[FusionSpec, Any]:
    """The spec and module of ``config.fusion`` (module None: nothing to build)."""
    spec = FUSIONS[config.fusion]
    if spec.build is None or not config.modalities:
        return spec, None
    return spec, spec.build(config, hidden)
