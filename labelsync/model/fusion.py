"""The fusion registry: how video and audio meet the text, by name (``ModelConfig.fusion``).

A fusion module has one contract, ``forward(hidden, text_mask, features, masks) -> hidden``
(``hidden [B, l_t, d]``, ``features[m] [B, L_m, D_m]``, masks True = real), and a *stage* that
says where ``IntentModel`` applies it:

- ``"embeddings"``: on the encoder's embedding output, before its layers (A-ME: ``E_m``
  replaces ``E_text``, seed 003 eq. 14);
- ``"layer"``: on the output of one encoder layer (``layer_of(config)``), inside the encoder;
- ``"output"``: on the encoder's last hidden states ``E_f``, after the encoder.

``"none"`` builds nothing: the text encoder alone (also what a model does with a text-only batch).
A new fusion is a module plus ``register_fusion(FusionSpec(...))``; the trainer needs no change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from .configuration import ModelConfig

__all__ = ["FusionSpec", "FUSIONS", "STAGES", "register_fusion", "build_fusion"]

STAGES = ("embeddings", "layer", "output")


@dataclass(frozen=True)
class FusionSpec:
    """A registered fusion: its name, stage, builder ``(config, hidden) -> module`` and source."""

    name: str
    stage: str
    build: Callable[[ModelConfig, int], nn.Module] | None
    source: str = ""
    layer_of: Callable[[ModelConfig], int] | None = None  # stage "layer": after which layer

    def __post_init__(self) -> None:
        if self.build is not None and self.stage not in STAGES:
            raise ValueError(f"fusion stage must be one of {STAGES}, got {self.stage!r}")


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


FUSIONS: dict[str, FusionSpec] = {
    "none": FusionSpec("none", "none", None, "the text encoder alone"),
    "a-me": FusionSpec("a-me", "embeddings", _build_ame, "A-MESS (seed 003), eqs. 4-13"),
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
