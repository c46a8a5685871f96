"""``concat``: the late-fusion baseline.

Each non-text modality is mean-pooled over its real frames and layer-normalised; the pooled
vectors are concatenated and mapped to the encoder width by a two-layer MLP
(``Linear -> GELU -> Dropout -> Linear``); the result ``z`` is added to every token of ``E_f``
(stage ``"output"``):

    E_f' = E_f + z,   z = MLP([LN(mean(video)) ; LN(mean(audio))])

With the classifier's mean pooling, ``pool(E_f') = pool(E_f) + z``: the classifier sees the text
summary plus a learned projection of the concatenated non-verbal summaries, which is late fusion
by concatenation written so that it keeps the fusion contract (a ``[B, l_t, d]`` sequence).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .heads import masked_mean

__all__ = ["ConcatFusion"]


class ConcatFusion(nn.Module):
    """``E_f + MLP(concat of the pooled, normalised modalities)`` (module docstring)."""

    def __init__(self, dim: int, modality_dims: dict[str, int], *, dropout: float = 0.1):
        super().__init__()
        if not modality_dims:
            raise ValueError("ConcatFusion needs at least one of video/audio")
        self.norms = nn.ModuleDict({m: nn.LayerNorm(d) for m, d in modality_dims.items()})
        width = sum(modality_dims.values())
        self.mlp = nn.Sequential(
            nn.Linear(width, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim)
        )

    def forward(
        self,
        hidden: Tensor,
        text_mask: Tensor,  # noqa: ARG002 (the fusion contract; z reads no token)
        features: dict[str, Tensor],
        masks: dict[str, Tensor],
    ) -> Tensor:
        """``E_f [B, l_t, d]`` -> ``E_f + z`` with ``z [B, d]`` broadcast over the tokens."""
        pooled = [norm(masked_mean(features[m], masks[m])) for m, norm in self.norms.items()]
        z = self.mlp(torch.cat(pooled, dim=-1))
        return hidden + z[:, None, :]
