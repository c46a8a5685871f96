"""The settings of the CARAT and HyCon fusions (``ModelConfig.fusion_options``), by paper.

Each dataclass's defaults are the paper's values; where the paper is silent the field says so.
``parse_options`` turns the option mapping of a config into one of them (a ``ValueError`` line
names an unknown or mistyped option), so a preset, a ``--config`` file or a sweep line that gives
only some options gets the paper's values for the rest.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass
from typing import Any

__all__ = ["CaratOptions", "HyconOptions", "parse_options", "CARAT_PREDICTIONS"]

CARAT_PREDICTIONS = ("both", "mrm", "agg")


@dataclass(frozen=True)
class CaratOptions:
    """CARAT (seed 000; Implementation Details, Table 3 switches).

    Attributes:
        hidden: d, the width of every label-specific representation (256).
        latent: d_z, the width of the contrastive latent space (64).
        layers: Transformer layers of the video/audio extractors (l_v = l_a = 4). The text
            extractor is the pretrained text encoder (the paper: GloVe + 6 layers from scratch).
        heads: attention heads of those layers (paper silent; 4).
        queue_size: latent embeddings kept for the contrastive pool (8192).
        momentum: phi of the prototype moving average, eq. 8 (paper silent; 0.99, the value of
            the authors' public code).
        temperature: tau of eq. 6 (paper silent; 0.07, the SupCon default in the authors' code).
        encode_decode: En/De, the intrinsic vectors D^m and contrastive learning (Table 3 (5)).
        first_level / second_level: the FRR / SRR reconstructions of eq. 2 (Table 3 (7)-(9)).
        sample_shuffle / modality_shuffle: the shuffles of eqs. 11 / 12 (Table 3 (10)-(12)).
        predict: eq. 16 ``"both"`` (MRM + AGG), ``"mrm"`` (s^beta alone) or ``"agg"`` (h_c alone).
    """

    hidden: int = 256
    latent: int = 64
    layers: int = 4
    heads: int = 4
    queue_size: int = 8192
    momentum: float = 0.99
    temperature: float = 0.07
    encode_decode: bool = True
    first_level: bool = True
    second_level: bool = True
    sample_shuffle: bool = True
    modality_shuffle: bool = True
    predict: str = "both"

    def __post_init__(self) -> None:
        for name in ("hidden", "latent", "heads", "queue_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"carat {name} must be >= 1, got {getattr(self, name)}")
        if self.layers < 0:
            raise ValueError(f"carat layers must be >= 0, got {self.layers}")
        if self.hidden % self.heads:
            raise ValueError(f"carat heads ({self.heads}) must divide hidden ({self.hidden})")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"carat momentum must be in [0, 1), got {self.momentum}")
        if self.temperature <= 0:
            raise ValueError(f"carat temperature must be > 0, got {self.temperature}")
        if self.predict not in CARAT_PREDICTIONS:
            raise ValueError(
                f"carat predict must be one of {', '.join(CARAT_PREDICTIONS)}, got {self.predict!r}"
            )


@dataclass(frozen=True)
class HyconOptions:
    """HyCon (seed 002; Section 4.4 (3), Section 3.4).

    Attributes:
        dim: d, the width of the unimodal representations x^m (50).
        layers / heads: the video/audio Transformers of eq. 1 (paper silent; 2 layers, 5 heads).
        margin: the modality margin alpha of eqs. 6 and 11 (0.8; "w/o modality margin" = 1.0).
        select_positives / select_negatives: HyCon-v2's pair selection (eqs. 13-15) of the hard
            positive / negative pairs; both False is HyCon (v1).
        selection_ratio: beta, pairs kept per anchor h = round(K * beta), K the batch size (0.2).
        selection_gamma: gamma of eq. 14, keeps 1 / (s + gamma) finite (paper silent; 0.5).
    """

    dim: int = 50
    layers: int = 2
    heads: int = 5
    margin: float = 0.8
    select_positives: bool = True
    select_negatives: bool = True
    selection_ratio: float = 0.2
    selection_gamma: float = 0.5

    def __post_init__(self) -> None:
        for name in ("dim", "heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"hycon {name} must be >= 1, got {getattr(self, name)}")
        if self.layers < 0:
            raise ValueError(f"hycon layers must be >= 0, got {self.layers}")
        if self.dim % self.heads:
            raise ValueError(f"hycon heads ({self.heads}) must divide dim ({self.dim})")
        if not 0.0 < self.selection_ratio <= 1.0:
            raise ValueError(f"hycon selection_ratio must be in (0, 1], got {self.selection_ratio}")
        if self.selection_gamma <= 0:
            raise ValueError(f"hycon selection_gamma must be > 0, got {self.selection_gamma}")


def parse_options(cls: type, options: dict[str, Any], fusion: str) -> Any:
    """``cls(**options)`` with each value checked against the field's type."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key, value in options.items():
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown fusion_options key {key!r} for {fusion}{hint}")
        kind = hints[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise ValueError(
                f"fusion_options {key!r} of {fusion} must be a {kind.__name__}, got {value!r}"
            )
    values = {k: float(v) if hints[k] is float else v for k, v in options.items()}
    return cls(**values)
